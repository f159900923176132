;;; (parallelizer backend serial) — the one-process backend.

;;; Commentary:
;;;
;;; A group of one: the main process runs the job alone and every
;;; collective is an identity. It is the default parallelizer, and the
;;; reference the other backends are tested against.
;;;
;;; Code:

(define-module (parallelizer backend serial)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer primitives) #:select (%make-serial-comm))
  #:export (make-serial-parallelizer
            serial-parallelizer?))

(define (make-serial-parallelizer)
  "Return a new serial parallelizer: one process, rank 0, whose
collectives are identities."
  (%make-parallelizer %serial '() #f (%make-serial-comm) 0))

(define (serial-parallelizer? obj)
  "Return #t if OBJ is a serial parallelizer."
  (parallelizer-of? obj %serial))

(define (serial-run p thunk ranks timeout)
  ;; The group exists only during a run, as on the other backends, so that
  ;; a collective called outside a run fails alike everywhere. A run
  ;; nested in another restores the outer run's group when it ends.
  (let* ((outer (parallelizer-comm p))
         (result (dynamic-wind
                   (lambda ()
                     (set-parallelizer-comm! p (parallelizer-state p)))
                   thunk
                   (lambda () (set-parallelizer-comm! p outer)))))
    (if (job-error? result)
        (raise-job-error 'parallelizer-run 0 (getpid) result)
        result)))

(define %serial
  (make-backend 'serial
                #:make make-serial-parallelizer
                #:run serial-run))

(register-backend! %serial)
