;;; (parallelizer registry) — finding parallelizers by name or description.

;;; Commentary:
;;;
;;; lookup-parallelizer turns whatever a user passes as a parallelizer (an
;;; object, #f for the default, a registered name, a backend name, an alist
;;; of settings) into a parallelizer object. The default is serial unless
;;; set with set-default-parallelizer!, with-parallelizer, or the
;;; PARALLELIZER environment variable ("serial", "multiprocessing:4",
;;; "mpi"), which is how the launcher chooses a backend for any script.
;;;
;;; Code:

(define-module (parallelizer registry)
  #:use-module (ice-9 match)
  #:use-module ((srfi srfi-1) #:select (append-map delete-duplicates))
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  ;; The backends register themselves when loaded; the registry only
  ;; dispatches on what they registered.
  #:use-module ((parallelizer backend serial) #:select ())
  #:use-module ((parallelizer backend multiprocessing) #:select ())
  #:use-module ((parallelizer backend mpi) #:select ())
  #:export (lookup-parallelizer
            register-parallelizer!
            set-default-parallelizer!
            call-with-default-parallelizer
            designated-parallelizer
            parse-parallelizer-spec))

(define %registry (make-hash-table))

(define (register-parallelizer! p name)
  "Register parallelizer P under NAME (a symbol or string), so that
(lookup-parallelizer NAME) returns it."
  (check-parallelizer 'register-parallelizer! p)
  (unless (or (symbol? name) (string? name))
    (raise-parallelizer-error 'register-parallelizer! 'EINVAL
                              "a name must be a symbol or a string, got ~s"
                              name))
  (hash-set! %registry (name->key name) p)
  p)

(define (name->key name)
  (if (string? name) (string->symbol name) name))

;; The default set by set-default-parallelizer!, or #f.
(define %global-default #f)

;; The default for the dynamic extent of call-with-parallelizer, or #f.
(define %scoped-default (make-parameter #f))

;; The default from the environment, made on first use.
(define %environment-default #f)

(define (set-default-parallelizer! p)
  "Make the parallelizer that P designates the default, returned by
(lookup-parallelizer #f)."
  (set! %global-default (and p (lookup-parallelizer p))))

(define (call-with-default-parallelizer p thunk)
  "Call THUNK with P as the default parallelizer."
  (parameterize ((%scoped-default p))
    (thunk)))

(define %fallback-backend
  ;; The kind of the default parallelizer when nothing chooses another.
  'serial)

(define (environment-parallelizer)
  ;; PARALLELIZER, else the backend whose environment this is (a process
  ;; started by mpirun), else serial.
  (match (getenv "PARALLELIZER")
    ((or #f "")
     (let loop ((backends (registered-backends)))
       (match backends
         (() ((backend-make (lookup-backend %fallback-backend))))
         ((b . rest) (if ((backend-detect b))
                         ((backend-make b))
                         (loop rest))))))
    (spec (spec->parallelizer 'lookup-parallelizer spec))))

(define (default-parallelizer)
  (or (%scoped-default)
      %global-default
      (begin
        (unless %environment-default
          (set! %environment-default (environment-parallelizer)))
        %environment-default)))

(define (spec-forms)
  ;; "serial, multiprocessing, multiprocessing:N or mpi".
  (let ((forms (append-map backend-specs (registered-backends))))
    (match forms
      ((one) one)
      ((first ... last)
       (string-append (string-join first ", ") " or " last)))))

(define (parse-parallelizer-spec spec)
  "Return a new parallelizer described by the string SPEC, the value of the
PARALLELIZER environment variable: the name of a backend (\"serial\",
\"multiprocessing\", \"mpi\"), possibly followed by a colon and what the
backend makes of it (\"multiprocessing:4\")."
  (spec->parallelizer 'parse-parallelizer-spec spec))

(define (spec->parallelizer who spec)
  (let* ((colon (string-index spec #\:))
         (name (if colon (substring spec 0 colon) spec))
         (argument (and colon (substring spec (1+ colon))))
         (backend (lookup-backend (string->symbol name))))
    (unless backend
      (raise-parallelizer-error
       who 'EINVAL
       "cannot understand the parallelizer ~s: expected ~a" spec
       (spec-forms)))
    ((backend-parse-spec backend) argument)))

(define (known-settings)
  ;; Every key of a settings alist, for every backend.
  (delete-duplicates
   (cons 'mode (append-map backend-settings (registered-backends)))))

(define (alist->parallelizer who alist)
  (define known (known-settings))
  (for-each (match-lambda
              ((key . _)
               (unless (memq key known)
                 (raise-parallelizer-error
                  who 'EINVAL
                  "unknown parallelizer setting ~s in ~s (known: ~s)"
                  key alist known)))
              (entry
               (raise-parallelizer-error
                who 'EINVAL "malformed setting ~s in ~s"
                entry alist)))
            alist)
  (let* ((mode (match (assq 'mode alist)
                 ((_ . mode) mode)
                 (#f #f)))
         (backend (and (symbol? mode) (lookup-backend mode))))
    (unless backend
      (raise-parallelizer-error
       who 'EINVAL
       "unknown parallelizer mode ~s in ~s: expected ~a" mode alist
       (backend-names " or ")))
    ((backend-parse-settings backend) alist)))

(define (backend-names conjunction)
  ;; "serial, multiprocessing or mpi".
  (match (map (lambda (b) (symbol->string (backend-name b)))
              (registered-backends))
    ((one) one)
    ((first ... last)
     (string-append (string-join first ", ") conjunction last))))

(define (lookup-parallelizer key)
  "Return the parallelizer that KEY designates: a parallelizer is returned
as is; #f means the default (serial unless set otherwise); a registered
name means the parallelizer registered under it; serial, multiprocessing
and mpi make a new parallelizer of that kind; an alist such as
((mode . multiprocessing) (processes . 4)) makes a new configured one."
  (designated-parallelizer 'lookup-parallelizer key))

(define (designated-parallelizer who key)
  "Return the parallelizer that KEY designates, as lookup-parallelizer
does, raising errors from WHO."
  (match key
    ((? parallelizer?) key)
    (#f (default-parallelizer))
    ((? (lambda (k) (or (symbol? k) (string? k))))
     (let ((name (name->key key)))
       (cond
        ((hash-ref %registry name))
        ((lookup-backend name) => (lambda (b) ((backend-make b))))
        (else
         (raise-parallelizer-error
          who 'EINVAL "no parallelizer is registered as ~s" key)))))
    ((((? symbol?) . _) . _) (alist->parallelizer who key))
    (_ (raise-parallelizer-error who 'EINVAL
                                 "cannot make a parallelizer from ~s" key))))
