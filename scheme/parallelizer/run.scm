;;; (parallelizer run) — running a job on every process of a group.

;;; Commentary:
;;;
;;; parallelizer-run calls a procedure on every process of a parallelizer's
;;; group and returns the main process's value. with-parallelizer makes a
;;; parallelizer the default and keeps its backend initialized across the
;;; runs inside it. The restricted procedures run only on the main process
;;; or only on the workers.
;;;
;;; Code:

(define-module (parallelizer run)
  #:use-module (ice-9 exceptions)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (every delete-duplicates))
  #:use-module (srfi srfi-9)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module (parallelizer registry)
  #:use-module ((parallelizer trace)
                #:select (run-trace-file
                          traced-job
                          prepare-trace!
                          finish-trace!))
  #:export (parallelizer-run
            call-with-parallelizer
            main-restricted
            worker-restricted
            make-client-server-runner
            client-server-runner?
            client-server-runner-run
            raise-run-error
            return-to-prompt
            %raw-run-errors?)
  #:export-syntax (with-parallelizer))

(define (split-run-arguments who args)
  "Split ARGS of parallelizer-run into the #:comm ranks, the #:timeout, the
#:trace file and the arguments to pass on to the job, keywords included."
  (let loop ((args args) (ranks #f) (timeout #f) (trace #f) (rest '()))
    (match args
      (() (values ranks timeout trace (reverse rest)))
      ((#:comm value . tail)
       (loop tail (check-ranks who value) timeout trace rest))
      ((#:timeout value . tail)
       (loop tail ranks (check-timeout who value) trace rest))
      ((#:trace value . tail)
       (loop tail ranks timeout (check-trace-file who value) rest))
      (((? keyword? key) value . tail)
       (loop tail ranks timeout trace (cons* value key rest)))
      ((arg . tail) (loop tail ranks timeout trace (cons arg rest))))))

(define (check-trace-file who file)
  (unless (or (not file) (and (string? file) (not (string-null? file))))
    (raise-parallelizer-error
     who 'EINVAL "#:trace must be the name of a file or #f, got ~s" file))
  file)

(define (check-ranks who ranks)
  (unless (and (list? ranks) (pair? ranks)
               (every (lambda (r) (and (exact-integer? r) (>= r 0))) ranks))
    (raise-parallelizer-error
     who 'EINVAL
     "#:comm must be a list of ranks (non-negative integers), got ~s"
     ranks))
  (unless (memv 0 ranks)
    (raise-parallelizer-error
     who 'EINVAL "#:comm must include rank 0, the main process, got ~s" ranks))
  (unless (= (length ranks) (length (delete-duplicates ranks)))
    (raise-parallelizer-error who 'EINVAL "#:comm lists a rank twice: ~s"
                              ranks))
  ranks)


(define (check-ranks-in-group who p ranks)
  ;; Before anything starts: every rank of #:comm is one of P's.
  (let ((n (parallelizer-nprocs p)))
    (for-each (lambda (r)
                (unless (< r n)
                  (raise-parallelizer-error
                   who 'ERANK
                   "#:comm names rank ~a, but ~a has ranks 0 to ~a only"
                   r p (1- n))))
              ranks)))

(define (initialize! p)
  (when (zero? (parallelizer-depth p))
    ((backend-initialize (parallelizer-backend p)) p))
  (set-parallelizer-depth! p (1+ (parallelizer-depth p))))

(define (finalize! p)
  (set-parallelizer-depth! p (1- (parallelizer-depth p)))
  (when (zero? (parallelizer-depth p))
    ((backend-finalize (parallelizer-backend p)) p)))

(define (call-with-parallelizer p proc)
  "Call PROC with the parallelizer that P designates (see
lookup-parallelizer), made the default for the dynamic extent of the call.
Its backend is initialized on entry and finalized on exit, once, however
many runs happen inside."
  (check-procedure 'call-with-parallelizer proc)
  (let ((p (designated-parallelizer 'call-with-parallelizer p)))
    (dynamic-wind
      (lambda () (initialize! p))
      (lambda () (call-with-default-parallelizer p (lambda () (proc p))))
      (lambda () (finalize! p)))))

(define-syntax-rule (with-parallelizer p body ...)
  "Evaluate BODY with the parallelizer P as the default (see
call-with-parallelizer)."
  (call-with-parallelizer p (lambda (ignored) body ...)))

(define (parallelizer-run p proc . args)
  "Call PROC on every process of the group of parallelizer P, as
(apply PROC ARGS ... #:parallelizer P), and return the main process's
value. #:comm RANKS restricts the run to those ranks (renumbered 0..k-1;
rank 0 must be one of them) and #:timeout SECONDS bounds it; #:trace FILE
(or the environment variable PARALLELIZER_TRACE) records every process's
operations into FILE as Chrome trace-event JSON; every other keyword
argument goes to PROC. If any process raises an error, the run raises on
the main process an error of key parallelizer-error naming the rank and
the original error."
  (check-procedure 'parallelizer-run proc)
  (let ((p (designated-parallelizer 'parallelizer-run p)))
    (call-with-values (lambda () (split-run-arguments 'parallelizer-run args))
      (lambda (ranks timeout trace rest)
        ;; The job returns its value or a job error: backends decide how
        ;; an error reaches the main process.
        (let* ((trace-file (run-trace-file trace))
               (job (lambda ()
                      (explain-uncallable-job
                       proc
                       (interrupt-left-alone
                        p
                        (call-capturing-error
                         (lambda ()
                           (parameterize ((current-parallelizer p))
                             (apply proc
                                    (append rest
                                            (list #:parallelizer p))))))))))
               (job (if trace-file (traced-job trace-file p job) job)))
          (when ranks
            (check-ranks-in-group 'parallelizer-run p ranks))
          (when trace-file
            (prepare-trace! trace-file))
          ;; Whatever the run raises, a job's failure or an interrupt of
          ;; the wait for the workers, is raised again once out of the
          ;; run's dynamic extent: what the user sees then starts at
          ;; parallelizer-run rather than deep inside a backend, and a
          ;; REPL that opens a debugger where an error is raised opens it
          ;; on a parallelizer whose run is over.
          (let ((outcome
                 (guard (e (#t (list 'failed e)))
                   (list 'ok
                         (call-with-parallelizer
                          p
                          (lambda (p)
                            ;; An announcer (an MPI REPL's) may ask for
                            ;; waits that an interrupt can cut.
                            (let* ((announce (%run-announcer))
                                   (wanted (and announce
                                                (announce p proc args))))
                              ((backend-run (parallelizer-backend p))
                               p job ranks
                               (or timeout
                                   (and (real? wanted) wanted))))))))))
            (when trace-file
              (finish-trace! trace-file p (parallelizer-kind p)
                             (if ranks
                                 (length ranks)
                                 (parallelizer-nprocs p))))
            (match outcome
              (('ok value) value)
              (('failed e)
               (raise-run-error
                'parallelizer-run e
                (if (eq? (parallelizer-kind p) 'mpi)
                    ;; At the MPI REPL, the ranks go on serving.
                    "interrupted on every rank; the ranks are ready again"
                    "interrupted; the run is cancelled and its processes \
are stopped"))))))))))

(define (interrupt? e)
  ;; Whether E is the error of an interrupt: what Guile's REPL raises on
  ;; Ctrl-C (key signal), directly or as the failure of the main process,
  ;; which was interrupted inside its job.
  (or (and (parallelizer-failure? e)
           (zero? (parallelizer-failure-rank e))
           (eq? (parallelizer-failure-key e) 'signal))
      (and (exception? e) (eq? (exception-kind e) 'signal))))

(define %raw-run-errors?
  ;; True in the main process of a background run, which reports every
  ;; error of its run as it is, to the process that started the run.
  (make-parameter #f))

(define* (raise-run-error who e #:optional
                          (interrupted "interrupted; the run is cancelled \
and its processes are stopped"))
  ;; Raise E, the error of a run that has ended, as its kind wants:
  ;; (exit N) in the main process's job exits with N now that the run's
  ;; processes are stopped; an interrupt at the REPL returns to its prompt,
  ;; saying INTERRUPTED; anything else is raised.
  (cond
   ((%raw-run-errors?) (raise-exception e))
   ((and (parallelizer-failure? e)
         (zero? (parallelizer-failure-rank e))
         (eq? (parallelizer-failure-key e) 'quit))
    (apply throw 'quit (parallelizer-failure-irritants e)))
   ((interrupt? e)
    (return-to-prompt who interrupted
                      (lambda ()
                        (if (parallelizer-failure? e)
                            (apply throw 'signal #f "User interrupt" '()
                                   (list (list SIGINT)))
                            (raise-exception e)))))
   ((and (parallelizer-failure? e) (repl-running?))
    ;; At the REPL, a debugger shows the stack of the main process, where
    ;; the failure was raised again: say how to see the job's own.
    (set! %last-failure e)
    (raise-parallelizer-failure
     who
     #:rank (parallelizer-failure-rank e)
     #:pid (parallelizer-failure-pid e)
     #:key (parallelizer-failure-key e)
     #:message (parallelizer-failure-message e)
     #:irritants (parallelizer-failure-irritants e)
     #:backtrace (parallelizer-failure-backtrace e)
     #:text (parallelizer-failure-message e)
     #:code (parallelizer-error-code e)
     #:hint (and (install-job-backtrace-command!)
                 (format #f "Type `,jbt' for the backtrace of rank ~a where \
its job raised the error."
                         (parallelizer-failure-rank e)))))
   (else (raise-exception e))))

(define %last-failure
  ;; The last failure raised at the REPL, for ,job-backtrace.
  #f)

(define (show-job-backtrace)
  ;; What ,job-backtrace prints.
  (match %last-failure
    (#f (display "No run has failed at this REPL.\n"))
    (e
     (format #t "Rank ~a (pid ~a), where its job raised the error:~%~a~%~a~%"
             (parallelizer-failure-rank e) (parallelizer-failure-pid e)
             (let ((bt (parallelizer-failure-backtrace e)))
               (if (and (string? bt) (not (string-null? bt)))
                   bt
                   "(no backtrace: the process ended without reporting one)"))
             (parallelizer-failure-message e)))))

(define (install-job-backtrace-command!)
  ;; Define the REPL command ,job-backtrace (,jbt) unless it is; return #t
  ;; once it exists.
  (let ((command (resolve-module '(system repl command) #f #:ensure #f)))
    (and command
         (or (module-ref command 'job-backtrace-installed? #f)
             (false-if-exception
              (begin
                (eval '(define-meta-command ((job-backtrace debug) repl)
                         "job-backtrace
Print the backtrace of the job whose error failed the last run, taken on
its own process where it raised the error."
                         ((@@ (parallelizer run) show-job-backtrace)))
                      command)
                ;; Its abbreviation, as Guile's own commands have theirs.
                (let ((table (module-variable command '*command-table*)))
                  (when table
                    (variable-set!
                     table
                     (map (match-lambda
                            ((group . commands)
                             (cons group
                                   (map (match-lambda
                                          (('job-backtrace) '(job-backtrace jbt))
                                          (c c))
                                        commands))))
                          (variable-ref table)))))
                (module-define! command 'job-backtrace-installed? #t)
                #t))))))

(define (repl-running?)
  ;; Whether this code runs under Guile's REPL. The REPL's module is not
  ;; loaded for this: a program that has not loaded it runs no REPL.
  (let ((common (resolve-module '(system repl common) #f #:ensure #f)))
    (and common
         (let ((stack (module-ref common '*repl-stack* #f)))
           (and (fluid? stack) (pair? (fluid-ref stack)))))))

(define (return-to-prompt who note otherwise)
  "At a REPL, print NOTE (from WHO) on the error port and return to the
REPL's prompt, as after an expression that returns no value; elsewhere
call OTHERWISE, a thunk that raises what a program should see."
  (if (repl-running?)
      (let ((port (current-error-port)))
        (format port "~a: ~a~%" who note)
        (force-output port)
        ;; The REPL evaluates each expression under a prompt of the
        ;; default tag, whose handler calls the procedure it is given with
        ;; the continuation: this one returns no value.
        (abort-to-prompt (default-prompt-tag) (lambda (k) (values))))
      (otherwise)))

(define (interrupt-left-alone p result)
  ;; RESULT, unless it is the error of an interrupt on MPI, which is
  ;; raised again: on MPI the error of a job ends the whole job, but an
  ;; interrupt at the MPI REPL reaches every rank and only ends what they
  ;; do for the REPL (see (parallelizer serve)).
  (if (and (job-interrupt? result)
           (eq? (parallelizer-kind p) 'mpi))
      (raise-user-interrupt)
      result))

(define (explain-uncallable-job proc result)
  ;; RESULT, or, when it is the error of calling PROC itself without a
  ;; #:parallelizer keyword in its arguments, that error with a hint.
  (if (and (job-error? result)
           (memq (job-error-key result)
                 '(wrong-number-of-args keyword-argument-error))
           (let ((irritants (or (job-error-irritants result) '())))
             (or (memq proc irritants) (memq #:parallelizer irritants))))
      (list->job-error
       (list (job-error-key result) (job-error-message result)
             (job-error-irritants result) (job-error-backtrace result)
             (format #f "~a: a job is called with the keyword argument \
#:parallelizer, so define it with define* or lambda*, as in \
(define* (job #:key parallelizer) ...)" (job-error-text result))
             (job-error-code result)))
      result))

(define (keyword-parallelizer args)
  ;; The parallelizer passed as #:parallelizer in ARGS, else the current
  ;; one, else the default.
  (let loop ((args args))
    (match args
      ((#:parallelizer (? parallelizer? p) . _) p)
      ((_ . tail) (loop tail))
      (() (or (current-parallelizer) (lookup-parallelizer #f))))))

(define (check-procedure who proc)
  (unless (procedure? proc)
    (raise-parallelizer-error who 'EINVAL "expected a procedure, got ~s"
                              proc)))

(define (main-restricted proc)
  "Return a procedure that calls PROC on the main process and returns
in-worker-process on the others. The parallelizer is the one passed as
#:parallelizer, or the current one."
  (check-procedure 'main-restricted proc)
  (lambda args
    (if (on-main? (keyword-parallelizer args))
        (apply proc args)
        in-worker-process)))

(define (worker-restricted proc)
  "Return a procedure that calls PROC on worker processes and returns
in-main-process on the main process. The parallelizer is the one passed as
#:parallelizer, or the current one."
  (check-procedure 'worker-restricted proc)
  (lambda args
    (if (on-main? (keyword-parallelizer args))
        in-main-process
        (apply proc args))))

;;;
;;; Client/server.
;;;

(define-record-type <client-server-runner>
  (%make-client-server-runner client server parallelizer)
  %client-server-runner?
  (client runner-client)
  (server runner-server)
  (parallelizer runner-parallelizer))

(define (make-client-server-runner client server p)
  "Return a runner whose run calls CLIENT on the main process and SERVER
on every other process of parallelizer P, each with #:parallelizer."
  (check-procedure 'make-client-server-runner client)
  (check-procedure 'make-client-server-runner server)
  (%make-client-server-runner client server p))

(define (client-server-runner? obj)
  "Return #t if OBJ is a client/server runner."
  (%client-server-runner? obj))

(define (client-server-runner-run runner)
  "Run RUNNER: CLIENT on the main process, SERVER on the others. Returns
the client's value."
  (unless (client-server-runner? runner)
    (raise-parallelizer-error 'client-server-runner-run 'EINVAL
                              "expected a client/server runner, got ~s"
                              runner))
  (parallelizer-run (runner-parallelizer runner)
                    (lambda* (#:key parallelizer)
                      (if (on-main? parallelizer)
                          ((runner-client runner) #:parallelizer parallelizer)
                          ((runner-server runner)
                           #:parallelizer parallelizer)))))
