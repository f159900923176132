;;; scheme-deps.scm — make's view of the imports between the modules.

;;; Commentary:
;;;
;;;   guile --no-auto-compile build-aux/scheme-deps.scm SRCDIR FILE...
;;;
;;; Reads each FILE (SRCDIR/a/b.scm, compiled to $(B)/go/a/b.go) and prints
;;; makefile rules saying which compiled modules must be built before it:
;;;
;;;   - the modules it imports that are among FILEs, whether through a
;;;     #:use-module clause of its define-module form or a top-level
;;;     use-modules, so that a module is recompiled when one it imports
;;;     changes (Guile inlines across modules);
;;;   - the extension of every (load-extension "NAME" ...) in it, as an
;;;     order-only prerequisite $(B)/lib/NAME.so.$(VERSION): the compiler
;;;     loads it, but the compiled file does not depend on its contents.
;;;
;;; Modules are matched by the name in their define-module form, not by
;;; file name, and #:autoload is not an import (it loads at run time). The
;;; Makefile regenerates the rules whenever a file of SRCDIR changes, so a
;;; new module or a new import needs no edit anywhere.
;;;
;;; Code:

(use-modules (ice-9 match)
             (srfi srfi-1))

(define (file-forms file)
  "Return the top-level forms of FILE, in order."
  (call-with-input-file file
    (lambda (port)
      (let loop ((forms '()))
        (let ((form (read port)))
          (if (eof-object? form)
              (reverse forms)
              (loop (cons form forms))))))))

(define (module-spec-name spec)
  "The module name of the import SPEC: (a b) or ((a b) #:option ...)."
  (match spec
    (((? symbol?) ...) spec)
    ((((? symbol?) ...) . _) (car spec))
    (_ #f)))

(define (define-module-imports options)
  "The names imported by the #:use-module clauses of OPTIONS, the part of
a define-module form after the module name."
  (match options
    ((#:use-module spec . rest)
     (cons (module-spec-name spec) (define-module-imports rest)))
    ((_ . rest) (define-module-imports rest))
    (() '())))

(define (defined-module forms)
  "The name of the module that FORMS define, or #f."
  (any (match-lambda
         (('define-module (? pair? name) . _) name)
         (_ #f))
       forms))

(define (imports forms)
  "The names of the modules FORMS import."
  (filter-map identity
              (append-map (match-lambda
                            (('define-module _ . options)
                             (define-module-imports options))
                            (('use-modules specs ...)
                             (map module-spec-name specs))
                            (_ '()))
                          forms)))

(define (extensions tree)
  "The NAME of every (load-extension \"NAME\" ...) anywhere in TREE."
  (match tree
    (('load-extension (? string? name) . _) (list name))
    ((head . tail) (append (extensions head) (extensions tail)))
    (_ '())))

(define (compiled-file srcdir file)
  "The make name of FILE's compiled module."
  (let ((prefix (string-append srcdir "/")))
    (unless (string-prefix? prefix file)
      (error "not under the source directory:" file srcdir))
    (string-append "$(B)/go/"
                   (string-drop-right (string-drop file (string-length prefix))
                                      (string-length ".scm"))
                   ".go")))

(define (main srcdir files)
  (let* ((forms (map file-forms files))
         (targets (map (lambda (file) (compiled-file srcdir file)) files))
         (by-name (filter-map (lambda (forms target)
                                (let ((name (defined-module forms)))
                                  (and name (cons name target))))
                              forms targets)))
    (display "# Generated from the modules' imports; do not edit.\n")
    (for-each
     (lambda (forms target)
       (let ((needed (delete target
                             (delete-duplicates
                              (filter-map (lambda (name)
                                            (assoc-ref by-name name))
                                          (imports forms)))))
             (libraries (map (lambda (name)
                               (string-append "$(B)/lib/" name
                                              ".so.$(VERSION)"))
                             (delete-duplicates (extensions forms)))))
         (unless (null? needed)
           (format #t "~a: ~a\n" target (string-join needed)))
         (unless (null? libraries)
           (format #t "~a: | ~a\n" target (string-join libraries)))))
     forms targets)))

(match (command-line)
  ((_ srcdir files ...) (main srcdir files))
  (_ (format (current-error-port)
             "usage: scheme-deps.scm SRCDIR FILE...\n")
     (exit 2)))
