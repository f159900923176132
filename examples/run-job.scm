;;; run-job.scm — broadcast a flag, scatter data, gather the chunk lengths.

;;; Commentary:
;;;
;;; The first example of McUtils.Parallelizers, in Scheme. RUN-JOB is an
;;; ordinary procedure that takes the keyword #:parallelizer; every process
;;; of the group calls it. The main process makes a flag and the data
;;; (iota 1000); broadcast sends the flag to every process, scatter deals
;;; the data out in nearly equal chunks, and gather brings the length of
;;; each chunk back to the main process, in rank order, which prints them.
;;;
;;; The backend is whatever (lookup-parallelizer #f) gives: serial unless
;;; the PARALLELIZER environment variable or the launcher says otherwise.
;;;
;;;   ./pre-inst-env guile examples/run-job.scm
;;;       serial: prints (1000)
;;;   PARALLELIZER=multiprocessing:4 ./pre-inst-env guile examples/run-job.scm
;;;       four forked processes: prints (250 250 250 250)
;;;   ./pre-inst-env parallelizer run -n 4 --backend mpi examples/run-job.scm
;;;       four MPI ranks: prints (250 250 250 250)
;;;
;;; Code:

(use-modules (parallelizer))

(define* (run-job #:key parallelizer)
  "Scatter (iota 1000) over the processes of PARALLELIZER and return, on
the main process, the list of the chunk lengths in rank order."
  (define main? (on-main? parallelizer))
  ;; Send a flag from the main process to all the workers.
  (define flag (broadcast parallelizer (and main? "woop")))
  ;; Each process gets its chunk of the main process's data.
  (define chunk (scatter parallelizer (and main? (iota 1000))))
  (gather parallelizer (length chunk)))

(let ((lengths (parallelizer-run (lookup-parallelizer #f) run-job)))
  ;; Under MPI every rank runs this script; only the main one prints.
  (unless (in-worker-process? lengths)
    (write lengths)
    (newline)))
