;;; bench/kernels.scm — C kernels: calls, parallel-map, compile-kernel.

;;; Commentary:
;;;
;;; Over 10^7 doubles, two functions of bench/kernel_functions.h: light
;;; (x * x + 1, as fast as memory goes) and heavy (a few functions of the
;;; C library per element), the same C as bench/kernels_raw.c's loops,
;;; compiled with compile-kernel (-O2, as the raw loops are). Times, each
;;; the median of several repetitions after a warm-up:
;;;
;;;   kernel_call_*      the kernel called directly on the vector
;;;   kernel_map_*_1     parallel-map of the kernel in a serial run
;;;   kernel_map_*_2     the same on the multiprocessing backend, two
;;;                      processes: the vector scattered as typed buffers,
;;;                      the kernel run on each chunk, results gathered
;;;   scheme_map_*_2     the same function in Scheme (compiled), mapped
;;;                      element by element with parallel-map, two
;;;                      processes (one repetition: it takes seconds)
;;;   compile_cold       compile-kernel of a source never seen (the C
;;;                      compiler runs)
;;;   compile_cached     compile-kernel of a source in the cache
;;;
;;; and prints one line per figure, "name<TAB>microseconds", so that
;;; bench/run-all can join them with kernels_raw's. Kernels are compiled
;;; into a cache of the benchmark's own, removed at the end.
;;;
;;;   ./pre-inst-env guile --no-auto-compile bench/kernels.scm
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

(define points 10000000)

;; The functions of bench/kernels_raw.c's loops, as kernels.
(define functions
  (kernel-source
   "PAR_KERNEL_MAP(light_kernel, light, \"x * x + 1\");"
   "PAR_KERNEL_MAP(heavy_kernel, heavy, \"functions of the C library\");"))

(define light-kernel (compile-kernel functions #:name "light_kernel"))
(define heavy-kernel (compile-kernel functions #:name "heavy_kernel"))

;; The same functions in Scheme, compiled.
(define light-scheme (compiled '(lambda (x) (+ (* x x) 1.0))))
(define heavy-scheme
  (compiled '(lambda (x)
               (+ (* (sin x) (exp (* -1e-14 x x)))
                  (sqrt (abs x))
                  (log (+ 1.0 (abs x)))))))

(define data (f64-iota points))

(define (report name seconds)
  (format #t "~a\t~,3f~%" name (* seconds 1e6))
  (force-output))

(define* (time-map p proc #:key (repetitions 5) (warm-up 1) (vectorized? #t))
  ;; The time of one parallel-map of PROC over DATA in a run on P, as
  ;; rank 0 sees it.
  (parallelizer-run
   p (lambda* (#:key parallelizer)
       (time-in-job (lambda () (barrier parallelizer))
                    (parallelizer-id parallelizer)
                    (lambda ()
                      (parallel-map parallelizer proc
                                    (and (on-main? parallelizer) data)
                                    #:vectorized? vectorized?))
                    #:repetitions repetitions #:warm-up warm-up))))

(define serial (make-serial-parallelizer))
(define two (make-multiprocessing-parallelizer #:processes 2))

(report "kernel_call_light" (time-per-call (lambda () (light-kernel data))
                                           #:repetitions 7))
(report "kernel_call_heavy" (time-per-call (lambda () (heavy-kernel data))
                                           #:repetitions 5))
(report "kernel_map_light_1" (time-map serial light-kernel))
(report "kernel_map_heavy_1" (time-map serial heavy-kernel))
(report "kernel_map_light_2" (time-map two light-kernel #:repetitions 7))
(report "kernel_map_heavy_2" (time-map two heavy-kernel))
;; Element by element, once: it takes seconds.
(report "scheme_map_light_2" (time-map two light-scheme #:vectorized? #f
                                       #:repetitions 1 #:warm-up 0))
(report "scheme_map_heavy_2" (time-map two heavy-scheme #:vectorized? #f
                                       #:repetitions 1 #:warm-up 0))

;; Sources never compiled before: a comment makes each one new.
(let ((n 0))
  (report "compile_cold"
          (time-per-call
           (lambda ()
             (set! n (1+ n))
             (compile-kernel (format #f "/* ~a */~%~a" n functions)
                             #:name "light_kernel"))
           #:repetitions 5 #:warm-up 0)))
(report "compile_cached"
        (time-per-call (lambda ()
                         (compile-kernel functions #:name "light_kernel"))
                       #:iterations 100))

(remove-scratch-cache!)

;;; kernels.scm ends here
