;;; tests/trust.scm — what the trust model (doc/trust.texi) claims.

;;; Commentary:
;;;
;;; The memory that the processes of a multiprocessing group share has no
;;; name: it is mapped shared and anonymous before the fork, so no other
;;; process (of this user or another) can open it, and no entry appears in
;;; /dev/shm while a run lasts or after it.  cbor->value, given bytes from
;;; anywhere, only ever raises the wire format's refusals, and builds only
;;; values of the types the format carries: a record only of a type
;;; registered in the receiving process.
;;;
;;; The suite runs under a hard timeout of its own (SIGALRM, whose default
;;; action ends the process).
;;;
;;; Code:

(use-modules (srfi srfi-1)
             (srfi srfi-64)
             (rnrs bytevectors)
             (ice-9 ftw)
             (ice-9 rdelim)
             (harness)
             (parallelizer))

(alarm 120)

(define (shm-entries)
  (or (scandir "/dev/shm" (lambda (name) (not (member name '("." ".."))))) '()))

(define (shared-mappings)
  "The shared mappings (permissions rw-s) of this process, each as the
path /proc/self/maps gives it."
  (call-with-input-file "/proc/self/maps"
    (lambda (port)
      (let loop ((line (read-line port)) (found '()))
        (if (eof-object? line)
            (reverse found)
            (let ((fields (string-tokenize line)))
              (loop (read-line port)
                    (if (and (>= (length fields) 2)
                             (string=? (second fields) "rw-s"))
                        (cons (string-join (drop fields 5) " ") found)
                        found))))))))

(define (anonymous? path)
  ;; The kernel shows a shared anonymous mapping as the deleted /dev/zero.
  (or (string-prefix? "/dev/zero" path) (string=? path "")))

(define p (make-multiprocessing-parallelizer #:processes 3 #:timeout 60))

(define (refusal-code bv)
  (catch 'parallelizer-error
    (lambda () (cbor->value bv) #f)
    (lambda (key who message irritants rest) (car rest))))

(run-suite
 "trust"
 (lambda ()
   (let* ((before (shm-entries))
          (seen (parallelizer-run
                 p (lambda* (#:key parallelizer)
                     (gather parallelizer
                             (list (shared-mappings) (shm-entries)))))))
     (test-assert "every process maps its shared memory anonymously"
       (every (lambda (report) (every anonymous? (first report))) seen))
     (test-assert "... and maps some"
       (every (lambda (report) (pair? (first report))) seen))
     (test-equal "no /dev/shm entry while the run lasts"
       (map (const before) seen)
       (map second seen))
     (test-equal "none after it" before (shm-entries)))

   (test-group "untrusted bytes"
     (let* ((state (seed->random-state 20240601))
            (codes (map (lambda (i)
                          (refusal-code
                           (u8-list->bytevector
                            (map (lambda (k) (random 256 state))
                                 (iota (+ 1 (random 64 state)))))))
                        (iota 20000))))
       (test-assert "20,000 random messages: only the format's refusals"
         (every (lambda (code)
                  (memq code '(#f EMALFORMED ETOOBIG ENOENT)))
                codes)))
     (test-eq "a record of a type the receiver has not registered"
       'ENOENT
       ;; Tag 27 around ["secret", 1]: no type is registered under that
       ;; name, so no value of it can be made.
       (refusal-code #vu8(#xd8 #x1b #x82 #x66 #x73 #x65 #x63 #x72 #x65
                          #x74 1))))))

;;; trust.scm ends here
