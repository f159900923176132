/* wire.h — the wire format: Scheme values to CBOR and back. This file is
 * private to the Guile extension.
 *
 * Every message between processes is one CBOR data item (RFC 8949) built
 * from a Scheme value by par_scm_encode and turned back into an equal value
 * by par_scm_decode. doc/wire-format.texi describes the format, its tags
 * and its limits.
 *
 * The functions below are exported from the extension (PAR_EXTERN) so that
 * the C tests and an embedding application can call the codec directly;
 * they are not part of the installed C API.
 */
#ifndef PAR_WIRE_H
#define PAR_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <libguile.h>

#include "parallelizer.h"

#include "par/common.h"

/* An output buffer that grows as bytes are appended. DATA is malloc'ed and
 * owned by the buffer until par_wbuf_free; LEN bytes of it are in use, CAP
 * allocated. A buffer that starts as PAR_WBUF_INIT needs no other setup. */
typedef struct par_wbuf {
  uint8_t *data;
  size_t len;
  size_t cap;
} par_wbuf;

#define PAR_WBUF_INIT {NULL, 0, 0}

/* Free the memory BUF owns and reset it to empty. BUF may be NULL. */
PAR_EXTERN void par_wbuf_free(par_wbuf *buf);

/* The deepest nesting of containers (lists, vectors, maps, tags...) that
 * the encoder writes and the decoder accepts. */
#define PAR_WIRE_MAX_DEPTH 1024

/* The largest rank of an array that the encoder writes and the decoder
 * accepts. */
#define PAR_WIRE_MAX_RANK 64

/* The decoder's bound: decoding a message of LEN bytes costs at most
 * PAR_WIRE_BUDGET_PER_BYTE * LEN + PAR_WIRE_BUDGET_BASE units, a unit
 * being a byte of memory allocated for the value or a byte of a map key
 * compared with another key of the same hash (see doc/wire-format.texi,
 * "Limits", for the cost of each kind of item). */
#define PAR_WIRE_BUDGET_PER_BYTE 64
#define PAR_WIRE_BUDGET_BASE ((size_t) 16 << 20)

/* Append the CBOR encoding of VALUE to OUT. Raises parallelizer-error from
 * WHO for an unsendable value (EINVAL), naming it and its position
 * ("element 3 of a list inside a vector"), for an array whose size in
 * elements or bytes does not fit a size_t (ETOOBIG), or when memory is
 * short (ENOMEM); nothing is sent. On such a non-local exit OUT still owns its
 * memory (possibly with a partial encoding appended): callers protect it
 * with scm_dynwind_unwind_handler. */
PAR_EXTERN void par_scm_encode(SCM value, par_wbuf *out, const char *who);

/* Decode exactly one value occupying all of DATA/LEN. Raises
 * parallelizer-error from WHO on malformed input (EMALFORMED), for a
 * record type or a parallelizer that this process cannot make (ENOENT),
 * for a value that would cost more than the bound above (ETOOBIG) and
 * when memory is short (ENOMEM); never crashes and never leaks. DATA is
 * only borrowed: the value shares no memory with it. */
PAR_EXTERN SCM par_scm_decode(const void *data, size_t len,
                              const char *who);

/* Decode the message MSG as par_scm_decode would. When the message is one
 * large numeric vector (as a vector that is a whole message is encoded)
 * whose elements are aligned where they arrived, the vector takes over the
 * message's memory instead of copying it, and MSG is left empty; either
 * way the caller still releases MSG. */
SCM par_scm_decode_msg(par_msg *msg, const char *who);

/* Hooks set from Scheme by the (parallelizer) module, through
 * %wire-set-parallelizer-hooks!: values whose struct vtable is RTD travel
 * as a content-less tag, and decoding that tag calls THUNK, which returns
 * the receiving process's current parallelizer. */
PAR_EXTERN void par_scm_wire_set_parallelizer_hooks(SCM rtd, SCM thunk);

#endif /* PAR_WIRE_H */
