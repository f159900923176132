/* wire-encode-array.c — numeric vectors and arrays to CBOR.
 *
 * A numeric vector goes as an RFC 8746 typed array: its head, then its
 * elements with one memcpy (the head of a vector that is the whole message
 * is padded so that the elements start aligned, for a receiver that keeps
 * them where they arrive). A large one sent to a forked group goes as a
 * memory segment (mp-segment.h) instead. Arrays of other shapes go as
 * RFC 8746 ndarrays in row-major order, their elements typed or, for
 * arrays of Scheme values, encoded one by one.
 */
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <cbor.h>

#include "mp-segment.h"
#include "wire-encode-internal.h"

/* Head of a 1-D numeric vector of NBYTES bytes whose elements are TYPE:
 * a plain byte string for bytevectors, a typed-array tag otherwise, and
 * the complex-vector tag around it for c32/c64. */
void
par__enc_uniform_head(struct enc *e, const par_scm_etype *type, size_t nbytes,
                 bool align)
{
  if (align && nbytes >= TAKE_THRESHOLD && nbytes <= UINT32_MAX
      && type->tag != 0) {
    /* A large vector that is the whole message gets a head of exactly 8
     * (16 for complex) bytes, by writing the tag and the length in longer
     * forms than needed, which CBOR allows: its elements then start
     * aligned wherever the message does, and the receiver can keep them
     * where they arrived instead of copying them (par_scm_decode_msg). */
    uint8_t *p = reserve(e, 16);
    size_t n = 0;

    if (type->complex) {
      p[n++] = 0xda;
      for (int shift = 24; shift >= 0; shift -= 8) {
        p[n++] = (uint8_t) (PTAG_COMPLEX_VECTOR >> shift);
      }
      p[n++] = 0xd8;
      p[n++] = (uint8_t) type->tag;
      p[n++] = 0x5b;
      for (int shift = 56; shift >= 0; shift -= 8) {
        p[n++] = (uint8_t) ((uint64_t) nbytes >> shift);
      }
    } else {
      p[n++] = 0xd9;
      p[n++] = (uint8_t) (type->tag >> 8);
      p[n++] = (uint8_t) type->tag;
      p[n++] = 0x5a;
      for (int shift = 24; shift >= 0; shift -= 8) {
        p[n++] = (uint8_t) (nbytes >> shift);
      }
    }
    e->out->len += n;
    return;
  }
  if (type->complex) {
    PUT(e, cbor_encode_tag, PTAG_COMPLEX_VECTOR);
  }
  if (type->tag != 0) {
    PUT(e, cbor_encode_tag, type->tag);
  }
  PUT(e, cbor_encode_bytestring_start, nbytes);
}

__thread int par__wire_segments;

/* When the message goes to processes of a forked group (par__wire_segments)
 * and the NBYTES bytes at DATA, elements of TYPE, are enough to pay for a
 * memory segment (mp-segment.h), put them in one and append its handle
 * instead of them; return whether it was done. The segment belongs to the
 * calling primitive's batch, which sends or closes it. */
bool
par__enc_segment(struct enc *e, const par_scm_etype *type, const void *data,
            size_t nbytes)
{
  par__seg_id id;
  int rc;

  if (!par__wire_segments || nbytes < PAR__SEG_MIN_BYTES) {
    return false;
  }
  rc = par__seg_create(data, nbytes, &id);
  if (rc != PAR_OK) {
    par_scm_throw_failure(e->who, rc, par__seg_error_detail());
  }
  PUT(e, cbor_encode_tag, PTAG_SEGMENT);
  PUT(e, cbor_encode_array_start, 7);
  PUT(e, cbor_encode_uint, type->tag);
  PUT(e, cbor_encode_bool, type->complex);
  PUT(e, cbor_encode_uint, (uint64_t) id.pid);
  PUT(e, cbor_encode_uint, (uint64_t) id.fd);
  PUT(e, cbor_encode_uint, id.ino);
  PUT(e, cbor_encode_uint, id.len);
  PUT(e, cbor_encode_uint, id.gen);
  return true;
}

/* Refuse to send the array X, found at AT, whose size in elements or, if
 * BYTES, in bytes does not fit a size_t. */
static void
too_big(struct enc *e, SCM x, bool bytes, const struct where *at)
{
  par_scm_throw(e->who, PAR_ETOOBIG,
                "cannot send an array of dimensions ~a, found at ~a: it has "
                "more ~a than a message can hold",
                scm_list_3(scm_array_dimensions(x),
                           par__enc_describe_where(at),
                           scm_from_utf8_string(bytes ? "bytes"
                                                      : "elements")));
}

/* The number of elements of dimension K of H. Guile keeps the bounds of
 * a dimension within a long, but not their difference. */
static bool
dim_length(scm_t_array_handle *h, size_t k, size_t *len)
{
  scm_t_array_dim *dim = &scm_array_handle_dims(h)[k];
  ssize_t n;

  if (__builtin_sub_overflow(dim->ubnd, dim->lbnd, &n)
      || __builtin_add_overflow(n, 1, &n)) {
    return false;
  }
  *len = n > 0 ? (size_t) n : 0;
  return true;
}

/* The number of elements of the array X behind H, found at AT: the
 * product of its dimensions, which is refused when it overflows. An
 * array with an empty dimension is empty, however long the others. */
static size_t
array_count(struct enc *e, SCM x, scm_t_array_handle *h,
            const struct where *at)
{
  size_t count = 1, k, rank = scm_array_handle_rank(h), len;
  bool empty = false;

  for (k = 0; k < rank; k++) {
    if (!dim_length(h, k, &len)) {
      too_big(e, x, false, at);
    }
    empty = empty || len == 0;
  }
  for (k = 0; k < rank && !empty; k++) {
    dim_length(h, k, &len);
    if (__builtin_mul_overflow(count, len, &count)) {
      too_big(e, x, false, at);
    }
  }
  return empty ? 0 : count;
}

/* Whether the elements behind H lie contiguously in row-major order. Its
 * number of elements has been checked by array_count, so that the
 * strides below cannot overflow. */
static bool
array_row_major(scm_t_array_handle *h)
{
  size_t rank = scm_array_handle_rank(h), k;
  scm_t_array_dim *dims = scm_array_handle_dims(h);
  ssize_t stride = 1;

  for (k = rank; k-- > 0;) {
    ssize_t len = dims[k].ubnd - dims[k].lbnd + 1;
    if (len > 1 && dims[k].inc != stride) {
      return false;
    }
    stride *= len > 0 ? len : 0;
  }
  return true;
}

/* Offsets (in elements, from the handle's base) of every element in
 * row-major order are produced by an odometer over the indices. */
struct odometer {
  size_t rank;
  scm_t_array_dim *dims;
  ssize_t idx[PAR_WIRE_MAX_RANK];
  ssize_t offset;
};

/* Start O at the first element of H, whose rank encode_array has checked
 * against PAR_WIRE_MAX_RANK. */
static void
odometer_init(struct odometer *o, scm_t_array_handle *h)
{
  size_t k;

  o->rank = scm_array_handle_rank(h);
  o->dims = scm_array_handle_dims(h);
  o->offset = 0;
  for (k = 0; k < o->rank; k++) {
    o->idx[k] = 0;
  }
}

static void
odometer_next(struct odometer *o)
{
  size_t k;

  for (k = o->rank; k-- > 0;) {
    ssize_t len = o->dims[k].ubnd - o->dims[k].lbnd + 1;
    if (++o->idx[k] < len) {
      o->offset += o->dims[k].inc;
      return;
    }
    o->offset -= (len - 1) * o->dims[k].inc;
    o->idx[k] = 0;
  }
}

/* The COUNT elements of ELSIZE bytes each of the uniform array X behind
 * H, found at AT, copied row-major after their head. */
static void
put_uniform_elements(struct enc *e, SCM x, scm_t_array_handle *h,
                     size_t count, const par_scm_etype *type,
                     const struct where *at)
{
  const uint8_t *base = scm_array_handle_uniform_elements(h);
  size_t elsize = type->size, nbytes, i;
  struct odometer o;
  uint8_t *p;

  /* Beyond PTRDIFF_MAX no buffer can hold the bytes, and the offsets of
   * the copy below would overflow. */
  if (__builtin_mul_overflow(count, elsize, &nbytes)
      || nbytes > PTRDIFF_MAX) {
    too_big(e, x, true, at);
  }
  if (array_row_major(h) && par__enc_segment(e, type, base, nbytes)) {
    return;
  }
  par__enc_uniform_head(e, type, nbytes, false);
  p = reserve(e, nbytes);
  if (array_row_major(h)) {
    if (count > 0) {
      memcpy(p, base, nbytes);
    }
  } else {
    odometer_init(&o, h);
    for (i = 0; i < count; i++, odometer_next(&o)) {
      memcpy(p + i * elsize, base + o.offset * (ssize_t) elsize, elsize);
    }
  }
  e->out->len += nbytes;
}

static void
put_scm_elements(struct enc *e, scm_t_array_handle *h, size_t count,
                 int depth, const struct where *at)
{
  const SCM *base = scm_array_handle_elements(h);
  struct odometer o;
  struct where here = {at, IN_ARRAY, 0};
  size_t i;

  odometer_init(&o, h);
  PUT(e, cbor_encode_array_start, count);
  /* Every element takes a byte at least: an array too large for memory
   * fails here at once, not once it has filled memory. */
  reserve(e, count);
  for (i = 0; i < count; i++, odometer_next(&o)) {
    here.index = i;
    par__enc_value(e, base[o.offset], depth + 1, &here);
  }
}

/* An array that is not a plain vector: shared, strided, multi-dimensional
 * or with non-zero lower bounds. */
void
par__enc_array(struct enc *e, SCM x, int depth, const struct where *at)
{
  scm_t_array_handle h;
  const par_scm_etype *type;
  size_t rank, count, k;
  scm_t_array_dim *dims;
  bool offset = false;

  scm_array_get_handle(x, &h);
  type = par_scm_etype_of(h.element_type);
  if (type == NULL && h.element_type != SCM_ARRAY_ELEMENT_TYPE_SCM) {
    scm_array_handle_release(&h);
    par__enc_unsendable(e, x, at);
    return;
  }
  rank = scm_array_handle_rank(&h);
  dims = scm_array_handle_dims(&h);
  if (rank > PAR_WIRE_MAX_RANK) {
    scm_array_handle_release(&h);
    par_scm_throw(e->who, PAR_EINVAL,
                  "cannot send an array of rank ~a, found at ~a: the wire "
                  "format carries at most ~a dimensions",
                  scm_list_3(scm_from_size_t(rank),
                             par__enc_describe_where(at),
                             scm_from_int(PAR_WIRE_MAX_RANK)));
  }
  count = array_count(e, x, &h, at);
  for (k = 0; k < rank; k++) {
    offset = offset || dims[k].lbnd != 0;
  }
  if (offset) {
    PUT(e, cbor_encode_tag, PTAG_LOWER_BOUNDS);
    PUT(e, cbor_encode_array_start, 2);
    PUT(e, cbor_encode_array_start, rank);
    for (k = 0; k < rank; k++) {
      put_int64(e, dims[k].lbnd);
    }
  }
  if (rank != 1) {
    PUT(e, cbor_encode_tag, TAG_NDARRAY);
    PUT(e, cbor_encode_array_start, 2);
    PUT(e, cbor_encode_array_start, rank);
    for (k = 0; k < rank; k++) {
      size_t len = 0;

      dim_length(&h, k, &len); /* checked by array_count */
      PUT(e, cbor_encode_uint, (uint64_t) len);
    }
  } else if (type == NULL) {
    /* A rank-1 array goes as the plain vector of its elements. */
    PUT(e, cbor_encode_tag, PTAG_VECTOR);
  }
  if (type == NULL) {
    put_scm_elements(e, &h, count, depth, at);
  } else {
    put_uniform_elements(e, x, &h, count, type, at);
  }
  scm_array_handle_release(&h);
}
