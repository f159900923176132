;;; tests/wire-interop.scm — the wire format against an independent decoder.

;;; Commentary:
;;;
;;; Encodes a zoo of values with value->cbor and has Python's cbor2 decode
;;; and check them (tests/wire-interop.py check), then decodes what cbor2
;;; encodes (tests/wire-interop.py emit) and compares it here.  Python is
;;; /usr/bin/python3, the interpreter that has Debian's python3-cbor2.
;;;
;;; Code:

(use-modules (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-4 gnu)
             (srfi srfi-9)
             (srfi srfi-64)
             (ice-9 match)
             (rnrs bytevectors)
             (rnrs io ports)
             (harness)
             (parallelizer wire))

(define python "/usr/bin/python3")

(define helper
  (string-append (dirname (or (current-filename) "tests/wire-interop.scm"))
                 "/wire-interop.py"))

(define-record-type <interop-point>
  (make-interop-point x y)
  interop-point?
  (x interop-point-x)
  (y interop-point-y))

(register-wire-record-type! <interop-point> "interop-point")

(define (temporary-file)
  (let* ((port (mkstemp! (string-copy "/tmp/parallelizer-wire-XXXXXX")))
         (name (port-filename port)))
    (close-port port)
    name))

(define (read-file name)
  (call-with-input-file name get-bytevector-all #:binary #t))

(define (write-file name bv)
  (call-with-output-file name (lambda (port) (put-bytevector port bv))
    #:binary #t))

(define (hash . pairs)
  (let ((t (make-hash-table)))
    (for-each (match-lambda ((k . v) (hash-set! t k v))) pairs)
    t))

(define scheme-zoo
  `(("zero" . 0)
    ("small" . 23)
    ("negative" . -500)
    ("uint64" . ,(expt 2 63))
    ("negint64" . ,(- (expt 2 64)))
    ("bignum" . ,(expt 2 100))
    ("negative bignum" . ,(- (+ (expt 2 100) 7)))
    ("rational" . -22/7)
    ("flonum" . 1.5)
    ("tiny flonum" . 5e-324)
    ("infinity" . +inf.0)
    ("nan" . +nan.0)
    ("negative zero" . -0.0)
    ("complex" . 1.0-2.5i)
    ("true" . #t)
    ("false" . #f)
    ("unspecified" . ,(if #f #f))
    ("string" . "h\u00e9llo \u2603 \U01f600")
    ("empty string" . "")
    ("symbol" . lambda)
    ("keyword" . #:key)
    ("char" . #\x3bb)
    ("empty list" . ())
    ("list" . (1 "two" (3.0 ())))
    ("improper list" . (1 2 . 3))
    ("vector" . #(1 "a"))
    ("bytevector" . #vu8(0 1 255))
    ("u8vector" . #u8(1 2))
    ("s16vector" . #s16(-2 300))
    ("u32vector" . #u32(1 4000000000))
    ("s64vector" . ,(s64vector (- (expt 2 60))))
    ("f32vector" . #f32(1.5 -2.0))
    ("f64vector" . #f64(0.5 1e300 -0.0))
    ("c64vector" . #c64(1+2i))
    ("2-d array" . #2((1 "b") (3 4)))
    ("2-d f64 array" . #2f64((1 2 3) (4 5 6)))
    ("array with lower bounds" . #1@1(a b))
    ("hash table" . ,(hash '("one" . 1) '("list" . (1 2))))
    ("eof" . ,the-eof-object)
    ("record" . ,(make-interop-point 1 '(2)))))

;; What each case that cbor2 encodes must decode to here.
(define python-expected
  `(("int" . 42)
    ("negative int" . -42)
    ("uint64" . ,(- (expt 2 64) 1))
    ("bignum" . ,(expt 2 64))
    ("negative bignum" . ,(- (expt 2 70)))
    ("float" . 0.1)
    ("half-float infinity" . -inf.0)
    ("nan" . ,nan?)
    ("fraction" . 3/4)
    ("true" . #t)
    ("false" . #f)
    ("none" . ,unspecified?)
    ("text" . "\u00fcber \U01f600")
    ("bytes" . #vu8(0 97 98 99))
    ("list" . (1 (2 (3)) "x"))
    ("tuple" . (1 2))
    ("empty list" . ())
    ("dict" . ,(hash '("a" . 1) `("b" . (#t ,(if #f #f)))))
    ("nested dict" . ,(hash `("k" . ,(hash '("inner" . #vu8(1))))))
    ("symbol" . sym)
    ("vector" . #(1 2))
    ("f64 little endian" . #f64(1.5 -2.0))
    ("f64 big endian" . #f64(1.5 -2.0))
    ("s32 big endian" . #s32(-7 7))
    ("u16 little endian" . #u16(1 65535))
    ("f32 big endian" . #f32(0.25))
    ("2-d s32 array" . #2s32((1 2 3) (4 5 6)))
    ("complex" . 1.0+2.0i)
    ("char" . #\A)
    ("record" . ,(make-interop-point "x" 2.5))))

(define (same? a b)
  "equal?, with hash tables compared by contents and arrays also by type."
  (cond
   ((hash-table? a)
    (and (hash-table? b)
         (= (hash-count (const #t) a) (hash-count (const #t) b))
         (hash-fold (lambda (k v ok)
                      (and ok (same? v (hash-ref b k (list 'missing)))))
                    #t a)))
   ((and (array? a) (not (string? a)))
    (and (array? b)
         (eq? (array-type a) (array-type b))
         (equal? a b)))
   ((and (pair? a) (pair? b))
    (and (same? (car a) (car b)) (same? (cdr a) (cdr b))))
   (else (equal? a b))))

(run-suite
 "wire-interop"
 (lambda ()
   (test-group "Scheme encodes, cbor2 decodes"
     (let ((in (temporary-file))
           (out (temporary-file)))
       (write-file in (value->cbor
                       (map (match-lambda
                              ((name . value) (list name (value->cbor value))))
                            scheme-zoo)))
       (test-eqv "python3 ran" 0
         (status:exit-val (system* python helper "check" in out)))
       (let ((results (false-if-exception (cbor->value (read-file out)))))
         (test-assert "python3 answered" (list? results))
         (test-eqv "every case answered" (length scheme-zoo)
           (and (list? results) (length results)))
         (for-each (match-lambda
                     ((name ok detail)
                      (test-assert (string-append name ": " detail) ok)))
                   (or results '())))
       (delete-file in)
       (delete-file out)))

   (test-group "cbor2 encodes, Scheme decodes"
     (let ((out (temporary-file)))
       (test-eqv "python3 ran" 0
         (status:exit-val (system* python helper "emit" out)))
       (let ((cases (false-if-exception (cbor->value (read-file out)))))
         (test-eqv "every case emitted" (length python-expected)
           (and (list? cases) (length cases)))
         (for-each
          (match-lambda
            ((name bytes)
             (let ((want (assoc-ref python-expected name))
                   (got (catch #t
                          (lambda () (cbor->value bytes))
                          (lambda (key . args) (list 'error key args)))))
               (test-assert (format #f "~a: ~s" name got)
                 (if (procedure? want) (want got) (same? want got))))))
          (or cases '())))
       (delete-file out)))))

;;; wire-interop.scm ends here
