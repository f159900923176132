;;; C kernels in one process: load-kernel, kernel-ref, calls and their
;;; checks on every element type, compile-kernel and its cache,
;;; define-elementwise-kernel, and every error they raise.
;;;
;;;   ./pre-inst-env guile -L tests/lib tests/kernels.scm
;;;
;;; The kernels loaded from a library are those of tests/kernels-lib.c
;;; (build/tests/libkernels-test.so, made by `make check'). Compiled
;;; kernels go to a cache of this suite's own, removed at the end; the C
;;; compiler is run through a wrapper that counts the compilations.

(use-modules (srfi srfi-1)
             (srfi srfi-4)
             (srfi srfi-4 gnu)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 textual-ports)
             (parallelizer)
             (harness))

(define top
  (or (getenv "PARALLELIZER_SOURCE_DIR")
      (dirname (dirname (current-filename)))))

(define library (string-append top "/build/tests/libkernels-test.so"))

;; A cache and a compiler wrapper of this suite's own.
(define scratch (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                                        "/kernels-test-XXXXXX")))
(define compile-log (string-append scratch "/compilations"))
(define wrapper (string-append scratch "/cc"))
(call-with-output-file wrapper
  (lambda (port)
    (format port "#!/bin/sh
case \" $* \" in *\" -shared \"*) echo compile >> '~a' ;; esac
exec cc \"$@\"
" compile-log)))
(chmod wrapper #o755)
(setenv "XDG_CACHE_HOME" (string-append scratch "/cache"))
(setenv "CC" wrapper)

(define (compilations)
  ;; How many times the compiler has compiled a kernel so far.
  (if (file-exists? compile-log)
      (length (string-split (string-trim-right
                             (call-with-input-file compile-log
                               get-string-all))
                            #\newline))
      0))

(define-syntax-rule (error-text expr)
  ;; The message of the error EXPR raises, as Guile prints it, or #f.
  (let ((message (error-message expr)))
    (and message (string-trim-right message))))

(define-syntax-rule (error-code expr)
  ;; The code of the parallelizer-error EXPR raises, or #f.
  (catch #t
    (lambda () expr #f)
    (lambda (key . args) (parallelizer-error-code key args))))

(define (kernel name)
  (load-kernel library name))

(define real-types '(u8 s8 u16 s16 u32 s32 u64 s64 f32 f64))
(define complex-types '(c32 c64))
(define all-types (append real-types complex-types))

(define (typed type . elements)
  (list->typed-array type 1 elements))

(run-suite
 "kernels"
 (lambda ()
   (test-group "load-kernel and kernel-ref"
     (let ((scale (kernel "scale")))
       (test-assert (kernel? scale))
       (test-assert (procedure? scale))
       (test-assert (not (kernel? (lambda (x) x))))
       (test-equal "scale" (kernel-name scale))
       (test-equal "f64 double -> f64" (kernel-signature scale))
       (test-equal library (kernel-library scale))
       (test-equal "#<kernel scale f64 double -> f64>"
         (object->string scale))
       (test-eq scale (kernel "scale"))
       (test-eq scale (kernel-ref "scale"))
       (test-eq scale (kernel-ref 'scale))
       (test-equal #f (kernel-signature (kernel "anything")))
       (test-equal "#<kernel anything (any arguments)>"
         (object->string (kernel "anything"))))
     (test-equal 'ENOENT (error-code (load-kernel "/nonexistent/lib.so" "f")))
     (test-assert (string-contains
                   (error-message (load-kernel "/nonexistent/lib.so" "f"))
                   "cannot load \"/nonexistent/lib.so\""))
     (test-equal 'ENOENT (error-code (kernel "nonesuch")))
     (test-assert (string-contains (error-message (kernel "nonesuch"))
                                   "has no kernel named nonesuch"))
     (test-equal 'EINVAL (error-code (kernel "not_a_kernel")))
     (test-assert (string-contains (error-message (kernel "not_a_kernel"))
                                   "is not a kernel"))
     (test-equal 'EINVAL (error-code (kernel "old_abi")))
     (test-assert (string-contains (error-message (kernel "old_abi"))
                                   "ABI version"))
     (test-equal 'EINVAL (error-code (load-kernel 42 "f")))
     (test-equal 'EINVAL (error-code (load-kernel library 42)))
     (test-equal 'ENOENT (error-code (kernel-ref "no-such-kernel")))
     (test-assert (string-contains (error-message (kernel-ref "nonesuch"))
                                   "no kernel named \"nonesuch\""))
     (test-equal 'EINVAL (error-code (kernel-name 5))))

   (test-group "calls"
     (test-equal #f64(2.0 4.0 6.0) ((kernel "scale") (f64vector 1 2 3) 2))
     (test-equal #f64(1.5 3.0) ((kernel "scale") (f64vector 1 2) 3/2))
     (test-equal #f64(11.0 22.0)
       ((kernel "add") (f64vector 1 2) (f64vector 10 20)))
     (test-equal 6.0 ((kernel "dot") (f64vector 1 2 3) (f64vector 1 1 1)))
     (test-equal 55 ((kernel "triangle") 10))
     (test-assert (exact? ((kernel "triangle") 10)))
     (test-equal #f64(0.0 1.0 2.0) ((kernel "range") 3))
     (test-equal #f64() ((kernel "range") 0))
     (test-equal #2s16((1 4) (2 5) (3 6))
       ((kernel "transpose") #2s16((1 2 3) (4 5 6))))
     (test-equal #u8(2 1) ((kernel "anything") (u8vector) (f64vector) 7))
     (test-equal #u8(0 2) ((kernel "anything") 1 2.5))
     (test-equal *unspecified* ((kernel "anything")))
     ;; The helpers of par/kernel.h, on other element types than f64.
     (test-equal #f64(0.5 -1.0) ((kernel "halve") (s16vector 1 -2)))
     (test-equal 14.0 ((kernel "sum_of_squares") (u8vector 1 2 3)))
     ;; An element-wise kernel keeps the shape; "same" keeps the type.
     (test-equal #2s32((2 3) (4 5))
       ((kernel "increment") #2s32((1 2) (3 4))))
     ;; An array that is not contiguous is copied; lower bounds go.
     (let* ((a #2f64((1 2 3) (4 5 6)))
            (t (make-shared-array a (lambda (i j) (list j i)) 3 2)))
       (test-equal #2f64((2.0 5.0) (3.0 6.0) (4.0 7.0))
         ((kernel "increment") t)))
     (test-equal #f64(2.0 3.0)
       ((kernel "increment") (list->typed-array 'f64 '((1 2)) '(1.0 2.0))))
     ;; A bytevector is an array of u8.
     (test-equal #u8(2 3) ((kernel "increment") #vu8(1 2)))
     ;; The input is not written.
     (let ((v (f64vector 1 2)))
       ((kernel "scale") v 10)
       (test-equal #f64(1.0 2.0) v)))

   (test-group "errors of calls"
     (define scale (kernel "scale"))
     (test-equal 'ETYPE (error-code (scale (s32vector 1) 2)))
     (test-equal "In procedure scale: argument 1 must be an array of f64, \
got an array of s32"
       (error-text (scale (s32vector 1) 2)))
     (test-equal 'ETYPE (error-code (scale 5 2)))
     (test-equal "In procedure scale: argument 1 must be an array of f64, \
got 5"
       (error-text (scale 5 2)))
     (test-equal 'ETYPE (error-code (scale "text" 2)))
     (test-equal 'ETYPE (error-code (scale (vector 1.0) 2)))
     (test-equal 'ETYPE (error-code (scale (f64vector 1) (f64vector 2))))
     (test-equal 'ETYPE (error-code (scale (f64vector 1) 1+2i)))
     (test-equal 'EINVAL (error-code (scale (f64vector 1))))
     (test-equal "In procedure scale: expected 2 arguments (f64 double -> \
f64), got 1"
       (error-text (scale (f64vector 1))))
     (test-equal 'ETYPE (error-code ((kernel "triangle") 1.5)))
     (test-assert (string-contains (error-message ((kernel "triangle") 1.5))
                                   "must be an exact integer"))
     (test-equal 'ETYPE (error-code ((kernel "triangle") (expt 2 70))))
     (test-equal 'ESIZE (error-code ((kernel "add") (f64vector 1 2)
                                     (f64vector 1))))
     (test-assert (string-contains
                   (error-message ((kernel "add") (f64vector 1 2)
                                   (f64vector 1)))
                   "argument 2 has shape (1) and the first array (2)"))
     (test-equal 'ETYPE (error-code ((kernel "halve") (c64vector 1))))
     (test-assert (string-contains (error-message ((kernel "halve")
                                                   (c64vector 1)))
                                   "expected an array of real numbers, \
got an array of c64"))
     (test-equal 'ETYPE (error-code ((kernel "increment")
                                     (make-typed-array 'f64 0.0
                                                       1 1 1 1 1 1 1 1 1))))
     ;; A kernel's own failure: its code and its message.
     (test-equal 'EINVAL (error-code ((kernel "fail_with") -999)))
     (test-equal "In procedure fail_with: failing on purpose with code -999"
       (error-text ((kernel "fail_with") -999)))
     (test-equal 'EINVAL (error-code ((kernel "fail_with") 7)))
     (test-equal "In procedure fail_with: the kernel failed with code 7: \
failing on purpose with code 7"
       (error-text ((kernel "fail_with") 7)))
     (test-equal 'EPEER (error-code ((kernel "fail_silently"))))
     (test-equal "In procedure fail_silently: kernel fail_silently failed: \
a peer process died or left the group"
       (error-text ((kernel "fail_silently"))))
     (test-equal 'EINVAL (error-code ((kernel "range") -1))))

   (test-group "every element type"
     (let ((increment (kernel "increment"))
           (halve (kernel "halve")))
       (for-each
        (lambda (type)
          (test-equal (format #f "increment ~a" type)
            (typed type 2 3 4)
            (increment (typed type 1 2 3)))
          (test-equal (format #f "halve ~a" type)
            #f64(0.5 1.0 1.5)
            (halve (typed type 1 2 3))))
        real-types)
       (test-equal #c32(2.0+1.0i 3.0) (increment #c32(1.0+1.0i 2.0)))
       (test-equal #c64(2.0-1.0i 1.0) (increment #c64(1.0-1.0i 0.0)))
       ;; One element-wise kernel compiled per element type: x * 2 + 1.
       (for-each
        (lambda (type)
          (let ((k (compile-kernel
                    (format #f "static int twice_plus_one(par_kernel_args *a)
{
  const par_~a_t *x = a->in[0].data;
  par_~a_t *y = a->out->data;
  for (size_t i = 0; i < a->out->count; i++)
    y[i] = x[i] * 2 + 1;
  return PAR_OK;
}
PAR_KERNEL_EXPORT(twice_plus_one, \"~a -> same\", PAR_KERNEL_ELEMENTWISE,
                  NULL);
" type type type))))
            (test-equal (format #f "compiled ~a" type)
              (typed type 3 5 7)
              (k (typed type 1 2 3)))
            (test-equal (format #f "compiled ~a refuses another type" type)
              'ETYPE
              (error-code (k (typed (if (eq? type 'f64) 'f32 'f64) 1))))))
        all-types)))

   (test-group "compile-kernel"
     (define source "static double cube(double x) { return x * x * x; }
PAR_KERNEL_MAP(cube_kernel, cube, \"x^3\");
")
     (let* ((before (compilations))
            (cube (compile-kernel source)))
       (test-equal 1 (- (compilations) before))
       (test-equal #f64(1.0 8.0 27.0) (cube (f64vector 1 2 3)))
       (test-equal "cube_kernel" (kernel-name cube))
       (test-assert (string-prefix? (kernel-cache-directory)
                                    (kernel-library cube)))
       (test-equal (string-append scratch "/cache/parallelizer/kernels")
         (kernel-cache-directory))
       (test-equal #o700 (logand #o777 (stat:perms
                                        (stat (kernel-cache-directory)))))
       ;; The same source and flags are found in the cache.
       (test-eq cube (compile-kernel source #:name "cube_kernel"))
       (test-eq cube (compile-kernel source #:name 'cube_kernel))
       (test-equal 1 (- (compilations) before))
       ;; Other flags compile again.
       (test-equal #f64(8.0)
         ((compile-kernel source #:cflags '("-O1")) (f64vector 2)))
       (test-equal 2 (- (compilations) before)))
     (test-equal #f64(3.0 6.0)
       ((compile-kernel "static double f(double x) { return FACTOR * x; }
PAR_KERNEL_MAP(by_factor, f, NULL);" #:cflags '("-DFACTOR=3"))
        (f64vector 1 2)))
     ;; A source with several kernels needs #:name.
     (let ((two "static double f(double x) { return x + 1; }
static double g(double x) { return x - 1; }
PAR_KERNEL_MAP(up, f, NULL);
PAR_KERNEL_MAP(down, g, NULL);"))
       (test-equal #f64(0.0) ((compile-kernel two #:name "down") (f64vector 1)))
       (test-equal #f64(2.0) ((compile-kernel two #:name "up") (f64vector 1)))
       (test-equal 'EINVAL (error-code (compile-kernel two)))
       (test-assert (string-contains (error-message (compile-kernel two))
                                     "several kernels, up, down"))
       (test-equal 'ENOENT (error-code (compile-kernel two #:name "sideways"))))
     (test-equal 'EINVAL (error-code (compile-kernel "int x;")))
     (test-equal 'EINVAL (error-code (compile-kernel 'source)))
     (test-equal 'EINVAL (error-code (compile-kernel "int x;" #:name "a b")))
     (test-equal 'EINVAL (error-code (compile-kernel source #:cflags "-O3")))
     ;; A compiler error says where, counting lines from the source's
     ;; first, and is not cached.
     (let* ((broken "static int broken(par_kernel_args *a)
{
  return undefined_thing;
}
PAR_KERNEL_EXPORT(broken, \"-> double\", 0, NULL);")
            (before (compilations))
            (message (error-message (compile-kernel broken))))
       (test-equal 'EINVAL (error-code (compile-kernel broken)))
       (test-assert message (string-contains message "the C compiler failed"))
       (test-assert message (string-contains message "broken.c:3:"))
       (test-assert message (string-contains message "undefined_thing"))
       (test-equal 2 (- (compilations) before)))
     ;; No compiler.
     (setenv "CC" "/nonexistent/cc")
     (test-equal 'ENOENT (error-code (compile-kernel "PAR_KERNEL_MAP(z, \
sin, NULL);")))
     (test-assert (string-contains
                   (error-message (compile-kernel "PAR_KERNEL_MAP(z, sin, \
NULL);"))
                   "cannot run the C compiler \"/nonexistent/cc\""))
     (setenv "CC" wrapper)
     ;; The cache directory follows XDG_CACHE_HOME, and HOME without it.
     (let ((xdg (getenv "XDG_CACHE_HOME")))
       (unsetenv "XDG_CACHE_HOME")
       (test-equal (string-append (getenv "HOME")
                                  "/.cache/parallelizer/kernels")
         (kernel-cache-directory))
       (setenv "XDG_CACHE_HOME" "relative/dir")
       (test-equal (string-append (getenv "HOME")
                                  "/.cache/parallelizer/kernels")
         (kernel-cache-directory))
       (setenv "XDG_CACHE_HOME" xdg)))

   (test-group "processes compiling the same source at once"
     ;; Four processes compile one new source at the same moment, in the
     ;; same cache: the compiler runs once, and each loads the result.
     (let* ((source "static double f(double x) { return x + 40; }
PAR_KERNEL_MAP(concurrent, f, NULL);")
            (before (compilations))
            (pids (map (lambda (i)
                         (flush-all-ports)
                         (let ((pid (primitive-fork)))
                           (if (zero? pid)
                               (primitive-exit
                                (catch #t
                                  (lambda ()
                                    (if (equal? #f64(42.0)
                                                ((compile-kernel source)
                                                 (f64vector 2)))
                                        0
                                        1))
                                  (lambda _ 2)))
                               pid)))
                       (iota 4))))
       (test-equal '(0 0 0 0)
         (map (lambda (pid) (status:exit-val (cdr (waitpid pid)))) pids))
       (test-equal 1 (- (compilations) before))))

   (test-group "define-elementwise-kernel"
     (define-elementwise-kernel (sq (x f64)) f64 "x * x")
     (test-equal #f64(1.0 4.0 9.0) (sq (f64vector 1 2 3)))
     (test-equal "sq" (kernel-name sq))
     (test-equal "f64 -> f64" (kernel-signature sq))
     (test-eq sq (kernel-ref "sq"))
     (define-elementwise-kernel (axpy (a double) (x f64) (y f64)) f64
       "a * x + y")
     (test-equal #f64(12.0 24.0) (axpy 2 (f64vector 1 2) (f64vector 10 20)))
     (define-elementwise-kernel (shift (x s32) (n int64)) s32 "x << n")
     (test-equal #s32(4 8) (shift (s32vector 1 2) 2))
     (test-equal 'ETYPE (error-code (shift (s32vector 1) 2.0)))
     (define-elementwise-kernel (clamp (x f32) (lo double) (hi double)) f32
       "if (x < lo) return lo;
        if (x > hi) return hi;
        return x;")
     (test-equal #f32(0.0 0.5 1.0) (clamp (f32vector -3 0.5 7) 0 1))
     (define-elementwise-kernel (soft-plus (x f64)) f64 "log1p(exp(x))")
     (test-equal "soft-plus" (kernel-name soft-plus))
     (test-eq soft-plus (kernel-ref 'soft-plus))
     (test-assert (< (abs (- (f64vector-ref (soft-plus (f64vector 0)) 0)
                             (log 2)))
                     1e-12))
     (define-elementwise-kernel (norm2 (z c64)) f64 "creal(z * conj(z))"
       #:includes '("complex.h"))
     (test-equal #f64(25.0 1.0) (norm2 (c64vector 3+4i 0+1i)))
     ;; Two arrays of one shape, of any rank.
     (define-elementwise-kernel (mix (a u8) (b f32)) f64 "a + b / 2")
     (test-equal #2f64((2.0 3.0)) (mix #2u8((1 2)) #2f32((2 2))))
     (test-equal 'ESIZE (error-code (mix (u8vector 1) (f32vector 1 2))))
     ;; Errors: in the body, with its line; in the description.
     (let ((message (error-message
                     (let ()
                       (define-elementwise-kernel (bad (x f64)) f64
                         "double t = x;\n  return t * y;")
                       bad))))
       (test-assert message (string-contains message "bad (body):2:"))
       (test-assert message (string-contains message "undeclared")))
     (test-equal 'EINVAL
       (error-code (let () (define-elementwise-kernel (k (x f65)) f64 "x")
                        k)))
     (test-equal 'EINVAL
       (error-code (let () (define-elementwise-kernel (k (x double)) f64 "x")
                        k)))
     (test-equal 'EINVAL
       (error-code (let () (define-elementwise-kernel (k (x f64)) double "x")
                        k)))
     (test-equal 'EINVAL
       (error-code (let () (define-elementwise-kernel (k (x-y f64)) f64 "1")
                        k)))
     (test-equal 'EINVAL
       (error-code (let () (define-elementwise-kernel (k (x f64)) f64 42)
                        k)))
     (test-assert (string-contains
                   (error-message
                    (let () (define-elementwise-kernel (k (x double)) f64 "x")
                         k))
                   "needs at least one array argument")))

   (test-group "kernels in a serial run"
     (let ((p (make-serial-parallelizer))
           (increment (kernel "increment"))
           (matmul2 (kernel "matmul2")))
       (test-equal #f64(2.0 3.0)
         (parallelizer-run p (lambda* (#:key parallelizer)
                               (parallel-map parallelizer increment
                                             (f64vector 1 2)
                                             #:vectorized? #t))))
       (test-equal #f64(1.0 2.0 0.0 1.0)
         (parallelizer-run p (lambda* (#:key parallelizer)
                               (allreduce parallelizer matmul2
                                          (f64vector 1 2 0 1)))))
       (test-equal #f64(3.0)
         (parallelizer-run p (lambda* (#:key parallelizer)
                               ((compile-kernel "static double f(double x)
{ return x + 1; }
PAR_KERNEL_MAP(in_a_run, f, NULL);") (f64vector 2)))))))

   ;; The runner exits when the suite ends: clean up before.
   (system* "rm" "-rf" scratch)))
