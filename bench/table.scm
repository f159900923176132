;;; bench/table.scm — the one table of bench/run-all, as text and as JSON.

;;; Commentary:
;;;
;;; Reads the figures that the benchmark programs appended to a rows file
;;; ("source:name<TAB>microseconds" lines; bench/run-all passes the file
;;; and prefixes the lines of the MPI programs), and prints one table with
;;; every figure of DESIGN section 8 and of the performance issue: ours,
;;; the floor or peer it is measured against, the ratio, the target and
;;; whether it is met. The same rows go to a JSON file, for tracking the
;;; figures over time.
;;;
;;;   guile --no-auto-compile bench/table.scm ROWS.tsv RESULTS.json
;;;
;;; A figure that a run did not produce (MPI missing, shared memory not
;;; there yet) shows as "-" with "n/a", and as null in the JSON.
;;;
;;; Code:

(use-modules (ice-9 format)
             (ice-9 match)
             (ice-9 rdelim)
             ((ice-9 threads) #:select (current-processor-count))
             (srfi srfi-1))

(define rows-file (cadr (command-line)))
(define json-file (caddr (command-line)))

(define figures
  ;; name -> microseconds; a later line of the same name wins.
  (let ((table (make-hash-table)))
    (when (file-exists? rows-file)
      (call-with-input-file rows-file
        (lambda (port)
          (let loop ()
            (let ((line (read-line port)))
              (unless (eof-object? line)
                (match (string-split line #\tab)
                  ((name value)
                   (let ((n (string->number (string-trim-both value))))
                     (when n
                       (hash-set! table name n))))
                  (_ #f))
                (loop)))))))
    table))

(define (figure name)
  (and name (hash-ref figures name)))

(define (half x)
  (and x (/ x 2)))

;;; A row: (LABEL OURS PEER PEER-LABEL TARGET), OURS and PEER in
;;; microseconds or #f; TARGET one of
;;;   (time<= US)      ours at most US microseconds
;;;   (ratio<= R)      ours / peer at most R
;;;   (speed-up>= S)   peer / ours at least S
;;;   #f               a figure shown for comparison
(define (row label ours peer peer-label target)
  (list label ours peer peer-label target))

(define 8mb/5gbs
  ;; The time in which 5 GB/s moves the 8 MB of the codec's f64vector
  ;; (its encoding is 8 MB and 5 bytes), in microseconds.
  (/ (* 8 1024 1024) 5e9 1e-6))

(define rows
  (list
   (row "empty parallelizer-run, 2 processes" (figure "mp:empty_run_fresh")
        (figure "raw:empty_run") "C fork+barrier+join" '(time<= 1000))
   (row "  same, in a process with 50 MB of data"
        (figure "mp:empty_run_50mb") (figure "raw:empty_run")
        "C fork+barrier+join" '(time<= 1500))
   (row "  same, inside the benchmark's process" (figure "mp:empty_run")
        (figure "raw:empty_run") "C fork+barrier+join" #f)
   (row "barrier, multiprocessing" (figure "mp:barrier") #f "" '(time<= 2))
   (row "barrier, MPI" (figure "mpi:barrier") (figure "mpi_c:barrier")
        "C MPI_Barrier" '(ratio<= 1.5))
   (row "ping-pong of a small object, multiprocessing" (figure "mp:pingpong")
        #f "" '(time<= 3))
   (row "ping-pong of a small object, MPI" (figure "mpi:pingpong")
        (figure "mpi_py:pingpong") "mpi4py" '(ratio<= 0.7))
   (row "  same, against C" (figure "mpi:pingpong") (figure "mpi_c:pingpong")
        "C MPI 64 bytes" #f)
   (row "broadcast 8 MB f64vector by value, multiprocessing"
        (figure "mp:bcast_8mb") (figure "mp:memcpy_8mb") "memcpy 8 MB"
        '(ratio<= 1.5))
   (row "  broadcast! in place, multiprocessing"
        (figure "mp:bcast_8mb_inplace") (figure "mp:memcpy_8mb")
        "memcpy 8 MB" #f)
   (row "broadcast 8 MB f64vector by value, MPI" (figure "mpi:bcast_8mb_f64")
        (figure "mpi_c:bcast_8mb_f64") "C MPI_Bcast" '(ratio<= 1.3))
   (row "  broadcast! in place, MPI" (figure "mpi:bcast_8mb_inplace")
        (figure "mpi_c:bcast_8mb_f64") "C MPI_Bcast" '(ratio<= 1.1))
   (row "scatter 8 MB f64vector, multiprocessing" (figure "mp:scatter_8mb")
        (figure "mp:memcpy_8mb") "memcpy 8 MB" '(ratio<= 2))
   (row "scatter 100,000-element list, MPI" (figure "mpi:scatter_100k")
        (figure "mpi_py:scatter_100k") "mpi4py" '(ratio<= 0.5))
   (row "  same, multiprocessing" (figure "mp:scatter_100k")
        (figure "mp:list_codec_100k") "codec round trip" #f)
   (row "CBOR encode+decode, 100,000 fixnums" (figure "codec:list_100k") #f
        "" '(time<= 600))
   (row "  mixed list (fixnums, flonums, strings, symbols)"
        (figure "codec:mixed_100k") #f "" #f)
   (row "CBOR encode+decode, 8 MB f64vector (>= 5 GB/s)"
        (figure "codec:f64_8mb") 8mb/5gbs "8 MB at 5 GB/s" '(ratio<= 1))
   (row "parallel-map 1+ over 100,000, in a run" (figure "mp:map_100k")
        (figure "mp:serial_map_100k") "serial map" '(ratio<= 2))
   (row "  same, a whole top-level call" (figure "mp:map_100k_top")
        (figure "mp:serial_map_100k") "serial map" '(ratio<= 3))
   (row "  same, a run around it" (figure "mp:map_100k_run")
        (figure "mp:serial_map_100k") "serial map" #f)
   (row "  n-par-map 2 (Guile threads)" (figure "mp:n_par_map_100k")
        (figure "mp:serial_map_100k") "serial map" #f)
   (row "CPU-bound parallel-map, fib 30 x 48" (figure "mp:fib_map_top")
        (figure "mp:fib_serial") "serial map" '(speed-up>= 1.8))
   (row "  same, inside a run" (figure "mp:fib_map")
        (figure "mp:fib_serial") "serial map" #f)
   (row "  n-par-map 2 (Guile threads)" (figure "mp:fib_n_par_map")
        (figure "mp:fib_serial") "serial map" #f)
   (row "  McUtils" #f #f "not installable: no PyPI here" #f)
   (row "irregular CPU-bound, #:chunk-size 2" (figure "mp:irregular_dynamic")
        (figure "mp:irregular_serial") "serial map" '(speed-up>= 1.8))
   (row "  same, split evenly" (figure "mp:irregular_static")
        (figure "mp:irregular_serial") "serial map" #f)
   (row "  n-par-map 2 (Guile threads)" (figure "mp:irregular_n_par_map")
        (figure "mp:irregular_serial") "serial map" #f)
   (row "share an 80 MB f64vector" (figure "shm:share_80mb")
        (figure "shm:memcpy_80mb") "memcpy 80 MB" '(ratio<= 1.2))
   (row "kernel parallel-map, 10^7 doubles, light, 2 processes"
        (figure "kern:kernel_map_light_2") (half (figure "kern_c:c_loop_light"))
        "C loop / 2" '(ratio<= 1.2))
   (row "  heavy" (figure "kern:kernel_map_heavy_2")
        (half (figure "kern_c:c_loop_heavy")) "C loop / 2" '(ratio<= 1.2))
   (row "  light, MPI" (figure "kern:kernel_map_light_mpi")
        (half (figure "kern_c:c_loop_light")) "C loop / 2" '(ratio<= 1.2))
   (row "  heavy, MPI" (figure "kern:kernel_map_heavy_mpi")
        (half (figure "kern_c:c_loop_heavy")) "C loop / 2" '(ratio<= 1.2))))

(define (ratio ours peer)
  (and ours peer (positive? peer) (/ ours peer)))

(define (verdict ours peer target)
  ;; "met", "MISSED", "n/a" or "" (no target).
  (match target
    (#f "")
    (('time<= us) (cond ((not ours) "n/a") ((<= ours us) "met") (else "MISSED")))
    (('ratio<= r) (match (ratio ours peer)
                    (#f "n/a")
                    (x (if (<= x r) "met" "MISSED"))))
    (('speed-up>= s) (match (ratio peer ours)
                       (#f "n/a")
                       (x (if (>= x s) "met" "MISSED"))))))

(define (target-text target)
  (match target
    (#f "-")
    (('time<= us) (format #f "<= ~a" (duration us)))
    (('ratio<= r) (format #f "<= ~ax" r))
    (('speed-up>= s) (format #f "speed-up >= ~ax" s))))

(define (duration us)
  (cond
   ((not us) "-")
   ((< us 1) (format #f "~,1f ns" (* us 1e3)))
   ((< us 1000) (format #f "~,2f us" us))
   ((< us 1e6) (format #f "~,2f ms" (/ us 1e3)))
   (else (format #f "~,2f s" (/ us 1e6)))))

(define (ratio-text ours peer target)
  (match target
    (('speed-up>= _) (match (ratio peer ours)
                       (#f "-")
                       (x (format #f "~,2fx faster" x))))
    (_ (match (ratio ours peer)
         (#f "-")
         (x (format #f "~,2fx" x))))))

(define (print-table)
  (let* ((header '("figure" "ours" "floor / peer" "peer is" "ratio" "target"
                   ""))
         (lines (map (match-lambda
                       ((label ours peer peer-label target)
                        (list label (duration ours) (duration peer)
                              peer-label (ratio-text ours peer target)
                              (target-text target)
                              (verdict ours peer target))))
                     rows))
         (widths (apply map (lambda column
                              (apply max (map string-length column)))
                        (cons header lines)))
         (show (lambda (cells)
                 (display (string-trim-right
                           (string-join (map string-pad-right cells widths)
                                        "  ")))
                 (newline))))
    (show header)
    (display (make-string (+ (apply + widths) (* 2 (1- (length widths))))
                          #\-))
    (newline)
    (for-each show lines)
    (let ((tally (lambda (word)
                   (count (lambda (line) (equal? (last line) word)) lines))))
      (format #t "~%~a targets met, ~a missed, ~a not measured in this run.~%"
              (tally "met") (tally "MISSED") (tally "n/a")))))

;;; JSON, written by hand: strings, numbers, null.

(define (json-string s)
  (call-with-output-string
    (lambda (port)
      (write-char #\" port)
      (string-for-each (lambda (c)
                         (case c
                           ((#\") (display "\\\"" port))
                           ((#\\) (display "\\\\" port))
                           (else (write-char c port))))
                       s)
      (write-char #\" port))))

(define (json-number x)
  (if x (format #f "~,4f" x) "null"))

(define (write-json file)
  (call-with-output-file file
    (lambda (port)
      (format port "{~%  \"date\": ~a,~%  \"load_average\": ~a,~%  \"cpus\": ~a,~%  \"rows\": [~%"
              (json-string (strftime "%Y-%m-%dT%H:%M:%SZ"
                                     (gmtime (current-time))))
              (json-string (call-with-input-file "/proc/loadavg" read-line))
              (current-processor-count))
      (let loop ((rows rows) (first? #t))
        (match rows
          (() #t)
          (((label ours peer peer-label target) . rest)
           (unless first? (format port ",~%"))
           (format port "    {\"figure\": ~a, \"ours_us\": ~a, \"peer_us\": ~a, \
\"peer\": ~a, \"ratio\": ~a, \"target\": ~a, \"verdict\": ~a}"
                   (json-string (string-trim label)) (json-number ours)
                   (json-number peer) (json-string peer-label)
                   (json-number (ratio ours peer))
                   (json-string (target-text target))
                   (json-string (verdict ours peer target)))
           (loop rest #f))))
      (format port "~%  ]~%}~%"))))

(print-table)
(write-json json-file)
(format #t "The same rows as JSON: ~a~%" json-file)

;;; table.scm ends here
