;;; (parallelizer primitives) — the C primitives of the extension.

;;; Commentary:
;;;
;;; Loads libguile-parallelizer and exports every primitive it defines. The
;;; primitives are %-named and private to Parallelizer: user code imports
;;; (parallelizer) and friends, never this module.
;;;
;;; Code:

(define-module (parallelizer primitives))

(eval-when (expand load eval)
  (load-extension "libguile-parallelizer" "par_scm_init"))

(module-export-all! (current-module))
