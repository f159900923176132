;;; (parallelizer map) — mapping a procedure over data across a run.

;;; Commentary:
;;;
;;; parallel-map scatters the main process's data, maps each chunk where
;;; it lands and gathers the results in input order, in a container of the
;;; data's type; with a chunk size, the main process hands out chunks on
;;; demand instead. Called outside a run, it is a run by itself; on the
;;; multiprocessing backend the forked workers hold the data already, so
;;; each takes its own chunk and only the results travel.
;;; parallel-starmap applies a procedure to argument lists.
;;;
;;; Code:

(define-module (parallelizer map)
  #:use-module (ice-9 match)
  #:use-module ((rnrs bytevectors) #:select (bytevector? u8-list->bytevector))
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module (parallelizer chunks)
  #:use-module ((parallelizer collectives) #:select (gather))
  #:use-module ((parallelizer run) #:select (parallelizer-run))
  #:use-module ((parallelizer kernels)
                #:select (elementwise-kernel?
                          kernel-handle
                          kernel-result-type
                          kernel?))
  #:use-module ((parallelizer primitives)
                #:select (%comm-rank
                          %comm-receive
                          %comm-scatter
                          %comm-receive-any
                          %comm-send
                          %comm-size
                          %kernel-map))
  #:export (parallel-map
            parallel-starmap))

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
   ((vector? chunk)
    (let* ((n (vector-length chunk))
           (out (make-vector n)))
      (do ((i 0 (1+ i)))
          ((= i n) out)
        (vector-set! out i (call (vector-ref chunk i))))))
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
of DATA's type (in-worker-process on the others). Inside a run, every
process calls it and DATA is only read on the main process. Outside a run
it is a whole run by itself, which returns the results, as Pool.map does:
on the multiprocessing backend the workers are forked with DATA already
in hand, so nothing is sent to them and only the results come back. PROC is called as (PROC ELEMENT EXTRA-ARGS ...), or, when
VECTORIZED? is true, as (PROC CHUNK EXTRA-ARGS ...) on a whole chunk,
returning a container. Without CHUNK-SIZE each process gets one chunk of
DATA (sizes differ by at most one); with CHUNK-SIZE the main process hands
out chunks of that many elements on demand and works on them too, which
balances irregular work. PROGRESS? prints the chunks done so far on the
main process's error port.

PROC may be a C kernel (see load-kernel). An element-wise kernel is
always given whole chunks, as if VECTORIZED? were true; mapped over a
uniform array (SRFI-4 vector, typed array) without CHUNK-SIZE, it runs on
each process's chunk in C, the data moving as typed buffers, and the
result is an array of the kernel's result type and DATA's shape."
  (if (and (parallelizer? p) (parallelizer-comm p))
      (map-in-run p proc data extra-args vectorized? chunk-size progress?)
      (map-as-run p proc data extra-args vectorized? chunk-size progress?)))

(define (check-map-arguments data chunk-size)
  ;; On the main process, before anything moves.
  (container-kind 'parallel-map data)
  (unless (or (not chunk-size)
              (and (exact-integer? chunk-size) (positive? chunk-size)))
    (raise-parallelizer-error
     'parallel-map 'EINVAL
     "#:chunk-size must be a positive integer or #f, got ~s"
     chunk-size)))

(define (chunk-applier proc extra-args vectorized?)
  ;; The procedure that maps PROC over one chunk. An element-wise kernel
  ;; is always given whole chunks.
  (let ((vectorized? (or vectorized? (elementwise-kernel? proc))))
    (lambda (chunk)
      (if vectorized?
          (apply proc chunk extra-args)
          (map-chunk proc chunk extra-args)))))

(define (own-chunk chunk proc vectorized?)
  ;; The main process's CHUNK, a view of the caller's data: a copy when
  ;; PROC is given whole chunks, which it may write to.
  (if (or vectorized? (elementwise-kernel? proc))
      (copy-chunk chunk)
      chunk))

(define (map-as-run p proc data extra-args vectorized? chunk-size progress?)
  ;; parallel-map called outside a run: a run of its own. On the
  ;; multiprocessing backend each process cuts its own chunk out of DATA,
  ;; which it inherited with the fork (or, with CHUNK-SIZE, is told which
  ;; chunks to take); elsewhere, and for a kernel's typed plan, the run
  ;; maps as inside any run.
  (let ((p (check-parallelizer 'parallel-map p)))
    (check-map-arguments data chunk-size)
    (if (and (eq? (parallelizer-kind p) 'multiprocessing)
             (not (kernel-plan proc data chunk-size)))
        (parallelizer-run
         p (lambda* (#:key parallelizer)
             (map-inherited parallelizer proc data extra-args vectorized?
                            chunk-size progress?)))
        (parallelizer-run
         p (lambda* (#:key parallelizer)
             (map-in-run parallelizer proc data extra-args vectorized?
                         chunk-size progress?))))))

(define (map-inherited p proc data extra-args vectorized? chunk-size
                       progress?)
  ;; Inside the run of map-as-run, on every process, each holding DATA.
  (let* ((comm (require-comm p 'parallel-map))
         (rank (%comm-rank comm))
         (apply-chunk (chunk-applier proc extra-args vectorized?)))
    (if chunk-size
        (dynamic-map p comm apply-chunk data chunk-size progress? #f)
        (let* ((chunk (chunk-of 'parallel-map data (%comm-size comm) rank))
               (chunk (if (zero? rank)
                          (own-chunk chunk proc vectorized?)
                          chunk))
               (parts (gather p (apply-chunk chunk))))
          (if (zero? rank)
              (begin
                (when progress?
                  (report-progress (length parts) (length parts)))
                (join-chunks 'parallel-map parts))
              in-worker-process)))))

(define (map-in-run p proc data extra-args vectorized? chunk-size progress?)
  (let* ((comm (require-comm p 'parallel-map))
         (main? (zero? (%comm-rank comm)))
         (apply-chunk (chunk-applier proc extra-args vectorized?)))
    (when main?
      (check-map-arguments data chunk-size))
    ;; One scatter starts the map everywhere and tells every process which
    ;; way it goes, as the main process decided (see map-plans): its chunk
    ;; of DATA, a kernel's plan, or dynamic, to ask the main process for
    ;; chunks on demand. The chunks are views of DATA until the encoder
    ;; copies them.
    (match (%comm-scatter comm
                          (and main?
                               (map-plans proc data chunk-size
                                          (%comm-size comm)))
                          0)
      (('dynamic . _)
       (dynamic-map p comm apply-chunk data chunk-size progress? #t))
      (('kernel . plan) (kernel-map comm proc data extra-args plan progress?))
      (('static . chunk)
       (let ((parts (gather p (apply-chunk
                               (if main?
                                   (own-chunk chunk proc vectorized?)
                                   chunk)))))
         (if main?
             (begin
               (when progress?
                 (report-progress (length parts) (length parts)))
               (join-chunks 'parallel-map parts))
             in-worker-process))))))

;;; Kernels. An element-wise C kernel over a uniform array runs on each
;;; process's chunk in C, its data moving as typed buffers (see
;;; %kernel-map); every other case takes the general paths above.

(define (map-plans proc data chunk-size n)
  ;; On the main process, what each of the N processes is told: (dynamic)
  ;; for a chunk size; (kernel TYPE LENGTH ...) for an element-wise kernel
  ;; over a uniform array of a type it takes; otherwise (static . CHUNK),
  ;; each process's own chunk of DATA.
  (cond
   (chunk-size (make-list n '(dynamic)))
   ((kernel-plan proc data chunk-size)
    => (lambda (plan) (make-list n plan)))
   (else
    (map (lambda (chunk) (cons 'static chunk))
         (split-into-chunks 'parallel-map data n)))))

(define (kernel-plan proc data chunk-size)
  ;; (kernel TYPE LENGTH ...) when PROC is an element-wise kernel mapped
  ;; without CHUNK-SIZE over a uniform array of a type it takes; #f
  ;; otherwise.
  (and (not chunk-size)
       (elementwise-kernel? proc)
       (array? data) (not (string? data)) (not (vector? data))
       (<= 1 (array-rank data) 8)
       (kernel-result-type proc (array-type data))
       (cons* 'kernel (array-type data)
              (map (match-lambda
                     ((lo hi) (1+ (- hi lo))))
                   (array-shape data)))))

(define (kernel-map comm proc data extra-args plan progress?)
  (unless (kernel? proc)
    (raise-parallelizer-error
     'parallel-map 'EINVAL "the main process maps a C kernel, but this \
process was given ~s" proc))
  (let ((result (%kernel-map comm (kernel-handle proc)
                             (and (zero? (%comm-rank comm)) data)
                             extra-args plan)))
    (cond
     ((not result) in-worker-process)
     (else
      (when progress?
        (report-progress (%comm-size comm) (%comm-size comm)))
      result))))

(define (report-progress done total)
  (let ((port (current-error-port)))
    (format port "\rparallel-map: ~a/~a chunks" done total)
    (when (= done total)
      (newline port))
    (force-output port)))

(define (dynamic-map p comm apply-chunk data chunk-size progress?
                     send-chunks?)
  ;; The main process splits DATA into chunks of CHUNK-SIZE elements and
  ;; answers each worker's request with the next chunk, or 'done when none
  ;; is left; a worker's request carries the result of its previous chunk.
  ;; While no request waits, the main process works on a chunk itself.
  ;; Unless SEND-CHUNKS?, the workers hold DATA too, and are sent only the
  ;; index of their next chunk.
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
                  (%comm-send comm (cons next
                                         (and send-chunks?
                                              (vector-ref chunks next)))
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
      (let ((own (and (not send-chunks?)
                      (list->vector (split-every 'parallel-map data
                                                 chunk-size)))))
        (let loop ((reply 'ready))
          (%comm-send comm reply 0)
          (match (%comm-receive comm 0)
            ('done in-worker-process)
            ((index . chunk)
             (loop (cons* 'result index
                          (apply-chunk (if own
                                           (vector-ref own index)
                                           chunk))))))))))

(define* (parallel-starmap p proc data #:key (extra-args '()) chunk-size
                           progress?)
  "Like parallel-map, but each element of DATA is a list of arguments:
PROC is called as (apply PROC ELEMENT EXTRA-ARGS)."
  (check-parallelizer 'parallel-starmap p)
  (parallel-map p (lambda (args . extra) (apply proc (append args extra)))
                data #:extra-args extra-args #:chunk-size chunk-size
                #:progress? progress?))
