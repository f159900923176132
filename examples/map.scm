;;; map.scm — parallel-map of 1+ over the main process's data.

;;; Commentary:
;;;
;;; The second example of McUtils.Parallelizers (map_applier), in Scheme.
;;; The main process makes (iota N); parallel-map splits it over the
;;; processes, applies 1+ to every element and joins the results, in
;;; input order, on the main process. Workers pass #f as the data and get
;;; in-worker-process back. The keyword #:n given to parallelizer-run is
;;; passed through to the job.
;;;
;;;   ./pre-inst-env guile examples/map.scm
;;;       serial: prints (1 2 3 4 5 6 7 8 9 10)
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile examples/map.scm
;;;       three forked processes, same output
;;;   ./pre-inst-env parallelizer run -n 3 --backend mpi examples/map.scm
;;;       three MPI ranks, same output
;;;
;;; Code:

(use-modules (parallelizer))

(define* (map-applier #:key (n 10) parallelizer)
  "Return, on the main process, (iota N) with 1 added to every element,
computed across the processes of PARALLELIZER."
  (parallel-map parallelizer 1+ (and (on-main? parallelizer) (iota n))))

(let ((result (parallelizer-run (lookup-parallelizer #f) map-applier
                                #:n 10)))
  (unless (in-worker-process? result)
    (write result)
    (newline)))
