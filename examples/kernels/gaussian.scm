;;; gaussian.scm — an element-wise C kernel mapped over a vector.

;;; Commentary:
;;;
;;; The kernel gaussian (gaussian.c, built by `make examples') is the
;;; standard normal density. parallel-map runs it on each process's chunk
;;; of a grid of 1,000,001 points over [-10, 10], in C, and the main
;;; process sums the densities times the step: the integral of the
;;; density, 1 to the precision printed.
;;;
;;;   make examples
;;;   ./pre-inst-env guile examples/kernels/gaussian.scm
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile \
;;;     examples/kernels/gaussian.scm
;;;   ./pre-inst-env parallelizer run -n 3 --backend mpi \
;;;     examples/kernels/gaussian.scm
;;;
;;; Each prints "integral of the density over [-10, 10]: 1.000000". The
;;; library may also be given as the script's argument.
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
                      "/build/examples/kernels/libgaussian.so"))))

(define gaussian (load-kernel library "gaussian"))

(define points 1000001)
(define step (/ 20.0 (- points 1)))

(define (grid)
  (let ((v (make-f64vector points)))
    (do ((i 0 (1+ i)))
        ((= i points) v)
      (f64vector-set! v i (+ -10.0 (* i step))))))

(define* (integrate #:key parallelizer)
  (let ((densities (parallel-map parallelizer gaussian
                                 (and (on-main? parallelizer) (grid))
                                 #:vectorized? #t)))
    (if (in-worker-process? densities)
        densities
        (* step (apply + (f64vector->list densities))))))

(let ((result (parallelizer-run (lookup-parallelizer #f) integrate)))
  (unless (in-worker-process? result)
    (format #t "integral of the density over [-10, 10]: ~,6f~%" result)))
