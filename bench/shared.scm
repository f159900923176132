;;; bench/shared.scm — shared memory against its targets.

;;; Commentary:
;;;
;;; Measures, beside their peers:
;;;
;;; - sharing an 80 MB f64vector (share copies it into shared memory once)
;;;   against one memcpy of it, into memory already in use and into fresh
;;;   memory; the share into fresh shared memory and into memory freed by
;;;   an earlier object;
;;; - a run whose 2 processes each sum all of it: the vector inherited as
;;;   a shared vector, received as a handle by broadcast, and broadcast by
;;;   value (an ordinary vector), beside one process summing it alone; and
;;;   the broadcast alone, for 8 and 80 MB, which for a shared vector must
;;;   not depend on the size;
;;; - shared-dict-update! of one key by 1, 2 and 4 processes at once;
;;; - the latency of a write into a shared vector that another process
;;;   waits for, beside a round trip of a fixnum through messages.
;;;
;;; McUtils.Parallelizers is the peer the issue names for the first two;
;;; it is a Python package that is not installed here and that publishes
;;; no timing of its own, so its column says "not measured".
;;;
;;; Run from the source tree after `make' (about a minute):
;;;
;;;   ./pre-inst-env guile --no-auto-compile bench/shared.scm
;;;
;;; Code:

(eval-when (expand load eval)
  ;; The source tree's root, so that (bench lib) is found.
  (add-to-load-path (dirname (dirname (canonicalize-path (current-filename))))))

(use-modules (bench lib)
             (parallelizer)
             ((parallelizer primitives) #:select (%shared-statistics))
             (ice-9 format)
             (ice-9 match)
             (ice-9 rdelim)
             (ice-9 threads)
             (rnrs bytevectors)
             (srfi srfi-4)
             (system foreign))

(define (load-average)
  (catch #t
    (lambda ()
      (car (string-split (call-with-input-file "/proc/loadavg" read-line)
                         #\space)))
    (lambda _ "unknown")))

(define load-before (load-average))

(define mb (* 1024 1024))
(define n80 (/ (* 80 mb) 8))
(define n8 (/ (* 8 mb) 8))

(define fill!
  (compiled '(lambda (v)
               (let loop ((i 0))
                 (when (< i (f64vector-length v))
                   (f64vector-set! v i (* i 0.5))
                   (loop (+ i 1))))
               v)))

(define sum
  ;; The sum of the elements of an f64vector, in a compiled loop.
  (compiled '(lambda (v)
               (let loop ((i 0) (s 0.0))
                 (if (< i (f64vector-length v))
                     (loop (+ i 1) (+ s (f64vector-ref v i)))
                     s)))))

(define big (fill! (make-f64vector n80)))
(define big8 (fill! (make-f64vector n8)))
(define s (make-serial-parallelizer))

;;;
;;; Sharing 80 MB.
;;;

(define memcpy-time
  (let ((dst (make-bytevector (* 80 mb) 0)))
    (time-per-call (lambda () (bytevector-copy! big 0 dst 0 (* 80 mb)))
                   #:iterations 3 #:warm-up 2)))

(define mmap
  (pointer->procedure '* (dynamic-func "mmap" (dynamic-link))
                      (list '* size_t int int int long)))

(define munmap
  (pointer->procedure int (dynamic-func "munmap" (dynamic-link))
                      (list '* size_t)))

(define fresh-memcpy-time
  ;; Into pages the process has never touched (a new anonymous mapping
  ;; each time): what any new 80 MB costs, page faults included. Guile's
  ;; own allocator would reuse the memory of the previous repetition.
  (median
   (map (lambda (i)
          (let* ((memory (mmap %null-pointer (* 80 mb) 3 #x22 -1 0))
                 (dst (pointer->bytevector memory (* 80 mb)))
                 (start (now-ns)))
            (bytevector-copy! big 0 dst 0 (* 80 mb))
            (let ((seconds (/ (- (now-ns) start) 1e9)))
              (munmap memory (* 80 mb))
              seconds)))
        (iota 3))))

(define anchor
  ;; Keeps the arena of the shares below between them: without any object
  ;; left in it, an arena goes at the next collection.
  (share s (make-f64vector 1)))

(define (live-bytes)
  (assq-ref (%shared-statistics anchor) 'live-bytes))

(define (collect-until-freed baseline)
  ;; Collect until the shared vectors dropped are freed (their finalizers
  ;; run in Guile's finalization thread).
  (let loop ((i 0))
    (gc)
    (when (and (> (live-bytes) baseline) (< i 500))
      (usleep 2000)
      (loop (1+ i)))))

(define share-cold-time
  ;; The first share of 80 MB: fresh pages of the arena.
  (let ((start (now-ns)))
    (share s big)
    (/ (- (now-ns) start) 1e9)))

(define share-warm-time
  ;; Later shares reuse the memory of the vector shared before, freed once
  ;; it is collected.
  (let ((baseline (live-bytes)))
    (median
     (map (lambda (i)
            (collect-until-freed baseline)
            (let ((start (now-ns)))
              (share s big)
              (/ (- (now-ns) start) 1e9)))
          (iota 7)))))

(collect-until-freed 0)

;;;
;;; Runs that sum it.
;;;

(define shared-big (share s big))
(define shared-big8 (share s big8))

(define sum-time
  (time-per-call (lambda () (sum big)) #:iterations 2 #:warm-up 1))

(define p (make-multiprocessing-parallelizer #:processes 2 #:timeout 120))

(define (run-time job)
  (time-per-call (lambda () (parallelizer-run p job)) #:repetitions 5))

(define run-inherited-time
  ;; The workers inherit the shared vector: nothing moves.
  (run-time (lambda* (#:key parallelizer)
              (gather parallelizer (sum shared-big)))))

(define run-handle-time
  ;; The main process broadcasts the shared vector: a handle moves.
  (run-time (lambda* (#:key parallelizer)
              (gather parallelizer
                      (sum (broadcast parallelizer
                                      (and (on-main? parallelizer)
                                           shared-big)))))))

(define run-by-value-time
  ;; An ordinary vector broadcast: its 80 MB move.
  (run-time (lambda* (#:key parallelizer)
              (gather parallelizer
                      (sum (broadcast parallelizer
                                      (and (on-main? parallelizer) big)))))))

(define* (broadcast-figures #:key parallelizer)
  "The time of a broadcast of each vector, on rank 0."
  (let* ((rank (parallelizer-id parallelizer))
         (main? (zero? rank))
         (timed (lambda (v iterations)
                  (time-in-job (lambda () (barrier parallelizer)) rank
                               (lambda () (broadcast parallelizer
                                                     (and main? v)))
                               #:iterations iterations #:warm-up 2))))
    `((handle-8 . ,(timed shared-big8 200))
      (handle-80 . ,(timed shared-big 200))
      (value-8 . ,(timed big8 5))
      (value-80 . ,(timed big 3)))))

(define broadcasts (parallelizer-run p broadcast-figures))

(define (broadcast-time name)
  (assq-ref broadcasts name))

;;;
;;; Dict updates.
;;;

(define updates 20000)

(define update-loop
  (compiled '(lambda (update d n)
               (let loop ((i 0))
                 (when (< i n)
                   (update d 'n 1+ #:default 0)
                   (loop (+ i 1)))))))

(define (update-time processes)
  ;; Seconds per update of one key, all PROCESSES updating it at once.
  (let ((q (make-multiprocessing-parallelizer #:processes processes
                                              #:timeout 120))
        (d (share s (make-hash-table))))
    (parallelizer-run
     q (lambda* (#:key parallelizer)
         (time-in-job (lambda () (barrier parallelizer))
                      (parallelizer-id parallelizer)
                      (lambda ()
                        (update-loop shared-dict-update! d updates)
                        (barrier parallelizer))
                      #:repetitions 5 #:warm-up 1)))))

(define update-times
  (map (lambda (k) (cons k (/ (update-time k) (* k updates)))) '(1 2 4)))

;;;
;;; Latency of a write seen by another process.
;;;

(define ping
  ;; Rank 0 writes I into element 0 and waits for it in element 1; rank 1
  ;; waits for it in element 0 and writes it into element 1. REF is
  ;; f64vector-ref, passed in: a loop that calls it inline would read the
  ;; element once, since the compiler sees nothing in the loop write it.
  (compiled '(lambda (v rank n ref)
               (let loop ((i 1))
                 (when (<= i n)
                   (let ((x (exact->inexact i)))
                     (if (zero? rank)
                         (begin
                           (f64vector-set! v 0 x)
                           (let wait () (unless (= (ref v 1) x)
                                          (wait))))
                         (begin
                           (let wait () (unless (= (ref v 0) x)
                                          (wait)))
                           (f64vector-set! v 1 x))))
                   (loop (+ i 1)))))))

(define* (latency-figures #:key parallelizer)
  (let* ((rank (parallelizer-id parallelizer))
         (flags (share parallelizer (make-f64vector 2 0.0)))
         (flags (broadcast parallelizer (and (zero? rank) flags)))
         (rounds 20000))
    (barrier parallelizer)
    (let ((start (now-ns)))
      (ping flags rank rounds f64vector-ref)
      (let ((shared (/ (- (now-ns) start) rounds 1e9)))
        `((shared . ,shared)
          (message . ,(time-in-job (lambda () (barrier parallelizer)) rank
                                   (lambda ()
                                     (case rank
                                       ((0) (send-to parallelizer 1 1)
                                        (receive-from parallelizer 1))
                                       (else (send-to parallelizer
                                                      (receive-from
                                                       parallelizer 0)
                                                      0))))
                                   #:iterations 5000 #:warm-up 1000)))))))

(define latencies (parallelizer-run p latency-figures))

;;;
;;; The table.
;;;

(define* (row name ours #:key (peer "-") peer-time target (met? #f))
  (let ((ratio (and ours peer-time (/ ours peer-time))))
    (list name (format-duration ours) peer (format-duration peer-time)
          (format-ratio ratio) (or target "-")
          (cond
           ((not target) "")
           ((not ours) "n/a")
           ((met? ratio ours) "met")
           (else "MISSED")))))

(define (more-peer peer peer-time ours)
  (list "" "" peer (if peer-time (format-duration peer-time) "not measured")
        (if peer-time (format-ratio (/ ours peer-time)) "-") "" ""))

(format #t "Shared memory, 2 processes unless said, ~a online CPUs; medians of \
repeated runs.~%Load average before: ~a; after: ~a.~%~%"
        (current-processor-count) load-before (load-average))

(print-table
 '("benchmark" "ours" "peer" "peer time" "ratio" "target" "")
 (list
  (row "share 80 MB f64vector" share-warm-time
       #:peer "memcpy 80 MB" #:peer-time memcpy-time
       #:target "<= 1.2x memcpy" #:met? (lambda (r t) (<= r 1.2)))
  (more-peer "McUtils share" #f share-warm-time)
  (row "  same, into fresh memory" share-cold-time
       #:peer "memcpy, new pages" #:peer-time fresh-memcpy-time)
  (row "run: 2 sum 80 MB, inherited" run-inherited-time
       #:peer "1 process sums" #:peer-time sum-time)
  (row "run: 2 sum 80 MB, by handle" run-handle-time
       #:peer "by value" #:peer-time run-by-value-time)
  (more-peer "McUtils" #f run-handle-time)
  (row "broadcast shared 8 MB" (broadcast-time 'handle-8)
       #:peer "by value" #:peer-time (broadcast-time 'value-8))
  (row "broadcast shared 80 MB" (broadcast-time 'handle-80)
       #:peer "by value" #:peer-time (broadcast-time 'value-80)
       #:target "as 8 MB (zero copy)"
       #:met? (lambda (r t) (<= t (* 2 (broadcast-time 'handle-8)))))
  (row "shared-dict-update!, 1 process" (assq-ref update-times 1))
  (row "  2 processes at once" (assq-ref update-times 2))
  (row "  4 processes at once" (assq-ref update-times 4))
  (row "shared write seen, one way" (/ (assq-ref latencies 'shared) 2)
       #:peer "message, one way"
       #:peer-time (/ (assq-ref latencies 'message) 2))))

(format #t "~%Updates: time per update of the whole group (1/throughput); \
4 processes on ~a CPUs take turns.~%ratio: ours / peer time.~%"
        (current-processor-count))

;;; Rows for the one table of bench/run-all (bench/table.scm).

(let ((file (getenv "BENCH_ROWS")))
  (when file
    (call-with-port (open-file file "a")
      (lambda (port)
        (for-each (lambda (name seconds)
                    (when seconds
                      (format port "shm:~a\t~,3f~%" name (* seconds 1e6))))
                  '(share_80mb memcpy_80mb)
                  (list share-warm-time memcpy-time))))))

;;; shared.scm ends here
