;;; The tests of McUtils.Parallelizers, in Scheme.
;;;
;;;   PARALLELIZER=multiprocessing:4 ./pre-inst-env guile -L tests \
;;;     tests/seed.scm
;;;
;;; Each test runs a job on the parallelizer under test (PARALLELIZER, or
;;; serial) and compares with the serial parallelizer, as the originals
;;; compare MultiprocessingParallelizer with SerialNonParallelizer. The
;;; tests with #:comm need a group of that size: on multiprocessing the
;;; parallelizer is made with enough processes; on MPI the job must have
;;; enough ranks, and on serial the group is rank 0 alone.
;;; MakeSharedMem and DistributedDict are the seed's tests of shared
;;; memory, which tests/shared.scm tests further.

(use-modules (srfi srfi-4)
             (srfi srfi-64)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-serial-parallelizer))
(define serial (make-serial-parallelizer))

(define (sized-like p k)
  "A parallelizer of P's kind whose group can hold K processes, and the
ranks of such a group up to K."
  (cond
   ((multiprocessing-parallelizer? p)
    (values (make-multiprocessing-parallelizer #:processes k) (iota k)))
   ((serial-parallelizer? p) (values p '(0)))
   (else (values p (iota (min k (parallelizer-nprocs p)))))))

;;; The jobs of the original test class.

(define* (run-job #:key parallelizer)
  (let* ((p parallelizer)
         (data (and (on-main? p) (list->s64vector (iota 1000))))
         (flag (and (on-main? p) "woop"))
         (test (broadcast p flag))
         (data (scatter p data)))
    (gather p (s64vector-length data))))

(define (mapped-func data)
  (+ 1 data))

(define* (map-applier #:key (n 1000) parallelizer)
  (let* ((p parallelizer)
         (data (and (on-main? p) (list->s64vector (iota n)))))
    (parallel-map p mapped-func data)))

(define* (bcast-parallelizer #:key parallelizer)
  (let ((root-par (broadcast parallelizer parallelizer)))
    (gather parallelizer (eq? root-par parallelizer))))

(define* (scatter-gather #:optional (n 1000) #:key parallelizer)
  (let* ((p parallelizer)
         (data (and (on-main? p) (list->s64vector (iota n))))
         (data (scatter p data)))
    (gather p (s64vector-length data))))

(define* (simple-scatter-1 #:key parallelizer)
  (let* ((data (map (lambda (ij) (list->array 2 (list ij)))
                    '((0 0) (0 1) (0 2) (1 0) (1 1) (1 2) (2 0) (2 1)
                      (2 2))))
         (data (scatter parallelizer data)))
    (gather parallelizer (length data))))

(define* (simple-print #:key parallelizer)
  (parallelizer-print parallelizer 1))

(define* (mutate-shared-dict d #:key parallelizer)
  (let ((wat (shared-dict-ref d "d")))
    (parallelizer-print parallelizer "~a ~a ~a" wat (shared-dict-ref d "d") d)
    (unless (on-main? parallelizer)
      (array-set! (shared-dict-ref d "a") 5 1 0 0)
      (shared-dict-set! wat "key" 5))
    (parallelizer-print parallelizer "~a ~a" wat (shared-dict-ref d "d"))))

(define (random-array . dims)
  ;; np.random.rand(DIMS...); the same numbers on every rank of an MPI
  ;; job, which all share rank 0's.
  (let ((a (apply make-typed-array 'f64 0.0 dims)))
    (array-index-map! a (lambda _ (random:uniform)))
    a))

(define (sum lst) (apply + lst))

(define (every-true? lst)
  (and (pair? lst) (and-map identity lst)))

(run-suite
 "seed"
 (lambda ()
   (test-group "BasicMultiprocessing"
     (let ((par-lens (parallelizer-run p run-job))
           (serial-lens (parallelizer-run serial run-job)))
       (test-equal (sum serial-lens) (sum par-lens))
       (test-equal 1000 (sum par-lens))))

   (test-group "MapMultiprocessing"
     (let ((par-lens (parallelizer-run p map-applier))
           (serial-lens (parallelizer-run serial map-applier)))
       (test-equal serial-lens par-lens)
       (test-equal (list->s64vector (iota 1000 1)) par-lens)))

   (test-group "MapMultiprocessingDataSmall"
     (call-with-values (lambda () (sized-like p 3))
       (lambda (q ranks)
         (let ((par-lens (parallelizer-run q map-applier #:n 3 #:comm ranks))
               (serial-lens (parallelizer-run serial map-applier #:n 3)))
           (test-equal 3 (s64vector-length par-lens))
           (test-equal serial-lens par-lens)))))

   (test-group "BroadcastParallelizer"
     (with-parallelizer p
       (test-assert (every-true? (parallelizer-run p bcast-parallelizer)))
       (test-assert (every-true? (parallelizer-run p bcast-parallelizer)))))

   (test-group "ScatterGatherMultiprocessing"
     (let ((par-lens (parallelizer-run p scatter-gather))
           (serial-lens (parallelizer-run serial scatter-gather)))
       (test-equal (parallelizer-nprocs p) (length par-lens))
       (test-equal (sum serial-lens) (sum par-lens))))

   (test-group "ScatterGatherMultiprocessingDataSmall"
     (call-with-values (lambda () (sized-like p 3))
       (lambda (q ranks)
         (let ((par-lens (parallelizer-run q scatter-gather 3 #:comm ranks))
               (serial-lens (parallelizer-run serial scatter-gather 3)))
           (test-equal (length ranks) (length par-lens))
           (test-equal (sum serial-lens) (sum par-lens))))))

   (test-group "MiscProblems"
     (call-with-values (lambda () (sized-like p 9))
       (lambda (q ranks)
         (let ((l (parallelizer-run q simple-scatter-1 #:comm ranks)))
           (test-equal (length ranks) (length l))
           (test-equal 9 (sum l)))))
     (call-with-values (lambda () (sized-like p 3))
       (lambda (q ranks)
         (test-assert
             (string-contains
              (with-output-to-string
                (lambda ()
                  (parallelizer-run q simple-print #:comm ranks)))
              "1")))))

   (test-group "MakeSharedMem"
     (let* ((a (random-array 10 5 5))
            (manager (make-shared-object-manager p a))
            (saved (shared-object-manager-share manager))
            (loaded (shared-object-manager-unshare manager)))
       (test-assert (shared? saved))
       (test-equal a loaded)))

   (test-group "DistributedDict"
     (call-with-values (lambda () (sized-like p 2))
       (lambda (par ranks)
         (let ((my-data (make-hash-table)))
           (hash-set! my-data "a" (random-array 10 5 5))
           (hash-set! my-data "b" (random-array 10 3 8))
           (hash-set! my-data "c" (random-array 10 15 4))
           (hash-set! my-data "d" (make-hash-table))
           (let* ((before (array-ref (hash-ref my-data "a") 1 0 0))
                  (my-data (share par my-data)))
             (with-output-to-string
               (lambda ()
                 (parallelizer-run par mutate-shared-dict my-data)))
             ;; Every process but the main one set it; the serial
             ;; parallelizer has no other.
             (test-equal (if (> (parallelizer-nprocs par) 1) 5.0 before)
               (array-ref (shared-dict-ref my-data "a") 1 0 0))
             (let ((my-data (unshare my-data)))
               (test-assert (hash-table? my-data))
               (test-assert (array? (hash-ref my-data "a")))
               (test-assert (not (shared? (hash-ref my-data "a"))))
               (test-equal '((0 9) (0 4) (0 4))
                 (array-shape (hash-ref my-data "a")))))))))))
