;;; (parallelizer print) — printing from the processes of a run.

;;; Commentary:
;;;
;;; parallelizer-print writes one line per call, at once, so that the lines
;;; of different processes do not mix; worker lines say which worker
;;; printed them.
;;;
;;; Code:

(define-module (parallelizer print)
  #:use-module (ice-9 format)
  #:use-module (ice-9 match)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:export (parallelizer-print))

(define (parallelizer-print p fmt . args)
  "Print a line made of FMT (a format string, or any object to display)
and ARGS. #:where main prints only on the main process, #:where worker only
on the workers, #:where both (the default) everywhere. Worker lines start
with \"On Worker N (PID): \"."
  (check-parallelizer 'parallelizer-print p)
  (let loop ((rest args) (where 'both) (format-args '()))
    (match rest
      ((#:where value . tail) (loop tail value format-args))
      ((x . tail) (loop tail where (cons x format-args)))
      (()
       (unless (memq where '(main worker both))
         (raise-parallelizer-error
          'parallelizer-print 'EINVAL
          "#:where must be main, worker or both, got ~s"
          where))
       (let* ((id (parallelizer-id p))
              (main? (zero? id)))
         (when (case where
                 ((both) #t)
                 ((main) main?)
                 ((worker) (not main?)))
           (let* ((text (if (string? fmt)
                            (apply format #f fmt (reverse format-args))
                            (format #f "~a~{ ~a~}" fmt
                                    (reverse format-args))))
                  (line (if main?
                            (string-append text "\n")
                            (format #f "On Worker ~a (~a): ~a~%" id (getpid)
                                    text))))
             ;; One write per line keeps lines of different processes
             ;; from interleaving.
             (display line)
             (force-output))))))))
