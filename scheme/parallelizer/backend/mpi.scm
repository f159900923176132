;;; (parallelizer backend mpi) — ranks of an Open MPI job.

;;; Commentary:
;;;
;;; Every rank of the MPI job runs the same program; a run calls the job on
;;; each of them. MPI is initialized on first use, never merely by loading
;;; this module (even Open MPI's libraries are loaded only then), and the
;;; parallelizer works on a duplicate of MPI_COMM_WORLD.
;;;
;;; Code:

(define-module (parallelizer backend mpi)
  #:use-module (ice-9 match)
  #:use-module (parallelizer core)
  #:use-module (parallelizer errors)
  #:use-module ((parallelizer primitives)
                #:select (%comm-abort
                          %comm-close!
                          %comm-rank
                          %comm-set-timeout!
                          %comm-size))
  #:export (make-mpi-parallelizer
            mpi-parallelizer?
            mpi-parallelizer-set-split-threshold!
            mpi-job-comm))

;; The MPI primitives, from a module loaded on first use.
(define (mpi-primitive name)
  (module-ref (resolve-interface '(parallelizer mpi-primitives)) name))

(define (mpi-parallelizer-set-split-threshold! bytes)
  "Send MPI messages larger than BYTES as several pieces (default 1 GiB,
at most 2147418112, since MPI counts are ints; every rank must use the same
value)."
  (unless (and (exact-integer? bytes) (<= 1 bytes #x7fff0000))
    (raise-parallelizer-error
     'mpi-parallelizer-set-split-threshold! 'EINVAL
     "the threshold must be a number of bytes from 1 to ~a, got ~s"
     #x7fff0000 bytes))
  ((mpi-primitive '%mpi-set-split-threshold!) bytes))

(define* (make-mpi-parallelizer #:key (root 0))
  "Return a new MPI parallelizer over all the ranks of the job. MPI is
initialized when the parallelizer is first used. ROOT is the rank that acts
as the main process."
  (unless (and (exact-integer? root) (>= root 0))
    (raise-parallelizer-error 'make-mpi-parallelizer 'EINVAL
                              "#:root must be a rank, got ~s" root))
  (%make-parallelizer %mpi `((root . ,root)) #f #f 0))

(define (mpi-parallelizer? obj)
  "Return #t if OBJ is an MPI parallelizer."
  (parallelizer-of? obj %mpi))

(define (parse-settings alist)
  ;; ((mode . mpi) (root . 2)).
  (match (assq 'root alist)
    ((_ . root) (make-mpi-parallelizer #:root root))
    (#f (make-mpi-parallelizer))))

;;;
;;; The group.
;;;

;; The parallelizer's state is its communicator over the whole job (with
;; the root renumbered 0), made on first use. Making it is collective, so
;; every rank makes it at the same point of the program.
(define (job-comm p)
  (or (parallelizer-state p)
      (let* ((world ((mpi-primitive '%mpi-world-comm)))
             (root (parallelizer-option p 'root 0))
             (size (%comm-size world))
             (comm (cond
                    ((zero? root) world)
                    ((< root size)
                     ((mpi-primitive '%mpi-subgroup)
                      world (cons root (delete root (iota size)))))
                    (else
                     (raise-parallelizer-error
                      'make-mpi-parallelizer 'ERANK
                      "#:root ~a is not a rank of this job of ~a processes"
                      root size)))))
        ;; Which ranks share a node decides what shared memory can do.
        ((mpi-primitive '%shared-mpi-setup!) comm)
        (set-parallelizer-state! p comm)
        comm)))

(define (mpi-job-comm p)
  "Return the communicator over the whole job of the MPI parallelizer P."
  (job-comm p))

(define (mpi-nprocs p)
  (%comm-size (job-comm p)))

(define (report-and-abort comm e)
  ;; An error on one rank ends the whole job, and says so first: the other
  ;; ranks may be waiting on this one, and only mpirun can stop them.
  (let ((port (current-error-port)))
    (format port "parallelizer: rank ~a (pid ~a) failed: ~a~%~a~%"
            (%comm-rank comm) (getpid)
            (job-error-text e) (job-error-backtrace e))
    (force-output port)
    (flush-all-ports)
    (%comm-abort comm 1)))

(define (finish comm result)
  ;; The end of the run, on every rank of it: a rank that returns from the
  ;; job while another still waits in one of the job's operations, or a
  ;; rank that waits here for one that has exited, fails (and so does the
  ;; other) instead of waiting forever. RESULT, or the failure. An
  ;; interrupt here is raised again, as one in the job is: at the MPI REPL
  ;; it reaches every rank and ends only what they do for the REPL.
  (if (job-error? result)
      result
      (let ((e (call-capturing-error
                (lambda ()
                  ;; Also lets go of the shared objects this rank sent
                  ;; during the run, which every rank has now received.
                  ((mpi-primitive '%mpi-finish!) comm)
                  #f))))
        (cond ((not e) result)
              ((job-interrupt? e) (raise-user-interrupt))
              (else e)))))

(define (exit-status e)
  ;; The status that (exit ARG ...) in a job asked for, from the job
  ;; error E of key quit.
  (match (job-error-irritants e)
    ((or () (#t)) 0)
    ((#f) 1)
    (((? exact-integer? status)) status)
    (_ 1)))

(define (mpi-run p thunk ranks timeout)
  (let* ((job (job-comm p))
         ;; parallelizer-run has checked that RANKS are ranks of the job.
         (comm (if ranks
                   ((mpi-primitive '%mpi-subgroup) job ranks)
                   job)))
    (if (not comm)
        ;; This rank is not in the group of the run: it has nothing to do.
        in-worker-process
        (let ((outer (parallelizer-comm p)))
          (%comm-set-timeout! comm (or timeout #f))
          (let ((result (dynamic-wind
                          (lambda () (set-parallelizer-comm! p comm))
                          (lambda () (finish comm (thunk)))
                          (lambda ()
                            (set-parallelizer-comm! p outer)
                            (unless (eq? comm job)
                              (%comm-close! comm))))))
            (cond
             ((not (job-error? result))
              result)
             ((eq? (job-error-key result) 'quit)
              ;; (exit) in the job: this rank leaves the program, as a
              ;; script would; the others hear of it (the runtime tells
              ;; them as the process exits) if they still wait for it.
              (exit (exit-status result)))
             (else
              (report-and-abort comm result))))))))

(define %mpi
  (make-backend 'mpi
                #:make make-mpi-parallelizer
                #:settings '(root)
                ;; A script started by plain mpirun: Open MPI tells each
                ;; process the size of its job.
                #:detect (lambda () (and (getenv "OMPI_COMM_WORLD_SIZE") #t))
                #:parse-settings parse-settings
                #:run mpi-run
                #:nprocs mpi-nprocs
                #:id (lambda (p) (%comm-rank (job-comm p)))))

(register-backend! %mpi)
