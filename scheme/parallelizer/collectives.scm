;;; (parallelizer collectives) — communication between the processes of a run.

;;; Commentary:
;;;
;;; Every procedure here takes the parallelizer of the run as its first
;;; argument and is called by every process of the group (send-to and
;;; receive-from by the two processes concerned). Values travel in the wire
;;; format of (parallelizer wire); numeric vectors are reduced element-wise
;;; in C.
;;; A process whose peers are in a different operation gets an error that
;;; names both operations.
;;;
;;; Code:

(define-module (parallelizer collectives)
  #:use-module (ice-9 format)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (fold append-map every split-at))
  #:use-module (rnrs bytevectors)
  #:use-module (parallelizer core)
  #:use-module (parallelizer primitives)
  #:export (send-to
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
            parallelizer-print))

;;;
;;; Point to point.
;;;

(define (send-to p datum dest)
  "Send DATUM from this process to process DEST of P's group."
  (%comm-send (require-comm p 'send-to) datum dest))

(define (receive-from p source)
  "Return the next value that process SOURCE of P's group sent to this
process, waiting for it."
  (%comm-receive (require-comm p 'receive-from) source))

;;;
;;; Collectives.
;;;

(define (barrier p)
  "Wait until every process of P's group has reached this barrier."
  (%comm-barrier (require-comm p 'barrier)))

(define parallelizer-wait
  ;; The name McUtils users know.
  barrier)

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
         (chunks (and (= (%comm-rank comm) root)
                      (split-into-chunks 'scatter data (%comm-size comm)))))
    (%comm-scatter comm chunks root)))

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
        who "the operator must be sum, prod, min, max or a procedure of \
two arguments, got ~s" op))))

(define (fold-in-rank-order who op values)
  ;; ((v0 op v1) op v2) ..., as MPI does: OP must be associative but need
  ;; not be commutative.
  (let ((proc (op->procedure who op)))
    (when (symbol? op)
      (for-each (lambda (v)
                  (unless (number? v)
                    (raise-parallelizer-error
                     who "~s needs numbers or uniform numeric vectors on \
every process, got ~s" op v)))
                values))
    (fold (lambda (v acc) (proc acc v)) (car values) (cdr values))))

(define* (reduce-to-root p op datum #:key (root 0))
  "Combine every process's DATUM with OP in rank order and return the
result on process ROOT (in-worker-process elsewhere). OP is sum, prod, min
or max (element-wise in C on uniform numeric vectors) or a procedure of two
arguments, which must be associative."
  (let ((comm (require-comm p 'reduce-to-root)))
    (op->procedure 'reduce-to-root op)
    (if (and (symbol? op) (%uniform-reducible? datum))
        (or (%comm-reduce-uniform comm op datum root) in-worker-process)
        (let ((all (%comm-gather comm datum root)))
          (if all
              (fold-in-rank-order 'reduce-to-root op all)
              in-worker-process)))))

(define (allreduce p op datum)
  "Like reduce-to-root, but every process gets the result."
  (let ((comm (require-comm p 'allreduce)))
    (op->procedure 'allreduce op)
    (if (and (symbol? op) (%uniform-reducible? datum))
        (%comm-allreduce-uniform comm op datum)
        (fold-in-rank-order 'allreduce op (%comm-allgather comm datum)))))

;;;
;;; Splitting and joining containers.
;;;

(define (chunk-sizes len n)
  "Return the sizes of N chunks of LEN elements: they differ by at most one
and the first (remainder LEN N) chunks are the larger."
  (let ((q (quotient len n)) (r (remainder len n)))
    (map (lambda (i) (if (< i r) (1+ q) q)) (iota n))))

(define (typed-element-size type)
  (match type
    ((or 'vu8 'u8 's8) 1)
    ((or 'u16 's16) 2)
    ((or 'u32 's32 'f32) 4)
    ((or 'u64 's64 'f64 'c32) 8)
    ('c64 16)))

(define (container-kind who data)
  ;; The kind of DATA as a container that can be split and joined.
  (cond
   ((list? data) 'list)
   ((vector? data) 'vector)
   ((bytevector? data) 'typed)
   ((string? data)
    (raise-parallelizer-error
     who "cannot split the string ~s: expected a list, vector, bytevector, \
SRFI-4 vector or array" data))
   ((and (array? data) (>= (array-rank data) 1)) 'array)
   (else
    (raise-parallelizer-error
     who "cannot split ~s: expected a list, vector, bytevector, SRFI-4 \
vector or array" data))))

(define (typed-slice bv type start count)
  (let* ((size (typed-element-size type))
         (out (if (eq? type 'vu8)
                  (make-bytevector (* count size))
                  (make-typed-array type *unspecified* count))))
    (bytevector-copy! bv (* start size) out 0 (* count size))
    out))

(define (vector-slice v start count)
  (let ((out (make-vector count)))
    (vector-move-left! v start (+ start count) out 0)
    out))

(define (array-slice a start count)
  ;; Rows START .. START+COUNT-1 along the first axis, as a fresh array
  ;; whose first axis starts at 0 and whose other axes keep their bounds.
  (match (array-shape a)
    (((lo hi) . rest)
     (let ((out (apply make-typed-array (array-type a) *unspecified*
                       count rest)))
       (array-copy! (apply make-shared-array a
                           (lambda (i . more) (cons* (+ lo start i) more))
                           count rest)
                    out)
       out))))

(define (container-length kind data)
  (match kind
    ('list (length data))
    ('vector (vector-length data))
    ('typed (/ (bytevector-length data) (typed-element-size
                                         (array-type data))))
    ('array (match (array-shape data)
              (((lo hi) . _) (1+ (- hi lo)))))))

(define (split-by-sizes kind data sizes)
  ;; DATA cut along its first axis into consecutive chunks of SIZES.
  (let ((type (and (eq? kind 'typed) (array-type data))))
    (let loop ((sizes sizes) (start 0) (rest data) (out '()))
      (match sizes
        (() (reverse out))
        ((size . sizes)
         (match kind
           ('list (call-with-values (lambda () (split-at rest size))
                    (lambda (chunk rest)
                      (loop sizes 0 rest (cons chunk out)))))
           ('vector (loop sizes (+ start size) rest
                          (cons (vector-slice data start size) out)))
           ('typed (loop sizes (+ start size) rest
                         (cons (typed-slice data type start size) out)))
           ('array (loop sizes (+ start size) rest
                         (cons (array-slice data start size) out)))))))))

(define (split-into-chunks who data n)
  "Split DATA along its first axis into N chunks of its own type, whose
sizes differ by at most one (the larger first)."
  (let ((kind (container-kind who data)))
    (split-by-sizes kind data (chunk-sizes (container-length kind data) n))))

(define (split-every who data size)
  "Split DATA along its first axis into chunks of SIZE elements (the last
one may be shorter)."
  (let* ((kind (container-kind who data))
         (len (container-length kind data)))
    (split-by-sizes kind data
                    (append (make-list (quotient len size) size)
                            (if (zero? (remainder len size))
                                '()
                                (list (remainder len size)))))))

(define (join-chunks who chunks)
  "Concatenate CHUNKS along the first axis. Chunks of one container type
give that type; uniform vectors of different element types (a map whose
results fit one chunk's type but not another's) give a vector."
  (define (same-kind? pred)
    (every pred chunks))
  (define (same-array-type?)
    (let ((type (array-type (car chunks))))
      (every (lambda (c) (eq? (array-type c) type)) chunks)))
  (cond
   ((null? chunks) '())
   ((same-kind? list?) (apply append chunks))
   ((same-kind? vector?)
    (list->vector (append-map vector->list chunks)))
   ((and (same-kind? bytevector?) (same-array-type?))
    (let* ((type (array-type (car chunks)))
           (total (apply + (map bytevector-length chunks)))
           (out (if (eq? type 'vu8)
                    (make-bytevector total)
                    (make-typed-array type *unspecified*
                                      (/ total (typed-element-size type))))))
      (fold (lambda (chunk offset)
              (bytevector-copy! chunk 0 out offset (bytevector-length chunk))
              (+ offset (bytevector-length chunk)))
            0 chunks)
      out))
   ((same-kind? (lambda (c) (or (vector? c) (bytevector? c))))
    (list->vector (append-map (lambda (c)
                                (if (vector? c) (vector->list c)
                                    (array->list c)))
                              chunks)))
   ((and (same-kind? (lambda (c) (and (array? c) (not (string? c))
                                      (>= (array-rank c) 1))))
         (same-array-type?)
         (apply equal? (map (lambda (c) (cdr (array-shape c))) chunks)))
    (let* ((first (car chunks))
           (rows (map (lambda (c) (car (array-dimensions c))) chunks))
           (rest (cdr (array-shape first)))
           (out (apply make-typed-array (array-type first) *unspecified*
                       (apply + rows) rest)))
      (fold (lambda (chunk n offset)
              (array-copy! chunk
                           (apply make-shared-array out
                                  (lambda (i . more)
                                    (cons* (+ offset i) more))
                                  n rest))
              (+ offset n))
            0 chunks rows)
      out))
   (else
    (raise-parallelizer-error
     who "cannot join the results ~s: each chunk must give a list, vector, \
uniform vector or array (a vectorized procedure must return a container)"
     chunks))))

(define (map-chunk proc chunk extra-args)
  ;; Apply PROC to each element of CHUNK; the result has CHUNK's container
  ;; type where the results fit in it (a uniform vector whose results are
  ;; not all of its element type becomes a vector).
  (define call
    (if (null? extra-args)
        proc
        (lambda (x) (apply proc x extra-args))))
  (cond
   ((list? chunk) (map call chunk))
   ((vector? chunk) (list->vector (map call (vector->list chunk))))
   ((bytevector? chunk)
    (let ((results (map call (array->list chunk)))
          (type (array-type chunk)))
      (catch #t
        (lambda ()
          (if (eq? type 'vu8)
              (u8-list->bytevector results)
              (list->typed-array type 1 results)))
        (lambda _ (list->vector results)))))
   (else
    ;; An array is mapped row by row along its first axis; the results
    ;; form a vector, a one-dimensional array.
    (list->vector (map call (array-rows chunk))))))

(define (array-rows a)
  ;; The rows of A along its first axis: its elements if it has one axis,
  ;; shared arrays of one axis less otherwise.
  (match (array-shape a)
    (((lo hi))
     (map (lambda (i) (array-ref a (+ lo i))) (iota (1+ (- hi lo)))))
    (((lo hi) . rest)
     (map (lambda (i)
            (apply make-shared-array a (lambda more (cons (+ lo i) more))
                   rest))
          (iota (1+ (- hi lo)))))))

(define* (parallel-map p proc data #:key (extra-args '()) vectorized?
                       chunk-size progress?)
  "Apply PROC to every element of DATA across the processes of P's group
and return, on the main process, the results in input order in a container
of DATA's type (in-worker-process on the others). DATA is only read on the
main process. PROC is called as (PROC ELEMENT EXTRA-ARGS ...), or, when
VECTORIZED? is true, as (PROC CHUNK EXTRA-ARGS ...) on a whole chunk,
returning a container. Without CHUNK-SIZE each process gets one chunk of
DATA (sizes differ by at most one); with CHUNK-SIZE the main process hands
out chunks of that many elements on demand and works on them too, which
balances irregular work. PROGRESS? prints the chunks done so far on the
main process's error port."
  (let* ((comm (require-comm p 'parallel-map))
         (main? (zero? (%comm-rank comm)))
         (apply-chunk (lambda (chunk)
                        (if vectorized?
                            (apply proc chunk extra-args)
                            (map-chunk proc chunk extra-args)))))
    (when main?
      (container-kind 'parallel-map data)
      (unless (or (not chunk-size)
                  (and (exact-integer? chunk-size) (positive? chunk-size)))
        (raise-parallelizer-error
         'parallel-map "#:chunk-size must be a positive integer or #f, got ~s"
         chunk-size)))
    ;; Every process must take the same path: the main process decides.
    (if (broadcast p (and main? (and chunk-size #t)))
        (dynamic-map p comm apply-chunk data chunk-size progress?)
        (let ((parts (gather p (apply-chunk (scatter p data)))))
          (if main?
              (begin
                (when progress?
                  (report-progress (length parts) (length parts)))
                (join-chunks 'parallel-map parts))
              in-worker-process)))))

(define (report-progress done total)
  (let ((port (current-error-port)))
    (format port "\rparallel-map: ~a/~a chunks" done total)
    (when (= done total)
      (newline port))
    (force-output port)))

(define (dynamic-map p comm apply-chunk data chunk-size progress?)
  ;; The main process splits DATA into chunks of CHUNK-SIZE elements and
  ;; answers each worker's request with the next chunk, or 'done when none
  ;; is left; a worker's request carries the result of its previous chunk.
  ;; While no request waits, the main process works on a chunk itself.
  (if (zero? (%comm-rank comm))
      (let* ((chunks (list->vector (split-every 'parallel-map data
                                                chunk-size)))
             (total (vector-length chunks))
             (results (make-vector total #f))
             (workers (1- (%comm-size comm))))
        (define (note-done! done)
          (when progress?
            (report-progress done total)))
        (let loop ((next 0) (done 0) (finished 0))
          (define (answer source reply next done)
            (match reply
              (('result index . value)
               (vector-set! results index value)
               (note-done! (1+ done))
               (hand-out source next (1+ done)))
              ('ready (hand-out source next done))))
          (define (hand-out source next done)
            (if (< next total)
                (begin
                  (%comm-send comm (cons next (vector-ref chunks next))
                              source)
                  (loop (1+ next) done finished))
                (begin
                  (%comm-send comm 'done source)
                  (loop next done (1+ finished)))))
          (cond
           ((and (= finished workers) (= done total))
            (join-chunks 'parallel-map (vector->list results)))
           ((%comm-receive-any comm #f)
            => (match-lambda ((source . reply) (answer source reply next
                                                       done))))
           ((< next total)
            (vector-set! results next (apply-chunk (vector-ref chunks next)))
            (note-done! (1+ done))
            (loop (1+ next) (1+ done) finished))
           (else
            (match (%comm-receive-any comm #t)
              ((source . reply) (answer source reply next done)))))))
      (let loop ((reply 'ready))
        (%comm-send comm reply 0)
        (match (%comm-receive comm 0)
          ('done in-worker-process)
          ((index . chunk)
           (loop (cons* 'result index (apply-chunk chunk))))))))

(define* (parallel-starmap p proc data #:key (extra-args '()) chunk-size
                           progress?)
  "Like parallel-map, but each element of DATA is a list of arguments:
PROC is called as (apply PROC ELEMENT EXTRA-ARGS)."
  (parallel-map p (lambda (args . extra) (apply proc (append args extra)))
                data #:extra-args extra-args #:chunk-size chunk-size
                #:progress? progress?))

;;;
;;; Printing.
;;;

(define (parallelizer-print p fmt . args)
  "Print a line made of FMT (a format string, or any object to display)
and ARGS. #:where main prints only on the main process, #:where worker only
on the workers, #:where both (the default) everywhere. Worker lines start
with \"On Worker N (PID): \"."
  (let loop ((rest args) (where 'both) (format-args '()))
    (match rest
      ((#:where value . tail) (loop tail value format-args))
      ((x . tail) (loop tail where (cons x format-args)))
      (()
       (unless (memq where '(main worker both))
         (raise-parallelizer-error
          'parallelizer-print "#:where must be main, worker or both, got ~s"
          where))
       (let* ((id (parallelizer-id p))
              (main? (zero? id)))
         (when (case where
                 ((both) #t)
                 ((main) main?)
                 ((worker) (not main?)))
           (let* ((text (if (string? fmt)
                            (apply format #f fmt (reverse format-args))
                            (format #f "~a~{ ~a~}" fmt
                                    (reverse format-args))))
                  (line (if main?
                            (string-append text "\n")
                            (format #f "On Worker ~a (~a): ~a~%" id (getpid)
                                    text))))
             ;; One write per line keeps lines of different processes
             ;; from interleaving.
             (display line)
             (force-output))))))))
