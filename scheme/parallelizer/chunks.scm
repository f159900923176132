;;; (parallelizer chunks) — cutting containers into chunks and joining them.

;;; Commentary:
;;;
;;; scatter and parallel-map cut a list, vector, bytevector, SRFI-4 vector
;;; or array along its first axis into chunks of its own type, and
;;; parallel-map joins the mapped chunks back. Chunk sizes differ by at
;;; most one, the larger first, as MPI programs usually deal them.
;;;
;;; Code:

(define-module (parallelizer chunks)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (fold append-map every split-at))
  #:use-module (rnrs bytevectors)
  #:use-module ((system foreign) #:select (bytevector->pointer
                                           pointer->bytevector))
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer primitives) #:select (%element-size))
  #:export (container-kind
            copy-chunk
            split-into-chunks
            chunk-of
            split-every
            join-chunks))

(define (chunk-sizes len n)
  "Return the sizes of N chunks of LEN elements: they differ by at most one
and the first (remainder LEN N) chunks are the larger."
  (let ((q (quotient len n)) (r (remainder len n)))
    (map (lambda (i) (if (< i r) (1+ q) q)) (iota n))))

(define (typed-element-size type)
  ;; Bytes of one element of a uniform vector of TYPE, from the runtime's
  ;; table of element types.
  (%element-size type))

(define (container-kind who data)
  ;; The kind of DATA as a container that can be split and joined.
  (cond
   ((list? data) 'list)
   ((vector? data) 'vector)
   ((bytevector? data) 'typed)
   ((string? data)
    (raise-parallelizer-error
     who 'EINVAL "cannot split the string ~s: expected a list, vector, \
bytevector, SRFI-4 vector or array" data))
   ((and (array? data) (>= (array-rank data) 1)) 'array)
   (else
    (raise-parallelizer-error
     who 'EINVAL "cannot split ~s: expected a list, vector, bytevector, \
SRFI-4 vector or array" data))))

(define (typed-slice bv type start count)
  ;; Elements START .. START+COUNT-1 of the uniform vector BV as a view of
  ;; its memory, not a copy: a chunk on its way to another process is
  ;; copied once, by the encoder.
  (let ((size (typed-element-size type)))
    (if (zero? count)
        (if (eq? type 'vu8)
            (make-bytevector 0)
            (make-typed-array type *unspecified* 0))
        ;; With an element type, the length is counted in elements.
        (pointer->bytevector (bytevector->pointer bv (* start size))
                             count 0 type))))

(define (vector-slice v start count)
  (let ((out (make-vector count)))
    (vector-move-left! v start (+ start count) out 0)
    out))

(define (array-slice a start count)
  ;; Rows START .. START+COUNT-1 along the first axis, as a view of A whose
  ;; first axis starts at 0 and whose other axes keep their bounds.
  (match (array-shape a)
    (((lo hi) . rest)
     (apply make-shared-array a
            (lambda (i . more) (cons* (+ lo start i) more))
            count rest))))

(define (copy-chunk chunk)
  "Return a chunk equal to CHUNK that shares no memory with the data it was
cut from: typed chunks and array chunks are views until copied."
  (cond
   ((bytevector? chunk)
    (let ((out (if (eq? (array-type chunk) 'vu8)
                   (make-bytevector (bytevector-length chunk))
                   (make-typed-array (array-type chunk) *unspecified*
                                     (array-length chunk)))))
      (bytevector-copy! chunk 0 out 0 (bytevector-length chunk))
      out))
   ((and (array? chunk) (not (vector? chunk)) (not (string? chunk)))
    (let ((out (apply make-typed-array (array-type chunk) *unspecified*
                      (array-shape chunk))))
      (array-copy! chunk out)
      out))
   (else chunk)))

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

(define (chunk-of who data n i)
  "Return chunk I (from 0) of the N chunks that split-into-chunks would cut
DATA into, made without cutting the others: a process that holds all of
DATA takes its own share of it."
  (let* ((kind (container-kind who data))
         (sizes (chunk-sizes (container-length kind data) n))
         (start (apply + (list-head sizes i)))
         (size (list-ref sizes i)))
    (match kind
      ('list (list-head (list-tail data start) size))
      ('vector (vector-slice data start size))
      ('typed (typed-slice data (array-type data) start size))
      ('array (array-slice data start size)))))

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
    (let ((out (make-vector (apply + (map vector-length chunks)))))
      (fold (lambda (chunk offset)
              (vector-move-left! chunk 0 (vector-length chunk) out offset)
              (+ offset (vector-length chunk)))
            0 chunks)
      out))
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
     who 'EINVAL "cannot join the results ~s: each chunk must give a list, \
vector, uniform vector or array (a vectorized procedure must return a container)"
     chunks))))
