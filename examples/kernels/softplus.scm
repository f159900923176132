;;; softplus.scm — a kernel written in Scheme source, compiled at run time.

;;; Commentary:
;;;
;;; define-elementwise-kernel writes the C loop around a C expression and
;;; compiles it with the system's C compiler into the cache of compiled
;;; kernels (the second run only loads it); no library is built
;;; beforehand. The kernel soft-plus takes an f64 array and a number beta,
;;; and parallel-map runs it on each process's chunk, in C. The main
;;; process prints the result for (-2 -1 0 1 2) and beta = 1.
;;;
;;;   ./pre-inst-env guile examples/kernels/softplus.scm
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile \
;;;     examples/kernels/softplus.scm
;;;   ./pre-inst-env parallelizer run -n 3 --backend mpi \
;;;     examples/kernels/softplus.scm
;;;
;;; Each prints
;;;   #f64(0.12693 0.31326 0.69315 1.31326 2.12693)
;;;
;;; Under MPI every rank defines the kernel; ranks that share the cache
;;; directory compile it once between them.
;;;
;;; Code:

(use-modules (parallelizer)
             (srfi srfi-4)
             (ice-9 format))

(define-elementwise-kernel (soft-plus (x f64) (beta double)) f64
  "log1p(exp(beta * x)) / beta")

(define* (job #:key parallelizer)
  (parallel-map parallelizer soft-plus
                (and (on-main? parallelizer) (f64vector -2 -1 0 1 2))
                #:extra-args '(1)))

(let ((result (parallelizer-run (lookup-parallelizer #f) job)))
  (unless (in-worker-process? result)
    (format #t "#f64(~{~,5f~^ ~})~%" (f64vector->list result))))
