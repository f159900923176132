;;; (parallelizer trace) — timelines of runs: recording, JSON and SVG.

;;; Commentary:
;;;
;;; parallelizer-run #:trace FILE (or PARALLELIZER_TRACE=FILE) records
;;; every operation of every process of the run (see par/trace.h: what it
;;; was, its peer, its bytes, when it started and ended, how long it
;;; waited) and writes them to FILE as Chrome trace-event JSON, which
;;; Perfetto (ui.perfetto.dev) and chrome://tracing open: one lane per
;;; rank, a "job" slice per rank spanning its job, and inside it one slice
;;; per operation, whose arguments hold the peer, the bytes and the time
;;; waited.
;;;
;;; Each process hands in its own record when its job ends: on MPI by a
;;; gather to rank 0, elsewhere in a file beside FILE that the main process
;;; collects once the run is over, so that the record of a process that
;;; failed is kept. Times are those of CLOCK_MONOTONIC, shared by the
;;; processes of one machine, and start at 0 with the first job.
;;;
;;; trace-json->svg draws such a file as an SVG timeline, one lane per
;;; rank, operations as labelled boxes, their waiting shaded
;;; (`parallelizer trace FILE.json -o FILE.svg`).
;;;
;;; Code:

(define-module (parallelizer trace)
  #:use-module (ice-9 format)
  #:use-module (ice-9 ftw)
  #:use-module (ice-9 match)
  #:use-module (ice-9 rdelim)
  #:use-module ((srfi srfi-1) #:select (append-map delete-duplicates
                                        filter-map fold last))
  #:use-module (parallelizer core)
  #:use-module ((parallelizer errors) #:select (job-error?))
  #:use-module ((parallelizer primitives)
                #:select (%comm-backend
                          %comm-gather
                          %comm-rank
                          %comm-size
                          %comm-trace-events
                          %comm-trace-start!
                          %comm-trace-stop!
                          %trace-clock))
  #:export (run-trace-file
            traced-job
            prepare-trace!
            finish-trace!
            trace-json->svg
            read-json))

(define (run-trace-file file)
  "The file a run traces to: FILE (from #:trace), else the value of
PARALLELIZER_TRACE, else #f."
  (or file
      (match (getenv "PARALLELIZER_TRACE")
        ((or #f "") #f)
        (name name))))

;;;
;;; Recording.
;;;

;; The records of the processes of the last traced run on MPI, gathered
;; on rank 0.
(define %gathered #f)

(define (part-file file rank)
  (format #f "~a.rank-~a.part" file rank))

(define (part-file? file name)
  (let ((prefix (string-append (basename file) ".rank-")))
    (and (string-prefix? prefix name) (string-suffix? ".part" name))))

(define (directory-of file)
  (let ((dir (dirname file)))
    (if (string-null? dir) "." dir)))

(define (part-files file)
  (map (lambda (name) (string-append (directory-of file) "/" name))
       (or (scandir (directory-of file) (lambda (name) (part-file? file name)))
           '())))

(define (prepare-trace! file)
  "Before a traced run, on the main process: remove what an earlier run
that was cut short left beside FILE."
  (set! %gathered #f)
  (for-each (lambda (f) (false-if-exception (delete-file f)))
            (part-files file)))

(define (traced-job file p thunk)
  "Return a thunk that calls THUNK, the job of a run of P, with its
process's operations recorded, and hands in the record when it returns
(see the commentary)."
  (lambda ()
    (let* ((comm (parallelizer-comm p))
           (start (%trace-clock)))
      (%comm-trace-start! comm)
      (let ((result (thunk)))
        (%comm-trace-stop! comm)
        (let ((record (list (%comm-rank comm) (getpid) start (%trace-clock)
                            (job-error? result)
                            (%comm-trace-events comm))))
          (if (eq? (%comm-backend comm) 'mpi)
              (let ((all (%comm-gather comm record 0)))
                (when (zero? (%comm-rank comm))
                  (set! %gathered (list (%comm-size comm) all))))
              (call-with-output-file (part-file file (%comm-rank comm))
                (lambda (port) (write record port)))))
        result))))

(define (finish-trace! file p backend nprocs)
  "After a traced run, on the process where parallelizer-run returns:
write the records of its NPROCS processes to FILE as Chrome trace-event
JSON, if this is the main process, and remove the files they came in. A
trace that cannot be written is reported on the error port: the run's
own outcome stands."
  (catch #t
    (lambda () (write-records! file backend nprocs))
    (lambda (key . args)
      (let ((port (current-error-port)))
        (format port "parallelizer-run: cannot write the trace ~a: " file)
        (print-exception port #f key args)
        (force-output port)))))

(define (write-records! file backend nprocs)
  (cond
   (%gathered
    (match %gathered
      ((n records)
       (set! %gathered #f)
       (write-trace file backend n records))))
   ((eq? backend 'mpi) #t)
   (else
    (let* ((files (part-files file))
           ;; A process killed while it wrote its record (the run was
           ;; stopped for another's failure) leaves it cut short.
           (records (filter-map (lambda (f)
                                  (match (false-if-exception
                                          (call-with-input-file f read))
                                    ((and record (_ _ _ _ _ _)) record)
                                    (_ #f)))
                                files)))
      (for-each (lambda (f) (false-if-exception (delete-file f))) files)
      (write-trace file backend nprocs
                   (sort records (lambda (a b) (< (car a) (car b)))))))))

;;;
;;; Chrome trace-event JSON.
;;;

(define (json-string s)
  (call-with-output-string
    (lambda (port)
      (write-char #\" port)
      (string-for-each
       (lambda (c)
         (case c
           ((#\") (display "\\\"" port))
           ((#\\) (display "\\\\" port))
           ((#\newline) (display "\\n" port))
           (else
            (if (char<? c #\space)
                (format port "\\u~4,'0x" (char->integer c))
                (write-char c port)))))
       s)
      (write-char #\" port))))

(define (json-value v)
  (cond
   ((string? v) (json-string v))
   ((symbol? v) (json-string (symbol->string v)))
   ((eq? v #t) "true")
   ((eq? v #f) "false")
   ((exact-integer? v) (number->string v))
   ((real? v) (format #f "~,3f" v))
   ((list? v)
    (string-append
     "{" (string-join (map (match-lambda
                             ((key . value)
                              (string-append (json-string key) ":"
                                             (json-value value))))
                           v)
                      ",")
     "}"))))

(define (micros ns)
  ;; NS nanoseconds as microseconds with three decimals, exactly: slices
  ;; whose times nest keep nesting once printed.
  (format #f "~d.~3,'0d" (quotient ns 1000) (remainder ns 1000)))

(define (raw text)
  ;; TEXT, which is JSON already, as a value for event-line.
  (vector text))

(define (event-line fields)
  ;; One event: FIELDS is an alist of values for json-value, or JSON text
  ;; already (see raw).
  (string-append
   "{" (string-join (map (match-lambda
                           ((key . #(text))
                            (string-append (json-string key) ":" text))
                           ((key . value)
                            (string-append (json-string key) ":"
                                           (json-value value))))
                         fields)
                    ",")
   "}"))

(define (category kind)
  (cond
   ((member kind '("send-to" "receive-from")) "message")
   ((string=? kind "job") "job")
   (else "collective")))

(define (peer-args kind peer)
  (cond
   ((string=? kind "send-to") `(("to" . ,peer)))
   ((string=? kind "receive-from")
    `(("from" . ,(if (= peer -2) "any" peer))))
   ((>= peer 0) `(("root" . ,peer)))
   (else '())))

(define (write-trace file backend nprocs records)
  (let* ((origin (if (null? records)
                     0
                     (apply min (map (match-lambda ((_ _ start . _) start))
                                     records))))
         (ns (lambda (t) (max 0 (inexact->exact
                                 (round (* 1e9 (- t origin))))))))
    (define (slice name rank start end args)
      (let ((s (ns start)) (e (max (ns start) (ns end))))
        (event-line
         `(("name" . ,name) ("cat" . ,(category name)) ("ph" . "X")
           ("pid" . 1) ("tid" . ,rank)
           ("ts" . ,(raw (micros s))) ("dur" . ,(raw (micros (- e s))))
           ("args" . ,args)))))
    (define (record-events record)
      (match record
        ((rank pid start end failed? events)
         (append
          (list (event-line
                 `(("name" . "thread_name") ("ph" . "M") ("pid" . 1)
                   ("tid" . ,rank)
                   ("args" . (("name" . ,(format #f "rank ~a (pid ~a)"
                                                  rank pid))))))
                (event-line
                 `(("name" . "thread_sort_index") ("ph" . "M") ("pid" . 1)
                   ("tid" . ,rank)
                   ("args" . (("sort_index" . ,rank)))))
                (slice "job" rank start end `(("rank" . ,rank) ("pid" . ,pid)
                                              ("failed" . ,failed?))))
          (map (match-lambda
                 (#(kind peer seq error bytes start end wait)
                  (slice kind rank start end
                         (append (peer-args kind peer)
                                 (if (> seq 0) `(("seq" . ,seq)) '())
                                 `(("bytes" . ,bytes)
                                   ("wait_us" . ,(* 1e6 wait)))
                                 (if error `(("error" . ,error)) '())))))
               events)))))
    (define process-name
      (event-line
       `(("name" . "process_name") ("ph" . "M") ("pid" . 1)
         ("args" . (("name" . ,(format #f "parallelizer run (~a, ~a \
processes)" backend nprocs)))))))
    (call-with-output-file file
      (lambda (port)
        (format port "{\"traceEvents\":[~%")
        (display (string-join (cons process-name
                                    (append-map record-events records))
                              ",\n")
                 port)
        (format port "~%],~%\"displayTimeUnit\":\"ms\",~%\"otherData\":~a}~%"
                (json-value `(("backend" . ,backend)
                              ("processes" . ,nprocs)
                              ("recorded" . ,(length records)))))))))

;;;
;;; Reading JSON (as much as the timelines need: all of it).
;;;

(define (read-json port)
  "Read one JSON value from PORT: objects become alists with string keys,
arrays lists, true/false #t/#f, null the symbol null."
  (define (skip)
    (let ((c (peek-char port)))
      (when (and (char? c) (char-whitespace? c))
        (read-char port)
        (skip))))
  (define (expect s)
    (string-for-each (lambda (c)
                       (unless (eqv? (read-char port) c)
                         (error "malformed JSON, expected" s)))
                     s))
  (define (read-string*)
    (read-char port)
    (let loop ((chars '()))
      (match (read-char port)
        (#\" (list->string (reverse chars)))
        (#\\
         (match (read-char port)
           (#\n (loop (cons #\newline chars)))
           (#\t (loop (cons #\tab chars)))
           (#\r (loop (cons #\return chars)))
           (#\b (loop (cons #\backspace chars)))
           (#\f (loop (cons #\page chars)))
           (#\u (let ((hex (list->string (list (read-char port) (read-char port)
                                               (read-char port) (read-char port)))))
                  (loop (cons (integer->char (string->number hex 16)) chars))))
           (c (loop (cons c chars)))))
        ((? eof-object?) (error "malformed JSON: unterminated string"))
        (c (loop (cons c chars))))))
  (define (read-number)
    (let loop ((chars '()))
      (let ((c (peek-char port)))
        (if (and (char? c) (string-index "+-0123456789.eE" c))
            (loop (cons (read-char port) chars))
            (or (string->number (list->string (reverse chars)))
                (error "malformed JSON number"))))))
  (define (read-sequence close read-item)
    (read-char port)
    (skip)
    (if (eqv? (peek-char port) close)
        (begin (read-char port) '())
        (let loop ((items (list (read-item))))
          (skip)
          (match (read-char port)
            (#\, (skip) (loop (cons (read-item) items)))
            ((? (lambda (c) (eqv? c close))) (reverse items))
            (c (error "malformed JSON, unexpected" c))))))
  (define (read-value)
    (skip)
    (match (peek-char port)
      (#\{ (read-sequence #\}
                          (lambda ()
                            (skip)
                            (let ((key (read-string*)))
                              (skip)
                              (expect ":")
                              (cons key (read-value))))))
      (#\[ (read-sequence #\] read-value))
      (#\" (read-string*))
      (#\t (expect "true") #t)
      (#\f (expect "false") #f)
      (#\n (expect "null") 'null)
      ((? eof-object?) (error "malformed JSON: unexpected end"))
      (_ (read-number))))
  (read-value))

;;;
;;; SVG timelines.
;;;

(define %colours
  '(("broadcast" . "#4e79a7") ("scatter" . "#f28e2b") ("gather" . "#e15759")
    ("allgather" . "#76b7b2") ("reduce-to-root" . "#59a14f")
    ("allreduce" . "#edc948") ("barrier" . "#b07aa1")
    ("send-to" . "#ff9da7") ("receive-from" . "#9c755f")
    ("parallel-map" . "#86bcb6") ("control" . "#d4a6c8")))

(define (colour kind)
  (or (assoc-ref %colours kind) "#bab0ac"))

(define (ref alist key default)
  (match (assoc key alist)
    ((_ . value) value)
    (#f default)))

(define (xml-text s)
  (call-with-output-string
    (lambda (port)
      (string-for-each (lambda (c)
                         (case c
                           ((#\<) (display "&lt;" port))
                           ((#\>) (display "&gt;" port))
                           ((#\&) (display "&amp;" port))
                           ((#\") (display "&quot;" port))
                           (else (write-char c port))))
                       s))))

(define (nice-step span)
  ;; A tick step of 1, 2 or 5 times a power of ten that cuts SPAN into
  ;; about eight.
  (if (<= span 0)
      1
      (let* ((raw (/ span 8.0))
             (power (expt 10 (floor (/ (log raw) (log 10)))))
             (unit (/ raw power)))
        (* power (cond ((< unit 1.5) 1) ((< unit 3.5) 2) ((< unit 7.5) 5)
                       (else 10))))))

(define (time-label us)
  (cond
   ((>= us 1e6) (format #f "~,2f s" (/ us 1e6)))
   ((>= us 1e3) (format #f "~,2f ms" (/ us 1e3)))
   (else (format #f "~,1f us" us))))

(define (trace-json->svg json-file svg-file)
  "Draw the trace JSON-FILE (written by a traced run) as the SVG timeline
SVG-FILE: one lane per rank, time across, each operation a box labelled
with its name, the part of it spent waiting hatched, and a legend."
  (let* ((trace (call-with-input-file json-file read-json))
         (events (ref trace "traceEvents" '()))
         (lanes (sort (delete-duplicates
                       (filter-map (lambda (e) (let ((tid (ref e "tid" #f)))
                                                 (and (number? tid) tid)))
                                   events))
                      <))
         (names (filter-map (lambda (e)
                              (and (equal? (ref e "name" #f) "thread_name")
                                   (cons (ref e "tid" 0)
                                         (ref (ref e "args" '()) "name" ""))))
                            events))
         (title (or (any-ref events "process_name") "parallelizer run"))
         (slices (filter (lambda (e) (equal? (ref e "ph" #f) "X")) events))
         (end (fold (lambda (e m) (max m (+ (ref e "ts" 0) (ref e "dur" 0))))
                    0 slices))
         (kinds (delete-duplicates
                 (filter-map (lambda (e)
                               (let ((name (ref e "name" "")))
                                 (and (not (string=? name "job")) name)))
                             slices)))
         (left 170) (right 30) (top 50) (lane-height 34) (width 1100)
         (plot (- width left right))
         (scale (if (> end 0) (/ plot end) 1))
         (x (lambda (us) (+ left (* scale us))))
         (lane-y (lambda (tid)
                   (+ top (* lane-height (or (list-index-of lanes tid) 0)))))
         (axis-y (+ top (* lane-height (length lanes)) 8))
         (legend-y (+ axis-y 40))
         (height (+ legend-y 30 (* 22 (quotient (+ (length kinds) 3) 4)))))
    (call-with-output-file svg-file
      (lambda (port)
        (format port "<?xml version=\"1.0\" encoding=\"UTF-8\"?>
<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"~a\" height=\"~a\" \
viewBox=\"0 0 ~a ~a\" font-family=\"sans-serif\" font-size=\"11\">
<defs>
<pattern id=\"wait\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
patternTransform=\"rotate(45)\">
<rect width=\"6\" height=\"6\" fill=\"#ffffff\" fill-opacity=\"0.35\"/>
<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#000000\" stroke-width=\"2.5\" \
stroke-opacity=\"0.45\"/>
</pattern>
</defs>
<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>
<text x=\"~a\" y=\"24\" font-size=\"15\" font-weight=\"bold\">~a</text>
" width height width height left (xml-text title))
        ;; Lanes.
        (for-each
         (lambda (tid)
           (let ((y (lane-y tid))
                 (label (or (assv-ref names tid) (format #f "rank ~a" tid))))
             (format port "<g class=\"lane\" data-rank=\"~a\">~%" tid)
             (format port "<rect x=\"~a\" y=\"~a\" width=\"~a\" height=\"~a\" \
fill=\"~a\"/>~%"
                     left y plot (- lane-height 4)
                     (if (even? tid) "#f4f4f4" "#ebebeb"))
             (format port "<text x=\"~a\" y=\"~a\" text-anchor=\"end\">~a</text>~%"
                     (- left 8) (+ y (/ lane-height 2.0) 0) (xml-text label))
             (for-each
              (lambda (e)
                (when (eqv? (ref e "tid" #f) tid)
                  (draw-slice port e x scale y lane-height)))
              ;; The job first, under its operations.
              (sort slices (lambda (a b)
                             (and (equal? (ref a "name" "") "job")
                                  (not (equal? (ref b "name" "") "job"))))))
             (format port "</g>~%")))
         lanes)
        ;; Time axis.
        (format port "<g class=\"axis\">~%<line x1=\"~a\" y1=\"~a\" x2=\"~a\" \
y2=\"~a\" stroke=\"#333333\"/>~%" left axis-y (+ left plot) axis-y)
        (let ((step (nice-step end)))
          (let loop ((t 0))
            (when (<= t (* end 1.0001))
              (format port "<line x1=\"~,2f\" y1=\"~a\" x2=\"~,2f\" y2=\"~a\" \
stroke=\"#333333\"/>~%<text x=\"~,2f\" y=\"~a\" text-anchor=\"middle\">~a</text>~%"
                      (x t) axis-y (x t) (+ axis-y 5) (x t) (+ axis-y 18)
                      (time-label t))
              (loop (+ t step)))))
        (format port "</g>~%")
        ;; Legend.
        (format port "<g class=\"legend\">~%")
        (let loop ((items (append (map (lambda (k) (list k (colour k) #f))
                                       kinds)
                                  (list (list "job" "#d9d9d9" #f)
                                        (list "waiting for peers" "#999999"
                                              #t))))
                   (i 0))
          (match items
            (() #t)
            (((label fill hatched?) . rest)
             (let ((lx (+ left (* 220 (remainder i 4))))
                   (ly (+ legend-y (* 22 (quotient i 4)))))
               (format port "<rect x=\"~a\" y=\"~a\" width=\"14\" height=\"14\" \
fill=\"~a\"/>~%" lx ly fill)
               (when hatched?
                 (format port "<rect x=\"~a\" y=\"~a\" width=\"14\" height=\"14\" \
fill=\"url(#wait)\"/>~%" lx ly))
               (format port "<text x=\"~a\" y=\"~a\">~a</text>~%"
                       (+ lx 20) (+ ly 11) (xml-text label)))
             (loop rest (1+ i)))))
        (format port "</g>~%</svg>~%")))))

(define (any-ref events name)
  ;; The name argument of the metadata event NAME, if any.
  (let loop ((events events))
    (match events
      (() #f)
      ((e . rest)
       (if (equal? (ref e "name" #f) name)
           (ref (ref e "args" '()) "name" #f)
           (loop rest))))))

(define (list-index-of lst x)
  (let loop ((lst lst) (i 0))
    (match lst
      (() #f)
      ((y . rest) (if (equal? x y) i (loop rest (1+ i)))))))

(define (draw-slice port e x scale y lane-height)
  (let* ((name (ref e "name" ""))
         (args (ref e "args" '()))
         (ts (ref e "ts" 0))
         (dur (ref e "dur" 0))
         (x0 (x ts))
         (w (max 0.5 (* scale dur)))
         (job? (string=? name "job"))
         (wait (if job? 0 (ref args "wait_us" 0)))
         (h (if job? (- lane-height 8) (- lane-height 14)))
         (y0 (if job? (+ y 2) (+ y 5))))
    (format port "<g class=\"~a\"><title>~a</title>~%"
            (if job? "job" "op") (xml-text (slice-title name args dur)))
    (format port "<rect x=\"~,2f\" y=\"~a\" width=\"~,2f\" height=\"~a\" \
fill=\"~a\"~a/>~%"
            x0 y0 w h
            (if job?
                (if (ref args "failed" #f) "#f2c4c4" "#d9d9d9")
                (colour name))
            (if job? "" " stroke=\"#ffffff\" stroke-width=\"0.5\""))
    (when (and (not job?) (> wait 0) (> dur 0))
      (format port "<rect class=\"wait\" x=\"~,2f\" y=\"~a\" width=\"~,2f\" \
height=\"~a\" fill=\"url(#wait)\"/>~%"
              x0 y0 (* w (min 1 (/ wait dur))) h))
    (when (and (not job?) (> w (* 6.5 (string-length name))))
      (format port "<text x=\"~,2f\" y=\"~a\" fill=\"#ffffff\">~a</text>~%"
              (+ x0 3) (+ y0 (/ h 2.0) 4) (xml-text name)))
    (format port "</g>~%")))

(define (slice-title name args dur)
  (string-append
   name
   (match (assoc "root" args) ((_ . r) (format #f ", root ~a" r)) (#f ""))
   (match (assoc "to" args) ((_ . r) (format #f " rank ~a" r)) (#f ""))
   (match (assoc "from" args) ((_ . r) (format #f " rank ~a" r)) (#f ""))
   (format #f ": ~a" (time-label dur))
   (match (assoc "bytes" args)
     ((_ . b) (format #f ", ~a bytes" b))
     (#f ""))
   (match (assoc "wait_us" args)
     ((_ . w) (format #f ", ~a waiting" (time-label w)))
     (#f ""))
   (match (assoc "error" args) ((_ . e) (format #f ", failed: ~a" e)) (#f ""))))
