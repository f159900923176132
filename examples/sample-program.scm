;;; sample-program.scm — a program object with main- and worker-only parts.

;;; Commentary:
;;;
;;; The SampleProgram of McUtils.Parallelizers, in Scheme. A program is a
;;; record holding its size and its parallelizer (looked up, so #f means
;;; the default and a registered name works too). RUN-PAR is called on
;;; every process: RUN-WORKER is worker-restricted and RUN-MAIN is
;;; main-restricted, so the main process makes random data, scatters it,
;;; squares its chunk, gathers the squares and takes their square roots,
;;; while the workers only square their chunks. The result is the
;;; original data again.
;;;
;;;   ./pre-inst-env guile examples/sample-program.scm
;;;       serial: prints "Running with #<serial-parallelizer id=0 nprocs=1>"
;;;       then an f64vector of 10 random numbers
;;;   PARALLELIZER=multiprocessing:4 ./pre-inst-env guile \
;;;       examples/sample-program.scm
;;;       four forked processes: "Running with
;;;       #<multiprocessing-parallelizer id=0 nprocs=4>", then the numbers
;;;   ./pre-inst-env parallelizer run -n 4 --backend mpi \
;;;       examples/sample-program.scm
;;;       four MPI ranks: "Running with #<mpi-parallelizer id=0 nprocs=4>",
;;;       then the numbers
;;;
;;; Code:

(use-modules (parallelizer)
             (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-9))

(define-record-type <sample-program>
  (%make-sample-program nvals parallelizer)
  sample-program?
  (nvals sample-program-nvals)
  (parallelizer sample-program-parallelizer))

(define* (make-sample-program #:key (nvals 1000) parallelizer)
  "Return a program over NVALS random numbers that runs on PARALLELIZER,
anything lookup-parallelizer accepts (#f: the default)."
  (%make-sample-program nvals (lookup-parallelizer parallelizer)))

(define (f64vector-map proc v)
  "Return a new f64vector of PROC applied to every element of V."
  (list->f64vector (map proc (f64vector->list v))))

(define (initialize-data program)
  "Return the data of PROGRAM: an f64vector of random numbers in [0, 1)."
  (let ((data (make-f64vector (sample-program-nvals program))))
    (do ((i 0 (1+ i)))
        ((= i (f64vector-length data)) data)
      (f64vector-set! data i (random:uniform)))))

(define* (eval-parallel data #:key parallelizer)
  "Square DATA of the main process across the processes of PARALLELIZER.
Return, on the main process, the list of the squared chunks in rank order."
  (let ((chunk (scatter parallelizer data)))
    ;; This would usually be much more sophisticated.
    (gather parallelizer (f64vector-map (lambda (x) (* x x)) chunk))))

(define run-main
  (main-restricted
   (lambda* (program #:key parallelizer)
     "Make the data, square it in parallel and post-process the squares."
     (let* ((data (initialize-data program))
            (squares (eval-parallel data #:parallelizer parallelizer)))
       (f64vector-map sqrt
                      (list->f64vector
                       (append-map f64vector->list squares)))))))

(define run-worker
  (worker-restricted
   (lambda* (program #:key parallelizer)
     "Do the workers' share of the parallel work."
     (eval-parallel #f #:parallelizer parallelizer))))

(define* (run-par program #:key parallelizer)
  "The job every process runs."
  (run-worker program #:parallelizer parallelizer)
  (run-main program #:parallelizer parallelizer))

(define (run-program program)
  "Run PROGRAM on its parallelizer and return the main process's result."
  (let ((p (sample-program-parallelizer program)))
    ;; Under MPI every rank runs this script: only the main one says so.
    (when (on-main? p)
      (format #t "Running with ~a~%" p))
    (parallelizer-run p run-par program)))

(set! *random-state* (random-state-from-platform))

(let ((result (run-program (make-sample-program #:nvals 10))))
  (unless (in-worker-process? result)
    (write result)
    (newline)))
