;;; (parallelizer kernels) — C kernels as Scheme procedures.

;;; Commentary:
;;;
;;; A kernel is a C function over typed arrays (see par/kernel.h) that
;;; Scheme calls like any procedure: on SRFI-4 vectors, bytevectors,
;;; typed arrays and numbers, with its element types and shapes checked
;;; before the call and the result made as a Guile array that the kernel
;;; fills in place. Kernels come from shared libraries (load-kernel), from
;;; the C program that embeds Guile (kernel-ref), or from C source
;;; compiled at run time with the system's C compiler into a cache
;;; (compile-kernel, define-elementwise-kernel):
;;;
;;;   (define-elementwise-kernel (sq (x f64)) f64 "x * x")
;;;   (sq (f64vector 1 2 3))                   => #f64(1.0 4.0 9.0)
;;;
;;; parallel-map runs an element-wise kernel on each process's chunk in C;
;;; allreduce and reduce-to-root take a reduction kernel as operator.
;;;
;;; Code:

(define-module (parallelizer kernels)
  #:use-module (ice-9 binary-ports)
  #:use-module (ice-9 match)
  #:use-module (ice-9 regex)
  #:use-module (ice-9 textual-ports)
  #:use-module ((rnrs bytevectors) #:select (string->utf8))
  #:use-module ((srfi srfi-1)
                #:select (any every filter-map delete-duplicates))
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer backend mpi)
                #:select (mpi-parallelizer? mpi-job-comm))
  #:use-module ((parallelizer primitives)
                #:select (%comm-allgather
                          %comm-broadcast
                          %comm-rank
                          %comm-size
                          %element-size
                          %kernel-abi-version
                          %kernel-apply
                          %kernel-include-directories
                          %kernel-info
                          %kernel-load
                          %kernel-lookup
                          %kernel-result-type
                          %sha256))
  #:export (load-kernel
            compile-kernel
            kernel-ref
            kernel?
            kernel-name
            kernel-signature
            kernel-library
            kernel-cache-directory

            kernel-handle
            elementwise-kernel?
            reduction-kernel?
            kernel-result-type)
  #:export-syntax (define-elementwise-kernel))

;;;
;;; Kernel objects.
;;;

;; A kernel is an applicable struct: calling it calls its first field, a
;; procedure over the C kernel HANDLE (a foreign object of the extension);
;; LIBRARY is the shared object it came from, or #f for a kernel that the
;; program registered from C.
(define <kernel>
  (make-struct/no-tail <applicable-struct-vtable>
                       (make-struct-layout "pwpwpw")))

(define (kernel? obj)
  "Return #t if OBJ is a C kernel (made by load-kernel, compile-kernel,
define-elementwise-kernel or kernel-ref)."
  (and (struct? obj) (eq? (struct-vtable obj) <kernel>)))

(define (check-kernel who obj)
  (unless (kernel? obj)
    (raise-parallelizer-error who 'EINVAL "expected a kernel, got ~s" obj))
  obj)

(define (kernel-handle k)
  "Return the C handle of the kernel K, for the primitives."
  (struct-ref (check-kernel 'kernel-handle k) 1))

(define (kernel-info k)
  (%kernel-info (kernel-handle k)))

(define (kernel-name k)
  "Return the name of the kernel K, a string: the name under which
kernel-ref finds it."
  (match (%kernel-info (struct-ref (check-kernel 'kernel-name k) 1))
    ((name . _) name)))

(define (kernel-signature k)
  "Return the signature of the kernel K as the text its C description
gives, such as \"f64 f64 -> double\", or #f for a kernel that accepts any
arrays and numbers."
  (match (%kernel-info (struct-ref (check-kernel 'kernel-signature k) 1))
    ((_ signature . _) signature)))

(define (kernel-library k)
  "Return the file name of the shared library that the kernel K was
loaded from (for compile-kernel, the compiled object in the cache), or #f
for a kernel that the program registered from C."
  (struct-ref (check-kernel 'kernel-library k) 2))

(define (elementwise-kernel? obj)
  "Return #t if OBJ is a kernel whose description says it is
element-wise."
  (and (kernel? obj)
       (match (kernel-info obj)
         ((_ _ _ flags _) (and (memq 'elementwise flags) #t)))))

(define (reduction-kernel? obj)
  "Return #t if OBJ is a kernel that is a reduction operator."
  (and (kernel? obj)
       (match (kernel-info obj)
         ((_ _ _ flags _) (and (memq 'reduction flags) #t)))))

(define (kernel-result-type k type)
  "Return the element type (a symbol) of what the element-wise kernel K
makes from an array of TYPE, or #f if K is not element-wise or does not
take an array of TYPE first."
  (%kernel-result-type (kernel-handle k) type))

(define (print-kernel k port)
  (match (kernel-info k)
    ((name signature _ _ _)
     (format port "#<kernel ~a ~a>" name (or signature "(any arguments)")))))

(struct-set! <kernel> vtable-index-printer print-kernel)

;; Every kernel object made, by the identity of its registered C
;; description, so that one description always gives the same object.
(define %kernels (make-weak-value-hash-table))

(define (wrap-kernel handle library)
  (match (%kernel-info handle)
    ((name signature doc flags id)
     (or (hashv-ref %kernels id)
         (let* ((proc (lambda args (%kernel-apply handle args)))
                (k (make-struct/no-tail <kernel> proc handle library)))
           (set-procedure-property! proc 'name (string->symbol name))
           (when doc
             (set-procedure-property! proc 'documentation doc))
           (hashv-set! %kernels id k)
           k)))))

(define (name->string who name)
  (cond
   ((string? name) name)
   ((symbol? name) (symbol->string name))
   (else (raise-parallelizer-error who 'EINVAL
                                   "a kernel name must be a string or a \
symbol, got ~s" name))))

(define (load-kernel library name)
  "Load the kernel NAME (a string or symbol) from the shared library
LIBRARY (a file name; without a slash, searched as dlopen searches) and
return it as a procedure. The library must export NAME with
PAR_KERNEL_EXPORT of par/kernel.h. The kernel is also registered under
its name for kernel-ref. A library is loaded once per process and stays
loaded."
  (unless (string? library)
    (raise-parallelizer-error 'load-kernel 'EINVAL
                              "expected a library file name, got ~s"
                              library))
  (wrap-kernel (%kernel-load library (name->string 'load-kernel name))
               library))

(define (kernel-ref name)
  "Return the kernel registered under NAME (a string or symbol) in this
process: by the C program with par_kernel_register, or by load-kernel,
compile-kernel or define-elementwise-kernel (the latest of a name wins).
Raise an error with code ENOENT if there is none."
  (let* ((text (name->string 'kernel-ref name))
         (handle (%kernel-lookup text)))
    (unless handle
      (raise-parallelizer-error 'kernel-ref 'ENOENT
                                "no kernel named ~s is registered" text))
    (match (%kernel-info handle)
      ((_ _ _ _ id)
       (or (hashv-ref %kernels id) (wrap-kernel handle #f))))))

;;;
;;; The cache of compiled kernels.
;;;

(define (absolute-directory variable)
  ;; The value of the environment VARIABLE if it is an absolute file name
  ;; (the XDG rule: a relative one is ignored).
  (let ((value (getenv variable)))
    (and value (string-prefix? "/" value) value)))

(define (home-directory)
  (or (absolute-directory "HOME")
      (passwd:dir (getpwuid (getuid)))))

(define (kernel-cache-directory)
  "Return the directory of the compiled kernels that compile-kernel
keeps: $XDG_CACHE_HOME/parallelizer/kernels, or
~/.cache/parallelizer/kernels when XDG_CACHE_HOME is unset. It is made,
readable by its owner only, when first needed."
  (string-append (or (absolute-directory "XDG_CACHE_HOME")
                     (string-append (home-directory) "/.cache"))
                 "/parallelizer/kernels"))

(define (make-directories! dir)
  ;; DIR and its missing parents, readable by the user only: a compiled
  ;; kernel runs as code in every process that loads it.
  (unless (file-exists? dir)
    (make-directories! (dirname dir))
    (catch 'system-error
      (lambda () (mkdir dir #o700))
      (lambda args
        (unless (file-exists? dir)
          (raise-parallelizer-error
           'compile-kernel 'ESYS "cannot make the kernel cache ~a: ~a" dir
           (strerror (system-error-errno args))))))))

(define (write-file-atomically! file write)
  ;; Call WRITE with a binary port on a fresh file beside FILE, then
  ;; rename it to FILE, so that no process ever sees half of FILE.
  (let* ((port (mkstemp! (string-append file ".tmp-XXXXXX")))
         (temporary (port-filename port)))
    (catch #t
      (lambda ()
        (write port)
        (close-port port)
        (chmod temporary #o600)
        (rename-file temporary file))
      (lambda (key . args)
        (close-port port)
        (false-if-exception (delete-file temporary))
        (apply throw key args)))))

(define (call-with-cache-lock dir thunk)
  ;; One compilation at a time in DIR across processes: those that wait
  ;; then find the kernel compiled.
  (let ((port (open-file (string-append dir "/lock") "a")))
    (dynamic-wind
      (lambda () (flock port LOCK_EX))
      thunk
      (lambda () (close-port port)))))

;;;
;;; The compiler.
;;;

(define (compiler-words)
  ;; $CC (split on white space, as make does) or cc.
  (let ((cc (getenv "CC")))
    (if (and cc (not (string-null? (string-trim-both cc))))
        (string-tokenize cc)
        '("cc"))))

(define (run-command words)
  ;; Run WORDS, a program and its arguments; return its exit status and
  ;; what it wrote on its standard output and error, together. (ice-9
  ;; popen) is loaded here, when a kernel is compiled: its guardian would
  ;; otherwise keep Guile's finalizer thread busy in every program that
  ;; imports (parallelizer), and make forks slower.
  (let* ((popen (resolve-interface '(ice-9 popen)))
         (port (apply (module-ref popen 'open-pipe*) OPEN_READ
                      "/bin/sh" "-c" "exec \"$@\" 2>&1" "sh" words))
         (output (get-string-all port))
         (status ((module-ref popen 'close-pipe) port)))
    (values (or (status:exit-val status) 255) output)))

(define %compiler-identity
  ;; COMPILER-WORDS -> what `$CC --version` says: the compiler is part of
  ;; the cache key, so that an upgraded or another compiler compiles
  ;; again. Asked once per process and compiler.
  (make-hash-table))

(define (compiler-identity words)
  (or (hash-ref %compiler-identity words)
      (call-with-values (lambda () (run-command (append words '("--version"))))
        (lambda (status output)
          (unless (zero? status)
            (raise-parallelizer-error
             'compile-kernel 'ENOENT
             "cannot run the C compiler ~s (set CC to another): ~a"
             (string-join words) output))
          (hash-set! %compiler-identity words output)
          output))))

(define (kernel-include-directory)
  (match (%kernel-include-directories)
    ((dir . _) dir)
    (()
     (raise-parallelizer-error
      'compile-kernel 'ENOENT
      "cannot find par/kernel.h, neither in this build's source tree nor \
in the installation's include directory"))))

(define (compile-command words include-dir source-file output cflags)
  ;; -fvisibility=hidden: the kernel library exports its descriptors
  ;; (PAR_KERNEL_EXPORT makes them visible) and nothing else, so its
  ;; functions never stand in for those of other libraries. The user's
  ;; flags come after the source file so that libraries (-lfoo) link.
  (append words
          (list "-shared" "-fPIC" "-O2" "-fvisibility=hidden"
                "-I" include-dir "-o" output source-file)
          cflags
          '("-lm")))

(define (run-compiler! so c full-source cflags)
  ;; Write FULL-SOURCE to C and compile it into SO, through a temporary
  ;; file renamed into place; raise the compiler's messages if it fails.
  (write-file-atomically! c (lambda (port)
                              (put-bytevector port
                                              (string->utf8 full-source))))
  (let* ((port (mkstemp! (string-append so ".tmp-XXXXXX")))
         (temporary (port-filename port))
         (command (compile-command (compiler-words)
                                   (kernel-include-directory)
                                   c temporary cflags)))
    (close-port port)
    (call-with-values (lambda () (run-command command))
      (lambda (status output)
        (unless (zero? status)
          (false-if-exception (delete-file temporary))
          (false-if-exception (delete-file c))
          (raise-parallelizer-error
           'compile-kernel 'EINVAL
           "the C compiler failed (exit status ~a):~%~a~%command: ~a"
           status (string-trim-right output) (string-join command)))
        (chmod temporary #o600)
        (rename-file temporary so)))))

(define (compile! dir key full-source cflags)
  ;; Compile FULL-SOURCE into DIR/KEY.so unless it is there; keep the
  ;; source beside it as DIR/KEY.c. Return the .so's file name.
  (let ((so (string-append dir "/" key ".so"))
        (c (string-append dir "/" key ".c")))
    ;; Compiled already: no need to wait for the lock.
    (unless (file-exists? so)
      (call-with-cache-lock dir
        (lambda ()
          ;; Another process may have compiled it while this one waited.
          (unless (file-exists? so)
            (run-compiler! so c full-source cflags)))))
    so))

;;;
;;; compile-kernel.
;;;

(define %kernel-name-regexp
  (make-regexp "PAR_KERNEL_(EXPORT|EXPORT_AS|MAP|REDUCE|COMBINE)[ \t\n]*\\([ \t\n]*([A-Za-z_][A-Za-z0-9_]*)"))

(define (kernels-in-source source)
  ;; The names of the kernels SOURCE exports with the macros of
  ;; par/kernel.h, in order.
  (delete-duplicates
   (map (lambda (m) (match:substring m 2))
        (list-matches %kernel-name-regexp source))))

(define (check-cflags cflags)
  (unless (and (list? cflags) (every string? cflags))
    (raise-parallelizer-error 'compile-kernel 'EINVAL
                              "#:cflags must be a list of strings, got ~s"
                              cflags)))

(define (cache-key full-source cflags words)
  ;; Everything that makes the compiled object what it is: the source,
  ;; the flags, the compiler and the ABI of par/kernel.h.
  (%sha256
   (string->utf8
    (string-join (append (list "parallelizer kernel"
                               (number->string %kernel-abi-version)
                               (compiler-identity words)
                               (string-join words " "))
                         cflags
                         (list "" full-source))
                 "\0"))))

(define (collective-comm p)
  ;; The communicator over which compile-kernel is collective for the
  ;; parallelizer P, or #f to compile here alone.
  (cond
   ((not p) #f)
   ((parallelizer-comm (check-parallelizer 'compile-kernel p))
    => (lambda (comm) (and (> (%comm-size comm) 1) comm)))
   ((mpi-parallelizer? p)
    (let ((comm (mpi-job-comm p)))
      (and (> (%comm-size comm) 1) comm)))
   (else #f)))

(define (read-file-bytes file)
  (call-with-input-file file get-bytevector-all #:binary #t))

(define (on-root comm thunk)
  ;; Rank 0 of COMM calls THUNK, and every process gets its value, or
  ;; raises the error it raised.
  (match (%comm-broadcast
          comm
          (and (zero? (%comm-rank comm))
               (catch #t
                 (lambda () (list 'ok (thunk)))
                 (lambda (key . args) (list 'error key args))))
          0)
    (('ok value) value)
    (('error key args) (apply throw key args))))

(define (compile-everywhere comm dir full-source cflags)
  ;; Collective over COMM: rank 0 names the compiled object (only it
  ;; asks the compiler who it is); if some process lacks that object in
  ;; its cache, rank 0 compiles it (or finds it in its own cache) and
  ;; sends its bytes, or its error, to all, and each process writes what
  ;; it lacks into its own cache, which need not be shared. Only rank 0
  ;; needs a compiler.
  (let* ((key (on-root comm (lambda ()
                              (cache-key full-source cflags
                                         (compiler-words)))))
         (so (string-append dir "/" key ".so")))
    (unless (every identity (%comm-allgather comm (file-exists? so)))
      (let ((bytes (on-root comm (lambda ()
                                   (read-file-bytes
                                    (compile! dir key full-source
                                              cflags))))))
        (unless (file-exists? so)
          (write-file-atomically! so (lambda (port)
                                       (put-bytevector port bytes))))))
    so))

(define* (compile-kernel source #:key name (cflags '())
                         (parallelizer (current-parallelizer)))
  "Compile SOURCE, a string of C that defines kernels with the macros of
par/kernel.h (which it need not include), and return the kernel NAME (a
string or symbol; it may be left out when SOURCE exports one kernel only).

The system's C compiler ($CC, or cc) compiles it with -shared -fPIC -O2
-fvisibility=hidden and CFLAGS (a list of strings, such as '(\"-O3\"
\"-lgsl\")) into a shared object kept in (kernel-cache-directory) under a
hash of the source, the flags, the compiler and the kernel ABI: compiling
the same source again only loads it. A compiler error is raised as a
parallelizer-error whose message holds the compiler's messages, with line
numbers counted from the first line of SOURCE.

With PARALLELIZER running (by default, the parallelizer of the run in
progress), compile-kernel is a collective operation: every process of
the run calls it; rank 0 compiles, and the others receive the compiled
object, so they need neither a compiler nor a shared file system. An MPI
parallelizer outside a run does the same over every rank of the job. With
#:parallelizer #f, this process compiles alone; processes that share the
cache directory still compile a source only once."
  (unless (string? source)
    (raise-parallelizer-error 'compile-kernel 'EINVAL
                              "expected C source as a string, got ~s" source))
  (check-cflags cflags)
  (let* ((name (if name
                   (let ((text (name->string 'compile-kernel name)))
                     (unless (c-identifier? text)
                       (raise-parallelizer-error
                        'compile-kernel 'EINVAL
                        "#:name must be the C name of a kernel of the \
source, got ~s" name))
                     text)
                   (match (kernels-in-source source)
                     ((one) one)
                     (() (raise-parallelizer-error
                          'compile-kernel 'EINVAL
                          "the source exports no kernel with \
PAR_KERNEL_EXPORT (or the helpers of par/kernel.h)"))
                     (several (raise-parallelizer-error
                               'compile-kernel 'EINVAL
                               "the source exports several kernels, ~a: \
say which with #:name" (string-join several ", "))))))
         (full-source (string-append "#include <par/kernel.h>\n#line 1 \""
                                     name ".c\"\n" source "\n"))
         (dir (kernel-cache-directory))
         (comm (collective-comm parallelizer)))
    (make-directories! dir)
    (let ((so (if comm
                  (compile-everywhere comm dir full-source cflags)
                  (compile! dir (cache-key full-source cflags
                                           (compiler-words))
                            full-source cflags))))
      (load-kernel so name))))

;;;
;;; define-elementwise-kernel.
;;;

(define (c-identifier? text)
  (string-match "^[A-Za-z_][A-Za-z0-9_]*$" text))

(define (c-name name)
  ;; NAME (a symbol) as a C identifier: soft-plus -> soft_plus.
  (let ((text (string-map (lambda (c)
                            (if (or (char-alphabetic? c) (char-numeric? c)
                                    (char=? c #\_))
                                c
                                #\_))
                          (symbol->string name))))
    (if (char-numeric? (string-ref text 0))
        (string-append "k_" text)
        text)))

(define (element-type? type)
  (and (symbol? type) (not (eq? type 'vu8)) (%element-size type) #t))

(define (element-c-type type)
  ;; The C type of one element or number of TYPE, from par/kernel.h.
  (case type
    ((double) "double")
    ((int64) "int64_t")
    (else (string-append "par_" (symbol->string type) "_t"))))

(define (count-lines text)
  (string-count text #\newline))

(define (elementwise-source name args result body includes)
  ;; The C source of the element-wise kernel NAME over ARGS, a list of
  ;; (ARG . TYPE), making RESULT from the C expression or statements BODY.
  (let* ((fn (c-name name))
         (arrays (filter-map (lambda (a) (and (element-type? (cdr a)) a))
                             args))
         (statements? (string-index body #\;))
         (head (string-append
                "#include <math.h>\n#include <stdint.h>\n"
                (string-concatenate
                 (map (lambda (file)
                        (string-append "#include <" file ">\n"))
                      includes))
                "\nstatic inline " (element-c-type result) "\n"
                fn "__element("
                (string-join (map (lambda (a)
                                    (string-append (element-c-type (cdr a))
                                                   " "
                                                   (symbol->string (car a))))
                                  args)
                             ", ")
                ")\n{\n"
                "#line 1 \"" (symbol->string name) " (body)\"\n"))
         (body-text (if statements?
                        (string-append body "\n")
                        (string-append "return (" body ");\n")))
         ;; The lines after the body are numbered as in the file again:
         ;; the line after the #line directive that follows the body.
         (resume (+ (count-lines head) (count-lines body-text) 2)))
    (define (loads)
      ;; One local per argument, read once before the loop.
      (let loop ((args args) (i 0) (j 0) (out '()))
        (match args
          (() (reverse out))
          (((arg . type) . rest)
           (if (element-type? type)
               (loop rest (1+ i) j
                     (cons (format #f "  const ~a *par__x~a = (const ~a *) \
par__a->in[~a].data;\n" (element-c-type type) i (element-c-type type) i)
                           out))
               (loop rest i (1+ j)
                     (cons (format #f "  const ~a par__s~a = \
par__a->scalars[~a].~a;\n" (element-c-type type) j j
                                   (if (eq? type 'int64) "i" "f"))
                           out)))))))
    (define (call-arguments)
      (let loop ((args args) (i 0) (j 0) (out '()))
        (match args
          (() (string-join (reverse out) ", "))
          (((arg . type) . rest)
           (if (element-type? type)
               (loop rest (1+ i) j
                     (cons (format #f "par__x~a[par__i]" i) out))
               (loop rest i (1+ j) (cons (format #f "par__s~a" j) out)))))))
    (string-append
     head body-text
     (format #f "#line ~a \"~a.c\"\n}\n\n" resume fn)
     "static int\n" fn "(par_kernel_args *par__a)\n{\n"
     (string-concatenate (loads))
     (format #f "  ~a *par__y = (~a *) par__a->out->data;\n"
             (element-c-type result) (element-c-type result))
     "  size_t par__n = par__a->out->count;\n\n"
     "  for (size_t par__i = 0; par__i < par__n; par__i++) {\n"
     (format #f "    par__y[par__i] = ~a__element(~a);\n" fn (call-arguments))
     "  }\n  return PAR_OK;\n}\n"
     (format #f "PAR_KERNEL_EXPORT_AS(~a, ~s, ~s, PAR_KERNEL_ELEMENTWISE, ~s);\n"
             fn (symbol->string name)
             (string-append
              (string-join (map (lambda (a) (symbol->string (cdr a))) args))
              " -> " (symbol->string result))
             (format #f "(~a ~a) -> ~a: ~a" name
                     (string-join (map (lambda (a)
                                         (format #f "(~a ~a)" (car a) (cdr a)))
                                       args))
                     result body)))))

(define* (compile-elementwise-kernel name args result body
                                     #:key (includes '()) (cflags '())
                                     (parallelizer (current-parallelizer)))
  "Compile the element-wise kernel NAME that define-elementwise-kernel
describes and return it."
  (define (fail message . irritants)
    (apply raise-parallelizer-error 'define-elementwise-kernel 'EINVAL
           message irritants))
  (for-each (match-lambda
              ((arg . type)
               (unless (c-identifier? (symbol->string arg))
                 (fail "argument ~a is not a C identifier" arg))
               (unless (or (element-type? type) (memq type '(double int64)))
                 (fail "argument ~a has type ~s: expected an element type \
(f64, s32, ...) for an array, or double or int64 for a number" arg type))))
            args)
  (unless (any-array? args)
    (fail "kernel ~a needs at least one array argument (of an element \
type such as f64)" name))
  (unless (element-type? result)
    (fail "the result type ~s is not an element type (f64, s32, ...)"
          result))
  (unless (string? body)
    (fail "the body must be a string of C, got ~s" body))
  (unless (and (list? includes) (every string? includes))
    (fail "#:includes must be a list of header names, got ~s" includes))
  (compile-kernel (elementwise-source name args result body includes)
                  #:name (c-name name) #:cflags cflags
                  #:parallelizer parallelizer))

(define (any-array? args)
  (and (any (lambda (a) (element-type? (cdr a))) args) #t))

(define-syntax define-elementwise-kernel
  (lambda (x)
    "(define-elementwise-kernel (NAME (ARG TYPE) ...) RESULT-TYPE BODY
   [#:includes HEADERS] [#:cflags FLAGS] [#:parallelizer P])

Define NAME as an element-wise C kernel, compiled with compile-kernel:
a procedure over arrays of one shape that makes an array of RESULT-TYPE
and that shape, element i being BODY evaluated with each ARG bound to
element i of its array. BODY is a string of C: an expression, or
statements that return the element. A TYPE is an element type (f64, s32,
c64, ...) for an array argument, or double or int64 for a number that
every element sees. <math.h> and <stdint.h> are included, and so are
the HEADERS (a list such as '(\"complex.h\")).

  (define-elementwise-kernel (axpy (a double) (x f64) (y f64)) f64
    \"a * x + y\")
  (axpy 2 (f64vector 1 2) (f64vector 10 20))   => #f64(12.0 24.0)"
    (syntax-case x ()
      ((_ (name (arg type) ...) result body option ...)
       (identifier? #'name)
       #'(define name
           (compile-elementwise-kernel 'name '((arg . type) ...) 'result body
                                       option ...))))))

;;; kernels.scm ends here
