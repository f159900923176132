;;; The multiprocessing fault matrix: every fault of a worker, at every
;;; stage of every kind of operation.
;;;
;;;   ./pre-inst-env guile -L tests tests/mp-fault-matrix.scm
;;;
;;; Faults: the worker raises an error, exits (_exit, as C code would), is
;;; killed (SIGKILL), or invokes an escape continuation that the main
;;; process captured before the run. Stages, for the worker at fault
;;; (rank 1 of 3):
;;;
;;;   encoding   inside the encoder, while it encodes the worker's value:
;;;              the value holds a struct whose test, (exception? X), the
;;;              encoder calls, and which the worker has made fault;
;;;   sending    while the worker waits in the operation to hand over a
;;;              value (4 MiB, larger than a ring) that its peers, busy
;;;              for a while, do not take yet: a timer's signal fires
;;;              there, and its handler faults;
;;;   receiving  while the worker waits in the operation for a value its
;;;              peers, busy for a while, have not sent yet (a timer, as
;;;              above);
;;;   decoding   inside the decoder, while it decodes a value sent to the
;;;              worker: the value holds a parallelizer, which the decoder
;;;              replaces by calling a hook that the worker has made fault;
;;;   computing  in the job's own code, just before the operation (inside
;;;              the mapped procedure for parallel-map, inside the
;;;              reduction's operator on the worker, the root, for reduce).
;;;
;;; Operations: broadcast, scatter, gather, parallel-map, reduce-to-root
;;; (with a Scheme operator), send-to/receive-from. The worker is the
;;; sending side (a root of broadcast and scatter, a contributor to gather
;;; and reduce) for encoding and sending, and the receiving side for
;;; receiving and decoding.
;;;
;;; Every cell must: fail on the main process, naming rank 1, within five
;;; seconds of the fault (the run has a 60 s timeout, so a hang fails the
;;; cell, not the suite); leave no child process and nothing new in
;;; /dev/shm; and leave the parallelizer able to run the next job.

(use-modules (srfi srfi-64)
             ((srfi srfi-1) #:select (every iota))
             (ice-9 control)
             (ice-9 exceptions)
             (ice-9 ftw)
             (ice-9 match)
             ((rnrs bytevectors) #:select (make-bytevector))
             (srfi srfi-9)
             (parallelizer)
             ((parallelizer core) #:select (<parallelizer>))
             ((parallelizer wire) #:select (%wire-set-parallelizer-hooks!))
             (harness)
             (mp-hygiene))

(define %run-timeout 60)
(define %detection-bound 5.0)
(define %culprit 1)
(define %nprocs 3)

;; How long the peers of the worker at fault stay away from the operation
;; in the sending and receiving stages, and when the worker's timer fires.
(define %peer-delay 0.8)
(define %alarm-after 0.2)

(define %big (* 4 1024 1024))

(define tmp-dir
  (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                          "/mp-fault-matrix-XXXXXX")))

(define stamp-file (string-append tmp-dir "/stamp"))

(define shm-before (shm-entries))

;; A struct the encoder cannot place among the types it knows, so that it
;; asks (exception? X): the hook of the encoding stage.
(define-record-type <marker>
  (make-marker)
  marker?)

(define the-marker (make-marker))

(define (fault! fault stage escape)
  ;; Do FAULT, now, in the worker at fault.
  (write-monotonic-time stamp-file)
  (match fault
    ('raise (error "deliberate fault while" stage))
    ('exit (primitive-_exit 3))
    ('sigkill (kill (getpid) SIGKILL))
    ('escape (escape 'escaped))))

(define (arm! fault stage escape)
  ;; In the worker at fault, before the operation: make STAGE fault.
  (match stage
    ('encoding
     (let* ((guile (resolve-module '(guile)))
            (exception? (module-ref guile 'exception?)))
       (module-set! guile 'exception?
                    (lambda (x)
                      (if (eq? x the-marker)
                          (fault! fault stage escape)
                          (exception? x))))))
    ('decoding
     (%wire-set-parallelizer-hooks! <parallelizer>
                                    (lambda ()
                                      (fault! fault stage escape))))
    ((or 'sending 'receiving)
     (sigaction SIGALRM (lambda (signal) (fault! fault stage escape)))
     (setitimer ITIMER_REAL 0 0 0 (inexact->exact
                                   (round (* %alarm-after 1e6)))))
    ('computing #t)))

(define (payload stage p)
  ;; What a sending worker contributes (encoding, sending), or what the
  ;; others send to a receiving worker (receiving, decoding).
  (match stage
    ('encoding (list 'value the-marker))
    ('sending (make-bytevector %big 7))
    ('receiving 'value)
    ('decoding (list 'value p))
    ('computing 'value)))

(define (culprit? p)
  (= (parallelizer-id p) %culprit))

(define (wait-if-busy p stage)
  ;; The peers of the worker at fault are busy for a while before the
  ;; operation, in the stages where it must be caught waiting in it.
  (when (and (not (culprit? p)) (memq stage '(sending receiving)))
    (usleep (inexact->exact (round (* %peer-delay 1e6))))))

(define (sending-side? stage)
  (memq stage '(encoding sending computing)))

(define* (cell-job fault stage op escape #:key parallelizer)
  (let* ((p parallelizer)
         (me (parallelizer-id p))
         (culprit? (culprit? p))
         (value (payload stage p))
         ;; The root of a rooted collective: the worker at fault when it
         ;; must send (broadcast, scatter) or receive (gather, reduce).
         (root (match op
                 ((or 'broadcast 'scatter)
                  (if (memq stage '(encoding sending)) %culprit 0))
                 ((or 'gather 'reduce)
                  (if (memq stage '(receiving decoding computing))
                      %culprit
                      0))
                 (_ 0))))
    (when culprit?
      (arm! fault stage escape)
      (when (and (eq? stage 'computing)
                 (not (memq op '(parallel-map reduce))))
        (fault! fault stage escape)))
    (wait-if-busy p stage)
    (match op
      ('broadcast
       (broadcast p (and (= me root) value) #:root root))
      ('scatter
       (scatter p (and (= me root) (make-list %nprocs value)) #:root root))
      ('gather
       (gather p (if (or culprit? (not (sending-side? stage))) value 'other)
               #:root root))
      ('reduce
       (reduce-to-root p
                       (lambda (a b)
                         (when (and culprit? (eq? stage 'computing))
                           (fault! fault stage escape))
                         a)
                       (if (or culprit? (not (sending-side? stage)))
                           value
                           'other)
                       #:root root))
      ('send/receive
       (cond
        ((sending-side? stage)
         (cond
          (culprit? (send-to p value 0))
          ((zero? me) (receive-from p %culprit))))
        ((zero? me) (send-to p value %culprit))
        (culprit? (receive-from p 0))))
      ('parallel-map
       ;; Static chunks of one item: rank R maps item R.
       (parallel-map p
                     (lambda (item)
                       (cond
                        ((not culprit?)
                         (when (and (zero? (parallelizer-id p))
                                    (eq? stage 'sending))
                           ;; The main process maps its own item while
                           ;; the worker sends its result.
                           (usleep (inexact->exact
                                    (round (* %peer-delay 1e6)))))
                         0)
                        ((eq? stage 'computing) (fault! fault stage escape))
                        ((memq stage '(encoding sending)) value)
                        (else 0)))
                     (and (zero? me)
                          (make-list %nprocs
                                     (if (memq stage '(receiving decoding))
                                         value
                                         0))))))
    (barrier p)
    'done))

(define-job (ranks-job p)
  (gather p (parallelizer-id p)))

(define (fault-text fault)
  ;; What the error must say of FAULT.
  (match fault
    ('raise "deliberate fault while")
    ('exit "status 3")
    ('sigkill "signal 9")
    ('escape "left its worker")))

(define (error-text e)
  (if (exception? e)
      (call-with-output-string
        (lambda (port)
          (print-exception port #f (exception-kind e) (exception-args e))))
      (format #f "~s" e)))

(define cells 0)
(define slowest 0)

(define (check-cell p fault stage op)
  (let ((label (format #f "~a while ~a, ~a" fault stage op)))
    (when (file-exists? stamp-file)
      (delete-file stamp-file))
    (let* ((outcome
            (let/ec escape
              (guard (e (#t (list 'raised e (monotonic-seconds))))
                (list 'returned
                      (parallelizer-run p cell-job fault stage op escape
                                        #:timeout %run-timeout)))))
           (faulted (read-monotonic-time stamp-file)))
      (set! cells (1+ cells))
      (match outcome
        (('raised e end)
         (let ((delay (and faulted (- end faulted))))
           (test-assert (string-append label ": the fault happened")
             faulted)
           (test-assert (format #f "~a: a failure of rank ~a (~a)"
                                label %culprit (error-text e))
             (and (exception? e)
                  (parallelizer-failure? e)
                  (= (parallelizer-failure-rank e) %culprit)
                  (string-contains (error-text e)
                                   (format #f "rank ~a" %culprit))))
           (test-assert (format #f "~a: it says what happened (~a)"
                                label (error-text e))
             (string-contains (error-text e) (fault-text fault)))
           (test-assert (format #f "~a: on main within ~a s (~a s)"
                                label %detection-bound delay)
             (and delay (< delay %detection-bound)))
           (when delay
             (set! slowest (max slowest delay)))))
        (other
         (test-assert (format #f "~a: the run fails (got ~s)" label other)
           #f)))
      (test-equal (string-append label ": no child process left")
        '() (child-pids))
      (test-equal (string-append label ": nothing new in /dev/shm")
        '() (new-shm-entries shm-before))
      (test-equal (string-append label ": the next job runs")
        (iota %nprocs)
        (parallelizer-run p ranks-job #:timeout %run-timeout)))))

(run-suite
 "mp-fault-matrix"
 (lambda ()
   (let ((p (make-multiprocessing-parallelizer #:processes %nprocs)))
     (for-each
      (lambda (fault)
        (for-each
         (lambda (stage)
           (for-each (lambda (op) (check-cell p fault stage op))
                     '(broadcast scatter gather parallel-map reduce
                                 send/receive)))
         '(encoding sending receiving decoding computing)))
      '(raise exit sigkill escape)))
   (format #t "~a cells, the slowest failure on main ~,3f s after its fault~%"
           cells slowest)
   (when (file-exists? stamp-file)
     (delete-file stamp-file))
   (rmdir tmp-dir)))
