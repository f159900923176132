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
             (parallelizer)
             (srfi srfi-4)
             (ice-9 format))

(define scratch (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                                        "/kernels-bench-XXXXXX")))
(setenv "XDG_CACHE_HOME" scratch)

(define source "#include <math.h>

static double
plus(double a, double b)
{
  return a + b;
}

static double
light(double x)
{
  return x * x + 1;
}

static double
heavy(double x)
{
  return sin(x) * exp(-x * x * 1e-14) + sqrt(fabs(x)) + log1p(fabs(x));
}

PAR_KERNEL_COMBINE(vsum, plus, \"element-wise sum\");
PAR_KERNEL_MAP(light_kernel, light, NULL);
PAR_KERNEL_MAP(heavy_kernel, heavy, NULL);
")

(define (f64-iota n)
  (let ((v (make-f64vector n)))
    (let loop ((i 0))
      (when (< i n)
        (f64vector-set! v i (exact->inexact i))
        (loop (1+ i))))
    v))

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
(system* "rm" "-rf" scratch)

;;; kernels-mpi.scm ends here
