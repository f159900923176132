/* shared-internal.h — shared objects in the Guile extension. This file is
 * private.
 *
 * shared.c makes Scheme values of the runtime's shared objects (par/shm.h)
 * and defines the primitives of (parallelizer shared); shared-wire.c is
 * how they travel in the wire format, as handles. A shared vector is a
 * Guile bytevector (an SRFI-4 vector for its element type) made over the
 * object's block by scm_pointer_to_bytevector; a shared array is a Guile
 * array over such a vector; a shared dict or list is a record of the
 * (parallelizer shared) module. Each holds, as its only field or as its
 * bytevector's parent, a pointer object whose address is the block's
 * header in this process and whose finalizer releases the process's
 * hold on the object (par_shm_release) once Guile no longer refers to it.
 */
#ifndef PAR_SHARED_INTERNAL_H
#define PAR_SHARED_INTERNAL_H

#include <stdbool.h>

#include "par/shm.h"

#include "wire-internal.h"

/* What a shared Scheme value is made of: its arena and block, and the kind
 * of the block. */
typedef struct par_scm_shared {
  par_shm_arena *arena;
  par_shm_ref ref;
  par_shm_kind kind;
} par_scm_shared;

/* If X is a shared dict, list, vector or array whose storage this process
 * maps, describe it in *OUT and return true. A vector or array may be a
 * view of part of its block. */
bool par__shared_of(SCM x, par_scm_shared *out);

/* The Scheme value of object REF of A, which the caller holds once for
 * it: the process's existing value of that object if there is one (the
 * hold is then given back), else a new one that keeps the hold until it
 * is collected. */
SCM par__shared_value(par_shm_arena *a, par_shm_ref ref, par_shm_kind kind);

/* A view of vector REF (held by the caller for it) other than the
 * canonical one: BASE and DIMS (RANK triples lower, upper, increment, in
 * elements) describe which elements, already checked against the block.
 * Used for arrays that are slices of a shared vector. */
SCM par__shared_strided_view(par_shm_arena *a, par_shm_ref ref, int64_t base,
                             size_t rank, const int64_t *dims);

/* An ordinary copy of shared object X, recursively (unshare). */
SCM par__shared_unshare(SCM x);

/* Whether the encoder writes shared objects by value (their contents, as
 * for unshared ones) rather than as handles: true while a value is being
 * encoded to be stored inside a shared dict or list, where a handle would
 * not keep its object alive. */
extern __thread int par__shared_by_value;

/* Whether handles encoded by this process must keep their object alive
 * until the end of the run (par_shm_pin): in an MPI job whose ranks share
 * a node, where the receiver does not borrow the sender's arenas. */
bool par__shared_pinning(void);

/* The hooks of the wire codec (shared-wire.c). */

/* If X is a shared object, append its handle (tag PTAG_SHARED) to OUT and
 * return true; WHO raises the errors. */
bool par__wire_encode_shared_object(SCM x, par_wbuf *out, const char *who);

/* The same, called by the encoder for every value that is not an
 * immediate, a pair, a number, a string or a symbol: only those of the
 * kinds a shared object can be (a bytevector made over memory of its
 * own, a struct, an array object) cost a call. */
static inline bool
par__wire_encode_shared(SCM x, par_wbuf *out, const char *who)
{
  if (SCM_HAS_TYP7(x, scm_tc7_bytevector)) {
    if (!SCM_POINTER_P(SCM_BYTEVECTOR_PARENT(x))) {
      return false;
    }
  } else if (!SCM_STRUCTP(x) && !SCM_HAS_TYP7(x, scm_tc7_array)) {
    return false;
  }
  return par__wire_encode_shared_object(x, out, who);
}

/* The value of the handle whose tag (PTAG_SHARED) was at AT. */
SCM par__wire_decode_shared(struct dec *d, size_t at);

/* For the MPI extension: record whether the ranks of the MPI job share
 * one node (MODE 1) or span several (MODE 2; NODE_SIZE of the JOB_SIZE
 * ranks are on this process's node). */
PAR_EXTERN void par_scm_shared_set_node_mode(int mode, int node_size,
                                             int job_size);

void par_scm_init_shared(void);

#endif /* PAR_SHARED_INTERNAL_H */
