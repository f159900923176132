;;; Large numeric values by value on the multiprocessing backend: vectors
;;; and arrays of 1 MiB or more travel as memory segments that receivers
;;; map copy-on-write.
;;;
;;;   ./pre-inst-env guile -L tests tests/mp-segments.scm
;;;
;;; Every collective and send-to must deliver them intact, each receiver
;;; must get a vector of its own (its writes are seen by nobody else, and
;;; nobody else's by it), the mapping must go when the vector is collected,
;;; and no segment may outlive a run: not in the main process's
;;; descriptors, not in /dev/shm, not after a worker is killed in the
;;; middle of a transfer. Small values keep the rings and are checked by
;;; collectives.scm.

(use-modules (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-4 gnu)
             (srfi srfi-64)
             (rnrs bytevectors)
             (ice-9 match)
             (ice-9 rdelim)
             (parallelizer)
             (harness)
             (mp-hygiene))

(define %run-timeout 60)

(define shm-before (shm-entries))

(define (rank p) (parallelizer-id p))

(define (run p job . args)
  (apply parallelizer-run p job (append args (list #:timeout %run-timeout))))

;; Large enough for a segment: 2^18 doubles are 2 MiB.
(define n (expt 2 18))

(define (ramp n start)
  (let ((v (make-f64vector n)))
    (do ((i 0 (1+ i))) ((= i n) v)
      (f64vector-set! v i (+ start i)))))

(define big (ramp n 0.))

(define big-array
  ;; 512 x 1024 s32, 2 MiB, element (i j) = 1024 i + j.
  (let ((a (make-typed-array 's32 0 512 1024)))
    (array-index-map! a (lambda (i j) (+ (* i 1024) j)))
    a))

(define big-bounded
  ;; A one-dimensional array whose indices start at 10.
  (let ((a (make-typed-array 'f32 0. '(10 524297))))
    (array-index-map! a (lambda (i) (* 1. i)))
    a))

(define big-complex
  (let ((v (make-c64vector (expt 2 17))))
    (do ((i 0 (1+ i))) ((= i (c64vector-length v)) v)
      (c64vector-set! v i (make-rectangular i (- i))))))

(define big-bytes
  (let ((bv (make-bytevector (* 3 1024 1024))))
    (do ((i 0 (1+ i))) ((= i (bytevector-length bv)) bv)
      (bytevector-u8-set! bv i (modulo i 251)))))

(define (segments-in file)
  ;; The lines of FILE (under /proc/self) that name a segment.
  (call-with-input-file file
    (lambda (port)
      (let loop ((count 0))
        (let ((line (read-line port)))
          (if (eof-object? line)
              count
              (loop (if (string-contains line "parallelizer-segment")
                        (1+ count)
                        count))))))))

(define (segment-descriptors)
  ;; Descriptors of this process open on a segment.
  (let ((dir "/proc/self/fd"))
    (count (lambda (fd)
             (let ((target (false-if-exception
                            (readlink (string-append dir "/" fd)))))
               (and target (string-contains target "parallelizer-segment"))))
           (or (false-if-exception
                (let ((d (opendir dir)))
                  (let loop ((names '()))
                    (let ((name (readdir d)))
                      (if (eof-object? name)
                          (begin (closedir d) names)
                          (loop (cons name names)))))))
               '()))))

(define (segment-mappings)
  (segments-in "/proc/self/maps"))

;;;
;;; Values arrive intact.
;;;

(define-job (broadcast-job p value)
  (let ((got (broadcast p (and (zero? (rank p)) value))))
    (gather p (equal? got value))))

(define-job (scatter-job p value)
  (let ((chunk (scatter p (and (zero? (rank p)) value))))
    (gather p chunk)))

(define-job (gather-job p)
  (gather p (ramp n (* 1000. (rank p)))))

(define-job (allgather-job p)
  (let ((all (allgather p (ramp n (* 1000. (rank p))))))
    (gather p (every (lambda (v r) (equal? v (ramp n (* 1000. r))))
                     all (iota (parallelizer-nprocs p))))))

(define-job (ring-job p)
  ;; Each rank sends to the next.
  (let* ((size (parallelizer-nprocs p))
         (me (rank p)))
    (send-to p (ramp n (* 10. me)) (modulo (1+ me) size))
    (gather p (equal? (receive-from p (modulo (1- me) size))
                      (ramp n (* 10. (modulo (1- me) size)))))))

(define (check-intact size)
  (let ((p (make-multiprocessing-parallelizer #:processes size))
        (label (lambda (what) (format #f "~a (~a processes)" what size))))
    (for-each
     (match-lambda
       ((what value)
        (test-assert (label (string-append "broadcast of " what))
          (every identity (run p broadcast-job value)))))
     `(("an f64vector" ,big)
       ("a two-dimensional s32 array" ,big-array)
       ("an array with lower bounds" ,big-bounded)
       ("a c64vector" ,big-complex)
       ("a bytevector" ,big-bytes)
       ("a list of large vectors" ,(list big 'and big-bytes))))
    (test-equal (label "scatter: the chunks make the vector")
      big
      (list->f64vector
       (append-map f64vector->list (run p scatter-job big))))
    (test-equal (label "scatter of a two-dimensional array")
      (array->list big-array)
      (append-map array->list (run p scatter-job big-array)))
    (test-assert (label "gather")
      (every (lambda (v r) (equal? v (ramp n (* 1000. r))))
             (run p gather-job) (iota size)))
    (test-assert (label "allgather")
      (every identity (run p allgather-job)))
    (test-assert (label "send-to the next rank")
      (every identity (run p ring-job)))))

;;;
;;; Independent copies.
;;;

(define-job (writers-job p)
  ;; Every process writes its rank into its copy of a broadcast vector;
  ;; after a barrier each must still see only its own writes, and the
  ;; root's vector must be unchanged.
  (let* ((me (rank p))
         (v (broadcast p (and (zero? me) big))))
    (unless (zero? me)
      (f64vector-set! v 0 (* -1. me))
      (f64vector-set! v (1- n) (* -1. me))
      (f64vector-set! v (quotient n 2) (* -1. me)))
    (barrier p)
    (let ((again (broadcast p (and (zero? me) big))))
      (gather p (list (if (zero? me)
                          (equal? v (ramp n 0.))
                          (and (= (f64vector-ref v 0) (* -1. me))
                               (= (f64vector-ref v (quotient n 2)) (* -1. me))
                               (= (f64vector-ref v 1) 1.)))
                      (equal? again (ramp n 0.)))))))

(define-job (sender-writes-job p)
  ;; The sender changes its vector after sending it: the receiver keeps
  ;; what was sent.
  (let ((me (rank p)))
    (case me
      ((0) (let ((v (ramp n 0.)))
             (send-to p v 1)
             (array-fill! v 7.)
             (barrier p)
             #t))
      ((1) (barrier p)
           (equal? (receive-from p 0) (ramp n 0.)))
      (else (barrier p) #t))))

(define-job (sender-writes-report-job p)
  (gather p (sender-writes-job #:parallelizer p)))

(define-job (reuse-job p)
  ;; Many broadcasts of the same size, each of other values: the sender
  ;; reuses a segment once nobody maps it. Every receiver keeps every
  ;; other vector and drops the rest, collecting as it goes; what it
  ;; kept must never change, what it receives must be the new values.
  (let loop ((i 0) (kept '()) (ok #t))
    (if (= i 12)
        (gather p (and ok
                       (every (match-lambda ((i . v) (equal? v (ramp n i))))
                              kept)))
        (let ((v (broadcast p (and (zero? (rank p)) (ramp n (* 1. i))))))
          (gc)
          (barrier p)
          (loop (1+ i)
                (if (even? i) (cons (cons (* 1. i) v) kept) kept)
                (and ok (equal? v (ramp n (* 1. i)))))))))

(define (check-independent size)
  (let ((p (make-multiprocessing-parallelizer #:processes size))
        (label (lambda (what) (format #f "~a (~a processes)" what size))))
    (test-equal (label "receivers' writes stay their own")
      (make-list size '(#t #t))
      (run p writers-job))
    (test-assert (label "the sender's later writes do not reach a receiver")
      (every identity (run p sender-writes-report-job)))
    (test-assert (label "reused segments: new values arrive, kept ones stay")
      (every identity (run p reuse-job)))))

;;;
;;; Lifetime.
;;;

(define-job (collected-job p)
  ;; A worker's mapping goes with its vector.
  (let ((v (broadcast p (and (zero? (rank p)) big))))
    (if (zero? (rank p))
        (gather p #t)
        (let ((held (segment-mappings)))
          (set! v #f)
          (gc) (gc)
          ;; Finalizers run at the next safe point after a collection.
          (let loop ((tries 0))
            (when (and (< tries 50) (>= (segment-mappings) held))
              (gc)
              (usleep 10000)
              (loop (1+ tries))))
          (gather p (list held (segment-mappings)))))))

(define (check-lifetime size)
  (let ((p (make-multiprocessing-parallelizer #:processes size))
        (label (lambda (what) (format #f "~a (~a processes)" what size))))
    (test-assert (label "a worker's mapping goes when its vector is collected")
      (every (match-lambda
               (#t #t)
               ((held after) (and (> held 0) (< after held))))
             (run p collected-job)))
    (test-equal (label "no segment descriptor is left in main after runs")
      0
      (segment-descriptors))
    (test-assert (label "a vector gathered from a worker outlives the run")
      (let ((vs (run p gather-job)))
        (gc)
        (every (lambda (v r) (equal? v (ramp n (* 1000. r))))
               vs (iota size))))))

;;;
;;; Faults.
;;;

(define-job (receiver-killed-job p)
  ;; Rank 1 dies instead of receiving a broadcast.
  (when (= (rank p) 1)
    (kill (getpid) SIGKILL))
  (broadcast p (and (zero? (rank p)) big))
  (barrier p))

(define-job (sender-killed-job p)
  ;; Rank 1 sends a segment to main and dies before main takes it.
  (case (rank p)
    ((1) (send-to p big 0)
         (kill (getpid) SIGKILL))
    ((0) (usleep 200000)
         (receive-from p 1))
    (else #t)))

(define-job (unreceived-job p)
  ;; Rank 1 sends a segment that nobody receives; its run must end all
  ;; the same.
  (when (= (rank p) 1)
    (send-to p big 0))
  #t)

(define (fails? thunk)
  (catch #t (lambda () (thunk) #f) (lambda _ #t)))

(define (check-faults size)
  (let ((p (make-multiprocessing-parallelizer #:processes size))
        (label (lambda (what) (format #f "~a (~a processes)" what size))))
    (test-assert (label "a receiver killed before a broadcast: an error")
      (fails? (lambda () (run p receiver-killed-job))))
    (test-equal (label "... and no segment descriptor left in main")
      0 (segment-descriptors))
    (test-assert (label "a sender killed before its segment is taken: an error")
      (fails? (lambda () (run p sender-killed-job))))
    (test-equal (label "... and no segment mapped or open in main")
      '(0 0)
      (begin (gc) (list (segment-descriptors) (segment-mappings))))
    (test-assert (label "a segment nobody receives: the run ends")
      (begin (fails? (lambda () (run p unreceived-job))) #t))
    (test-equal (label "... and no segment descriptor left in main")
      0 (segment-descriptors))
    (test-assert (label "the parallelizer works after the faults")
      (every identity (run p broadcast-job big)))))

;;;
;;; Outside a message between processes.
;;;

(define (check-not-outside)
  (test-equal "value->cbor writes a large vector's elements, not a segment"
    big
    (cbor->value (value->cbor big)))
  (test-equal "a serial run does not make segments"
    big
    (parallelizer-run (make-serial-parallelizer)
                      (lambda* (#:key parallelizer)
                        (broadcast parallelizer big))))
  (test-equal "a segment handle is refused outside a message"
    'parallelizer-error
    (error-key
     (cbor->value
      ;; Tag 59211 around [86 (f64), false, pid, fd, inode, bytes,
      ;; generation].
      (u8-list->bytevector
       (list #xd9 #xe7 #x4b #x87 #x18 #x56 #xf4 #x01 #x00 #x00 #x19
             #x10 #x00 #x00))))))

(run-suite
 "mp-segments"
 (lambda ()
   (check-not-outside)
   (for-each (lambda (size)
               (check-intact size)
               (check-independent size)
               (check-lifetime size))
             '(2 3))
   (check-faults 3)
   (test-equal "no new /dev/shm entries"
     '()
     (new-shm-entries shm-before))))
