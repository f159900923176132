;;; (parallelizer serve) — rank 0's REPL driving the other ranks of an MPI job.

;;; Commentary:
;;;
;;; A script runs on every rank of an MPI job, so every rank calls each
;;; parallelizer-run itself. At a REPL only rank 0 reads what the user
;;; types: the other ranks wait in parallelizer-serve for rank 0 to tell
;;; them what to do. everywhere evaluates expressions on every rank, so
;;; that definitions exist everywhere; parallelizer-run, called on rank 0,
;;; tells the serving ranks to join the run, naming the job by the name
;;; under which everywhere defined it.
;;;
;;;   $ parallelizer repl -n 4 --backend mpi
;;;   scheme@(guile-user)> (everywhere (define* (ids #:key parallelizer)
;;;                          (gather parallelizer (parallelizer-id
;;;                                                parallelizer))))
;;;   scheme@(guile-user)> (parallelizer-run (lookup-parallelizer #f) ids)
;;;   $1 = (0 1 2 3)
;;;
;;; Code:

(define-module (parallelizer serve)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (find))
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer primitives)
                #:select (%comm-broadcast %comm-gather))
  #:use-module (parallelizer registry)
  #:use-module (parallelizer run)
  #:use-module ((parallelizer backend mpi)
                #:select (mpi-job-comm mpi-parallelizer?))
  #:export (parallelizer-serve
            call-everywhere)
  #:export-syntax (everywhere))

;; The MPI parallelizer rank 0 drives, while it does.
(define %driven (make-parameter #f))

(define (command! p command)
  ;; Rank 0 tells every serving rank what to do next.
  (%comm-broadcast (mpi-job-comm p) command 0))

(define (evaluate-and-agree p form module-name)
  ;; Evaluate FORM in MODULE-NAME here, then learn how every rank fared:
  ;; rank 0 raises the first rank's error, if any, with its code (EJOB if
  ;; it was not one of ours), as a run does.
  (let* ((outcome (catch #t
                    (lambda ()
                      (list 'ok (eval form (resolve-module module-name))))
                    (lambda (key . args)
                      (list 'error
                            (call-with-output-string
                              (lambda (port)
                                (print-exception port #f key args)))
                            (or (parallelizer-error-code key args)
                                'EJOB)))))
         (all (%comm-gather (mpi-job-comm p)
                            (match outcome
                              (('ok _) 'ok)
                              (error error))
                            0)))
    (when all
      (match (find pair? all)
        (#f #t)
        ((and failure ('error text code))
         (raise-parallelizer-error
          'everywhere code "rank ~a failed: ~a"
          (- (length all) (length (member failure all)))
          text))))
    (match outcome
      (('ok value) value)
      (_ *unspecified*))))

(define (call-everywhere form)
  "Evaluate FORM (an expression as data) in the current module on every
rank of the MPI job that rank 0 drives from its REPL, and return rank 0's
value. Outside such a REPL, evaluate it here only: in a script every rank
evaluates it anyway."
  (let ((p (%driven))
        (module-name (module-name (current-module))))
    (if p
        (begin
          (command! p (list 'eval form module-name))
          (evaluate-and-agree p form module-name))
        (eval form (current-module)))))

(define-syntax-rule (everywhere expr ...)
  "Evaluate EXPR ... on every rank of the MPI job that rank 0 drives from
its REPL (see parallelizer-serve), in the module of the REPL, and return
rank 0's value: definitions made this way exist on every rank. Outside
such a REPL, evaluate them here only."
  (call-everywhere '(begin expr ...)))

(define (announce-run p proc args)
  ;; parallelizer-run on rank 0: the serving ranks must run the same job,
  ;; which they know by the name everywhere gave it.
  (when (eq? p (%driven))
    (let ((name (procedure-name proc))
          (module-name (module-name (current-module))))
      (unless (and name
                   (eq? (false-if-exception
                         (module-ref (resolve-module module-name) name))
                        proc))
        (raise-parallelizer-error
         'parallelizer-run 'EINVAL
         "the serving ranks cannot run ~s: at an MPI REPL a job must be a \
procedure defined on every rank with everywhere" proc))
      (command! p (list 'run name args module-name)))))

(define (serve p)
  (let loop ()
    (match (%comm-broadcast (mpi-job-comm p) #f 0)
      (('eval form module-name)
       (evaluate-and-agree p form module-name)
       (loop))
      (('run name args module-name)
       (apply parallelizer-run p
              (module-ref (resolve-module module-name) name) args)
       (loop))
      ('quit #t))))

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
which serve until the REPL ends. On other backends, just start the REPL."
  (let ((p (check-parallelizer 'parallelizer-serve parallelizer)))
    (cond
     ((not (mpi-parallelizer? p))
      (when repl?
        (start-repl)))
     ((zero? (parallelizer-id p))
      (dynamic-wind
        (lambda () #t)
        (lambda ()
          (parameterize ((%driven p)
                         (%run-announcer announce-run))
            (when repl?
              (start-repl))))
        (lambda () (command! p 'quit))))
     (else (serve p)))))
