;;; (mp-hygiene) — what the multiprocessing fault and soak suites measure.

;;; Commentary:
;;;
;;; The children of this process, its open file descriptors, the entries
;;; of /dev/shm, and a monotonic clock that forked workers share with the
;;; main process (CLOCK_MONOTONIC is system-wide; Guile's own
;;; get-internal-real-time follows the wall clock).
;;;
;;; Code:

(define-module (mp-hygiene)
  #:use-module (ice-9 ftw)
  #:use-module (ice-9 rdelim)
  #:use-module (rnrs bytevectors)
  #:use-module (system foreign)
  #:use-module ((srfi srfi-1) #:select (append-map lset-difference))
  #:export (child-pids
            open-fd-count
            shm-entries
            new-shm-entries
            monotonic-seconds
            write-monotonic-time
            read-monotonic-time
            pid-alive?))

(define (child-pids)
  "Return the pids of every child of this process, zombies included, as
the kernel lists them for each of its threads."
  (let ((tasks (or (scandir "/proc/self/task"
                            (lambda (name) (string->number name)))
                   '())))
    (append-map
     (lambda (task)
       (let ((file (string-append "/proc/self/task/" task "/children")))
         (if (file-exists? file)
             (map string->number
                  (string-tokenize (call-with-input-file file read-string)))
             '())))
     tasks)))

(define (open-fd-count)
  "Return the number of file descriptors this process has open, apart
from pipes."
  ;; scandir's own directory stream is one of them, the same every time.
  ;; Pipes are left out: Guile's own threads (finalization, signal
  ;; delivery) open theirs whenever a collection leaves something to
  ;; finalize, and each fork closes them, so their number depends on when
  ;; the collector last ran; the runtime itself opens no pipe.
  (length (scandir "/proc/self/fd"
                   (lambda (name)
                     (and (string->number name)
                          (not (string-prefix?
                                "pipe:"
                                (or (false-if-exception
                                     (readlink (string-append
                                                "/proc/self/fd/" name)))
                                    ""))))))))

(define (open-mpi-segment? name)
  ;; Open MPI's shared-memory transport names its segments so; MPI jobs of
  ;; other suites may come and go in /dev/shm while these suites run.
  (or (string-prefix? "vader_segment" name)
      (string-prefix? "sm_segment" name)
      (string-prefix? "ompi." name)
      (string-prefix? "pmix" name)))

(define (shm-entries)
  "Return the names in /dev/shm, apart from Open MPI's segments."
  (or (scandir "/dev/shm"
               (lambda (name)
                 (not (or (member name '("." ".."))
                          (open-mpi-segment? name)))))
      '()))

(define (new-shm-entries before)
  "Return the names in /dev/shm that are not in the list BEFORE."
  (lset-difference string=? (shm-entries) before))

(define clock-gettime
  (pointer->procedure int
                      (dynamic-func "clock_gettime" (dynamic-link))
                      (list int '*)))

(define %clock-monotonic 1)

(define (monotonic-seconds)
  "Return the seconds of CLOCK_MONOTONIC, as a real number. Every process
of the machine reads the same clock."
  (let ((ts (make-bytevector 16 0)))
    (clock-gettime %clock-monotonic (bytevector->pointer ts))
    (+ (bytevector-s64-native-ref ts 0)
       (/ (bytevector-s64-native-ref ts 8) 1e9))))

(define (write-monotonic-time file)
  "Write the current monotonic time to FILE, for another process to read."
  (call-with-output-file file
    (lambda (port) (write (monotonic-seconds) port))))

(define (read-monotonic-time file)
  "Return the time written to FILE by write-monotonic-time, or #f."
  (and (file-exists? file)
       (let ((value (call-with-input-file file read)))
         (and (real? value) value))))

(define (pid-alive? pid)
  "Return #t if a process PID exists and is not a zombie."
  (let ((stat (format #f "/proc/~a/stat" pid)))
    (and (file-exists? stat)
         (let ((text (false-if-exception
                      (call-with-input-file stat read-string))))
           (and (string? text)
                ;; The state follows the parenthesized command name.
                (let ((close (string-rindex text #\))))
                  (and close
                       (not (char=? (string-ref text (+ close 2))
                                    #\Z)))))))))
