;;; bench/mpi.scm — the MPI backend, in the format of mpi_raw and mpi4py_peer.

;;; Commentary:
;;;
;;; Times, with (make-mpi-parallelizer) inside one parallelizer-run: a
;;; barrier, a ping-pong round trip of a small object between ranks 0 and
;;; 1, a broadcast of an 8 MB f64vector, a scatter and a broadcast of a
;;; 100,000-element list, a gather of one small integer per rank, and
;;; parallel-map of 1+ over a 100,000-element list beside serial map.
;;; Each figure is the median of 7 repetitions after a warm-up, the ranks
;;; lined up on a barrier before each repetition, as bench/mpi_raw.c and
;;; bench/mpi4py_peer.py do. Rank 0 prints one line per benchmark,
;;; "name<TAB>microseconds per operation", with their names, so that
;;; bench/run-all can join the three outputs on the first column. Lines
;;; whose names the peers lack (pingpong_fixnum) are extra detail.
;;;
;;; Run from the source tree after `make' (as root, also set
;;; OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1):
;;;
;;;   OMPI_MCA_btl=self,vader PARALLELIZER=mpi \
;;;     ./pre-inst-env mpirun -n 2 guile --no-auto-compile bench/mpi.scm
;;;
;;; Code:

(eval-when (expand load eval)
  ;; The source tree's root, so that (bench lib) is found.
  (add-to-load-path (dirname (dirname (canonicalize-path (current-filename))))))

(use-modules (bench lib)
             (parallelizer)
             (ice-9 format)
             (srfi srfi-4))

(define repetitions 7)

(define small-object
  ;; What mpi4py_peer.py sends: {"id": 42, "name": "ping",
  ;; "values": [1.0, 2.0, 3.0]}.
  '((id . 42) (name . "ping") (values 1.0 2.0 3.0)))

(define vec (let ((v (make-f64vector (* 1024 1024))))
              (let loop ((i 0))
                (when (< i (f64vector-length v))
                  (f64vector-set! v i (exact->inexact i))
                  (loop (1+ i))))
              v))

(define lst (iota 100000))

(define* (run-benchmarks #:key parallelizer)
  "Time every benchmark on every rank of PARALLELIZER's group; rank 0
prints the figures."
  (let* ((q parallelizer)
         (rank (parallelizer-id q))
         (size (parallelizer-nprocs q))
         (main? (zero? rank)))
    (define (bench name iterations thunk)
      (let ((t (time-in-job (lambda () (barrier q)) rank thunk
                            #:iterations iterations
                            #:repetitions repetitions)))
        (when main?
          (format #t "~a\t~,3f~%" name (* t 1e6))
          (force-output))))
    (define (ping-pong datum)
      (lambda ()
        (case rank
          ((0) (send-to q datum 1) (receive-from q 1))
          ((1) (send-to q (receive-from q 0) 0))
          (else #t))))
    (bench "barrier" 5000 (lambda () (barrier q)))
    (when (>= size 2)
      (bench "pingpong" 5000 (ping-pong small-object))
      (bench "pingpong_fixnum" 5000 (ping-pong 1)))
    (bench "bcast_8mb_f64" 20 (lambda () (broadcast q (and main? vec))))
    (let ((buffer (if main? vec (make-f64vector (f64vector-length vec)))))
      (bench "bcast_8mb_inplace" 20 (lambda () (broadcast! q buffer))))
    (bench "scatter_100k" 30 (lambda () (scatter q (and main? lst))))
    (bench "bcast_100k" 30 (lambda () (broadcast q (and main? lst))))
    (bench "gather_int" 5000 (lambda () (gather q rank)))
    ;; parallel-map against serial map on rank 0 alone.
    (bench "map_100k" 10 (lambda () (parallel-map q 1+ (and main? lst))))
    (bench "serial_map_100k" 10 (lambda () (when main? (map 1+ lst))))
    #t))

(parallelizer-run (make-mpi-parallelizer) run-benchmarks)

;;; mpi.scm ends here
