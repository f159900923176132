;;; (parallelizer point-to-point) — messages between two processes of a run.

;;; Commentary:
;;;
;;; send-to and receive-from move one value from a process to another of
;;; the same group; the other processes take no part. Values travel in the
;;; wire format of (parallelizer wire). A process that receives from a
;;; peer that is in a collective instead gets an error naming both.
;;;
;;; Code:

(define-module (parallelizer point-to-point)
  #:use-module (parallelizer core)
  #:use-module ((parallelizer primitives) #:select (%comm-receive %comm-send))
  #:export (send-to
            receive-from))

(define (send-to p datum dest)
  "Send DATUM from this process to process DEST of P's group."
  (%comm-send (require-comm p 'send-to) datum dest))

(define (receive-from p source)
  "Return the next value that process SOURCE of P's group sent to this
process, waiting for it."
  (%comm-receive (require-comm p 'receive-from) source))
