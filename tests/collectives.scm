;;; Every communication procedure, on the backend PARALLELIZER names.
;;;
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile -L tests \
;;;     tests/collectives.scm
;;;
;;; Jobs return what each process saw and the main process checks it, so
;;; the same file tests every backend and every group size.

(use-modules ((srfi srfi-1) #:select (every append-map delete-duplicates))
             (srfi srfi-4)
             (rnrs bytevectors)
             (srfi srfi-64)
             (ice-9 match)
             (parallelizer)
             (harness)
             (zoo))

(define p (suite-parallelizer make-serial-parallelizer))
(define n (parallelizer-nprocs p))

;; On MPI an error in a job ends the whole job (see tests/mpi-faults.sh),
;; so the tests of errors inside jobs run on the other backends only.
(define errors-end-the-job? (mpi-parallelizer? p))

(define (run job . args)
  (apply parallelizer-run p job args))

(define (chunk-lengths len)
  ;; What scatter must give: sizes differ by at most one, larger first.
  (map (lambda (i)
         (+ (quotient len n) (if (< i (remainder len n)) 1 0)))
       (iota n)))

(define-job (ranks-job p)
  (gather p (list (parallelizer-id p) (parallelizer-nprocs p) (on-main? p))))

(define-job (broadcast-job p value)
  (let ((got (broadcast p (and (on-main? p) value))))
    (gather p (zoo-equal? got value))))

(define-job (send-job p value)
  ;; Rank 0 sends VALUE to the last rank, which says whether it arrived
  ;; equal.
  (let ((last (1- n)))
    (cond
     ((= n 1) (gather p #t))
     ((on-main? p) (send-to p value last) (gather p #t))
     ((= (parallelizer-id p) last) (gather p (zoo-equal? (receive-from p 0) value)))
     (else (gather p #t)))))

(define-job (broadcast-root-job p root)
  (gather p (broadcast p (and (= (parallelizer-id p) root) 'from-root)
                       #:root root)))

(define-job (broadcast-in-place-job p length)
  ;; The root's vector holds 0..LENGTH-1; the others start with zeros.
  (let* ((vector (if (on-main? p)
                     (list->f64vector (map exact->inexact (iota length)))
                     (make-f64vector length 0.0)))
         (result (broadcast! p vector)))
    (gather p (list (eq? result vector) (f64vector-ref vector (1- length))))))

(define-job (broadcast-in-place-mismatch-job p)
  (broadcast! p (if (on-main? p) (f64vector 1 2 3) (f64vector 0 0))))

(define-job (scatter-job p data)
  (gather p (scatter p (and (on-main? p) data))))

(define-job (gather-root-job p root)
  (let ((all (gather p (* 10 (parallelizer-id p)) #:root root)))
    (gather p all)))

(define-job (allgather-job p)
  (gather p (allgather p (parallelizer-id p))))

(define-job (reduce-job p op make-datum)
  (reduce-to-root p op (make-datum (parallelizer-id p))))

(define-job (allreduce-job p op make-datum)
  (gather p (allreduce p op (make-datum (parallelizer-id p)))))

(define-job (barrier-job p count)
  (do ((i 0 (1+ i))) ((= i count))
    (barrier p))
  (parallelizer-wait p)
  (gather p 'done))

(define-job (ring-job p)
  ;; Each process sends its rank to the next and receives from the
  ;; previous; even ranks send first so that nothing depends on buffering.
  (let* ((me (parallelizer-id p))
         (next (modulo (1+ me) n))
         (prev (modulo (1- me) n)))
    (if (even? me)
        (begin (send-to p (list 'from me) next) (gather p (receive-from p prev)))
        (let ((got (receive-from p prev)))
          (send-to p (list 'from me) next)
          (gather p got)))))

(define* (map-job data proc #:key parallelizer (extra-args '()) vectorized?
                  chunk-size)
  (let ((p parallelizer))
    (parallel-map p proc (and (on-main? p) data) #:extra-args extra-args
                  #:vectorized? vectorized? #:chunk-size chunk-size)))

(define-job (starmap-job p data proc)
  (parallel-starmap p proc (and (on-main? p) data)))

(define-job (mismatch-job p)
  (if (on-main? p)
      (scatter p (iota n))
      (gather p 'x)))

(define-job (operator-mismatch-job p reduction make-datum)
  ;; The main process sums, the others take the maximum.
  (reduction p (if (on-main? p) 'sum 'max) (make-datum (parallelizer-id p))))

(define-job (unsendable-job p)
  (broadcast p (and (on-main? p) (list 1 (vector 2 car)))))

(define-job (misuse-job p)
  (scatter p 42))

(define-job (raising-job p)
  (when (= (parallelizer-id p) (1- n))
    (error "deliberate failure" (parallelizer-id p)))
  (barrier p)
  'unreachable)

(run-suite
 (format #f "collectives on ~a" p)
 (lambda ()
   (test-equal "ranks, sizes and on-main?"
     (map (lambda (r) (list r n (zero? r))) (iota n))
     (run ranks-job))

   (for-each (match-lambda
               ((name . value)
                (test-equal (format #f "broadcast ~a" name)
                  (make-list n #t)
                  (run broadcast-job value))))
             value-zoo)

   (when (> n 1)
     (for-each (match-lambda
                 ((name . value)
                  (test-equal (format #f "send-to and receive-from ~a" name)
                    (make-list n #t)
                    (run send-job value))))
               value-zoo))

   (test-equal "broadcast from the last rank"
     (make-list n 'from-root)
     (run broadcast-root-job (1- n)))

   (test-equal "broadcast! fills every process's vector in place"
     (make-list n (list #t 99999.0))
     (run broadcast-in-place-job 100000))

   (when (and (> n 1) (not errors-end-the-job?))
     (test-assert "broadcast! into vectors of different lengths says so"
       (string-contains (error-message (run broadcast-in-place-mismatch-job))
                        "sizes differ")))

   (test-equal "scatter a list, uneven"
     (let loop ((sizes (chunk-lengths 10)) (start 0))
       (if (null? sizes)
           '()
           (cons (iota (car sizes) start)
                 (loop (cdr sizes) (+ start (car sizes))))))
     (run scatter-job (iota 10)))

   (test-equal "scatter fewer elements than processes"
     (chunk-lengths 1)
     (map length (run scatter-job '(x))))

   (test-equal "scatter a vector keeps its type"
     (iota 7)
     (append-map vector->list (run scatter-job (list->vector (iota 7)))))

   (test-assert "scatter an f64vector keeps its type"
     (let ((chunks (run scatter-job (f64vector 1 2 3 4 5))))
       (and (every f64vector? chunks)
            (equal? (map f64vector-length chunks) (chunk-lengths 5))
            (equal? (append-map f64vector->list chunks)
                    '(1.0 2.0 3.0 4.0 5.0)))))

   (test-assert "scatter a bytevector"
     (let ((chunks (run scatter-job #vu8(1 2 3 4))))
       (and (every bytevector? chunks)
            (equal? (append-map bytevector->u8-list chunks) '(1 2 3 4)))))

   (test-equal "scatter a two-dimensional array along its first axis"
     (chunk-lengths 5)
     (map (lambda (a) (car (array-dimensions a)))
          (run scatter-job (make-array 7 5 3))))

   (test-equal "the root's chunk does not share memory with the data"
     ;; Chunks are cut as views of the data; the root keeps a copy.
     '((1.0 2.0 3.0 4.0 5.0) (1 2 3 4 5 6))
     (let ((v (f64vector 1 2 3 4 5))
           (a (list->typed-array 's32 2 '((1 2) (3 4) (5 6)))))
       (run (lambda* (#:key parallelizer)
              (let ((p parallelizer))
                (let ((cv (scatter p (and (on-main? p) v)))
                      (ca (scatter p (and (on-main? p) a))))
                  (when (on-main? p)
                    (array-fill! cv -1.0)
                    (array-fill! ca -1))
                  (barrier p)))))
       (list (f64vector->list v) (append-map identity (array->list a)))))

   (test-equal "gather to the last rank"
     (map (lambda (r) (if (= r (1- n)) (map (lambda (i) (* 10 i)) (iota n))
                          in-worker-process))
          (iota n))
     (run gather-root-job (1- n)))

   (test-equal "allgather"
     (make-list n (iota n))
     (run allgather-job))

   (test-equal "reduce-to-root sum of numbers"
     (apply + (iota n))
     (run reduce-job 'sum identity))

   (test-equal "reduce-to-root prod of exact integers"
     (apply * (map 1+ (iota n)))
     (run reduce-job 'prod 1+))

   (test-equal "reduce-to-root max and min"
     (list (1- n) 0)
     (list (run reduce-job 'max identity) (run reduce-job 'min identity)))

   (test-equal "reduce-to-root sum of f64vectors, element-wise in C"
     (f64vector (* 1.0 n) (exact->inexact (apply + (iota n))))
     (run reduce-job 'sum (lambda (r) (f64vector 1 r))))

   (test-equal "reduce-to-root max of s32vectors"
     (s32vector (1- n) 0)
     (run reduce-job 'max (lambda (r) (s32vector r (- r)))))

   (test-equal "reduce-to-root with a procedure applies it in rank order"
     (string-concatenate (map number->string (iota n)))
     (run reduce-job string-append number->string))

   (test-equal "allreduce"
     (make-list n (apply + (iota n)))
     (run allreduce-job 'sum identity))

   (test-equal "allreduce of u8vectors"
     (make-list n (u8vector n))
     (run allreduce-job 'sum (lambda (r) (u8vector 1))))

   (test-equal "barriers"
     (make-list n 'done)
     (run barrier-job 100))

   (when (> n 1)
     (test-equal "send-to and receive-from around a ring"
       (map (lambda (r) (list 'from (modulo (1- r) n))) (iota n))
       (run ring-job)))

   (test-equal "parallel-map over a list"
     (map 1+ (iota 100))
     (run map-job (iota 100) 1+))

   (test-equal "parallel-map over a vector"
     (list->vector (map (lambda (x) (* x x)) (iota 11)))
     (run map-job (list->vector (iota 11)) (lambda (x) (* x x))))

   (test-equal "parallel-map over an f64vector keeps the type"
     (f64vector 2 3 4)
     (run map-job (f64vector 1 2 3) 1+))

   (test-equal "parallel-map with extra arguments"
     (map (lambda (x) (+ x 10)) (iota 9))
     (run map-job (iota 9) + #:extra-args '(10)))

   (test-equal "parallel-map vectorized"
     (map 1+ (iota 9))
     (run map-job (iota 9) (lambda (chunk) (map 1+ chunk)) #:vectorized? #t))

   (test-equal "parallel-map with chunk-size"
     (map 1+ (iota 50))
     (run map-job (iota 50) 1+ #:chunk-size 3))

   (test-equal "parallel-map with chunk-size over irregular work"
     (map (lambda (x) (* x x)) (iota 23))
     (run map-job (iota 23)
          (lambda (x) (usleep (* 200 (modulo x 4))) (* x x))
          #:chunk-size 2))

   (test-equal "parallel-map with chunk-size keeps an f64vector's type"
     (f64vector 1 2 3 4 5)
     (run map-job (f64vector 0 1 2 3 4) 1+ #:chunk-size 2))

   (when (> n 1)
     (test-assert "chunk-size hands chunks to the workers too"
       (let ((ranks (run map-job (iota 20)
                         (lambda (x)
                           (usleep 5000)
                           (parallelizer-id (current-parallelizer)))
                         #:chunk-size 1)))
         (> (length (delete-duplicates ranks)) 1))))

   (test-equal "parallel-map whose results fit one chunk's type only"
     (list->vector (map (lambda (x) (* x 100)) '(1 2 3 4)))
     (let ((result (run map-job #u8(1 2 3 4) (lambda (x) (* x 100)))))
       (if (vector? result) result (list->vector (array->list result)))))

   (test-equal "parallel-map over a one-axis array with a lower bound"
     #(20 30 40)
     (run map-job (list->array '((1 3)) '(2 3 4)) (lambda (x) (* 10 x))))

   (test-equal "parallel-map over fewer elements than processes"
     '(2)
     (run map-job '(1) 1+))

   (test-equal "parallel-starmap"
     (map (lambda (i) (* i (1+ i))) (iota 12))
     (run starmap-job (map (lambda (i) (list i (1+ i))) (iota 12)) *))

   ;; Outside a run, parallel-map is a run by itself; on multiprocessing
   ;; each process takes its chunk of the data it inherited.
   (test-equal "parallel-map outside a run"
     (map 1+ (iota 1001))
     (parallel-map p 1+ (iota 1001)))

   (test-equal "parallel-map outside a run keeps the container type"
     (list (list->vector (map 1+ (iota 7))) (f64vector 2 4 6 8 10)
           (list->array '((1 3)) '(20 30 40)))
     (list (parallel-map p 1+ (list->vector (iota 7)))
           (parallel-map p (lambda (x) (* 2 x)) (f64vector 1 2 3 4 5))
           (let ((r (parallel-map p (lambda (x) (* 10 x))
                                  (list->array '((1 3)) '(2 3 4)))))
             (list->array '((1 3)) (vector->list r)))))

   (test-equal "parallel-map outside a run, vectorized, leaves the data alone"
     (list (f64vector 2 3 4 5) (f64vector 1 2 3 4))
     (let* ((data (f64vector 1 2 3 4))
            (result (parallel-map p
                                  (lambda (chunk)
                                    ;; Writes to the chunk it is given.
                                    (array-map! chunk 1+ chunk)
                                    chunk)
                                  data #:vectorized? #t)))
       (list result data)))

   (test-equal "parallel-map outside a run with chunk-size"
     (map (lambda (x) (* x x)) (iota 37))
     (parallel-map p (lambda (x) (* x x)) (iota 37) #:chunk-size 4))

   (test-equal "parallel-map outside a run over fewer elements than processes"
     (list '() '(2))
     (list (parallel-map p 1+ '()) (parallel-map p 1+ '(1))))

   (test-equal "parallel-starmap outside a run"
     (map (lambda (i) (* i (1+ i))) (iota 12))
     (parallel-starmap p * (map (lambda (i) (list i (1+ i))) (iota 12))))

   (unless errors-end-the-job?
     (test-assert "an error of parallel-map outside a run names the rank"
       (let ((message (error-message
                       (parallel-map p (lambda (x)
                                         (when (= x (1- n))
                                           (error "bad element" x))
                                         x)
                                     (iota n)))))
         (and (string-contains message "bad element")
              (string-contains message (format #f "rank ~a" (1- n)))))))

   (unless errors-end-the-job?
     (test-equal "sending a procedure is refused before anything is sent"
       'parallelizer-error
       (error-key (run unsendable-job)))

     (test-assert "the refusal names the object and where it is"
       (let ((message (error-message (run unsendable-job))))
         (and (string-contains message "car")
              (string-contains message "vector"))))

     (test-assert "scatter of a number says what is wrong"
       (string-contains (error-message (run misuse-job)) "cannot split 42"))

     (test-equal "an error in a job is a parallelizer-error"
       'parallelizer-error
       (error-key (run raising-job)))

     (test-assert "the error names the rank and the message"
       (let ((message (error-message (run raising-job))))
         (and (string-contains message (format #f "rank ~a" (1- n)))
              (string-contains message "deliberate failure")))))

   (test-equal "the parallelizer is usable after errors"
     (make-list n (iota n))
     (run allgather-job))

   (when (and (> n 1) (not errors-end-the-job?))
     (test-assert "mismatched collectives name both operations"
       (let ((message (error-message (run mismatch-job))))
         (and (string-contains message "scatter")
              (string-contains message "gather"))))

     (for-each
      (match-lambda
        ((name reduction make-datum)
         (test-assert (format #f "~a with different operators names both"
                              name)
           (let ((message (error-message
                           (run operator-mismatch-job reduction
                                make-datum))))
             (and (string-contains message "sum")
                  (string-contains message "max"))))))
      `(("allreduce of f64vectors" ,allreduce
         ,(lambda (r) (f64vector r 1.0)))
        ("reduce-to-root of s32vectors" ,(lambda (p op datum)
                                           (reduce-to-root p op datum))
         ,(lambda (r) (s32vector r)))
        ("allreduce of numbers" ,allreduce ,identity)
        ("reduce-to-root of numbers" ,(lambda (p op datum)
                                        (reduce-to-root p op datum))
         ,identity))))))
