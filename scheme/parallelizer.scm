;;; (parallelizer) — SPMD parallel programs in Scheme.

;;; Commentary:
;;;
;;; The module users import. A job is an ordinary procedure taking the
;;; keyword #:parallelizer; parallelizer-run calls it on every process of a
;;; serial, multiprocessing or MPI group, and the communication procedures
;;; (broadcast, scatter, gather, reduce-to-root, parallel-map...) move values
;;; between the processes. The same job runs unchanged on every backend.
;;;
;;;   (use-modules (parallelizer))
;;;   (define* (job #:key parallelizer)
;;;     (gather parallelizer (parallelizer-id parallelizer)))
;;;   (parallelizer-run (make-multiprocessing-parallelizer #:processes 4)
;;;                     job)
;;;   => (0 1 2 3)
;;;
;;; Code:

(define-module (parallelizer)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module (parallelizer wire)
  #:use-module (parallelizer registry)
  #:use-module (parallelizer run)
  #:use-module (parallelizer point-to-point)
  #:use-module (parallelizer collectives)
  #:use-module (parallelizer map)
  #:use-module (parallelizer kernels)
  #:use-module (parallelizer print)
  #:use-module (parallelizer serve)
  #:use-module (parallelizer backend serial)
  #:use-module (parallelizer backend multiprocessing)
  #:use-module (parallelizer backend mpi)
  #:use-module (parallelizer shared)
  #:re-export (;; Parallelizer objects.
               make-serial-parallelizer
               make-multiprocessing-parallelizer
               make-mpi-parallelizer
               mpi-parallelizer-set-split-threshold!
               parallelizer?
               serial-parallelizer?
               multiprocessing-parallelizer?
               mpi-parallelizer?
               parallelizer-nprocs
               parallelizer-id
               parallelizer-pid
               on-main?

               ;; Registry and defaults.
               lookup-parallelizer
               register-parallelizer!
               set-default-parallelizer!
               current-parallelizer
               call-with-parallelizer
               with-parallelizer

               ;; Running.
               parallelizer-run
               main-restricted
               worker-restricted
               in-worker-process
               in-worker-process?
               in-main-process
               in-main-process?
               make-client-server-runner
               client-server-runner?
               client-server-runner-run
               parallelizer-serve
               call-everywhere
               everywhere

               ;; Errors.
               parallelizer-error?
               parallelizer-error-code
               &parallelizer-failure
               parallelizer-failure?
               parallelizer-failure-rank
               parallelizer-failure-pid
               parallelizer-failure-key
               parallelizer-failure-message
               parallelizer-failure-irritants
               parallelizer-failure-backtrace

               ;; Communication.
               send-to
               receive-from
               broadcast
               broadcast!
               scatter
               gather
               allgather
               reduce-to-root
               allreduce
               barrier
               parallelizer-wait
               parallel-map
               parallel-starmap
               parallelizer-print

               ;; C kernels.
               load-kernel
               compile-kernel
               define-elementwise-kernel
               kernel-ref
               kernel?
               kernel-name
               kernel-signature
               kernel-library
               kernel-cache-directory

               ;; Shared memory.
               share
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
               shared-object-manager-unshare

               ;; Values as bytes.
               value->cbor
               cbor->value
               register-wire-record-type!))

;; A parallelizer sent to another process arrives as that process's own
;; parallelizer: the object describes a place in a group, not data.
(%wire-set-parallelizer-hooks! <parallelizer> current-parallelizer)
