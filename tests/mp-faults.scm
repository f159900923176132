;;; Faults on the multiprocessing backend: a worker that raises, exits,
;;; is killed, sends what cannot travel or sleeps past the timeout; the
;;; main process failing; mismatched collectives; forking beside another
;;; thread; initializers and closures.
;;;
;;;   ./pre-inst-env guile -L tests tests/mp-faults.scm
;;;
;;; Every failure must reach the main process as a parallelizer-error
;;; naming the process at fault, quickly (times are measured on the
;;; monotonic clock), and leave no child process, no new /dev/shm entry
;;; and a parallelizer that runs the next job normally. Every run has a
;;; #:timeout, so that a hang fails the case instead of the whole suite.

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (every iota))
             (ice-9 control)
             (ice-9 exceptions)
             (ice-9 ftw)
             (ice-9 match)
             (ice-9 popen)
             (ice-9 rdelim)
             (ice-9 threads)
             (parallelizer)
             (harness)
             (mp-hygiene))

;; Bounds every run that is not about timeouts: far beyond what any case
;; needs, far below the driver's limit for the whole suite.
(define %run-timeout 60)

;; A worker that dies, raises or times out is an error on the main process
;; within a second on a quiet machine (DESIGN); the tests allow five, so
;; that a machine busy with other work does not fail them. What they catch
;; is a failure that is noticed late or never: a wait that does not poll
;; its peers, a kill that is not reaped. Speed is measured in bench/.
(define %detection-bound 5.0)

(define tmp-dir
  (let ((dir (string-append (or (getenv "TMPDIR") "/tmp")
                            "/mp-faults-XXXXXX")))
    (mkdtemp dir)))

(define (tmp-file name)
  (string-append tmp-dir "/" name))

(define shm-before (shm-entries))

(define (rank p) (parallelizer-id p))

(define (run p job . args)
  (apply parallelizer-run p job (append args (list #:timeout %run-timeout))))

(define (run-failure thunk)
  ;; Call THUNK; return the condition it raises and the seconds it took,
  ;; or #f and the seconds if it returns.
  (let ((start (monotonic-seconds)))
    (guard (e (#t (values e (- (monotonic-seconds) start))))
      (thunk)
      (values #f (- (monotonic-seconds) start)))))

(define (failure-text e)
  ;; The error E as the REPL would print it.
  (if (exception? e)
      (call-with-output-string
        (lambda (port)
          (print-exception port #f (exception-kind e) (exception-args e))))
      ""))

(define (mentions? e . words)
  (let ((text (failure-text e)))
    (every (lambda (w) (string-contains text w)) words)))

(define (failure-field accessor e)
  (and (exception? e) (parallelizer-failure? e) (accessor e)))

(define-job (ranks-job p)
  (gather p (rank p)))

(define (check-after-failure p label)
  ;; What every failure must leave: nothing, and a working parallelizer.
  (test-equal (string-append label ": no child process left")
    '() (child-pids))
  (test-equal (string-append label ": nothing new in /dev/shm")
    '() (new-shm-entries shm-before))
  (test-equal (string-append label ": the next job runs")
    (iota (parallelizer-nprocs p))
    (run p ranks-job)))

;; Jobs start by gathering their pids, which the main process keeps (its
;; heap is its own) to compare with what the failure reports.
(define job-pids #f)

(define (record-pids! p)
  (let ((pids (gather p (getpid))))
    (when (on-main? p)
      (set! job-pids pids))))

(define-job (raising-job p culprit)
  (record-pids! p)
  (when (= (rank p) culprit)
    (error "deliberate failure on rank" culprit 'tag "irritant"))
  (barrier p)
  (gather p 'unreached))

(define-job (exiting-job p culprit stamp)
  ;; The culprit exits while every other process waits on it in a gather.
  (record-pids! p)
  (when (= (rank p) culprit)
    (usleep 300000)
    (write-monotonic-time stamp)
    (primitive-_exit 3))
  (gather p (rank p)))

(define-job (killed-job p culprit stamp)
  ;; The culprit kills itself while the others wait in a barrier.
  (record-pids! p)
  (when (= (rank p) culprit)
    (usleep 300000)
    (write-monotonic-time stamp)
    (kill (getpid) SIGKILL))
  (barrier p)
  (gather p 'unreached))

(define (a-procedure-that-cannot-travel x)
  x)

(define-job (sending-procedure-job p culprit)
  (record-pids! p)
  (cond
   ((= (rank p) culprit) (send-to p a-procedure-that-cannot-travel 0))
   ((on-main? p) (receive-from p culprit)))
  (barrier p))

(define-job (gathering-procedure-job p culprit)
  (gather p (if (= (rank p) culprit)
                (list 1 a-procedure-that-cannot-travel)
                (rank p))))

(define-job (broadcasting-procedure-job p)
  (broadcast p (and (on-main? p) a-procedure-that-cannot-travel)))

(define-job (main-raising-job p)
  (when (on-main? p)
    (usleep 200000)
    (error "deliberate failure on the main process" 7))
  (barrier p))

(define-job (scatter-gather-job p)
  ;; Rank 0 scatters while rank 1 gathers; the others scatter.
  (if (= (rank p) 1)
      (gather p 'from-one)
      (scatter p (and (on-main? p) (iota (* 2 (parallelizer-nprocs p)))))))

(define-job (gather-scatter-job p)
  ;; Rank 0 gathers (and waits to receive) while rank 1 scatters (and
  ;; waits to receive from the root).
  (if (= (rank p) 1)
      (scatter p #f)
      (gather p (rank p))))

(define-job (sleeping-job p culprit)
  (when (= (rank p) culprit)
    (sleep 100000))
  (gather p (rank p)))

(define (check-worker-raises n)
  (let* ((p (make-multiprocessing-parallelizer #:processes n))
         (culprit (1- n))
         (label (format #f "worker raises (~a processes)" n)))
    (set! job-pids #f)
    (call-with-values (lambda () (run-failure
                                  (lambda () (run p raising-job culprit))))
      (lambda (e seconds)
        (test-equal (string-append label ": key") 'parallelizer-error
          (and (exception? e) (exception-kind e)))
        (test-assert (string-append label ": a &parallelizer-failure")
          (and (exception? e) (parallelizer-failure? e)))
        (test-equal (string-append label ": rank") culprit
          (failure-field parallelizer-failure-rank e))
        (test-assert (string-append label ": pid is the worker's")
          (let ((pid (failure-field parallelizer-failure-pid e)))
            (and job-pids pid (not (= pid (getpid)))
                 (= pid (list-ref job-pids culprit)))))
        (test-equal (string-append label ": original key") 'misc-error
          (failure-field parallelizer-failure-key e))
        (test-assert (string-append label ": original message")
          (let ((m (failure-field parallelizer-failure-message e)))
            (and (string? m)
                 (string-contains m "deliberate failure on rank"))))
        (test-equal (string-append label ": irritants")
          (list culprit 'tag "irritant")
          ;; Evaluated, error puts its message first among the
          ;; irritants; compiled, it does not.
          (let ((irritants (failure-field parallelizer-failure-irritants e)))
            (and (list? irritants) (>= (length irritants) 3)
                 (list-tail irritants (- (length irritants) 3)))))
        (test-assert (string-append label ": backtrace of the worker")
          ;; Compiled, the job's frame has its name; evaluated, the call
          ;; to error shows instead.
          (let ((bt (failure-field parallelizer-failure-backtrace e)))
            (and (string? bt)
                 (string-contains bt "raise-exception")
                 (or (string-contains bt "raising-job")
                     (string-contains bt "(error ")))))
        (test-assert (string-append label ": message names rank and error")
          (mentions? e (format #f "rank ~a" culprit)
                     "deliberate failure on rank"))
        (test-assert (string-append label ": fast")
          (< seconds %detection-bound))
        (check-after-failure p label)))))

(define (check-worker-dies n job-name job what)
  ;; JOB makes its culprit stamp the time and then die; WHAT is what the
  ;; error must say of the death.
  (let* ((p (make-multiprocessing-parallelizer #:processes n))
         (culprit 1)
         (stamp (tmp-file (format #f "~a-~a" job-name n)))
         (label (format #f "~a (~a processes)" job-name n)))
    (set! job-pids #f)
    (when (file-exists? stamp)
      (delete-file stamp))
    (call-with-values (lambda () (run-failure
                                  (lambda () (run p job culprit stamp))))
      (lambda (e seconds)
        (let* ((now (monotonic-seconds))
               (died (read-monotonic-time stamp))
               (delay (and died (- now died))))
          (test-equal (string-append label ": key") 'parallelizer-error
            (and (exception? e) (exception-kind e)))
          (test-equal (string-append label ": rank") culprit
            (failure-field parallelizer-failure-rank e))
          (test-assert (string-append label ": pid is the worker's")
            (let ((pid (failure-field parallelizer-failure-pid e)))
              (and job-pids pid (= pid (list-ref job-pids culprit)))))
          (test-assert (string-append label ": message names rank and end")
            (mentions? e (format #f "rank ~a" culprit) what))
          (test-assert (format #f "~a: error within ~a s of the death (~,3f s)"
                               label %detection-bound delay)
            (and delay (< delay %detection-bound)))
          (format #t "~a: error ~,3f s after the death~%" label delay)
          (check-after-failure p label))))))

(define (check-unsendable n)
  (let* ((p (make-multiprocessing-parallelizer #:processes n))
         (culprit (1- n)))
    (let ((label (format #f "worker sends a procedure (~a processes)" n)))
      (set! job-pids #f)
      (call-with-values (lambda ()
                          (run-failure
                           (lambda () (run p sending-procedure-job culprit))))
        (lambda (e seconds)
          (test-equal (string-append label ": key") 'parallelizer-error
            (and (exception? e) (exception-kind e)))
          (test-equal (string-append label ": rank") culprit
            (failure-field parallelizer-failure-rank e))
          (test-assert (string-append label ": names the procedure")
            (mentions? e (format #f "rank ~a" culprit) "procedure"
                       "a-procedure-that-cannot-travel"))
          (check-after-failure p label))))
    (let ((label (format #f "worker gathers a procedure (~a processes)" n)))
      (call-with-values (lambda ()
                          (run-failure
                           (lambda () (run p gathering-procedure-job
                                           culprit))))
        (lambda (e seconds)
          (test-equal (string-append label ": rank") culprit
            (failure-field parallelizer-failure-rank e))
          (test-assert (string-append label ": names the procedure")
            (mentions? e "a-procedure-that-cannot-travel"))
          (check-after-failure p label))))
    (let ((label (format #f "main broadcasts a procedure (~a processes)" n)))
      (call-with-values (lambda ()
                          (run-failure
                           (lambda () (run p broadcasting-procedure-job))))
        (lambda (e seconds)
          (test-equal (string-append label ": key") 'parallelizer-error
            (and (exception? e) (exception-kind e)))
          (test-equal (string-append label ": rank") 0
            (failure-field parallelizer-failure-rank e))
          (test-assert (string-append label ": names the procedure")
            (mentions? e "a-procedure-that-cannot-travel"))
          (check-after-failure p label))))))

(define (check-main-raises n)
  (let ((p (make-multiprocessing-parallelizer #:processes n))
        (label (format #f "main raises (~a processes)" n)))
    (call-with-values (lambda ()
                        (run-failure (lambda () (run p main-raising-job))))
      (lambda (e seconds)
        (test-equal (string-append label ": key") 'parallelizer-error
          (and (exception? e) (exception-kind e)))
        (test-equal (string-append label ": rank") 0
          (failure-field parallelizer-failure-rank e))
        (test-equal (string-append label ": pid is main's") (getpid)
          (failure-field parallelizer-failure-pid e))
        (test-equal (string-append label ": original key") 'misc-error
          (failure-field parallelizer-failure-key e))
        (test-assert (string-append label ": main's message")
          (mentions? e "rank 0" "deliberate failure on the main process 7"))
        (test-assert (format #f "~a: ends within ~a s of the raise (~,3f s)"
                             label %detection-bound (- seconds 0.2))
          (< (- seconds 0.2) %detection-bound))
        (check-after-failure p label)))))

(define (check-mismatch n job order)
  (let ((p (make-multiprocessing-parallelizer #:processes n))
        (label (format #f "mismatched collectives, ~a (~a processes)"
                       order n)))
    (call-with-values (lambda () (run-failure (lambda () (run p job))))
      (lambda (e seconds)
        (test-equal (string-append label ": key") 'parallelizer-error
          (and (exception? e) (exception-kind e)))
        (test-assert (string-append label ": names both operations")
          (mentions? e "scatter" "gather"))
        (test-assert (format #f "~a: fast (~,3f s)" label seconds)
          (< seconds %detection-bound))
        (check-after-failure p label)))))

(define (check-timeout n make-p run-timeout label)
  ;; A worker sleeps for ever, outside any collective, while the main
  ;; process waits for it; the run must end at its timeout, not before
  ;; and not much after.
  (let* ((p (make-p))
         (timeout 1.5))
    (call-with-values
        (lambda ()
          (run-failure
           (lambda ()
             (if run-timeout
                 (parallelizer-run p sleeping-job (1- n) #:timeout timeout)
                 (parallelizer-run p sleeping-job (1- n))))))
      (lambda (e seconds)
        (test-equal (string-append label ": key") 'parallelizer-error
          (and (exception? e) (exception-kind e)))
        (test-assert (string-append label ": says it timed out")
          (mentions? e "timed out"))
        (test-equal (string-append label ": its code") 'ETIMEDOUT
          (and (exception? e) (parallelizer-error-code e)))
        (test-assert (format #f "~a: not before the timeout (~,3f s)"
                             label seconds)
          (>= seconds timeout))
        (test-assert (format #f "~a: within the timeout + 1 s (~,3f s)"
                             label seconds)
          (< seconds (+ timeout 1)))
        (format #t "~a: ended after ~,3f s for a timeout of ~a s~%"
                label seconds timeout)
        (test-equal (string-append label ": no child process left")
          '() (child-pids))
        (test-equal (string-append label ": nothing new in /dev/shm")
          '() (new-shm-entries shm-before))
        (test-equal (string-append label ": the next job runs")
          (iota n)
          (parallelizer-run p ranks-job #:timeout 30))))))

(define (check-threads)
  (let* ((p (make-multiprocessing-parallelizer #:processes 3))
         (gate (pipe))
         (thread (call-with-new-thread
                  (lambda () (read-char (car gate))))))
    ;; The thread blocks on the pipe until the gate opens.
    (call-with-values (lambda () (run-failure (lambda () (run p ranks-job))))
      (lambda (e seconds)
        (test-equal "fork beside a thread: key" 'parallelizer-error
          (and (exception? e) (exception-kind e)))
        (test-assert "fork beside a thread: the error mentions threads"
          (mentions? e "thread"))
        (test-equal "fork beside a thread: no child process"
          '() (child-pids))))
    (write-char #\x (cdr gate))
    (force-output (cdr gate))
    (join-thread thread)
    (close-port (car gate))
    (close-port (cdr gate))
    (test-equal "once the thread is joined, runs work again"
      '(0 1 2) (run p ranks-job))
    (test-equal "no child process left after the thread case"
      '() (child-pids))))

;; Set by the initializer, in the main process only.
(define initializer-pids '())
(define initializer-token #f)

(define (initializer)
  (set! initializer-pids (cons (getpid) initializer-pids))
  (set! initializer-token (list 'token (length initializer-pids))))

(define-job (initialized-job p)
  (gather p (list (rank p) initializer-token)))

(define (check-initializer)
  (let ((p (make-multiprocessing-parallelizer #:processes 3
                                              #:initializer initializer)))
    (set! initializer-pids '())
    (test-equal "workers see what the initializer set"
      '((0 (token 1)) (1 (token 1)) (2 (token 1)))
      (run p initialized-job))
    (test-equal "the initializer ran once, in the main process"
      (list (getpid)) initializer-pids)
    (test-equal "it runs again before the next run's fork"
      '((0 (token 2)) (1 (token 2)) (2 (token 2)))
      (run p initialized-job))
    (test-equal "still in the main process only"
      (list (getpid) (getpid)) initializer-pids)))

(define (check-closures n)
  (let* ((p (make-multiprocessing-parallelizer #:processes n))
         (secret (list 'made-after-the-parallelizer (random 1000000)))
         (closure (lambda* (#:key parallelizer)
                    (gather parallelizer (cons (rank parallelizer) secret)))))
    (test-equal (format #f "workers run a closure made after the parallelizer (~a processes)" n)
      (map (lambda (r) (cons r secret)) (iota n))
      (run p closure))
    ;; A top-level procedure defined after the parallelizer, by eval.
    (eval '(define (defined-after-the-parallelizer r) (* r 100))
          (current-module))
    (test-equal (format #f "workers call a procedure defined after it (~a processes)" n)
      (map (lambda (r) (* r 100)) (iota n))
      (run p (lambda* (#:key parallelizer)
               (gather parallelizer
                       ((module-ref (current-module)
                                    'defined-after-the-parallelizer)
                        (rank parallelizer))))))))

;;; Escapes: a continuation or a prompt of the main program, captured
;;; before the run, used by a worker's job. The worker must end, reported
;;; as an error that names the escape; it must never go on with the rest
;;; of the main program (here: write its pid to a file).

(define (escape-with kind p marker)
  ;; Run a job whose worker 1 escapes by KIND to the code that follows the
  ;; run in this program, which writes this process's pid to MARKER.
  (define (job escape)
    (lambda* (#:key parallelizer)
      (when (= (rank parallelizer) 1)
        (escape))
      (barrier parallelizer)
      'finished))
  (define (after-run . outcome)
    ;; What the main program does after the run, in whichever process
    ;; gets here.
    (let ((port (open-file marker "a")))
      (format port "~a~%" (getpid))
      (close-port port))
    (apply values outcome))
  (call-with-values
      (lambda ()
        (case kind
          ((let/ec)
           (let/ec k
             (run-failure (lambda ()
                            (run p (job (lambda () (k 'escaped))))))))
          ((call/cc)
           (call/cc
            (lambda (k)
              (run-failure (lambda ()
                             (run p (job (lambda () (k 'escaped)))))))))
          ((abort-to-prompt)
           (let ((tag (make-prompt-tag "outer")))
             (call-with-prompt tag
               (lambda ()
                 (run-failure
                  (lambda ()
                    (run p (job (lambda () (abort-to-prompt tag)))))))
               (lambda (k) 'escaped))))))
    after-run))

(define (check-escape kind)
  (let* ((p (make-multiprocessing-parallelizer #:processes 3))
         (marker (tmp-file (format #f "escape-~a"
                                   (string-delete #\/ (symbol->string kind)))))
         (label (format #f "a worker escapes by ~a" kind)))
    (when (file-exists? marker)
      (delete-file marker))
    (call-with-values (lambda () (escape-with kind p marker))
      (lambda (e seconds)
        (test-equal (string-append label ": the run fails on main")
          'parallelizer-error (and (exception? e) (exception-kind e)))
        (test-equal (string-append label ": at rank 1") 1
          (failure-field parallelizer-failure-rank e))
        (test-assert (string-append label ": the error names the escape")
          (mentions? e "rank 1" "left its worker" "let/ec"
                     "abort-to-prompt"))
        (test-equal (string-append label ": its key") 'non-local-exit
          (failure-field parallelizer-failure-key e))
        (test-equal (string-append label ": only main runs the rest of \
the program")
          (list (getpid))
          (call-with-input-file marker
            (lambda (port)
              (let loop ((pids '()))
                (match (read port)
                  ((? eof-object?) (reverse pids))
                  (pid (loop (cons pid pids))))))))
        (test-assert (format #f "~a: fast (~,3f s)" label seconds)
          (< seconds %detection-bound))
        (check-after-failure p label)))))

(define-job (worker-exit-job p)
  (when (= (rank p) 2)
    (exit 7))
  (barrier p))

(define (check-worker-exit)
  (let ((p (make-multiprocessing-parallelizer #:processes 3)))
    (call-with-values (lambda () (run-failure
                                  (lambda () (run p worker-exit-job))))
      (lambda (e seconds)
        (test-equal "(exit 7) in a worker: its rank" 2
          (failure-field parallelizer-failure-rank e))
        (test-assert "(exit 7) in a worker: the error says it exited"
          (mentions? e "rank 2" "exited with status 7"))
        (check-after-failure p "(exit 7) in a worker")))))

(define (check-main-exit)
  ;; (exit 7) in main's job ends the program with status 7, its workers
  ;; stopped first: in a program of its own.
  (let* ((pids (tmp-file "exit-pids"))
         (port (open-pipe*
                OPEN_READ "guile" "--no-auto-compile" "-c"
                (format #f "(use-modules (parallelizer))
(define p (make-multiprocessing-parallelizer #:processes 3))
(parallelizer-run p (lambda* (#:key parallelizer)
                      (let ((port (open-file ~s \"a\")))
                        (format port \"~~a~~%\" (getpid))
                        (close-port port))
                      (barrier parallelizer)
                      (when (on-main? parallelizer)
                        (exit 7))
                      (sleep 100))
                  #:timeout 60)
(display \"AFTER THE RUN\")" pids)))
         (output (read-string port))
         (status (status:exit-val (close-pipe port))))
    (test-equal "(exit 7) in main's job: the program exits with 7" 7 status)
    (test-equal "(exit 7) in main's job: nothing after the run runs" ""
      output)
    (test-assert "(exit 7) in main's job: no process of the run is left"
      (and (file-exists? pids)
           (let ((all (call-with-input-file pids
                        (lambda (port)
                          (let loop ((pids '()))
                            (match (read port)
                              ((? eof-object?) pids)
                              (pid (loop (cons pid pids)))))))))
             (and (= 3 (length all))
                  (not (any-alive? all))))))))

(define (any-alive? pids)
  (let loop ((pids pids))
    (and (pair? pids)
         (or (pid-alive? (car pids)) (loop (cdr pids))))))

(run-suite
 "mp-faults"
 (lambda ()
   (for-each
    (lambda (n)
      (check-worker-raises n)
      (check-worker-dies n "worker exits with status 3" exiting-job
                         "status 3")
      (check-worker-dies n "worker kills itself" killed-job "signal 9")
      (check-unsendable n)
      (check-main-raises n)
      (check-mismatch n scatter-gather-job "rank 0 scatters, rank 1 gathers")
      (check-mismatch n gather-scatter-job "rank 0 gathers, rank 1 scatters")
      (check-closures n))
    '(3 5))
   (check-timeout 3 (lambda () (make-multiprocessing-parallelizer
                                #:processes 3))
                  #t "run #:timeout, worker sleeps (3 processes)")
   (check-timeout 5 (lambda () (make-multiprocessing-parallelizer
                                #:processes 5 #:timeout 1.5))
                  #f "parallelizer #:timeout, worker sleeps (5 processes)")
   (check-threads)
   (check-initializer)
   (for-each check-escape '(let/ec call/cc abort-to-prompt))
   (check-worker-exit)
   (check-main-exit)
   (for-each (lambda (f) (delete-file (string-append tmp-dir "/" f)))
             (or (scandir tmp-dir (lambda (f) (not (member f '("." "..")))))
                 '()))
   (rmdir tmp-dir)))
