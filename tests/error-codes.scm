;;; The identity of errors raised by the C extension: every one has key
;;; parallelizer-error and scm-error's arguments (WHO MESSAGE IRRITANTS
;;; REST), REST being the list of the runtime code's symbol, so that Scheme
;;; recognises an error by its code and never by its text.

(use-modules (srfi srfi-64)
             (ice-9 exceptions)
             (parallelizer)
             (parallelizer primitives)
             (parallelizer wire)
             (harness))

(define-syntax-rule (error-arguments expr)
  ;; The arguments (WHO MESSAGE IRRITANTS REST) of the parallelizer-error
  ;; EXPR raises, or the key of another error, or #f if it returns.
  (catch #t
    (lambda () expr #f)
    (lambda (key . args)
      (if (eq? key 'parallelizer-error) args key))))

(define (error-code args)
  ;; The code of the error of ARGUMENTS, as its REST holds it.
  (and (list? args) (= 4 (length args))
       (let ((rest (list-ref args 3)))
         (and (list? rest) (= 1 (length rest)) (car rest)))))

(define (sentence? args)
  ;; Whether the MESSAGE of ARGUMENTS says something beyond its irritants.
  (and (list? args)
       (let ((message (list-ref args 1)))
         (and (string? message)
              (not (member message '("~a" "~s" "~A" "~S")))
              (> (string-length message) 10)))))

(define (in-serial-run proc)
  ;; PROC's value for a serial parallelizer, called inside a run of it.
  (parallelizer-run (make-serial-parallelizer)
                    (lambda* (#:key parallelizer) (proc parallelizer))))

(run-suite
 "error-codes"
 (lambda ()
   (test-group "arguments the glue refuses"
     (let ((args (in-serial-run
                  (lambda (p) (error-arguments (broadcast p 1 #:root 3))))))
       (test-equal "rank out of range" 'ERANK (error-code args))
       (test-equal "named by the procedure" "broadcast" (car args))
       (test-assert "message is a sentence" (sentence? args)))
     (test-equal "rank that is not an integer" 'EINVAL
       (error-code (in-serial-run
                    (lambda (p)
                      (error-arguments (broadcast p 1 #:root 'zero))))))
     (test-equal "not a communicator" 'EINVAL
       (error-code (error-arguments (%comm-barrier 42))))
     (test-equal "unknown reduction operator" 'EINVAL
       (error-code (error-arguments
                    (%comm-allreduce-uniform (%make-serial-comm) 'avg
                                             #f64(1.0)))))
     (test-equal "not a uniform vector" 'ETYPE
       (error-code (error-arguments
                    (%comm-allreduce-uniform (%make-serial-comm) 'sum
                                             '(1 2))))))

   (test-group "failures of the runtime"
     (let ((args (error-arguments (%comm-send (%make-serial-comm) 'x 0))))
       ;; A serial group cannot send to itself: the runtime says ERANK and
       ;; why, which the message carries as its irritant.
       (test-equal "code" 'ERANK (error-code args))
       (test-assert "message is a sentence" (sentence? args))
       (test-equal "detail is the irritant" 1 (length (list-ref args 2))))
     (test-equal "exception-message is the template, not ~a"
       "rank out of range for this communicator: ~a"
       (guard (e (#t (exception-message e)))
         (%comm-send (%make-serial-comm) 'x 0))))

   (test-group "wire"
     (test-equal "unsendable value" 'EINVAL
       (error-code (error-arguments (value->cbor (list car)))))
     (test-equal "malformed message" 'EMALFORMED
       (error-code (error-arguments (cbor->value #vu8(#x83 1)))))
     (test-equal "empty message" 'EMALFORMED
       (error-code (error-arguments (cbor->value #vu8()))))
     (test-equal "unregistered record type" 'ENOENT
       (error-code (error-arguments
                    (cbor->value #vu8(#xd8 #x1b #x82 #x61 #x71 1)))))
     (test-equal "an error keeps its code when it travels" '(EPEER)
       (let ((e (catch 'parallelizer-error
                  (lambda ()
                    (scm-error 'parallelizer-error "barrier" "gone: ~a"
                               '("rank 1") '(EPEER)))
                  (lambda (key . args)
                    (make-exception-from-throw key args)))))
         (list-ref (exception-args (cbor->value (value->cbor e))) 3))))

   (test-group "a peer that leaves"
     ;; The main process waits in a barrier that the worker never enters:
     ;; the runtime reports the peer gone, and the code says so.
     (test-equal '("barrier" (EPEER))
       (parallelizer-run
        (make-multiprocessing-parallelizer #:processes 2 #:timeout 30)
        (lambda* (#:key parallelizer)
          (if (on-main? parallelizer)
              (catch 'parallelizer-error
                (lambda () (barrier parallelizer) 'no-error)
                (lambda (key who message irritants rest)
                  (list who rest)))
              'left)))))

   (test-group "element types"
     (test-equal "sizes come from the runtime's table"
       '(1 1 1 2 2 4 4 8 8 4 8 8 16)
       (map %element-size
            '(vu8 u8 s8 u16 s16 u32 s32 u64 s64 f32 f64 c32 c64)))
     (test-equal "not an element type" #f (%element-size 'a)))))
