;;; shared-dict.scm — a dict in shared memory that every process changes.

;;; Commentary:
;;;
;;; The DistributedDict test of McUtils.Parallelizers, in Scheme. The main
;;; process shares a hash table of three random arrays and an empty table:
;;; share gives a shared dict, whose arrays are Guile arrays over shared
;;; memory and whose inner table is a shared dict too. In the run, every
;;; worker sets element (1 0 0) of array "a" to 5 and an entry of the
;;; inner dict, in place: after the run the main process sees both, which
;;; McUtils loses for the inner dict. unshare then gives an ordinary hash
;;; table of ordinary arrays again.
;;;
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile \
;;;     examples/shared-dict.scm
;;;       prints  a[1,0,0] = 5.0
;;;               d = ((key . 5))
;;;               unshared: a hash table; a is an f64 array of shape (10 5 5)
;;;   ./pre-inst-env parallelizer run -n 3 --backend mpi \
;;;     examples/shared-dict.scm
;;;       three MPI ranks of one machine, the same output
;;;   ./pre-inst-env guile examples/shared-dict.scm
;;;       serial: there is no worker, so a[1,0,0] keeps its random value
;;;       and d stays empty
;;;
;;; Code:

(use-modules (parallelizer))

(define p (lookup-parallelizer #f))

(define (random-array . dims)
  ;; np.random.rand(DIMS...)
  (let ((a (apply make-typed-array 'f64 0.0 dims)))
    (array-index-map! a (lambda _ (random:uniform)))
    a))

(define* (mutate-shared-dict d #:key parallelizer)
  "Change the shared dict D from every worker: element (1 0 0) of its
array \"a\", and the entry key of its inner dict \"d\"."
  (let ((wat (shared-dict-ref d "d")))
    (unless (on-main? parallelizer)
      (array-set! (shared-dict-ref d "a") 5.0 1 0 0)
      (shared-dict-set! wat 'key 5))))

(define my-data
  (let ((table (make-hash-table)))
    (hash-set! table "a" (random-array 10 5 5))
    (hash-set! table "b" (random-array 10 3 8))
    (hash-set! table "c" (random-array 10 15 4))
    (hash-set! table "d" (make-hash-table))
    ;; On MPI every rank calls share, and all get rank 0's dict.
    (share p table)))

(parallelizer-run p mutate-shared-dict my-data)

(when (on-main? p)
  (format #t "a[1,0,0] = ~a~%" (array-ref (shared-dict-ref my-data "a") 1 0 0))
  (format #t "d = ~s~%" (shared-dict->alist (shared-dict-ref my-data "d")))
  (let ((copy (unshare my-data)))
    (format #t "unshared: ~a; a is an ~a array of shape ~a~%"
            (if (hash-table? copy) "a hash table" "not a hash table")
            (array-type (hash-ref copy "a"))
            (array-dimensions (hash-ref copy "a")))))
