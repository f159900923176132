;;; The names (parallelizer) exports clash with nothing a Scheme
;;; programmer imports beside it.
;;;
;;;   ./pre-inst-env guile -L tests tests/names.scm
;;;
;;; DESIGN, section 3: no exported name is a binding of Guile's default
;;; environment or of (srfi srfi-1), (ice-9 receive), (ice-9 threads),
;;; (ice-9 futures), (ice-9 match), (rnrs base), (rnrs lists) or
;;; (fibers); importing (parallelizer) beside them, in either order,
;;; prints no warning, and every name keeps its own module's meaning.

(use-modules (srfi srfi-1)
             (srfi srfi-64)
             (ice-9 match)
             (ice-9 popen)
             (ice-9 rdelim)
             (harness))

(define neighbours
  '((srfi srfi-1)
    (ice-9 receive)
    (ice-9 threads)
    (ice-9 futures)
    (ice-9 match)
    (rnrs base)
    (rnrs lists)))

;; What (fibers) exports, for machines where Guile Fibers is not
;; installed: the names of its (fibers) and (fibers channels) modules.
(define fibers-names
  '(current-fiber run-fibers spawn-fiber kill-fiber yield-current-fiber
    sleep make-channel channel? put-operation get-operation put-message
    get-message))

(define (interface-names module-name)
  "The names MODULE-NAME exports, or #f if it cannot be loaded."
  (let ((interface (false-if-exception (resolve-interface module-name))))
    (and interface
         (module-map (lambda (name variable) name) interface))))

(define ours (interface-names '(parallelizer)))

(define (guile-output program)
  ;; What a fresh guile prints, on its standard output and error, for
  ;; PROGRAM, a list of forms.
  (let* ((file (let ((port (mkstemp! (string-copy
                                      "/tmp/parallelizer-names-XXXXXX"))))
                 (for-each (lambda (form) (write form port) (newline port))
                           program)
                 (let ((name (port-filename port)))
                   (close-port port)
                   name)))
         (port (open-pipe (string-append "guile --no-auto-compile " file
                                         " 2>&1")
                          OPEN_READ))
         (text (read-string port)))
    (close-pipe port)
    (delete-file file)
    text))

(define (program-importing modules)
  ;; A program that imports MODULES in this order, then uses a name of
  ;; each neighbour that Parallelizer's names once hid.
  `((use-modules ,@modules)
    (write (list (reduce + 0 '(1 2 3))
                 (receive (a b) (values 1 2) (list a b))
                 (eq? send (@ (guile) send))
                 (match '(1 2) ((a b) (+ a b)))))))

(define expected-output
  "(6 (1 2) #t 3)")

(run-suite
 "names"
 (lambda ()
   (test-assert "(parallelizer) exports names" (pair? ours))

   (test-equal "no export is a binding of Guile's default environment"
     '()
     (let ((user (make-fresh-user-module)))
       (filter (lambda (name) (module-variable user name)) ours)))

   (for-each
    (lambda (module-name)
      (test-equal (format #f "no export is a binding of ~s" module-name)
        '()
        (lset-intersection eq? ours (interface-names module-name))))
    neighbours)

   (test-equal "no export is a binding of (fibers)"
     '()
     (lset-intersection eq? ours
                        (append fibers-names
                                (or (interface-names '(fibers)) '())
                                (or (interface-names '(fibers channels))
                                    '()))))

   (test-equal "imported after its neighbours: no warning, their meanings"
     expected-output
     (guile-output (program-importing
                    (append neighbours '((parallelizer))))))

   (test-equal "imported before its neighbours: no warning, their meanings"
     expected-output
     (guile-output (program-importing
                    (cons '(parallelizer) neighbours))))

   (for-each
    (lambda (module-name)
      (test-equal (format #f "beside ~s alone, in both orders" module-name)
        '("" "")
        (map (lambda (modules)
               (guile-output `((use-modules ,@modules))))
             (list (list '(parallelizer) module-name)
                   (list module-name '(parallelizer))))))
    neighbours)))
