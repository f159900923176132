;;; fuzz/seed-corpus.scm — the seed corpora of the fuzz targets.

;;; Commentary:
;;;
;;; Usage: ./pre-inst-env guile -L tests/lib fuzz/seed-corpus.scm DIR
;;;
;;; Writes DIR/cbor, one file per value of the test suites' value zoo
;;; (tests/lib/zoo.scm) as value->cbor encodes it, the whole zoo as one
;;; list, and a few items at the edges of the format; and DIR/frames,
;;; inputs of fuzz_frames that run each operation with well-formed frames
;;; whose payloads are zoo values.  Every file is made afresh from the
;;; zoo, so the seeds follow the format as it changes.
;;;
;;; Code:

(use-modules (srfi srfi-1)
             (rnrs bytevectors)
             (ice-9 binary-ports)
             (ice-9 match)
             (parallelizer wire)
             (zoo))

(define (write-bytes dir name bv)
  (call-with-output-file (string-append dir "/" name)
    (lambda (port) (put-bytevector port bv))
    #:binary #t))

(define (u8 . octets) (u8-list->bytevector octets))

(define (concat . bvs)
  (u8-list->bytevector (append-map bytevector->u8-list bvs)))

(define edges
  ;; Items the zoo does not make: other encoders' forms, and the tags
  ;; whose values only the decoder builds.
  `(("float16" . ,(u8 #xf9 #x3c #x00))
    ("float32" . ,(u8 #xfa #x3f #xc0 #x00 #x00))
    ("undefined" . ,(u8 #xf7))
    ("long-head-uint" . ,(u8 #x1b 0 0 0 0 0 0 0 1))
    ("big-endian-f64" . ,(u8 #xd8 82 #x48 #x3f #xf8 0 0 0 0 0 0))
    ("clamped-u8" . ,(u8 #xd8 68 #x42 7 8))
    ("parallelizer" . ,(u8 #xd9 #xe7 #x45 #xf6))
    ("weak-table" . ,(u8 #xd9 #xe7 #x48 #x82 2 #xa1 1 2))
    ("error" . ,(u8 #xd9 #xe7 #x47 #x82 #xd8 #x27 #x63 #x66 #x6f #x6f
                    #x81 1))
    ("empty-rows" . ,(u8 #xd8 #x28 #x82 #x82 5 0 #x80))
    ("lower-bounds-vector" . ,(u8 #xd9 #xe7 #x4a #x82 #x81 #x20 #xd9 #xe7
                                  #x42 #x81 1))
    ("nested" . ,(u8 #x81 #x81 #x81 #x81 #x80))))

;;; The frames target reads, in order: the group's size (2 + byte mod 4)
;;; and this process's rank; then per operation a root, an element type, a
;;; reduction operator, a count, one count per process, the first byte of
;;; its own data, the operation's number (see run_one), and the frames it
;;; receives: a flag (the frame's operation), an element type, a 16-bit
;;; length and the payload.

(define (frame op aux payload)
  (let ((n (bytevector-length payload)))
    (concat (u8 op aux (quotient n 256) (remainder n 256)) payload)))

(define (operation number root count frames)
  ;; Two processes: counts of COUNT each; type u8 (0), operator sum (0).
  (apply concat (u8 root 0 0 count count count 7 number) frames))

(define opkind
  ;; par_opkind: SEND 1, BCAST 2, SCATTER 3, GATHER 4, ALLGATHER 5,
  ;; REDUCE 6, ALLREDUCE 7, BARRIER 8.
  '((send . 1) (bcast . 2) (scatter . 3) (gather . 4) (allgather . 5)
    (reduce . 6) (allreduce . 7) (barrier . 8)))

(define (kind name) (assq-ref opkind name))

(define (frames-seeds payload)
  ;; Rank 0 of two: every operation, its frames from rank 1 well formed.
  (let ((group (u8 0 0)))
    `(("recv" . ,(concat group (operation 0 1 0
                                          (list (frame (kind 'send) 0
                                                       payload)))))
      ("recv-any" . ,(concat group (operation 1 1 0
                                              (list (u8 1)
                                                    (frame (kind 'send) 0
                                                           payload)))))
      ("barrier" . ,(concat group (operation 2 0 0
                                             (list (frame (kind 'barrier) 0
                                                          #vu8())))))
      ("bcast" . ,(concat group (operation 3 1 0
                                           (list (frame (kind 'bcast) 0
                                                        payload)))))
      ("scatter" . ,(concat group (operation 4 1 0
                                             (list (frame (kind 'scatter) 0
                                                          payload)))))
      ("gather" . ,(concat group (operation 5 0 3
                                            (list (frame (kind 'gather) 0
                                                         payload)))))
      ("allgather" . ,(concat group
                              (operation 6 0 3
                                         (list (frame (kind 'allgather) 0
                                                      payload)))))
      ("reduce" . ,(concat group (operation 11 0 4
                                            (list (make-bytevector 4 1)
                                                  (frame (kind 'reduce) 0
                                                         (u8 1 2 3 4))))))
      ;; Rank 1 of two in an allgather: the root's frame carries the
      ;; counts (8 bytes each) before the data.
      ("allgather-leaf" . ,(concat (u8 0 1) (u8 0 0 0 3 3 3 7 6)
                                   (frame (kind 'allgather) 0
                                          (concat (u8 3 0 0 0 0 0 0 0
                                                      3 0 0 0 0 0 0 0)
                                                  (u8 1 2 3 4 5 6)))))
      ;; Counts that wrap around to the length: 2^64-1 and 1 add up to 0.
      ("allgather-wrapping-counts"
       . ,(concat (u8 0 1) (u8 0 0 0 3 3 3 7 6)
                  (frame (kind 'allgather) 0
                         (u8 255 255 255 255 255 255 255 255
                             1 0 0 0 0 0 0 0))))
      ;; 65535 * 65535 as u16: C promotes the operands to int, whose
      ;; product overflows unless it is computed unsigned.
      ("reduce-u16-prod" . ,(concat group (u8 0 2 1 1 1 1 7 11 #xff #xff)
                                    (frame (kind 'reduce) 2
                                           (u8 #xff #xff))))
      ("two-operations"
       . ,(concat group
                  (operation 0 1 0 (list (frame (kind 'send) 0 payload)))
                  (operation 5 0 2 (list (frame (kind 'gather) 0
                                                payload))))))))

(match (command-line)
  ((_ dir)
   (let ((cbor (string-append dir "/cbor"))
         (frames (string-append dir "/frames")))
     (for-each (lambda (d) (unless (file-exists? d) (mkdir d)))
               (list dir cbor frames))
     (for-each (match-lambda
                 ((name . value)
                  (write-bytes cbor (string-append "zoo-"
                                                   (symbol->string name))
                               (value->cbor value))))
               value-zoo)
     (write-bytes cbor "zoo-all" (value->cbor (map cdr value-zoo)))
     (for-each (match-lambda
                 ((name . bv) (write-bytes cbor name bv)))
               edges)
     (for-each (match-lambda
                 ((name . bv) (write-bytes frames name bv)))
               (frames-seeds (value->cbor (map cdr value-zoo))))))
  (_
   (format (current-error-port) "usage: seed-corpus.scm DIR~%")
   (exit 2)))

;;; seed-corpus.scm ends here
