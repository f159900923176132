/* kernel-internal.h — what the glue files of C kernels share. This file
 * is private.
 *
 * kernel.c makes kernel objects and calls them; kernel-comm.c runs them
 * inside collectives (parallel-map's chunks, reductions); kernel-cache.c
 * serves compile-kernel. Functions that take a dynwind hold array handles
 * until the dynwind that the caller opened ends, however it ends.
 */
#ifndef PAR_KERNEL_INTERNAL_H
#define PAR_KERNEL_INTERNAL_H

#include <libguile.h>

#include "par/kernel.h"

/* The arguments of one call, converted: arrays and numbers each in the
 * order of the call, the handles that keep the arrays' storage, and the
 * objects whose storage the arrays describe. */
typedef struct par_scm_kernel_call {
  par_array in[PAR_KERNEL_MAX_ARGS];
  par_scalar scalars[PAR_KERNEL_MAX_ARGS];
  size_t nin, nscalars;
  scm_t_array_handle handles[PAR_KERNEL_MAX_ARGS];
  SCM keep[PAR_KERNEL_MAX_ARGS];
} par_scm_kernel_call;

/* The registered description inside the kernel object KERNEL (and its
 * parsed signature in *SIG, unless SIG is NULL); an EINVAL error from WHO
 * if KERNEL is not a kernel object. */
const par_kernel_def *par_scm_kernel_def(SCM kernel, const char *who,
                                         const par_kernel_sig **sig);

/* Inside a dynwind: convert the list ARGS of a call of a kernel of
 * signature SIG (whose text, for messages, is SIGNATURE) into *C: an
 * argument where SIG has a number must be a real number, elsewhere a
 * uniform numeric array; for the signature that accepts anything, numbers
 * are numbers and arrays arrays. Raises an error from WHO, naming the
 * argument, otherwise. */
void par_scm_kernel_args(const char *who, const par_kernel_sig *sig,
                         const char *signature, SCM args,
                         par_scm_kernel_call *c);

/* Inside a dynwind: set *A to the uniform numeric array X, holding a
 * handle on it in H until the dynwind ends. Returns 0, or -1, holding
 * nothing, when X is not a uniform numeric array of at most
 * PAR_ARRAY_MAX_RANK axes. An array that is not contiguous in row-major
 * order is copied first; *KEEP receives the object whose storage A
 * describes (X or the copy), which the caller keeps referenced. */
int par_scm_kernel_array(SCM x, par_array *a, scm_t_array_handle *h,
                         SCM *keep);

/* Inside a dynwind: a fresh Guile array of the type and shape of PLAN,
 * with a handle on it in H until the dynwind ends; *OUT becomes PLAN with
 * the array's storage as its data. */
SCM par_scm_kernel_result(const par_array *plan, scm_t_array_handle *h,
                          par_array *out);

/* Raise, from WHO, the kernel failure RC whose message is DETAIL. */
void par_scm_kernel_failed(const char *who, int rc, const char *detail)
    __attribute__((noreturn));

#endif /* PAR_KERNEL_INTERNAL_H */
