;;; (parallelizer progress) — the progress of a parallel-map, as a bar.

;;; Commentary:
;;;
;;; A progress meter counts the items a map has done out of its total and
;;; shows them on the main process: as a bar on the error port, redrawn in
;;; place when that port is a terminal, or by calling a procedure of the
;;; user's with the two counts.
;;;
;;;   parallel-map [##########..........]  500/1000  50%  98.1/s  0:05  ETA 0:05
;;;
;;; A terminal gets at most ten drawings a second and a last one, ended by
;;; a newline, when the map ends. Elsewhere (a file, a pipe) nothing is
;;; drawn unless asked for with 'always, and then one line a second and
;;; the last one. A procedure is called as often as a terminal would be
;;; redrawn, and once more with the final counts.
;;;
;;; Code:

(define-module (parallelizer progress)
  #:use-module (ice-9 format)
  #:use-module (srfi srfi-9)
  #:use-module (parallelizer errors)
  #:export (make-progress-meter
            progress-meter?
            progress-advance!
            progress-finish!
            progress-due?
            check-progress-options
            item-count))

(define (item-count data)
  "The number of items of DATA along its first axis: a list's length, a
vector's or uniform vector's length, an array's first dimension."
  (if (list? data)
      (length data)
      (car (array-dimensions data))))

(define (check-progress-options who progress? progress)
  "Raise an error from WHO unless PROGRESS? is #f, #t or always and
PROGRESS is #f or a procedure."
  (unless (memq progress? '(#f #t always))
    (raise-parallelizer-error
     who 'EINVAL "#:progress? must be #f, #t or always, got ~s" progress?))
  (unless (or (not progress) (procedure? progress))
    (raise-parallelizer-error
     who 'EINVAL "#:progress must be a procedure of two arguments (done \
and total) or #f, got ~s" progress)))

;; LABEL names the map on the bar; TOTAL counts its items and DONE those
;; done. DRAW is the procedure that shows the counts: it draws the bar on
;; PORT, or calls the user's procedure. INTERVAL is the least time between
;; two drawings, in internal time units, and LAST when the last was.
(define-record-type <progress-meter>
  (%make-progress-meter label total done start last interval draw)
  progress-meter?
  (label meter-label)
  (total meter-total)
  (done meter-done set-meter-done!)
  (start meter-start)
  (last meter-last set-meter-last!)
  (interval meter-interval)
  (draw meter-draw))

(define (now)
  (get-internal-real-time))

(define (seconds ticks)
  (/ ticks 1.0 internal-time-units-per-second))

(define (ticks seconds)
  (inexact->exact (round (* seconds internal-time-units-per-second))))

(define* (make-progress-meter label total #:key (progress? #f)
                              (progress #f)
                              (port (current-error-port)))
  "Return a meter of TOTAL items for the map LABEL (a string), or #f when
nothing is to be shown: PROGRESS, a procedure, is called with the number
of items done and TOTAL; otherwise PROGRESS? #t draws a bar on PORT if it
is a terminal, and PROGRESS? always draws it on PORT whatever it is."
  (let ((terminal? (and (port? port) (false-if-exception (isatty? port)))))
    (cond
     (progress
      (%make-progress-meter label total 0 (now) #f (ticks 0.1)
                            (lambda (meter final?)
                              (progress (meter-done meter) total))))
     ((and progress? terminal?)
      (%make-progress-meter label total 0 (now) #f (ticks 0.1)
                            (lambda (meter final?)
                              (draw-bar meter port #t final?))))
     ((eq? progress? 'always)
      (%make-progress-meter label total 0 (now) #f (ticks 1)
                            (lambda (meter final?)
                              (draw-bar meter port #f final?))))
     (else #f))))

(define (progress-due? meter)
  "Return #t if METER would draw now: the least interval between two
drawings has passed since the last."
  (let ((last (meter-last meter)))
    (or (not last) (>= (- (now) last) (meter-interval meter)))))

(define (progress-advance! meter n)
  "Count N more items done on METER (which may be #f: then nothing
happens), and draw it if it is due."
  (when meter
    (set-meter-done! meter (min (meter-total meter) (+ (meter-done meter) n)))
    (when (progress-due? meter)
      (set-meter-last! meter (now))
      ((meter-draw meter) meter #f))))

(define (progress-finish! meter)
  "Count every item of METER (which may be #f) done and draw it for the
last time."
  (when meter
    (set-meter-done! meter (meter-total meter))
    (set-meter-last! meter (now))
    ((meter-draw meter) meter #t)))

(define (clock seconds)
  ;; SECONDS as M:SS, or H:MM:SS from an hour on.
  (let* ((s (inexact->exact (floor seconds)))
         (h (quotient s 3600))
         (m (quotient (remainder s 3600) 60))
         (s (remainder s 60)))
    (if (zero? h)
        (format #f "~d:~2,'0d" m s)
        (format #f "~d:~2,'0d:~2,'0d" h m s))))

(define (rate-text rate)
  (cond
   ((>= rate 100) (format #f "~d/s" (inexact->exact (round rate))))
   ((>= rate 1) (format #f "~,1f/s" rate))
   (else (format #f "~,2f/s" rate))))

(define %bar-width 20)

(define (bar-line meter)
  ;; One drawing of METER, without a line end.
  (let* ((total (meter-total meter))
         (done (meter-done meter))
         (elapsed (seconds (- (now) (meter-start meter))))
         (fraction (if (zero? total) 1 (/ done total)))
         (filled (inexact->exact (floor (* fraction %bar-width))))
         (rate (and (> elapsed 0) (/ done elapsed))))
    (format #f "~a [~a~a] ~a/~a ~3d% ~a ~a~a"
            (meter-label meter)
            (make-string filled #\#)
            (make-string (- %bar-width filled) #\.)
            done total
            (inexact->exact (floor (* 100 fraction)))
            (if rate (rate-text rate) "-/s")
            (clock elapsed)
            (cond
             ((= done total) "")
             ((and rate (> rate 0))
              (string-append " ETA " (clock (/ (- total done) rate))))
             (else " ETA -")))))

(define (draw-bar meter port terminal? final?)
  ;; On a terminal, the line is drawn over the last one (carriage return,
  ;; then erase to the end of the line), and the last drawing ends it;
  ;; elsewhere every drawing is a line of its own.
  (if terminal?
      (format port "\r~a\x1b[K~a" (bar-line meter) (if final? "\n" ""))
      (format port "~a~%" (bar-line meter)))
  (force-output port))
