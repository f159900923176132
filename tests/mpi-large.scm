;;; Messages larger than the MPI split threshold arrive intact.
;;;
;;;   parallelizer run -n 3 --backend mpi tests/mpi-large.scm
;;;
;;; The threshold is lowered to a few kilobytes so that every transfer
;;; below goes as many pieces, which is what messages over 1 GiB do with
;;; the default threshold.

(use-modules (srfi srfi-4)
             (srfi srfi-64)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-mpi-parallelizer))
(define n (parallelizer-nprocs p))

(mpi-parallelizer-set-split-threshold! 4096)

(define big-vector
  (let ((v (make-f64vector 100000)))
    (do ((i 0 (1+ i))) ((= i 100000) v)
      (f64vector-set! v i (* 1.5 i)))))

(define big-list (map (lambda (i) (list i (number->string i))) (iota 20000)))

(define-syntax-rule (job (p) body ...)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      body ...)))

(run-suite
 "mpi-large"
 (lambda ()
   (test-equal "broadcast of an 800 kB f64vector"
     (make-list n #t)
     (parallelizer-run p (job (p)
                           (gather p (equal? (broadcast p (and (on-main? p)
                                                               big-vector))
                                             big-vector)))))

   (test-equal "broadcast of a 20,000-element list"
     (make-list n #t)
     (parallelizer-run p (job (p)
                           (gather p (equal? (broadcast p (and (on-main? p)
                                                               big-list))
                                             big-list)))))

   (test-equal "scatter and gather back an f64vector"
     (f64vector->list big-vector)
     (parallelizer-run p (job (p)
                           (let ((parts (gather p (scatter p big-vector))))
                             (if (on-main? p)
                                 (apply append (map f64vector->list parts))
                                 parts)))))

   (when (> n 1)
     (test-equal "send-to and receive-from of an f64vector"
       #t
       (parallelizer-run p (job (p)
                             (cond
                              ((= (parallelizer-id p) 1)
                               (send-to p big-vector 0) #f)
                              ((on-main? p)
                               (equal? (receive-from p 1) big-vector))
                              (else #f))))))

   (test-equal "allreduce of f64vectors"
     (* n 1.5 99999)
     (parallelizer-run p (job (p)
                           (f64vector-ref (allreduce p 'sum big-vector)
                                          99999))))))
