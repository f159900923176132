;;; The manual's examples: every @lisp block of doc/*.texi, run and
;;; compared with what the manual says it returns, prints and raises.

;;; Commentary:
;;;
;;; Each chapter (a doc/*.texi file) is read in the order of the manual's
;;; @include lines, and each of its @lisp blocks is one test, named after
;;; the chapter and the block's first line.  The forms of a chapter are
;;; evaluated in order, as a reader would type them at a REPL started with
;;; `./pre-inst-env guile', in one module per chapter that already uses
;;; (parallelizer); definitions therefore carry over from block to block
;;; within a chapter.  Like the REPL, each form is compiled before it runs.
;;;
;;; Inside a block, a line starting with @result{}, @print{} or @error{}
;;; belongs to the form just before it:
;;;
;;;   @result{} TEXT   the `write' form of the value is TEXT;
;;;   @print{} LINE    the form prints LINE (one line each, in order; the
;;;                    lines that workers print, "On Worker N (PID): ...",
;;;                    may come in any order among the others);
;;;   @error{} TEXT    the form raises an error that Guile prints as TEXT,
;;;                    "In procedure WHO: MESSAGE".
;;;
;;; A form without @print{} must print nothing and a form without @error{}
;;; must not raise; a form without @result{} may return anything.  Output
;;; is what reaches the standard output file descriptor, so lines printed
;;; by forked workers are caught too.
;;;
;;; When comparing, @dots{} matches any text, and process ids ("pid N",
;;; "On Worker N (PID)"), object addresses ("#<procedure 7f...") and
;;; file positions ("file.scm:12:3") match any other of their kind.
;;;
;;; A block that cannot run here (one that needs an MPI job of several
;;; ranks, a terminal, or a shell) is preceded in the .texi by the line
;;;
;;;   @c not run: REASON
;;;
;;; and is reported as skipped, with its reason, on the standard output.
;;; Any other "@c not..." line before a block is an error, so that a
;;; misspelt marker does not skip a block silently.
;;;
;;; doc/wire-format.texi is not read: its examples are tables of bytes,
;;; not Scheme, and its procedures are shown running in the Scheme API
;;; chapter ("Values as bytes").
;;;
;;; Code:

(use-modules (srfi srfi-1)
             (srfi srfi-9)
             (srfi srfi-64)
             (ice-9 ftw)
             (ice-9 match)
             (ice-9 rdelim)
             (ice-9 regex)
             (ice-9 textual-ports)
             (system base compile)
             (harness))

;; The examples assume the default parallelizer of a plain REPL, and the
;; random numbers of a fresh one: each chapter starts from this state.
(unsetenv "PARALLELIZER")
(define initial-random-state (copy-random-state *random-state*))

(define top
  (or (getenv "PARALLELIZER_SOURCE_DIR")
      (dirname (dirname (current-filename)))))

(define doc-dir (string-append top "/doc"))

(define excluded-chapters
  ;; Chapters whose examples are not Scheme (see the commentary).
  '("wire-format"))


;;; Reading the manual

(define (file-lines file)
  "Return the lines of FILE as a list of strings."
  (call-with-input-file file
    (lambda (port)
      (let loop ((lines '()))
        (let ((line (read-line port)))
          (if (eof-object? line)
              (reverse lines)
              (loop (cons line lines))))))))

(define (chapter-files)
  "Return the .texi files of the manual, in the order of the @include
lines of doc/parallelizer.texi, then any other doc/*.texi; the MPI
chapter comes last, since no process may be forked once MPI is
initialized in this process."
  (let* ((included
          (filter-map (lambda (line)
                        (let ((m (string-match "^@include ([^ ]+\\.texi)"
                                               line)))
                          (and m (match:substring m 1))))
                      (file-lines (string-append doc-dir
                                                 "/parallelizer.texi"))))
         (all (scandir doc-dir (lambda (name)
                                 (string-suffix? ".texi" name))))
         (ordered (append included
                          (lset-difference string=? all included))))
    (append (remove (lambda (name) (string=? name "mpi.texi")) ordered)
            (if (member "mpi.texi" ordered) '("mpi.texi") '()))))

(define-record-type <block>
  (make-block chapter line lines skip)
  block?
  (chapter block-chapter)              ; "scheme-api"
  (line block-line)                    ; line number of @lisp
  (lines block-lines)                  ; the Texinfo lines inside
  (skip block-skip))                   ; #f, or (not-run REASON) / (bad LINE)

(define (chapter-blocks chapter file)
  "Return the @lisp blocks of FILE, of CHAPTER, in order."
  (let loop ((lines (file-lines file)) (number 1) (previous "") (blocks '()))
    (match lines
      (() (reverse blocks))
      ((line . rest)
       (if (string=? (string-trim-right line) "@lisp")
           (let collect ((rest rest) (body '()) (end (1+ number)))
             (match rest
               (()
                (error "unterminated @lisp block" file number))
               ((inner . after)
                (if (string=? (string-trim-right inner) "@end lisp")
                    (loop after (1+ end) inner
                          (cons (make-block chapter number (reverse body)
                                            (skip-marker previous))
                                blocks))
                    (collect after (cons inner body) (1+ end))))))
           (loop rest (1+ number) line blocks))))))

(define (skip-marker line)
  "Return what LINE, the line before a block, says about running it."
  (cond ((string-match "^@c not run: *(.+)$" line)
         => (lambda (m) (list 'not-run (match:substring m 1))))
        ((string-match "^@c +not" line)
         (list 'bad line))
        (else #f)))

(define (block-title block)
  "The name of BLOCK's test: its chapter and its first line."
  (let ((first (or (find (lambda (line)
                           (not (string-null? (string-trim line))))
                         (block-lines block))
                   "")))
    (string-append (block-chapter block) ": "
                   (or (false-if-exception (texi->text (string-trim first)))
                       (string-trim first)))))


;;; Texinfo to text

(define dots (string (integer->char 1)))   ; stands for @dots{}

(define (texi->text str)
  "Return STR with its Texinfo commands undone: @@, @{ and @} become @, {
and }, @var{X} becomes X and @dots{} becomes the wildcard DOTS. Raise an
error on any other command."
  (let loop ((chars (string->list str)) (out '()))
    (define (emit s rest) (loop rest (append (reverse (string->list s)) out)))
    (match chars
      (() (list->string (reverse out)))
      ((#\@ #\@ . rest) (loop rest (cons #\@ out)))
      ((#\@ #\{ . rest) (loop rest (cons #\{ out)))
      ((#\@ #\} . rest) (loop rest (cons #\} out)))
      ((#\@ #\d #\o #\t #\s #\{ #\} . rest) (emit dots rest))
      ((#\@ #\v #\a #\r #\{ . rest)
       (let ((end (list-index (lambda (c) (char=? c #\})) rest)))
         (unless end
           (error "unterminated @var{" str))
         (emit (list->string (list-head rest end)) (drop rest (1+ end)))))
      ((#\@ . rest)
       (error "Texinfo command not handled in an example:" str))
      ((c . rest) (loop rest (cons c out))))))


;;; Splitting a block into forms and what they should do

(define (annotation line)
  "If LINE is a @result{}, @print{} or @error{} line, return (KIND . TEXT)
with TEXT as plain text; otherwise #f."
  (let ((m (string-match "^[ \t]*@(result|print|error)\\{\\} ?(.*)$" line)))
    (and m
         (let ((kind (string->symbol (match:substring m 1)))
               (text (string-trim-right (texi->text (match:substring m 2)))))
           (cons kind
                 (if (eq? kind 'result)
                     ;; "@result{} 42      ; on every rank": a comment.
                     (regexp-substitute #f (or (string-match " {2,};.*$" text)
                                               (string-match "$" text))
                                        'pre)
                     text))))))

(define (block-steps block)
  "Split BLOCK into a list of steps (CODE . ANNOTATIONS): CODE is plain
text holding one or more forms, and ANNOTATIONS, a list of (KIND . TEXT),
applies to the last of them."
  (let loop ((lines (block-lines block)) (code '()) (notes '()) (steps '()))
    (define (flush)
      (if (and (null? code) (null? notes))
          steps
          (cons (cons (string-join (reverse code) "\n") (reverse notes))
                steps)))
    (match lines
      (() (reverse (flush)))
      ((line . rest)
       (let ((note (annotation line)))
         (cond (note (loop rest code (cons note notes) steps))
               ((pair? notes) (loop lines '() '() (flush)))
               (else (loop rest (cons (texi->text line) code) '()
                           steps))))))))

(define (read-forms text)
  "Return the list of forms in TEXT."
  (when (string-contains text dots)
    (error "@dots{} in the code of an example"))
  (call-with-input-string text
    (lambda (port)
      (set-port-filename! port "<example>")
      (let loop ((forms '()))
        (let ((form (read port)))
          (if (eof-object? form)
              (reverse forms)
              (loop (cons form forms))))))))


;;; Running a form

(define (call-capturing-output thunk)
  "Call THUNK with the standard output file descriptor sent to a
temporary file; return (values VALUE TEXT), VALUE being what THUNK
returned and TEXT what was written to the descriptor meanwhile, by this
process or by any process forked during the call."
  (let* ((file (mkstemp! (string-append (or (getenv "TMPDIR") "/tmp")
                                        "/doc-examples-XXXXXX")))
         (saved (dup 1)))
    (delete-file (port-filename file))
    (flush-all-ports)
    (dup2 (fileno file) 1)
    (let ((value (dynamic-wind
                   (const #t)
                   thunk
                   (lambda ()
                     (flush-all-ports)
                     (dup2 saved 1)
                     (close-fdes saved)))))
      (seek file 0 SEEK_SET)
      (let ((text (get-string-all file)))
        (close-port file)
        (values value text)))))

(define (evaluate form module)
  "Compile and run FORM in MODULE, as the REPL does. Return (value V) or
(error TEXT), TEXT being the error as the REPL prints it."
  (catch #t
    (lambda ()
      (save-module-excursion
       (lambda ()
         (set-current-module module)
         (call-with-values
             (lambda () (compile form #:env module #:warning-level 0))
           (lambda values
             (list 'value (if (null? values) *unspecified* (car values))))))))
    (lambda (key . args)
      (list 'error
            (string-trim-right
             (call-with-output-string
               (lambda (port) (print-exception port #f key args))))))))

(define (chapter-module)
  "A fresh module like the REPL's, with (parallelizer) already used."
  (let ((module (make-fresh-user-module)))
    (module-use-interfaces! module
                            (list (resolve-interface '(parallelizer))))
    module))


;;; Comparing

(define (normalize text)
  "Replace what differs from run to run in TEXT by fixed words: process
ids, object addresses and file positions."
  (fold (lambda (rule text)
          (match rule
            ((pattern . replacement)
             (regexp-substitute/global #f pattern text
                                       'pre replacement 'post))))
        text
        `(("pid [0-9]+" . "pid <pid>")
          ("(On Worker [0-9]+) \\([0-9]+\\)"
           . ,(lambda (m) (string-append (match:substring m 1) " (<pid>)")))
          ("#<([^ >]+) [0-9a-f]{6,}"
           . ,(lambda (m) (string-append "#<" (match:substring m 1)
                                         " <address>")))
          ("(<unknown port>|<example>|[^ ()<>\"]+):[0-9]+:[0-9]+"
           . "<position>"))))

(define (glob-match? pattern text)
  "Whether TEXT matches PATTERN, in which each DOTS matches any text."
  (match (string-split pattern (string-ref dots 0))
    ((whole) (string=? whole text))
    ((first middle ... last)
     (and (string-prefix? first text)
          (string-suffix? last text)
          (>= (string-length text) (+ (string-length first)
                                      (string-length last)))
          (let loop ((parts middle) (start (string-length first)))
            (match parts
              (() (<= start (- (string-length text) (string-length last))))
              ((part . rest)
               (let ((at (string-contains text part start)))
                 (and at (loop rest (+ at (string-length part))))))))))))

(define (matches? expected actual)
  (glob-match? (normalize expected) (normalize actual)))

(define (worker-line? line)
  (string-prefix? "On Worker " line))

(define (output-matches? expected-lines text)
  "Whether TEXT, the output of a form, is the lines EXPECTED-LINES; lines
of workers may come in any order among the others."
  (let ((actual-lines (if (string-null? text)
                          '()
                          (string-split (string-trim-right text #\newline)
                                        #\newline))))
    (if (not (any worker-line? expected-lines))
        (matches? (string-join expected-lines "\n")
                  (string-join actual-lines "\n"))
        (and (= (length (remove worker-line? expected-lines))
                (length (remove worker-line? actual-lines)))
             (every matches?
                    (remove worker-line? expected-lines)
                    (remove worker-line? actual-lines))
             ;; Each expected worker line takes one actual worker line.
             (let loop ((expected (filter worker-line? expected-lines))
                        (actual (filter worker-line? actual-lines)))
               (match expected
                 (() (null? actual))
                 ((line . rest)
                  (let ((found (find (lambda (a) (matches? line a)) actual)))
                    (and found (loop rest (delete found actual eq?)))))))))))

(define (value->text value)
  (call-with-output-string (lambda (port) (write value port))))

(define (check-form form notes module)
  "Run FORM in MODULE and return the list of the ways in which it does
not do what NOTES say (empty if it does)."
  (define (notes-of kind)
    (filter-map (match-lambda ((k . text) (and (eq? k kind) text))) notes))
  (let ((results (notes-of 'result))
        (prints (notes-of 'print))
        (errors (notes-of 'error)))
    (call-with-values
        (lambda () (call-capturing-output (lambda () (evaluate form module))))
      (lambda (outcome output)
        (define (problem fmt . args)
          (apply format #f (string-append "~s: " fmt) form args))
        (filter
         identity
         (list
          (and (> (length results) 1)
               (problem "more than one @result{}"))
          (and (> (length errors) 1)
               (problem "more than one @error{}"))
          (and (pair? results) (pair? errors)
               (problem "both @result{} and @error{}"))
          (and (not (output-matches? prints output))
               (problem "printed ~s, the manual says ~s"
                        output (string-join prints "\n")))
          (match outcome
            (('error text)
             (cond ((null? errors)
                    (problem "raised ~s" text))
                   ((not (matches? (car errors) text))
                    (problem "raised ~s, the manual says ~s"
                             text (car errors)))
                   (else #f)))
            (('value value)
             (cond ((pair? errors)
                    (problem "returned ~a instead of raising ~s"
                             (value->text value) (car errors)))
                   ((and (pair? results)
                         (not (matches? (car results) (value->text value))))
                    (problem "returned ~a, the manual says ~a"
                             (value->text value) (car results)))
                   (else #f))))))))))

(define (check-block block module)
  "Run the forms of BLOCK in MODULE; return the list of problems."
  (catch #t
    (lambda ()
      (append-map
       (match-lambda
         ((code . notes)
          (let ((forms (read-forms code)))
            (when (and (null? forms) (pair? notes))
              (error "an annotation follows no form:" notes))
            (append
             ;; Every form but the last must run quietly and without error.
             (append-map (lambda (form) (check-form form '() module))
                         (drop-right forms (min 1 (length forms))))
             (if (null? forms)
                 '()
                 (check-form (last forms) notes module))))))
       (block-steps block)))
    (lambda (key . args)
      (list (call-with-output-string
              (lambda (port) (print-exception port #f key args)))))))


;;; The suite

(define checked 0)
(define skipped 0)

(define (run-chapter file)
  (let* ((chapter (basename file ".texi"))
         (module (chapter-module)))
    (set! *random-state* (copy-random-state initial-random-state))
    (for-each
     (lambda (block)
       (let ((title (block-title block)))
         (match (block-skip block)
           (('not-run reason)
            (set! skipped (1+ skipped))
            (format #t "SKIP ~a (doc/~a.texi:~a): not run: ~a~%"
                    title chapter (block-line block) reason))
           (('bad line)
            (test-equal title "@c not run: REASON" line))
           (#f
            (set! checked (1+ checked))
            (test-equal title '() (check-block block module))))))
     (chapter-blocks chapter file))))

(run-suite
 "doc-examples"
 (lambda ()
   (for-each (lambda (name)
               (if (member (basename name ".texi") excluded-chapters)
                   (format #t "SKIP doc/~a: its examples are bytes, \
not Scheme~%" name)
                   (run-chapter (string-append doc-dir "/" name))))
             (chapter-files))
   (format #t "~a examples checked, ~a not run~%" checked skipped)
   (force-output)))
