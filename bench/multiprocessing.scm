;;; bench/multiprocessing.scm — the multiprocessing backend against its targets.

;;; Commentary:
;;;
;;; Measures, with (make-multiprocessing-parallelizer #:processes 2):
;;; an empty parallelizer-run; and inside one job a barrier, a ping-pong
;;; round trip of a small object between ranks 0 and 1, a broadcast of an
;;; 8 MB f64vector, a scatter of an 8 MB f64vector and of a
;;; 100,000-element list, parallel-map of 1+ over 100,000 elements (inside
;;; a run, and as a whole top-level call, which is a run by itself) and two
;;; CPU-bound parallel-maps of about a second of work each: fib 30 over 48
;;; items, and an irregular one (fib 22 to 31, heaviest first) both split
;;; evenly and handed out with #:chunk-size 2. The peers are measured in
;;; the same run: memcpy of 8 MB (bytevector-copy!), serial `map', Guile's
;;; par-map and n-par-map, the wire codec alone. Every figure is
;;; the median of several repetitions after a warm-up; in a job the
;;; processes line up on a barrier before each repetition and rank 0's
;;; time is kept. Prints one table with the targets of DESIGN section 8,
;;; and, when the environment names a file in BENCH_ROWS, appends to it
;;; one "name<TAB>microseconds" line per figure, for bench/table.scm.
;;;
;;; Run from the source tree after `make' (about 30 seconds):
;;;
;;;   ./pre-inst-env guile --no-auto-compile bench/multiprocessing.scm
;;;
;;; Guile's threads are only started after the last fork: forking with
;;; threads running is unsafe.
;;;
;;; Code:

(eval-when (expand load eval)
  ;; The source tree's root, so that (bench lib) is found.
  (add-to-load-path (dirname (dirname (canonicalize-path (current-filename))))))

(use-modules (bench lib)
             (parallelizer)
             (ice-9 format)
             (ice-9 match)
             (ice-9 rdelim)
             (ice-9 threads)
             (rnrs bytevectors)
             (srfi srfi-4))

(define (load-average)
  "The 1-minute load average of the machine, as a string: other programs
running at the same time show up in the figures."
  (catch #t
    (lambda ()
      (car (string-split (call-with-input-file "/proc/loadavg" read-line)
                         #\space)))
    (lambda _ "unknown")))

(define load-before (load-average))

(define processes 2)
(define mb8 (* 8 1024 1024))

(define fib
  (compiled '(letrec ((fib (lambda (n)
                             (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2)))))))
               fib)))

(define small-object
  ;; About what mpi4py's peer sends: {"id": 42, "name": "ping",
  ;; "values": [1.0, 2.0, 3.0]}.
  '((id . 42) (name . "ping") (values 1.0 2.0 3.0)))

;; Made before any fork, so the workers inherit them.
(define vec (let ((v (make-f64vector (/ mb8 8))))
              (let loop ((i 0))
                (when (< i (f64vector-length v))
                  (f64vector-set! v i (* i 0.5))
                  (loop (1+ i))))
              v))
(define lst (iota 100000))
(define fib-inputs (make-list 48 30))
(define irregular-inputs
  ;; fib 22 to fib 31, twelve of each, heaviest first: an even split gives
  ;; the first process most of the work.
  (sort (map (lambda (i) (+ 22 (modulo (* 7 i) 10))) (iota 120)) >))

(define p (make-multiprocessing-parallelizer #:processes processes
                                             #:timeout 120))

(define (empty-job . _) #t)

;;;
;;; Floors and serial peers.
;;;

(define memcpy-time
  (let ((dst (make-bytevector mb8 0)))
    (time-per-call (lambda () (bytevector-copy! vec 0 dst 0 mb8))
                   #:iterations 10 #:warm-up 3)))

(define map-time
  (time-per-call (lambda () (map 1+ lst)) #:iterations 5 #:warm-up 2))

(define fib-map-time
  (time-per-call (lambda () (map fib fib-inputs)) #:repetitions 3
                 #:warm-up 0))

(define irregular-map-time
  (time-per-call (lambda () (map fib irregular-inputs)) #:repetitions 3
                 #:warm-up 0))

(define list-codec-time
  ;; The wire codec alone: the floor of moving the list between
  ;; processes.
  (time-per-call (lambda () (cbor->value (value->cbor lst)))
                 #:iterations 3 #:warm-up 2))

;;;
;;; The backend.
;;;

(define empty-run-time
  (time-per-call (lambda () (parallelizer-run p empty-job))
                 #:iterations 5 #:warm-up 2))

(define empty-run-kept-time
  ;; Inside with-parallelizer the group's channels are kept between runs.
  (with-parallelizer p
    (time-per-call (lambda () (parallelizer-run p empty-job))
                   #:iterations 5 #:warm-up 2)))

(define* (in-job-figures #:key parallelizer)
  "Time every in-job benchmark on every process; return rank 0's figures
as an alist of seconds per operation."
  (let* ((q parallelizer)
         (rank (parallelizer-id q))
         (main? (zero? rank))
         (line-up (lambda () (barrier q)))
         (timed (lambda* (thunk #:key (iterations 1) (repetitions 7)
                                (warm-up 1))
                  (time-in-job line-up rank thunk #:iterations iterations
                               #:repetitions repetitions
                               #:warm-up warm-up)))
         (ping-pong (lambda (datum)
                      (lambda ()
                        (case rank
                          ((0) (send-to q datum 1) (receive-from q 1))
                          ((1) (send-to q (receive-from q 0) 0))
                          (else #t))))))
    ;; Check once that the operations do what is timed.
    (let ((b (broadcast q (and main? vec))))
      (unless (= (f64vector-length b) (f64vector-length vec))
        (error "broadcast returned a vector of the wrong length")))
    (when main?
      (unless (equal? (parallel-map q 1+ lst) (map 1+ lst))
        (error "parallel-map returned a wrong result")))
    (unless main?
      (parallel-map q 1+ #f))
    ;; Short repetitions, many of them: on a shared machine a repetition
    ;; during which another program takes a CPU is slow (the waits stop
    ;; spinning and sleep), and the median leaves it out.
    `((barrier . ,(timed (lambda () (barrier q))
                         #:iterations 2000 #:repetitions 15
                         #:warm-up 1000))
      (ping-pong . ,(timed (ping-pong small-object)
                           #:iterations 2000 #:repetitions 15
                           #:warm-up 1000))
      (ping-pong-fixnum . ,(timed (ping-pong 1)
                                  #:iterations 2000 #:repetitions 15
                                  #:warm-up 1000))
      (broadcast-f64 . ,(timed (lambda () (broadcast q (and main? vec)))
                               #:iterations 5 #:warm-up 2))
      (broadcast-in-place
       . ,(let ((buffer (if main? vec (make-f64vector (f64vector-length vec)))))
            (timed (lambda () (broadcast! q buffer))
                   #:iterations 5 #:warm-up 2)))
      (scatter-f64 . ,(timed (lambda () (scatter q (and main? vec)))
                             #:iterations 5 #:warm-up 2))
      (scatter-list . ,(timed (lambda () (scatter q (and main? lst)))
                              #:iterations 5 #:warm-up 2))
      (parallel-map . ,(timed (lambda () (parallel-map q 1+ (and main? lst)))
                              #:iterations 3 #:repetitions 9
                              #:warm-up 2))
      (parallel-map-fib . ,(timed (lambda ()
                                    (parallel-map q fib
                                                  (and main? fib-inputs)))
                                  #:repetitions 3 #:warm-up 0)))))

(define figures (parallelizer-run p in-job-figures))

(define (figure name)
  (assq-ref figures name))

(define parallel-map-run-time
  ;; The same as a whole run, forking included.
  (time-per-call (lambda ()
                   (parallelizer-run
                    p (lambda* (#:key parallelizer)
                        (parallel-map parallelizer 1+ lst))))
                 #:iterations 3 #:warm-up 1))

(define parallel-map-top-time
  ;; parallel-map called outside a run: a run by itself, in which the
  ;; workers take their chunks of the list they inherited.
  (time-per-call (lambda () (parallel-map p 1+ lst))
                 #:iterations 3 #:warm-up 1))

(define fib-run-time
  (time-per-call (lambda () (parallel-map p fib fib-inputs))
                 #:repetitions 3 #:warm-up 0))

(define irregular-static-time
  (time-per-call (lambda () (parallel-map p fib irregular-inputs))
                 #:repetitions 3 #:warm-up 0))

(define irregular-dynamic-time
  (time-per-call (lambda () (parallel-map p fib irregular-inputs
                                          #:chunk-size 2))
                 #:repetitions 3 #:warm-up 0))

;;;
;;; Guile's threads: last, since forking after them is unsafe.
;;;

(define n-par-map-time
  (time-per-call (lambda () (n-par-map processes 1+ lst))
                 #:iterations 3 #:repetitions 5))

(define n-par-map-fib-time
  (time-per-call (lambda () (n-par-map processes fib fib-inputs))
                 #:repetitions 3 #:warm-up 0))

(define n-par-map-irregular-time
  (time-per-call (lambda () (n-par-map processes fib irregular-inputs))
                 #:repetitions 3 #:warm-up 0))

(define par-map-fib-time
  (time-per-call (lambda () (par-map fib fib-inputs)) #:repetitions 3
                 #:warm-up 0))

(define par-map-time
  ;; One future per element: seconds for 100,000 elements, so only once.
  (time-per-call (lambda () (par-map 1+ lst))
                 #:repetitions 1 #:warm-up 0))

;;;
;;; The table.
;;;

(define* (row name ours #:key (peer "-") peer-time target (met? #f))
  "A table row: NAME, OURS in seconds, PEER's name and PEER-TIME, the ratio
OURS / PEER-TIME, the TARGET text and MET?, a procedure of the ratio and
of OURS that tells whether the target is met."
  (let ((ratio (and ours peer-time (/ ours peer-time))))
    (list name (format-duration ours) peer (format-duration peer-time)
          (format-ratio ratio) (or target "-")
          (cond
           ((not target) "")
           ((not ours) "n/a")
           ((met? ratio ours) "met")
           (else "MISSED")))))

(define (more-peer peer peer-time ours)
  "A continuation line: another PEER of the row above."
  (list "" "" peer (format-duration peer-time)
        (format-ratio (/ ours peer-time)) "" ""))

(format #t "Multiprocessing backend, ~a processes, ~a online CPUs; \
medians of repeated runs.~%Load average before: ~a; after: ~a.~%~%"
        processes (current-processor-count) load-before (load-average))

(print-table
 '("benchmark" "ours" "peer" "peer time" "ratio" "target" "")
 (list
  (row "empty parallelizer-run" empty-run-time
       #:target "<= 1 ms" #:met? (lambda (r t) (<= t 1e-3)))
  (row "  same, inside with-parallelizer" empty-run-kept-time)
  (row "barrier (in a job)" (figure 'barrier)
       #:target "<= 2 us" #:met? (lambda (r t) (<= t 2e-6)))
  (row "ping-pong, small object" (figure 'ping-pong)
       #:target "<= 3 us" #:met? (lambda (r t) (<= t 3e-6)))
  (row "  same, a fixnum" (figure 'ping-pong-fixnum))
  (row "broadcast 8 MB f64vector" (figure 'broadcast-f64)
       #:peer "memcpy 8 MB" #:peer-time memcpy-time
       #:target "<= 3x memcpy" #:met? (lambda (r t) (<= r 3)))
  (row "  same, broadcast! in place" (figure 'broadcast-in-place)
       #:peer "memcpy 8 MB" #:peer-time memcpy-time
       #:target "<= 3x memcpy" #:met? (lambda (r t) (<= r 3)))
  (row "scatter 8 MB f64vector" (figure 'scatter-f64)
       #:peer "memcpy 8 MB" #:peer-time memcpy-time)
  (row "scatter 100,000-element list" (figure 'scatter-list)
       #:peer "codec round trip" #:peer-time list-codec-time)
  (row "parallel-map 1+, 100,000" (figure 'parallel-map)
       #:peer "serial map" #:peer-time map-time
       #:target "<= 3x map" #:met? (lambda (r t) (<= r 3)))
  (more-peer "n-par-map 2" n-par-map-time (figure 'parallel-map))
  (more-peer "par-map" par-map-time (figure 'parallel-map))
  (row "  same, whole run (fork)" parallel-map-run-time
       #:peer "serial map" #:peer-time map-time)
  (row "  same, top-level call" parallel-map-top-time
       #:peer "serial map" #:peer-time map-time
       #:target "<= 3x map" #:met? (lambda (r t) (<= r 3)))
  (row "parallel-map fib 30 x 48, in a run" (figure 'parallel-map-fib)
       #:peer "serial map" #:peer-time fib-map-time
       #:target "speed-up >= 1.8x"
       #:met? (lambda (r t) (>= (/ 1 r) 1.8)))
  (more-peer "n-par-map 2" n-par-map-fib-time (figure 'parallel-map-fib))
  (more-peer "par-map" par-map-fib-time (figure 'parallel-map-fib))
  (row "  same, top-level call" fib-run-time
       #:peer "serial map" #:peer-time fib-map-time)
  (row "irregular fib 22-31 x 120, top-level" irregular-static-time
       #:peer "serial map" #:peer-time irregular-map-time)
  (row "  same, #:chunk-size 2" irregular-dynamic-time
       #:peer "serial map" #:peer-time irregular-map-time
       #:target "speed-up >= 1.8x"
       #:met? (lambda (r t) (>= (/ 1 r) 1.8)))
  (more-peer "n-par-map 2" n-par-map-irregular-time
             irregular-dynamic-time)))

;;; Rows for the one table of bench/run-all (bench/table.scm).

(let ((file (getenv "BENCH_ROWS")))
  (when file
    (call-with-port (open-file file "a")
      (lambda (port)
        (for-each (match-lambda
                    ((name . seconds)
                     (when seconds
                       (format port "mp:~a\t~,3f~%" name (* seconds 1e6)))))
                  `((empty_run . ,empty-run-time)
                    (empty_run_kept . ,empty-run-kept-time)
                    (barrier . ,(figure 'barrier))
                    (pingpong . ,(figure 'ping-pong))
                    (pingpong_fixnum . ,(figure 'ping-pong-fixnum))
                    (bcast_8mb . ,(figure 'broadcast-f64))
                    (bcast_8mb_inplace . ,(figure 'broadcast-in-place))
                    (scatter_8mb . ,(figure 'scatter-f64))
                    (scatter_100k . ,(figure 'scatter-list))
                    (memcpy_8mb . ,memcpy-time)
                    (serial_map_100k . ,map-time)
                    (map_100k . ,(figure 'parallel-map))
                    (map_100k_run . ,parallel-map-run-time)
                    (map_100k_top . ,parallel-map-top-time)
                    (n_par_map_100k . ,n-par-map-time)
                    (list_codec_100k . ,list-codec-time)
                    (fib_serial . ,fib-map-time)
                    (fib_map . ,(figure 'parallel-map-fib))
                    (fib_map_top . ,fib-run-time)
                    (fib_n_par_map . ,n-par-map-fib-time)
                    (irregular_serial . ,irregular-map-time)
                    (irregular_static . ,irregular-static-time)
                    (irregular_dynamic . ,irregular-dynamic-time)
                    (irregular_n_par_map . ,n-par-map-irregular-time)))))))

(format #t "~%ratio: ours / peer time (below 1: ours is faster; the speed-up \
is its inverse).~%")

;;; multiprocessing.scm ends here
