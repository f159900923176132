/* parallelizer.h — the C API of Parallelizer.
 *
 * libparallelizer moves data between the processes of a group: serial,
 * forked workers on one machine, or MPI ranks. It has no Guile dependency;
 * the Guile extension is built on top of it. Include this header and link
 * with `pkg-config --libs parallelizer`.
 *
 *   par/error.h   error codes, par_strerror
 *   par/types.h   element types of typed buffers, reduction operators
 *   par/comm.h    communicators: point to point and collectives
 *   par/mp.h      forked groups of worker processes over shared memory
 *   par/kernel.h  C kernels over typed arrays: their signature, registry,
 *                 helpers, and reductions with a kernel as the operator
 *   par/shm.h     shared memory: arenas of objects that processes map
 *   par/mpi.h     communicators over Open MPI (includes <mpi.h>; optional)
 *
 * par_guile_init, below, is for programs that embed Guile; it is in
 * libguile-parallelizer (`pkg-config --libs parallelizer-guile`).
 */
#ifndef PARALLELIZER_H
#define PARALLELIZER_H

#include "par/common.h"
#include "par/error.h"
#include "par/types.h"
#include "par/comm.h"
#include "par/mp.h"
#include "par/kernel.h"
#include "par/shm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- A program that embeds Guile ---------------------------------------- */

/* Make Parallelizer usable from the Guile that this program embeds, so
 * that Scheme code it evaluates can (use-modules (parallelizer)) and run
 * jobs on any backend:
 *
 * - the extension of the Scheme modules is registered in the process
 *   (scm_c_register_extension): no shared object is looked for, and no
 *   GUILE_EXTENSIONS_PATH is needed. So is the MPI extension when the
 *   program links libguile-parallelizer-mpi; otherwise it is loaded, on
 *   first use of an MPI parallelizer, from the directory of
 *   libguile-parallelizer.
 * - the directories of the modules and compiled modules of the
 *   installation (those of an uninstalled build, for the library built in
 *   a source tree) are appended to Guile's load paths, after those that
 *   GUILE_LOAD_PATH and GUILE_LOAD_COMPILED_PATH name.
 *
 * Call it once Guile is initialised (after scm_init_guile, or in the
 * function that scm_boot_guile calls); calling it again does nothing.
 * Kernels that the program registers with par_kernel_register, before or
 * after, are found by kernel-ref. It is defined in libguile-parallelizer:
 * link with `pkg-config --cflags --libs parallelizer-guile`. */
PAR_EXTERN void par_guile_init(void);

#ifdef __cplusplus
}
#endif

#endif /* PARALLELIZER_H */
