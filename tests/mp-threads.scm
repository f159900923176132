;;; tests/mp-threads.scm — forking workers beside Guile threads.

;;; Commentary:
;;;
;;; The multiprocessing backend refuses to fork while another Guile thread
;;; can run (the workers would inherit its locks but not the thread), and
;;; must not refuse because of a thread that has finished: right after
;;; join-thread, Guile may still list the joined thread for a moment.  300
;;; runs right after a join must all run, without Guile's own warning
;;; about a fork beside threads; a thread that still runs is refused.
;;;
;;; The suite runs under a hard timeout of its own (SIGALRM, whose default
;;; action ends the process).
;;;
;;; Code:

(use-modules (srfi srfi-64)
             (ice-9 threads)
             (parallelizer)
             (harness))

(alarm 300)

(define p (make-multiprocessing-parallelizer #:processes 2 #:timeout 60))

(define* (job #:key parallelizer)
  (parallelizer-id parallelizer))

(define (refusal-code thunk)
  "Call THUNK; return #f, or the code of the parallelizer-error it
raises."
  (catch 'parallelizer-error
    (lambda () (thunk) #f)
    (lambda (key who message irritants rest) (car rest))))

(define warnings (open-output-string))

(run-suite
 "mp-threads"
 (lambda ()
   (test-equal "300 runs right after join-thread: none refused" '()
     (parameterize ((current-warning-port warnings))
       (let loop ((i 0) (refused '()))
         (if (= i 300)
             refused
             (begin
               (join-thread (call-with-new-thread (lambda () (+ 1 2))))
               (let ((code (refusal-code (lambda ()
                                           (parallelizer-run p job)))))
                 (loop (+ i 1) (if code (cons (list i code) refused)
                                   refused))))))))
   (test-equal "... and Guile never warned of a fork beside threads" ""
     (get-output-string warnings))

   (test-eq "a thread that has exited, not joined, is no obstacle" #f
     (let ((thread (call-with-new-thread (lambda () 'done))))
       (let wait () (unless (thread-exited? thread) (yield) (wait)))
       (refusal-code (lambda () (parallelizer-run p job)))))

   (let* ((gate (make-mutex))
          (thread (begin
                    (lock-mutex gate)
                    (call-with-new-thread
                     (lambda ()
                       (lock-mutex gate)
                       (unlock-mutex gate))))))
     (test-eq "a thread that can still run is refused" 'EFORK
       (refusal-code (lambda () (parallelizer-run p job))))
     (unlock-mutex gate)
     (join-thread thread)
     (test-equal "once it is joined, runs work again" 0
       (parallelizer-run p job)))))

;;; mp-threads.scm ends here
