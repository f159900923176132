;;; dot.scm — a dot product: scatter, a C kernel on each chunk, allreduce.

;;; Commentary:
;;;
;;; The main process makes x = (1 2 ... N) and y = (1 1 ... 1); both are
;;; scattered, so each process holds the same slice of each; the kernel
;;; dot (dot.c, built by `make examples') computes the slice's dot product
;;; in C, and allreduce sums the partial products on every process. The
;;; main process prints x . y = N (N + 1) / 2.
;;;
;;;   make examples
;;;   ./pre-inst-env guile examples/kernels/dot.scm
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile \
;;;     examples/kernels/dot.scm
;;;   ./pre-inst-env parallelizer run -n 3 --backend mpi \
;;;     examples/kernels/dot.scm
;;;
;;; Each prints "x . y = 500000500000.0 on N processes". The library may
;;; also be given as the script's argument.
;;;
;;; Code:

(use-modules (parallelizer)
             (srfi srfi-4)
             (ice-9 format)
             (ice-9 match))

(define library
  (match (command-line)
    ((_ file . _) file)
    (_ (string-append (dirname (dirname (dirname (current-filename))))
                      "/build/examples/kernels/libdot.so"))))

(define dot (load-kernel library "dot"))

(define n 1000000)

(define* (dot-product #:key parallelizer)
  (let* ((main? (on-main? parallelizer))
         (x (scatter parallelizer
                     (and main? (list->f64vector (iota n 1)))))
         (y (scatter parallelizer (and main? (make-f64vector n 1.0)))))
    (allreduce parallelizer 'sum (dot x y))))

(let* ((p (lookup-parallelizer #f))
       (result (parallelizer-run p dot-product)))
  (when (on-main? p)
    (format #t "x . y = ~,1f on ~a ~a~%" result (parallelizer-nprocs p)
            (if (= (parallelizer-nprocs p) 1) "process" "processes"))))
