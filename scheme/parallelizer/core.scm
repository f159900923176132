;;; (parallelizer core) — parallelizer objects, sentinels and errors.

;;; Commentary:
;;;
;;; The record every backend shares, the registry of backends, the
;;; sentinels that restricted procedures return, and the condition type of
;;; errors raised by a run. Users see all of this through (parallelizer).
;;;
;;; Code:

(define-module (parallelizer core)
  #:use-module (ice-9 exceptions)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:use-module (parallelizer primitives)
  #:use-module (parallelizer wire)
  #:export (<parallelizer>
            %make-parallelizer
            parallelizer?
            parallelizer-kind
            parallelizer-options
            parallelizer-option
            parallelizer-comm
            set-parallelizer-comm!
            parallelizer-state
            set-parallelizer-state!
            parallelizer-depth
            set-parallelizer-depth!
            parallelizer-nprocs
            parallelizer-id
            parallelizer-pid
            on-main?
            serial-parallelizer?
            multiprocessing-parallelizer?
            mpi-parallelizer?
            current-parallelizer
            %run-announcer
            require-comm

            <backend>
            make-backend
            backend?
            backend-initialize
            backend-finalize
            backend-run
            backend-nprocs
            register-backend!
            lookup-backend

            in-worker-process
            in-worker-process?
            in-main-process
            in-main-process?

            &parallelizer-failure
            parallelizer-failure?
            parallelizer-failure-rank
            parallelizer-failure-pid
            parallelizer-failure-key
            parallelizer-failure-message
            parallelizer-failure-irritants
            parallelizer-failure-backtrace
            raise-parallelizer-error
            raise-parallelizer-failure
            call-capturing-error
            job-error?
            job-error-key
            job-error-message
            job-error-irritants
            job-error-backtrace
            job-error-text
            job-error->list
            list->job-error
            raise-job-error))

;;;
;;; Parallelizer objects.
;;;

;; KIND is a symbol naming the backend; OPTIONS an alist of its settings.
;; COMM is the communicator of the group this process is in, or #f outside
;; a run on backends that build their group per run. STATE belongs to the
;; backend. DEPTH counts the nested with-parallelizer extents, so that the
;; backend is initialized and finalized once.
(define-record-type <parallelizer>
  (%make-parallelizer kind options comm state depth)
  parallelizer?
  (kind parallelizer-kind)
  (options parallelizer-options)
  (comm parallelizer-comm set-parallelizer-comm!)
  (state parallelizer-state set-parallelizer-state!)
  (depth parallelizer-depth set-parallelizer-depth!))

;;;
;;; Backends.
;;;

;; What a backend provides. INITIALIZE and FINALIZE take the parallelizer
;; and run once per outermost with-parallelizer extent. RUN takes the
;; parallelizer, a procedure of no arguments to call on every process of
;; the group, the ranks of the group (or #f for all) and the timeout in
;; seconds (or #f). The procedure returns the job's value or, if the job
;; raised, a job error; RUN returns the main process's value or raises the
;; first job error (by rank) with raise-job-error. NPROCS and ID tell the
;; size of the group a run would start and this process's rank in it,
;; outside a run. NPROCS tells the
;; size of the group a run would start.
(define-record-type <backend>
  (make-backend name initialize finalize run nprocs id)
  backend?
  (name backend-name)
  (initialize backend-initialize)
  (finalize backend-finalize)
  (run backend-run)
  (nprocs backend-nprocs)
  (id backend-id))

(define %backends (make-hash-table))

(define (register-backend! backend)
  "Make BACKEND the implementation of parallelizers of its kind."
  (hashq-set! %backends (backend-name backend) backend))

(define (lookup-backend kind)
  "Return the backend of KIND, or raise an error."
  (or (hashq-ref %backends kind)
      (raise-parallelizer-error 'lookup-backend
                                "no backend named ~s" kind)))

(define (parallelizer-option p key default)
  "Return the option KEY of parallelizer P, or DEFAULT."
  (match (assq key (parallelizer-options p))
    ((_ . value) value)
    (#f default)))

(define current-parallelizer
  (make-parameter #f))

(set-object-property! current-parallelizer 'documentation
  "A parameter: the parallelizer of the run in progress on this process, or
#f outside any run.")

;; Called by parallelizer-run, when set, with the parallelizer, the job and
;; its arguments before the run starts: how a REPL on rank 0 of an MPI job
;; brings the serving ranks into the run (see (parallelizer serve)).
(define %run-announcer
  (make-parameter #f))

(define (require-comm p who)
  "Return the communicator of P, or raise an error from WHO if P is not in
a run."
  (or (parallelizer-comm p)
      (raise-parallelizer-error
       who "~a is not running: call it inside parallelizer-run" p)))

(define (parallelizer-nprocs p)
  "Return the number of processes in the current group of parallelizer P:
the group of the run in progress, or the size of the group a run would
start."
  (let ((comm (parallelizer-comm p)))
    (if comm
        (%comm-size comm)
        ((backend-nprocs (lookup-backend (parallelizer-kind p))) p))))

(define (parallelizer-id p)
  "Return this process's rank in the current group of parallelizer P; 0 is
the main process."
  (let ((comm (parallelizer-comm p)))
    (if comm
        (%comm-rank comm)
        ((backend-id (lookup-backend (parallelizer-kind p))) p))))

(define (parallelizer-pid p)
  "Return the operating-system process id of this process of P."
  (getpid))

(define (on-main? p)
  "Return #t if this process is the main process (rank 0) of P."
  (zero? (parallelizer-id p)))

(define (serial-parallelizer? obj)
  "Return #t if OBJ is a serial parallelizer."
  (and (parallelizer? obj) (eq? (parallelizer-kind obj) 'serial)))

(define (multiprocessing-parallelizer? obj)
  "Return #t if OBJ is a multiprocessing parallelizer."
  (and (parallelizer? obj) (eq? (parallelizer-kind obj) 'multiprocessing)))

(define (mpi-parallelizer? obj)
  "Return #t if OBJ is an MPI parallelizer."
  (and (parallelizer? obj) (eq? (parallelizer-kind obj) 'mpi)))

(set-record-type-printer! <parallelizer>
  (lambda (p port)
    (format port "#<~a-parallelizer id=~a nprocs=~a>"
            (parallelizer-kind p) (parallelizer-id p)
            (parallelizer-nprocs p))))

;;;
;;; Sentinels returned where a restricted procedure did not run.
;;;

(define-record-type <sentinel>
  (make-sentinel name)
  sentinel?
  (name sentinel-name))

(set-record-type-printer! <sentinel>
  (lambda (s port)
    (format port "#<~a>" (sentinel-name s))))

(define in-worker-process
  ;; What main-restricted procedures return on workers, and what gather and
  ;; friends return on processes that do not receive the result.
  (make-sentinel 'in-worker-process))

(define in-main-process
  ;; What worker-restricted procedures return on the main process.
  (make-sentinel 'in-main-process))

;; Sentinels travel between processes (a gather on another root collects
;; them): what arrives is equal? to the sentinel, though not eq?.
(register-wire-record-type! <sentinel> "parallelizer-sentinel")

(define (in-worker-process? obj)
  "Return #t if OBJ is the in-worker-process sentinel (or a copy of it
received from another process)."
  (and (sentinel? obj) (eq? (sentinel-name obj) 'in-worker-process)))

(define (in-main-process? obj)
  "Return #t if OBJ is the in-main-process sentinel (or a copy of it
received from another process)."
  (and (sentinel? obj) (eq? (sentinel-name obj) 'in-main-process)))

;;;
;;; Errors.
;;;

;; The error of a process of a run, as seen by the main process.
(define-exception-type &parallelizer-failure &error
  make-parallelizer-failure
  %parallelizer-failure?
  (rank %failure-rank)
  (pid %failure-pid)
  (key %failure-key)
  (message %failure-message)
  (irritants %failure-irritants)
  (backtrace %failure-backtrace))

(define (parallelizer-failure? obj)
  "Return #t if OBJ is the error of a failed run (a &parallelizer-failure
condition)."
  (%parallelizer-failure? obj))

(define (parallelizer-failure-rank e)
  "Return the rank of the process whose job raised the failure E."
  (%failure-rank e))

(define (parallelizer-failure-pid e)
  "Return the process id of the process whose job raised the failure E."
  (%failure-pid e))

(define (parallelizer-failure-key e)
  "Return the key of the error the job raised (misc-error, wrong-type-arg,
...), as catch would see it."
  (%failure-key e))

(define (parallelizer-failure-message e)
  "Return the message of the error the job raised, formatted with its
irritants."
  (%failure-message e))

(define (parallelizer-failure-irritants e)
  "Return the irritants of the error the job raised, as a list."
  (%failure-irritants e))

(define (parallelizer-failure-backtrace e)
  "Return the text of the job's stack where it raised the error."
  (%failure-backtrace e))

(define (raise-parallelizer-error who message . irritants)
  "Raise an error with key parallelizer-error from WHO (a symbol or
string), with MESSAGE formatted over IRRITANTS by simple-format rules."
  (let ((who (if (symbol? who) (symbol->string who) who)))
    (scm-error 'parallelizer-error who message irritants #f)))

(define* (raise-parallelizer-failure who #:key rank pid key message irritants
                                     backtrace text)
  "Raise, from WHO, the error of process RANK (PID) of a run: it had raised
KEY with MESSAGE and IRRITANTS, and BACKTRACE is the text of its stack.
The error is catchable as key parallelizer-error and as the condition
&parallelizer-failure."
  (let* ((who (if (symbol? who) (symbol->string who) who))
         (description (or text (describe-error key message irritants)))
         (text (format #f "rank ~a (pid ~a) failed: ~a" rank pid
                       description)))
    (raise-exception
     (make-exception
      (make-parallelizer-failure rank pid key description irritants
                                 backtrace)
      (make-exception-from-throw 'parallelizer-error
                                 (list who "~a" (list text) #f))))))

;; Print our errors as Guile prints its own: "In procedure WHO: message".
(set-exception-printer!
 'parallelizer-error
 (lambda (port key args default-printer)
   (match args
     ((who (? string? message) (? list? irritants) . _)
      (when who
        (format port "In procedure ~a: " who))
      (apply simple-format port message irritants))
     (_ (default-printer)))))

(define (describe-error key message irritants)
  ;; MESSAGE may be a format string with ~a/~s over IRRITANTS (scm-error
  ;; style) or #f when the error did not carry one.
  (cond
   ((and (string? message) (list? irritants))
    (catch #t
      (lambda () (apply simple-format #f message irritants))
      (lambda _ (format #f "~a ~s" message irritants))))
   ((string? message) message)
   (else (format #f "~s ~s" key irritants))))

;;;
;;; Errors of a job, captured where they happen.
;;;

;; What a process knows of the error its job raised: the throw KEY, the
;; MESSAGE and IRRITANTS when the error had scm-error's shape, the text of
;; the stack at the point of the raise, and the message formatted where
;; the error happened (TEXT), while its irritants were still the objects
;; themselves.
(define-record-type <job-error>
  (make-job-error key message irritants backtrace text)
  job-error?
  (key job-error-key)
  (message job-error-message)
  (irritants job-error-irritants)
  (backtrace job-error-backtrace)
  (text job-error-text))

(define (job-error->list e)
  "Return the job error E as a list that can travel between processes."
  (list (job-error-key e) (job-error-message e) (job-error-irritants e)
        (job-error-backtrace e) (job-error-text e)))

(define (list->job-error lst)
  "The inverse of job-error->list."
  (match lst
    ((key message irritants backtrace text)
     (make-job-error key message irritants backtrace text))))

(define (throw-arguments->job-error key args backtrace)
  (define (make key message irritants)
    (make-job-error key message irritants backtrace
                    (describe-error key message irritants)))
  (match (cons key args)
    ;; A keyword argument error names the keyword in its data, not in its
    ;; irritants: show it.
    (('keyword-argument-error _ (? string? message) () ((? keyword? kw)))
     (make key (string-append message " ~s") (list kw)))
    ;; scm-error's shape: (subr message irritants rest).
    ((_ (or #f (? string?) (? symbol?)) (? string? message)
        (? list? irritants) . _)
     (make key message irritants))
    ;; raise of a non-exception object arrives as %exception.
    (('%exception obj)
     (make key "~s" (list obj)))
    (_ (make key #f args))))

(define (call-capturing-error thunk)
  "Call THUNK. Return its value, or a job error describing what it raised,
with the backtrace taken where it was raised.

Everything is captured, Ctrl-C at the REPL included: the REPL reports an
error without unwinding the stack (so that it can be inspected), and only
an error captured here lets the run stop its workers before the REPL
shows it."
  (let ((backtrace #f))
    (catch #t
      thunk
      (lambda (key . args)
        (throw-arguments->job-error key args (or backtrace "")))
      (lambda (key . args)
        (set! backtrace
          (call-with-output-string
            (lambda (port)
              (let ((stack (make-stack #t 2)))
                (when stack
                  (display-backtrace stack port))))))))))

(define (raise-job-error who rank pid e)
  "Raise, from WHO, the job error E of process RANK (PID)."
  (raise-parallelizer-failure who
                              #:rank rank
                              #:pid pid
                              #:key (job-error-key e)
                              #:message (job-error-message e)
                              #:irritants (job-error-irritants e)
                              #:backtrace (job-error-backtrace e)
                              #:text (job-error-text e)))
