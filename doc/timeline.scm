;;; The run drawn in the manual's timeline (doc/timeline.svg), made by
;;; `make doc-timeline':
;;;
;;;   ./pre-inst-env guile doc/timeline.scm build/doc/timeline.json
;;;   build/bin/parallelizer trace build/doc/timeline.json -o doc/timeline.svg
;;;
;;; Four processes: a broadcast, work that takes each rank a different
;;; time (so that the others wait in the gather that follows), and a
;;; parallel-map with dynamic chunks of irregular items.

(use-modules (parallelizer))

(define (busy seconds)
  ;; Compute, rather than sleep, for SECONDS.
  (let ((end (+ (get-internal-real-time)
                (* seconds internal-time-units-per-second))))
    (let loop ((x 0))
      (if (< (get-internal-real-time) end)
          (loop (1+ x))
          x))))

(define* (job #:key parallelizer)
  (let* ((p parallelizer)
         (me (parallelizer-id p))
         (table (broadcast p (and (on-main? p) (make-f64vector 20000 1.0)))))
    (busy (* 0.01 (1+ me)))
    (gather p (f64vector-ref table me))
    (parallel-map p (lambda (n) (busy (* 0.002 n)) n)
                  (and (on-main? p) (iota 24))
                  #:chunk-size 3)))

(parallelizer-run (make-multiprocessing-parallelizer #:processes 4) job
                  #:trace (cadr (command-line)))
