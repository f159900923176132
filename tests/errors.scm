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
         (list (parallelizer-error-code e) (parallelizer-failure-rank e)))))))
