;;; Background runs: parallelizer-start, run-wait, run-done?, run-cancel!
;;; on the multiprocessing and serial backends.
;;;
;;;   ./pre-inst-env guile -L tests tests/mp-background.scm
;;;
;;; Jobs wait for gate files instead of sleeping, so that what a test sees
;;; does not depend on timing. After every case no child process, no
;;; process of the run and no new /dev/shm entry may be left. Every wait
;;; is bounded.

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (every any iota))
             (ice-9 exceptions)
             (ice-9 ftw)
             (ice-9 match)
             (ice-9 rdelim)
             (parallelizer)
             (harness)
             (mp-hygiene))

(define %bound 60)

(define tmp-dir
  (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                          "/mp-background-XXXXXX")))

(define (tmp-file name)
  (string-append tmp-dir "/" name))

(define shm-before (shm-entries))

(define (touch file)
  (close-port (open-file file "w")))

(define (wait-for-file file)
  ;; In a job: wait, up to the bound, until FILE exists.
  (let loop ((i 0))
    (unless (or (file-exists? file) (> i (* 100 %bound)))
      (usleep 10000)
      (loop (1+ i)))))

(define (append-pid file)
  (let ((port (open-file file "a")))
    (format port "~a~%" (getpid))
    (close-port port)))

(define (read-pids file)
  (if (file-exists? file)
      (call-with-input-file file
        (lambda (port)
          (let loop ((pids '()))
            (match (read port)
              ((? eof-object?) (reverse pids))
              (pid (loop (cons pid pids)))))))
      '()))

(define (wait-for-pids file n)
  ;; Wait until N pids are in FILE; return them.
  (let loop ((i 0))
    (let ((pids (read-pids file)))
      (if (or (>= (length pids) n) (> i (* 100 %bound)))
          pids
          (begin (usleep 10000) (loop (1+ i)))))))

(define (none-alive? pids)
  (not (any pid-alive? pids)))

(define (condition-of thunk)
  (guard (e (#t e))
    (thunk)
    #f))

(define (printed e)
  (and (exception? e)
       (call-with-output-string
         (lambda (port)
           (print-exception port #f (exception-kind e) (exception-args e))))))

(define (fresh-file name)
  (let ((file (tmp-file name)))
    (when (file-exists? file)
      (delete-file file))
    file))

(define (check-clean label)
  (test-equal (string-append label ": no child process left") '()
    (child-pids))
  (test-equal (string-append label ": nothing new in /dev/shm") '()
    (new-shm-entries shm-before)))

;; A job that records its processes' pids, waits for GATE, and gathers
;; its ranks and pids.
(define* (gated-job gate pids #:key parallelizer)
  (append-pid pids)
  (wait-for-file gate)
  (gather parallelizer (list (parallelizer-id parallelizer) (getpid))))

(define* (ranks-job #:key parallelizer)
  (gather parallelizer (parallelizer-id parallelizer)))

(define (check-value p label)
  (let* ((gate (fresh-file "gate"))
         (pids (fresh-file "pids"))
         (n (parallelizer-nprocs p))
         (h (parallelizer-start p gated-job gate pids)))
    (test-assert (string-append label ": a run handle") (run-handle? h))
    (test-equal (string-append label ": every process starts") n
      (length (wait-for-pids pids n)))
    (test-assert (string-append label ": not done while the gate is shut")
      (not (run-done? h)))
    (test-assert (string-append label ": prints as running")
      (string-contains (object->string h) "running"))
    (test-assert (string-append label ": the caller is not in the run")
      (not (memv (getpid) (read-pids pids))))
    (test-equal (string-append label ": a foreground run meanwhile")
      (iota n)
      (parallelizer-run p ranks-job #:timeout %bound))
    (touch gate)
    (let ((value (run-wait h #:timeout %bound)))
      (test-equal (string-append label ": run-wait returns main's value")
        (iota n) (map car value))
      (test-equal (string-append label ": from the run's processes")
        (sort (read-pids pids) <) (sort (map cadr value) <)))
    (test-assert (string-append label ": done after") (run-done? h))
    (test-equal (string-append label ": waiting again gives the value")
      (iota n) (map car (run-wait h)))
    (test-equal (string-append label ": cancelling a finished run") #f
      (run-cancel! h))
    (check-clean label)))

(define* (failing-job culprit #:key parallelizer)
  (when (= (parallelizer-id parallelizer) culprit)
    (error "deliberate failure on rank" culprit))
  (barrier parallelizer))

(define (check-error p label)
  (let* ((culprit (1- (parallelizer-nprocs p)))
         (foreground (condition-of
                      (lambda () (parallelizer-run p failing-job culprit
                                                   #:timeout %bound))))
         (background (condition-of
                      (lambda ()
                        (run-wait (parallelizer-start p failing-job culprit
                                                      #:timeout %bound)
                                  #:timeout %bound)))))
    (test-assert (string-append label ": the error is a run's failure")
      (and (parallelizer-failure? background)
           (= culprit (parallelizer-failure-rank background))))
    (test-equal (string-append label ": with the same key and message")
      (list (parallelizer-failure-key foreground)
            (parallelizer-failure-message foreground)
            (parallelizer-error-code foreground))
      (list (parallelizer-failure-key background)
            (parallelizer-failure-message background)
            (parallelizer-error-code background)))
    (test-assert (string-append label ": and the job's backtrace")
      (string-contains (parallelizer-failure-backtrace background)
                       "raise-exception"))
    (test-assert (string-append label ": printed as parallelizer-run's")
      (string-contains (printed background)
                       "In procedure parallelizer-run: rank"))
    (check-clean label)))

(define (check-timeout-and-cancel p label)
  (let* ((gate (fresh-file "never"))
         (pids (fresh-file "pids"))
         (n (parallelizer-nprocs p))
         (h (parallelizer-start p gated-job gate pids)))
    (wait-for-pids pids n)
    (let ((e (condition-of (lambda () (run-wait h #:timeout 0.2)))))
      (test-equal (string-append label ": run-wait #:timeout") 'ETIMEDOUT
        (and e (parallelizer-error-code e))))
    (test-assert (string-append label ": the run goes on after a timeout")
      (and (not (run-done? h)) (every pid-alive? (read-pids pids))))
    (test-equal (string-append label ": run-cancel! stops a running run")
      #t (run-cancel! h))
    (test-assert (string-append label ": every process of the run is gone")
      (none-alive? (read-pids pids)))
    (test-assert (string-append label ": done once cancelled")
      (run-done? h))
    (test-equal (string-append label ": run-wait says it was cancelled")
      'EABORTED
      (parallelizer-error-code (condition-of (lambda () (run-wait h)))))
    (test-equal (string-append label ": cancelling twice") #f
      (run-cancel! h))
    (check-clean label)))

(define* (stubborn-job pids #:key parallelizer)
  ;; The main process ignores the cancel's polite request: the cancel
  ;; must still stop every process.
  (when (on-main? parallelizer)
    (sigaction SIGTERM SIG_IGN))
  (append-pid pids)
  (barrier parallelizer)
  (let loop () (loop)))

(define* (main-dies-job pids #:key parallelizer)
  ;; The run's main process is killed while its workers wait for it.
  (append-pid pids)
  (barrier parallelizer)
  (when (on-main? parallelizer)
    (kill (getpid) SIGKILL))
  (wait-for-file "/nonexistent")
  (barrier parallelizer))

(define (check-hard-ends p label)
  (let* ((pids (fresh-file "pids"))
         (n (parallelizer-nprocs p))
         (h (parallelizer-start p stubborn-job pids)))
    (wait-for-pids pids n)
    (test-equal (string-append label ": a main that ignores SIGTERM is \
cancelled too")
      #t (run-cancel! h))
    (test-assert (string-append label ": none of its processes is left")
      (none-alive? (read-pids pids)))
    (check-clean (string-append label ", stubborn main")))
  (let* ((pids (fresh-file "pids"))
         (n (parallelizer-nprocs p))
         (e (condition-of
             (lambda ()
               (run-wait (parallelizer-start p main-dies-job pids)
                         #:timeout %bound)))))
    (test-equal (string-append label ": a run whose main process dies")
      'EPEER (and e (parallelizer-error-code e)))
    (test-assert (string-append label ": says it was killed")
      (and e (string-contains (printed e) "killed by signal 9")))
    (test-assert (string-append label ": its workers do not survive it")
      (none-alive? (wait-for-pids pids n)))
    (check-clean (string-append label ", main killed"))))

(define (check-many p label)
  ;; Several background runs at once, then many in a row: nothing grows.
  (let* ((gate (fresh-file "gate"))
         (handles (map (lambda (i)
                         (parallelizer-start p gated-job gate
                                             (fresh-file
                                              (format #f "pids-~a" i))))
                       (iota 3))))
    (touch gate)
    (test-equal (string-append label ": three runs at once")
      (make-list 3 (iota (parallelizer-nprocs p)))
      (map (lambda (h) (map car (run-wait h #:timeout %bound))) handles)))
  (let ((fds (open-fd-count)))
    (for-each (lambda (i)
                (run-wait (parallelizer-start p ranks-job) #:timeout %bound)
                (run-cancel! (parallelizer-start p ranks-job)))
              (iota 20))
    (test-equal (string-append label ": 40 runs leave no file open") fds
      (open-fd-count)))
  (check-clean (string-append label ", many runs")))

(define-syntax-rule (begin0 expr rest ...)
  (let ((value expr)) rest ... value))

(define (check-arguments)
  (let ((p (make-multiprocessing-parallelizer #:processes 2)))
    (test-equal "parallelizer-start of a non-procedure" 'EINVAL
      (parallelizer-error-code
       (condition-of (lambda () (parallelizer-start p 42)))))
    (test-equal "parallelizer-start of a non-parallelizer" 'EINVAL
      (parallelizer-error-code
       (condition-of (lambda () (parallelizer-start 5 ranks-job)))))
    (test-equal "run-wait of a non-handle" 'EINVAL
      (parallelizer-error-code (condition-of (lambda () (run-wait 5)))))
    (test-equal "run-wait with a bad timeout" 'EINVAL
      (let ((h (parallelizer-start p ranks-job)))
        (begin0 (parallelizer-error-code
                 (condition-of (lambda () (run-wait h #:timeout -1))))
                (run-wait h))))
    (test-equal "a value that cannot travel back is an error at run-wait"
      'EINVAL
      (parallelizer-error-code
       (condition-of
        (lambda ()
          (run-wait (parallelizer-start p (lambda* (#:key parallelizer)
                                            (lambda () 'a-procedure))))))))
    (test-assert "parallelizer-start inside a run is refused"
      (parallelizer-failure?
       (condition-of
        (lambda ()
          (parallelizer-run p (lambda* (#:key parallelizer)
                                (parallelizer-start parallelizer ranks-job)))))))
    (check-clean "arguments")))

(run-suite
 "mp-background"
 (lambda ()
   (let ((m (make-multiprocessing-parallelizer #:processes 3))
         (s (make-serial-parallelizer)))
     ;; A foreground run first, so that the parallelizer keeps a group the
     ;; background runs must not share.
     (test-equal "a first foreground run" '(0 1 2)
       (parallelizer-run m ranks-job #:timeout %bound))
     (check-value m "multiprocessing")
     (check-value s "serial")
     (check-error m "multiprocessing")
     (check-error s "serial")
     (check-timeout-and-cancel m "multiprocessing")
     (check-timeout-and-cancel s "serial")
     (check-hard-ends m "multiprocessing")
     (check-many m "multiprocessing")
     (check-arguments))
   (for-each (lambda (f) (delete-file (tmp-file f)))
             (or (scandir tmp-dir (lambda (f) (not (member f '("." "..")))))
                 '()))
   (rmdir tmp-dir)))
