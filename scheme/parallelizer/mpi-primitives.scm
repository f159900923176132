;;; (parallelizer mpi-primitives) — the C primitives of the MPI backend.

;;; Commentary:
;;;
;;; Loads libguile-parallelizer-mpi, and with it Open MPI, and exports the
;;; primitives it defines. (parallelizer backend mpi) loads this module
;;; when a program first uses an MPI parallelizer, so that other programs
;;; never load Open MPI.
;;;
;;; Code:

(define-module (parallelizer mpi-primitives))

(eval-when (expand load eval)
  (load-extension "libguile-parallelizer-mpi" "par_scm_init_mpi"))

(module-export-all! (current-module))
