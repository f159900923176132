;;; Shared memory on the backend PARALLELIZER names: shared vectors,
;;; arrays, dicts and lists, the seed's MakeSharedMem and DistributedDict,
;;; updates from every process, and objects passed between processes.
;;;
;;;   PARALLELIZER=multiprocessing:5 ./pre-inst-env guile -L tests/lib \
;;;     tests/shared.scm
;;;
;;; Jobs return what each process saw and the main process checks it, so
;;; the same file tests every backend and group size; under mpirun every
;;; rank runs it, and the objects shared outside runs are rank 0's, which
;;; every rank maps. The groups that test one process's view of shared
;;; objects share them with a serial parallelizer, on the main process
;;; only: on MPI, where every rank runs the suite, a change made outside a
;;; run would otherwise be made once per rank. Faults and leaks are in
;;; tests/shared-faults.scm.

(use-modules ((srfi srfi-1) #:select (every iota))
             (srfi srfi-4)
             (srfi srfi-4 gnu)
             (srfi srfi-64)
             (rnrs bytevectors)
             (ice-9 match)
             (system foreign)
             (parallelizer)
             ((parallelizer errors) #:select (parallelizer-error-code))
             (harness))

(define p (suite-parallelizer make-serial-parallelizer))
(define n (parallelizer-nprocs p))
(define main? (on-main? p))

;; For the tests of one process.
(define s (make-serial-parallelizer))

(define (run job . args)
  (apply parallelizer-run p job (append args (list #:timeout 120))))

(define (repeat count thunk)
  (let loop ((i 0))
    (when (< i count)
      (thunk)
      (loop (1+ i)))))

(define (error-code thunk)
  ;; The code of the parallelizer-error THUNK raises, or #f.
  (catch 'parallelizer-error
    (lambda () (thunk) #f)
    (lambda (key . args) (parallelizer-error-code key args))))

(define (address v)
  (pointer-address (bytevector->pointer (shared-array-root v))))

;; The same random numbers on every rank: the seed's tests share random
;; arrays, and every rank of an MPI job compares with rank 0's.
(set! *random-state* (seed->random-state 42))

(define (random-array . dims)
  (let ((a (apply make-typed-array 'f64 0.0 dims)))
    (array-index-map! a (lambda _ (random:uniform)))
    a))

;;; The seed's jobs.

(define-job (mutate-shared-dict p d)
  (let ((wat (shared-dict-ref d "d")))
    (unless (on-main? p)
      (array-set! (shared-dict-ref d "a") 5 1 0 0)
      (shared-dict-set! wat 'key 5))
    ;; McUtils's job prints the nested dict and d's view of it: the same.
    (gather p (eq? wat (shared-dict-ref d "d")))))

;;; Other jobs.

(define-job (increment-job p d count)
  (repeat count (lambda () (shared-dict-update! d 'n 1+ #:default 0)))
  (gather p #t))

(define-job (nested-job p d)
  (shared-dict-set! (shared-dict-ref d 'inner) (parallelizer-id p)
                    (list 'from (parallelizer-id p)))
  (shared-list-append! (shared-dict-ref d 'log) (parallelizer-id p))
  (gather p #t))

(define-job (made-in-run-job p)
  ;; Every process shares a vector, a dict and a list of its own during the
  ;; run; the main process receives them all.
  (let* ((id (parallelizer-id p))
         (table (let ((t (make-hash-table)))
                  (hash-set! t 'id id)
                  t))
         (mine (list (share p (make-f64vector 4 (exact->inexact id)))
                     (share p table)
                     (share p (list id "x")))))
    (gather p mine)))

(define-job (broadcast-storage-job p v)
  ;; Every process gets rank 0's shared vector and writes its own slot.
  (let ((w (broadcast p (and (on-main? p) v))))
    (f64vector-set! w (parallelizer-id p) (+ 100.0 (parallelizer-id p)))
    (barrier p)
    (gather p (list (shared? w) (f64vector-ref w 0)
                    (address w)))))

(define-job (send-dict-job p)
  ;; The last rank sends a dict it made to rank 0, which changes it; the
  ;; sender sees the change.
  (let ((last (1- (parallelizer-nprocs p))))
    (cond
     ((= last 0) (gather p 'alone))
     ((= (parallelizer-id p) last)
      (let ((d (share p (make-hash-table))))
        (shared-dict-set! d 'sender (parallelizer-id p))
        (send-to p d 0)
        (barrier p)
        (gather p (shared-dict-ref d 'answer))))
     ((on-main? p)
      (let ((d (receive-from p last)))
        (shared-dict-set! d 'answer (* 2 (shared-dict-ref d 'sender)))
        (barrier p)
        (gather p (shared-dict-ref d 'answer))))
     (else (barrier p) (gather p #f)))))

(define-job (store-job p d)
  ;; Each process stores a vector of its own making under its rank.
  (shared-dict-set! d (parallelizer-id p)
                    (make-s32vector 3 (parallelizer-id p)))
  (gather p #t))

(run-suite
 "shared"
 (lambda ()
   (when main?
     (test-group "vectors"
       (for-each
        (match-lambda
          ((type make ref values)
           (let ((v (share s (apply make values))))
             (test-assert (symbol->string type) (shared? v))
             (test-eq type (array-type v))
             (test-equal (apply make values) (unshare v))
             (test-equal (list type (length values))
               (list (array-type v) (array-length v))))))
        `((vu8 ,(lambda bytes (u8-list->bytevector bytes)) ,bytevector-u8-ref
                (1 2 255))
          (u8 ,u8vector ,u8vector-ref (1 2 255))
          (s8 ,s8vector ,s8vector-ref (-1 2))
          (u16 ,u16vector ,u16vector-ref (1 65535))
          (s16 ,s16vector ,s16vector-ref (-3))
          (u32 ,u32vector ,u32vector-ref (7 8 9))
          (s32 ,s32vector ,s32vector-ref (-7))
          (u64 ,u64vector ,u64vector-ref (18446744073709551615))
          (s64 ,s64vector ,s64vector-ref (-9223372036854775808))
          (f32 ,f32vector ,f32vector-ref (1.5 -2.5))
          (f64 ,f64vector ,f64vector-ref (3.25))
          (c32 ,c32vector ,c32vector-ref (1.0+2.0i))
          (c64 ,c64vector ,c64vector-ref (3.0-4.0i))))
       (let* ((original (f64vector 1 2 3))
              (v (share s original)))
         (test-assert (f64vector? v))
         (test-assert (bytevector? v))
         (test-assert (not (shared? original)))
         (test-eq v (share s v))
         (f64vector-set! v 0 10.0)
         (test-equal 10.0 (f64vector-ref v 0))
         (test-equal 1.0 (f64vector-ref original 0))
         (let ((copy (unshare v)))
           (test-assert (f64vector? copy))
           (test-assert (not (shared? copy)))
           (test-equal #f64(10 2 3) copy)))
       (let ((v (make-shared-vector s 'u16 5 #:fill 7))
             (z (make-shared-vector s 'c64 3)))
         (test-equal #u16(7 7 7 7 7) v)
         (test-equal #c64(0 0 0) z)
         (test-assert (shared? v)))
       (test-equal 'EINVAL (error-code (lambda () (share s 'symbol))))
       (test-equal 'EINVAL (error-code (lambda () (share s (vector 1 2)))))
       (test-equal 'EINVAL (error-code
                            (lambda () (make-shared-vector s 'f128 3))))
       (test-equal 'EINVAL (error-code (lambda () (share 5 (f64vector 1)))))))

   (when main?
     (test-group "arrays"
       (let* ((original (random-array 10 5 5))
              (a (share s original)))
         (test-assert (shared? a))
         (test-eq 'f64 (array-type a))
         (test-equal '((0 9) (0 4) (0 4)) (array-shape a))
         (test-equal original a)
         (array-set! a 5.0 1 0 0)
         (test-equal 5.0 (array-ref a 1 0 0))
         (test-equal 5.0 (f64vector-ref (shared-array-root a) 25)))
       (let ((a (share s (make-typed-array 's32 3 '(1 3) '(-1 0)))))
         (test-equal '((1 3) (-1 0)) (array-shape a))
         (test-equal 3 (array-ref a 3 -1))
         (let ((copy (unshare a)))
           (test-assert (not (shared? copy)))
           (test-equal '((1 3) (-1 0)) (array-shape copy))
           (test-eq 's32 (array-type copy))))
       (let ((a (make-shared-typed-array s 'u8 2 '(0 2))))
         (test-equal '((0 1) (0 2)) (array-shape a))
         (test-equal #2u8((0 0 0) (0 0 0)) a))
       (test-assert "one dimension from 0 is a vector"
         (u8vector? (make-shared-typed-array s 'u8 4)))
       (let ((scalar (share s (make-typed-array 'f64 2.5))))
         (test-equal 0 (array-rank scalar))
         (test-equal 2.5 (array-ref scalar)))
       ;; A slice of a shared array is a view of the same memory.
       (let* ((a (share s (make-typed-array 'f64 0.0 4 4)))
              (column (make-shared-array a (lambda (i) (list i 2)) 4)))
         (test-assert (shared? column))
         (array-set! column 9.0 3)
         (test-equal 9.0 (array-ref a 3 2))
         (test-equal column (cbor->value (value->cbor column))))))

   (test-group "MakeSharedMem"
     (let* ((a (random-array 10 5 5))
            (manager (make-shared-object-manager p a))
            (saved (shared-object-manager-share manager))
            (loaded (shared-object-manager-unshare manager)))
       (test-assert (shared-object-manager? manager))
       (test-assert (shared? saved))
       (test-assert (not (shared? loaded)))
       (test-equal (array-shape a) (array-shape loaded))
       (test-equal a loaded)))

   (test-group "DistributedDict"
     (let ((my-data (let ((t (make-hash-table)))
                      (hash-set! t "a" (random-array 10 5 5))
                      (hash-set! t "b" (random-array 10 3 8))
                      (hash-set! t "c" (random-array 10 15 4))
                      (hash-set! t "d" (make-hash-table))
                      t)))
       (let ((my-data (share p my-data)))
         (test-assert (shared-dict? my-data))
         (test-assert (every identity (run mutate-shared-dict my-data)))
         (if (> n 1)
             (test-equal 5.0 (array-ref (shared-dict-ref my-data "a") 1 0 0))
             (test-assert (< (array-ref (shared-dict-ref my-data "a") 1 0 0)
                             1.0)))
         (test-equal (if (> n 1) '((key . 5)) '())
           (shared-dict->alist (shared-dict-ref my-data "d")))
         (let ((my-data (unshare my-data)))
           (test-assert (hash-table? my-data))
           (test-assert (and (array? (hash-ref my-data "a"))
                             (not (shared? (hash-ref my-data "a")))))
           (test-equal '((0 9) (0 4) (0 4)) (array-shape (hash-ref my-data
                                                                   "a")))
           (test-equal '((0 9) (0 2) (0 7)) (array-shape (hash-ref my-data
                                                                   "b")))
           (test-assert (hash-table? (hash-ref my-data "d")))))))

   (when main?
     (test-group "dicts"
       (let ((d (share s (make-hash-table))))
         (test-equal 0 (shared-dict-count d))
         (test-equal #f (shared-dict-ref d 'absent))
         (test-equal 'none (shared-dict-ref d 'absent #:default 'none))
         (shared-dict-set! d 'symbol "a string")
         (shared-dict-set! d "string" '(a list (nested) 1.5 #\c))
         (shared-dict-set! d 42 (make-string 100 #\x))
         (shared-dict-set! d '(a key) 'value)
         (test-equal "a string" (shared-dict-ref d 'symbol))
         (test-equal '(a list (nested) 1.5 #\c) (shared-dict-ref d "string"))
         (test-equal (make-string 100 #\x) (shared-dict-ref d 42))
         (test-equal 'value (shared-dict-ref d '(a key)))
         (test-equal 4 (shared-dict-count d))
         (test-equal 4 (length (shared-dict-keys d)))
         (test-assert (shared-dict-delete! d 42))
         (test-assert (not (shared-dict-delete! d 42)))
         (test-equal 3 (length (shared-dict->alist d)))
         (test-equal 11 (shared-dict-update! d 'n (lambda (x) (+ x 1))
                                             #:default 10))
         (test-equal 12 (shared-dict-update! d 'n 1+))
         (test-equal 'EINVAL (error-code
                              (lambda () (shared-dict-update! d 'n 5))))
         (test-equal 'EINVAL (error-code
                              (lambda () (shared-dict-set! d 'f car))))
         (test-equal 'EINVAL (error-code (lambda () (shared-dict-ref 5 'a))))
         ;; An error in PROC gives the lock back.
         (test-equal 'misc-error
           (catch #t (lambda () (shared-dict-update! d 'n
                                                     (lambda (x) (error "no"))))
             (lambda (key . args) key)))
         (test-equal 13 (shared-dict-update! d 'n 1+))
         ;; A vector stored is a shared one; a shared vector of this memory
         ;; is stored as itself.
         (let ((v (share s (f64vector 1 2))))
           (shared-dict-set! d 'v v)
           (test-eq v (shared-dict-ref d 'v))
           (f64vector-set! v 0 7.0)
           (test-equal #f64(7 2) (shared-dict-ref d 'v)))
         (shared-dict-set! d 'copied (u8vector 1 2 3))
         (test-assert (shared? (shared-dict-ref d 'copied)))
         (shared-dict-set! d 'inner (make-hash-table))
         (test-assert (shared-dict? (shared-dict-ref d 'inner)))
         (test-eq (shared-dict-ref d 'inner) (shared-dict-ref d 'inner))
         ;; Shared objects inside other values are stored by value.
         (shared-dict-set! d 'in-a-list (list (shared-dict-ref d 'v)))
         (test-assert (not (shared? (car (shared-dict-ref d 'in-a-list)))))
         (test-equal '(#f64(7 2)) (shared-dict-ref d 'in-a-list)))))

   (when main?
     (test-group "lists"
       (let ((l (share s (list 1 "two" (f64vector 3) (make-hash-table)))))
         (test-assert (shared-list? l))
         (test-equal 4 (shared-list-length l))
         (test-equal "two" (shared-list-ref l 1))
         (test-assert (shared? (shared-list-ref l 2)))
         (test-assert (shared-dict? (shared-list-ref l 3)))
         (test-equal 4 (shared-list-append! l 'five))
         (shared-list-set! l 0 'one)
         (test-equal '(one "two" #f64(3) five)
           (let ((items (shared-list->list l)))
             (list (car items) (cadr items) (caddr items) (list-ref items 4))))
         (test-equal 'EINVAL (error-code (lambda () (shared-list-ref l -1))))
         (test-equal 'ERANK (error-code (lambda () (shared-list-ref l 5))))
         (let ((copy (unshare l)))
           (test-assert (list? copy))
           (test-assert (hash-table? (list-ref copy 3)))))))

   (test-group "updates from every process"
     (let ((d (share p (make-hash-table))))
       (run increment-job d 10000)
       (test-equal (* n 10000) (shared-dict-ref d 'n))))

   (test-group "nested dicts and lists changed by the processes"
     (let ((d (share p (let ((t (make-hash-table)))
                         (hash-set! t 'inner (make-hash-table))
                         t))))
       (shared-dict-set! d 'log (share p '()))
       (run nested-job d)
       (test-equal (map (lambda (i) (list 'from i)) (iota n))
         (map (lambda (i) (shared-dict-ref (shared-dict-ref d 'inner) i))
              (iota n)))
       (test-equal (iota n)
         (sort (shared-list->list (shared-dict-ref d 'log)) <))))

   (test-group "objects made during a run reach the main process"
     (let ((all (run made-in-run-job)))
       (test-equal n (length all))
       (test-assert (every (match-lambda
                             ((v d l) (and (shared? v) (shared-dict? d)
                                           (shared-list? l))))
                           all))
       (test-equal (map (lambda (i) (make-f64vector 4 (exact->inexact i)))
                        (iota n))
         (map car all))
       (test-equal (iota n)
         (map (lambda (x) (shared-dict-ref (cadr x) 'id)) all))
       (test-equal (map (lambda (i) (list i "x")) (iota n))
         (map (lambda (x) (shared-list->list (caddr x))) all))))

   (test-group "vectors stored by every process"
     (let ((d (share p (make-hash-table))))
       (run store-job d)
       (test-equal (map (lambda (i) (make-s32vector 3 i)) (iota n))
         (map (lambda (i) (shared-dict-ref d i)) (iota n)))))

   (test-group "broadcast carries the storage, not the bytes"
     (let* ((v (share p (make-f64vector (max n 2) 0.0)))
            (seen (run broadcast-storage-job v)))
       (test-assert (every car seen))
       (test-equal (map (lambda (i) (+ 100.0 i)) (iota n))
         (map (lambda (i) (f64vector-ref v i)) (iota n)))
       (unless (mpi-parallelizer? p)
         ;; Forked workers map it where the main process does.
         (test-assert (every (lambda (x) (= (caddr x) (address v))) seen)))))

   (test-group "a dict sent from a worker is the same dict"
     (let ((answers (run send-dict-job)))
       (when main?
         (match answers
           (('alone) (test-assert #t))
           ((first . rest)
            (test-equal (* 2 (1- n)) first)
            (test-equal (* 2 (1- n)) (car (last-pair rest))))))))

   (test-group "handles"
     (let ((v (share p (f64vector 1 2 3)))
           (d (share p (make-hash-table))))
       (test-eq v (cbor->value (value->cbor v)))
       (test-eq d (cbor->value (value->cbor d)))))))
