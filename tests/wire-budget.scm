;;; tests/wire-budget.scm — the decoder's bound on memory and work.

;;; Commentary:
;;;
;;; cbor->value promises that decoding a message of N bytes costs at most
;;; 64 N bytes plus 16 MiB (doc/wire-format.texi, "Limits"), whatever the
;;; message holds.  Each case here decodes a hostile message (10 MB of
;;; empty maps, of empty weak tables, keys that all collide in Guile's
;;; hash function, an array of 2^62 rows of nothing) and checks that it is
;;; refused with ETOOBIG and that the process's peak resident memory grew
;;; by no more than the bound; messages within the bound decode.  The
;;; figures (time, growth of the peak) go to the log.
;;;
;;; Each message is decoded in a child process of its own, so that the
;;; peak measured is that decoding's.  The whole suite runs under a hard
;;; timeout of its own: SIGALRM, whose default action ends the process, so
;;; a decoder that spins is a failure rather than a stuck run.
;;;
;;; Code:

(use-modules (srfi srfi-1)
             (srfi srfi-64)
             (rnrs bytevectors)
             (ice-9 format)
             (ice-9 rdelim)
             (harness)
             (parallelizer wire))

(alarm 300)

(define mib (* 1024 1024))

(define (bound len)
  "The decoder's bound for a message of LEN bytes."
  (+ (* 64 len) (* 16 mib)))

(define (status-bytes field)
  "FIELD of /proc/self/status (VmRSS, VmHWM), in bytes."
  (call-with-input-file "/proc/self/status"
    (lambda (port)
      (let loop ((line (read-line port)))
        (cond
         ((eof-object? line) (error "no such field" field))
         ((string-prefix? field line)
          (* 1024 (string->number
                   (car (string-tokenize (substring line
                                                    (string-length field)))))))
         (else (loop (read-line port))))))))

(define (reset-peak!)
  ;; Writing 5 to clear_refs sets VmHWM back to the current VmRSS.
  (call-with-output-file "/proc/self/clear_refs"
    (lambda (port) (display "5" port))))

(define (decode-measured name bv)
  "Decode BV in a child process of its own, so that its peak memory is
its own; return (OUTCOME GROWTH), OUTCOME being ok or the error's code,
GROWTH the growth of the child's peak resident memory in bytes over what
it had before decoding."
  (let* ((pipe (pipe))
         (pid (primitive-fork)))
    (if (zero? pid)
        (begin
          (close-port (car pipe))
          (gc)
          (reset-peak!)
          (let* ((before (status-bytes "VmRSS:"))
                 (start (get-internal-real-time))
                 (outcome (catch 'parallelizer-error
                            (lambda () (cbor->value bv) 'ok)
                            (lambda (key who message irritants rest)
                              (car rest))))
                 (seconds (/ (- (get-internal-real-time) start)
                             internal-time-units-per-second 1.0))
                 (growth (max 0 (- (status-bytes "VmHWM:") before))))
            (write (list outcome growth seconds) (cdr pipe))
            (force-output (cdr pipe))
            (primitive-_exit 0)))
        (begin
          (close-port (cdr pipe))
          (let ((result (read (car pipe))))
            (close-port (car pipe))
            (waitpid pid)
            (format #t "~a: ~a bytes, ~a after ~,2f s, peak memory +~,1f MB \
(bound ~,1f MB)~%"
                    name (bytevector-length bv) (car result) (caddr result)
                    (/ (cadr result) 1e6)
                    (/ (bound (bytevector-length bv)) 1e6))
            (force-output)
            result)))))

(define (array-head n)
  ;; A CBOR array of N items, with a 64-bit count.
  (let ((head (make-bytevector 9 #x9b)))
    (bytevector-u64-set! head 1 n (endianness big))
    head))

(define (repeated n item)
  "A message: a CBOR array of N copies of ITEM, a bytevector."
  (let* ((k (bytevector-length item))
         (bv (make-bytevector (+ 9 (* n k)))))
    (bytevector-copy! (array-head n) 0 bv 0 9)
    (do ((i 0 (+ i 1))) ((= i n) bv)
      (bytevector-copy! item 0 bv (+ 9 (* i k)) k))))

(define (colliding-map n len)
  "A map of N entries whose keys are lists of LEN zeros and then the
entry's number: Guile's hash function never reaches the number, so all
the keys have one hash value."
  (let* ((entry (+ len 6))
         (bv (make-bytevector (+ 5 (* n entry)) 0)))
    (bytevector-u8-set! bv 0 #xba)
    (bytevector-u32-set! bv 1 n (endianness big))
    (do ((i 0 (+ i 1))) ((= i n) bv)
      (let ((at (+ 5 (* i entry))))
        (bytevector-u8-set! bv at #x98)
        (bytevector-u8-set! bv (+ at 1) (+ len 1))
        (bytevector-u8-set! bv (+ at 2 len) #x19)
        (bytevector-u16-set! bv (+ at 3 len) i (endianness big))
        (bytevector-u8-set! bv (+ at 5 len) #xf5)))))

(define (within-bound? result bv)
  (<= (cadr result) (bound (bytevector-length bv))))

(define ten-mb (* 10 1000 1000))

(run-suite
 "wire-budget"
 (lambda ()
   (test-group "refused within the bound"
     (let* ((bv (repeated (- ten-mb 9) #vu8(#xa0)))
            (r (decode-measured "10 MB of empty maps" bv)))
       (test-eq "10 MB of empty maps" 'ETOOBIG (car r))
       (test-assert "... peak memory within the bound" (within-bound? r bv)))
     (let* ((bv (repeated (quotient ten-mb 6)
                          #vu8(#xd9 #xe7 #x48 #x82 1 #xa0)))
            (r (decode-measured "10 MB of empty weak tables" bv)))
       (test-eq "10 MB of empty weak tables" 'ETOOBIG (car r))
       (test-assert "... peak memory within the bound" (within-bound? r bv)))
     (let* ((bv (colliding-map 4000 64))
            (r (decode-measured "4,000 colliding keys" bv)))
       (test-eq "4,000 keys of one hash value (280 KB)" 'ETOOBIG (car r))
       (test-assert "... peak memory within the bound" (within-bound? r bv)))
     (let* ((bv #vu8(#xd8 #x28 #x82 #x82 #x1b #x3f #xff #xff #xff #xff #xff
                     #xff #xff #x00 #x80))
            (r (decode-measured "an array of 2^62-1 rows of nothing" bv)))
       (test-eq "an array of 2^62-1 rows of nothing (15 bytes)" 'ETOOBIG
         (car r))))

   (test-group "decoded within the bound"
     (let* ((bv (value->cbor (iota 1000000)))
            (r (decode-measured "a million integers" bv)))
       (test-eq "a million integers" 'ok (car r))
       (test-assert "... peak memory within the bound" (within-bound? r bv)))
     (let* ((bv (value->cbor (map (lambda (i) (string (integer->char
                                                       (+ 97 (modulo i 26)))))
                                  (iota 1000000))))
            (r (decode-measured "a million one-letter strings" bv)))
       (test-eq "a million one-letter strings" 'ok (car r))
       (test-assert "... peak memory within the bound" (within-bound? r bv)))
     (let* ((bv (value->cbor
                 (map (lambda (i)
                        (let ((t (make-hash-table)))
                          (hash-set! t 'index i)
                          (hash-set! t 'name (number->string i))
                          (hash-set! t 'score (* i 1.5))
                          t))
                      (iota 100000))))
            (r (decode-measured "100,000 tables of three entries" bv)))
       (test-eq "100,000 tables of three entries" 'ok (car r))
       (test-assert "... peak memory within the bound" (within-bound? r bv)))
     (let* ((bv (colliding-map 300 64))
            (r (decode-measured "300 colliding keys" bv)))
       (test-eq "300 keys of one hash value" 'ok (car r))))))

;;; wire-budget.scm ends here
