/* wire.c — the wire format: Scheme values to CBOR and back.
 *
 * The encoder walks a value and appends CBOR to a par_wbuf with libcbor's
 * encoder primitives; the decoder reads one item head at a time with
 * libcbor's streaming decoder and builds the value itself. libcbor's item
 * tree is never used: one cbor_item_t per element would be far too slow
 * for long lists. Numeric vectors are copied with one memcpy each way.
 *
 * Both directions recurse only into nested containers, never along the
 * spine of a list, and both stop at PAR_WIRE_MAX_DEPTH. Every length read
 * from a message is checked against the bytes that remain before anything
 * is allocated for it. doc/wire-format.texi is the specification.
 */
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <cbor.h>

#include "glue.h"
#include "wire.h"

#include <libguile/gc-inline.h>

/* --- Tags ---------------------------------------------------------------- */

/* Tags registered with IANA that the format uses. */
#define TAG_BIGNUM_POS 2
#define TAG_BIGNUM_NEG 3
#define TAG_RECORD 27          /* Object with type name: [name, fields...]. */
#define TAG_RATIONAL 30        /* [numerator, denominator]. */
#define TAG_SYMBOL 39          /* Identifier. */
#define TAG_NDARRAY 40         /* RFC 8746 row-major [dims, elements]. */
#define TAG_TYPED_FIRST 64     /* RFC 8746 typed arrays, 64..87. */
#define TAG_TYPED_LAST 87
#define TAG_COMPLEX 43000      /* [real, imaginary]. */

/* Parallelizer's private tags, one contiguous range. */
#define PTAG_BASE 59200
#define PTAG_CHAR (PTAG_BASE + 0)        /* Code point. */
#define PTAG_KEYWORD (PTAG_BASE + 1)     /* Name as text. */
#define PTAG_VECTOR (PTAG_BASE + 2)      /* Array of elements. */
#define PTAG_IMPROPER (PTAG_BASE + 3)    /* [elt, ..., tail]. */
#define PTAG_EOF (PTAG_BASE + 4)         /* null */
#define PTAG_PARALLELIZER (PTAG_BASE + 5) /* null */
#define PTAG_SHARED (PTAG_BASE + 6)      /* Reserved: shared-object handle. */
#define PTAG_ERROR (PTAG_BASE + 7)       /* [kind, args]. */
#define PTAG_WEAK_TABLE (PTAG_BASE + 8)  /* [weakness, map]. */
#define PTAG_COMPLEX_VECTOR (PTAG_BASE + 9) /* Float typed array. */
#define PTAG_LOWER_BOUNDS (PTAG_BASE + 10) /* [lower bounds, array]. */
#define PTAG_LAST (PTAG_BASE + 15)

/* Encoded messages and decoded vectors at least this long live in malloc'ed
 * memory handed to a bytevector without a copy; shorter ones are copied
 * into Guile's heap, which is cheaper than a finalized pointer. */
#define TAKE_THRESHOLD (64 * 1024)

#define WEAK_KEY 1
#define WEAK_VALUE 2
#define WEAK_BOTH 3

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_BIG_ENDIAN 0
#else
#define HOST_BIG_ENDIAN 1
#endif

/* --- Values looked up once ----------------------------------------------- */

static SCM element_type_symbols[SCM_ARRAY_ELEMENT_TYPE_LAST + 1];
static SCM exception_p_var;          /* exception? */
static SCM exception_description;    /* exn -> (kind . args) */
static SCM make_exception_var;       /* make-exception-from-throw */
static SCM record_p_var;             /* record? */
static SCM record_type_name_var;     /* record-type-name */

/* Registered record types: name (string) -> RTD and RTD -> name. */
static SCM records_by_name;
static SCM names_by_record;

/* Parallelizer hooks; see par_scm_wire_set_parallelizer_hooks. */
static SCM hooks;   /* A vector #(RTD THUNK), both #f until set. */

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
  data = realloc(buf->data, cap);
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
  const char *subr;
  /* Inside an error description, unsendable objects are replaced by their
   * printed form so that a worker's error always reaches the main
   * process. */
  int lenient;
};

static void encode(struct enc *e, SCM x, int depth, const struct where *at);

static void
out_of_memory(struct enc *e)
{
  par_scm_throw(e->subr, "out of memory while encoding a value of ~a bytes",
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
  if (wbuf_grow(e->out, n + 9) != 0) {
    free(text);
    out_of_memory(e);
  }
  e->out->len += cbor_encode_string_start(n, e->out->data + e->out->len, 9);
  memcpy(e->out->data + e->out->len, text, n);
  e->out->len += n;
  free(text);
}

/* --- Symbol names, cached ------------------------------------------------ */

/* Symbols recur in data (alist keys, record fields, tags), so their UTF-8
 * names are cached both ways: the usual symbol then costs neither a
 * conversion to UTF-8 when sent nor a symbol-table lookup when received.
 * The caches belong to the first thread that uses the codec; any other
 * thread takes the long way, so that no lock is needed. Every cached
 * symbol is also held in CACHED_SYMBOLS, so that an entry never outlives
 * its symbol and never matches a new object at the same address. */
#define SYMBOL_CACHE_SIZE 256
#define SYMBOL_CACHE_NAME 30

struct symbol_entry {
  SCM symbol;
  uint8_t len;
  char name[SYMBOL_CACHE_NAME];
};

static struct symbol_entry symbols_by_address[SYMBOL_CACHE_SIZE];
static struct symbol_entry symbols_by_name[SYMBOL_CACHE_SIZE];
static SCM cached_symbols; /* a vector of 2 * SYMBOL_CACHE_SIZE */
static pthread_t cache_owner;
static int cache_claimed;

static bool
owns_symbol_cache(void)
{
  if (!cache_claimed) {
    cache_owner = pthread_self();
    cache_claimed = 1;
    return true;
  }
  return pthread_equal(cache_owner, pthread_self());
}

static size_t
hash_name(const char *name, size_t n)
{
  uint32_t h = 2166136261u;

  for (size_t i = 0; i < n; i++) {
    h = (h ^ (uint8_t) name[i]) * 16777619u;
  }
  return h % SYMBOL_CACHE_SIZE;
}

static void
remember_symbol(struct symbol_entry *entry, size_t slot, SCM symbol,
                const char *name, size_t n)
{
  scm_c_vector_set_x(cached_symbols, slot, symbol);
  entry->symbol = symbol;
  entry->len = (uint8_t) n;
  memcpy(entry->name, name, n);
}

/* Append SYMBOL's name as a text string. */
static void
put_symbol_name(struct enc *e, SCM symbol)
{
  size_t slot = (SCM_UNPACK(symbol) >> 4) % SYMBOL_CACHE_SIZE, n;
  struct symbol_entry *entry = &symbols_by_address[slot];
  bool cached = owns_symbol_cache();
  char *text;

  if (cached && scm_is_eq(entry->symbol, symbol)) {
    uint8_t *p = reserve(e, entry->len + 1u);

    p[0] = (uint8_t) (0x60 | entry->len); /* A text head: len < 24. */
    memcpy(p + 1, entry->name, entry->len);
    e->out->len += entry->len + 1u;
    return;
  }
  text = scm_to_utf8_stringn(scm_symbol_to_string(symbol), &n);
  if (cached && n < 24) {
    remember_symbol(entry, slot, symbol, text, n);
  }
  put_text_owned(e, text, n);
}

/* The symbol named by the N bytes of UTF-8 at NAME. */
static SCM
symbol_named(const char *name, size_t n)
{
  size_t slot;
  struct symbol_entry *entry;
  SCM symbol;

  if (n > SYMBOL_CACHE_NAME || !owns_symbol_cache()) {
    return scm_from_utf8_symboln(name, n);
  }
  slot = hash_name(name, n);
  entry = &symbols_by_name[slot];
  if (entry->len == n && SCM_UNPACK(entry->symbol) != 0
      && memcmp(entry->name, name, n) == 0) {
    return entry->symbol;
  }
  symbol = scm_from_utf8_symboln(name, n);
  remember_symbol(entry, SYMBOL_CACHE_SIZE + slot, symbol, name, n);
  return symbol;
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
    switch (at->kind) {
    case IN_LIST:
      n = snprintf(buf + used, sizeof buf - used, "%selement %zu of a list",
                   sep, at->index);
      break;
    case IN_TAIL:
      n = snprintf(buf + used, sizeof buf - used,
                   "%sthe tail of an improper list", sep);
      break;
    case IN_VECTOR:
      n = snprintf(buf + used, sizeof buf - used,
                   "%selement %zu of a vector", sep, at->index);
      break;
    case IN_ARRAY:
      n = snprintf(buf + used, sizeof buf - used,
                   "%selement %zu (in row-major order) of an array", sep,
                   at->index);
      break;
    case IN_KEY:
      n = snprintf(buf + used, sizeof buf - used,
                   "%sthe key of entry %zu of a hash table", sep, at->index);
      break;
    case IN_VALUE:
      n = snprintf(buf + used, sizeof buf - used,
                   "%sthe value of entry %zu of a hash table", sep,
                   at->index);
      break;
    case IN_FIELD:
      n = snprintf(buf + used, sizeof buf - used,
                   "%sfield %zu of a record", sep, at->index);
      break;
    case IN_ERROR:
      n = snprintf(buf + used, sizeof buf - used,
                   "%sargument %zu of an error", sep, at->index);
      break;
    default:
      n = snprintf(buf + used, sizeof buf - used, "%spart %zu of a number",
                   sep, at->index);
      break;
    }
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
      && scm_is_true(scm_call_1(SCM_VARIABLE_REF(record_p_var), x))) {
    SCM name = scm_call_1(SCM_VARIABLE_REF(record_type_name_var),
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
  par_scm_throw(e->subr, "cannot send ~s, ~a, found at ~a",
                scm_list_3(x, describe_unsendable(x), describe_where(at)));
}

static void
too_deep(struct enc *e, const struct where *at)
{
  par_scm_throw(e->subr,
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
  if (wbuf_grow(e->out, n + 18) != 0) {
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

/* The RFC 8746 typed-array tag of ELEMENT_TYPE in the host's byte order;
 * 0 when the type has none. */
static uint64_t
typed_tag(scm_t_array_element_type type)
{
  static const uint64_t little[] = {
    [SCM_ARRAY_ELEMENT_TYPE_U8] = 64,  [SCM_ARRAY_ELEMENT_TYPE_S8] = 72,
    [SCM_ARRAY_ELEMENT_TYPE_U16] = 69, [SCM_ARRAY_ELEMENT_TYPE_S16] = 77,
    [SCM_ARRAY_ELEMENT_TYPE_U32] = 70, [SCM_ARRAY_ELEMENT_TYPE_S32] = 78,
    [SCM_ARRAY_ELEMENT_TYPE_U64] = 71, [SCM_ARRAY_ELEMENT_TYPE_S64] = 79,
    [SCM_ARRAY_ELEMENT_TYPE_F32] = 85, [SCM_ARRAY_ELEMENT_TYPE_F64] = 86,
    [SCM_ARRAY_ELEMENT_TYPE_C32] = 85, [SCM_ARRAY_ELEMENT_TYPE_C64] = 86,
  };
  uint64_t tag;

  if (type < SCM_ARRAY_ELEMENT_TYPE_U8 || type > SCM_ARRAY_ELEMENT_TYPE_LAST) {
    return 0;
  }
  tag = little[type];
  /* Big-endian variants clear the endianness bit (4); bytes need none. */
  if (HOST_BIG_ENDIAN && tag != 64 && tag != 72) {
    tag &= ~(uint64_t) 4;
  }
  return tag;
}

static size_t
element_size(scm_t_array_element_type type)
{
  static const unsigned char sizes[] = {
    [SCM_ARRAY_ELEMENT_TYPE_VU8] = 1, [SCM_ARRAY_ELEMENT_TYPE_U8] = 1,
    [SCM_ARRAY_ELEMENT_TYPE_S8] = 1,  [SCM_ARRAY_ELEMENT_TYPE_U16] = 2,
    [SCM_ARRAY_ELEMENT_TYPE_S16] = 2, [SCM_ARRAY_ELEMENT_TYPE_U32] = 4,
    [SCM_ARRAY_ELEMENT_TYPE_S32] = 4, [SCM_ARRAY_ELEMENT_TYPE_U64] = 8,
    [SCM_ARRAY_ELEMENT_TYPE_S64] = 8, [SCM_ARRAY_ELEMENT_TYPE_F32] = 4,
    [SCM_ARRAY_ELEMENT_TYPE_F64] = 8, [SCM_ARRAY_ELEMENT_TYPE_C32] = 8,
    [SCM_ARRAY_ELEMENT_TYPE_C64] = 16,
  };
  return type <= SCM_ARRAY_ELEMENT_TYPE_LAST ? sizes[type] : 0;
}

/* Head of a 1-D numeric vector of NBYTES bytes whose elements are TYPE:
 * a plain byte string for bytevectors, a typed-array tag otherwise, and
 * the complex-vector tag around it for c32/c64. */
static void
put_uniform_head(struct enc *e, scm_t_array_element_type type, size_t nbytes,
                 bool align)
{
  bool complex = type == SCM_ARRAY_ELEMENT_TYPE_C32
                 || type == SCM_ARRAY_ELEMENT_TYPE_C64;

  if (align && nbytes >= TAKE_THRESHOLD && nbytes <= UINT32_MAX
      && type != SCM_ARRAY_ELEMENT_TYPE_VU8) {
    /* A large vector that is the whole message gets a head of exactly 8
     * (16 for complex) bytes, by writing the tag and the length in longer
     * forms than needed, which CBOR allows: its elements then start
     * aligned wherever the message does, and the receiver can keep them
     * where they arrived instead of copying them (par_scm_decode_msg). */
    uint64_t tag = typed_tag(type);
    uint8_t *p = reserve(e, 16);
    size_t n = 0;

    if (complex) {
      p[n++] = 0xda;
      for (int shift = 24; shift >= 0; shift -= 8) {
        p[n++] = (uint8_t) (PTAG_COMPLEX_VECTOR >> shift);
      }
      p[n++] = 0xd8;
      p[n++] = (uint8_t) tag;
      p[n++] = 0x5b;
      for (int shift = 56; shift >= 0; shift -= 8) {
        p[n++] = (uint8_t) ((uint64_t) nbytes >> shift);
      }
    } else {
      p[n++] = 0xd9;
      p[n++] = (uint8_t) (tag >> 8);
      p[n++] = (uint8_t) tag;
      p[n++] = 0x5a;
      for (int shift = 24; shift >= 0; shift -= 8) {
        p[n++] = (uint8_t) (nbytes >> shift);
      }
    }
    e->out->len += n;
    return;
  }
  if (complex) {
    PUT(e, cbor_encode_tag, PTAG_COMPLEX_VECTOR);
  }
  if (type != SCM_ARRAY_ELEMENT_TYPE_VU8) {
    PUT(e, cbor_encode_tag, typed_tag(type));
  }
  PUT(e, cbor_encode_bytestring_start, nbytes);
}

/* Visit the elements of the array behind H in row-major order, calling
 * VISIT with the element's offset (in elements) from the handle's base. */
struct array_walk {
  scm_t_array_handle *h;
  size_t count;
};

static size_t
array_count(scm_t_array_handle *h)
{
  size_t count = 1, k, rank = scm_array_handle_rank(h);
  scm_t_array_dim *dims = scm_array_handle_dims(h);

  for (k = 0; k < rank; k++) {
    ssize_t len = dims[k].ubnd - dims[k].lbnd + 1;
    count *= len > 0 ? (size_t) len : 0;
  }
  return count;
}

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
  ssize_t idx[64];
  ssize_t offset;
};

static bool
odometer_init(struct odometer *o, scm_t_array_handle *h)
{
  size_t k;

  o->rank = scm_array_handle_rank(h);
  o->dims = scm_array_handle_dims(h);
  o->offset = 0;
  if (o->rank > 64) {
    return false;
  }
  for (k = 0; k < o->rank; k++) {
    o->idx[k] = 0;
  }
  return true;
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

/* The elements of the uniform array behind H, copied row-major. */
static void
put_uniform_elements(struct enc *e, scm_t_array_handle *h, size_t count,
                     size_t elsize)
{
  const uint8_t *base = scm_array_handle_uniform_elements(h);
  uint8_t *p = reserve(e, count * elsize);
  struct odometer o;
  size_t i;

  if (array_row_major(h)) {
    if (count > 0) {
      memcpy(p, base, count * elsize);
    }
  } else {
    if (!odometer_init(&o, h)) {
      par_scm_throw(e->subr, "cannot send an array of rank ~a",
                    scm_list_1(scm_from_size_t(o.rank)));
    }
    for (i = 0; i < count; i++, odometer_next(&o)) {
      memcpy(p + i * elsize, base + o.offset * (ssize_t) elsize, elsize);
    }
  }
  e->out->len += count * elsize;
}

static void
put_scm_elements(struct enc *e, scm_t_array_handle *h, size_t count,
                 int depth, const struct where *at)
{
  const SCM *base = scm_array_handle_elements(h);
  struct odometer o;
  struct where here = {at, IN_ARRAY, 0};
  size_t i;

  if (!odometer_init(&o, h)) {
    par_scm_throw(e->subr, "cannot send an array of rank ~a",
                  scm_list_1(scm_from_size_t(o.rank)));
  }
  PUT(e, cbor_encode_array_start, count);
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
  scm_t_array_element_type type;
  size_t rank, count, k, elsize;
  scm_t_array_dim *dims;
  bool offset = false;

  scm_array_get_handle(x, &h);
  type = h.element_type;
  if (type == SCM_ARRAY_ELEMENT_TYPE_CHAR
      || type == SCM_ARRAY_ELEMENT_TYPE_BIT) {
    scm_array_handle_release(&h);
    unsendable(e, x, at);
    return;
  }
  rank = scm_array_handle_rank(&h);
  dims = scm_array_handle_dims(&h);
  count = array_count(&h);
  elsize = element_size(type);
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
  if (rank == 1) {
    /* A rank-1 array goes as the plain vector of its elements. */
    if (type == SCM_ARRAY_ELEMENT_TYPE_SCM) {
      PUT(e, cbor_encode_tag, PTAG_VECTOR);
      put_scm_elements(e, &h, count, depth, at);
    } else {
      put_uniform_head(e, type, count * elsize, false);
      put_uniform_elements(e, &h, count, elsize);
    }
  } else {
    PUT(e, cbor_encode_tag, TAG_NDARRAY);
    PUT(e, cbor_encode_array_start, 2);
    PUT(e, cbor_encode_array_start, rank);
    for (k = 0; k < rank; k++) {
      PUT(e, cbor_encode_uint, (uint64_t) (dims[k].ubnd - dims[k].lbnd + 1));
    }
    if (type == SCM_ARRAY_ELEMENT_TYPE_SCM) {
      put_scm_elements(e, &h, count, depth, at);
    } else {
      put_uniform_head(e, type, count * elsize, false);
      put_uniform_elements(e, &h, count, elsize);
    }
  }
  scm_array_handle_release(&h);
}

/* Lists: a proper list is a plain CBOR array; an improper one is tagged
 * and ends with its tail. Circular lists are refused. */
static void
encode_list(struct enc *e, SCM x, int depth, const struct where *at)
{
  long n = scm_ilength(x);
  struct where here = {at, IN_LIST, 0};
  size_t count = 0, i;
  SCM slow, fast;

  if (n >= 0) {
    PUT(e, cbor_encode_array_start, (size_t) n);
    for (i = 0; scm_is_pair(x); x = SCM_CDR(x), i++) {
      here.index = i;
      encode(e, SCM_CAR(x), depth + 1, &here);
    }
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
      par_scm_throw(e->subr, "cannot send a circular list, found at ~a",
                    scm_list_1(describe_where(at)));
    }
  }
  PUT(e, cbor_encode_tag, PTAG_IMPROPER);
  PUT(e, cbor_encode_array_start, count + 1);
  for (i = 0; scm_is_pair(x); x = SCM_CDR(x), i++) {
    here.index = i;
    encode(e, SCM_CAR(x), depth + 1, &here);
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

  if (scm_is_eq(vtable, SCM_SIMPLE_VECTOR_REF(hooks, 0))) {
    PUT(e, cbor_encode_tag, PTAG_PARALLELIZER);
    PUT0(e, cbor_encode_null);
    return;
  }
  name = scm_hashq_ref(names_by_record, vtable, SCM_BOOL_F);
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
  if (scm_is_true(scm_call_1(SCM_VARIABLE_REF(exception_p_var), x))) {
    SCM desc = scm_call_1(exception_description, x);
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
  if (depth > PAR_WIRE_MAX_DEPTH) {
    too_deep(e, at);
  }
  if (SCM_I_INUMP(x)) {
    put_int64(e, SCM_I_INUM(x));
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
  } else if (scm_is_bytevector(x)) {
    scm_t_array_element_type type = SCM_BYTEVECTOR_ELEMENT_TYPE(x);
    size_t n = SCM_BYTEVECTOR_LENGTH(x);
    put_uniform_head(e, type, n, depth == 0);
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
par_scm_encode(SCM value, par_wbuf *out, const char *subr)
{
  struct enc e = {out, subr, 0};

  encode(&e, value, 0, NULL);
}

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
                                  element_type_symbols[p->type]);
    scm_gc_register_allocation(p->n);
    return v;
  }
  if (p->type == SCM_ARRAY_ELEMENT_TYPE_VU8) {
    v = scm_c_make_bytevector(p->count);
  } else {
    v = scm_make_srfi_4_vector(element_type_symbols[p->type],
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
    array = scm_make_typed_array(element_type_symbols[p.type], SCM_UNDEFINED,
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
    array = scm_make_typed_array(element_type_symbols[p.type], SCM_UNDEFINED,
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
  return scm_call_2(SCM_VARIABLE_REF(make_exception_var), c->kind, c->args);
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
  rtd = scm_hash_ref(records_by_name,
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
    return symbol_named((const char *) h.data, h.n);
  case PTAG_KEYWORD:
    read_text(d, &h, "a keyword's name");
    return scm_symbol_to_keyword(
        symbol_named((const char *) h.data, h.n));
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
    thunk = SCM_SIMPLE_VECTOR_REF(hooks, 1);
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
          element_type_symbols[p.type]);

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

/* --- Hooks and registry -------------------------------------------------- */

void
par_scm_wire_set_parallelizer_hooks(SCM rtd, SCM thunk)
{
  SCM_SIMPLE_VECTOR_SET(hooks, 0, rtd);
  SCM_SIMPLE_VECTOR_SET(hooks, 1, thunk);
}

/* --- Primitives ---------------------------------------------------------- */

static void
free_wbuf(void *buf)
{
  par_wbuf_free(buf);
}

static SCM
value_to_cbor(SCM value)
#define FUNC_NAME "value->cbor"
{
  par_wbuf buf = PAR_WBUF_INIT;
  SCM result;

  scm_dynwind_begin(0);
  scm_dynwind_unwind_handler(free_wbuf, &buf, 0);
  par_scm_encode(value, &buf, FUNC_NAME);
  scm_dynwind_end();
  if (buf.len >= TAKE_THRESHOLD) {
    SCM pointer = scm_from_pointer(buf.data, free);
    result = scm_pointer_to_bytevector(pointer, scm_from_size_t(buf.len),
                                       SCM_INUM0,
                                       scm_from_utf8_symbol("vu8"));
    scm_gc_register_allocation(buf.len);
  } else {
    result = scm_c_make_bytevector(buf.len);
    memcpy(SCM_BYTEVECTOR_CONTENTS(result), buf.data, buf.len);
    par_wbuf_free(&buf);
  }
  return result;
}
#undef FUNC_NAME

static SCM
cbor_to_value(SCM bv)
#define FUNC_NAME "cbor->value"
{
  SCM value;

  SCM_VALIDATE_BYTEVECTOR(1, bv);
  value = par_scm_decode(SCM_BYTEVECTOR_CONTENTS(bv),
                         SCM_BYTEVECTOR_LENGTH(bv), FUNC_NAME);
  scm_remember_upto_here_1(bv);
  return value;
}
#undef FUNC_NAME

static SCM
wire_register_record_type(SCM rtd, SCM name)
#define FUNC_NAME "register-wire-record-type!"
{
  SCM old;

  SCM_VALIDATE_STRUCT(1, rtd);
  SCM_VALIDATE_STRING(2, name);
  /* One name per type and one type per name: a re-registration replaces
   * the earlier binding in both directions. */
  old = scm_hash_ref(records_by_name, name, SCM_BOOL_F);
  if (scm_is_true(old)) {
    scm_hashq_remove_x(names_by_record, old);
  }
  old = scm_hashq_ref(names_by_record, rtd, SCM_BOOL_F);
  if (scm_is_true(old)) {
    scm_hash_remove_x(records_by_name, old);
  }
  scm_hash_set_x(records_by_name, name, rtd);
  scm_hashq_set_x(names_by_record, rtd, name);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM
wire_set_parallelizer_hooks(SCM rtd, SCM thunk)
#define FUNC_NAME "%wire-set-parallelizer-hooks!"
{
  SCM_VALIDATE_STRUCT(1, rtd);
  SCM_VALIDATE_PROC(2, thunk);
  par_scm_wire_set_parallelizer_hooks(rtd, thunk);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM
wire_max_depth(void)
{
  return scm_from_int(PAR_WIRE_MAX_DEPTH);
}

/* Turns any exception into (kind . args), the way `catch' would see it.
 * Exceptions raised without a kind (raise-exception of a compound
 * condition) become a misc-error carrying their message and irritants. */
static const char exception_description_code[] =
  "(lambda (exn)"
  "  (let ((kind (exception-kind exn)))"
  "    (if (not (eq? kind '%exception))"
  "        (cons kind (exception-args exn))"
  "        (let* ((ref (lambda (name) (module-ref (resolve-interface"
  "                                                '(ice-9 exceptions))"
  "                                               name)))"
  "               (msg (if ((ref 'exception-with-message?) exn)"
  "                        ((ref 'exception-message) exn)"
  "                        \"unknown error\"))"
  "               (irritants (if ((ref 'exception-with-irritants?) exn)"
  "                              ((ref 'exception-irritants) exn)"
  "                              '()))"
  "               (irritants (if (list? irritants) irritants"
  "                              (list irritants)))"
  "               (origin (if ((ref 'exception-with-origin?) exn)"
  "                           ((ref 'exception-origin) exn)"
  "                           #f)))"
  "          (list 'misc-error origin"
  "                (apply string-append \"~A\""
  "                       (map (lambda (x) \" ~S\") irritants))"
  "                (cons msg irritants) #f)))))";

void
par_scm_init_wire(void)
{
  static const char *const type_names[] = {
    NULL, "a", "b", "vu8", "u8", "s8", "u16", "s16", "u32", "s32",
    "u64", "s64", "f32", "f64", "c32", "c64"
  };
  size_t i;

  cached_symbols = scm_permanent_object(
      scm_c_make_vector(2 * SYMBOL_CACHE_SIZE, SCM_BOOL_F));
  element_type_symbols[0] = SCM_BOOL_T;
  for (i = 1; i <= SCM_ARRAY_ELEMENT_TYPE_LAST; i++) {
    element_type_symbols[i] =
        scm_permanent_object(scm_from_utf8_symbol(type_names[i]));
  }
  /* make-exception-from-throw is replaced when (ice-9 exceptions) loads;
   * load it now so that decoded errors get the full condition objects. */
  scm_c_resolve_module("ice-9 exceptions");
  exception_p_var = scm_permanent_object(
      scm_c_public_lookup("guile", "exception?"));
  make_exception_var = scm_permanent_object(
      scm_c_public_lookup("guile", "make-exception-from-throw"));
  record_p_var = scm_permanent_object(scm_c_public_lookup("guile",
                                                          "record?"));
  record_type_name_var = scm_permanent_object(
      scm_c_public_lookup("guile", "record-type-name"));
  /* Read and evaluated, not eval-string'ed: eval-string would load the
   * whole compiler into every process that loads the extension. */
  exception_description = scm_permanent_object(
      scm_eval(scm_c_read_string(exception_description_code),
               scm_c_resolve_module("guile")));
  records_by_name = scm_permanent_object(scm_c_make_hash_table(31));
  names_by_record = scm_permanent_object(scm_c_make_hash_table(31));
  hooks = scm_permanent_object(scm_c_make_vector(2, SCM_BOOL_F));

  scm_c_define_gsubr("%value->cbor", 1, 0, 0, value_to_cbor);
  scm_c_define_gsubr("%cbor->value", 1, 0, 0, cbor_to_value);
  scm_c_define_gsubr("%wire-register-record-type!", 2, 0, 0,
                     wire_register_record_type);
  scm_c_define_gsubr("%wire-set-parallelizer-hooks!", 2, 0, 0,
                     wire_set_parallelizer_hooks);
  scm_c_define_gsubr("%wire-max-depth", 0, 0, 0, wire_max_depth);
}
