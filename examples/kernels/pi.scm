;;; pi.scm — Monte-Carlo pi: a C kernel per process, seeds per rank.

;;; Commentary:
;;;
;;; Every process draws 2,000,000 points of the unit square with the
;;; kernel hits (pi.c, built by `make examples'), seeded by its rank so
;;; that the processes draw different points, and allreduce adds up the
;;; points that fell inside the quarter disc. The main process prints the
;;; estimate, 4 * inside / drawn, which depends on the number of
;;; processes (each draws its own points) but not on the backend.
;;;
;;;   make examples
;;;   ./pre-inst-env guile examples/kernels/pi.scm
;;;   PARALLELIZER=multiprocessing:3 ./pre-inst-env guile \
;;;     examples/kernels/pi.scm
;;;   ./pre-inst-env parallelizer run -n 3 --backend mpi \
;;;     examples/kernels/pi.scm
;;;
;;; Each prints "pi is about 3.14..., from 6000000 points" (with 3
;;; processes). The library may also be given as the script's argument.
;;;
;;; Code:

(use-modules (parallelizer)
             (ice-9 format)
             (ice-9 match))

(define library
  (match (command-line)
    ((_ file . _) file)
    (_ (string-append (dirname (dirname (dirname (current-filename))))
                      "/build/examples/kernels/libpi.so"))))

(define hits (load-kernel library "hits"))

(define samples 2000000)

(define* (estimate #:key parallelizer)
  (let* ((seed (+ 12345 (parallelizer-id parallelizer)))
         (inside (allreduce parallelizer 'sum (hits samples seed)))
         (drawn (* samples (parallelizer-nprocs parallelizer))))
    (list (/ (* 4.0 inside) drawn) drawn)))

(let* ((p (lookup-parallelizer #f))
       (result (parallelizer-run p estimate)))
  (when (on-main? p)
    (match result
      ((pi drawn)
       (format #t "pi is about ~,5f, from ~a points~%" pi drawn)))))
