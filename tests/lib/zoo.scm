;;; (zoo) — one value of every type the wire format carries.

;;; Commentary:
;;;
;;; The suites send these values through every backend's collectives and
;;; compare what arrives with zoo-equal?, which is equal? except that hash
;;; tables are compared by contents and uniform vectors and arrays also by
;;; element type and bounds.
;;;
;;; Code:

(define-module (zoo)
  #:use-module (srfi srfi-1)
  #:use-module (srfi srfi-4)
  #:use-module (srfi srfi-4 gnu)
  #:use-module (srfi srfi-9)
  #:use-module (rnrs bytevectors)
  #:use-module (parallelizer)
  #:export (value-zoo
            zoo-equal?
            <point>
            make-point))

(define-record-type <point>
  (make-point x y)
  point?
  (x point-x)
  (y point-y))

(register-wire-record-type! <point> "zoo-point")

(define (make-table alist)
  (let ((table (make-hash-table)))
    (for-each (lambda (kv) (hash-set! table (car kv) (cdr kv))) alist)
    table))

(define value-zoo
  ;; (NAME . VALUE) for every type of the wire format.
  `((fixnum . 42)
    (negative . -17)
    (zero . 0)
    (big . ,(expt 2 100))
    (negative-big . ,(- (expt 3 90)))
    (int64-edge . ,(- (expt 2 64) 1))
    (rational . 22/7)
    (flonum . 3.25)
    (negative-zero . -0.0)
    (infinity . +inf.0)
    (complex . 1.5+2.5i)
    (true . #t)
    (false . #f)
    (char . #\λ)
    (string . "héllo, wörld")
    (empty-string . "")
    (symbol . woop)
    (keyword . #:flag)
    (empty-list . ())
    (list . (1 "two" three 4.0))
    (improper . (1 2 . 3))
    (nested . ((a . 1) (b . (2 3)) #(4 5)))
    (vector . #(1 #t "x" #(nested)))
    (bytevector . #vu8(0 1 2 255))
    (u8 . #u8(1 2 3))
    (s8 . #s8(-1 0 1))
    (u16 . #u16(0 65535))
    (s16 . #s16(-32768 32767))
    (u32 . #u32(0 4294967295))
    (s32 . #s32(-5 5))
    (u64 . #u64(0 18446744073709551615))
    (s64 . #s64(-9223372036854775808 9223372036854775807))
    (f32 . #f32(1.5 -2.25))
    (f64 . #f64(1.0 2.5 -3.75))
    (c32 . #c32(1.0+2.0i 3.0-4.0i))
    (c64 . #c64(1.0+2.0i -0.5+0.25i))
    (empty-f64 . #f64())
    (array-2d . #2((1 2 3) (4 5 6)))
    (typed-array . ,(list->typed-array 'f64 2 '((1.0 2.0) (3.0 4.0))))
    (offset-array . ,(list->array '((1 3)) '(a b c)))
    (hash-table . ,(make-table '(("a" . 1) ("b" . (2 3)))))
    (record . ,(make-point 1 "two"))
    (unspecified . ,*unspecified*)
    (eof . ,the-eof-object)))

(define (hash-table->sorted-alist table)
  (sort (hash-map->list cons table)
        (lambda (a b)
          (string<? (object->string (car a)) (object->string (car b))))))

(define (zoo-equal? a b)
  "Return #t if A and B are the same value for the wire format's purposes."
  (cond
   ((and (hash-table? a) (hash-table? b))
    (let ((a (hash-table->sorted-alist a))
          (b (hash-table->sorted-alist b)))
      (and (= (length a) (length b))
           (every (lambda (x y)
                    (and (zoo-equal? (car x) (car y))
                         (zoo-equal? (cdr x) (cdr y))))
                  a b))))
   ((and (pair? a) (pair? b))
    (and (zoo-equal? (car a) (car b)) (zoo-equal? (cdr a) (cdr b))))
   ((and (vector? a) (vector? b))
    (zoo-equal? (vector->list a) (vector->list b)))
   ((and (array? a) (array? b) (not (string? a)))
    (and (equal? (array-type a) (array-type b))
         (equal? (array-shape a) (array-shape b))
         (equal? a b)))
   ((and (real? a) (real? b) (inexact? a) (inexact? b))
    (eqv? a b))
   (else (equal? a b))))
