;;; A rank that waits long for another costs next to no CPU.
;;;
;;;   parallelizer run -n 2 --backend mpi tests/mpi-waits.scm
;;;
;;; Open MPI's own blocking calls poll a core flat out for as long as they
;;; wait; the backend's waits sleep once they last. Each test makes rank 1
;;; wait about two seconds (in a barrier, a receive, a broadcast, at the end
;;; of a run, and, last, as its script ends while rank 0 still computes) and
;;; reads from /proc how much CPU time it used meanwhile. The ranks must be
;;; on one host (rank 0 reads rank 1's /proc entry for the last test).

(use-modules (ice-9 rdelim)
             (srfi srfi-4)
             (srfi srfi-64)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-mpi-parallelizer))

(define wait-seconds 2)

;; A waiting process may use this share of the time it waits: the first
;; milliseconds spin and yield, then it sleeps.
(define allowed-share 0.25)

(define ticks-per-second
  ;; The unit of /proc/PID/stat's times (USER_HZ), 100 on Linux.
  100)

(define (cpu-seconds pid)
  "The user and system CPU time that process PID (or \"self\") has used."
  (let* ((line (call-with-input-file (format #f "/proc/~a/stat" pid)
                 read-line))
         ;; The fields after the command name, which is in parentheses.
         (fields (string-split (substring line (+ 2 (string-rindex line #\))))
                               #\space)))
    ;; utime and stime are fields 14 and 15 of the whole line.
    (/ (+ (string->number (list-ref fields 11))
          (string->number (list-ref fields 12)))
       ticks-per-second)))

(define (wall-seconds)
  (/ (get-internal-real-time) internal-time-units-per-second 1.))

(define (share-while-waiting wait)
  "Run a job in which rank 0 computes for WAIT-SECONDS, then calls (WAIT P),
and the other ranks call (WAIT P) at once. Return, on rank 0, rank 1's
CPU time during its wait as a share of the wait's length."
  (parallelizer-run
   p
   (lambda* (#:key parallelizer)
     (let ((q parallelizer))
       (barrier q)
       (let ((cpu (cpu-seconds "self"))
             (start (wall-seconds)))
         (when (on-main? q)
           (sleep wait-seconds))
         (wait q)
         (let ((shares (gather q (/ (- (cpu-seconds "self") cpu)
                                    (- (wall-seconds) start)))))
           (and (on-main? q) (cadr shares))))))))

(define-syntax-rule (test-idle name wait)
  (test-assert name
    (let ((share (share-while-waiting wait)))
      (or (< share allowed-share)
          (begin
            (format (current-error-port) "~a: rank 1 used ~,1f% of a core~%"
                    name (* 100 share))
            #f)))))

(run-suite
 "mpi-waits"
 (lambda ()
   (when (< (parallelizer-nprocs p) 2)
     (test-skip 6))

   (test-idle "in a barrier"
              (lambda (q) (barrier q)))

   (test-idle "in receive-from"
              (lambda (q)
                (case (parallelizer-id q)
                  ((0) (send-to q 'go 1))
                  ((1) (receive-from q 0)))))

   (test-idle "in a broadcast"
              (lambda (q) (broadcast q (and (on-main? q) (iota 10)))))

   (test-idle "in a scatter of an f64vector"
              (lambda (q)
                (scatter q (and (on-main? q)
                                (make-f64vector (* 2 (parallelizer-nprocs q))
                                                1.)))))

   (test-assert "at the end of a run"
     ;; Rank 1 returns from the job at once, and waits for rank 0 at the
     ;; end of the run.
     (let* ((pids (parallelizer-run
                   p (lambda* (#:key parallelizer)
                       (gather parallelizer (getpid)))))
            (cpu (parallelizer-run
                  p (lambda* (#:key parallelizer)
                      (and (on-main? parallelizer)
                           (let ((before (cpu-seconds (cadr pids))))
                             (sleep wait-seconds)
                             (- (cpu-seconds (cadr pids)) before)))))))
       (< (/ cpu wait-seconds) allowed-share)))

   (test-assert "as the script ends"
     ;; The other ranks end their script after this test; rank 0 computes
     ;; a while longer before it ends its own.
     (let ((pids (parallelizer-run
                  p (lambda* (#:key parallelizer)
                      (gather parallelizer (getpid))))))
       (or (not (on-main? p))
           (let ((before (cpu-seconds (cadr pids))))
             (sleep wait-seconds)
             (< (/ (- (cpu-seconds (cadr pids)) before) wait-seconds)
                allowed-share)))))))
