;;; (parallelizer core) — parallelizer objects, backends and sentinels.

;;; Commentary:
;;;
;;; The record every parallelizer is, the record every backend is, and the
;;; sentinels that restricted procedures return. A backend module makes
;;; one backend record and registers it: the record says how to make a
;;; parallelizer of its kind from a name, from the spec of the PARALLELIZER
;;; environment variable and from an alist of settings, and how to run a
;;; job. (parallelizer registry) dispatches on these records and never
;;; names a backend itself. Users see all of this through (parallelizer).
;;;
;;; Code:

(define-module (parallelizer core)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:use-module ((parallelizer primitives) #:select (%comm-rank %comm-size))
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer wire) #:select (register-wire-record-type!))
  #:export (<parallelizer>
            %make-parallelizer
            parallelizer?
            parallelizer-backend
            parallelizer-kind
            parallelizer-options
            parallelizer-option
            parallelizer-comm
            set-parallelizer-comm!
            parallelizer-state
            set-parallelizer-state!
            parallelizer-depth
            set-parallelizer-depth!
            parallelizer-of?
            check-parallelizer
            check-timeout
            parallelizer-nprocs
            parallelizer-id
            parallelizer-pid
            on-main?
            current-parallelizer
            %run-announcer
            require-comm

            <backend>
            make-backend
            backend?
            backend-name
            backend-specs
            backend-make
            backend-parse-spec
            backend-settings
            backend-parse-settings
            backend-detect
            backend-initialize
            backend-finalize
            backend-run
            backend-nprocs
            backend-id
            register-backend!
            lookup-backend
            registered-backends

            in-worker-process
            in-worker-process?
            in-main-process
            in-main-process?))

;;;
;;; Backends.
;;;

;; What a backend provides, Shepherd-style: one record per kind of
;; parallelizer, registered by the module that implements it.
;;
;; NAME is the symbol of the kind (serial, multiprocessing, mpi). SPECS
;; lists, for error messages, the forms of the PARALLELIZER environment
;; variable that the backend understands ("multiprocessing:N").
;;
;; MAKE, a thunk, returns a new parallelizer with the default settings.
;; PARSE-SPEC takes the text after "NAME:" in PARALLELIZER (#f when there
;; is no colon) and returns a new parallelizer. SETTINGS lists the keys
;; of a settings alist that the backend understands; PARSE-SETTINGS takes
;; such an alist (which may hold other backends' keys, to be ignored) and
;; returns a new parallelizer. DETECT, a thunk, returns true when the
;; environment of the process asks for this backend though PARALLELIZER
;; is unset (a process started by mpirun).
;;
;; INITIALIZE and FINALIZE take the parallelizer and run once per
;; outermost with-parallelizer extent. RUN takes the parallelizer, a
;; procedure of no arguments to call on every process of the group, the
;; ranks of the group (or #f for all) and the timeout in seconds (or #f).
;; The procedure returns the job's value or, if the job raised, a job
;; error; RUN returns the main process's value or raises the first job
;; error (by rank) with raise-job-error. NPROCS and ID tell the size of
;; the group a run would start and this process's rank in it, outside a
;; run.
(define-record-type <backend>
  (%make-backend name specs make parse-spec settings parse-settings detect
                 initialize finalize run nprocs id)
  backend?
  (name backend-name)
  (specs backend-specs)
  (make backend-make)
  (parse-spec backend-parse-spec)
  (settings backend-settings)
  (parse-settings backend-parse-settings)
  (detect backend-detect)
  (initialize backend-initialize)
  (finalize backend-finalize)
  (run backend-run)
  (nprocs backend-nprocs)
  (id backend-id))

(set-record-type-printer! <backend>
  (lambda (b port)
    (format port "#<backend ~a>" (backend-name b))))

(define* (make-backend name #:key make run
                       (specs (list (symbol->string name)))
                       (parse-spec #f)
                       (settings '())
                       (parse-settings #f)
                       (detect (const #f))
                       (initialize (const #t))
                       (finalize (const #t))
                       (nprocs (const 1))
                       (id (const 0)))
  "Return a backend named NAME (a symbol); see the comment above <backend>
for the meaning of each keyword argument. Without PARSE-SPEC, the spec is
NAME alone; without PARSE-SETTINGS, settings make the default
parallelizer."
  (%make-backend name specs make
                 (or parse-spec
                     (lambda (argument)
                       (if argument
                           (raise-parallelizer-error
                            'lookup-parallelizer 'EINVAL
                            "the ~a backend takes no argument, got ~s"
                            name argument)
                           (make))))
                 settings
                 (or parse-settings (lambda (alist) (make)))
                 detect initialize finalize run nprocs id))

;; Every backend registered, in the order of registration.
(define %backends '())

(define (register-backend! backend)
  "Make BACKEND the implementation of parallelizers of its kind, replacing
any earlier backend of the same name."
  (set! %backends
    (append (remove-backend (backend-name backend) %backends)
            (list backend))))

(define (remove-backend name backends)
  (filter (lambda (b) (not (eq? (backend-name b) name))) backends))

(define (registered-backends)
  "Return the registered backends, in the order of registration."
  %backends)

(define (lookup-backend name)
  "Return the backend named NAME (a symbol), or #f."
  (let loop ((backends %backends))
    (match backends
      (() #f)
      ((b . rest) (if (eq? (backend-name b) name) b (loop rest))))))

;;;
;;; Parallelizer objects.
;;;

;; BACKEND is the record of the parallelizer's kind; OPTIONS an alist of
;; its settings. COMM is the communicator of the group this process is
;; in, or #f outside a run on backends that build their group per run.
;; STATE belongs to the backend. DEPTH counts the nested with-parallelizer
;; extents, so that the backend is initialized and finalized once.
(define-record-type <parallelizer>
  (%make-parallelizer backend options comm state depth)
  %parallelizer?
  (backend parallelizer-backend)
  (options parallelizer-options)
  (comm parallelizer-comm set-parallelizer-comm!)
  (state parallelizer-state set-parallelizer-state!)
  (depth parallelizer-depth set-parallelizer-depth!))

(define (parallelizer? obj)
  "Return #t if OBJ is a parallelizer, of any kind."
  (%parallelizer? obj))

(define (parallelizer-kind p)
  "Return the name of the backend of parallelizer P, a symbol."
  (backend-name (parallelizer-backend p)))

(define (parallelizer-of? obj backend)
  "Return #t if OBJ is a parallelizer of BACKEND."
  (and (parallelizer? obj) (eq? (parallelizer-backend obj) backend)))

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

(define (check-parallelizer who p)
  "Return P if it is a parallelizer; otherwise raise an error from WHO
saying what P is instead. Every exported procedure that takes a
parallelizer checks it with this, so that the error names the procedure
the user called."
  (unless (parallelizer? p)
    (raise-parallelizer-error who 'EINVAL "expected a parallelizer, got ~s"
                              p))
  p)

(define (check-timeout who timeout)
  "Return TIMEOUT if it is #f or a positive finite number of seconds;
otherwise raise an error from WHO."
  (unless (or (not timeout)
              (and (real? timeout) (positive? timeout)
                   (finite? timeout)))
    (raise-parallelizer-error
     who 'EINVAL
     "#:timeout must be a positive finite number of seconds or #f, got ~s"
     timeout))
  timeout)

(define (require-comm p who)
  "Return the communicator of P, or raise an error from WHO if P is not a
parallelizer or is not in a run."
  (or (parallelizer-comm (check-parallelizer who p))
      (raise-parallelizer-error
       who 'EINVAL "~a is not running: call it inside parallelizer-run" p)))

(define (parallelizer-nprocs p)
  "Return the number of processes in the current group of parallelizer P:
the group of the run in progress, or the size of the group a run would
start."
  (check-parallelizer 'parallelizer-nprocs p)
  (let ((comm (parallelizer-comm p)))
    (if comm
        (%comm-size comm)
        ((backend-nprocs (parallelizer-backend p)) p))))

(define (parallelizer-id p)
  "Return this process's rank in the current group of parallelizer P; 0 is
the main process."
  (check-parallelizer 'parallelizer-id p)
  (let ((comm (parallelizer-comm p)))
    (if comm
        (%comm-rank comm)
        ((backend-id (parallelizer-backend p)) p))))

(define (parallelizer-pid p)
  "Return the operating-system process id of this process of P."
  (check-parallelizer 'parallelizer-pid p)
  (getpid))

(define (on-main? p)
  "Return #t if this process is the main process (rank 0) of P."
  (zero? (parallelizer-id (check-parallelizer 'on-main? p))))

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

(set-object-property! in-worker-process 'documentation
  "The object that main-restricted procedures return on worker processes,
and that gather, reduce-to-root and parallel-map return on the processes
that do not receive the result.")

(set-object-property! in-main-process 'documentation
  "The object that worker-restricted procedures return on the main
process.")

(define (in-worker-process? obj)
  "Return #t if OBJ is the in-worker-process sentinel (or a copy of it
received from another process)."
  (and (sentinel? obj) (eq? (sentinel-name obj) 'in-worker-process)))

(define (in-main-process? obj)
  "Return #t if OBJ is the in-main-process sentinel (or a copy of it
received from another process)."
  (and (sentinel? obj) (eq? (sentinel-name obj) 'in-main-process)))
