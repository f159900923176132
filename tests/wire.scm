;;; tests/wire.scm — SRFI-64 suite for (parallelizer wire).

;;; Commentary:
;;;
;;; Round trips of every type the wire format carries, with exact types,
;;; shapes and hash-table contents; the errors for unsendable values and
;;; malformed messages, with their keys; records and the parallelizer hook.
;;; Run as `./pre-inst-env guile -L tests tests/wire.scm'.
;;;
;;; Code:

(use-modules (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-4 gnu)
             (srfi srfi-9)
             (srfi srfi-64)
             (rnrs bytevectors)
             (ice-9 exceptions)
             (harness)
             (parallelizer wire))

(define (round-trip value)
  (cbor->value (value->cbor value)))

(define (table-contents table)
  (sort (hash-map->list cons table)
        (lambda (a b)
          (string<? (object->string a) (object->string b)))))

(define (same? a b)
  "equal?, but also the same array type and shape, and hash tables by
contents and weakness."
  (cond
   ((hash-table? a)
    (and (hash-table? b)
         (eq? (weak-key-hash-table? a) (weak-key-hash-table? b))
         (eq? (weak-value-hash-table? a) (weak-value-hash-table? b))
         (eq? (doubly-weak-hash-table? a) (doubly-weak-hash-table? b))
         (let ((ca (table-contents a)) (cb (table-contents b)))
           (and (= (length ca) (length cb))
                (every (lambda (x y)
                         (and (same? (car x) (car y))
                              (same? (cdr x) (cdr y))))
                       ca cb)))))
   ((and (array? a) (not (string? a)))
    (and (array? b)
         (eq? (array-type a) (array-type b))
         (equal? (array-shape a) (array-shape b))
         (equal? a b)))
   ((and (pair? a) (pair? b))
    (and (same? (car a) (car b)) (same? (cdr a) (cdr b))))
   (else (equal? a b))))

(define (bytes . octets)
  (u8-list->bytevector octets))

(define-record-type <point>
  (make-point x y)
  point?
  (x point-x)
  (y point-y))

(define-record-type <fake-parallelizer>
  (make-fake-parallelizer id)
  fake-parallelizer?
  (id fake-parallelizer-id))

(define-record-type <unregistered>
  (make-unregistered a)
  unregistered?
  (a unregistered-a))

(define values-to-send
  `(0 1 -1 23 24 -25 255 65536 ,most-positive-fixnum ,most-negative-fixnum
    ,(expt 2 63) ,(- (expt 2 64)) ,(expt 10 40) ,(- (expt 10 40))
    1/3 -22/7 ,(/ (expt 2 90) 7)
    0.0 -0.0 1.5 1e300 -4.9e-324 +inf.0 -inf.0 1+2i -0.5-1e10i
    #t #f #\a #\x0 #\x10FFFF "" "hello" "h\u00e9llo \u2603 \U01f600"
    sym ,(string->symbol "") #:key ()
    (1 2 3) (1 (2 (3)) #(4)) (1 . 2) (1 2 . 3) ((a . 1) (b . 2))
    #() #(1 "two" three) #vu8() #vu8(1 2 255)
    #u8(1 2) #s8(-1) #u16(65535) #s16(-32768) #u32(4294967295)
    #s32(-2147483648) #u64(18446744073709551615)
    #s64(-9223372036854775808) #f32(1.5 -0.0) #f64(1.5 +inf.0)
    #c32(1+2i) #c64(-1-2i)
    #2((1 2) (3 4)) #2f64((1 2) (3 4)) #3s16(((1) (2)) ((3) (4)))
    #2c64((1+i))  #1@1(a b) #1u8@-2(7 8) #2@1@1((a b) (c d))
    ,(make-array 'scalar) ,(make-typed-array 'u16 0 0 4)
    ,(if #f #f) ,the-eof-object))

(define (big-f64vector n)
  (let ((v (make-f64vector n)))
    (do ((i 0 (+ i 1))) ((= i n) v)
      (f64vector-set! v i (* i 1.5)))))

(run-suite
 "wire"
 (lambda ()
   (test-group "round trips"
     (for-each (lambda (value)
                 (test-assert (format #f "~s" value)
                   (same? value (round-trip value))))
               values-to-send)
     (test-assert "everything at once"
       (same? values-to-send (round-trip values-to-send)))
     (test-assert "bytevector stays a bytevector"
       (eq? 'vu8 (array-type (round-trip #vu8(1 2)))))
     (test-assert "u8vector stays a u8vector"
       (u8vector? (round-trip #u8(1 2))))
     (test-assert "NaN" (nan? (round-trip +nan.0)))
     (test-eqv "-0.0 keeps its sign" -0.0 (round-trip -0.0))
     (test-assert "exact stays exact" (exact? (round-trip (expt 2 62))))
     (test-assert "inexact stays inexact" (inexact? (round-trip 2.0)))
     (test-assert "complex with zero imaginary part stays complex"
       (not (real? (round-trip (make-rectangular 1.0 0.0)))))
     (test-assert "8 MB f64vector"
       (let ((v (big-f64vector (* 1024 1024))))
         (same? v (round-trip v))))
     (test-assert "100,000-element list"
       (let ((l (iota 100000)))
         (equal? l (round-trip l))))
     (test-assert "strided array comes back row-major"
       (equal? #2((1 4) (2 5) (3 6))
               (round-trip (transpose-array #2((1 2 3) (4 5 6)) 1 0))))
     (test-assert "shared typed array with lower bounds"
       (let ((a (make-shared-array #2f32((1 2 3) (4 5 6))
                                   (lambda (i j) (list j (- 1 i)))
                                   '(-1 1) 2)))
         (same? a (round-trip a))))
     (test-assert "keyword" (keyword? (round-trip #:k))))

   (test-group "hash tables"
     (let ((t (make-hash-table)))
       (hash-set! t "a" 1)
       (hash-set! t 'b '(2 3))
       (hash-set! t 4.5 #(x))
       (test-assert "native table, contents" (same? t (round-trip t)))
       (test-equal "decoded tables are equal?-keyed" '(2 3)
         (hash-ref (round-trip t) 'b)))
     (let ((t (make-weak-value-hash-table)))
       (hash-set! t 1 'one)
       (test-assert "weak-value table" (same? t (round-trip t))))
     (test-assert "weak-key table"
       (weak-key-hash-table? (round-trip (make-weak-key-hash-table))))
     (test-assert "doubly weak table"
       (doubly-weak-hash-table?
        (round-trip (make-doubly-weak-hash-table)))))

   (test-group "records and errors"
     (register-wire-record-type! <point>)
     (test-assert "registered record"
       (let ((p (make-point 1 '(2 "three"))))
         (equal? p (round-trip p))))
     (test-assert "record inside a vector"
       (point? (vector-ref (round-trip (vector (make-point 1 2))) 0)))
     (test-eq "unregistered record is refused" 'parallelizer-error
       (error-key (value->cbor (list (make-unregistered 1)))))
     (test-assert "the message names the type and the remedy"
       (string-contains (error-message (value->cbor (make-unregistered 1)))
                        "register-wire-record-type!"))
     (test-assert "an exception from a throw"
       (let ((e (make-exception-from-throw 'misc-error
                                           '("f" "bad ~a" (1) #f))))
         (equal? e (round-trip e))))
     (test-assert "a caught error travels"
       (let ((e (with-exception-handler (lambda (e) e)
                  (lambda () (car 1))
                  #:unwind? #t)))
         (equal? (exception-args e)
                 (exception-args (round-trip e)))))
     (test-assert "an exception without a kind becomes a misc-error"
       (let ((e (round-trip (make-exception
                             (make-error)
                             (make-exception-with-message "it broke")
                             (make-exception-with-irritants '(42))))))
         ;; As if raised by (error "it broke" 42).
         (and (eq? 'misc-error (exception-kind e))
              (equal? "it broke 42"
                      (apply format #f (exception-message e)
                             (exception-irritants e))))))
     (test-assert "unsendable irritants travel as text"
       (let ((e (round-trip (make-exception-from-throw
                             'wrong-type-arg
                             (list "car" "Wrong type: ~S" (list car)
                                   (list car))))))
         (string? (car (caddr (exception-args e))))))
     (%wire-set-parallelizer-hooks! <fake-parallelizer>
                                    (lambda () 'the-receivers))
     (test-equal "the receiving process's parallelizer"
       '(1 the-receivers)
       (round-trip (list 1 (make-fake-parallelizer 0))))
     (test-equal "it is a content-less tag"
       (bytes #xd9 #xe7 #x45 #xf6)
       (value->cbor (make-fake-parallelizer 3))))

   (test-group "unsendable values"
     (test-eq "procedure" 'parallelizer-error
       (error-key (value->cbor car)))
     (test-assert "position is named"
       (string-contains
        (error-message (value->cbor (list 1 2 3 (vector 'a car))))
        "element 1 of a vector inside element 3 of a list"))
     (test-eq "port" 'parallelizer-error
       (error-key (value->cbor (list (current-output-port)))))
     (test-eq "circular list" 'parallelizer-error
       (error-key (value->cbor (let ((l (list 1 2)))
                                 (set-cdr! (cdr l) l)
                                 l))))
     (test-eq "circular vector" 'parallelizer-error
       (error-key (value->cbor (let ((v (vector 1)))
                                 (vector-set! v 0 v)
                                 v))))
     (test-assert "depth bound is documented"
       (= 1024 (wire-max-depth)))
     (test-assert "nesting up to the bound is fine"
       (let ((v (fold (lambda (i acc) (list acc)) '()
                      (iota (- (wire-max-depth) 1)))))
         (equal? v (round-trip v))))
     (test-eq "nesting past the bound" 'parallelizer-error
       (error-key (value->cbor (fold (lambda (i acc) (list acc)) '()
                                     (iota (+ (wire-max-depth) 5)))))))

   (test-group "sizes"
     ;; Arrays whose size overflows a size_t: refused on the sender with
     ;; ETOOBIG (a crash, or a 25-byte message, before).
     (define (refusal-code value)
       (catch 'parallelizer-error
         (lambda () (value->cbor value) #f)
         (lambda (key who message irritants rest) (car rest))))
     (define (over-one-element vector . dimensions)
       (apply make-shared-array vector (lambda indices '(0)) dimensions))
     (test-eq "2^61 f64 elements" 'ETOOBIG
       (refusal-code (over-one-element (f64vector 1.0) (expt 2 61))))
     (test-eq "2^31 x 2^30 f64 elements" 'ETOOBIG
       (refusal-code (over-one-element (f64vector 1.0)
                                       (expt 2 31) (expt 2 30))))
     (test-eq "2^32 x 2^32 f64 elements" 'ETOOBIG
       (refusal-code (over-one-element (f64vector 1.0)
                                       (expt 2 32) (expt 2 32))))
     (test-eq "2^32 x 2^32 elements of any type" 'ETOOBIG
       (refusal-code (over-one-element (vector 1) (expt 2 32) (expt 2 32))))
     (test-eq "rank 65 is refused" 'EINVAL
       (refusal-code (apply make-typed-array 'u8 0 (make-list 65 1))))
     (test-assert "rank 64 travels"
       (let ((a (apply make-typed-array 'u8 3 (make-list 64 1))))
         (same? a (round-trip a)))))

   (test-group "malformed messages"
     (for-each
      (lambda (case)
        (let ((name (car case)) (bv (cadr case)))
          (test-eq name 'parallelizer-error (error-key (cbor->value bv)))))
      `(("empty" ,(bytes))
        ("truncated" ,(bytes #x83 1 2))
        ("trailing garbage" ,(bytes 1 2))
        ("wrong tag content" ,(bytes #xc2 #x61 #x61))
        ("odd typed array" ,(bytes #xd8 #x56 #x43 0 0 0))
        ("non-UTF-8 text" ,(bytes #x62 #xc3 #x28))
        ("indefinite length" ,(bytes #x9f 1 #xff))
        ("unknown tag" ,(bytes #xd9 #xff #xff 0))
        ("count larger than the message" ,(bytes #x9b #xff #xff #xff #xff
                                                 #xff #xff #xff #xff 0))
        ("shared-object handle" ,(bytes #xd9 #xe7 #x46 #xf6))
        ("unknown record" ,(bytes #xd8 #x1b #x82 #x61 #x71 1))
        ("duplicate map key" ,(bytes #xa2 1 2 1 3))
        ("duplicate key of a weak table"
         ,(bytes #xd9 #xe7 #x48 #x82 1 #xa2 1 2 1 3))
        ("too deep" ,(u8-list->bytevector
                      (append (make-list 2000 #x81) '(#x80))))))
     (test-eq "not a bytevector" 'wrong-type-arg
       (error-key (cbor->value "text")))
     (test-assert "a repeated key is named"
       (string-contains (error-message (cbor->value (bytes #xa2 1 2 1 3)))
                        "entry 1 of the map repeats the key 1"))
     (test-eq "a table whose keys differ only under eq? arrives refused"
       'parallelizer-error
       ;; Decoded tables are equal?-keyed: two keys that are equal? but
       ;; not eq? would collapse into one entry, and are refused instead.
       (let ((t (make-hash-table)))
         (hashq-set! t (string #\a) 1)
         (hashq-set! t (string #\a) 2)
         (error-key (cbor->value (value->cbor t))))))

   (test-group "interoperable encodings"
     (test-equal "list is a plain array" (bytes #x83 1 2 3)
       (value->cbor '(1 2 3)))
     (test-equal "string is text" (bytes #x62 #x68 #x69)
       (value->cbor "hi"))
     (test-equal "bytevector is a byte string" (bytes #x42 1 2)
       (value->cbor #vu8(1 2)))
     (test-equal "flonum is float64"
       (bytes #xfb #x3f #xf8 0 0 0 0 0 0)
       (value->cbor 1.5))
     (test-equal "f64vector is tag 86"
       (bytes #xd8 86 #x48 0 0 0 0 0 0 #xf8 #x3f)
       (value->cbor #f64(1.5)))
     (test-equal "big-endian float64 array is read"
       #f64(1.5)
       (cbor->value (bytes #xd8 82 #x48 #x3f #xf8 0 0 0 0 0 0)))
     (test-equal "bignum is tag 2" (bytes #xc2 #x49 1 0 0 0 0 0 0 0 0)
       (value->cbor (expt 2 64)))
     (test-equal "symbol is tag 39" (bytes #xd8 39 #x61 #x61)
       (value->cbor 'a)))

   (test-group "lists take a shorter road"
     ;; The elements of a list that are fixnums, flonums or short ASCII
     ;; strings are written and read by a path of their own: it must
     ;; give the very bytes that the general encoder writes for the same
     ;; elements in a vector, and every other element must still go the
     ;; general way.
     (let* ((elements
             (append
              (append-map (lambda (n) (list n (- n) (1- n) (- -1 n)))
                          (list 0 1 23 24 255 256 65535 65536
                                (1- (expt 2 32)) (expt 2 32)
                                (1- (expt 2 61)) (expt 2 61)
                                (1- (expt 2 64)) (expt 2 64)))
              (list 0.0 -0.0 1.5 -2.25e300 +inf.0 -inf.0 5e-324)
              (list "" "a" "hello" (make-string 256 #\x)
                    (make-string 257 #\y) "caf\xe9;" "\x3bb;"
                    (substring/shared "shared substring" 7)
                    (string-copy "copied"))
              (list 'sym #:key #\c #t #f '() '(1 . 2) (vector 1 "v")
                    #f64(1.0 2.0) 3/4 1+2i)))
            (list-bytes (value->cbor elements))
            (vector-bytes (value->cbor (list->vector elements)))
            (tail (lambda (bv from)
                    (let ((out (make-bytevector (- (bytevector-length bv)
                                                   from))))
                      (bytevector-copy! bv from out 0
                                        (bytevector-length out))
                      out))))
       (test-assert "round trip of every kind of element"
         (let ((back (cbor->value list-bytes)))
           (and (= (length back) (length elements))
                (every (lambda (a b)
                         (or (equal? a b) (and (real? a) (nan? a) (nan? b))))
                       back elements))))
       (test-equal "the same bytes as the general encoder"
         ;; A list of 24 to 255 elements has a 2-byte head; the
         ;; vector's tag (3 bytes) and head take 5.
         (tail vector-bytes 5)
         (tail list-bytes 2))
       (test-equal "an improper list ends with its tail"
         '(1 2.5 "s" . 7)
         (cbor->value (value->cbor '(1 2.5 "s" . 7))))
       (test-assert "a NaN keeps its bits"
         (nan? (car (cbor->value (value->cbor (list +nan.0))))))
       (test-equal "a long list of each kind"
         (list (iota 100000) (map exact->inexact (iota 1000))
               (map number->string (iota 1000)))
         (cbor->value (value->cbor
                       (list (iota 100000) (map exact->inexact (iota 1000))
                             (map number->string (iota 1000))))))))))

;;; wire.scm ends here
