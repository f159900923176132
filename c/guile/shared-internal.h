/* shared-internal.h — shared objects in the Guile extension. This file is
 * private.
 *
 * shared.c makes Scheme values of the runtime's shared objects (par/shm.h)
 * and the primitives that make them; shared-store.c puts values into
 * dicts and lists and reads them out; shared-containers.c defines the
 * primitives over dicts and lists; shared-wire.c is how shared objects
 * travel in the wire format, as handles. A shared vector is a
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

/* --- Between the files of shared objects --------------------------------- */

/* Raise the runtime error RC of a shared-memory call, from WHO. */
SCM_NORETURN void par__shared_fail(const char *who, int rc);

/* Raise an error from WHO unless (parallelizer shared) is loaded. */
void par__shared_require_types(const char *who);

/* The runtime's element type (or PAR_SHM_BYTES) of Guile element type T. */
int par__shared_etype(const par_scm_etype *t);

/* Whether X, over vector SH, is the value the object itself has. */
bool par__shared_whole_view(SCM x, const par_scm_shared *sh);

/* The element type of X if it is a numeric vector or array, else NULL. */
const par_scm_etype *par__shared_numeric_etype(SCM x);

/* A new shared object in A holding what X holds (a hash table, a list, a
 * numeric vector or array, or a shared object of another arena or a part
 * of a vector); DEPTH is its nesting, WHO raises the errors. */
SCM par__shared_into(par_shm_arena *a, SCM x, const char *who, int depth);

/* A value on its way into a dict or a list. */
typedef struct par_scm_staged {
  par_shm_value value;
  par_wbuf buf; /* the encoding of an encoded value */
  SCM keep;     /* the shared object of an object value */
} par_scm_staged;

/* Make S ready to store X in arena A. Inside a dynwind, which frees what
 * S owns when it ends. */
void par__shared_stage(par_shm_arena *a, SCM x, par_scm_staged *s,
                       const char *who, int depth);

/* Append the encoding of X to BUF, shared objects inside X by value. */
void par__shared_encode_by_value(SCM x, par_wbuf *buf, const char *who);

/* KEY encoded by value into K, which the current dynwind frees. */
void par__shared_encode_key(SCM key, par_wbuf *k, const char *who);

/* The Scheme value of V, read from arena A; V is emptied, whatever
 * happens. */
SCM par__shared_read(par_shm_arena *a, par_shm_value *v, const char *who);

/* Items read out of a dict or a list, to free once made Scheme values. */
typedef struct par_scm_items {
  par_shm_arena *arena;
  par_shm_item *items;
  size_t n;
} par_scm_items;

/* The items of IT as a list of (KEY . VALUE), or of values when not
 * KEYED. Inside a dynwind, which frees the items when it ends. */
SCM par__shared_items_list(par_scm_items *it, bool keyed, const char *who);

/* How many locks of dicts and lists this thread holds. */
int par__shared_locks_held(void);

void par_scm_init_shared_containers(void);

void par_scm_init_shared(void);

#endif /* PAR_SHARED_INTERNAL_H */
