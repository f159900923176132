;;; (parallelizer collectives) — operations all the processes of a run join.

;;; Commentary:
;;;
;;; Every procedure here takes the parallelizer of the run as its first
;;; argument and is called by every process of the group. Values travel
;;; in the wire format of (parallelizer wire); numeric vectors are reduced
;;; element-wise in C. A process whose peers are in a different operation
;;; gets an error that names both operations.
;;;
;;; Code:

(define-module (parallelizer collectives)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (fold))
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer chunks) #:select (copy-chunk split-into-chunks))
  #:use-module ((parallelizer kernels)
                #:select (kernel-handle reduction-kernel?))
  #:use-module ((parallelizer primitives)
                #:select (%comm-allgather
                          %comm-allreduce-kernel
                          %comm-allreduce-uniform
                          %comm-barrier
                          %comm-broadcast
                          %comm-broadcast-uniform!
                          %comm-gather
                          %comm-rank
                          %comm-reduce-kernel
                          %comm-reduce-uniform
                          %comm-scatter
                          %comm-size
                          %uniform-reducible?))
  #:export (broadcast
            broadcast!
            scatter
            gather
            allgather
            reduce-to-root
            allreduce
            barrier
            parallelizer-wait))

(define (barrier p)
  "Wait until every process of P's group has reached this barrier."
  (%comm-barrier (require-comm p 'barrier)))

(define (parallelizer-wait p)
  "Wait until every process of P's group has reached this barrier: the
name McUtils users know for barrier."
  (%comm-barrier (require-comm p 'parallelizer-wait)))

(define* (broadcast p datum #:key (root 0))
  "Return DATUM of process ROOT on every process of P's group. Other
processes pass anything as DATUM (usually #f)."
  (%comm-broadcast (require-comm p 'broadcast) datum root))

(define* (broadcast! p vector #:key (root 0))
  "Copy the elements of process ROOT's uniform numeric VECTOR (an
f64vector, u8vector...) into VECTOR on every other process, in place, and
return VECTOR. Every process passes a vector of the same element type and
length. Nothing is encoded or allocated, so this is the fast way to share
large numeric data repeatedly."
  (%comm-broadcast-uniform! (require-comm p 'broadcast!) vector root))

(define* (scatter p data #:key (root 0))
  "Split DATA of process ROOT along its first axis into one chunk per
process of P's group and return this process's chunk. DATA may be a list,
vector, bytevector, SRFI-4 vector or array; each chunk has DATA's type.
Chunk sizes differ by at most one, the first (remainder LENGTH NPROCS)
ranks getting the larger ones. Other processes pass anything as DATA."
  (let* ((comm (require-comm p 'scatter))
         (root? (= (%comm-rank comm) root))
         (chunks (and root?
                      (split-into-chunks 'scatter data (%comm-size comm))))
         (chunk (%comm-scatter comm chunks root)))
    ;; The other processes' chunks were views of DATA, copied once by the
    ;; encoder; the root's own must not alias DATA either.
    (if root? (copy-chunk chunk) chunk)))

(define* (gather p datum #:key (root 0))
  "Return, on process ROOT, the list of every process's DATUM in rank
order; return in-worker-process on the others."
  (or (%comm-gather (require-comm p 'gather) datum root)
      in-worker-process))

(define (allgather p datum)
  "Return on every process the list of every process's DATUM in rank
order."
  (%comm-allgather (require-comm p 'allgather) datum))

(define (op->procedure who op)
  (match op
    ('sum +)
    ('prod *)
    ('min min)
    ('max max)
    ((? procedure?) op)
    (_ (raise-parallelizer-error
        who 'EINVAL "the operator must be sum, prod, min, max, a procedure \
of two arguments or a reduction kernel, got ~s" op))))

(define (operator-signature op)
  ;; What the processes of a reduction compare to find out that they do
  ;; not all reduce with the same operator: its name, or #f for an
  ;; anonymous procedure (whose code no process can compare with its
  ;; own).
  (if (symbol? op)
      op
      (procedure-name op)))

(define (check-operators who op self signatures)
  ;; SIGNATURES holds every process's operator signature in rank order;
  ;; raise if any differs from that of OP, this process's (rank SELF).
  (let ((mine (operator-signature op))
        (describe (lambda (signature)
                    (or signature "an anonymous procedure"))))
    (for-each (lambda (rank theirs)
                (unless (equal? theirs mine)
                  (raise-parallelizer-error
                   who 'EMISMATCH "processes reduce with different \
operators: rank ~a is in ~a with operator ~a but rank ~a with operator ~a"
                   self who (describe mine) rank (describe theirs))))
              (iota (length signatures)) signatures)))

(define (fold-in-rank-order who op self values)
  ;; VALUES are every process's (SIGNATURE . DATUM) in rank order: the
  ;; operators are checked, then the data folded ((v0 op v1) op v2) ...,
  ;; as MPI does: OP must be associative but need not be commutative.
  (let ((proc (op->procedure who op))
        (data (map cdr values)))
    (check-operators who op self (map car values))
    (when (symbol? op)
      (for-each (lambda (v)
                  (unless (number? v)
                    (raise-parallelizer-error
                     who 'EINVAL "~s needs numbers or uniform numeric \
vectors on every process, got ~s" op v)))
                data))
    (fold (lambda (v acc) (proc acc v)) (car data) (cdr data))))

(define* (reduce-to-root p op datum #:key (root 0))
  "Combine every process's DATUM with OP in rank order and return the
result on process ROOT (in-worker-process elsewhere). OP is sum, prod, min
or max (element-wise in C on uniform numeric vectors), a procedure of two
arguments, which must be associative, or a reduction kernel (see
load-kernel), which combines uniform numeric vectors in C."
  (let ((comm (require-comm p 'reduce-to-root)))
    (op->procedure 'reduce-to-root op)
    (cond
     ((and (symbol? op) (%uniform-reducible? datum))
      (or (%comm-reduce-uniform comm op datum root) in-worker-process))
     ;; A reduction kernel over uniform vectors: gathered and folded in C.
     ((and (reduction-kernel? op) (%uniform-reducible? datum))
      (or (%comm-reduce-kernel comm (kernel-handle op) datum root)
          in-worker-process))
     (else
      ;; The operator travels with the datum: every backend's reduction
      ;; checks that all processes use the same one.
      (let ((all (%comm-gather comm (cons (operator-signature op) datum)
                               root)))
        (if all
            (fold-in-rank-order 'reduce-to-root op root all)
            in-worker-process))))))

(define (allreduce p op datum)
  "Like reduce-to-root, but every process gets the result."
  (let ((comm (require-comm p 'allreduce)))
    (op->procedure 'allreduce op)
    (cond
     ((and (symbol? op) (%uniform-reducible? datum))
      (%comm-allreduce-uniform comm op datum))
     ;; A reduction kernel over uniform vectors: gathered and folded in C.
     ((and (reduction-kernel? op) (%uniform-reducible? datum))
      (%comm-allreduce-kernel comm (kernel-handle op) datum))
     (else
      (fold-in-rank-order 'allreduce op (%comm-rank comm)
                          (%comm-allgather
                           comm (cons (operator-signature op) datum)))))))
