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
  #:use-module (parallelizer core)
  #:use-module (parallelizer backend serial)
  #:use-module (parallelizer backend multiprocessing)
  #:use-module (parallelizer backend mpi)
  #:export (lookup-parallelizer
            register-parallelizer!
            set-default-parallelizer!
            call-with-default-parallelizer
            parse-parallelizer-spec))

(define %registry (make-hash-table))

(define (register-parallelizer! p name)
  "Register parallelizer P under NAME (a symbol or string), so that
(lookup-parallelizer NAME) returns it."
  (unless (parallelizer? p)
    (raise-parallelizer-error 'register-parallelizer!
                              "expected a parallelizer, got ~s" p))
  (unless (or (symbol? name) (string? name))
    (raise-parallelizer-error 'register-parallelizer!
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

(define (default-parallelizer)
  (or (%scoped-default)
      %global-default
      (begin
        (unless %environment-default
          (set! %environment-default
                (match (getenv "PARALLELIZER")
                  ((or #f "") (make-serial-parallelizer))
                  (spec (parse-parallelizer-spec spec)))))
        %environment-default)))

(define (parse-parallelizer-spec spec)
  "Return a new parallelizer described by the string SPEC: \"serial\",
\"multiprocessing\", \"multiprocessing:N\" or \"mpi\"."
  (define (bad)
    (raise-parallelizer-error
     'parse-parallelizer-spec
     "cannot understand the parallelizer ~s: expected serial, \
multiprocessing, multiprocessing:N or mpi" spec))
  (match (string-split spec #\:)
    (("serial") (make-serial-parallelizer))
    (("multiprocessing") (make-multiprocessing-parallelizer))
    (("multiprocessing" n)
     (let ((n (string->number n)))
       (if (and (exact-integer? n) (positive? n))
           (make-multiprocessing-parallelizer #:processes n)
           (bad))))
    (("mpi") (make-mpi-parallelizer))
    (_ (bad))))

(define (alist->parallelizer alist)
  (define (option key default)
    (match (assq key alist)
      ((_ . value) value)
      (#f default)))
  (define known '(mode processes initializer timeout root))
  (for-each (match-lambda
              ((key . _)
               (unless (memq key known)
                 (raise-parallelizer-error
                  'lookup-parallelizer
                  "unknown parallelizer setting ~s in ~s (known: ~s)"
                  key alist known)))
              (entry
               (raise-parallelizer-error
                'lookup-parallelizer "malformed setting ~s in ~s"
                entry alist)))
            alist)
  (match (option 'mode #f)
    ('serial (make-serial-parallelizer))
    ('multiprocessing
     (make-multiprocessing-parallelizer
      #:processes (option 'processes #f)
      #:initializer (option 'initializer #f)
      #:timeout (option 'timeout #f)))
    ('mpi (make-mpi-parallelizer #:root (option 'root 0)))
    (mode
     (raise-parallelizer-error
      'lookup-parallelizer
      "unknown parallelizer mode ~s in ~s: expected serial, multiprocessing \
or mpi" mode alist))))

(define (lookup-parallelizer key)
  "Return the parallelizer that KEY designates: a parallelizer is returned
as is; #f means the default (serial unless set otherwise); a registered
name means the parallelizer registered under it; serial, multiprocessing
and mpi make a new parallelizer of that kind; an alist such as
((mode . multiprocessing) (processes . 4)) makes a new configured one."
  (match key
    ((? parallelizer?) key)
    (#f (default-parallelizer))
    ((? (lambda (k) (or (symbol? k) (string? k))))
     (or (hash-ref %registry (name->key key))
         (match (name->key key)
           ('serial (make-serial-parallelizer))
           ('multiprocessing (make-multiprocessing-parallelizer))
           ('mpi (make-mpi-parallelizer))
           (_ (raise-parallelizer-error
               'lookup-parallelizer
               "no parallelizer is registered as ~s" key)))))
    ((((? symbol?) . _) . _) (alist->parallelizer key))
    (_ (raise-parallelizer-error 'lookup-parallelizer
                                 "cannot make a parallelizer from ~s" key))))
