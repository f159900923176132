;;; C kernels in parallel jobs, on the backend PARALLELIZER names:
;;; parallel-map of kernels, reductions with a kernel as the operator, and
;;; compile-kernel as a collective operation.
;;;
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile -L tests/lib \
;;;     tests/kernels-parallel.scm
;;;
;;; Jobs return what each process saw and the main process checks it, so
;;; the same file tests every backend and group size; under mpirun every
;;; rank runs the file. The kernels are those of tests/kernels-lib.c;
;;; compiled ones go to caches of this suite's own, one per process.

(use-modules (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-4 gnu)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 textual-ports)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-serial-parallelizer))
(define n (parallelizer-nprocs p))
(define rank (parallelizer-id p))

;; On MPI an error in a job ends the whole job, so the errors that a run
;; reports are tested on the other backends only.
(define errors-end-the-job? (mpi-parallelizer? p))

(define top
  (or (getenv "PARALLELIZER_SOURCE_DIR")
      (dirname (dirname (current-filename)))))

(define (kernel name)
  (load-kernel (string-append top "/build/tests/libkernels-test.so") name))

;; This process's scratch directory, with a cache for the kernels it
;; compiles outside runs.
(define scratch (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                                        "/kernels-parallel-XXXXXX")))
(setenv "XDG_CACHE_HOME" (string-append scratch "/cache"))

(define (run job . args)
  (apply parallelizer-run p job args))

(define (serial-map k data . extra)
  ;; What mapping K over DATA must give: K on the whole of DATA.
  (apply k data extra))

(define increment (kernel "increment"))
(define scale (kernel "scale"))
(define triangle (kernel "triangle"))
(define matmul2 (kernel "matmul2"))
(define vsum (kernel "vsum"))
(define fail-with (kernel "fail_with"))

(define-elementwise-kernel (sq (x f64)) f64 "x * x")

(define* (map-job k data #:key parallelizer vectorized? (extra-args '())
                  chunk-size)
  (parallel-map parallelizer k (and (on-main? parallelizer) data)
                #:vectorized? vectorized? #:extra-args extra-args
                #:chunk-size chunk-size))

(define (rank-matrix r)
  (f64vector (+ r 1) 1 0 1))

(define (rank-product count)
  ;; The product of the matrices of ranks 0 .. COUNT-1, in rank order.
  (fold (lambda (r acc) (matmul2 acc (rank-matrix r)))
        (rank-matrix 0) (iota (- count 1) 1)))

(define-job (reduce-job q op root)
  (let ((mine (rank-matrix (parallelizer-id q))))
    (list (allreduce q op mine)
          (reduce-to-root q op mine #:root root))))

(define-job (gather-reduce-job q op root)
  ;; Every process's view of the reductions.
  (gather q (reduce-job op root #:parallelizer q)))

(define-job (compile-in-run-job q source base)
  ;; Each process compiles into a cache of its own, so rank 0 must send
  ;; the compiled object to the others. Returns, from each process, the
  ;; kernel's result and which files its cache holds.
  (let* ((old (getenv "XDG_CACHE_HOME"))
         (mine (string-append base "/rank" (number->string
                                            (parallelizer-id q)))))
    (setenv "XDG_CACHE_HOME" mine)
    (let* ((k (compile-kernel source))
           (files (sort (map (lambda (f) (substring f (- (string-length f)
                                                         2)))
                             (filter (lambda (f)
                                       (or (string-suffix? ".so" f)
                                           (string-suffix? ".c" f)))
                                     (directory-files
                                      (kernel-cache-directory))))
                        string<?)))
      (setenv "XDG_CACHE_HOME" old)
      (gather q (list (k (f64vector (parallelizer-id q))) files)))))

(define (directory-files dir)
  (let ((d (opendir dir)))
    (let loop ((out '()))
      (let ((entry (readdir d)))
        (if (eof-object? entry)
            (begin (closedir d) out)
            (loop (if (member entry '("." "..")) out (cons entry out))))))))

(define-job (compile-error-job q source)
  (gather q (catch 'parallelizer-error
              (lambda () (compile-kernel source) 'compiled)
              (lambda (key . args)
                (list (parallelizer-error-code key args)
                      (and (string-contains
                            (call-with-output-string
                              (lambda (port)
                                (print-exception port #f key args)))
                            "broken_thing")
                           #t))))))

(run-suite
 "kernels-parallel"
 (lambda ()
   (test-group "parallel-map of an element-wise kernel"
     (for-each
      (lambda (len)
        (let ((data (list->f64vector (map (lambda (i) (* 1.5 i))
                                          (iota len)))))
          (test-equal (format #f "length ~a, vectorized" len)
            (serial-map increment data)
            (run map-job increment data #:vectorized? #t))
          (test-equal (format #f "length ~a, not vectorized" len)
            (serial-map increment data)
            (run map-job increment data))))
      (list 0 1 (max 1 (- n 1)) n (+ (* 3 n) 1) 1000))
     (test-equal #f64(0.0 1.0 4.0 9.0 16.0)
       (run map-job sq (f64vector 0 1 2 3 4) #:vectorized? #t))
     (test-equal #f64(3.0 6.0 9.0)
       (run map-job scale (f64vector 1 2 3) #:extra-args '(3)
            #:vectorized? #t))
     ;; Rows of an array of two axes.
     (let ((a (list->typed-array 's16 2 (map (lambda (i) (list i (- i)))
                                             (iota 7)))))
       (test-equal (increment a) (run map-job increment a #:vectorized? #t)))
     ;; Other element types; an array whose first axis does not start at 0.
     (test-equal #s8(2 3 4 5) (run map-job increment (s8vector 1 2 3 4)))
     (test-equal #c64(2.0+1.0i 3.0 4.0 5.0 6.0)
       (run map-job increment (c64vector 1+1i 2 3 4 5)))
     (test-equal #f64(2.0 3.0 4.0)
       (run map-job increment (list->typed-array 'f64 '((5 7)) '(1 2 3))))
     ;; Data that moves in several rounds (of 4 MiB per process), the
     ;; last one short: more than a million doubles, and rows of 100,000
     ;; elements, fewer rows per round than there are processes.
     (let ((big (list->f64vector (iota (+ (expt 2 20) 7)))))
       (test-equal "several rounds"
         (serial-map increment big)
         (run map-job increment big)))
     (let ((rows (make-typed-array 's16 7 11 100000)))
       (array-set! rows 3 10 99999)
       (test-equal "several rounds of long rows"
         (serial-map increment rows)
         (run map-job increment rows)))
     ;; With a chunk size, chunks are handed out on demand, still in C.
     (test-equal (serial-map increment (list->f64vector (iota 20)))
       (run map-job increment (list->f64vector (iota 20)) #:chunk-size 3))
     ;; A kernel of numbers is mapped element by element, on any data.
     (test-equal '(1 3 6 10 15) (run map-job triangle '(1 2 3 4 5)))
     (test-equal #(1 3 6) (run map-job triangle #(1 2 3))))

   (test-group "reductions with a kernel"
     (for-each
      (lambda (root)
        (test-equal (format #f "allreduce and reduce-to-root at ~a" root)
          (cons (list (rank-product n) (rank-product n))
                (map (lambda (r) (list (rank-product n) in-worker-process))
                     (iota (- n 1))))
          (let ((all (run gather-reduce-job matmul2 root)))
            ;; The root's view first, then the others'.
            (cons (list-ref all root)
                  (map (lambda (v) (list (car v)
                                         (if (in-worker-process?
                                              (cadr v))
                                             in-worker-process
                                             (cadr v))))
                       (append (take all root) (drop all (+ root 1))))))))
      (delete-duplicates (list 0 (- n 1))))
     (test-equal (f64vector (* 1/2 n (+ n 1)) n 0.0 n)
       (car (run reduce-job vsum 0)))
     ;; A kernel over values that are not uniform vectors is applied as a
     ;; procedure to what every process gave, in rank order.
     (test-equal (array->list (list->typed-array 'f64 2 '((1.0 2.0)
                                                          (0.0 1.0))))
       (array->list
        (run (lambda* (#:key parallelizer)
               (allreduce parallelizer matmul2
                          (list->typed-array 'f64 2
                                             (if (on-main? parallelizer)
                                                 '((1 2) (0 1))
                                                 '((1 0) (0 1))))))))))

   (test-group "compile-kernel in a run"
     (let ((base (string-append scratch "/in-run"))
           (source "static double f(double x) { return x * 10; }
PAR_KERNEL_MAP(tenfold, f, \"10 x\");"))
       ;; Rank 0 compiles and keeps the source; the others get the object.
       (test-equal (map (lambda (r)
                          (list (f64vector (* 10.0 r))
                                (if (zero? r) '(".c" "so") '("so"))))
                        (iota n))
         (run compile-in-run-job source base))
       ;; Again: every process has it, nothing is compiled or sent.
       (test-equal (map (lambda (r)
                          (list (f64vector (* 10.0 r))
                                (if (zero? r) '(".c" "so") '("so"))))
                        (iota n))
         (run compile-in-run-job source base)))
     ;; A compiler error reaches every process.
     (test-equal (make-list n '(EINVAL #t))
       (run compile-error-job "static int k(par_kernel_args *a)
{ return broken_thing; }
PAR_KERNEL_EXPORT(k, \"-> double\", 0, NULL);")))

   (unless errors-end-the-job?
     (test-group "a kernel that fails on a worker"
       (let ((message (error-message
                       (run (lambda* (#:key parallelizer)
                              (when (= (parallelizer-id parallelizer)
                                       (- n 1))
                                (fail-with -999))
                              (barrier parallelizer))))))
         (test-assert message
           (string-contains message
                            (format #f "rank ~a (pid" (- n 1))))
         (test-assert message
           (string-contains message "failing on purpose with code -999")))))

   (when (and (mpi-parallelizer? p) (> n 1))
     (test-group "ranks that compile at the same time, outside a run"
       ;; Every rank compiles the same new source at once into one shared
       ;; cache, with #:parallelizer #f: the compiler runs once.
       (let* ((shared (run (lambda* (#:key parallelizer)
                             (broadcast parallelizer
                                        (and (on-main? parallelizer)
                                             scratch)))))
              (log (string-append shared "/compilations"))
              (wrapper (string-append shared "/cc"))
              (old-cache (getenv "XDG_CACHE_HOME")))
         (when (zero? rank)
           (call-with-output-file wrapper
             (lambda (port)
               (format port "#!/bin/sh
case \" $* \" in *\" -shared \"*) echo compile >> '~a' ;; esac
exec cc \"$@\"
" log)))
           (chmod wrapper #o755))
         (run (lambda* (#:key parallelizer) (barrier parallelizer)))
         (setenv "CC" wrapper)
         (setenv "XDG_CACHE_HOME" (string-append shared "/shared-cache"))
         (let ((k (compile-kernel "static double f(double x) { return -x; }
PAR_KERNEL_MAP(negated, f, NULL);" #:parallelizer #f)))
           (unsetenv "CC")
           (setenv "XDG_CACHE_HOME" old-cache)
           (test-equal #f64(-2.0) (k (f64vector 2)))
           (run (lambda* (#:key parallelizer) (barrier parallelizer)))
           (test-equal "compile\n"
             (call-with-input-file log get-string-all))))))

   ;; The runner exits when the suite ends: clean up before, once every
   ;; process is done with the shared files.
   (run (lambda* (#:key parallelizer) (barrier parallelizer)))
   (system* "rm" "-rf" scratch)))
