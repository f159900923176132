;;; (parallelizer backend multiprocessing) — forked workers on one machine.

;;; Commentary:
;;;
;;; Each run forks the workers afresh, so they inherit the whole heap of
;;; the main process: closures made at the REPL, loaded modules and data.
;;; The processes talk through shared-memory channels built by the C
;;; runtime.
;;;
;;; Code:

(define-module (parallelizer backend multiprocessing)
  #:use-module (ice-9 match)
  #:use-module ((ice-9 threads) #:select (current-processor-count))
  #:use-module ((srfi srfi-1) #:select (filter-map find))
  #:use-module (rnrs bytevectors)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer primitives)
                #:select (%comm-close!
                          %comm-set-timeout!
                          %mp-group-close!
                          %mp-group-comm
                          %mp-group-create
                          %mp-group-fork
                          %mp-group-join
                          %mp-group-kill
                          %mp-group-unreceived
                          %mp-worker-exit
                          %shared-run-begin
                          %shared-run-end))
  #:use-module ((parallelizer wire) #:select (value->cbor cbor->value))
  #:export (make-multiprocessing-parallelizer
            multiprocessing-parallelizer?))

;; The largest group: the runtime's limit (MAX_NPROCS of the C runtime's
;; mp-group.c). A group connects every ordered pair of its processes by a
;; ring of shared memory, so its memory grows with the square of its size;
;; past this many processes a single machine runs out of it long before it
;; runs out of cores.
(define %max-processes 1024)

(define (valid-processes? n)
  (and (exact-integer? n) (<= 1 n %max-processes)))

(define* (make-multiprocessing-parallelizer #:key processes initializer
                                            timeout)
  "Return a new multiprocessing parallelizer. PROCESSES is the total number
of processes of a run, the main one included (default: the number of
online processors), from 1 to 1024. INITIALIZER, a thunk, runs in the main
process before each fork, so workers inherit what it sets up. TIMEOUT
bounds every wait of a run, in seconds (a positive finite number, or #f:
none)."
  (let ((processes (or processes
                       (min (current-processor-count) %max-processes))))
    (unless (valid-processes? processes)
      (raise-parallelizer-error
       'make-multiprocessing-parallelizer 'EINVAL
       "#:processes must be an integer from 1 to ~a, got ~s"
       %max-processes processes))
    (unless (or (not initializer) (procedure? initializer))
      (raise-parallelizer-error
       'make-multiprocessing-parallelizer 'EINVAL
       "#:initializer must be a thunk or #f, got ~s" initializer))
    (check-timeout 'make-multiprocessing-parallelizer timeout)
    (%make-parallelizer %multiprocessing
                        `((processes . ,processes)
                          (initializer . ,initializer)
                          (timeout . ,timeout))
                        #f #f 0)))

(define (multiprocessing-parallelizer? obj)
  "Return #t if OBJ is a multiprocessing parallelizer."
  (parallelizer-of? obj %multiprocessing))

(define (parse-spec argument)
  ;; PARALLELIZER=multiprocessing or multiprocessing:N.
  (if argument
      (let ((n (string->number argument)))
        (unless (valid-processes? n)
          (raise-parallelizer-error
           'lookup-parallelizer 'EINVAL
           "cannot understand the parallelizer ~s: in multiprocessing:N, N \
must be an integer from 1 to ~a"
           (string-append "multiprocessing:" argument) %max-processes))
        (make-multiprocessing-parallelizer #:processes n))
      (make-multiprocessing-parallelizer)))

(define (parse-settings alist)
  ;; ((mode . multiprocessing) (processes . 4) ...).
  (define (setting key)
    (match (assq key alist)
      ((_ . value) value)
      (#f #f)))
  (make-multiprocessing-parallelizer #:processes (setting 'processes)
                                     #:initializer (setting 'initializer)
                                     #:timeout (setting 'timeout)))

;;;
;;; A run.
;;;

;; The group is kept in the parallelizer's state between runs of the same
;; size: mapping the channels costs more than forking.
(define (group-for p nprocs timeout)
  (match (parallelizer-state p)
    (((? (lambda (n) (= n nprocs))) (? (lambda (t) (equal? t timeout)))
      group)
     group)
    (old
     (match old
       ((_ _ group) (%mp-group-close! group))
       (_ #t))
     (let ((group (%mp-group-create nprocs timeout)))
       (set-parallelizer-state! p (list nprocs timeout group))
       group))))

(define (multiprocessing-run p thunk ranks timeout)
  (let* ((nprocs (if ranks
                     (length ranks)
                     (parallelizer-option p 'processes 1)))
         (timeout (or timeout (parallelizer-option p 'timeout #f)))
         (initializer (parallelizer-option p 'initializer #f)))
    (when (parallelizer-comm p)
      (raise-parallelizer-error
       'parallelizer-run 'EINVAL "~a is already running a job" p))
    (when initializer
      (initializer))
    (let ((group (group-for p nprocs timeout)))
      ;; Workers must not print what the main process has buffered.
      (flush-all-ports)
      ;; The workers borrow this process's shared memory for the run.
      (dynamic-wind
        %shared-run-begin
        (lambda ()
          (let ((rank (%mp-group-fork group)))
            (if (zero? rank)
                (run-main p group thunk timeout)
                (run-worker p group thunk))))
        %shared-run-end))))

(define (run-worker p group thunk)
  ;; Whatever happens here ends in %mp-worker-exit: a worker never returns
  ;; into the main process's code.
  (catch #t
    (lambda ()
      (set-parallelizer-comm! p (%mp-group-comm group))
      (let ((result (thunk)))
        (flush-all-ports)
        (if (job-error? result)
            (%mp-worker-exit group 1 (job-error->report result))
            (%mp-worker-exit group 0 #f))))
    (lambda _
      (false-if-exception (flush-all-ports))
      (%mp-worker-exit group 2 #f))))

(define %report-limit
  ;; Reports larger than this lose their irritants and the ends of their
  ;; texts, so that they fit the shared memory a worker reports through.
  (* 512 1024))

(define (sendable x)
  ;; X itself if it can travel, else its printed form.
  (catch 'parallelizer-error
    (lambda () (value->cbor x) x)
    (lambda _ (format #f "~s" x))))

(define (truncate-text text limit)
  (if (and (string? text) (> (string-length text) limit))
      (string-append (substring text 0 limit) "...")
      text))

(define (job-error->report e)
  ;; The error as bytes for the main process. The formatted message was
  ;; made where the error happened; of the irritants, those that cannot
  ;; travel (procedures, ports...) go as their printed form. The code goes
  ;; as it is, a symbol.
  (let ((report (value->cbor
                 (list (job-error-key e)
                       (sendable (job-error-message e))
                       (map sendable (or (job-error-irritants e) '()))
                       (job-error-backtrace e)
                       (job-error-text e)
                       (job-error-code e)))))
    (if (<= (bytevector-length report) %report-limit)
        report
        (value->cbor
         (list (job-error-key e)
               (truncate-text (sendable (job-error-message e)) 4096)
               '()
               (truncate-text (job-error-backtrace e) 65536)
               (truncate-text (job-error-text e) 4096)
               (job-error-code e))))))

(define (report->job-error rank pid state code report)
  ;; What the main process knows of a worker that did not succeed.
  ;; A worker that died is a peer that left the group: EPEER.
  (define (synthesized message . irritants)
    (list->job-error (list 'worker-died message irritants "" #f 'EPEER)))
  (match state
    ('failed
     (or (and report
              (false-if-exception (list->job-error (cbor->value report))))
         (synthesized "the job failed but its report was lost")))
    ('exited (synthesized "exited with status ~a before the job ended" code))
    ('signaled (synthesized "was killed by signal ~a" code))
    (_ #f)))

(define (secondary? e)
  ;; An error of the runtime that only says another process failed first:
  ;; its peer left (EPEER) or the group was aborted (EABORTED). A worker
  ;; that died is EPEER too, but as the one that left: its key says so.
  (and (eq? (job-error-key e) 'parallelizer-error)
       (memq (job-error-code e) '(EPEER EABORTED))
       #t))

(define (remaining-seconds deadline)
  ;; Seconds left until DEADLINE (in internal time units), at least a
  ;; millisecond so that a wait still looks once before it gives up.
  (max 0.001 (exact->inexact (/ (- deadline (get-internal-real-time))
                                internal-time-units-per-second))))

(define (join-in-time group comm timeout deadline)
  ;; Wait for the workers, for what is left of the run's TIMEOUT: a worker
  ;; that computes for ever is stopped on time even while the main process
  ;; waits for nothing else.
  (when deadline
    (%comm-set-timeout! comm (remaining-seconds deadline)))
  (catch 'parallelizer-error
    (lambda () (%mp-group-join group comm))
    (lambda (key who message args . rest)
      (if (and deadline (> (get-internal-real-time) deadline))
          (raise-parallelizer-error
           'parallelizer-run 'ETIMEDOUT
           "the run did not end within its timeout of ~a s; its workers \
were stopped" timeout)
          (apply throw key who message args rest)))))

(define (run-main p group thunk timeout)
  ;; Every wait of the run is bounded by TIMEOUT, and the whole run by
  ;; DEADLINE.
  (let ((comm (%mp-group-comm group))
        (deadline (and timeout
                       (+ (get-internal-real-time)
                          (inexact->exact
                           (round (* timeout
                                     internal-time-units-per-second)))))))
    (dynamic-wind
      (lambda () (set-parallelizer-comm! p comm))
      (lambda ()
        (let ((result (thunk)))
          ;; If the main process failed, the workers may wait on it for
          ;; ever: stop them before collecting their reports.
          (when (job-error? result)
            (%mp-group-kill group))
          (let* ((statuses (join-in-time group comm timeout deadline))
                 (failures
                  (append
                   (if (job-error? result)
                       (list (list 0 (getpid) result))
                       '())
                   (filter-map
                    (match-lambda
                      ((rank pid state code report)
                       (let ((e (report->job-error rank pid state code
                                                   report)))
                         (and e (list rank pid e)))))
                    statuses))))
            (match (or (find (match-lambda ((_ _ e) (not (secondary? e))))
                             failures)
                       (and (pair? failures) (car failures)))
              ((rank pid e) (raise-job-error 'parallelizer-run rank pid e))
              (#f
               ;; Every process finished, but a process that only sends
               ;; cannot notice that its peer was in another operation:
               ;; what is left in the channels tells.
               (match (%mp-group-unreceived group)
                 (#f result)
                 (detail
                  (raise-parallelizer-error
                   'parallelizer-run 'EMISMATCH
                   "processes were in different operations: ~a" detail))))))))
      (lambda ()
        ;; Also reached by a non-local exit (Ctrl-C): no worker survives.
        (%mp-group-kill group)
        (%comm-close! comm)
        (set-parallelizer-comm! p #f)))))

(define (finalize p)
  ;; Leaving the outermost with-parallelizer releases the channels.
  (match (parallelizer-state p)
    ((_ _ group) (%mp-group-close! group) (set-parallelizer-state! p #f))
    (_ #t)))

(define %multiprocessing
  (make-backend 'multiprocessing
                #:specs '("multiprocessing" "multiprocessing:N")
                #:make make-multiprocessing-parallelizer
                #:parse-spec parse-spec
                #:settings '(processes initializer timeout)
                #:parse-settings parse-settings
                #:finalize finalize
                #:run multiprocessing-run
                #:nprocs (lambda (p) (parallelizer-option p 'processes 1))))

(register-backend! %multiprocessing)
