;;; A payload of 3 GiB arrives intact on every backend, and through the
;;; codec.
;;;
;;;   PARALLELIZER=multiprocessing:2 guile tests/huge.scm
;;;   parallelizer run -n 2 --backend mpi tests/huge.scm
;;;
;;; 3 GiB is more than MPI's int counts allow in one message: there such a
;;; payload moves in pieces of at most the split threshold (1 GiB by
;;; default); on multiprocessing it moves through the broadcast ring in
;;; pieces (broadcast!) or as a memory segment (by value). Each test needs
;;; several times that much memory on the machine: rank 0 looks at the
;;; memory available first, and the test is skipped, saying why, when
;;; there is not enough, rather than push the machine into its
;;; out-of-memory killer. The payload is a bytevector of fresh anonymous
;;; memory written only every megabyte, so that the pages of the sender
;;; that hold zeros cost nothing (make-bytevector would touch them all).

(use-modules (ice-9 rdelim)
             (ice-9 match)
             (rnrs bytevectors)
             (system foreign)
             (srfi srfi-64)
             (parallelizer)
             (harness))

(define p (suite-parallelizer make-serial-parallelizer))
(define n (parallelizer-nprocs p))

(define size (* 3 1024 1024 1024))
(define gib (* 1024 1024 1024))
(define stride (* 1024 1024))

(define (every-true lst)
  (and (list? lst) (not (memq #f lst))))

(define (available-bytes)
  "MemAvailable of /proc/meminfo, in bytes (0 if it cannot be read)."
  (call-with-input-file "/proc/meminfo"
    (lambda (port)
      (let loop ()
        (match (read-line port)
          ((? eof-object?) 0)
          (line
           (match (string-tokenize line)
             (("MemAvailable:" kb "kB") (* 1024 (string->number kb)))
             (_ (loop)))))))))

(define mmap
  (pointer->procedure '* (dynamic-func "mmap" (dynamic-link))
                      (list '* size_t int int int long)))

(define munmap
  (pointer->procedure int (dynamic-func "munmap" (dynamic-link))
                      (list '* size_t)))

(define (fresh-bytevector)
  "A u8vector of SIZE bytes of fresh anonymous memory: zeros that use no
memory until written. Release it with (release! BV). (A u8vector rather
than a plain bytevector: a large one is received into the very memory it
arrives in, without a copy.)"
  ;; PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS.
  (let ((ptr (mmap %null-pointer size 3 #x22 -1 0)))
    (when (= (pointer-address ptr) (1- (expt 2 64)))
      (error "mmap failed"))
    (pointer->bytevector ptr size 0 'u8)))

(define (release! bv)
  "Give the memory of BV, from fresh-bytevector, back; BV is unusable
after."
  (munmap (bytevector->pointer bv) size))

(define (mark! bv)
  "Write a byte every STRIDE bytes of BV, which depends on where it is."
  (do ((i 0 (+ i stride))) ((>= i (bytevector-length bv)) bv)
    (bytevector-u8-set! bv i (1+ (modulo (quotient i stride) 251)))))

(define (marked? bv)
  "Whether BV is SIZE bytes long and holds MARK!'s bytes, and zeros just
after each of them and at its end."
  (and (= (bytevector-length bv) size)
       (let loop ((i 0))
         (or (>= i size)
             (and (= (bytevector-u8-ref bv i)
                     (1+ (modulo (quotient i stride) 251)))
                  (zero? (bytevector-u8-ref bv (1+ i)))
                  (loop (+ i stride)))))
       (zero? (bytevector-u8-ref bv (1- size)))))

(define (enough-memory? copies)
  "Whether the machine has room for COPIES copies of the payload, and 1 GiB
more, decided on rank 0 and known on every rank."
  (parallelizer-run
   p (lambda* (#:key parallelizer)
       (broadcast parallelizer
                  (and (on-main? parallelizer)
                       (let ((have (available-bytes))
                             (need (+ gib (* copies size))))
                         (or (>= have need)
                             (begin
                               (format (current-error-port)
                                       "skipped: needs ~,1f GiB of memory, ~
the machine has ~,1f GiB available~%"
                                       (/ need gib 1.) (/ have gib 1.))
                               #f))))))))

;; Runs TEST if the machine has room for COPIES copies of the payload on
;; the ranks together; otherwise skips it.
(define-syntax-rule (test-huge name copies test)
  (begin
    (unless (enough-memory? copies)
      (test-skip name))
    (test-assert name test)))

(define-syntax-rule (job (q) body ...)
  (lambda* (#:key parallelizer)
    (let ((q parallelizer))
      body ...)))

(run-suite
 "huge"
 (lambda ()
   ;; The encoding and the decoded copy, beside the payload; once, in the
   ;; serial run.
   (when (= n 1)
     (test-huge "value->cbor and cbor->value of a 3 GiB u8vector" 3
       (let* ((bv (mark! (fresh-bytevector)))
              (ok (marked? (cbor->value (value->cbor bv)))))
         (release! bv)
         ok))
     (gc))

   (when (< n 2)
     (test-skip 3))

   ;; The sender's pages are read, not written: a copy on each receiver.
   (test-huge "broadcast! of 3 GiB into a u8vector" (- n 1)
     (parallelizer-run
      p (job (q)
          (let ((bv (fresh-bytevector)))
            (when (on-main? q)
              (mark! bv))
            (broadcast! q bv)
            (let ((ok (gather q (marked? bv))))
              (release! bv)
              (or (not (on-main? q)) (every-true ok)))))))

   ;; The encoding on the sender, the message on each receiver.
   (test-huge "broadcast of a 3 GiB u8vector" n
     (parallelizer-run
      p (job (q)
          (let* ((bv (and (on-main? q) (mark! (fresh-bytevector))))
                 (ok (gather q (marked? (broadcast q bv)))))
            (when bv
              (release! bv))
            (or (not (on-main? q)) (every-true ok))))))
   (gc)

   ;; The encoding and the send's own copy on the sender, the message on
   ;; the receiver.
   (test-huge "send-to and receive-from of a 3 GiB u8vector" 3
     (parallelizer-run
      p (job (q)
          (case (parallelizer-id q)
            ((1) (let ((bv (mark! (fresh-bytevector))))
                   (send-to q bv 0)
                   (release! bv)
                   #t))
            ((0) (marked? (receive-from q 1)))
            (else #t)))))
   (gc)))
