;;; (parallelizer background) — runs that go on while the REPL stays free.

;;; Commentary:
;;;
;;; parallelizer-start starts a run and returns at once with a handle;
;;; run-wait waits for its value (or raises its error), run-done? tells
;;; whether it has ended and run-cancel! stops it.
;;;
;;; On the serial and multiprocessing backends the run's main process is a
;;; child of the caller, forked for the run, which forks the workers as
;;; any main process does: the caller is in none of the run's operations
;;; and only waits for the child's report, which comes through an
;;; unlinked temporary file. The child leads a process group of its own,
;;; joined by its workers, so that a cancel stops the run as one unit and
;;; Ctrl-C typed at the terminal does not reach it. While background runs
;;; live, the caller is a subreaper: if the child dies without stopping its
;;; workers, they become the caller's children, which it kills and reaps.
;;;
;;; On MPI every rank takes part in a run from its start to its end, the
;;; REPL's rank 0 included, and MPI offers no way to stop a part of a job:
;;; there parallelizer-start runs the job to its end before it returns
;;; (see the manual, "Working interactively").
;;;
;;;   scheme@(guile-user)> (define h (parallelizer-start p long-job))
;;;   scheme@(guile-user)> (run-done? h)
;;;   $1 = #f
;;;   scheme@(guile-user)> (run-wait h)
;;;   $2 = (0 1 2 3)
;;;
;;; Code:

(define-module (parallelizer background)
  #:use-module (ice-9 binary-ports)
  #:use-module ((rnrs bytevectors) #:select (bytevector?))
  #:use-module (ice-9 exceptions)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module (parallelizer registry)
  #:use-module (parallelizer run)
  #:use-module ((parallelizer backend mpi) #:select (mpi-parallelizer?))
  #:use-module ((parallelizer primitives)
                #:select (%background-fork
                          %background-ended?
                          %background-reap
                          %set-child-subreaper!))
  #:use-module ((parallelizer wire) #:select (value->cbor cbor->value))
  #:export (parallelizer-start
            run-handle?
            run-wait
            run-done?
            run-cancel!))

;; PID is the run's main process (0 for a run that ended before the handle
;; was made, on MPI); PORT the temporary file its report arrives in. STATE
;; is running, or, once known, (ok VALUE), (failed CONDITION) or
;; cancelled.
(define-record-type <run-handle>
  (make-run-handle pid port state)
  %run-handle?
  (pid run-handle-pid)
  (port run-handle-port set-run-handle-port!)
  (state run-handle-state set-run-handle-state!))

(set-record-type-printer! <run-handle>
  (lambda (h port)
    (format port "#<run ~a ~a>"
            (run-handle-pid h)
            (match (run-handle-state h)
              ('running "running")
              (('ok . _) "done")
              (('failed . _) "failed")
              ('cancelled "cancelled")))))

(define (run-handle? obj)
  "Return #t if OBJ is the handle of a background run (see
parallelizer-start)."
  (%run-handle? obj))

(define (check-handle who h)
  (unless (run-handle? h)
    (raise-parallelizer-error who 'EINVAL
                              "expected a run handle, got ~s" h))
  h)

;;;
;;; The caller's side.
;;;

;; The number of background runs whose main process has not been reaped,
;; and whether this process was a subreaper before the first of them.
(define %live-runs 0)
(define %was-subreaper? #f)

(define (adopt-orphans!)
  (when (zero? %live-runs)
    (set! %was-subreaper? (%set-child-subreaper! #t)))
  (set! %live-runs (1+ %live-runs)))

(define (stop-adopting!)
  (set! %live-runs (1- %live-runs))
  (when (and (zero? %live-runs) (not %was-subreaper?))
    (%set-child-subreaper! #f)))

(define (parallelizer-start p proc . args)
  "Start a run of PROC on the processes of parallelizer P, as
parallelizer-run would with the same arguments (#:comm, #:timeout and the
job's own), and return at once a handle for run-wait, run-done? and
run-cancel!. The caller takes no part in the run: on the serial and
multiprocessing backends the run's main process is a process of its own,
forked for the run, which forks the workers. On MPI, where every rank of
the job takes part in a run, the run ends before parallelizer-start
returns."
  (unless (procedure? proc)
    (raise-parallelizer-error 'parallelizer-start 'EINVAL
                              "expected a procedure, got ~s" proc))
  (let ((p (lookup-parallelizer
            (check-parallelizer-designator 'parallelizer-start p))))
    (when (parallelizer-comm p)
      (raise-parallelizer-error
       'parallelizer-start 'EINVAL
       "~a is running a job: a background run starts outside any run" p))
    (if (mpi-parallelizer? p)
        (start-at-once p proc args)
        (start-forked p proc args))))

(define (check-parallelizer-designator who p)
  ;; What lookup-parallelizer accepts; parallelizer objects are checked
  ;; here so that the error names WHO.
  (if (or (parallelizer? p) (not p) (symbol? p) (string? p) (pair? p))
      p
      (check-parallelizer who p)))

(define (start-at-once p proc args)
  ;; MPI: the run is made now; the handle holds its outcome.
  (make-run-handle 0 #f
                   (guard (e (#t (list 'failed e)))
                     (list 'ok (apply parallelizer-run p proc args)))))

(define (start-forked p proc args)
  (let ((port (tmpfile)))
    (flush-all-ports)
    (adopt-orphans!)
    (let ((pid (catch #t
                 (lambda () (%background-fork))
                 (lambda (key . rest)
                   (stop-adopting!)
                   (close-port port)
                   (apply throw key rest)))))
      (if (zero? pid)
          (run-in-child port p proc args)
          (make-run-handle pid port 'running)))))

(define (outcome! h)
  ;; H's state, after reading the report of its main process if it has
  ;; ended; running while it has not.
  (match (run-handle-state h)
    ('running
     (let ((pid (run-handle-pid h)))
       (when (%background-ended? pid)
         (finish! h (%background-reap pid #f)))
       (run-handle-state h)))
    (state state)))

(define (finish! h end)
  ;; The main process of H has ended as END says and is reaped, with what
  ;; was left of its group: read its report.
  (let ((port (run-handle-port h)))
    (set-run-handle-state! h (read-report port (run-handle-pid h) end))
    (close-port port)
    (set-run-handle-port! h #f)
    (stop-adopting!)))

(define (read-report port pid end)
  (seek port 0 SEEK_SET)
  (let ((bytes (get-bytevector-all port)))
    (or (and (bytevector? bytes)
             (false-if-exception (report->outcome (cbor->value bytes))))
        (list 'failed
              (make-exception-from-throw
               'parallelizer-error
               (list "run-wait"
                     (match end
                       (('signaled signal)
                        (format #f "the run's main process (pid ~a) was \
killed by signal ~a before it reported the run's end" pid signal))
                       (('exited code)
                        (format #f "the run's main process (pid ~a) \
exited with status ~a before it reported the run's end" pid code))
                       (_ (format #f "the run's main process (pid ~a) \
ended before it reported the run's end" pid)))
                     '()
                     '(EPEER)))))))

(define (report->outcome report)
  ;; The outcome that the main process of a run reported (see
  ;; outcome->report).
  (match report
    (('ok value) (list 'ok value))
    (('failure rank pid key message irritants backtrace text code)
     (list 'failed
           (guard (e (#t e))
             (raise-parallelizer-failure 'parallelizer-run
                                         #:rank rank #:pid pid #:key key
                                         #:message message
                                         #:irritants irritants
                                         #:backtrace backtrace #:text text
                                         #:code code))))
    (('error key args)
     (list 'failed (make-exception-from-throw key args)))))

(define (deliver state)
  ;; The value of a run whose outcome is STATE, or its error raised.
  (match state
    (('ok value) value)
    (('failed e) (raise-exception e))
    ('cancelled
     (raise-parallelizer-error 'run-wait 'EABORTED
                               "the run was cancelled (run-cancel!)"))))

(define (nap seconds)
  (usleep (max 1 (inexact->exact (round (* seconds 1e6))))))

(define* (run-wait h #:key timeout)
  "Wait for the background run H to end and return its main process's
value, or raise its error, as parallelizer-run would have. With TIMEOUT
(seconds), raise an error of code ETIMEDOUT if the run has not ended by
then; the run goes on. Ctrl-C at the REPL interrupts the wait, not the
run (run-cancel! stops it)."
  (check-handle 'run-wait h)
  (check-timeout 'run-wait timeout)
  (let ((deadline (and timeout (+ (get-internal-real-time)
                                  (seconds->ticks timeout)))))
    (deliver
     (catch 'signal
       (lambda ()
         ;; Naps grow from 1 ms to 20 ms: a short run is seen at once, a
         ;; long one costs nothing while it is waited for.
         (let loop ((pause 0.001))
           (match (outcome! h)
             ('running
              (when (and deadline (>= (get-internal-real-time) deadline))
                (raise-parallelizer-error
                 'run-wait 'ETIMEDOUT
                 "the run has not ended within ~a s; it goes on" timeout))
              (nap (if deadline
                       (min pause (ticks->seconds
                                   (- deadline (get-internal-real-time))))
                       pause))
              (loop (min 0.02 (* pause 2))))
             (state state))))
       (lambda (key . args)
         (return-to-prompt 'run-wait "interrupted; the run goes on in the \
background (run-cancel! stops it)"
                           (lambda () (apply throw key args))))))))

(define (seconds->ticks seconds)
  (inexact->exact (round (* seconds internal-time-units-per-second))))

(define (ticks->seconds ticks)
  (max 0 (/ ticks 1.0 internal-time-units-per-second)))

(define (run-done? h)
  "Return #t if the background run H has ended (returned, failed or been
cancelled), #f while it goes on."
  (check-handle 'run-done? h)
  (not (eq? (outcome! h) 'running)))

;; How long run-cancel! lets the run's main process stop its workers
;; itself before it kills the whole run.
(define %cancel-grace 1.0)

(define (run-cancel! h)
  "Stop the background run H, if it has not ended: every process of the
run is stopped and reaped, and nothing it made is left. Return #t if it
was running, #f if it had already ended. run-wait on a cancelled run
raises an error of code EABORTED."
  (check-handle 'run-cancel! h)
  (match (outcome! h)
    ('running
     (let ((pid (run-handle-pid h)))
       ;; The main process stops and reaps its workers when interrupted,
       ;; as at the REPL; one that does not within the grace period is
       ;; killed with its whole group.
       (false-if-exception (kill pid SIGTERM))
       (let loop ((waited 0) (pause 0.001))
         (cond
          ((%background-ended? pid) (%background-reap pid #f))
          ((>= waited %cancel-grace) (%background-reap pid #t))
          (else (nap pause)
                (loop (+ waited pause) (min 0.02 (* pause 2))))))
       (close-port (run-handle-port h))
       (set-run-handle-port! h #f)
       (set-run-handle-state! h 'cancelled)
       (stop-adopting!)
       #t))
    (_ #f)))

;;;
;;; The run's main process.
;;;

(define (run-in-child port p proc args)
  ;; In the forked main process of a background run: run, write the
  ;; outcome to PORT and exit. Nothing here returns into the caller's
  ;; program, whatever the job does.
  (dynamic-wind
    (lambda () #t)
    (lambda ()
      (catch #t
        (lambda ()
          (catch-cancel!)
          (let ((outcome
                 (parameterize ((%raw-run-errors? #t))
                   (guard (e (#t (list 'failed e)))
                     (list 'ok (apply parallelizer-run p proc args))))))
            (seek port 0 SEEK_SET)
            (put-bytevector port (outcome->report outcome))
            (force-output port)
            (flush-all-ports)
            (primitive-_exit 0)))
        (lambda _
          (false-if-exception (flush-all-ports))
          (primitive-_exit 2))))
    (lambda ()
      (false-if-exception (flush-all-ports))
      (primitive-_exit 3))))

(define (catch-cancel!)
  ;; run-cancel! sends SIGTERM: the run then stops as at an interrupt.
  ;;
  ;; Guile delivers signals to Scheme handlers through a thread of its
  ;; own, which this process has (restarted after the fork if the caller
  ;; had one, or started by sigaction below). Guile 3.0.8 stops it around
  ;; each fork, but a fork while it is still starting can leave the child
  ;; stuck on a lock it held, and the run is about to fork its workers:
  ;; so a first SIGTERM, sent to this process itself, is only waited for,
  ;; which shows the thread at work.
  (let ((armed? #f)
        (ready? #f))
    (sigaction SIGTERM
      (lambda (signal)
        (if armed?
            (scm-error 'signal #f "Cancelled" '() (list signal))
            (set! ready? #t))))
    (kill (getpid) SIGTERM)
    (let loop ((i 0))
      (unless (or ready? (> i 5000))
        (usleep 1000)
        (loop (1+ i))))
    (set! armed? #t)))

(define (sendable x)
  ;; X if it can travel, else its printed form.
  (catch #t
    (lambda () (value->cbor x) x)
    (lambda _ (format #f "~s" x))))

(define (outcome->report outcome)
  ;; OUTCOME as bytes for the caller: (ok VALUE), a run's failure with its
  ;; fields, or any other error as its key and arguments.
  (define (failure-report e)
    (list 'failure
          (parallelizer-failure-rank e) (parallelizer-failure-pid e)
          (parallelizer-failure-key e)
          (sendable (parallelizer-failure-message e))
          (map sendable (or (parallelizer-failure-irritants e) '()))
          (parallelizer-failure-backtrace e)
          (parallelizer-failure-message e)
          (parallelizer-error-code e)))
  (define (error-report e)
    (list 'error (exception-kind e)
          (match (exception-args e)
            ((? list? args) (map sendable args))
            (args (list (sendable args))))))
  (match outcome
    (('ok value)
     (catch 'parallelizer-error
       (lambda () (value->cbor (list 'ok value)))
       (lambda (key who message irritants . rest)
         (value->cbor
          (error-report
           (make-exception-from-throw
            'parallelizer-error
            (list "run-wait"
                  "the run's value cannot travel to the process that \
started the run: ~a"
                  (list (apply simple-format #f message irritants))
                  '(EINVAL))))))))
    (('failed e)
     (value->cbor (if (parallelizer-failure? e)
                      (failure-report e)
                      (error-report e))))))
