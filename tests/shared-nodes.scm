;;; Shared memory refused when the ranks of an MPI job span several nodes.
;;;
;;;   mpirun -n 2 -x PARALLELIZER=mpi ./pre-inst-env guile -L tests/lib \
;;;     tests/shared-nodes.scm
;;;
;;; A job on several machines cannot be had here, so the suite makes one:
;;; PARALLELIZER_TEST_SPLIT_NODES makes the split of the job by node
;;; (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED) put every rank alone,
;;; which is exactly what that split gives on a cluster with one rank per
;;; node. The refusal depends on nothing else than the sizes the split
;;; gives, so this is the case of several nodes as share sees it.

(use-modules (srfi srfi-4)
             (srfi srfi-64)
             (parallelizer)
             ((parallelizer errors) #:select (parallelizer-error-code))
             (harness))

;; Before the parallelizer first communicates, which is when it splits.
(setenv "PARALLELIZER_TEST_SPLIT_NODES" "1")

(define p (suite-parallelizer make-mpi-parallelizer))
(define n (parallelizer-nprocs p))

(define (refusal thunk)
  ;; The code and message of the error THUNK raises, or #f.
  (catch 'parallelizer-error
    (lambda () (thunk) #f)
    (lambda (key who message args rest)
      (list (parallelizer-error-code key (list who message args rest))
            (apply simple-format #f message args)))))

(define* (share-in-run-job #:key parallelizer)
  ;; An error in a job would end the MPI job: catch it, and report.
  (gather parallelizer
          (car (or (refusal (lambda ()
                              (share parallelizer (f64vector 1 2))))
                   '(shared)))))

(run-suite
 "shared-nodes"
 (lambda ()
   (test-assert "more than one rank" (> n 1))
   (let ((r (refusal (lambda () (share p (make-hash-table))))))
     (test-equal "share outside a run" 'ENOTSUP (and r (car r)))
     (test-assert "says why"
       (and r (string-contains (cadr r) "on several nodes"))))
   (test-equal "make-shared-vector" 'ENOTSUP
     (car (or (refusal (lambda () (make-shared-vector p 'f64 3))) '(#f))))
   (test-equal "make-shared-typed-array" 'ENOTSUP
     (car (or (refusal (lambda () (make-shared-typed-array p 'u8 2 2)))
              '(#f))))
   (test-equal "share in a run, on every rank" (make-list n 'ENOTSUP)
     (parallelizer-run p share-in-run-job))
   (test-equal "runs and their messages go on" (iota n)
     (parallelizer-run p (lambda* (#:key parallelizer)
                           (gather parallelizer
                                   (parallelizer-id parallelizer)))))))
