;;; Shared memory when processes die, and what is left behind: nothing.
;;;
;;;   ./pre-inst-env guile -L tests/lib tests/shared-faults.scm
;;;
;;; A worker killed (SIGKILL) while it holds the lock of a shared dict
;;; must not stop the others, and one killed at any instant of a change
;;; must leave the dict as it was before that change. After a run, after
;;; the objects are collected, after a worker is killed half way and after
;;; the main process exits or is killed, no memory of ours may remain
;;; mapped and nothing may appear in /dev/shm; the cases that end a main
;;; process run in a guile of their own. Every run has a #:timeout and
;;; every wait a bound, so that a hang fails a case, not the suite.

(use-modules (srfi srfi-4)
             (srfi srfi-64)
             ((srfi srfi-1) #:select (every))
             (ice-9 exceptions)
             (ice-9 match)
             (ice-9 popen)
             (ice-9 rdelim)
             (parallelizer)
             ((parallelizer primitives)
              #:select (%shared-inject-crash! %shared-statistics))
             (harness)
             (mp-hygiene))

(define %run-timeout 60)

(define shm-before (shm-entries))

(define (run p job . args)
  (apply parallelizer-run p job (append args (list #:timeout %run-timeout))))

(define (run-failure p job . args)
  ;; The condition the run raises, or #f.
  (guard (e (#t e))
    (apply run p job args)
    #f))

(define (wait-until ready? seconds)
  ;; Poll READY? until it returns true, at most SECONDS; return its value.
  (let loop ((waited 0.0))
    (or (ready?)
        (and (< waited seconds)
             (begin (usleep 2000) (loop (+ waited 0.002)))))))

(define (statistic obj name)
  (assq-ref (%shared-statistics obj) name))

(define (repeat count thunk)
  (let loop ((i 0))
    (when (< i count)
      (thunk)
      (loop (1+ i)))))

;;; A worker killed holding the lock of a dict.

(define-job (kill-holder-job p d flags)
  ;; Rank 1 takes D's lock in shared-dict-update! and never gives it back;
  ;; rank 2 kills it there, then updates D 1000 times; rank 0 waits for
  ;; rank 2. FLAGS: the pid of rank 1 once it holds the lock, then 1 once
  ;; rank 2 is done.
  (case (parallelizer-id p)
    ((1)
     (shared-dict-update! d 'n (lambda (old)
                                 (s32vector-set! flags 0 (getpid))
                                 (let loop () (usleep 1000) (loop)))
                          #:default 0))
    ((2)
     (when (wait-until (lambda () (> (s32vector-ref flags 0) 0)) 30)
       (kill (s32vector-ref flags 0) SIGKILL)
       (repeat 1000 (lambda () (shared-dict-update! d 'n 1+ #:default 0)))
       (s32vector-set! flags 1 1)))
    (else
     (wait-until (lambda () (= 1 (s32vector-ref flags 1))) 30))))

(define-job (increment-job p d)
  (repeat 100 (lambda () (shared-dict-update! d 'n 1+ #:default 0)))
  (gather p #t))

;;; A worker killed at each write of a change in turn.

(define long-old (make-string 40 #\o))
(define long-new (make-string 40 #\n))

(define-job (change-job p d n)
  ;; Rank 1 replaces an entry, adds one and updates a third, and is killed
  ;; at its Nth journaled write.
  (unless (on-main? p)
    (%shared-inject-crash! n)
    (shared-dict-set! d 'replaced long-new)
    (shared-dict-set! d (list 'added n) (f64vector 1 2 3))
    (shared-dict-update! d 'count 1+ #:default 0)
    (%shared-inject-crash! 0)))

(define (consistent? d n)
  ;; What any prefix of change-job leaves.
  (and (member (shared-dict-ref d 'replaced) (list long-old long-new))
       (member (shared-dict-ref d (list 'added n)) (list #f #f64(1 2 3)))
       (member (shared-dict-ref d 'count) '(0 1))
       #t))

;;; Programs run by a guile of their own.

(define prelude
  ;; What every program starts with: how it counts the memory of ours it
  ;; maps and the memfds it has open.
  '((use-modules (parallelizer) (srfi srfi-4) (ice-9 rdelim) (ice-9 ftw)
                 ((parallelizer primitives) #:select (%shared-inject-crash!)))
    (define (mapped)
      (call-with-input-file "/proc/self/maps"
        (lambda (port)
          (let loop ((n 0))
            (let ((line (read-line port)))
              (if (eof-object? line)
                  n
                  (loop (if (string-contains line "parallelizer-shm")
                            (1+ n)
                            n))))))))
    (define (memfds)
      (length (filter (lambda (fd)
                        (let ((target (false-if-exception
                                       (readlink
                                        (string-append "/proc/self/fd/"
                                                       fd)))))
                          (and target
                               (string-contains target "parallelizer-shm"))))
                      (scandir "/proc/self/fd" string->number))))
    (define (collected)
      ;; (MAPPED MEMFDS) once collections have let everything go.
      (let loop ((i 0))
        (gc)
        (usleep 10000)
        (if (and (> (+ (mapped) (memfds)) 0) (< i 300))
            (loop (1+ i))
            (list (mapped) (memfds)))))
    (define p (make-multiprocessing-parallelizer #:processes 3
                                                 #:timeout 60))))

(define (guile-program forms)
  ;; Start a guile running PRELUDE and FORMS; return its pipe and the file
  ;; of the program, which the caller deletes once the program is done.
  (let* ((port (mkstemp! (string-copy "/tmp/shared-faults-XXXXXX")))
         (file (port-filename port)))
    (for-each (lambda (form) (write form port) (newline port))
              (append prelude forms))
    (close-port port)
    (values (open-pipe* OPEN_READ "guile" "--no-auto-compile" file) file)))

(define (program-value forms)
  ;; The last datum the program FORMS writes, or #f.
  (call-with-values (lambda () (guile-program forms))
    (lambda (pipe file)
      (let loop ((last #f))
        (let ((datum (read pipe)))
          (if (eof-object? datum)
              (begin
                (close-pipe pipe)
                (delete-file file)
                last)
              (loop datum)))))))

(define (all-gone? pids)
  (wait-until (lambda () (not (any-alive? pids))) 10))

(define (any-alive? pids)
  (and (pair? pids) (or (pid-alive? (car pids)) (any-alive? (cdr pids)))))

(run-suite
 "shared-faults"
 (lambda ()
   (test-group "a worker killed holding a lock does not stop the others"
     (let* ((p (make-multiprocessing-parallelizer #:processes 3))
            (d (share p (make-hash-table)))
            (flags (share p (make-s32vector 2 0)))
            (e (run-failure p kill-holder-job d flags)))
       (test-assert "the run fails" (parallelizer-failure? e))
       (test-equal "for the death of rank 1" 1 (parallelizer-failure-rank e))
       (test-equal "the other worker went on" 1 (s32vector-ref flags 1))
       (test-equal "its updates all counted" 1000 (shared-dict-ref d 'n))
       (test-assert "the lock was recovered"
         (>= (statistic d 'recoveries) 1))
       (run p increment-job d)
       (test-equal "every process updates it afterwards" 1300
         (shared-dict-ref d 'n))
       (test-equal "no child process left" '() (child-pids))))

   (test-group "a worker killed at any write leaves the data consistent"
     (let* ((p (make-multiprocessing-parallelizer #:processes 2))
            (d (share p (make-hash-table))))
       (shared-dict-set! d 'replaced long-old)
       (shared-dict-set! d 'count 0)
       (let loop ((n 1) (bad '()))
         (let ((e (run-failure p change-job d n)))
           (unless (consistent? d n)
             (set! bad (cons n bad)))
           ;; The dict and the memory behind it still work.
           (shared-dict-set! d 'probe (make-string 100 #\p))
           (shared-dict-delete! d 'probe)
           (if (and e (< n 300))
               (begin
                 (shared-dict-set! d 'replaced long-old)
                 (shared-dict-set! d 'count 0)
                 (loop (1+ n) bad))
               (begin
                 (test-equal "consistent after every kill" '() bad)
                 (test-assert "the change completed in the end" (not e))
                 (test-assert "it took several kills" (> n 10))
                 (test-assert "locks were recovered"
                   (>= (statistic d 'recoveries) 1))))))
       (test-equal "no child process left" '() (child-pids))))

   (test-group "nothing left mapped or open"
     (test-equal "after a run and a collection" '(0 0 3)
       (program-value
        '((define (work)
            (let* ((t (make-hash-table)))
              (hash-set! t 'v (make-f64vector 1000 1.0))
              (hash-set! t 'inner (make-hash-table))
              (let ((d (share p t)))
                (parallelizer-run
                 p (lambda* (#:key parallelizer)
                     (shared-dict-update! d 'n 1+ #:default 0)
                     (shared-dict-set! (shared-dict-ref d 'inner)
                                       (parallelizer-id parallelizer)
                                       (make-f64vector 10))
                     (gather parallelizer
                             (share parallelizer (make-u8vector 100)))))
                (shared-dict-ref d 'n))))
          (let ((n (work)))
            (write (append (collected) (list n)))))))
     (test-equal "after a run that shares nothing, without a collection"
       '(0 0)
       (program-value
        '((parallelizer-run p (lambda* (#:key parallelizer) #t))
          (write (list (mapped) (memfds))))))
     (test-equal "after a worker is killed half way through an update"
       '(killed 0 0)
       (program-value
        '((define (work)
            (let ((d (share p (make-hash-table))))
              (catch #t
                (lambda ()
                  (parallelizer-run
                   p (lambda* (#:key parallelizer)
                       (unless (on-main? parallelizer)
                         (%shared-inject-crash! 3)
                         (shared-dict-set! d 'k (make-string 50 #\k))))))
                (lambda _ 'killed))))
          (let ((outcome (work)))
            (write (cons outcome (collected))))))))

   (test-group "a full arena says so and goes on"
     (test-equal '(ENOMEM #t 1.0 #t)
       (program-value
        '((setenv "PARALLELIZER_SHM_CAPACITY" "2M")
          (define small (share p (make-f64vector 1000 1.0)))
          (define big (share p (make-f64vector 200000 0.0)))
          (define refusal
            (catch 'parallelizer-error
              (lambda () (share p (make-f64vector 200000 0.0)) #f)
              (lambda (key who message args rest)
                (list (car rest)
                      (string-contains (apply simple-format #f message args)
                                       "is full")))))
          (write (list (car refusal) (and (cadr refusal) #t)
                       (f64vector-ref small 999)
                       (shared? (share p (make-f64vector 100 0.0)))))))))

   (test-group "nothing left after the main process ends"
     (let ((pids (program-value
                  '((define d (share p (make-hash-table)))
                    (define pids
                      (parallelizer-run
                       p (lambda* (#:key parallelizer)
                           (shared-dict-set! d (parallelizer-id parallelizer)
                                             (make-f64vector 100))
                           (gather parallelizer (getpid)))))
                    (write pids)
                    (exit 0)))))
       (test-assert "it ran" (and (list? pids) (= 3 (length pids))))
       (test-assert "every process gone" (all-gone? pids)))
     (call-with-values
         (lambda ()
           (guile-program
                   '((define d (share p (make-hash-table)))
                     (parallelizer-run
                      p (lambda* (#:key parallelizer)
                          (let ((pids (gather parallelizer (getpid))))
                            (when (on-main? parallelizer)
                              (write pids)
                              (newline)
                              (force-output)))
                          ;; Every process updates D until killed.
                          (let loop ()
                            (shared-dict-update! d 'n 1+ #:default 0)
                            (loop)))))))
       (lambda (pipe file)
         (let ((pids (read pipe)))
           (test-assert "it runs" (and (list? pids) (= 3 (length pids))))
           (when (list? pids)
             (usleep 100000)
             (kill (car pids) SIGKILL)
             (test-assert "killed, its workers die with it"
               (all-gone? pids)))
           (close-pipe pipe)
           (delete-file file)))))

   (test-equal "nothing new in /dev/shm" '() (new-shm-entries shm-before))
   (test-equal "no child process left" '() (child-pids))))
