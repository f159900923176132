/* glue.h — shared declarations of the Guile extension. This file is private.
 *
 * The extension is one shared object, libguile-parallelizer, whose entry
 * point par_scm_init defines every primitive (named %something) in the
 * module (parallelizer primitives). Each glue file has an init function
 * listed here and called from init.c. The MPI primitives are a second
 * extension (mpi.c), loaded into (parallelizer mpi-primitives) only when
 * a program makes an MPI parallelizer.
 *
 * Conventions of the glue files:
 * - The C function of the primitive %comm-broadcast is prim_comm_broadcast
 *   (a trailing ! or ? becomes _x or _p). A comment above it starts with
 *   the Scheme call, (%comm-broadcast COMM VALUE ROOT), followed by what
 *   would be its docstring; the file's init function registers it with
 *   scm_c_define_gsubr, in the order of the file.
 * - Every error the extension raises has the key parallelizer-error and
 *   the arguments of scm-error, (WHO MESSAGE IRRITANTS (CODE)): WHO is the
 *   user-facing procedure (send-to, broadcast), not the primitive; MESSAGE
 *   a sentence with ~a/~s for the IRRITANTS; CODE the symbol of the
 *   runtime's error code (EPEER, EINVAL...), as par_err_name gives it.
 */
#ifndef PAR_GLUE_H
#define PAR_GLUE_H

#include <stdbool.h>
#include <stdint.h>

#include <libguile.h>

#include "parallelizer.h"

/* The functions below marked PAR_EXTERN are also used by the MPI
 * extension, libguile-parallelizer-mpi, which links against this one. */

/* --- Errors (init.c) ----------------------------------------------------- */

/* Raise a parallelizer-error from WHO with the runtime error CODE (a
 * PAR_E* value) as its identity. MESSAGE is a format string for
 * simple-format (~a, ~s) over the list IRRITANTS. Does not return. */
PAR_EXTERN void par_scm_throw(const char *who, int code, const char *message,
                              SCM irritants) __attribute__((noreturn));

/* Raise the runtime failure RC from WHO: its message is par_strerror(RC),
 * followed by DETAIL (what the runtime said of this failure, such as
 * par_comm_error_detail) when DETAIL is neither NULL nor "". For PAR_EINTR
 * the calling thread's asyncs run first, so that a Ctrl-C handler that
 * throws (returning the REPL to its prompt) wins over the error. Does not
 * return. */
PAR_EXTERN void par_scm_throw_failure(const char *who, int rc,
                                      const char *detail)
    __attribute__((noreturn));

/* The first slot of OBJ, a foreign object of TYPE; raises an EINVAL error
 * from WHO, saying that WHAT (such as "a communicator") was expected, if
 * OBJ is anything else. */
void *par_scm_foreign_ref(SCM type, SCM obj, const char *what,
                          const char *who);

/* --- Communicators (comm.c) ---------------------------------------------- */

/* Wrap COMM as a Scheme communicator object. If OWNED, the object frees
 * COMM when it is closed or collected; otherwise COMM's owner (such as a
 * multiprocessing group) must outlive every use of the object. Installs
 * COMM's interrupt check (see comm.c). */
PAR_EXTERN SCM par_scm_wrap_comm(par_comm *comm, int owned);

/* The communicator inside OBJ; raises an EINVAL error from WHO if OBJ is
 * not a communicator or has been closed. */
PAR_EXTERN par_comm *par_scm_unwrap_comm(SCM obj, const char *who);

/* --- Element types (element-types.c) ------------------------------------- */

/* One element type of uniform vectors, as Guile, the runtime and the wire
 * format see it. Generated from PAR_DTYPE_MAP, plus the bytevector's. */
typedef struct par_scm_etype {
  scm_t_array_element_type scm; /* Guile's element type */
  par_dtype dtype;              /* the runtime's (u8 for bytevectors) */
  const char *name;             /* "f64"; "vu8" for bytevectors */
  size_t size;                  /* bytes of one element (c64: 16) */
  size_t unit;                  /* bytes of one real part: what byte order
                                 * applies to */
  bool complex;                 /* two parts per element */
  uint64_t tag;                 /* RFC 8746 tag of one real part in this
                                 * host's byte order; 0 for bytevectors,
                                 * which travel as plain byte strings */
  SCM symbol;                   /* 'f64, for scm_make_typed_array */
} par_scm_etype;

/* The description of Guile's element TYPE; NULL for the types that are
 * not numeric (SCM, CHAR, BIT). */
const par_scm_etype *par_scm_etype_of(scm_t_array_element_type type);

/* The description of bytevectors (vu8). */
const par_scm_etype *par_scm_etype_bytevector(void);

/* The element type of an RFC 8746 typed array of tag TAG, holding complex
 * numbers if COMPLEX (TAG is then that of their parts); *SWAP tells
 * whether its elements are in the other byte order than this host's. NULL
 * if no Guile type matches. */
const par_scm_etype *par_scm_etype_of_tag(uint64_t tag, bool complex,
                                          bool *swap);

/* --- Per-file initialisation, called once by par_scm_init ---------------- */

void par_scm_init_element_types(void);
void par_scm_init_wire(void);
void par_scm_init_comm(void);
void par_scm_init_mp(void);
void par_scm_init_kernel(void);
void par_scm_init_kernel_cache(void);
void par_scm_init_kernel_comm(void);
void par_scm_init_shared(void);

#endif /* PAR_GLUE_H */
