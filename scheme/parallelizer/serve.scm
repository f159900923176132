;;; (parallelizer serve) — rank 0's REPL driving the other ranks of an MPI job.

;;; Commentary:
;;;
;;; A script runs on every rank of an MPI job, so every rank calls each
;;; parallelizer-run itself. At a REPL only rank 0 reads what the user
;;; types: the other ranks wait in parallelizer-serve for rank 0 to tell
;;; them what to do. everywhere evaluates expressions on every rank, so
;;; that definitions exist everywhere, and returns every rank's value;
;;; parallelizer-run, called on rank 0, tells the serving ranks to join
;;; the run, naming the job by the name under which everywhere defined it.
;;;
;;;   $ parallelizer repl -n 4 --backend mpi
;;;   scheme@(guile-user)> (everywhere (define* (ids #:key parallelizer)
;;;                          (gather parallelizer (parallelizer-id
;;;                                                parallelizer))))
;;;   scheme@(guile-user)> (parallelizer-run (lookup-parallelizer #f) ids)
;;;   $1 = (0 1 2 3)
;;;   scheme@(guile-user)> (everywhere (getpid))
;;;   $2 = (4242 4243 4244 4245)
;;;
;;; Commands go from rank 0 to each serving rank as messages on a
;;; communicator of their own, which the serving ranks look at every few
;;; milliseconds: they wait without using a processor, and a signal
;;; reaches them between two looks.
;;;
;;; Ctrl-C. The launcher keeps mpirun away from the terminal's Ctrl-C,
;;; which would end the job, and sends SIGUSR2 to mpirun instead, which
;;; forwards it to every rank: whatever the ranks are doing for rank 0's
;;; current expression is interrupted on all of them, rank 0 returns to
;;; its prompt and the others to serving. An interrupted collective leaves
;;; the ranks out of step on the job's communicator, so before the next
;;; command rank 0 has every rank make a new one. Runs at this REPL wait
;;; for their peers in steps that an interrupt can cut (a communicator
;;; with a timeout; see par/mpi.h), since a process blocked inside MPI
;;; cannot be interrupted. Each command carries the number of interrupts
;;; rank 0 had seen when it sent it, so that a serving rank drops a
;;; command sent before an interrupt it has seen: rank 0 has given it up.
;;;
;;; Code:

(define-module (parallelizer serve)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (every find iota))
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer primitives)
                #:select (%comm-gather
                          %comm-receive-any
                          %comm-send
                          %comm-set-timeout!
                          %comm-size))
  #:use-module ((parallelizer wire) #:select (value->cbor))
  #:use-module (parallelizer registry)
  #:use-module (parallelizer run)
  #:use-module ((parallelizer backend mpi)
                #:select (mpi-job-comm mpi-parallelizer?))
  #:export (parallelizer-serve
            call-everywhere)
  #:export-syntax (everywhere))

;; The MPI parallelizer rank 0 drives, while it does.
(define %driven (make-parameter #f))

;; This process's communicator for commands, once it serves or drives.
(define %control #f)

;; The interrupts this process has seen (SIGUSR2, which the launcher's
;; Ctrl-C becomes); on rank 0, the number at the last reset of the ranks.
(define %interrupts 0)
(define %interrupts-reset 0)

;; How long a run at the REPL lets a wait for a peer last: for ever, in
;; practice, but a wait with a timeout is one an interrupt can cut.
(define %repl-timeout 1e9)

(define (mpi-primitive name)
  (module-ref (resolve-interface '(parallelizer mpi-primitives)) name))

(define (interrupt-handler signal)
  (set! %interrupts (1+ %interrupts))
  (raise-user-interrupt))

(define (catching-interrupts thunk)
  ;; Call THUNK; an interrupt ends it, and returns #f.
  (catch 'signal thunk (lambda _ #f)))

;;;
;;; Rank 0.
;;;

(define (interruptible-job-comm! p)
  ;; Give the job's communicator waits that an interrupt can cut: without
  ;; a timeout, a rank waiting for a peer in a collective of everywhere or
  ;; of a run would be inside MPI, deaf to the interrupt, while the peer it
  ;; waits for leaves the collective.
  (%comm-set-timeout! (mpi-job-comm p) %repl-timeout))

(define (reset-job-comm! p)
  ;; The job's communicator may be out of step: make a new one, which every
  ;; rank does at the same point, the reset command. (The old one is freed
  ;; when it is collected.)
  (set-parallelizer-state! p #f)
  (interruptible-job-comm! p))

(define (command! p command)
  ;; Rank 0 tells every serving rank what to do next: after an interrupt,
  ;; first to make a new job communicator. The sends are not cut by an
  ;; interrupt half way: every serving rank gets every command.
  (call-with-blocked-asyncs
   (lambda ()
     (let ((ranks (iota (1- (%comm-size %control)) 1)))
       (define (send! command)
         (for-each (lambda (r)
                     (%comm-send %control (cons %interrupts command) r))
                   ranks))
       (unless (= %interrupts %interrupts-reset)
         (send! 'reset)
         (reset-job-comm! p)
         (set! %interrupts-reset %interrupts))
       (send! command)))))

(define (sendable x)
  ;; X if it can travel, else its printed form. (An interrupt is not a
  ;; value that cannot travel.)
  (catch #t
    (lambda () (value->cbor x) x)
    (lambda (key . args)
      (if (eq? key 'signal)
          (apply throw key args)
          (format #f "~s" x)))))

(define (check-interrupts stamp)
  ;; Raise an interrupt if this process has seen one since STAMP. Guile
  ;; runs a signal's handler at the next safe point after the signal, not
  ;; necessarily where it arrived (an interrupted sleep returns first), so
  ;; the handler's error may have been caught by the expression being
  ;; evaluated: a rank must not then join the agreement, which the others
  ;; have left.
  (when (> %interrupts stamp)
    (raise-user-interrupt)))

(define (evaluate-and-agree p form module-name stamp)
  ;; Evaluate FORM in MODULE-NAME here, then learn how every rank fared:
  ;; rank 0 raises the first rank's error, if any, with its code (EJOB if
  ;; it was not one of ours), as a run does, and otherwise returns every
  ;; rank's value, in rank order. An interrupt is not a rank's error: it
  ;; ends the command on every rank.
  (let* ((outcome (catch #t
                    (lambda ()
                      (list 'ok (eval form (resolve-module module-name))))
                    (lambda (key . args)
                      (when (eq? key 'signal)
                        (apply throw key args))
                      (list 'error
                            (call-with-output-string
                              (lambda (port)
                                (print-exception port #f key args)))
                            (or (parallelizer-error-code key args)
                                'EJOB)))))
         (mine (match outcome
                 (('ok value) (list 'ok (sendable value)))
                 (error error)))
         (all (begin
                (check-interrupts stamp)
                (%comm-gather (mpi-job-comm p) mine 0))))
    (match all
      (#f *unspecified*)
      (_
       (match (find (lambda (o) (eq? (car o) 'error)) all)
         (#f
          (let ((values (map cadr all)))
            ;; Definitions: nothing to show.
            (if (every unspecified? values)
                *unspecified*
                values)))
         ((and failure ('error text code))
          (raise-parallelizer-error
           'everywhere code "rank ~a failed: ~a"
           (- (length all) (length (member failure all)))
           text)))))))

(define (call-everywhere form)
  "Evaluate FORM (an expression as data) in the current module on every
rank of the MPI job that rank 0 drives from its REPL, and return the list
of every rank's value, in rank order (nothing when every value is
unspecified, as for definitions). Values that cannot travel come back as
their printed form. Outside such a REPL, evaluate it here only and return
the list of its value: in a script every rank evaluates it anyway."
  (let ((p (%driven))
        (module-name (module-name (current-module))))
    (if p
        (catch 'signal
          (lambda ()
            (command! p (list 'eval form module-name))
            (evaluate-and-agree p form module-name %interrupts))
          (lambda (key . args)
            (return-to-prompt 'everywhere "interrupted on every rank"
                              (lambda () (apply throw key args)))))
        (list (eval form (current-module))))))

(define-syntax-rule (everywhere expr ...)
  "Evaluate EXPR ... on every rank of the MPI job that rank 0 drives from
its REPL (see parallelizer-serve), in the module of the REPL, and return
the list of every rank's value in rank order (nothing for definitions):
definitions made this way exist on every rank. Outside such a REPL,
evaluate them here only and return the list of the value."
  (call-everywhere '(begin expr ...)))

(define (announce-run p proc args)
  ;; parallelizer-run on rank 0: the serving ranks must run the same job,
  ;; which they know by the name everywhere gave it. The run waits in
  ;; steps an interrupt can cut (see %repl-timeout), which is what this
  ;; returns.
  (and (eq? p (%driven))
       (let ((name (procedure-name proc))
             (module-name (module-name (current-module))))
         (unless (and name
                      (eq? (false-if-exception
                            (module-ref (resolve-module module-name) name))
                           proc))
           (raise-parallelizer-error
            'parallelizer-run 'EINVAL
            "the serving ranks cannot run ~s: at an MPI REPL a job must be \
a procedure defined on every rank with everywhere" proc))
         (command! p (list 'run name args module-name))
         %repl-timeout)))

;;;
;;; The serving ranks.
;;;

(define (next-command)
  ;; The next command from rank 0, looked for every 0.5 ms at first, then
  ;; less and less often, up to every 20 ms: a serving rank that waits
  ;; for the user costs nothing, and a signal reaches it between looks.
  (let loop ((pause 500))
    (match (%comm-receive-any %control #f)
      ((_ . command) command)
      (#f (usleep pause) (loop (min 20000 (* 2 pause)))))))

(define (serve p)
  (let loop ()
    (match (catching-interrupts next-command)
      (#f (loop))
      ((stamp . command)
       (cond
        ((< stamp %interrupts)
         ;; Sent before an interrupt this rank has seen: rank 0 has given
         ;; up on it.
         (loop))
        (else
         (set! %interrupts stamp)
         (match command
           ('quit #t)
           ('reset (reset-job-comm! p) (loop))
           (('eval form module-name)
            (catching-interrupts
             (lambda () (evaluate-and-agree p form module-name stamp)))
            (loop))
           (('run name args module-name)
            (catching-interrupts
             (lambda ()
               (apply parallelizer-run p
                      (module-ref (resolve-module module-name) name)
                      #:timeout %repl-timeout args)))
            (loop)))))))))

;; The REPL, loaded only when a program serves one: its modules are many,
;; and every one a process has loaded makes each fork of it slower. It is
;; Guile's own top-level REPL, as `guile' starts it: in (guile-user), with
;; Ctrl-C interrupting the expression being evaluated.
(define (start-repl)
  ((module-ref (resolve-interface '(ice-9 top-repl)) 'top-repl)))

(define* (parallelizer-serve #:key (parallelizer (lookup-parallelizer #f))
                             (repl? #t))
  "Called on every rank of an MPI job: rank 0 starts a REPL (unless REPL?
is #f) from which everywhere and parallelizer-run drive the other ranks,
which serve until the REPL ends. SIGUSR2, which mpirun forwards to every
rank, interrupts what the ranks do for the REPL's current expression on
all of them (the launcher's `parallelizer repl --backend mpi' sends it for
Ctrl-C). On other backends, just start the REPL."
  (let ((p (check-parallelizer 'parallelizer-serve parallelizer)))
    (cond
     ((not (mpi-parallelizer? p))
      (when repl?
        (start-repl)))
     (else
      ;; Every rank makes the communicator for commands at the same point.
      (set! %control ((mpi-primitive '%mpi-world-comm)))
      (interruptible-job-comm! p)
      (sigaction SIGUSR2 interrupt-handler)
      (if (zero? (parallelizer-id p))
          (dynamic-wind
            (lambda () #t)
            (lambda ()
              (parameterize ((%driven p)
                             (%run-announcer announce-run))
                (when repl?
                  (start-repl))))
            (lambda () (command! p 'quit)))
          (serve p))))))
