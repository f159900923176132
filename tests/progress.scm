;;; The progress of parallel-map and parallel-starmap: the bar forced onto
;;; a port that is not a terminal, parsed line by line, and the procedure
;;; of #:progress, on the backend PARALLELIZER names.
;;;
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile -L tests \
;;;     tests/progress.scm
;;;
;;; (tests/repl.sh checks the bar on a real terminal.)

(use-modules ((srfi srfi-1) #:select (every last iota))
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 regex)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-serial-parallelizer))

(define (slow-square x)
  ;; Long enough that a map of a few dozen items spans several drawings.
  (usleep 2000)
  (* x x))

(define-job (map-job p n options)
  ;; The map's value, and on the main process what it drew on its error
  ;; port.
  (let* ((value #f)
         (drawn (call-with-output-string
                  (lambda (port)
                    (with-error-to-port port
                      (lambda ()
                        (set! value
                          (apply parallel-map p
                                 (if (memq #:vectorized? options)
                                     (lambda (chunk) (map slow-square chunk))
                                     slow-square)
                                 (iota n)
                                 options))))))))
    (if (on-main? p)
        (list value drawn)
        in-worker-process)))

(define-job (starmap-job p n options)
  (let* ((value #f)
         (drawn (call-with-output-string
                  (lambda (port)
                    (with-error-to-port port
                      (lambda ()
                        (set! value
                          (apply parallel-starmap p * (map list (iota n)
                                                           (iota n))
                                 options))))))))
    (if (on-main? p)
        (list value drawn)
        in-worker-process)))

(define-job (calls-job p n options)
  ;; The calls of the #:progress procedure, in order.
  (let* ((calls '())
         (value (apply parallel-map p slow-square (iota n)
                       #:progress (lambda (done total)
                                    (set! calls (cons (list done total)
                                                      calls)))
                       options)))
    (if (on-main? p)
        (list value (reverse calls))
        in-worker-process)))

(define %line
  (make-regexp
   "^parallel-map \\[([#.]{20})\\] ([0-9]+)/([0-9]+) +([0-9]+)% \
([0-9.]+|-)/s ([0-9]+:[0-9][0-9](:[0-9][0-9])?)( ETA ([0-9:]+|-))?$"))

(define (parse-bar text)
  ;; The drawings in TEXT as (DONE TOTAL PERCENT FILLED ETA?), or #f if a
  ;; line is not one.
  (let ((lines (filter (lambda (l) (not (string-null? l)))
                       (string-split text #\newline))))
    (and (pair? lines)
         (every (lambda (l) (regexp-exec %line l)) lines)
         (map (lambda (l)
                (let ((m (regexp-exec %line l)))
                  (list (string->number (match:substring m 2))
                        (string->number (match:substring m 3))
                        (string->number (match:substring m 4))
                        (string-count (match:substring m 1) #\#)
                        (and (match:substring m 8) #t))))
              lines))))

(define (sound-drawings? drawings n)
  ;; Counts never go back, every drawing says N in all, the percentage
  ;; and the bar follow the counts, only unfinished drawings give an ETA,
  ;; and the last one says everything is done.
  (and drawings
       (every (match-lambda
                ((done total percent filled eta?)
                 (and (= total n)
                      (<= 0 done n)
                      (= percent (quotient (* 100 done) n))
                      (= filled (quotient (* 20 done) n))
                      (eq? eta? (< done n)))))
              drawings)
       (apply <= (map car drawings))
       (equal? (list n n 100 20 #f) (last drawings))))

(define-syntax-rule (with-result expr ((pattern ...) body ...))
  ;; Match what a run returned on the main process; on the workers of an
  ;; MPI job, which get in-worker-process, do nothing (only rank 0
  ;; reports).
  (match expr
    ((pattern ...) body ...)
    ((? in-worker-process?) #t)))

(define (squares n)
  (map (lambda (x) (* x x)) (iota n)))

(define (check-forced label n options)
  (with-result (parallelizer-run p map-job n
                                 (append '(#:progress? always) options))
    ((value drawn)
     (test-equal (string-append label ": the values") (squares n) value)
     (let ((drawings (parse-bar drawn)))
       (test-assert (string-append label ": every line is a drawing")
         drawings)
       (test-assert (string-append label ": the drawings are sound")
         (sound-drawings? drawings n))))))

(define (check-calls label n options)
  (with-result (parallelizer-run p calls-job n options)
    ((value calls)
     (test-equal (string-append label ": the values") (squares n) value)
     (test-assert (string-append label ": called with (done total)")
       (and (pair? calls)
            (every (match-lambda ((done total) (and (= total n) (<= 0 done n))))
                   calls)))
     (test-assert (string-append label ": counts never go back")
       (apply <= (map car calls)))
     (test-equal (string-append label ": last called with (total total)")
       (list n n) (last calls)))))

(define-job (bad-options-job p options)
  ;; Only the main process maps: it refuses the options before the map
  ;; starts anywhere.
  (and (on-main? p)
       (catch 'parallelizer-error
         (lambda () (apply parallel-map p 1+ '(1 2 3) options) #f)
         (lambda (key . args) (parallelizer-error-code key args)))))

(run-suite
 "progress"
 (lambda ()
   (check-forced "static" 60 '())
   (check-forced "static, vectorized" 60 '(#:vectorized? #t))
   (check-forced "dynamic, chunks of 7" 60 '(#:chunk-size 7))
   (check-forced "dynamic, chunks of 1" 12 '(#:chunk-size 1))
   (check-forced "fewer items than processes" 1 '())
   (check-calls "static" 60 '())
   (check-calls "dynamic" 60 '(#:chunk-size 5))
   (with-result (parallelizer-run p map-job 30 '(#:progress? #t))
     ((value drawn)
      (test-equal "#:progress? #t off a terminal: the values" (squares 30)
        value)
      (test-equal "#:progress? #t off a terminal draws nothing" "" drawn)))
   (with-result (parallelizer-run p map-job 30 '())
     ((value drawn)
      (test-equal "without progress nothing is drawn" "" drawn)))
   (with-result (parallelizer-run p starmap-job 40 '(#:progress? always))
     ((value drawn)
      (test-equal "parallel-starmap: the values" (squares 40) value)
      (test-assert "parallel-starmap draws a sound bar"
        (sound-drawings? (parse-bar drawn) 40))))
   (let ((code (parallelizer-run p bad-options-job
                                 '(#:progress? sometimes))))
     (unless (in-worker-process? code)
       (test-equal "#:progress? must be #f, #t or always" 'EINVAL code)))
   (let ((code (parallelizer-run p bad-options-job '(#:progress 5))))
     (unless (in-worker-process? code)
       (test-equal "#:progress must be a procedure" 'EINVAL code)))))
