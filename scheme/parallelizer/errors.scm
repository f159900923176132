;;; (parallelizer errors) — the errors Parallelizer raises.

;;; Commentary:
;;;
;;; Every error Parallelizer raises has the key parallelizer-error and the
;;; arguments of scm-error, and prints as Guile's own errors do ("In
;;; procedure WHO: message"). The error of a run in which a job failed is
;;; also a &parallelizer-failure condition, with accessors for the rank,
;;; the process and the original error. A job's error is captured where it
;;; happens, as a job error that can travel to the main process.
;;;
;;; Code:

(define-module (parallelizer errors)
  #:use-module (ice-9 exceptions)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-9)
  #:export (&parallelizer-failure
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
;;; Failures of a run.
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
