;;; (parallelizer backend mpi) — ranks of an Open MPI job.

;;; Commentary:
;;;
;;; Every rank of the MPI job runs the same program; a run calls the job on
;;; each of them. MPI is initialized on first use, never merely by loading
;;; this module, and the parallelizer works on a duplicate of
;;; MPI_COMM_WORLD.
;;;
;;; Code:

(define-module (parallelizer backend mpi)
  #:use-module (parallelizer core)
  #:use-module (parallelizer primitives)
  #:export (make-mpi-parallelizer))

(define* (make-mpi-parallelizer #:key (root 0))
  "Return a new MPI parallelizer over all the ranks of the job. MPI is
initialized when the parallelizer is first used. ROOT is the rank that acts
as the main process."
  (unless (and (exact-integer? root) (>= root 0))
    (raise-parallelizer-error 'make-mpi-parallelizer
                              "#:root must be a rank, got ~s" root))
  (%make-parallelizer 'mpi `((root . ,root)) #f #f 0))

(define (mpi-run p thunk ranks timeout)
  (raise-parallelizer-error 'parallelizer-run
                            "the MPI backend is not built yet"))

(register-backend!
 (make-backend 'mpi
               (lambda (p) #t)
               (lambda (p) #t)
               mpi-run
               (lambda (p) 1)))
