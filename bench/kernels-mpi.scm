;;; bench/kernels-mpi.scm — C kernels on the MPI backend.

;;; Commentary:
;;;
;;; Inside one run of (make-mpi-parallelizer), times:
;;;
;;;   allreduce_8mb_kernel   allreduce of 2^20 doubles (8 MB) with a
;;;                          reduction kernel (PAR_KERNEL_COMBINE of a sum)
;;;                          as the operator: gathered and folded in C
;;;   allreduce_8mb_sum      the same with 'sum: MPI's own MPI_SUM
;;;   allreduce_8mb_proc     the same with a Scheme procedure that calls
;;;                          the kernel: values gathered and folded in
;;;                          Scheme
;;;   kernel_map_light_mpi   parallel-map of bench/kernels.scm's light
;;;   kernel_map_heavy_mpi   and heavy kernels over 10^7 doubles
;;;
;;; Each is the median of several repetitions, the ranks lined up by a
;;; barrier before each; rank 0 prints "name<TAB>microseconds" lines for
;;; bench/run-all to join with kernels_raw's (MPI_Allreduce with MPI_SUM
;;; and with a user-defined operator). The kernels are compiled inside the
;;; run, collectively, into a cache of the benchmark's own.
;;;
;;;   OMPI_MCA_btl=self,vader PARALLELIZER=mpi \
;;;     ./pre-inst-env mpirun -n 2 guile --no-auto-compile \
;;;     bench/kernels-mpi.scm
;;;
;;; Code:

(eval-when (expand load eval)
  ;; The source tree's root, so that (bench lib) is found.
  (add-to-load-path (dirname (dirname (canonicalize-path (current-filename))))))

(use-modules (bench lib)
             (bench kernels-common)
             (parallelizer)
             (srfi srfi-4)
             (ice-9 format))

(use-scratch-cache!)

;; A sum as a reduction operator, and the functions of
;; bench/kernels_raw.c's loops, as kernels.
(define source
  (kernel-source
   "static double plus(double a, double b) { return a + b; }"
   "PAR_KERNEL_COMBINE(vsum, plus, \"element-wise sum\");"
   "PAR_KERNEL_MAP(light_kernel, light, NULL);"
   "PAR_KERNEL_MAP(heavy_kernel, heavy, NULL);"))

(define vec (f64-iota (expt 2 20)))
(define data (f64-iota 10000000))

(define* (run-benchmarks #:key parallelizer)
  (let* ((q parallelizer)
         (rank (parallelizer-id q))
         (main? (zero? rank))
         (vsum (compile-kernel source #:name "vsum"))
         (light (compile-kernel source #:name "light_kernel"))
         (heavy (compile-kernel source #:name "heavy_kernel")))
    (define (bench name iterations repetitions thunk)
      (let ((t (time-in-job (lambda () (barrier q)) rank thunk
                            #:iterations iterations
                            #:repetitions repetitions)))
        (when main?
          (format #t "~a\t~,3f~%" name (* t 1e6))
          (force-output))))
    (bench "allreduce_8mb_kernel" 10 7 (lambda () (allreduce q vsum vec)))
    (bench "allreduce_8mb_sum" 10 7 (lambda () (allreduce q 'sum vec)))
    (bench "allreduce_8mb_proc" 3 5
           (lambda () (allreduce q (lambda (a b) (vsum a b)) vec)))
    (bench "kernel_map_light_mpi" 1 5
           (lambda () (parallel-map q light (and main? data))))
    (bench "kernel_map_heavy_mpi" 1 5
           (lambda () (parallel-map q heavy (and main? data))))
    #t))

(parallelizer-run (make-mpi-parallelizer) run-benchmarks)
(remove-scratch-cache!)

;;; kernels-mpi.scm ends here
