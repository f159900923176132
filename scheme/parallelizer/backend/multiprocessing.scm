;;; (parallelizer backend multiprocessing) — forked workers on one machine.

;;; Commentary:
;;;
;;; Each run forks the workers afresh, so they inherit the whole heap of
;;; the main process: closures made at the REPL, loaded modules and data.
;;; The processes talk through shared-memory channels built by the C
;;; runtime.
;;;
;;; Code:

(define-module (parallelizer backend multiprocessing)
  #:use-module (ice-9 threads)
  #:use-module (parallelizer core)
  #:use-module (parallelizer primitives)
  #:export (make-multiprocessing-parallelizer))

(define* (make-multiprocessing-parallelizer #:key processes initializer
                                            timeout)
  "Return a new multiprocessing parallelizer. PROCESSES is the total number
of processes of a run, the main one included (default: the number of
online processors). INITIALIZER, a thunk, runs in the main process before
each fork, so workers inherit what it sets up. TIMEOUT bounds every run, in
seconds (#f: none)."
  (let ((processes (or processes (current-processor-count))))
    (unless (and (exact-integer? processes) (positive? processes))
      (raise-parallelizer-error
       'make-multiprocessing-parallelizer
       "#:processes must be a positive integer, got ~s" processes))
    (unless (or (not initializer) (procedure? initializer))
      (raise-parallelizer-error
       'make-multiprocessing-parallelizer
       "#:initializer must be a thunk or #f, got ~s" initializer))
    (unless (or (not timeout) (and (real? timeout) (positive? timeout)))
      (raise-parallelizer-error
       'make-multiprocessing-parallelizer
       "#:timeout must be a positive number of seconds or #f, got ~s"
       timeout))
    (%make-parallelizer 'multiprocessing
                        `((processes . ,processes)
                          (initializer . ,initializer)
                          (timeout . ,timeout))
                        #f #f 0)))

(define (multiprocessing-run p thunk ranks timeout)
  (raise-parallelizer-error 'parallelizer-run
                            "the multiprocessing backend is not built yet"))

(register-backend!
 (make-backend 'multiprocessing
               (lambda (p) #t)
               (lambda (p) #t)
               multiprocessing-run
               (lambda (p) (parallelizer-option p 'processes 1))))
