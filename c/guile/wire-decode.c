/* wire-decode.c — CBOR back to Scheme values.
 *
 * The decoder reads one item head at a time with libcbor's streaming
 * decoder (integers, flonums and short strings directly) and builds the
 * value itself; libcbor's item tree is never used, since one cbor_item_t
 * per element would be far too slow for long lists. It recurses only into
 * nested containers and stops at PAR_WIRE_MAX_DEPTH. Every length read
 * from a message is checked against the bytes that remain before anything
 * is allocated for it.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <cbor.h>

#include <libguile/gc-inline.h>

#include "wire-internal.h"

/* --- Decoder ------------------------------------------------------------- */

enum head_kind {
  H_NONE,
  H_UINT,
  H_NEGINT,
  H_BYTES,
  H_TEXT,
  H_ARRAY,
  H_MAP,
  H_TAG,
  H_FLOAT,
  H_BOOL,
  H_NULL,
  H_UNDEFINED,
  H_INDEFINITE,
  H_BREAK
};

/* One item head as libcbor's streaming decoder reports it. For strings,
 * DATA/N is the payload inside the message; for arrays and maps N is the
 * number of elements or entries; for integers and tags U is the value. */
struct head {
  enum head_kind kind;
  uint64_t u;
  double d;
  const uint8_t *data;
  size_t n;
  size_t at;   /* Offset of the head in the message. */
};

struct dec {
  const uint8_t *data;
  size_t len;
  size_t pos;
  const char *subr;
  scm_thread *thread; /* for allocating pairs from its own free lists */
};

static void
on_uint8(void *c, uint8_t v)
{
  struct head *h = c;
  h->kind = H_UINT;
  h->u = v;
}

static void
on_uint16(void *c, uint16_t v)
{
  struct head *h = c;
  h->kind = H_UINT;
  h->u = v;
}

static void
on_uint32(void *c, uint32_t v)
{
  struct head *h = c;
  h->kind = H_UINT;
  h->u = v;
}

static void
on_uint64(void *c, uint64_t v)
{
  struct head *h = c;
  h->kind = H_UINT;
  h->u = v;
}

static void
on_negint8(void *c, uint8_t v)
{
  struct head *h = c;
  h->kind = H_NEGINT;
  h->u = v;
}

static void
on_negint16(void *c, uint16_t v)
{
  struct head *h = c;
  h->kind = H_NEGINT;
  h->u = v;
}

static void
on_negint32(void *c, uint32_t v)
{
  struct head *h = c;
  h->kind = H_NEGINT;
  h->u = v;
}

static void
on_negint64(void *c, uint64_t v)
{
  struct head *h = c;
  h->kind = H_NEGINT;
  h->u = v;
}


static void
on_bytes(void *c, cbor_data data, size_t n)
{
  struct head *h = c;
  h->kind = H_BYTES;
  h->data = data;
  h->n = n;
}

static void
on_text(void *c, cbor_data data, size_t n)
{
  struct head *h = c;
  h->kind = H_TEXT;
  h->data = data;
  h->n = n;
}

static void
on_array(void *c, size_t n)
{
  struct head *h = c;
  h->kind = H_ARRAY;
  h->n = n;
}

static void
on_map(void *c, size_t n)
{
  struct head *h = c;
  h->kind = H_MAP;
  h->n = n;
}

static void
on_tag(void *c, uint64_t v)
{
  struct head *h = c;
  h->kind = H_TAG;
  h->u = v;
}

static void
on_float(void *c, float v)
{
  struct head *h = c;
  h->kind = H_FLOAT;
  h->d = v;
}

static void
on_double(void *c, double v)
{
  struct head *h = c;
  h->kind = H_FLOAT;
  h->d = v;
}

static void
on_indefinite(void *c)
{
  struct head *h = c;
  h->kind = H_INDEFINITE;
}

static void
on_break(void *c)
{
  struct head *h = c;
  h->kind = H_BREAK;
}

static void
on_null(void *c)
{
  struct head *h = c;
  h->kind = H_NULL;
}

static void
on_undefined(void *c)
{
  struct head *h = c;
  h->kind = H_UNDEFINED;
}


static void
on_bool(void *c, bool v)
{
  struct head *h = c;
  h->kind = H_BOOL;
  h->u = v;
}

static const struct cbor_callbacks head_callbacks = {
  .uint8 = on_uint8,
  .uint16 = on_uint16,
  .uint32 = on_uint32,
  .uint64 = on_uint64,
  .negint8 = on_negint8,
  .negint16 = on_negint16,
  .negint32 = on_negint32,
  .negint64 = on_negint64,
  .byte_string_start = on_indefinite,
  .byte_string = on_bytes,
  .string = on_text,
  .string_start = on_indefinite,
  .indef_array_start = on_indefinite,
  .array_start = on_array,
  .indef_map_start = on_indefinite,
  .map_start = on_map,
  .tag = on_tag,
  .float2 = on_float,
  .float4 = on_float,
  .float8 = on_double,
  .undefined = on_undefined,
  .null = on_null,
  .boolean = on_bool,
  .indef_break = on_break,
};

static void fail(struct dec *d, size_t at, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

static void
fail(struct dec *d, size_t at, const char *fmt, ...)
{
  char buf[256];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  par_scm_throw(d->subr, "malformed message (byte ~a of ~a): ~a",
                scm_list_3(scm_from_size_t(at), scm_from_size_t(d->len),
                           scm_from_utf8_string(buf)));
}

static void
read_head(struct dec *d, struct head *h)
{
  struct cbor_decoder_result r;

  h->at = d->pos;
  if (d->pos >= d->len) {
    fail(d, d->pos, "truncated: another item was expected");
  }
  h->kind = H_NONE;
  r = cbor_stream_decode(d->data + d->pos, d->len - d->pos, &head_callbacks,
                         h);
  if (r.status == CBOR_DECODER_NEDATA) {
    fail(d, d->pos, "truncated: the item needs %zu bytes, %zu remain",
         r.required, d->len - d->pos);
  }
  if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
    fail(d, d->pos, "not a well-formed CBOR item (initial byte 0x%02x)",
         d->data[d->pos]);
  }
  switch (h->kind) {
  case H_NONE:
    fail(d, d->pos, "unsupported CBOR item (initial byte 0x%02x)",
         d->data[d->pos]);
  case H_INDEFINITE:
  case H_BREAK:
    fail(d, d->pos, "indefinite-length items are not part of the format");
  default:
    break;
  }
  d->pos += r.read;
  /* Every element of an array takes at least one byte, and every entry
   * of a map two: a count beyond that is a lie, refused before anything
   * is allocated for it. */
  if (h->kind == H_ARRAY && h->n > d->len - d->pos) {
    fail(d, h->at, "array of %zu elements but only %zu bytes remain", h->n,
         d->len - d->pos);
  }
  if (h->kind == H_MAP && h->n > (d->len - d->pos) / 2) {
    fail(d, h->at, "map of %zu entries but only %zu bytes remain", h->n,
         d->len - d->pos);
  }
}

static SCM decode(struct dec *d, int depth);

static void
check_depth(struct dec *d, int depth, size_t at)
{
  if (depth > PAR_WIRE_MAX_DEPTH) {
    fail(d, at, "nested deeper than %d levels", PAR_WIRE_MAX_DEPTH);
  }
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool
valid_utf8(const uint8_t *s, size_t n)
{
  size_t i = 0;

  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80) {
        return false;
      }
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80
          || (s[i + 2] & 0xc0) != 0x80) {
        return false;
      }
      if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f)) {
        return false;
      }
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 3 >= n || (s[i + 1] & 0xc0) != 0x80
          || (s[i + 2] & 0xc0) != 0x80 || (s[i + 3] & 0xc0) != 0x80) {
        return false;
      }
      if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f)) {
        return false;
      }
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

static void
check_utf8(struct dec *d, const struct head *h)
{
  if (!valid_utf8(h->data, h->n)) {
    fail(d, h->at, "text string of %zu bytes is not valid UTF-8", h->n);
  }
}

/* A text string head, for tags whose content must be one. */
static void
read_text(struct dec *d, struct head *h, const char *what)
{
  read_head(d, h);
  if (h->kind != H_TEXT) {
    fail(d, h->at, "%s must be a text string", what);
  }
  check_utf8(d, h);
}

static SCM
decode_negint(uint64_t n)
{
  if (n <= (uint64_t) INT64_MAX) {
    return scm_from_int64(-1 - (int64_t) n);
  }
  return scm_difference(scm_from_int(-1), scm_from_uint64(n));
}

static SCM
decode_bignum(struct dec *d, uint64_t tag)
{
  struct head h;
  mpz_t z;
  SCM result;

  read_head(d, &h);
  if (h.kind != H_BYTES) {
    fail(d, h.at, "the content of tag %" PRIu64 " (bignum) must be a byte "
         "string", tag);
  }
  mpz_init(z);
  if (h.n > 0) {
    mpz_import(z, h.n, 1, 1, 1, 0, h.data);
  }
  if (tag == TAG_BIGNUM_NEG) {
    mpz_add_ui(z, z, 1);
    mpz_neg(z, z);
  }
  result = scm_from_mpz(z);
  mpz_clear(z);
  return result;
}

/* The element type, element size and byte order of typed-array TAG;
 * false when the format has no Guile counterpart for it. */
static bool
typed_tag_info(uint64_t tag, scm_t_array_element_type *type, size_t *size,
               bool *big)
{
  unsigned t = (unsigned) (tag - TAG_TYPED_FIRST);
  unsigned ll = t & 3;

  *big = (t & 4) == 0;
  if (t & 16) {
    /* Floats: 16, 32, 64, 128 bits. */
    if (t & 8 || ll == 0 || ll == 3) {
      return false;
    }
    *type = ll == 1 ? SCM_ARRAY_ELEMENT_TYPE_F32 : SCM_ARRAY_ELEMENT_TYPE_F64;
    *size = ll == 1 ? 4 : 8;
    return true;
  }
  if (ll == 0) {
    if (t == 12) {
      return false; /* Tag 76 is reserved. */
    }
    *type = t & 8 ? SCM_ARRAY_ELEMENT_TYPE_S8 : SCM_ARRAY_ELEMENT_TYPE_U8;
    *size = 1;
    *big = HOST_BIG_ENDIAN;
    return true;
  }
  *size = (size_t) 1 << ll;
  switch (ll) {
  case 1:
    *type = t & 8 ? SCM_ARRAY_ELEMENT_TYPE_S16 : SCM_ARRAY_ELEMENT_TYPE_U16;
    break;
  case 2:
    *type = t & 8 ? SCM_ARRAY_ELEMENT_TYPE_S32 : SCM_ARRAY_ELEMENT_TYPE_U32;
    break;
  default:
    *type = t & 8 ? SCM_ARRAY_ELEMENT_TYPE_S64 : SCM_ARRAY_ELEMENT_TYPE_U64;
    break;
  }
  return true;
}

/* The payload of a numeric vector, not yet copied anywhere. */
struct payload {
  scm_t_array_element_type type;
  size_t elsize;   /* Size of one Guile element (a c64 element is 16). */
  size_t swap;     /* Byte-swap units of this size; 0 for none. */
  size_t count;    /* Guile elements. */
  const uint8_t *data;
  size_t n;        /* Bytes. */
};

/* Read a numeric vector that starts with head H (already read): a byte
 * string, a typed-array tag or the complex-vector tag. */
static void
read_payload(struct dec *d, struct head *h, struct payload *p)
{
  bool complex = false, big = false;
  size_t unit = 1;
  size_t at = h->at;

  p->type = SCM_ARRAY_ELEMENT_TYPE_VU8;
  if (h->kind == H_TAG && h->u == PTAG_COMPLEX_VECTOR) {
    complex = true;
    read_head(d, h);
    if (h->kind != H_TAG
        || !(h->u == 81 || h->u == 82 || h->u == 85 || h->u == 86)) {
      fail(d, h->at, "a complex vector must hold a float32 or float64 "
           "typed array");
    }
  }
  if (h->kind == H_TAG) {
    uint64_t tag = h->u;
    if (tag < TAG_TYPED_FIRST || tag > TAG_TYPED_LAST
        || !typed_tag_info(tag, &p->type, &unit, &big)) {
      fail(d, h->at, "typed array tag %" PRIu64 " is not supported", tag);
    }
    read_head(d, h);
    if (h->kind != H_BYTES) {
      fail(d, h->at, "the content of typed array tag %" PRIu64 " must be a "
           "byte string", tag);
    }
  }
  p->elsize = complex ? 2 * unit : unit;
  if (complex) {
    p->type = unit == 4 ? SCM_ARRAY_ELEMENT_TYPE_C32
                        : SCM_ARRAY_ELEMENT_TYPE_C64;
  }
  if (h->n % p->elsize != 0) {
    fail(d, at, "typed array of %zu bytes is not a whole number of "
         "%zu-byte elements", h->n, p->elsize);
  }
  p->swap = big != HOST_BIG_ENDIAN && unit > 1 ? unit : 0;
  p->count = h->n / p->elsize;
  p->data = h->data;
  p->n = h->n;
}

static void
copy_payload(void *dst, const struct payload *p)
{
  size_t i;

  if (p->n == 0) {
    return;
  }
  memcpy(dst, p->data, p->n);
  switch (p->swap) {
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

/* A fresh numeric vector holding P: allocated without being cleared and
 * filled with one memcpy. */
static SCM
payload_vector(struct dec *d, const struct payload *p)
{
  SCM v;

  if (p->n >= TAKE_THRESHOLD) {
    /* Big vectors live in malloc'ed memory that the vector owns through a
     * finalized pointer: the C allocator recycles such blocks without
     * touching fresh pages, where the collector's large blocks are often
     * unmapped and faulted in again. The collector is told of the memory
     * so that it still runs often enough to free it. */
    void *mem = malloc(p->n);
    if (mem == NULL) {
      par_scm_throw(d->subr, "out of memory for a vector of ~a bytes",
                    scm_list_1(scm_from_size_t(p->n)));
    }
    copy_payload(mem, p);
    v = scm_pointer_to_bytevector(scm_from_pointer(mem, free),
                                  scm_from_size_t(p->count), SCM_INUM0,
                                  par__wire_element_types[p->type]);
    scm_gc_register_allocation(p->n);
    return v;
  }
  if (p->type == SCM_ARRAY_ELEMENT_TYPE_VU8) {
    v = scm_c_make_bytevector(p->count);
  } else {
    v = scm_make_srfi_4_vector(par__wire_element_types[p->type],
                               scm_from_size_t(p->count), SCM_UNDEFINED);
  }
  copy_payload(SCM_BYTEVECTOR_CONTENTS(v), p);
  return v;
}

static bool
is_payload_head(const struct head *h)
{
  return h->kind == H_BYTES
         || (h->kind == H_TAG
             && ((h->u >= TAG_TYPED_FIRST && h->u <= TAG_TYPED_LAST)
                 || h->u == PTAG_COMPLEX_VECTOR));
}

/* [dims, elements] of tag 40, with lower bounds LBNDS (NULL for zero). */
static SCM
decode_ndarray(struct dec *d, int depth, size_t at, const int64_t *lbnds,
               size_t nlbnds)
{
  struct head h;
  size_t rank, k, count = 1, i;
  SCM bounds = SCM_EOL, dims_list = SCM_EOL, array;
  scm_t_array_handle ah;

  read_head(d, &h);
  if (h.kind != H_ARRAY || h.n != 2) {
    fail(d, h.at, "the content of tag 40 must be [dimensions, elements]");
  }
  read_head(d, &h);
  if (h.kind != H_ARRAY) {
    fail(d, h.at, "the dimensions of an array must be an array");
  }
  rank = h.n;
  if (lbnds != NULL && rank != nlbnds) {
    fail(d, h.at, "an array of rank %zu has %zu lower bounds", rank,
         nlbnds);
  }
  for (k = 0; k < rank; k++) {
    uint64_t len;
    read_head(d, &h);
    if (h.kind != H_UINT || h.u > (uint64_t) (LONG_MAX / 2)) {
      fail(d, h.at, "an array dimension must be an unsigned integer below "
           "2^62");
    }
    len = h.u;
    if (len != 0 && count > SIZE_MAX / len) {
      fail(d, h.at, "array dimensions overflow");
    }
    count *= len;
    if (lbnds != NULL) {
      dims_list = scm_cons(scm_list_2(scm_from_int64(lbnds[k]),
                                      scm_from_int64(lbnds[k]
                                                     + (int64_t) len - 1)),
                           dims_list);
    } else {
      dims_list = scm_cons(scm_from_uint64(len), dims_list);
    }
  }
  bounds = scm_reverse_x(dims_list, SCM_EOL);
  read_head(d, &h);
  if (is_payload_head(&h)) {
    struct payload p;
    read_payload(d, &h, &p);
    if (p.count != count) {
      fail(d, at, "array of %zu elements holds %zu", count, p.count);
    }
    array = scm_make_typed_array(par__wire_element_types[p.type], SCM_UNDEFINED,
                                 bounds);
    scm_array_get_handle(array, &ah);
    copy_payload(scm_array_handle_uniform_writable_elements(&ah), &p);
    scm_array_handle_release(&ah);
    return array;
  }
  if (h.kind != H_ARRAY) {
    fail(d, h.at, "the elements of an array must be an array or a typed "
         "array");
  }
  if (h.n != count) {
    fail(d, h.at, "array of %zu elements holds %zu", count, h.n);
  }
  array = scm_make_typed_array(SCM_BOOL_T, SCM_UNSPECIFIED, bounds);
  scm_array_get_handle(array, &ah);
  {
    SCM *elts = scm_array_handle_writable_elements(&ah);
    for (i = 0; i < count; i++) {
      elts[i] = decode(d, depth + 1);
    }
  }
  scm_array_handle_release(&ah);
  return array;
}

/* [lower bounds, array]: the array is a tag-40 array or a 1-D vector. */
static SCM
decode_lower_bounds(struct dec *d, int depth, size_t at)
{
  struct head h;
  int64_t lbnds[64];
  size_t rank, k;
  scm_t_array_handle ah;
  SCM array, bounds = SCM_EOL;

  read_head(d, &h);
  if (h.kind != H_ARRAY || h.n != 2) {
    fail(d, h.at, "lower bounds must be [bounds, array]");
  }
  read_head(d, &h);
  if (h.kind != H_ARRAY || h.n > 64) {
    fail(d, h.at, "lower bounds must be an array of at most 64 integers");
  }
  rank = h.n;
  for (k = 0; k < rank; k++) {
    read_head(d, &h);
    /* Bounds stay within +-2^61 so that bound + length fits a long. */
    if (h.kind == H_UINT && h.u < ((uint64_t) 1 << 61)) {
      lbnds[k] = (int64_t) h.u;
    } else if (h.kind == H_NEGINT && h.u < ((uint64_t) 1 << 61)) {
      lbnds[k] = -1 - (int64_t) h.u;
    } else {
      fail(d, h.at, "a lower bound must be an integer within +-2^61");
    }
  }
  read_head(d, &h);
  if (h.kind == H_TAG && h.u == TAG_NDARRAY) {
    return decode_ndarray(d, depth + 1, h.at, lbnds, rank);
  }
  if (rank != 1) {
    fail(d, h.at, "%zu lower bounds for a one-dimensional array", rank);
  }
  if (is_payload_head(&h)) {
    struct payload p;
    read_payload(d, &h, &p);
    bounds = scm_list_1(scm_list_2(scm_from_int64(lbnds[0]),
                                   scm_from_int64(lbnds[0]
                                                  + (int64_t) p.count - 1)));
    array = scm_make_typed_array(par__wire_element_types[p.type], SCM_UNDEFINED,
                                 bounds);
    scm_array_get_handle(array, &ah);
    copy_payload(scm_array_handle_uniform_writable_elements(&ah), &p);
    scm_array_handle_release(&ah);
    return array;
  }
  if (h.kind == H_TAG && h.u == PTAG_VECTOR) {
    SCM v;
    size_t n, i;
    SCM *elts;

    d->pos = h.at;
    v = decode(d, depth + 1);
    n = scm_c_vector_length(v);
    bounds = scm_list_1(scm_list_2(scm_from_int64(lbnds[0]),
                                   scm_from_int64(lbnds[0] + (int64_t) n
                                                  - 1)));
    array = scm_make_typed_array(SCM_BOOL_T, SCM_UNSPECIFIED, bounds);
    scm_array_get_handle(array, &ah);
    elts = scm_array_handle_writable_elements(&ah);
    for (i = 0; i < n; i++) {
      elts[i] = SCM_SIMPLE_VECTOR_REF(v, i);
    }
    scm_array_handle_release(&ah);
    return array;
  }
  fail(d, at, "lower bounds must apply to an array or a vector");
}

static SCM
decode_hash_table(struct dec *d, int depth, size_t n, int weak)
{
  SCM table;
  size_t i;

  switch (weak) {
  case WEAK_KEY:
    table = scm_make_weak_key_hash_table(scm_from_size_t(n));
    break;
  case WEAK_VALUE:
    table = scm_make_weak_value_hash_table(scm_from_size_t(n));
    break;
  case WEAK_BOTH:
    table = scm_make_doubly_weak_hash_table(scm_from_size_t(n));
    break;
  default:
    table = scm_c_make_hash_table(n);
    break;
  }
  for (i = 0; i < n; i++) {
    SCM key = decode(d, depth + 1);
    SCM value = decode(d, depth + 1);
    scm_hash_set_x(table, key, value);
  }
  return table;
}

/* A CBOR array holding a list: N elements, the last being the tail when
 * IMPROPER. Built front to back without recursion along the spine. */
static SCM
decode_list(struct dec *d, int depth, size_t n, bool improper)
{
  SCM head = SCM_EOL, tail = SCM_BOOL_F;
  size_t i, elements = improper ? n - 1 : n;

  for (i = 0; i < elements; i++) {
    /* The thread's own free list: scm_cons goes through the collector's
     * general allocator, which costs more than the rest of the loop. */
    SCM cell = scm_inline_cons(d->thread, decode(d, depth + 1), SCM_EOL);
    if (scm_is_null(head)) {
      head = cell;
    } else {
      SCM_SETCDR(tail, cell);
    }
    tail = cell;
  }
  if (improper) {
    SCM_SETCDR(tail, decode(d, depth + 1));
  }
  return head;
}

struct exn_call {
  SCM kind;
  SCM args;
};

static SCM
exn_body(void *data)
{
  struct exn_call *c = data;
  return scm_call_2(SCM_VARIABLE_REF(par__wire_make_exception), c->kind,
                    c->args);
}

static SCM
exn_handler(void *data, SCM key, SCM args)
{
  return SCM_BOOL_F;
}

static SCM
decode_error(struct dec *d, int depth, size_t at)
{
  struct head h;
  struct exn_call c;
  SCM exn;

  read_head(d, &h);
  if (h.kind != H_ARRAY || h.n != 2) {
    fail(d, h.at, "an error description must be [kind, arguments]");
  }
  c.kind = decode(d, depth + 1);
  c.args = decode(d, depth + 1);
  if (!scm_is_symbol(c.kind) || scm_ilength(c.args) < 0) {
    fail(d, at, "an error description must be [symbol, list]");
  }
  exn = scm_c_catch(SCM_BOOL_T, exn_body, &c, exn_handler, NULL, NULL, NULL);
  if (scm_is_false(exn)) {
    fail(d, at, "the error description cannot be rebuilt as an exception");
  }
  return exn;
}

static SCM
decode_record(struct dec *d, int depth, size_t at)
{
  struct head h, name;
  SCM rtd, fields;
  size_t nfields;

  read_head(d, &h);
  if (h.kind != H_ARRAY || h.n < 1) {
    fail(d, h.at, "a record must be [type name, fields...]");
  }
  nfields = h.n - 1;
  read_text(d, &name, "the type name of a record");
  rtd = scm_hash_ref(par__wire_records_by_name,
                     scm_from_utf8_stringn((const char *) name.data, name.n),
                     SCM_BOOL_F);
  if (scm_is_false(rtd)) {
    par_scm_throw(d->subr,
                  "cannot receive a record of type ~s: no record type is "
                  "registered under that name in this process (see "
                  "register-wire-record-type!)",
                  scm_list_1(scm_from_utf8_stringn((const char *) name.data,
                                                   name.n)));
  }
  fields = decode_list(d, depth, nfields, false);
  if (SCM_VTABLE_SIZE(rtd) != nfields) {
    fail(d, at, "record type %.*s has %zu fields, the message %zu",
         (int) (name.n > 64 ? 64 : name.n), (const char *) name.data,
         (size_t) SCM_VTABLE_SIZE(rtd), nfields);
  }
  return scm_make_struct_no_tail(rtd, fields);
}

static SCM
decode_tag(struct dec *d, int depth, const struct head *t)
{
  struct head h;
  uint64_t tag = t->u;

  switch (tag) {
  case TAG_BIGNUM_POS:
  case TAG_BIGNUM_NEG:
    return decode_bignum(d, tag);
  case TAG_RATIONAL: {
    SCM num, den;
    read_head(d, &h);
    if (h.kind != H_ARRAY || h.n != 2) {
      fail(d, h.at, "a rational must be [numerator, denominator]");
    }
    num = decode(d, depth + 1);
    den = decode(d, depth + 1);
    if (!scm_is_exact_integer(num) || !scm_is_exact_integer(den)
        || scm_is_false(scm_positive_p(den))) {
      fail(d, t->at, "a rational needs an integer numerator and a positive "
           "integer denominator");
    }
    return scm_divide(num, den);
  }
  case TAG_COMPLEX: {
    SCM re, im;
    read_head(d, &h);
    if (h.kind != H_ARRAY || h.n != 2) {
      fail(d, h.at, "a complex number must be [real, imaginary]");
    }
    re = decode(d, depth + 1);
    im = decode(d, depth + 1);
    if (!scm_is_real(re) || !scm_is_real(im)) {
      fail(d, t->at, "the parts of a complex number must be real numbers");
    }
    return scm_c_make_rectangular(scm_to_double(re), scm_to_double(im));
  }
  case TAG_SYMBOL:
    read_text(d, &h, "the content of tag 39 (symbol)");
    return par__wire_symbol_named((const char *) h.data, h.n);
  case PTAG_KEYWORD:
    read_text(d, &h, "a keyword's name");
    return scm_symbol_to_keyword(
        par__wire_symbol_named((const char *) h.data, h.n));
  case PTAG_CHAR:
    read_head(d, &h);
    if (h.kind != H_UINT || h.u > 0x10ffff
        || (h.u >= 0xd800 && h.u <= 0xdfff)) {
      fail(d, h.at, "a character must be a Unicode scalar value");
    }
    return SCM_MAKE_CHAR((scm_t_wchar) h.u);
  case PTAG_VECTOR: {
    SCM v;
    size_t i;
    read_head(d, &h);
    if (h.kind != H_ARRAY) {
      fail(d, h.at, "the content of a vector tag must be an array");
    }
    v = scm_c_make_vector(h.n, SCM_UNSPECIFIED);
    for (i = 0; i < h.n; i++) {
      SCM_SIMPLE_VECTOR_SET(v, i, decode(d, depth + 1));
    }
    return v;
  }
  case PTAG_IMPROPER:
    read_head(d, &h);
    if (h.kind != H_ARRAY || h.n < 2) {
      fail(d, h.at, "an improper list must be an array of two or more "
           "items");
    }
    return decode_list(d, depth, h.n, true);
  case PTAG_EOF:
  case PTAG_PARALLELIZER: {
    SCM thunk;
    read_head(d, &h);
    if (h.kind != H_NULL) {
      fail(d, h.at, "the content of tag %" PRIu64 " must be null", tag);
    }
    if (tag == PTAG_EOF) {
      return SCM_EOF_VAL;
    }
    thunk = SCM_SIMPLE_VECTOR_REF(par__wire_hooks, 1);
    if (scm_is_false(thunk)) {
      par_scm_throw(d->subr, "cannot receive a parallelizer: the "
                    "(parallelizer) module is not loaded in this process",
                    SCM_EOL);
    }
    return scm_call_0(thunk);
  }
  case PTAG_SHARED:
    fail(d, t->at, "shared-object handles (tag %d) are reserved and not "
         "supported yet", PTAG_SHARED);
  case PTAG_ERROR:
    return decode_error(d, depth, t->at);
  case PTAG_WEAK_TABLE:
    read_head(d, &h);
    if (h.kind != H_ARRAY || h.n != 2) {
      fail(d, h.at, "a weak hash table must be [weakness, map]");
    }
    read_head(d, &h);
    if (h.kind != H_UINT || h.u < WEAK_KEY || h.u > WEAK_BOTH) {
      fail(d, h.at, "the weakness of a hash table must be 1, 2 or 3");
    }
    {
      int weak = (int) h.u;
      read_head(d, &h);
      if (h.kind != H_MAP) {
        fail(d, h.at, "a weak hash table must hold a map");
      }
      return decode_hash_table(d, depth, h.n, weak);
    }
  case TAG_NDARRAY:
    return decode_ndarray(d, depth, t->at, NULL, 0);
  case PTAG_LOWER_BOUNDS:
    return decode_lower_bounds(d, depth, t->at);
  case TAG_RECORD:
    return decode_record(d, depth, t->at);
  default:
    if (is_payload_head(t)) {
      struct payload p;
      h = *t;
      read_payload(d, &h, &p);
      return payload_vector(d, &p);
    }
    fail(d, t->at, "unknown tag %" PRIu64, tag);
  }
}

/* The length of a definite CBOR head whose additional information is
 * INFO (the low five bits of its first byte), or 0 if it is not one. */
static inline size_t
head_size(uint8_t info)
{
  if (info < 24) {
    return 1;
  }
  switch (info) {
  case 24:
    return 2;
  case 25:
    return 3;
  case 26:
    return 5;
  case 27:
    return 9;
  default:
    return 0;
  }
}

static inline bool
all_ascii(const uint8_t *s, size_t n)
{
  uint8_t any = 0;

  for (size_t i = 0; i < n; i++) {
    any |= s[i];
  }
  return any < 0x80;
}

/* Integers, flonums and short strings, the bulk of most lists, are read
 * here directly: going through cbor_stream_decode and its callbacks costs
 * more than building the value. Anything unusual (a truncated item included)
 * is left to the general path, which reports it. */
static inline bool
decode_fast(struct dec *d, SCM *out)
{
  const uint8_t *p = d->data + d->pos;
  size_t left = d->len - d->pos, size;
  uint8_t major = p[0] >> 5;
  uint64_t v;

  if (p[0] == 0xfb && left >= 9) {
    double value;

    v = 0;
    for (size_t i = 1; i < 9; i++) {
      v = (v << 8) | p[i];
    }
    memcpy(&value, &v, sizeof value);
    *out = scm_from_double(value);
    d->pos += 9;
    return true;
  }
  if (major > 1 && major != 3) {
    return false;
  }
  size = head_size(p[0] & 31);
  if (size == 0 || size > left) {
    return false;
  }
  v = size == 1 ? (uint64_t) (p[0] & 31) : 0;
  for (size_t i = 1; i < size; i++) {
    v = (v << 8) | p[i];
  }
  if (major == 3) {
    if (v > left - size || !all_ascii(p + size, (size_t) v)) {
      return false;
    }
    *out = scm_from_latin1_stringn((const char *) p + size, (size_t) v);
    d->pos += size + (size_t) v;
    return true;
  }
  *out = major == 0 ? scm_from_uint64(v) : decode_negint(v);
  d->pos += size;
  return true;
}

static SCM
decode(struct dec *d, int depth)
{
  struct head h;
  SCM fast;

  if (d->pos < d->len && decode_fast(d, &fast)) {
    return fast;
  }
  read_head(d, &h);
  switch (h.kind) {
  case H_UINT:
    return scm_from_uint64(h.u);
  case H_NEGINT:
    return decode_negint(h.u);
  case H_FLOAT:
    return scm_from_double(h.d);
  case H_TEXT:
    check_utf8(d, &h);
    return scm_from_utf8_stringn((const char *) h.data, h.n);
  case H_BYTES: {
    SCM v = scm_c_make_bytevector(h.n);
    if (h.n > 0) {
      memcpy(SCM_BYTEVECTOR_CONTENTS(v), h.data, h.n);
    }
    return v;
  }
  case H_BOOL:
    return scm_from_bool(h.u != 0);
  case H_NULL:
  case H_UNDEFINED:
    return SCM_UNSPECIFIED;
  case H_ARRAY:
    check_depth(d, depth + 1, h.at);
    return decode_list(d, depth, h.n, false);
  case H_MAP:
    check_depth(d, depth + 1, h.at);
    return decode_hash_table(d, depth, h.n, 0);
  case H_TAG:
    check_depth(d, depth + 1, h.at);
    return decode_tag(d, depth + 1, &h);
  default:
    fail(d, h.at, "unexpected item");
  }
}

/* A message that is exactly one large numeric vector in this machine's
 * byte order, with its elements aligned in memory where they lie. */
static bool
whole_aligned_vector(struct dec *d, struct payload *p)
{
  struct head h;

  read_head(d, &h);
  if (!is_payload_head(&h)) {
    return false;
  }
  read_payload(d, &h, p);
  return d->pos == d->len && p->swap == 0 && p->n >= TAKE_THRESHOLD
         && p->type != SCM_ARRAY_ELEMENT_TYPE_VU8
         && (uintptr_t) p->data % (p->elsize > 8 ? 8 : p->elsize) == 0;
}

SCM
par_scm_decode_msg(par_msg *msg, const char *subr)
{
  struct dec d = {msg->data, msg->len, 0, subr,
                  SCM_I_THREAD_DATA(scm_current_thread())};
  struct payload p;

  if (msg->len > 0 && whole_aligned_vector(&d, &p)) {
    void *block = par_msg_steal(msg);

    if (block != NULL) {
      /* The vector takes over the block the message arrived in; the
       * pointer object frees it when the vector is collected. */
      SCM v = scm_pointer_to_bytevector(
          scm_from_pointer(block, free), scm_from_size_t(p.count),
          scm_from_size_t((size_t) (p.data - (const uint8_t *) block)),
          par__wire_element_types[p.type]);

      scm_gc_register_allocation(p.n);
      return v;
    }
  }
  return par_scm_decode(msg->data, msg->len, subr);
}

SCM
par_scm_decode(const void *data, size_t len, const char *subr)
{
  struct dec d = {data, len, 0, subr,
                  SCM_I_THREAD_DATA(scm_current_thread())};
  SCM value;

  if (len == 0) {
    par_scm_throw(subr, "malformed message: it is empty", SCM_EOL);
  }
  value = decode(&d, 0);
  if (d.pos != len) {
    fail(&d, d.pos, "%zu bytes of trailing garbage after the value",
         len - d.pos);
  }
  return value;
}
