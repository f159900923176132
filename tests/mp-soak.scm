;;; Many consecutive runs on one multiprocessing parallelizer: nothing may
;;; accumulate, whether runs succeed or fail, and shared objects made and
;;; dropped again and again leave nothing either.
;;;
;;;   ./pre-inst-env guile -L tests tests/mp-soak.scm
;;;   PARALLELIZER_SOAK=full ./pre-inst-env guile -L tests tests/mp-soak.scm
;;;
;;; Runs of 3 processes: successful runs (empty runs, gathers,
;;; broadcasts), failing runs (a worker raises, exits or is killed), and
;;; share/collect cycles (a shared vector and a shared dict that the
;;; workers write, dropped and collected after the run). `make check' runs
;;; 300, 60 and 150 of them; with PARALLELIZER_SOAK=full (`make
;;; check-soak') 2,000, 1,000 and 1,000. Open file descriptors, child
;;; processes, the resident memory and /dev/shm entries are compared
;;; before and after, and between the two halves of each stage; the time
;;; per run is printed as a note, not checked. Last, a worker that runs
;;; out of memory under RLIMIT_AS, in one large allocation or in many
;;; small ones, is reported as a failure of its rank, not a hang.

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (iota))
             (ice-9 exceptions)
             (ice-9 match)
             (ice-9 rdelim)
             ((rnrs bytevectors) #:select (make-bytevector))
             (parallelizer)
             (harness)
             (mp-hygiene))

(define %full? (equal? (getenv "PARALLELIZER_SOAK") "full"))
(define %runs (if %full? 2000 300))
(define %failing-runs (if %full? 1000 60))
(define %share-cycles (if %full? 1000 150))
(define %processes 3)

;; Bounds each run: a hang fails the suite at once instead of at the
;; driver's limit.
(define %run-timeout 60)

;; How much more resident memory the second half of a stage may reach than
;; the first: the collector's heap grows and shrinks by steps, a leak
;; grows with the number of runs.
(define %rss-slack-kib (* 8 1024))

(define-job (empty-job p i)
  #t)

(define-job (gather-job p i)
  (gather p (list i (parallelizer-id p))))

(define-job (broadcast-job p i)
  (gather p (broadcast p (and (on-main? p) (make-vector 100 i)))))

(define-job (failing-job p i)
  ;; The last worker raises, exits or is killed, in turn.
  (when (= (parallelizer-id p) (1- (parallelizer-nprocs p)))
    (match (modulo i 3)
      (0 (error "deliberate failure of run" i))
      (1 (primitive-_exit 3))
      (2 (kill (getpid) SIGKILL))))
  (barrier p))

(define-job (shared-job p v d)
  ;; Every process writes its rank into the shared vector V and the shared
  ;; dict D; the main process reads them back.
  (let ((me (parallelizer-id p)))
    (f64vector-set! v me (exact->inexact me))
    (shared-dict-set! d me (* 10 me))
    (barrier p)
    (and (on-main? p)
         (list (f64vector->list v)
               (map (lambda (r) (shared-dict-ref d r))
                    (iota (parallelizer-nprocs p)))))))

(define (successful-run p i)
  ;; Run number I; return #t if it gave what it should.
  (define (run job)
    (parallelizer-run p job i #:timeout %run-timeout))
  (cond
   ((zero? (modulo i 3))
    (eq? #t (run empty-job)))
   ((= 1 (modulo i 3))
    (equal? (map (lambda (r) (list i r)) (iota %processes))
            (run gather-job)))
   (else
    (equal? (make-list %processes (make-vector 100 i))
            (run broadcast-job)))))

(define (failing-run p i)
  ;; Failing run number I: #t if it failed as it should.
  (guard (e ((and (parallelizer-failure? e)
                  (= (parallelizer-failure-rank e) (1- %processes))
                  (string-contains
                   (parallelizer-failure-message e)
                   (match (modulo i 3)
                     (0 "deliberate failure of run")
                     (1 "status 3")
                     (2 "signal 9"))))
             #t)
            (#t #f))
    (parallelizer-run p failing-job i #:timeout %run-timeout)
    #f))

(define (share-cycle p i)
  ;; Share a vector and a dict, run a job on them, and drop them: #t if
  ;; the job saw what it should.
  (let* ((v (share p (make-f64vector %processes 0.0)))
         (d (share p (make-hash-table)))
         (seen (parallelizer-run p shared-job v d #:timeout %run-timeout)))
    (equal? (list (map exact->inexact (iota %processes))
                  (map (lambda (r) (* 10 r)) (iota %processes)))
            seen)))

(define (status-kib field)
  ;; The value, in KiB, of FIELD (such as "VmRSS:") of this process's
  ;; /proc status.
  (call-with-input-file "/proc/self/status"
    (lambda (port)
      (let loop ()
        (let ((line (read-line port)))
          (cond
           ((eof-object? line) 0)
           ((string-prefix? field line)
            (string->number
             (car (string-tokenize (substring line (string-length field))))))
           (else (loop))))))))

(define (rss-kib)
  ;; The resident memory of this process.
  (status-kib "VmRSS:"))

(define (stage name count step)
  ;; Call STEP on 0 .. COUNT-1; return the numbers of the calls that gave
  ;; #f or raised, the open file descriptors and the resident memory after
  ;; each call, and the seconds they took in all.
  (let ((start (monotonic-seconds)))
    (let loop ((i 0) (wrong '()) (fds '()) (rss '()))
      (if (= i count)
          (values (reverse wrong) (reverse fds) (reverse rss)
                  (- (monotonic-seconds) start))
          (let ((ok? (catch #t
                       (lambda () (step i))
                       (lambda (key . args)
                         (format #t "~a ~a raised ~a ~s~%" name i key args)
                         #f))))
            (loop (1+ i)
                  (if ok? wrong (cons i wrong))
                  (cons (open-fd-count) fds)
                  (cons (rss-kib) rss)))))))

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

(define (halves xs)
  (let ((n (quotient (length xs) 2)))
    (values (list-head xs n) (list-tail xs n))))

(define (check-stage p name count step)
  ;; Run the stage, then check that nothing grew.
  (gc)
  (let ((fds-before (settled-fd-count))
        (shm-before (shm-entries))
        (rss-before (rss-kib)))
    (call-with-values (lambda () (stage name count step))
      (lambda (wrong fds rss seconds)
        (test-equal (format #f "~a: ~a give what they should" name count)
          '() wrong)
        (format #t "~a: ~a in ~,2f s, ~,3f ms each~%"
                name count seconds (* 1000 (/ seconds count)))
        ;; Guile starts its finalization thread, with a pipe, when an error
        ;; has left garbage to finalize, and the next fork stops it: the
        ;; count varies from run to run, within a bound that must not grow.
        (call-with-values (lambda () (halves fds))
          (lambda (first second)
            (format #t "~a: open file descriptors ~a before, ~a to ~a during~%"
                    name fds-before (apply min fds) (apply max fds))
            (test-assert (string-append name ": no more open file \
descriptors in the second half")
              (<= (apply max second) (apply max first)))))
        (call-with-values (lambda () (halves rss))
          (lambda (first second)
            (format #t (string-append
                        "~a: resident memory ~a KiB before, at most ~a KiB "
                        "in the first half, ~a KiB in the second, ~a KiB "
                        "after~%")
                    name rss-before (apply max first) (apply max second)
                    (rss-kib))
            (test-assert (format #f "~a: the resident memory does not grow \
in the second half (~a KiB, then ~a KiB)"
                                 name (apply max first) (apply max second))
              (<= (apply max second) (+ (apply max first) %rss-slack-kib)))))
        (test-equal (string-append name ": the next run works")
          (iota %processes) (ranks-run p))
        (test-equal (string-append name ": as many open file descriptors \
as before")
          fds-before (settled-fd-count))
        (test-equal (string-append name ": no child process left")
          '() (child-pids))
        (test-equal (string-append name ": nothing new in /dev/shm") '()
          (new-shm-entries shm-before))))))

;;; Out of memory.

(define (vm-size-kib)
  (status-kib "VmSize:"))

(define-job (out-of-memory-job p how)
  ;; Worker 1 limits its address space to 256 MiB more than it uses, then
  ;; allocates past it: one allocation of 1 GiB, or 1 MiB ones kept until
  ;; none is left.
  (when (= (parallelizer-id p) 1)
    (let ((limit (* 1024 (+ (vm-size-kib) (* 256 1024)))))
      (setrlimit 'as limit limit)
      (match how
        ('one (make-bytevector (* 1024 1024 1024) 0))
        ('many (let loop ((kept '()))
                 (loop (cons (make-bytevector (* 1024 1024) 1) kept)))))))
  (barrier p)
  'survived)

(define (check-out-of-memory p how)
  (let ((label (format #f "a worker out of memory (~a)"
                       (if (eq? how 'one)
                           "one allocation of 1 GiB"
                           "allocations of 1 MiB"))))
    (guard (e ((parallelizer-failure? e)
               (test-equal (string-append label ": reported for its rank")
                 1 (parallelizer-failure-rank e))
               (format #t "~a: ~a~%" label (parallelizer-failure-message e)))
              (#t (test-assert (format #f "~a: reported (got ~s)" label e)
                    #f)))
      (parallelizer-run p out-of-memory-job how #:timeout %run-timeout)
      (test-assert (string-append label ": the run fails") #f))
    (test-equal (string-append label ": no child process left")
      '() (child-pids))
    (test-equal (string-append label ": the next run works")
      (iota %processes) (ranks-run p))))

(run-suite
 "mp-soak"
 (lambda ()
   (let ((p (make-multiprocessing-parallelizer #:processes %processes)))
     ;; One run first, so that what a parallelizer keeps between runs (its
     ;; group) is counted on both sides.
     (test-equal "a first run" (iota %processes) (ranks-run p))
     (check-stage p "successful runs" %runs
                  (lambda (i) (successful-run p i)))
     (check-stage p "failing runs" %failing-runs
                  (lambda (i) (failing-run p i)))
     (check-stage p "share/collect cycles" %share-cycles
                  (lambda (i)
                    (let ((ok? (share-cycle p i)))
                      ;; Collect what the cycle dropped.
                      (gc)
                      ok?)))
     (check-out-of-memory p 'one)
     (check-out-of-memory p 'many))))
