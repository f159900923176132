;;; The errors of (parallelizer): who raised them, what they say, their
;;; codes, and the arguments refused before anything runs.
;;;
;;;   ./pre-inst-env guile -L tests tests/errors.scm
;;;
;;; Every error is checked as guard sees it (exception-origin,
;;; exception-message, exception-irritants, parallelizer-error-code), as
;;; catch sees it, and as Guile prints it ("In procedure WHO: ...").

(use-modules (srfi srfi-64)
             (ice-9 exceptions)
             (ice-9 match)
             (ice-9 popen)
             (ice-9 rdelim)
             (parallelizer)
             (harness))

(define (condition-of thunk)
  "The condition THUNK raises, or #f if it returns."
  (guard (e (#t e))
    (thunk)
    #f))

(define (printed e)
  "E as Guile prints it, without the final newline."
  (string-trim-right
   (call-with-output-string
     (lambda (port)
       (print-exception port #f (exception-kind e) (exception-args e))))
   #\newline))

(define (view e)
  "What guard and the printer see of E: origin, message, irritants, code
and printed text."
  (and (exception? e)
       (list (exception-origin e)
             (exception-message e)
             (exception-irritants e)
             (parallelizer-error-code e)
             (printed e))))

(define-syntax-rule (error-view expr)
  (view (condition-of (lambda () expr))))

(define-syntax-rule (catch-code expr)
  ;; The code of the error EXPR raises, read from catch's key and
  ;; arguments.
  (catch #t
    (lambda () expr #f)
    (lambda (key . args) (parallelizer-error-code key args))))

(define (not-a-parallelizer who)
  (list who "expected a parallelizer, got ~s" '(5) 'EINVAL
        (format #f "In procedure ~a: expected a parallelizer, got 5" who)))

(define s (make-serial-parallelizer))

(define (fresh-guile-error env expr)
  ;; What a fresh guile, with the environment setting ENV, prints for the
  ;; error EXPR raises.
  (let* ((port (open-pipe* OPEN_READ "env" env "guile" "-c"
                           (format #f "(use-modules (parallelizer)) \
(catch #t (lambda () ~a) (lambda (k . a) (print-exception \
(current-output-port) #f k a) (write (parallelizer-error-code k a))))"
                                   expr)))
         (text (read-string port)))
    (close-pipe port)
    text))

(define (in-run proc)
  (parallelizer-run s (lambda* (#:key parallelizer) (proc parallelizer))))

(define (failure-of proc)
  (condition-of (lambda () (in-run proc))))

(run-suite
 "errors"
 (lambda ()
   (test-group "every procedure checks its parallelizer"
     (for-each
      (match-lambda
        ((who . thunk)
         (test-equal (symbol->string who)
           (not-a-parallelizer (symbol->string who))
           (view (condition-of thunk)))))
      `((parallelizer-nprocs . ,(lambda () (parallelizer-nprocs 5)))
        (parallelizer-id . ,(lambda () (parallelizer-id 5)))
        (parallelizer-pid . ,(lambda () (parallelizer-pid 5)))
        (on-main? . ,(lambda () (on-main? 5)))
        (send-to . ,(lambda () (send-to 5 'x 0)))
        (receive-from . ,(lambda () (receive-from 5 0)))
        (broadcast . ,(lambda () (broadcast 5 1)))
        (broadcast! . ,(lambda () (broadcast! 5 (f64vector 1))))
        (scatter . ,(lambda () (scatter 5 '(1))))
        (gather . ,(lambda () (gather 5 1)))
        (allgather . ,(lambda () (allgather 5 1)))
        (reduce-to-root . ,(lambda () (reduce-to-root 5 'sum 1)))
        (allreduce . ,(lambda () (allreduce 5 'sum 1)))
        (barrier . ,(lambda () (barrier 5)))
        (parallelizer-wait . ,(lambda () (parallelizer-wait 5)))
        (parallel-map . ,(lambda () (parallel-map 5 1+ '(1))))
        (parallel-starmap . ,(lambda () (parallel-starmap 5 + '((1)))))
        (parallelizer-print . ,(lambda () (parallelizer-print 5 "x")))
        (register-parallelizer! . ,(lambda () (register-parallelizer! 5 'x)))
        (parallelizer-serve
         . ,(lambda () (parallelizer-serve #:parallelizer 5 #:repl? #f)))))
     (test-equal "catch sees the code in the last argument"
       'EINVAL (catch-code (gather 5 1)))
     (test-equal "a job that is not a procedure"
       '("parallelizer-run" "expected a procedure, got ~s" (42) EINVAL
         "In procedure parallelizer-run: expected a procedure, got 42")
       (error-view (parallelizer-run s 42)))
     (test-equal "a parallelizer-run of something that is no parallelizer"
       '("parallelizer-run" "cannot make a parallelizer from ~s" (5) EINVAL
         "In procedure parallelizer-run: cannot make a parallelizer from 5")
       (error-view (parallelizer-run 5 list)))
     (test-equal "restricted procedures need a procedure"
       '(("main-restricted" EINVAL) ("worker-restricted" EINVAL))
       (map (lambda (e) (list (exception-origin e)
                              (parallelizer-error-code e)))
            (list (condition-of (lambda () (main-restricted 1)))
                  (condition-of (lambda () (worker-restricted 1)))))))

   (test-group "parallelizer-error? and codes"
     (test-assert "ours" (parallelizer-error?
                          (condition-of (lambda () (gather 5 1)))))
     (test-assert "not Guile's"
       (not (parallelizer-error? (condition-of (lambda () (error "x"))))))
     (test-equal "Guile's errors have no code"
       '(#f #f)
       (list (parallelizer-error-code (condition-of (lambda () (car 1))))
             (catch-code (car 1))))
     (test-equal "a collective outside a run"
       '("broadcast" EINVAL)
       (let ((e (condition-of (lambda () (broadcast s 1)))))
         (list (exception-origin e) (parallelizer-error-code e)))))

   (test-group "failures of a run"
     (let ((e (failure-of (lambda (q) (error "boom~" 1)))))
       (test-assert "a &parallelizer-failure" (parallelizer-failure? e))
       (test-assert "and a Parallelizer error" (parallelizer-error? e))
       (test-equal "its message is the sentence itself, tilde and all"
         (format #f "rank 0 (pid ~a) failed: boom~~ 1" (getpid))
         (exception-message e))
       (test-equal "with no irritants" '() (exception-irritants e))
       (test-equal "printed as Guile prints its errors"
         (format #f "In procedure parallelizer-run: rank 0 (pid ~a) \
failed: boom~~ 1" (getpid))
         (printed e))
       (test-equal "an error of the job's own is EJOB" 'EJOB
         (parallelizer-error-code e))
       (test-equal "catch sees the code too" 'EJOB
         (catch-code (in-run (lambda (q) (error "boom"))))))
     (test-equal "a Parallelizer error in the job keeps its code"
       'EINVAL
       (parallelizer-error-code (failure-of (lambda (q) (scatter q "abc")))))
     ;; Needs the extension to raise its errors with their code (the glue
     ;; side of the error-identity contract).
     (test-equal "an error of the runtime keeps its code"
       'ERANK
       (parallelizer-error-code (failure-of (lambda (q) (send-to q 'x 0)))))
     (test-equal "a worker that dies is EPEER, and its rank is named"
       '(EPEER 2 worker-died)
       (let ((e (condition-of
                 (lambda ()
                   (parallelizer-run
                    (make-multiprocessing-parallelizer #:processes 3)
                    (lambda* (#:key parallelizer)
                      (when (= (parallelizer-id parallelizer) 2)
                        (primitive-_exit 3))
                      (barrier parallelizer))
                    #:timeout 60)))))
         (list (parallelizer-error-code e)
               (parallelizer-failure-rank e)
               (parallelizer-failure-key e))))
     ;; Needs the extension's codes too: the others' EPEER is secondary.
     (test-equal "the failure reported is the culprit's, not its peers'"
       '(EJOB 1)
       (let ((e (condition-of
                 (lambda ()
                   (parallelizer-run
                    (make-multiprocessing-parallelizer #:processes 3)
                    (lambda* (#:key parallelizer)
                      (when (= (parallelizer-id parallelizer) 1)
                        (error "culprit"))
                      (barrier parallelizer))
                    #:timeout 60)))))
         (list (parallelizer-error-code e) (parallelizer-failure-rank e)))))

   (test-group "out-of-range options are refused when given"
     (define (refusal thunk)
       (let ((e (condition-of thunk)))
         (and e (list (parallelizer-error-code e) (printed e)))))
     (test-equal "#:processes 5000"
       '(EINVAL "In procedure make-multiprocessing-parallelizer: \
#:processes must be an integer from 1 to 1024, got 5000")
       (refusal (lambda () (make-multiprocessing-parallelizer
                            #:processes 5000))))
     (test-equal "#:processes (expt 2 40)"
       '(EINVAL "In procedure make-multiprocessing-parallelizer: \
#:processes must be an integer from 1 to 1024, got 1099511627776")
       (refusal (lambda () (make-multiprocessing-parallelizer
                            #:processes (expt 2 40)))))
     (test-equal "#:processes 1024 is the largest accepted"
       1024
       (parallelizer-nprocs
        (make-multiprocessing-parallelizer #:processes 1024)))
     (test-equal "#:timeout +inf.0"
       '(EINVAL "In procedure make-multiprocessing-parallelizer: \
#:timeout must be a positive finite number of seconds or #f, got +inf.0")
       (refusal (lambda () (make-multiprocessing-parallelizer
                            #:timeout +inf.0))))
     (test-equal "#:timeout +nan.0 on a run"
       '(EINVAL "In procedure parallelizer-run: #:timeout must be a \
positive finite number of seconds or #f, got +nan.0")
       (refusal (lambda () (parallelizer-run s list #:timeout +nan.0))))
     (test-equal "in a settings alist"
       '(EINVAL "In procedure make-multiprocessing-parallelizer: \
#:processes must be an integer from 1 to 1024, got 0")
       (refusal (lambda () (lookup-parallelizer
                            '((mode . multiprocessing) (processes . 0))))))
     (test-equal "PARALLELIZER=multiprocessing:99999999999999999999"
       "In procedure lookup-parallelizer: cannot understand the \
parallelizer \"multiprocessing:99999999999999999999\": in multiprocessing:N, \
N must be an integer from 1 to 1024\nEINVAL"
       (fresh-guile-error "PARALLELIZER=multiprocessing:99999999999999999999"
                          "(lookup-parallelizer #f)"))
     (test-equal "PARALLELIZER=serial:2"
       "In procedure lookup-parallelizer: the serial backend takes no \
argument, got \"2\"\nEINVAL"
       (fresh-guile-error "PARALLELIZER=serial:2" "(lookup-parallelizer #f)")))

   (test-group "#:comm is checked before anything starts"
     (define m (make-multiprocessing-parallelizer #:processes 3))
     (define started? #f)
     (define (job . args)
       (set! started? #t)
       'ran)
     (define (refusal ranks)
       (set! started? #f)
       (let ((e (condition-of
                 (lambda () (parallelizer-run m job #:comm ranks)))))
         (list (and e (parallelizer-error-code e))
               (and e (printed e))
               started?)))
     (test-equal "ranks the parallelizer does not have"
       '(ERANK "In procedure parallelizer-run: #:comm names rank 3, but \
#<multiprocessing-parallelizer id=0 nprocs=3> has ranks 0 to 2 only" #f)
       (refusal (iota 8)))
     (test-equal "a rank twice"
       '(EINVAL "In procedure parallelizer-run: #:comm lists a rank twice: \
(0 1 1)" #f)
       (refusal '(0 1 1)))
     (test-equal "without rank 0"
       '(EINVAL "In procedure parallelizer-run: #:comm must include rank 0, \
the main process, got (1 2)" #f)
       (refusal '(1 2)))
     (test-equal "on serial, only rank 0"
       '(ERANK "In procedure parallelizer-run: #:comm names rank 1, but \
#<serial-parallelizer id=0 nprocs=1> has ranks 0 to 0 only" #f)
       (let ((e (condition-of (lambda ()
                                (parallelizer-run s job #:comm '(0 1))))))
         (list (parallelizer-error-code e) (printed e) #f)))
     (test-equal "a subset of the ranks runs" 'ran
       (parallelizer-run m job #:comm '(0 2))))))
