;;; Many consecutive runs on one multiprocessing parallelizer: nothing may
;;; accumulate, whether runs succeed or fail.
;;;
;;;   ./pre-inst-env guile -L tests tests/mp-soak.scm
;;;
;;; 500 runs of 3 processes: empty runs, gathers, broadcasts, and every
;;; 50th run a worker that raises. Open file descriptors, child processes
;;; and /dev/shm entries are compared before and after; the time per run
;;; is printed as a note, not checked.

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (iota))
             (ice-9 exceptions)
             (parallelizer)
             (harness)
             (mp-hygiene))

(define %runs 500)
(define %processes 3)

;; Bounds each run: a hang fails the suite at once instead of at the
;; driver's limit.
(define %run-timeout 60)

(define-syntax-rule (define-job (name p arg ...) body ...)
  (define* (name arg ... #:key parallelizer)
    (let ((p parallelizer))
      body ...)))

(define-job (empty-job p i)
  #t)

(define-job (gather-job p i)
  (gather p (list i (parallelizer-id p))))

(define-job (broadcast-job p i)
  (gather p (broadcast p (and (on-main? p) (make-vector 100 i)))))

(define-job (failing-job p i)
  (when (= (parallelizer-id p) (1- (parallelizer-nprocs p)))
    (error "deliberate failure of run" i))
  (barrier p))

(define (run-once p i)
  ;; Run number I; return #t if it gave what it should.
  (define (run job)
    (parallelizer-run p job i #:timeout %run-timeout))
  (cond
   ((zero? (modulo (1+ i) 50))
    (guard (e ((and (parallelizer-failure? e)
                    (= (parallelizer-failure-rank e) (1- %processes))
                    (string-contains (parallelizer-failure-message e)
                                     "deliberate failure of run"))
               #t)
              (#t #f))
      (run failing-job)
      #f))
   ((zero? (modulo i 3))
    (eq? #t (run empty-job)))
   ((= 1 (modulo i 3))
    (equal? (map (lambda (r) (list i r)) (iota %processes))
            (run gather-job)))
   (else
    (equal? (make-list %processes (make-vector 100 i))
            (run broadcast-job)))))

(define (soak p)
  ;; Run %RUNS runs; return the list of the numbers of the runs that went
  ;; wrong, the number of open file descriptors after each run, and the
  ;; seconds they took in all.
  (let ((start (monotonic-seconds)))
    (let loop ((i 0) (wrong '()) (fds '()))
      (if (= i %runs)
          (values (reverse wrong) (reverse fds)
                  (- (monotonic-seconds) start))
          (let ((ok? (catch #t
                       (lambda () (run-once p i))
                       (lambda (key . args)
                         (format #t "run ~a raised ~a ~s~%" i key args)
                         #f))))
            (loop (1+ i)
                  (if ok? wrong (cons i wrong))
                  (cons (open-fd-count) fds)))))))

(define (settled-fd-count)
  ;; The open file descriptors once Guile's finalization thread runs:
  ;; each fork stops it, and the first collection with something to
  ;; finalize starts it again with pipes of its own, at a moment that
  ;; depends on when collections happen. Collect, so that it starts, and
  ;; count once the count stays put.
  (gc)
  (let loop ((count (open-fd-count)) (tries 0))
    (usleep 50000)
    (let ((now (open-fd-count)))
      (if (or (= now count) (> tries 40))
          now
          (loop now (1+ tries))))))

(define (ranks-run p)
  (parallelizer-run p (lambda* (#:key parallelizer)
                        (gather parallelizer (parallelizer-id parallelizer)))
                    #:timeout %run-timeout))

(run-suite
 "mp-soak"
 (lambda ()
   (let ((p (make-multiprocessing-parallelizer #:processes %processes)))
     ;; One run first, so that what a parallelizer keeps between runs (its
     ;; group) is counted on both sides.
     (test-equal "a first run" (iota %processes) (ranks-run p))
     (let ((fds-before (settled-fd-count))
           (shm-before (shm-entries)))
       (call-with-values (lambda () (soak p))
         (lambda (wrong fds seconds)
           (test-equal (format #f "~a runs give what they should" %runs)
             '() wrong)
           (format #t "~a runs in ~,2f s: ~,3f ms per run~%"
                   %runs seconds (* 1000 (/ seconds %runs)))
           ;; Guile starts its finalization thread, with a pipe, when an
           ;; error has left garbage to finalize, and the next fork stops
           ;; it: the count varies from run to run, within a bound that
           ;; must not grow.
           (let ((first-half (list-head fds (quotient %runs 2)))
                 (second-half (list-tail fds (quotient %runs 2))))
             (format #t "open file descriptors: ~a before, ~a to ~a during ~
                         the runs~%"
                     fds-before (apply min fds) (apply max fds))
             (test-assert "no more open file descriptors in the second half"
               (<= (apply max second-half) (apply max first-half))))))
       (test-equal "a last run" (iota %processes) (ranks-run p))
       (test-equal "after it, as many open file descriptors as before"
         fds-before (settled-fd-count))
       (test-equal "no child process left" '() (child-pids))
       (test-equal "nothing new in /dev/shm" '()
         (new-shm-entries shm-before))))))
