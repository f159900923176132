;;; The Scheme API of (parallelizer) apart from communication: objects,
;;; registry, runs, restricted procedures, errors, documentation.

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (filter-map))
             (ice-9 documentation)
             (ice-9 exceptions)
             (ice-9 popen)
             (ice-9 rdelim)
             (parallelizer)
             ((parallelizer core) #:select (make-backend backend-make
                                            %make-parallelizer))
             (harness))

(define (job-value value)
  (lambda* (#:key parallelizer) value))

(define (guile-output env expr)
  ;; What a fresh guile prints for EXPR with the environment setting ENV.
  (let* ((port (open-pipe* OPEN_READ "env" env "guile" "-c"
                           (format #f "(use-modules (parallelizer)) ~a"
                                   expr)))
         (text (read-string port)))
    (close-pipe port)
    text))

;; A backend that counts its initializations, to check with-parallelizer.
;; Its parallelizers are made from the record: it is not registered.
(define initialized 0)
(define finalized 0)
(define counting-backend
  (make-backend 'counting
                #:make (lambda () (%make-parallelizer counting-backend '()
                                                      #f #f 0))
                #:initialize (lambda (p) (set! initialized (1+ initialized)))
                #:finalize (lambda (p) (set! finalized (1+ finalized)))
                #:run (lambda (p thunk ranks timeout) (thunk))))

(run-suite
 "api"
 (lambda ()
   (test-group "objects"
     (let ((s (make-serial-parallelizer))
           (m (make-multiprocessing-parallelizer #:processes 3))
           (i (make-mpi-parallelizer)))
       (test-assert (parallelizer? s))
       (test-assert (serial-parallelizer? s))
       (test-assert (not (multiprocessing-parallelizer? s)))
       (test-assert (multiprocessing-parallelizer? m))
       (test-assert (mpi-parallelizer? i))
       (test-assert (not (parallelizer? 'serial)))
       (test-equal 1 (parallelizer-nprocs s))
       (test-equal 3 (parallelizer-nprocs m))
       (test-equal 0 (parallelizer-id s))
       (test-assert (on-main? s))
       (test-equal (getpid) (parallelizer-pid s))
       (test-equal "#<serial-parallelizer id=0 nprocs=1>"
         (object->string s))
       (test-equal "#<multiprocessing-parallelizer id=0 nprocs=3>"
         (object->string m))
       (test-equal 'parallelizer-error
         (error-key (make-multiprocessing-parallelizer #:processes 0)))
       (test-equal 'parallelizer-error
         (error-key (make-multiprocessing-parallelizer #:timeout -1)))
       (test-equal 'parallelizer-error
         (error-key (make-mpi-parallelizer #:root 'x)))))

   (test-group "registry"
     (let ((s (make-serial-parallelizer)))
       (test-eq s (lookup-parallelizer s))
       (test-assert (serial-parallelizer? (lookup-parallelizer #f)))
       (test-assert (serial-parallelizer? (lookup-parallelizer 'serial)))
       (test-assert (multiprocessing-parallelizer?
                     (lookup-parallelizer 'multiprocessing)))
       (test-assert (mpi-parallelizer? (lookup-parallelizer "mpi")))
       (register-parallelizer! s 'mine)
       (test-eq s (lookup-parallelizer 'mine))
       (test-eq s (lookup-parallelizer "mine"))
       (let ((m (lookup-parallelizer '((mode . multiprocessing)
                                       (processes . 4)))))
         (test-assert (multiprocessing-parallelizer? m))
         (test-equal 4 (parallelizer-nprocs m)))
       (test-assert (string-contains
                     (error-message (lookup-parallelizer 'nonesuch))
                     "nonesuch"))
       (test-assert (string-contains
                     (error-message (lookup-parallelizer
                                     '((mode . serial) (colour . red))))
                     "colour"))
       (test-equal 'parallelizer-error
         (error-key (lookup-parallelizer '((mode . quantum)))))
       (test-equal 'parallelizer-error (error-key (lookup-parallelizer 42)))
       (set-default-parallelizer! s)
       (test-eq s (lookup-parallelizer #f))
       (set-default-parallelizer! #f)))

   (test-group "PARALLELIZER environment variable"
     (test-equal "#<multiprocessing-parallelizer id=0 nprocs=3>"
       (guile-output "PARALLELIZER=multiprocessing:3"
                     "(display (lookup-parallelizer #f))"))
     (test-equal "#<serial-parallelizer id=0 nprocs=1>"
       (guile-output "PARALLELIZER=serial"
                     "(display (lookup-parallelizer #f))"))
     (test-assert (string-contains
                   (guile-output "PARALLELIZER=bogus"
                                 "(display (catch #t (lambda () \
(lookup-parallelizer #f)) (lambda (k . a) k)))")
                   "parallelizer-error")))

   (test-group "running"
     (let ((s (make-serial-parallelizer)))
       (test-equal 42 (parallelizer-run s (job-value 42)))
       (test-equal '(1 2 #:k 3)
         (parallelizer-run s (lambda* (a b #:key k parallelizer)
                               (list a b #:k k))
                           1 2 #:k 3))
       (test-eq s (parallelizer-run s (lambda* (#:key parallelizer)
                                        parallelizer)))
       (test-eq s (parallelizer-run s (lambda* (#:key parallelizer)
                                        (current-parallelizer))))
       (test-eq #f (current-parallelizer))
       (test-equal 7 (parallelizer-run s (job-value 7) #:comm '(0)
                                       #:timeout 10))
       (test-equal 5 (parallelizer-run 'serial (job-value 5)))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-run s (job-value 1) #:comm '(0 1))))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-run s (job-value 1) #:comm '(1))))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-run s (job-value 1) #:comm '(0 0))))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-run s (job-value 1) #:comm 'all)))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-run s (job-value 1) #:timeout 0)))
       (test-equal 'parallelizer-error
         (error-key (gather s 1)))
       (test-assert "a job that takes no #:parallelizer gets a hint"
         (string-contains (error-message (parallelizer-run s (lambda () 1)))
                          "define*"))
       (test-assert "so does one with other keywords only"
         (string-contains
          (error-message (parallelizer-run s (lambda* (#:key x) 1)))
          "#:parallelizer"))))

   (test-group "with-parallelizer initializes once"
     (let ((c ((backend-make counting-backend))))
       (set! initialized 0)
       (set! finalized 0)
       (with-parallelizer c
         (test-eq c (lookup-parallelizer #f))
         (parallelizer-run c (job-value 1))
         (parallelizer-run c (job-value 2))
         (call-with-parallelizer c (lambda (q) (parallelizer-run q
                                                               (job-value 3))))
         (test-equal 1 initialized)
         (test-equal 0 finalized))
       (test-equal 1 finalized)
       (test-assert (not (eq? c (lookup-parallelizer #f))))
       (parallelizer-run c (job-value 4))
       (test-equal 2 initialized)
       (test-equal 2 finalized)))

   (test-group "restricted procedures"
     (let* ((s (make-serial-parallelizer))
            (on-main (main-restricted (lambda* (x #:key parallelizer)
                                        (* 2 x))))
            (on-workers (worker-restricted (lambda* (x #:key parallelizer)
                                             (* 3 x)))))
       (test-equal 4 (on-main 2 #:parallelizer s))
       (test-eq in-main-process (on-workers 2 #:parallelizer s))
       (test-assert (in-main-process? (on-workers 2 #:parallelizer s)))
       (test-assert (not (in-worker-process? 'x)))
       (test-assert (in-worker-process? in-worker-process))
       (test-equal "#<in-worker-process>" (object->string in-worker-process))
       (test-equal 4 (parallelizer-run s (lambda* (#:key parallelizer)
                                           (on-main 2))))))

   (test-group "client and server"
     (let ((r (make-client-server-runner
               (lambda* (#:key parallelizer) 'client)
               (lambda* (#:key parallelizer) 'server)
               (make-serial-parallelizer))))
       (test-assert (client-server-runner? r))
       (test-equal 'client (client-server-runner-run r))))

   (test-group "errors of a job"
     (let* ((s (make-serial-parallelizer))
            (failure (guard (e ((parallelizer-failure? e) e))
                       (parallelizer-run s (lambda* (#:key parallelizer)
                                             (error "boom" 1 2))))))
       (test-assert (parallelizer-failure? failure))
       (test-equal 0 (parallelizer-failure-rank failure))
       (test-equal (getpid) (parallelizer-failure-pid failure))
       (test-equal 'misc-error (parallelizer-failure-key failure))
       (test-assert (string-contains (parallelizer-failure-message failure)
                                     "boom"))
       (test-equal "boom 1 2" (parallelizer-failure-message failure))
       (test-assert (member 2 (parallelizer-failure-irritants failure)))
       (test-assert (string? (parallelizer-failure-backtrace failure)))
       (test-assert (string-contains (parallelizer-failure-backtrace failure)
                                     "error"))
       (test-assert (string-contains
                     (error-message (parallelizer-run
                                     s (lambda* (#:key parallelizer)
                                         (raise 'oops))))
                     "oops"))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-run s (lambda* (#:key parallelizer)
                                          (car '())))))))

   (test-group "printing"
     (let ((s (make-serial-parallelizer)))
       (test-equal "x = 3\n"
         (with-output-to-string
           (lambda () (parallelizer-print s "x = ~a" 3))))
       (test-equal "1\n"
         (with-output-to-string (lambda () (parallelizer-print s 1))))
       (test-equal ""
         (with-output-to-string
           (lambda () (parallelizer-print s "hidden" #:where 'worker))))
       (test-equal "shown\n"
         (with-output-to-string
           (lambda () (parallelizer-print s "shown" #:where 'main))))
       (test-equal 'parallelizer-error
         (error-key (parallelizer-print s "x" #:where 'nowhere)))))

   (test-group "Open MPI is loaded only by an MPI parallelizer"
     (parallelizer-run (make-serial-parallelizer) (job-value 1))
     (test-assert (not (string-contains
                        (call-with-input-file "/proc/self/maps" read-string)
                        "libmpi"))))

   (test-group "every export has a docstring"
     ;; What ,describe shows: a procedure's docstring, a macro's (its
     ;; transformer's), or the documentation property of any other object
     ;; (a parameter, a condition type, a sentinel). Guile's fallback, a
     ;; search of its own documentation files by procedure name, is not
     ;; ours and does not count.
     (define (documentation value)
       (or (and (procedure? value) (procedure-documentation value))
           (object-property value 'documentation)
           (and (macro? value)
                (procedure-documentation (macro-transformer value)))))
     (define (undocumented module-name)
       (let ((interface (resolve-interface module-name)))
         (filter-map (lambda (name)
                       (and (not (documentation (module-ref interface name)))
                            name))
                     (module-map (lambda (name var) name) interface))))
     (test-equal "of (parallelizer)" '() (undocumented '(parallelizer)))
     (test-equal "of (parallelizer wire)" '()
       (undocumented '(parallelizer wire)))
     (test-equal "macros too: everywhere and with-parallelizer"
       '(#t #t)
       (map (lambda (name)
              (string?
               (object-documentation
                (module-ref (resolve-interface '(parallelizer)) name))))
            '(everywhere with-parallelizer)))
     (test-assert ",describe shows a docstring"
       (string-contains
        (with-output-to-string
          (lambda ()
            (with-input-from-string "describe gather\n"
              (lambda ()
                ((@ (system repl command) meta-command)
                 ((@ (system repl common) make-repl) 'scheme))))))
        "the list of every process's DATUM")))))
