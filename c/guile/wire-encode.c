/* wire-encode.c — Scheme values to CBOR.
 *
 * The encoder walks a value and appends CBOR to a par_wbuf with libcbor's
 * encoder primitives. Numeric vectors are copied with one memcpy. It
 * recurses only into nested containers, never along the spine of a list,
 * and stops at PAR_WIRE_MAX_DEPTH; a value that cannot travel is named,
 * with where it sits, before anything is sent.
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

#include "large-alloc.h"
#include "shared-internal.h"
#include "wire-internal.h"

/* --- Output buffer ------------------------------------------------------- */

void
par_wbuf_free(par_wbuf *buf)
{
  if (buf == NULL) {
    return;
  }
  free(buf->data);
  buf->data = NULL;
  buf->len = 0;
  buf->cap = 0;
}

/* Make room for N more bytes in BUF. Returns 0, or -1 when memory is short,
 * in which case BUF is unchanged. */
static int
wbuf_grow(par_wbuf *buf, size_t n)
{
  size_t need, cap;
  uint8_t *data;

  if (buf->cap - buf->len >= n) {
    return 0;
  }
  if (n > SIZE_MAX - buf->len) {
    return -1;
  }
  need = buf->len + n;
  cap = buf->cap < 256 ? 256 : buf->cap;
  if (cap < need) {
    cap = need;
  }
  /* Doubling keeps appends amortized O(1); a big single reservation (a
   * numeric vector) is allocated exactly. */
  if (cap < 2 * buf->cap && buf->cap <= SIZE_MAX / 2) {
    cap = 2 * buf->cap;
  }
  if (cap < PAR__LARGE_BYTES) {
    data = realloc(buf->data, cap);
  } else {
    /* A large buffer faults its fresh pages in huge pages; what it holds
     * already is copied, which doubling makes a fraction of its size. */
    data = par__malloc_large(cap);
    if (data != NULL && buf->len > 0) {
      memcpy(data, buf->data, buf->len);
    }
    if (data != NULL) {
      free(buf->data);
    }
  }
  if (data == NULL) {
    return -1;
  }
  buf->data = data;
  buf->cap = cap;
  return 0;
}

/* --- Encoder ------------------------------------------------------------- */

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

static void encode(struct enc *e, SCM x, int depth, const struct where *at);

static void
out_of_memory(struct enc *e)
{
  par_scm_throw(e->who, PAR_ENOMEM,
                "out of memory while encoding a value of ~a bytes",
                scm_list_1(scm_from_size_t(e->out->len)));
}

static inline uint8_t *
reserve(struct enc *e, size_t n)
{
  if (wbuf_grow(e->out, n) != 0) {
    out_of_memory(e);
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

static void
put_bytes(struct enc *e, const void *data, size_t n)
{
  uint8_t *p = reserve(e, n);
  if (n > 0) {
    memcpy(p, data, n);
  }
  e->out->len += n;
}

/* A text string; TEXT is malloc'ed and freed here, also when memory is
 * short, so that no path leaks it. */
static void
put_text_owned(struct enc *e, char *text, size_t n)
{
  size_t need;

  if (__builtin_add_overflow(n, 9, &need) || wbuf_grow(e->out, need) != 0) {
    free(text);
    out_of_memory(e);
  }
  e->out->len += cbor_encode_string_start(n, e->out->data + e->out->len, 9);
  memcpy(e->out->data + e->out->len, text, n);
  e->out->len += n;
  free(text);
}

/* Append SYMBOL's name as a text string. */
static void
put_symbol_name(struct enc *e, SCM symbol)
{
  const char *name;
  size_t n;
  char *text;

  if (par__wire_symbol_cached(symbol, &name, &n)) {
    uint8_t *p = reserve(e, n + 1);

    p[0] = (uint8_t) (0x60 | n); /* A text head: cached names are short. */
    memcpy(p + 1, name, n);
    e->out->len += n + 1;
    return;
  }
  text = scm_to_utf8_stringn(scm_symbol_to_string(symbol), &n);
  par__wire_symbol_remember(symbol, text, n);
  put_text_owned(e, text, n);
}

static void
put_string(struct enc *e, SCM str)
{
  size_t n;
  char *text = scm_to_utf8_stringn(str, &n);
  put_text_owned(e, text, n);
}

static void
put_int64(struct enc *e, int64_t v)
{
  if (v >= 0) {
    PUT(e, cbor_encode_uint, (uint64_t) v);
  } else {
    PUT(e, cbor_encode_negint, (uint64_t) (-1 - v));
  }
}

/* Describe the path AT for an error message: "element 3 of a list inside
 * element 0 of a vector". */
/* How each kind of place reads, for describe_where: a separator, then
 * the index (which the tail of an improper list does not show). */
static const char *const where_formats[] = {
    [IN_LIST] = "%selement %zu of a list",
    [IN_TAIL] = "%sthe tail of an improper list",
    [IN_VECTOR] = "%selement %zu of a vector",
    [IN_ARRAY] = "%selement %zu (in row-major order) of an array",
    [IN_KEY] = "%sthe key of entry %zu of a hash table",
    [IN_VALUE] = "%sthe value of entry %zu of a hash table",
    [IN_FIELD] = "%sfield %zu of a record",
    [IN_ERROR] = "%sargument %zu of an error",
    [IN_PART] = "%spart %zu of a number",
};

static SCM
describe_where(const struct where *at)
{
  char buf[1024];
  size_t used = 0;
  int shown = 0;

  if (at == NULL) {
    return scm_from_utf8_string("the value itself");
  }
  buf[0] = '\0';
  for (; at != NULL && used < sizeof buf - 1; at = at->up, shown++) {
    const char *sep = shown == 0 ? "" : " inside ";
    int n;

    if (shown == 8) {
      n = snprintf(buf + used, sizeof buf - used, " inside ...");
      used += n > 0 ? (size_t) n : 0;
      break;
    }
    n = snprintf(buf + used, sizeof buf - used, where_formats[at->kind], sep,
                 at->index);
    if (n < 0) {
      break;
    }
    used += (size_t) n;
    if (used >= sizeof buf) {
      used = sizeof buf - 1;
    }
  }
  return scm_from_utf8_string(buf);
}

/* What kind of thing X is, for the message about an unsendable value. */
static SCM
describe_unsendable(SCM x)
{
  if (scm_is_true(scm_procedure_p(x))) {
    return scm_from_utf8_string("a procedure");
  }
  if (scm_is_true(scm_port_p(x))) {
    return scm_from_utf8_string("a port");
  }
  if (SCM_POINTER_P(x)) {
    return scm_from_utf8_string("a foreign pointer");
  }
  if (scm_is_bitvector(x)) {
    return scm_from_utf8_string("a bitvector, which the wire format does "
                                "not carry (convert it with "
                                "bitvector->list)");
  }
  if (SCM_STRUCTP(x)
      && scm_is_true(scm_call_1(SCM_VARIABLE_REF(par__wire_record_p), x))) {
    SCM name = scm_call_1(SCM_VARIABLE_REF(par__wire_record_type_name),
                          SCM_STRUCT_VTABLE(x));
    return scm_simple_format(
        SCM_BOOL_F,
        scm_from_utf8_string("a record of type ~a, which is not registered "
                             "for the wire (see register-wire-record-type!)"),
        scm_list_1(name));
  }
  if (SCM_STRUCTP(x)) {
    return scm_from_utf8_string("a struct that is not a registered record");
  }
  if (scm_is_array(x)) {
    return scm_from_utf8_string("an array of characters or bits, which the "
                                "wire format does not carry");
  }
  return scm_from_utf8_string("an object of a type the wire format does not "
                              "carry");
}

static void
unsendable(struct enc *e, SCM x, const struct where *at)
{
  if (e->lenient > 0) {
    /* An irritant of an error (a procedure, a port) goes as its printed
     * form: the error must reach the main process in any case. */
    size_t n;
    char *text = scm_to_utf8_stringn(scm_object_to_string(x, SCM_UNDEFINED),
                                     &n);
    put_text_owned(e, text, n);
    return;
  }
  par_scm_throw(e->who, PAR_EINVAL, "cannot send ~s, ~a, found at ~a",
                scm_list_3(x, describe_unsendable(x), describe_where(at)));
}

static void
too_deep(struct enc *e, const struct where *at)
{
  par_scm_throw(e->who, PAR_EINVAL,
                "cannot send a value nested deeper than ~a levels "
                "(is it circular?), found at ~a",
                scm_list_2(scm_from_int(PAR_WIRE_MAX_DEPTH),
                           describe_where(at)));
}

static void
encode_integer(struct enc *e, SCM x)
{
  mpz_t z;
  size_t n;
  uint8_t *p;
  int negative;

  if (scm_is_unsigned_integer(x, 0, UINT64_MAX)) {
    PUT(e, cbor_encode_uint, scm_to_uint64(x));
    return;
  }
  mpz_init(z);
  scm_to_mpz(x, z);
  negative = mpz_sgn(z) < 0;
  if (negative) {
    /* Tag 3 carries -1 - x; so does major type 1 when it fits. */
    mpz_neg(z, z);
    mpz_sub_ui(z, z, 1);
    if (mpz_sizeinbase(z, 2) <= 64) {
      uint64_t v = 0;
      mpz_export(&v, NULL, -1, sizeof v, 0, 0, z);
      mpz_clear(z);
      PUT(e, cbor_encode_negint, v);
      return;
    }
  }
  n = (mpz_sizeinbase(z, 2) + 7) / 8;
  if (n > SIZE_MAX - 18 || wbuf_grow(e->out, n + 18) != 0) {
    mpz_clear(z);
    out_of_memory(e);
  }
  p = e->out->data + e->out->len;
  p += cbor_encode_tag(negative ? TAG_BIGNUM_NEG : TAG_BIGNUM_POS, p, 9);
  p += cbor_encode_bytestring_start(n, p, 9);
  mpz_export(p, NULL, 1, 1, 1, 0, z);
  p += n;
  e->out->len = (size_t) (p - e->out->data);
  mpz_clear(z);
}

static void
encode_number(struct enc *e, SCM x, int depth, const struct where *at)
{
  if (scm_is_exact_integer(x)) {
    encode_integer(e, x);
  } else if (scm_is_real(x) && scm_is_true(scm_inexact_p(x))) {
    PUT(e, cbor_encode_double, scm_to_double(x));
  } else if (scm_is_rational(x) && scm_is_true(scm_exact_p(x))) {
    PUT(e, cbor_encode_tag, TAG_RATIONAL);
    PUT(e, cbor_encode_array_start, 2);
    encode_integer(e, scm_numerator(x));
    encode_integer(e, scm_denominator(x));
  } else {
    PUT(e, cbor_encode_tag, TAG_COMPLEX);
    PUT(e, cbor_encode_array_start, 2);
    PUT(e, cbor_encode_double, scm_c_real_part(x));
    PUT(e, cbor_encode_double, scm_c_imag_part(x));
  }
}

/* Head of a 1-D numeric vector of NBYTES bytes whose elements are TYPE:
 * a plain byte string for bytevectors, a typed-array tag otherwise, and
 * the complex-vector tag around it for c32/c64. */
static void
put_uniform_head(struct enc *e, const par_scm_etype *type, size_t nbytes,
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

/* Refuse to send the array X, found at AT, whose size in elements or, if
 * BYTES, in bytes does not fit a size_t. */
static void
too_big(struct enc *e, SCM x, bool bytes, const struct where *at)
{
  par_scm_throw(e->who, PAR_ETOOBIG,
                "cannot send an array of dimensions ~a, found at ~a: it has "
                "more ~a than a message can hold",
                scm_list_3(scm_array_dimensions(x), describe_where(at),
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
  put_uniform_head(e, type, nbytes, false);
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
    encode(e, base[o.offset], depth + 1, &here);
  }
}

/* An array that is not a plain vector: shared, strided, multi-dimensional
 * or with non-zero lower bounds. */
static void
encode_array(struct enc *e, SCM x, int depth, const struct where *at)
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
    unsendable(e, x, at);
    return;
  }
  rank = scm_array_handle_rank(&h);
  dims = scm_array_handle_dims(&h);
  if (rank > PAR_WIRE_MAX_RANK) {
    scm_array_handle_release(&h);
    par_scm_throw(e->who, PAR_EINVAL,
                  "cannot send an array of rank ~a, found at ~a: the wire "
                  "format carries at most ~a dimensions",
                  scm_list_3(scm_from_size_t(rank), describe_where(at),
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

/* V in big-endian byte order, CBOR's. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define big_endian16(v) __builtin_bswap16(v)
#define big_endian32(v) __builtin_bswap32(v)
#define big_endian64(v) __builtin_bswap64(v)
#else
#define big_endian16(v) (v)
#define big_endian32(v) (v)
#define big_endian64(v) (v)
#endif

/* Write at P the head of major type MAJOR (0..7) with argument V in its
 * shortest form, as libcbor's encoders do, and return its length. P has
 * room for 9 bytes. */
static inline size_t
head_at(uint8_t *p, uint8_t major, uint64_t v)
{
  uint8_t m = (uint8_t) (major << 5);

  if (v < 24) {
    p[0] = m | (uint8_t) v;
    return 1;
  }
  if (v <= UINT8_MAX) {
    p[0] = m | 24;
    p[1] = (uint8_t) v;
    return 2;
  }
  if (v <= UINT16_MAX) {
    uint16_t x = big_endian16((uint16_t) v);

    p[0] = m | 25;
    memcpy(p + 1, &x, 2);
    return 3;
  }
  if (v <= UINT32_MAX) {
    uint32_t x = big_endian32((uint32_t) v);

    p[0] = m | 26;
    memcpy(p + 1, &x, 4);
    return 5;
  }
  v = big_endian64(v);
  p[0] = m | 27;
  memcpy(p + 1, &v, 8);
  return 9;
}

/* The longest string that an element of a list is written as by
 * put_text_fast: longer ones go the general way, whose cost is then small
 * beside the copy. */
#define FAST_TEXT_MAX 256

/* Append X if it is a short ASCII string held narrow and return true;
 * otherwise append nothing and return false. */
static bool
put_text_fast(struct enc *e, SCM x)
{
  const char *chars;
  size_t n;
  uint8_t any = 0, *p;

  if (!SCM_NIMP(x) || SCM_TYP7(x) != scm_tc7_string
      || (chars = par_scm_narrow_chars(x, &n)) == NULL
      || n > FAST_TEXT_MAX) {
    return false;
  }
  for (size_t i = 0; i < n; i++) {
    any |= (uint8_t) chars[i];
  }
  if (any >= 0x80) {
    return false; /* Latin-1 beyond ASCII: UTF-8 takes two bytes */
  }
  p = reserve(e, n + 9);
  p += head_at(p, 3, n);
  memcpy(p, chars, n);
  e->out->len = (size_t) (p + n - e->out->data);
  scm_remember_upto_here_1(x);
  return true;
}

/* How many bytes put_list_elements makes room for at a time. */
#define LIST_STRETCH 4096

/* The elements of the list X, in order; X's spine has been checked.
 *
 * Fixnums and flonums, most of the elements of most lists, are written
 * here directly into room made for many of them at once, with the
 * buffer's position in a local variable: going through encode and
 * libcbor's encoders costs several times as much. Short ASCII strings
 * come next (put_text_fast), and anything else goes through encode. */
static void
put_list_elements(struct enc *e, SCM x, int depth, struct where *here)
{
  par_wbuf *out = e->out;
  size_t i = 0;

  while (scm_is_pair(x)) {
    uint8_t *p = reserve(e, LIST_STRETCH);
    uint8_t *end = out->data + out->cap - 9;

    for (;;) {
      SCM v;
      int64_t fixnum;

      if (!scm_is_pair(x) || p > end) {
        out->len = (size_t) (p - out->data);
        break;
      }
      v = SCM_CAR(x);
      if (par_scm_fixnum(v, &fixnum)) {
        p += fixnum >= 0 ? head_at(p, 0, (uint64_t) fixnum)
                         : head_at(p, 1, (uint64_t) (-1 - fixnum));
      } else if (SCM_REALP(v)) {
        double value = SCM_REAL_VALUE(v);
        uint64_t bits;

        memcpy(&bits, &value, sizeof bits);
        bits = big_endian64(bits);
        p[0] = 0xfb;
        memcpy(p + 1, &bits, sizeof bits);
        p += 9;
      } else {
        out->len = (size_t) (p - out->data);
        if (!put_text_fast(e, v)) {
          here->index = i;
          encode(e, v, depth + 1, here);
        }
        x = SCM_CDR(x);
        i++;
        break;
      }
      x = SCM_CDR(x);
      i++;
    }
  }
}

/* Lists: a proper list is a plain CBOR array; an improper one is tagged
 * and ends with its tail. Circular lists are refused. */
static void
encode_list(struct enc *e, SCM x, int depth, const struct where *at)
{
  long n = scm_ilength(x);
  struct where here = {at, IN_LIST, 0};
  size_t count = 0;
  SCM slow, fast;

  if (n >= 0) {
    PUT(e, cbor_encode_array_start, (size_t) n);
    put_list_elements(e, x, depth, &here);
    return;
  }
  /* Improper or circular: tell them apart with two pointers. */
  slow = fast = x;
  while (scm_is_pair(fast)) {
    fast = SCM_CDR(fast);
    count++;
    if (!scm_is_pair(fast)) {
      break;
    }
    fast = SCM_CDR(fast);
    count++;
    slow = SCM_CDR(slow);
    if (scm_is_eq(fast, slow)) {
      par_scm_throw(e->who, PAR_EINVAL,
                    "cannot send a circular list, found at ~a",
                    scm_list_1(describe_where(at)));
    }
  }
  PUT(e, cbor_encode_tag, PTAG_IMPROPER);
  PUT(e, cbor_encode_array_start, count + 1);
  put_list_elements(e, x, depth, &here);
  for (; scm_is_pair(x); x = SCM_CDR(x)) {
  }
  here.kind = IN_TAIL;
  encode(e, x, depth + 1, &here);
}

static SCM
collect_entry(void *closure, SCM key, SCM value, SCM result)
{
  return scm_cons(scm_cons(key, value), result);
}

static void
encode_table(struct enc *e, SCM x, int depth, const struct where *at)
{
  /* The entries are collected first: a weak table may lose entries to
   * the collector between counting and writing them. */
  SCM entries = scm_internal_hash_fold(collect_entry, NULL, SCM_EOL, x);
  long n = scm_ilength(entries);
  struct where here = {at, IN_KEY, 0};
  size_t i;
  int weak = 0;

  if (scm_is_true(scm_weak_key_hash_table_p(x))) {
    weak = WEAK_KEY;
  } else if (scm_is_true(scm_weak_value_hash_table_p(x))) {
    weak = WEAK_VALUE;
  } else if (scm_is_true(scm_doubly_weak_hash_table_p(x))) {
    weak = WEAK_BOTH;
  }
  if (weak != 0) {
    PUT(e, cbor_encode_tag, PTAG_WEAK_TABLE);
    PUT(e, cbor_encode_array_start, 2);
    PUT(e, cbor_encode_uint, (uint64_t) weak);
  }
  /* The fold conses in reverse; reverse again to keep the table's own
   * order, which makes encodings of one table reproducible. */
  entries = scm_reverse_x(entries, SCM_EOL);
  PUT(e, cbor_encode_map_start, (size_t) n);
  for (i = 0; scm_is_pair(entries); entries = SCM_CDR(entries), i++) {
    here.index = i;
    here.kind = IN_KEY;
    encode(e, SCM_CAAR(entries), depth + 1, &here);
    here.kind = IN_VALUE;
    encode(e, SCM_CDAR(entries), depth + 1, &here);
  }
  scm_remember_upto_here_1(x);
}

static void
encode_struct(struct enc *e, SCM x, int depth, const struct where *at)
{
  SCM vtable = SCM_STRUCT_VTABLE(x);
  SCM name;
  struct where here = {at, IN_FIELD, 0};

  if (scm_is_eq(vtable, SCM_SIMPLE_VECTOR_REF(par__wire_hooks, 0))) {
    PUT(e, cbor_encode_tag, PTAG_PARALLELIZER);
    PUT0(e, cbor_encode_null);
    return;
  }
  name = scm_hashq_ref(par__wire_names_by_record, vtable, SCM_BOOL_F);
  if (scm_is_string(name)) {
    size_t n = SCM_STRUCT_SIZE(x), i;
    PUT(e, cbor_encode_tag, TAG_RECORD);
    PUT(e, cbor_encode_array_start, n + 1);
    put_string(e, name);
    for (i = 0; i < n; i++) {
      here.index = i;
      encode(e, scm_struct_ref(x, scm_from_size_t(i)), depth + 1, &here);
    }
    return;
  }
  if (scm_is_true(scm_call_1(SCM_VARIABLE_REF(par__wire_exception_p), x))) {
    SCM desc = scm_call_1(par__wire_exception_description, x);
    SCM args = SCM_CDR(desc);
    long n = scm_ilength(args);
    size_t i;

    PUT(e, cbor_encode_tag, PTAG_ERROR);
    PUT(e, cbor_encode_array_start, 2);
    PUT(e, cbor_encode_tag, TAG_SYMBOL);
    put_symbol_name(e, SCM_CAR(desc));
    here.kind = IN_ERROR;
    e->lenient++;
    if (n < 0) {
      /* Throw arguments are a list by construction; anything else is
       * carried as a one-element list. */
      args = scm_list_1(args);
      n = 1;
    }
    PUT(e, cbor_encode_array_start, (size_t) n);
    for (i = 0; scm_is_pair(args); args = SCM_CDR(args), i++) {
      here.index = i;
      encode(e, SCM_CAR(args), depth + 1, &here);
    }
    e->lenient--;
    return;
  }
  unsendable(e, x, at);
}

static void
encode(struct enc *e, SCM x, int depth, const struct where *at)
{
  int64_t fixnum;

  if (depth > PAR_WIRE_MAX_DEPTH) {
    too_deep(e, at);
  }
  if (par_scm_fixnum(x, &fixnum)) {
    put_int64(e, fixnum);
  } else if (scm_is_pair(x)) {
    encode_list(e, x, depth, at);
  } else if (scm_is_null(x)) {
    PUT(e, cbor_encode_array_start, 0);
  } else if (scm_is_number(x)) {
    encode_number(e, x, depth, at);
  } else if (scm_is_string(x)) {
    put_string(e, x);
  } else if (scm_is_symbol(x)) {
    PUT(e, cbor_encode_tag, TAG_SYMBOL);
    put_symbol_name(e, x);
  } else if (scm_is_eq(x, SCM_BOOL_T)) {
    PUT(e, cbor_encode_bool, true);
  } else if (scm_is_eq(x, SCM_BOOL_F)) {
    PUT(e, cbor_encode_bool, false);
  } else if (SCM_CHARP(x)) {
    PUT(e, cbor_encode_tag, PTAG_CHAR);
    PUT(e, cbor_encode_uint, (uint64_t) SCM_CHAR(x));
  } else if (scm_is_keyword(x)) {
    PUT(e, cbor_encode_tag, PTAG_KEYWORD);
    put_symbol_name(e, scm_keyword_to_symbol(x));
  } else if (scm_is_eq(x, SCM_UNSPECIFIED)) {
    PUT0(e, cbor_encode_null);
  } else if (scm_is_eq(x, SCM_EOF_VAL)) {
    PUT(e, cbor_encode_tag, PTAG_EOF);
    PUT0(e, cbor_encode_null);
  } else if (par__wire_encode_shared(x, e->out, e->who)) {
    /* A shared object travels as a handle (shared-wire.c). */
  } else if (scm_is_bytevector(x)) {
    size_t n = SCM_BYTEVECTOR_LENGTH(x);
    put_uniform_head(e, par_scm_etype_of(SCM_BYTEVECTOR_ELEMENT_TYPE(x)), n,
                     depth == 0);
    put_bytes(e, SCM_BYTEVECTOR_CONTENTS(x), n);
    scm_remember_upto_here_1(x);
  } else if (scm_is_vector(x)) {
    size_t n = scm_c_vector_length(x), i;
    struct where here = {at, IN_VECTOR, 0};
    PUT(e, cbor_encode_tag, PTAG_VECTOR);
    PUT(e, cbor_encode_array_start, n);
    for (i = 0; i < n; i++) {
      here.index = i;
      encode(e, SCM_SIMPLE_VECTOR_REF(x, i), depth + 1, &here);
    }
  } else if (SCM_STRUCTP(x)) {
    encode_struct(e, x, depth, at);
  } else if (scm_is_true(scm_hash_table_p(x))) {
    encode_table(e, x, depth, at);
  } else if (scm_is_array(x) && !scm_is_bitvector(x)) {
    encode_array(e, x, depth, at);
  } else {
    unsendable(e, x, at);
  }
}

void
par_scm_encode(SCM value, par_wbuf *out, const char *who)
{
  struct enc e = {out, who, 0};

  encode(&e, value, 0, NULL);
}
