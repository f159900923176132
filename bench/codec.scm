;;; bench/codec.scm — throughput of the wire codec beside Guile's write/read.

;;; Commentary:
;;;
;;; Encodes and decodes an 8 MB f64vector and a 100,000-element mixed list
;;; (fixnums, flonums, short strings, symbols) with value->cbor and
;;; cbor->value, and round-trips the same values through Guile's own
;;; `write' and `read' on string ports.  Prints the best time of several
;;; runs, the throughput in GB/s of the encoded size, and the ratio to
;;; write/read.  Also a list of 100,000 fixnums, the list of DESIGN section
;;; 8's codec target.  Figures only: nothing here passes or fails.  When
;;; the environment names a file in BENCH_ROWS, one "name<TAB>microseconds"
;;; line per value (encode + decode) is appended to it, for
;;; bench/table.scm.
;;;
;;; Code:

(use-modules (parallelizer wire)
             (srfi srfi-4)
             (rnrs bytevectors)
             (ice-9 format))

(define (now)
  (let ((t (gettimeofday)))
    (+ (car t) (/ (cdr t) 1e6))))

(define (best-of runs thunk)
  "Call THUNK RUNS times and return the shortest time in seconds."
  (let loop ((i 0) (best +inf.0))
    (if (= i runs)
        best
        (let ((start (now)))
          (thunk)
          (loop (+ i 1) (min best (- (now) start)))))))

(define (cbor-round-trip value)
  (cbor->value (value->cbor value)))

(define (write-read-round-trip value)
  (call-with-input-string
      (call-with-output-string (lambda (port) (write value port)))
    read))

(define (make-f64)
  (let ((v (make-f64vector (* 1024 1024))))
    (let loop ((i 0))
      (when (< i (f64vector-length v))
        (f64vector-set! v i (* i 0.5))
        (loop (+ i 1))))
    v))

(define (make-mixed)
  (let loop ((i 0) (acc '()))
    (if (= i 100000)
        (reverse acc)
        (loop (+ i 1)
              (cons (case (modulo i 4)
                      ((0) i)
                      ((1) (* i 1.25))
                      ((2) (string-append "s" (number->string i)))
                      (else (string->symbol
                             (string-append "y" (number->string
                                                 (modulo i 97))))))
                    acc)))))

(define rows '())

(define (row key name make-value runs text-runs)
  "Measure the value made by MAKE-VALUE; each row builds its own value so
that the collector's work for one row does not weigh on the other."
  (let* ((value (make-value))
         (bytes (bytevector-length (value->cbor value)))
         (encode (best-of runs (lambda () (value->cbor value))))
         (bv (value->cbor value))
         (decode (best-of runs (lambda () (cbor->value bv))))
         (cbor (+ encode decode))
         (text (best-of text-runs
                        (lambda () (write-read-round-trip value)))))
    (unless (equal? (cbor->value bv) value)
      (error "round trip failed:" name))
    (set! rows (cons (cons key cbor) rows))
    (format #t "~28a ~9,3f ~9,3f ~9,3f ~8,2f ~11,3f ~8,1fx~%"
            name (* 1e3 encode) (* 1e3 decode) (* 1e3 cbor)
            (/ bytes cbor 1e9) (* 1e3 text) (/ text cbor))))

(format #t "~28a ~9@a ~9@a ~9@a ~8@a ~11@a ~9@a~%"
        "value" "enc ms" "dec ms" "cbor ms" "GB/s" "write/read" "speed-up")
(row "f64_8mb" "f64vector, 8 MB" make-f64 50 1)
(gc)
(row "list_100k" "list of 100,000 fixnums" (lambda () (iota 100000)) 30 3)
(gc)
(row "mixed_100k" "mixed list, 100,000 items" make-mixed 20 3)
(format #t "~%Best of several runs.  GB/s: encoded bytes / (encode + decode);
write/read: Guile's write to a string port and read back, in ms;
speed-up: write/read time / (encode + decode) time.~%")

(let ((file (getenv "BENCH_ROWS")))
  (when file
    (call-with-port (open-file file "a")
      (lambda (port)
        (for-each (lambda (row)
                    (format port "codec:~a\t~,3f~%" (car row)
                            (* 1e6 (cdr row))))
                  (reverse rows))))))

;;; codec.scm ends here
