;;; Collectives whose data travel in the agreement's statements.
;;;
;;;   parallelizer run -n 3 --backend mpi tests/mpi-inline.scm
;;;
;;; A broadcast or a gather of a few bytes needs no MPI collective after
;;; the agreement: each process's statement carries its data when they
;;; fit (88 bytes). Around that size, some processes of one gather fit and
;;; others do not, and every process must still choose the same way; the
;;; lengths below cross the boundary for the encoded values (a few bytes
;;; of head) and for raw elements alike.

(use-modules (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-64)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-mpi-parallelizer))
(define n (parallelizer-nprocs p))

(define lengths (append '(0 1 40) (iota 30 70) '(200 5000)))

(define (pattern len seed)
  ;; A u8vector of LEN bytes that depends on SEED.
  (let ((v (make-u8vector len)))
    (do ((i 0 (1+ i))) ((= i len) v)
      (u8vector-set! v i (modulo (+ (* 7 i) seed) 251)))))

(define-syntax-rule (job (p) body ...)
  (lambda* (#:key parallelizer)
    (let ((p parallelizer))
      body ...)))

(define (everywhere thunk)
  ;; #t on every rank of a run of THUNK (which gets the parallelizer).
  (parallelizer-run p (job (p) (every identity (allgather p (thunk p))))))

(run-suite
 "mpi-inline"
 (lambda ()
   (test-assert "broadcast from the first and the last rank"
     (everywhere
      (lambda (p)
        (every (lambda (len)
                 (every (lambda (root)
                          (equal? (broadcast p (and (= (parallelizer-id p)
                                                       root)
                                                    (pattern len root))
                                             #:root root)
                                  (pattern len root)))
                        (list 0 (1- n))))
               lengths))))
   (test-assert "gather of values of lengths either side of the size"
     (everywhere
      (lambda (p)
        (every (lambda (len)
                 (let ((got (gather p (pattern (+ len (parallelizer-id p))
                                               (parallelizer-id p)))))
                   (or (not (on-main? p))
                       (equal? got
                               (map (lambda (r) (pattern (+ len r) r))
                                    (iota n))))))
               lengths))))
   (test-assert "allgather of values of lengths either side of the size"
     (everywhere
      (lambda (p)
        (every (lambda (len)
                 (equal? (allgather p (pattern (+ len (parallelizer-id p))
                                               (parallelizer-id p)))
                         (map (lambda (r) (pattern (+ len r) r)) (iota n))))
               lengths))))
   (test-assert "broadcast! of f64vectors of 0 to 13 elements and more"
     (everywhere
      (lambda (p)
        (every (lambda (k)
                 (let ((v (make-f64vector k 0.0))
                       (want (list->f64vector
                              (map (lambda (i) (* 1.5 i)) (iota k)))))
                   (when (on-main? p)
                     (do ((i 0 (1+ i))) ((= i k))
                       (f64vector-set! v i (f64vector-ref want i))))
                   (broadcast! p v)
                   (equal? v want)))
               (append (iota 14) '(100))))))
   (test-assert "allreduce and reduce-to-root of vectors of 1 to 12 elements"
     ;; Up to 10 f64 elements fit; each rank brings K elements that depend
     ;; on its rank.
     (everywhere
      (lambda (p)
        (let ((me (parallelizer-id p)))
          (every
           (lambda (k)
             (let ((mine (lambda (r)
                           (list->f64vector
                            (map (lambda (i) (+ (* 10 r) i 0.5)) (iota k)))))
                   (mine32 (lambda (r)
                             (list->s32vector
                              (map (lambda (i) (- (* r i) 3)) (iota k))))))
               (and (equal? (allreduce p 'sum (mine me))
                            (list->f64vector
                             (map (lambda (i)
                                    (fold + 0.0
                                          (map (lambda (r)
                                                 (f64vector-ref (mine r) i))
                                               (iota n))))
                                  (iota k))))
                    (equal? (allreduce p 'max (mine32 me))
                            (list->s32vector
                             (map (lambda (i)
                                    (apply max
                                           (map (lambda (r)
                                                  (s32vector-ref (mine32 r) i))
                                                (iota n))))
                                  (iota k))))
                    (let ((got (reduce-to-root p 'min (mine32 me))))
                      (or (not (on-main? p))
                          (equal? got (mine32 0)))))))
           (iota 12 1))))))
   (test-assert "a mismatch is still found when the data fit"
     (everywhere
      (lambda (p)
        ;; Rank 0 broadcasts 10 elements into a vector of 10, the others
        ;; expect 11: every rank fails, and the run goes on.
        (catch 'parallelizer-error
          (lambda ()
            (broadcast! p (make-f64vector (if (on-main? p) 10 11) 1.0))
            #f)
          (lambda args #t)))))))
