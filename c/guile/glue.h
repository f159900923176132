/* glue.h — shared declarations of the Guile extension. This file is private.
 *
 * The extension is one shared object, libguile-parallelizer, whose entry
 * point par_scm_init defines every primitive (named %something) in the
 * module (parallelizer primitives). Each glue file has an init function
 * listed here and called from init.c. The MPI primitives are a second
 * extension (mpi.c), loaded into (parallelizer mpi-primitives) only when
 * a program makes an MPI parallelizer.
 */
#ifndef PAR_GLUE_H
#define PAR_GLUE_H

#include <libguile.h>

#include "parallelizer.h"

/* The functions below marked PAR_EXTERN are also used by the MPI
 * extension, libguile-parallelizer-mpi, which links against this one. */

/* The key of every error the extension raises: 'parallelizer-error. */
extern SCM par_scm_error_key;

/* Raise a parallelizer-error from SUBR. MESSAGE is a format string for
 * simple-format (~a, ~s) over the list ARGS. Does not return. */
PAR_EXTERN void par_scm_throw(const char *subr, const char *message,
                              SCM args) __attribute__((noreturn));

/* Raise a parallelizer-error from SUBR for the runtime error CODE, with
 * DETAIL (may be NULL or "") as the explanation. Does not return. */
PAR_EXTERN void par_scm_throw_code(const char *subr, int code,
                                   const char *detail)
    __attribute__((noreturn));

/* Wrap COMM as a Scheme communicator object. If OWNED, the object frees
 * COMM when it is closed or collected; otherwise COMM's owner (such as a
 * multiprocessing group) must outlive every use of the object. */
PAR_EXTERN SCM par_scm_wrap_comm(par_comm *comm, int owned);

/* The communicator inside OBJ (argument POS of SUBR); raises an error if
 * OBJ is not a communicator or has been closed. */
PAR_EXTERN par_comm *par_scm_unwrap_comm(SCM obj, int pos,
                                         const char *subr);

/* Per-file initialisation, called once by par_scm_init. */
void par_scm_init_wire(void);
void par_scm_init_comm(void);
void par_scm_init_mp(void);

#endif /* PAR_GLUE_H */
