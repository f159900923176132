/* wire-decode-array.c — numeric vectors and arrays from CBOR.
 *
 * A numeric vector is a byte string (a bytevector), an RFC 8746 typed
 * array (an SRFI-4 vector) or our complex-vector tag around a float typed
 * array (c32, c64); its bytes are copied once, byte-swapped only when the
 * sender's byte order differs from ours, and a large vector that is a
 * whole message is not copied at all. Arrays are RFC 8746's tag 40, with
 * our tag for lower bounds around them. Element types come from
 * element-types.c.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "large-alloc.h"
#include "mp-segment.h"
#include "shared-internal.h"
#include "wire-internal.h"

/* The payload of a numeric vector, not yet copied anywhere. */
struct payload {
  const par_scm_etype *type;
  bool swap;      /* In the other byte order than this host's. */
  size_t count;   /* Elements. */
  const uint8_t *data;
  size_t n;       /* Bytes. */
};

/* Read a numeric vector that starts with head H (already read): a byte
 * string, a typed-array tag or the complex-vector tag. */
static void
read_payload(struct dec *d, struct head *h, struct payload *p)
{
  bool complex = false;
  size_t at = h->at;

  p->type = par_scm_etype_bytevector();
  p->swap = false;
  if (h->kind == H_TAG && h->u == PTAG_COMPLEX_VECTOR) {
    complex = true;
    par__wire_read_head(d, h);
    if (h->kind != H_TAG
        || par_scm_etype_of_tag(h->u, true, &p->swap) == NULL) {
      par__wire_fail(d, h->at, "a complex vector must hold a float32 or "
                     "float64 typed array");
    }
  }
  if (h->kind == H_TAG) {
    uint64_t tag = h->u;

    p->type = par_scm_etype_of_tag(tag, complex, &p->swap);
    if (p->type == NULL) {
      par__wire_fail(d, h->at, "typed array tag %" PRIu64 " is not "
                     "supported", tag);
    }
    par__wire_read_head(d, h);
    if (h->kind != H_BYTES) {
      par__wire_fail(d, h->at, "the content of typed array tag %" PRIu64
                     " must be a byte string", tag);
    }
  }
  if (h->n % p->type->size != 0) {
    par__wire_fail(d, at, "typed array of %zu bytes is not a whole number "
                   "of %zu-byte elements", h->n, p->type->size);
  }
  p->count = h->n / p->type->size;
  p->data = h->data;
  p->n = h->n;
}

/* Copy P's bytes to DST, in this host's byte order. */
static void
copy_payload(void *dst, const struct payload *p)
{
  size_t i;

  if (p->n == 0) {
    return;
  }
  memcpy(dst, p->data, p->n);
  if (!p->swap) {
    return;
  }
  switch (p->type->unit) {
  case 2:
    for (i = 0; i < p->n / 2; i++) {
      ((uint16_t *) dst)[i] = __builtin_bswap16(((uint16_t *) dst)[i]);
    }
    break;
  case 4:
    for (i = 0; i < p->n / 4; i++) {
      ((uint32_t *) dst)[i] = __builtin_bswap32(((uint32_t *) dst)[i]);
    }
    break;
  case 8:
    for (i = 0; i < p->n / 8; i++) {
      ((uint64_t *) dst)[i] = __builtin_bswap64(((uint64_t *) dst)[i]);
    }
    break;
  default:
    break;
  }
}

bool
par__wire_is_vector_head(const struct head *h)
{
  return h->kind == H_BYTES
         || (h->kind == H_TAG
             && ((h->u >= TAG_TYPED_FIRST && h->u <= TAG_TYPED_LAST)
                 || h->u == PTAG_COMPLEX_VECTOR));
}

/* A fresh numeric vector holding P: allocated without being cleared and
 * filled with one memcpy. */
static SCM
payload_vector(struct dec *d, const struct payload *p, size_t at)
{
  SCM v;

  par__wire_charge(d, par__wire_cost(p->n, 1, COST_BYTEVECTOR), at);
  if (p->n >= TAKE_THRESHOLD) {
    /* Big vectors live in malloc'ed memory that the vector owns through a
     * finalized pointer: the C allocator recycles such blocks without
     * touching fresh pages, where the collector's large blocks are often
     * unmapped and faulted in again; a block of par__malloc_large faults
     * its fresh pages in 2 MiB at a time. The collector is told of the
     * memory so that it still runs often enough to free it. */
    void *mem = par__malloc_large(p->n);
    if (mem == NULL) {
      par_scm_throw(d->who, PAR_ENOMEM,
                    "out of memory for a vector of ~a bytes",
                    scm_list_1(scm_from_size_t(p->n)));
    }
    copy_payload(mem, p);
    v = scm_pointer_to_bytevector(scm_from_pointer(mem, free),
                                  scm_from_size_t(p->count), SCM_INUM0,
                                  p->type->symbol);
    scm_gc_register_allocation(p->n);
    return v;
  }
  if (p->type == par_scm_etype_bytevector()) {
    v = scm_c_make_bytevector(p->count);
  } else {
    v = scm_make_srfi_4_vector(p->type->symbol, scm_from_size_t(p->count),
                               SCM_UNDEFINED);
  }
  copy_payload(SCM_BYTEVECTOR_CONTENTS(v), p);
  return v;
}

SCM
par__wire_decode_vector(struct dec *d, struct head *h)
{
  struct payload p;
  size_t at = h->at;

  read_payload(d, h, &p);
  return payload_vector(d, &p, at);
}

/* --- Memory segments --------------------------------------------------- */

static uint64_t
segment_uint(struct dec *d, const char *what)
{
  struct head h;

  par__wire_read_head(d, &h);
  if (h.kind != H_UINT) {
    par__wire_fail(d, h.at, "%s of a memory segment must be an unsigned "
                   "integer", what);
  }
  return h.u;
}

/* The numeric vector of the segment whose tag was at AT (the rest of the
 * handle is next in D), over a copy-on-write mapping of it that the
 * vector's pointer object unmaps when it is collected. */
static SCM
segment_vector(struct dec *d, size_t at)
{
  const par_scm_etype *type;
  struct head h;
  par__seg_id id;
  uint64_t tag, pid, fd;
  bool complex, swap = false;
  void *data;
  int rc;

  par__wire_expect_array(d, 7, "a memory segment must be [tag, complex, "
                         "process, descriptor, inode, bytes, generation]");
  tag = segment_uint(d, "the element type");
  par__wire_read_head(d, &h);
  if (h.kind != H_BOOL) {
    par__wire_fail(d, h.at, "a memory segment's complex flag must be a "
                   "boolean");
  }
  complex = h.u != 0;
  pid = segment_uint(d, "the process");
  fd = segment_uint(d, "the descriptor");
  id.ino = segment_uint(d, "the inode");
  id.len = segment_uint(d, "the length");
  id.gen = segment_uint(d, "the generation");
  if (!par__wire_segments) {
    par__wire_fail(d, at, "a memory segment can only arrive in a message "
                   "between the processes of a group");
  }
  type = tag == 0 && !complex ? par_scm_etype_bytevector()
                              : par_scm_etype_of_tag(tag, complex, &swap);
  if (type == NULL || swap || pid > INT32_MAX || fd > INT32_MAX
      || id.len % type->size != 0 || id.len > SIZE_MAX / 2) {
    par__wire_fail(d, at, "malformed memory segment");
  }
  par__wire_charge(d, COST_BYTEVECTOR, at);
  id.pid = (int32_t) pid;
  id.fd = (int32_t) fd;
  rc = par__seg_map(&id, &data);
  if (rc == PAR_EMALFORMED) {
    par__wire_fail(d, at, "%s", par__seg_error_detail());
  }
  if (rc != PAR_OK) {
    par_scm_throw_failure(d->who, rc, par__seg_error_detail());
  }
  /* The collector is told of the mapping so that it runs, and unmaps
   * vectors nobody holds, about as often as if they were its own. */
  scm_gc_register_allocation((size_t) id.len);
  return scm_pointer_to_bytevector(scm_from_pointer(data, par__seg_unmap),
                                   scm_from_size_t((size_t) id.len
                                                   / type->size),
                                   SCM_INUM0, type->symbol);
}

SCM
par__wire_decode_segment(struct dec *d, size_t at)
{
  return segment_vector(d, at);
}

/* The array of BOUNDS (lengths, or (lower upper) lists) holding COUNT
 * elements, over the vector of the segment whose tag was at AT. */
static SCM
segment_array(struct dec *d, size_t at, SCM bounds, size_t count)
{
  SCM v = segment_vector(d, at), list = SCM_EOL;

  if (scm_c_array_length(v) != count) {
    par__wire_fail(d, at, "array of %zu elements holds %zu", count,
                   scm_c_array_length(v));
  }
  for (; scm_is_pair(bounds); bounds = scm_cdr(bounds)) {
    SCM b = scm_car(bounds);

    list = scm_cons(scm_is_pair(b) ? b
                                   : scm_list_2(SCM_INUM0,
                                                scm_oneminus(b)),
                    list);
  }
  return par__shared_array_view(v, scm_reverse_x(list, SCM_EOL));
}

/* The uniform array of P's elements and type, of bounds BOUNDS (as for
 * make-typed-array). */
static SCM
payload_array(struct dec *d, const struct payload *p, SCM bounds, size_t at)
{
  SCM array;
  scm_t_array_handle h;

  par__wire_charge(d, par__wire_cost(p->n, 1, COST_ARRAY), at);
  array = scm_make_typed_array(p->type->symbol, SCM_UNDEFINED, bounds);
  scm_array_get_handle(array, &h);
  copy_payload(scm_array_handle_uniform_writable_elements(&h), p);
  scm_array_handle_release(&h);
  return array;
}

/* The bounds (LBND UBND) of a dimension of LEN elements from LBND. */
static SCM
bounds_from(int64_t lbnd, uint64_t len)
{
  return scm_list_2(scm_from_int64(lbnd),
                    scm_from_int64(lbnd + (int64_t) len - 1));
}

/* A fresh array of SCM values filled from the vector V, of bounds BOUNDS
 * (as for make-array), which starts at byte AT of D's message. */
static SCM
vector_array(struct dec *d, SCM v, SCM bounds, size_t at)
{
  SCM array;
  scm_t_array_handle h;
  SCM *elts;

  par__wire_charge(d, par__wire_cost(scm_c_vector_length(v), 8, COST_ARRAY),
                   at);
  array = scm_make_typed_array(SCM_BOOL_T, SCM_UNSPECIFIED, bounds);
  scm_array_get_handle(array, &h);
  elts = scm_array_handle_writable_elements(&h);
  for (size_t i = 0; i < scm_c_vector_length(v); i++) {
    elts[i] = SCM_SIMPLE_VECTOR_REF(v, i);
  }
  scm_array_handle_release(&h);
  return array;
}

/* The dimensions [d0, d1...] of tag 40 as make-array's bounds, from the
 * lower bounds LBNDS (NLBNDS of them) or from 0 if LBNDS is NULL; the
 * number of elements they hold goes to *COUNT.
 *
 * The array is charged for its shape: 16 units (a pair) for each element
 * of the product of its dimensions up to the first empty one. For an
 * array that holds elements that is their number; one that holds none is
 * cheap to send but not always to walk: array->list of an array of 2^62
 * rows of nothing makes 2^62 empty lists. */
static SCM
read_dimensions(struct dec *d, const int64_t *lbnds, size_t nlbnds,
                size_t *count)
{
  struct head h;
  uint64_t lens[PAR_WIRE_MAX_RANK];
  SCM dims = SCM_EOL;
  size_t shape = 1, rank, at = d->pos;
  bool empty = false;

  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY) {
    par__wire_fail(d, h.at, "the dimensions of an array must be an array");
  }
  if (h.n > PAR_WIRE_MAX_RANK) {
    par__wire_fail(d, h.at, "an array of rank %zu: the format carries at "
                   "most %d dimensions", h.n, PAR_WIRE_MAX_RANK);
  }
  if (lbnds != NULL && h.n != nlbnds) {
    par__wire_fail(d, h.at, "an array of rank %zu has %zu lower bounds",
                   h.n, nlbnds);
  }
  rank = h.n;
  *count = 1;
  for (size_t k = 0; k < rank; k++) {
    par__wire_read_head(d, &h);
    if (h.kind != H_UINT || h.u > (uint64_t) (LONG_MAX / 2)) {
      par__wire_fail(d, h.at, "an array dimension must be an unsigned "
                     "integer below 2^62");
    }
    if (h.u != 0 && *count > SIZE_MAX / h.u) {
      par__wire_fail(d, h.at, "array dimensions overflow");
    }
    *count *= h.u;
    /* Past an empty dimension nothing more is walked. */
    if (h.u == 0) {
      empty = true;
    } else if (!empty) {
      shape = par__wire_cost(shape, (size_t) h.u, 0);
    }
    lens[k] = h.u;
  }
  par__wire_charge(d, par__wire_cost(shape, COST_PAIR,
                                     COST_DIMENSION * rank),
                   at);
  for (size_t k = rank; k-- > 0;) {
    dims = scm_cons(lbnds != NULL ? bounds_from(lbnds[k], lens[k])
                                  : scm_from_uint64(lens[k]),
                    dims);
  }
  return dims;
}

SCM
par__wire_decode_ndarray(struct dec *d, int depth, size_t at,
                         const int64_t *lbnds, size_t nlbnds)
{
  struct head h;
  size_t count;
  SCM bounds, v;

  par__wire_expect_array(d, 2, "the content of tag 40 must be "
                         "[dimensions, elements]");
  bounds = read_dimensions(d, lbnds, nlbnds, &count);
  par__wire_read_head(d, &h);
  if (h.kind == H_TAG && h.u == PTAG_SEGMENT) {
    return segment_array(d, h.at, bounds, count);
  }
  if (par__wire_is_vector_head(&h)) {
    struct payload p;

    read_payload(d, &h, &p);
    if (p.count != count) {
      par__wire_fail(d, at, "array of %zu elements holds %zu", count,
                     p.count);
    }
    return payload_array(d, &p, bounds, at);
  }
  if (h.kind != H_ARRAY) {
    par__wire_fail(d, h.at, "the elements of an array must be an array or "
                   "a typed array");
  }
  if (h.n != count) {
    par__wire_fail(d, h.at, "array of %zu elements holds %zu", count, h.n);
  }
  /* The shape has paid for this vector (read_dimensions). */
  v = scm_c_make_vector(count, SCM_UNSPECIFIED);
  for (size_t i = 0; i < count; i++) {
    SCM_SIMPLE_VECTOR_SET(v, i, par__wire_decode(d, depth + 1));
  }
  return vector_array(d, v, bounds, at);
}

SCM
par__wire_decode_lower_bounds(struct dec *d, int depth, size_t at)
{
  struct head h;
  int64_t lbnds[PAR_WIRE_MAX_RANK];
  size_t rank;

  par__wire_expect_array(d, 2, "lower bounds must be [bounds, array]");
  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY || h.n > PAR_WIRE_MAX_RANK) {
    par__wire_fail(d, h.at, "lower bounds must be an array of at most %d "
                   "integers", PAR_WIRE_MAX_RANK);
  }
  rank = h.n;
  for (size_t k = 0; k < rank; k++) {
    par__wire_read_head(d, &h);
    /* Bounds stay within +-2^61 so that bound + length fits a long. */
    if (h.kind == H_UINT && h.u < ((uint64_t) 1 << 61)) {
      lbnds[k] = (int64_t) h.u;
    } else if (h.kind == H_NEGINT && h.u < ((uint64_t) 1 << 61)) {
      lbnds[k] = -1 - (int64_t) h.u;
    } else {
      par__wire_fail(d, h.at, "a lower bound must be an integer within "
                     "+-2^61");
    }
  }
  par__wire_read_head(d, &h);
  if (h.kind == H_TAG && h.u == TAG_NDARRAY) {
    return par__wire_decode_ndarray(d, depth + 1, h.at, lbnds, rank);
  }
  if (rank != 1) {
    par__wire_fail(d, h.at, "%zu lower bounds for a one-dimensional array",
                   rank);
  }
  if (h.kind == H_TAG && h.u == PTAG_SEGMENT) {
    SCM v = segment_vector(d, h.at);

    return par__shared_array_view(
        v, scm_list_1(bounds_from(lbnds[0], scm_c_array_length(v))));
  }
  if (par__wire_is_vector_head(&h)) {
    struct payload p;

    read_payload(d, &h, &p);
    return payload_array(d, &p, scm_list_1(bounds_from(lbnds[0], p.count)),
                         at);
  }
  if (h.kind == H_TAG && h.u == PTAG_VECTOR) {
    SCM v;

    d->pos = h.at;
    v = par__wire_decode(d, depth + 1);
    return vector_array(d, v,
                        scm_list_1(bounds_from(lbnds[0],
                                               scm_c_vector_length(v))),
                        at);
  }
  par__wire_fail(d, at, "lower bounds must apply to an array or a vector");
}

SCM
par__wire_vector_in_place(par_msg *msg, const char *who)
{
  /* Nothing is decoded here but the vector's head: no budget. */
  struct dec d = {msg->data, msg->len, 0, who, NULL, SIZE_MAX};
  struct head h;
  struct payload p;
  void *block;

  if (msg->len == 0) {
    return SCM_BOOL_F;
  }
  par__wire_read_head(&d, &h);
  if (!par__wire_is_vector_head(&h)) {
    return SCM_BOOL_F;
  }
  read_payload(&d, &h, &p);
  if (d.pos != d.len || p.swap || p.n < TAKE_THRESHOLD
      || p.type == par_scm_etype_bytevector()
      || (uintptr_t) p.data % (p.type->size > 8 ? 8 : p.type->size) != 0) {
    return SCM_BOOL_F;
  }
  block = par_msg_steal(msg);
  if (block == NULL) {
    return SCM_BOOL_F;
  }
  /* The vector takes over the block the message arrived in; the pointer
   * object frees it when the vector is collected. */
  scm_gc_register_allocation(p.n);
  return scm_pointer_to_bytevector(
      scm_from_pointer(block, free), scm_from_size_t(p.count),
      scm_from_size_t((size_t) (p.data - (const uint8_t *) block)),
      p.type->symbol);
}
