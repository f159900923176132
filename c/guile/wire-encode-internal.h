/* wire-encode-internal.h — what the files of the encoder share. This
 * file is private.
 *
 * wire-encode.c walks a value; wire-encode-array.c writes numeric vectors
 * and arrays (typed-array tags, memory segments, the ndarray form). Both
 * append to the buffer of a struct enc through reserve and PUT.
 */
#ifndef PAR_WIRE_ENCODE_INTERNAL_H
#define PAR_WIRE_ENCODE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cbor.h>

#include "wire-internal.h"

/* Where the value being encoded sits, innermost first, for error
 * messages. Frames live on the C stack of the recursion. */
enum where_kind {
  IN_LIST,
  IN_TAIL,
  IN_VECTOR,
  IN_ARRAY,
  IN_KEY,
  IN_VALUE,
  IN_FIELD,
  IN_ERROR,
  IN_PART
};

struct where {
  const struct where *up;
  enum where_kind kind;
  size_t index;
};

struct enc {
  par_wbuf *out;
  const char *who;
  /* Inside an error description, unsendable objects are replaced by their
   * printed form so that a worker's error always reaches the main
   * process. */
  int lenient;
};

/* Make room for N more bytes in BUF. Returns 0, or -1 when memory is short,
 * in which case BUF is unchanged. */
int par__wbuf_grow(par_wbuf *buf, size_t n);

/* Raise the error of an encoding that ran out of memory. */
SCM_NORETURN void par__enc_out_of_memory(struct enc *e);

/* Room for N more bytes at the end of E's buffer; the caller adds what it
 * writes there to the buffer's length. */
static inline uint8_t *
reserve(struct enc *e, size_t n)
{
  if (e->out->cap - e->out->len < n && par__wbuf_grow(e->out, n) != 0) {
    par__enc_out_of_memory(e);
  }
  return e->out->data + e->out->len;
}

/* Append one item head with a libcbor encoder primitive. */
#define PUT(e, call, ...)                                                   \
  do {                                                                      \
    uint8_t *p_ = reserve((e), 9);                                          \
    (e)->out->len += call(__VA_ARGS__, p_, 9);                              \
  } while (0)
#define PUT0(e, call)                                                       \
  do {                                                                      \
    uint8_t *p_ = reserve((e), 9);                                          \
    (e)->out->len += call(p_, 9);                                           \
  } while (0)

/* Append integer V, whose head is the whole item. */
static inline void
put_int64(struct enc *e, int64_t v)
{
  if (v >= 0) {
    PUT(e, cbor_encode_uint, (uint64_t) v);
  } else {
    PUT(e, cbor_encode_negint, (uint64_t) (-1 - v));
  }
}

/* Append value X, found at AT, DEPTH levels deep (wire-encode.c). */
void par__enc_value(struct enc *e, SCM x, int depth, const struct where *at);

/* Where AT is, as text for an error message. */
SCM par__enc_describe_where(const struct where *at);

/* Refuse X, found at AT (or, inside an error description, append its
 * printed form). */
void par__enc_unsendable(struct enc *e, SCM x, const struct where *at);

/* (wire-encode-array.c) Append the head of a 1-D numeric vector of NBYTES
 * bytes of TYPE; ALIGN when it is the whole message, so that its elements
 * start aligned. */
void par__enc_uniform_head(struct enc *e, const par_scm_etype *type,
                           size_t nbytes, bool align);

/* If the message goes to a forked group and NBYTES at DATA pay for a
 * memory segment, append its handle instead of them and return true. */
bool par__enc_segment(struct enc *e, const par_scm_etype *type,
                      const void *data, size_t nbytes);

/* Append array X (not a bytevector), found at AT. */
void par__enc_array(struct enc *e, SCM x, int depth, const struct where *at);

#endif /* PAR_WIRE_ENCODE_INTERNAL_H */
