;;; (harness) — what every SRFI-64 suite of Parallelizer shares.

;;; Commentary:
;;;
;;; A test runner that prints each failure with its expression and values,
;;; ends with the line "N passed, N failed" that the suite driver reads, and
;;; exits non-zero when anything failed; plus error-key, which returns the
;;; key of the error an expression raises (Guile 3.0.8's test-error does not
;;; check keys); and define-job, which defines a job that names its
;;; parallelizer.
;;;
;;; Code:

(define-module (harness)
  #:use-module (srfi srfi-64)
  #:export (run-suite
            error-key
            error-message
            suite-parallelizer
            define-job))

(define-syntax-rule (define-job (name p arg ...) body ...)
  ;; A job procedure NAME of ARG ... whose body sees the parallelizer of
  ;; its run as P.
  (define* (name arg ... #:key parallelizer)
    (let ((p parallelizer))
      body ...)))

(define mpi-worker?
  ;; Under mpirun every rank runs the whole suite, since every rank must
  ;; take part in each run; the values come back to rank 0, which alone
  ;; checks and reports them.
  (let ((rank (getenv "OMPI_COMM_WORLD_RANK")))
    (and rank (not (string=? rank "0")))))

(define (make-silent-runner)
  (let ((runner (test-runner-null)))
    (test-runner-on-final! runner (lambda (r) (exit 0)))
    runner))

(define (make-counting-runner)
  (let ((runner (test-runner-null))
        (passed 0)
        (failed 0))
    (test-runner-on-test-end!
     runner
     (lambda (r)
       (case (test-result-kind r)
         ((pass xfail) (set! passed (1+ passed)))
         ((fail xpass)
          (set! failed (1+ failed))
          (format (current-error-port) "FAIL ~a~@[ (~a)~]~%"
                  (test-runner-test-name r)
                  (test-result-ref r 'source-line))
          (for-each (lambda (key)
                      (let ((v (test-result-ref r key 'none)))
                        (unless (eq? v 'none)
                          (format (current-error-port) "  ~a: ~s~%" key v))))
                    '(source-form expected-value actual-value
                      actual-error)))
         (else #t))))
    (test-runner-on-final!
     runner
     (lambda (r)
       (format #t "~a passed, ~a failed~%" passed failed)
       (force-output)
       (exit (if (zero? failed) 0 1))))
    runner))

(define (run-suite name thunk)
  "Run THUNK, which holds the tests of suite NAME, with the counting
runner; exit with the result."
  (test-runner-current (if mpi-worker?
                            (make-silent-runner)
                            (make-counting-runner)))
  (test-begin name)
  (thunk)
  (test-end name))

(define-syntax-rule (error-key expr)
  ;; The key of the error EXPR raises, or #f if it returns.
  (catch #t
    (lambda () expr #f)
    (lambda (key . args) key)))

(define-syntax-rule (error-message expr)
  ;; The formatted message of the error EXPR raises, or #f.
  (catch #t
    (lambda () expr #f)
    (lambda (key . args)
      (call-with-output-string
        (lambda (port)
          (print-exception port #f key args))))))

(define (suite-parallelizer make-default)
  "The parallelizer a suite runs on: the one PARALLELIZER names, or what
MAKE-DEFAULT returns."
  ((@ (parallelizer) lookup-parallelizer)
   (if (getenv "PARALLELIZER") #f (make-default))))
