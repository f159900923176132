;;; (bench kernels-common) — what the kernel benchmarks share.

;;; Commentary:
;;;
;;; bench/kernels.scm and bench/kernels-mpi.scm compile their kernels into
;;; a cache of their own, from the C of bench/kernel_functions.h (the
;;; functions build/bench/kernels_raw times as plain loops), and map them
;;; over vectors of consecutive doubles.
;;;
;;; Code:

(define-module (bench kernels-common)
  #:use-module (srfi srfi-4)
  #:use-module (ice-9 textual-ports)
  #:export (use-scratch-cache!
            remove-scratch-cache!
            kernel-source
            f64-iota))

(define here (dirname (canonicalize-path (current-filename))))

(define scratch #f)

(define (use-scratch-cache!)
  "Make a fresh directory the cache of compiled kernels of this process
(XDG_CACHE_HOME), so that nothing is found there from earlier runs and
nothing is left in the user's cache."
  (set! scratch (mkdtemp (string-append (or (getenv "TMPDIR") "/tmp")
                                        "/kernels-bench-XXXXXX")))
  (setenv "XDG_CACHE_HOME" scratch))

(define (remove-scratch-cache!)
  "Remove the directory that use-scratch-cache! made."
  (when scratch
    (system* "rm" "-rf" scratch)))

(define (kernel-source . lines)
  "Return the C of bench/kernel_functions.h (the functions light and
heavy) followed by LINES, strings that define kernels with them."
  (string-append (call-with-input-file (string-append here
                                                      "/kernel_functions.h")
                   get-string-all)
                 "\n"
                 (string-join lines "\n")
                 "\n"))

(define (f64-iota n)
  "Return an f64vector of the N doubles 0.0, 1.0, ..."
  (let ((v (make-f64vector n)))
    (let loop ((i 0))
      (when (< i n)
        (f64vector-set! v i (exact->inexact i))
        (loop (1+ i))))
    v))

;;; kernels-common.scm ends here
