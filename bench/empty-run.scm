;;; bench/empty-run.scm — an empty parallelizer-run in a small and a large
;;; process.

;;; Commentary:
;;;
;;; Forking costs more the more memory the main process has mapped and
;;; touched: the kernel copies its page tables, and the collector's heap
;;; is most of them. This program times an empty run of 2 processes
;;; (median of many, after a warm-up) in its own fresh process, then again
;;; after it has made about HEAP-MB megabytes of live Scheme data (pairs
;;; and vectors, as a program's data usually are; default 50), and prints
;;; both, with "name<TAB>microseconds" lines appended to the file named by
;;; BENCH_ROWS, if any, for bench/table.scm.
;;;
;;;   ./pre-inst-env guile --no-auto-compile bench/empty-run.scm [HEAP-MB]
;;;
;;; Code:

(eval-when (expand load eval)
  (add-to-load-path (dirname (dirname (canonicalize-path (current-filename))))))

(use-modules (bench lib)
             (parallelizer)
             (ice-9 format)
             (ice-9 match))

(define heap-mb
  (match (command-line)
    ((_ mb) (string->number mb))
    (_ 50)))

(define p (make-multiprocessing-parallelizer #:processes 2 #:timeout 60))

(define (empty-job . _) #t)

(define (empty-run-time)
  (time-per-call (lambda () (parallelizer-run p empty-job))
                 #:iterations 5 #:repetitions 9 #:warm-up 3))

(define small (empty-run-time))

(define data
  ;; HEAP-MB megabytes of live data: vectors of 1,000 pairs (16 bytes a
  ;; pair, 8 a slot).
  (let ((vectors (quotient (* heap-mb 1024 1024) (* 1000 24))))
    (map (lambda (i)
           (let ((v (make-vector 1000)))
             (let loop ((k 0))
               (when (< k 1000)
                 (vector-set! v k (cons i k))
                 (loop (1+ k))))
             v))
         (iota vectors))))

(gc)

(define large (empty-run-time))

(format #t "empty parallelizer-run, 2 processes: ~a; with ~a MB of live \
data: ~a (heap ~,1f MB)~%"
        (format-duration small) heap-mb (format-duration large)
        (/ (assq-ref (gc-stats) 'heap-size) 1024. 1024.))

(let ((file (getenv "BENCH_ROWS")))
  (when file
    (call-with-port (open-file file "a")
      (lambda (port)
        (format port "mp:empty_run_fresh\t~,3f~%" (* small 1e6))
        (format port "mp:empty_run_~amb\t~,3f~%" heap-mb (* large 1e6))))))

;; DATA stays live to the end.
(unless (pair? data) (display ""))

;;; empty-run.scm ends here
