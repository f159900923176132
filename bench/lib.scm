;;; (bench lib) — timing helpers shared by the Scheme benchmarks.

;;; Commentary:
;;;
;;; Everything the benchmarks in bench/ need to time an operation the same
;;; way: a monotonic clock in nanoseconds, the median of repeated
;;; measurements after a warm-up, the same inside a job (every process
;;; lined up by a barrier before each repetition, rank 0's figure kept), a
;;; compiled loop so that the loop itself costs next to nothing, and the
;;; printing of durations, ratios and tables.
;;;
;;; The benchmark scripts make the source tree's root loadable themselves,
;;; so this module is found as (bench lib) whatever -L says:
;;;
;;;   (use-modules (bench lib))
;;;   (time-per-call (lambda () (map 1+ lst)) #:iterations 10)
;;;   => 0.0031   ; seconds per call, median of the repetitions
;;;
;;; Code:

(define-module (bench lib)
  #:use-module (ice-9 format)
  #:use-module (ice-9 match)
  #:use-module (system base compile)
  #:export (now-ns
            median
            repeat-call
            compiled
            time-per-call
            time-in-job
            format-duration
            format-ratio
            print-table))

(define (now-ns)
  "Return a monotonic clock reading in nanoseconds."
  ;; Guile 3 counts internal time in nanoseconds; scale in case it does
  ;; not.
  (let ((t (get-internal-real-time)))
    (if (= internal-time-units-per-second 1000000000)
        t
        (quotient (* t 1000000000) internal-time-units-per-second))))

(define (median numbers)
  "Return the median of the non-empty list NUMBERS (the mean of the two
middle ones when their count is even)."
  (let* ((sorted (sort numbers <))
         (n (length sorted))
         (mid (quotient n 2)))
    (if (odd? n)
        (list-ref sorted mid)
        (/ (+ (list-ref sorted (1- mid)) (list-ref sorted mid)) 2))))

(define (compiled expression)
  "Compile the quoted EXPRESSION to native bytecode in a fresh module that
sees Guile's default bindings and return its value. Workloads and loops
made this way cost what they would in a compiled program, even when the
benchmark script itself is interpreted."
  (compile expression #:to 'value #:env (make-fresh-user-module)))

(define repeat-call
  ;; (repeat-call N THUNK): call THUNK N times. Compiled, so the loop
  ;; around a sub-microsecond operation does not weigh on it.
  (compiled '(lambda (n thunk)
               (let loop ((i 0))
                 (when (< i n)
                   (thunk)
                   (loop (1+ i)))))))

(define* (time-per-call thunk #:key (iterations 1) (repetitions 7)
                        (warm-up 1))
  "Call THUNK WARM-UP times, then time ITERATIONS calls REPETITIONS times
and return the median time per call, in seconds."
  (repeat-call warm-up thunk)
  (median
   (map (lambda (_)
          (let ((start (now-ns)))
            (repeat-call iterations thunk)
            (/ (- (now-ns) start) iterations 1e9)))
        (iota repetitions))))

(define* (time-in-job line-up rank thunk #:key (iterations 1)
                      (repetitions 7) (warm-up 1))
  "Inside a job, on every process: call THUNK WARM-UP times, then, for each
of REPETITIONS repetitions, call LINE-UP (a barrier of the group, a thunk)
and time ITERATIONS calls of THUNK. Return on process 0 (RANK is this
process's rank) the median time per call in seconds, #f on the others.
Every process must make the same calls, since THUNK usually communicates."
  (repeat-call warm-up thunk)
  (let ((times (map (lambda (_)
                      (line-up)
                      (let ((start (now-ns)))
                        (repeat-call iterations thunk)
                        (/ (- (now-ns) start) iterations 1e9)))
                    (iota repetitions))))
    (and (zero? rank) (median times))))

(define (format-duration seconds)
  "Return SECONDS as a short string in ns, us, ms or s; \"-\" for #f."
  (cond
   ((not seconds) "-")
   ((< seconds 1e-6) (format #f "~,1f ns" (* seconds 1e9)))
   ((< seconds 1e-3) (format #f "~,2f us" (* seconds 1e6)))
   ((< seconds 1) (format #f "~,2f ms" (* seconds 1e3)))
   (else (format #f "~,2f s" seconds))))

(define (format-ratio ratio)
  "Return RATIO as \"N.NNx\"; \"-\" for #f."
  (cond
   ((not ratio) "-")
   ((< ratio 0.01) (format #f "~,4fx" ratio))
   (else (format #f "~,2fx" ratio))))

(define (print-table header rows)
  "Print HEADER (a list of strings) and ROWS (lists of strings of the same
length) as left-aligned columns, with a rule under the header."
  (let* ((all (cons header rows))
         (widths (apply map
                        (lambda column (apply max (map string-length column)))
                        all))
         (print-row (lambda (row)
                      (let ((line (string-join
                                   (map (lambda (cell width)
                                          (string-pad-right cell width))
                                        row widths)
                                   "  ")))
                        (display (string-trim-right line))
                        (newline)))))
    (print-row header)
    (display (make-string (+ (apply + widths) (* 2 (1- (length widths))))
                          #\-))
    (newline)
    (for-each print-row rows)))

;;; lib.scm ends here
