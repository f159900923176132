;;; (parallelizer shared) — objects in shared memory.

;;; Commentary:
;;;
;;; share makes an object that every process of a run reads and writes in
;;; place: a shared vector or array, which is an ordinary Guile bytevector,
;;; SRFI-4 vector or typed array whose elements live in shared memory; a
;;; shared dict, from a hash table; a shared list, from a list. Numeric
;;; vectors and hash tables stored in a dict or a list are shared too;
;;; other values are stored in the wire format and read back as copies.
;;; Objects shared before a run are seen by its workers; objects shared
;;; during a run travel between processes as handles (never as their
;;; bytes) and map the same memory on arrival. unshare makes ordinary
;;; copies again. The memory of an object lives while any process refers
;;; to it.
;;;
;;;   (define d (share p (make-hash-table)))
;;;   (parallelizer-run p (lambda* (#:key parallelizer)
;;;                         (shared-dict-update! d 'hits 1+ #:default 0)))
;;;   (shared-dict-ref d 'hits)   => the number of processes
;;;
;;; The C runtime does the work (par/shm.h, c/guile/shared.c); this module
;;; checks arguments, makes `share' collective outside a run on MPI, and
;;; defines the records of dicts and lists. See the manual's chapter
;;; "Shared memory".
;;;
;;; Code:

(define-module (parallelizer shared)
  #:use-module (ice-9 match)
  #:use-module (srfi srfi-9)
  #:use-module (srfi srfi-9 gnu)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer backend mpi) #:select (mpi-job-comm))
  #:use-module ((parallelizer primitives)
                #:select (%comm-barrier
                          %comm-broadcast
                          %comm-rank
                          %make-shared-vector
                          %share
                          %shared-dict-count
                          %shared-dict-delete!
                          %shared-dict-items
                          %shared-dict-ref
                          %shared-dict-set!
                          %shared-dict-update!
                          %shared-list-append!
                          %shared-list-items
                          %shared-list-length
                          %shared-list-ref
                          %shared-list-set!
                          %shared-node-mode
                          %shared-set-types!
                          %shared-vector-copy
                          %shared?))
  #:export (share
            unshare
            shared?
            make-shared-vector
            make-shared-typed-array
            shared-dict?
            shared-dict-ref
            shared-dict-set!
            shared-dict-delete!
            shared-dict-update!
            shared-dict-keys
            shared-dict-count
            shared-dict->alist
            shared-list?
            shared-list-ref
            shared-list-set!
            shared-list-append!
            shared-list-length
            shared-list->list
            make-shared-object-manager
            shared-object-manager?
            shared-object-manager-share
            shared-object-manager-unshare))

;;;
;;; Dicts and lists: records whose one field is the pointer object that
;;; holds the process's reference (see c/guile/shared-internal.h).
;;;

(define-record-type <shared-dict>
  (%make-shared-dict holder)
  %shared-dict?
  (holder %shared-dict-holder))

(define-record-type <shared-list>
  (%make-shared-list holder)
  %shared-list?
  (holder %shared-list-holder))

(define (count-of n singular plural)
  (format #f "~a ~a" n (if (= n 1) singular plural)))

(set-record-type-printer! <shared-dict>
  (lambda (d port)
    (format port "#<shared-dict ~a>"
            (count-of (%shared-dict-count d) "entry" "entries"))))

(set-record-type-printer! <shared-list>
  (lambda (l port)
    (format port "#<shared-list ~a>"
            (count-of (%shared-list-length l) "element" "elements"))))

(define (shared-dict? obj)
  "Return #t if OBJ is a shared dict."
  (%shared-dict? obj))

(define (shared-list? obj)
  "Return #t if OBJ is a shared list."
  (%shared-list? obj))

;;;
;;; Arrays over the elements of shared vectors.
;;;

(define (bound-length bound)
  (match bound
    ((lower upper) (max 0 (+ 1 (- upper lower))))))

(define (row-major-view vector bounds)
  ;; The array of BOUNDS, a list of (lower upper), over the elements of
  ;; VECTOR in row-major order: the value of a shared array.
  (let ((strides (let loop ((lengths (reverse (map bound-length bounds)))
                            (stride 1)
                            (strides '()))
                   (match lengths
                     (() strides)
                     ((n . rest) (loop rest (* stride n)
                                       (cons stride strides)))))))
    (strided-view vector 0
                  (map (match-lambda*
                         (((lower upper) stride) (list lower upper stride)))
                       bounds strides))))

(define (strided-view vector base dims)
  ;; The array over VECTOR whose element (I ...) is element BASE + the sum
  ;; of (I - LOWER) * INCREMENT over DIMS, a list of (lower upper
  ;; increment).
  (apply make-shared-array vector
         (lambda indices
           (list (let loop ((indices indices) (dims dims) (offset base))
                   (match (list indices dims)
                     ((() ()) offset)
                     (((i . more) ((lower _ increment) . rest))
                      (loop more rest (+ offset (* (- i lower)
                                                   increment))))))))
         (map (match-lambda ((lower upper _) (list lower upper))) dims)))

;;;
;;; Sharing.
;;;

(define (check-node who p)
  ;; Shared memory is memory of one machine: an MPI job whose ranks are on
  ;; several nodes cannot have it.
  (when (eq? (parallelizer-kind p) 'mpi)
    (mpi-job-comm p)                    ; which finds out where the ranks are
    (match (%shared-node-mode)
      (('many-nodes here all)
       (raise-parallelizer-error
        who 'ENOTSUP
        "the ~a ranks of this MPI job are on several nodes (~a of them on \
this one); shared memory works only between processes of one node" all
        here))
      (_ #t))))

(define (on-every-rank who p make)
  ;; Call MAKE, a thunk that returns a new shared object, where P's
  ;; processes will all see its result: on rank 0 of an MPI job when
  ;; called outside a run, by every rank, which then all get the object
  ;; (they map rank 0's memory); in this process otherwise.
  (check-parallelizer who p)
  (check-node who p)
  (if (and (eq? (parallelizer-kind p) 'mpi) (not (parallelizer-comm p)))
      (let* ((comm (mpi-job-comm p))
             (outcome (%comm-broadcast
                       comm
                       (and (zero? (%comm-rank comm))
                            (catch 'parallelizer-error
                              (lambda () (list 'ok (make)))
                              (lambda (key . args) (cons 'error args))))
                       0)))
        ;; Rank 0 keeps the object until every rank has it.
        (%comm-barrier comm)
        (match outcome
          (('ok obj) obj)
          (('error . args) (apply throw 'parallelizer-error args))))
      (make)))

(define (share p obj)
  "Return a shared object holding what OBJ holds, for the processes of
parallelizer P: a shared dict for a hash table, a shared list for a list,
and for a bytevector, an SRFI-4 vector or a numeric typed array, a vector or
array of the same type and shape whose elements live in shared memory (it
is one: bytevector?, f64vector-ref, array-ref and array-set! work on it,
and a write by any process is seen by all). Values inside a hash table or
list are shared in turn when they are numeric vectors or hash tables, and
stored in the wire format otherwise. OBJ is returned as it is when it is
shared already. Outside a run on MPI, every rank calls share and all get
rank 0's object; the ranks must then be on one node."
  (on-every-rank 'share p (lambda () (%share obj))))

(define (check-type who type)
  (unless (memq type '(vu8 u8 s8 u16 s16 u32 s32 u64 s64 f32 f64 c32 c64))
    (raise-parallelizer-error
     who 'EINVAL "unknown element type ~s: expected one of vu8 u8 s8 u16 \
s16 u32 s32 u64 s64 f32 f64 c32 c64" type)))

(define (length->bound who n)
  (unless (and (exact-integer? n) (>= n 0))
    (raise-parallelizer-error who 'EINVAL "expected a length (a \
non-negative exact integer), got ~s" n))
  (list 0 (- n 1)))

(define* (make-shared-vector p type length #:key (fill #f))
  "Return a new shared vector (see share) of LENGTH elements of TYPE, a
symbol: vu8 for a bytevector, or one of SRFI-4's u8 s8 u16 s16 u32 s32 u64
s64 f32 f64 c32 c64. Its elements are zero, or FILL."
  (check-type 'make-shared-vector type)
  (let ((bound (length->bound 'make-shared-vector length)))
    (on-every-rank 'make-shared-vector p
                   (lambda ()
                     (let ((v (%make-shared-vector 'make-shared-vector type
                                                   (list bound) #t)))
                       (when fill
                         (array-fill! v fill))
                       v)))))

(define (make-shared-typed-array p type . bounds)
  "Return a new shared array (see share) of element type TYPE (as for
make-shared-vector) whose dimensions are BOUNDS, each a length or a list
(LOWER UPPER), as for make-typed-array; its elements are zero. An array of
one dimension from 0 is a vector. The name is not make-shared-array, which
is Guile's procedure for views of arrays."
  (check-type 'make-shared-typed-array type)
  (let ((bounds (map (match-lambda
                       ((? exact-integer? n)
                        (length->bound 'make-shared-typed-array n))
                       (((? exact-integer? lower) (? exact-integer? upper))
                        (list lower upper))
                       (bound
                        (raise-parallelizer-error
                         'make-shared-typed-array 'EINVAL
                         "a bound must be a length or a list (lower upper), \
got ~s" bound)))
                     bounds)))
    (on-every-rank 'make-shared-typed-array p
                   (lambda ()
                     (%make-shared-vector 'make-shared-typed-array type
                                          bounds
                                          (match bounds
                                            (((0 _)) #t)
                                            (_ #f)))))))

(define (shared? obj)
  "Return #t if OBJ is a shared object: a shared dict or list, or a vector
or array whose elements live in shared memory."
  (%shared? obj))

(define (unshare obj)
  "Return an ordinary, process-local copy of the shared object OBJ,
recursively: a hash table (equal?-keyed) for a shared dict, a list for a
shared list, a vector or array of the same type and shape for a shared
vector or array. Any other OBJ is returned as it is."
  (cond
   ((%shared-dict? obj)
    (let ((table (make-hash-table)))
      (for-each (match-lambda
                  ((key . value) (hash-set! table key (unshare value))))
                (%shared-dict-items obj))
      table))
   ((%shared-list? obj)
    (map unshare (%shared-list-items obj)))
   ((%shared? obj)
    (%shared-vector-copy obj))
   (else obj)))

;;;
;;; Dicts.
;;;

(define* (shared-dict-ref d key #:key (default #f))
  "Return the value of KEY in the shared dict D, or DEFAULT. Numeric
vectors and dicts are returned as the shared objects they are; other
values as copies."
  (%shared-dict-ref d key default))

(define (shared-dict-set! d key value)
  "Store VALUE under KEY in the shared dict D, in place of any earlier
value. A numeric vector or a hash table becomes a shared one (the same
object when VALUE is a shared object of D's memory); any other value is
stored in the wire format."
  (%shared-dict-set! d key value))

(define (shared-dict-delete! d key)
  "Remove KEY from the shared dict D. Return #t if it was there, #f if
not."
  (%shared-dict-delete! d key))

(define* (shared-dict-update! d key proc #:key (default #f))
  "Store (PROC OLD) under KEY in the shared dict D, OLD being the value of
KEY or DEFAULT when it has none, and return it. D is locked meanwhile, so
no other process changes it between the read and the write: PROC runs
once, and should be quick and not start a run."
  (unless (procedure? proc)
    (raise-parallelizer-error 'shared-dict-update! 'EINVAL
                              "expected a procedure, got ~s" proc))
  (%shared-dict-update! d key proc default))

(define (shared-dict-keys d)
  "Return the list of the keys of the shared dict D."
  (map car (%shared-dict-items d)))

(define (shared-dict-count d)
  "Return the number of entries of the shared dict D."
  (%shared-dict-count d))

(define (shared-dict->alist d)
  "Return the entries of the shared dict D as an alist, taken at one
instant."
  (%shared-dict-items d))

;;;
;;; Lists.
;;;

(define (shared-list-ref l i)
  "Return element I (from 0) of the shared list L."
  (%shared-list-ref l i))

(define (shared-list-set! l i value)
  "Store VALUE as element I of the shared list L (stored as by
shared-dict-set!)."
  (%shared-list-set! l i value))

(define (shared-list-append! l value)
  "Add VALUE at the end of the shared list L and return its index."
  (%shared-list-append! l value))

(define (shared-list-length l)
  "Return the number of elements of the shared list L."
  (%shared-list-length l))

(define (shared-list->list l)
  "Return the elements of the shared list L as a list, taken at one
instant."
  (%shared-list-items l))

;;;
;;; The seed's SharedObjectManager.
;;;

(define-record-type <shared-object-manager>
  (%make-shared-object-manager parallelizer object shared)
  %shared-object-manager?
  (parallelizer manager-parallelizer)
  (object manager-object)
  (shared manager-shared set-manager-shared!))

(define (make-shared-object-manager p obj)
  "Return a manager of OBJ for parallelizer P: shared-object-manager-share
shares OBJ (once) and shared-object-manager-unshare copies it back."
  (check-parallelizer 'make-shared-object-manager p)
  (%make-shared-object-manager p obj #f))

(define (shared-object-manager? obj)
  "Return #t if OBJ is a shared-object manager."
  (%shared-object-manager? obj))

(define (check-manager who m)
  (unless (%shared-object-manager? m)
    (raise-parallelizer-error who 'EINVAL
                              "expected a shared-object manager, got ~s" m)))

(define (shared-object-manager-share m)
  "Share the object of manager M (see share), the first time only, and
return the shared object."
  (check-manager 'shared-object-manager-share m)
  (or (manager-shared m)
      (let ((shared (share (manager-parallelizer m) (manager-object m))))
        (set-manager-shared! m shared)
        shared)))

(define (shared-object-manager-unshare m)
  "Return an ordinary copy (see unshare) of the shared object of manager
M, sharing it first if it is not yet."
  (check-manager 'shared-object-manager-unshare m)
  (unshare (shared-object-manager-share m)))

;;;
;;; Set-up.
;;;

(%shared-set-types! <shared-dict> <shared-list> row-major-view strided-view
                    unshare)

