;;; (parallelizer errors) — the errors Parallelizer raises.

;;; Commentary:
;;;
;;; Every error Parallelizer raises has the key parallelizer-error and the
;;; arguments of scm-error, (WHO MESSAGE IRRITANTS (CODE)): the procedure
;;; that raised it, a message template over the irritants, and, as the
;;; one element of the last argument, a symbol that says what went wrong
;;; as data, so that no code has to recognise an error by its text. The
;;; codes are those of the C runtime (EINVAL, ERANK, EPEER, ...; see
;;; par/error.h), which the extension raises with the same shape, plus
;;; EJOB for a run whose job raised an error of its own. Our errors print
;;; as Guile's own do: "In procedure WHO: message".
;;;
;;; The error of a run in which a job failed is also a
;;; &parallelizer-failure condition, with accessors for the rank, the
;;; process and the original error. A job's error is captured where it
;;; happens, as a job error that can travel to the main process.
;;;
;;; Code:

(define-module (parallelizer errors)
  #:use-module (ice-9 exceptions)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-9)
  #:export (parallelizer-error?
            parallelizer-error-code
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
            job-error-code
            job-error->list
            list->job-error
            raise-job-error
            job-interrupt?
            raise-user-interrupt))

;;;
;;; Raising, and reading the code.
;;;

(define (who->string who)
  (if (symbol? who) (symbol->string who) who))

(define (raise-parallelizer-error who code message . irritants)
  "Raise an error with key parallelizer-error from WHO (a symbol or
string) whose code is the symbol CODE (EINVAL for a bad argument, ERANK
for a rank out of range...), with MESSAGE, a template for simple-format,
over IRRITANTS."
  (scm-error 'parallelizer-error (who->string who) message irritants
             (list code)))

(define (throw-arguments-code args)
  ;; The code in the arguments (WHO MESSAGE IRRITANTS (CODE)), or #f.
  (match args
    ((_ _ _ ((? symbol? code) . _)) code)
    (_ #f)))

(define parallelizer-error-code
  (case-lambda
    ((e)
     (and (parallelizer-error? e)
          (throw-arguments-code (exception-args e))))
    ((key args)
     (and (eq? key 'parallelizer-error)
          (throw-arguments-code args)))))

(set-procedure-property! parallelizer-error-code 'documentation
  "(parallelizer-error-code E) or (parallelizer-error-code KEY ARGS)

Return the code of a Parallelizer error, a symbol such as EINVAL, ERANK,
EPEER or ETIMEDOUT, or #f if the error is not one of ours or carries no
code. E is the condition object that guard and with-exception-handler
see; KEY and ARGS are what a catch handler receives.")

(define (parallelizer-error? obj)
  "Return #t if OBJ is an error that Parallelizer raised (a condition whose
key, as catch sees it, is parallelizer-error)."
  (and (exception? obj)
       (eq? (exception-kind obj) 'parallelizer-error)))

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

(set-object-property! &parallelizer-failure 'documentation
  "The condition type of a failed run: the error that a job raised on one
process, raised again on the main process by parallelizer-run. The
condition raised is also an error of key parallelizer-error, whose message
names the rank and the original message, and whose code
(parallelizer-error-code) is that of the original error if it was a
Parallelizer error, EPEER if the process died, and EJOB otherwise.")

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

(define (escape-tildes text)
  ;; TEXT as a simple-format template that prints TEXT.
  (string-join (string-split text #\~) "~~"))

(define* (raise-parallelizer-failure who #:key rank pid key message irritants
                                     backtrace text code hint)
  "Raise, from WHO, the error of process RANK (PID) of a run: it had raised
KEY with MESSAGE and IRRITANTS (TEXT being the message formatted where it
was raised, if known), and BACKTRACE is the text of its stack. CODE is
the code of the failure (see &parallelizer-failure). The error is
catchable as key parallelizer-error and as the condition
&parallelizer-failure; its message is the whole sentence, with no
irritants, followed by HINT on a line of its own if HINT is a string."
  (let* ((description (or text (describe-error key message irritants)))
         (sentence (string-append
                    (format #f "rank ~a (pid ~a) failed: ~a" rank pid
                            description)
                    (if (string? hint) (string-append "\n" hint) ""))))
    ;; What catch sees is a template, hence the escaped tildes; what
    ;; exception-message returns (the first message of the compound) is
    ;; the sentence itself.
    (raise-exception
     (make-exception
      (make-parallelizer-failure rank pid key description irritants
                                 backtrace)
      (make-exception-with-message sentence)
      (make-exception-from-throw 'parallelizer-error
                                 (list (who->string who)
                                       (escape-tildes sentence)
                                       '()
                                       (list code)))))))

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
;; the stack at the point of the raise, the message formatted where the
;; error happened (TEXT), while its irritants were still the objects
;; themselves, and the CODE the failure of the run will have.
(define-record-type <job-error>
  (make-job-error key message irritants backtrace text code)
  job-error?
  (key job-error-key)
  (message job-error-message)
  (irritants job-error-irritants)
  (backtrace job-error-backtrace)
  (text job-error-text)
  (code job-error-code))

(define (job-error->list e)
  "Return the job error E as a list that can travel between processes."
  (list (job-error-key e) (job-error-message e) (job-error-irritants e)
        (job-error-backtrace e) (job-error-text e) (job-error-code e)))

(define (list->job-error lst)
  "The inverse of job-error->list."
  (match lst
    ((key message irritants backtrace text code)
     (make-job-error key message irritants backtrace text code))))

(define (throw-arguments->job-error key args backtrace)
  ;; A Parallelizer error keeps its code; any other error of the job is
  ;; EJOB, the job's own.
  (define code
    (or (and (eq? key 'parallelizer-error) (throw-arguments-code args))
        'EJOB))
  (define (make key message irritants)
    (make-job-error key message irritants backtrace
                    (describe-error key message irritants) code))
  (match (cons key args)
    ;; (exit N) in a job: the irritants keep exit's arguments, so that the
    ;; main process can exit with them once its run is over.
    (('quit . _)
     (make-job-error key #f args backtrace
                     (format #f "exited with status ~a before the job ended"
                             (exit-status args))
                     code))
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

(define (exit-status args)
  ;; The status a process exits with when exit is called with ARGS.
  (match args
    (() 0)
    ((#t) 0)
    ((#f) 1)
    (((? integer? n)) n)
    (_ 1)))

(define (call-capturing-error thunk)
  "Call THUNK. Return its value, or a job error describing what it raised,
with the backtrace taken where it was raised.

Everything is captured, Ctrl-C at the REPL included: the REPL reports an
error without unwinding the stack (so that it can be inspected), and only
an error captured here lets the run stop its workers before the REPL
shows it."
  (let ((backtrace #f))
    (catch #t
      (lambda () (%parallelizer-job thunk))
      (lambda (key . args)
        (throw-arguments->job-error key args (or backtrace "")))
      (lambda (key . args)
        ;; Cut this handler and the throw's own frame.
        (let ((stack (make-stack #t 3)))
          (set! backtrace
            (if stack
                (job-frames
                 (call-with-output-string
                   (lambda (port)
                     (display-backtrace stack port))))
                "")))))))

(define (%parallelizer-job thunk)
  ;; Call THUNK, not in tail position (the compiler would make a tail call
  ;; of a plain (let ((v (thunk))) v)): this frame marks where a job's
  ;; backtrace starts.
  (call-with-prompt %job-tag thunk (lambda (k . args) (apply values args))))

(define %job-tag (make-prompt-tag "parallelizer job"))

;; A binding that is assigned is never inlined, so %parallelizer-job keeps
;; a frame of its own.
(set! %parallelizer-job %parallelizer-job)

(define (job-frames backtrace)
  ;; BACKTRACE, printed outermost frame first, without the frames of the
  ;; run around the job: those down to the frame of %parallelizer-job.
  (let loop ((lines (string-split backtrace #\newline)))
    (match lines
      (() backtrace)
      ((line . rest)
       (if (string-contains line "(%parallelizer-job ")
           (string-join rest "\n")
           (loop rest))))))

(define (raise-job-error who rank pid e)
  "Raise, from WHO, the job error E of process RANK (PID)."
  (raise-parallelizer-failure who
                              #:rank rank
                              #:pid pid
                              #:key (job-error-key e)
                              #:message (job-error-message e)
                              #:irritants (job-error-irritants e)
                              #:backtrace (job-error-backtrace e)
                              #:text (job-error-text e)
                              #:code (job-error-code e)))

(define (job-interrupt? e)
  "Return #t if E is the job error of a user interrupt (Ctrl-C)."
  (and (job-error? e) (eq? (job-error-key e) 'signal)))

(define (raise-user-interrupt)
  "Raise the error of a user interrupt, as Guile's handler of SIGINT does."
  (scm-error 'signal #f "User interrupt" '() (list SIGINT)))
