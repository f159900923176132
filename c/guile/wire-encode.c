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
#include "mp-segment.h"
#include "shared-internal.h"
#include "wire-encode-internal.h"

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
int
par__wbuf_grow(par_wbuf *buf, size_t n)
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


void
par__enc_out_of_memory(struct enc *e)
{
  par_scm_throw(e->who, PAR_ENOMEM,
                "out of memory while encoding a value of ~a bytes",
                scm_list_1(scm_from_size_t(e->out->len)));
}

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

  if (__builtin_add_overflow(n, 9, &need)
      || par__wbuf_grow(e->out, need) != 0) {
    free(text);
    par__enc_out_of_memory(e);
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

/* How each kind of place reads, for par__enc_describe_where: a separator, then
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

/* Describe the path AT for an error message: "element 3 of a list inside
 * element 0 of a vector". */
SCM
par__enc_describe_where(const struct where *at)
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

void
par__enc_unsendable(struct enc *e, SCM x, const struct where *at)
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
                scm_list_3(x, describe_unsendable(x),
                           par__enc_describe_where(at)));
}

static void
too_deep(struct enc *e, const struct where *at)
{
  par_scm_throw(e->who, PAR_EINVAL,
                "cannot send a value nested deeper than ~a levels "
                "(is it circular?), found at ~a",
                scm_list_2(scm_from_int(PAR_WIRE_MAX_DEPTH),
                           par__enc_describe_where(at)));
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
  if (n > SIZE_MAX - 18 || par__wbuf_grow(e->out, n + 18) != 0) {
    mpz_clear(z);
    par__enc_out_of_memory(e);
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
          par__enc_value(e, v, depth + 1, here);
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
                    scm_list_1(par__enc_describe_where(at)));
    }
  }
  PUT(e, cbor_encode_tag, PTAG_IMPROPER);
  PUT(e, cbor_encode_array_start, count + 1);
  put_list_elements(e, x, depth, &here);
  for (; scm_is_pair(x); x = SCM_CDR(x)) {
  }
  here.kind = IN_TAIL;
  par__enc_value(e, x, depth + 1, &here);
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
    par__enc_value(e, SCM_CAAR(entries), depth + 1, &here);
    here.kind = IN_VALUE;
    par__enc_value(e, SCM_CDAR(entries), depth + 1, &here);
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
      par__enc_value(e, scm_struct_ref(x, scm_from_size_t(i)), depth + 1,
                     &here);
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
      par__enc_value(e, SCM_CAR(args), depth + 1, &here);
    }
    e->lenient--;
    return;
  }
  par__enc_unsendable(e, x, at);
}

void
par__enc_value(struct enc *e, SCM x, int depth, const struct where *at)
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
    const par_scm_etype *type =
        par_scm_etype_of(SCM_BYTEVECTOR_ELEMENT_TYPE(x));
    if (!par__enc_segment(e, type, SCM_BYTEVECTOR_CONTENTS(x), n)) {
      par__enc_uniform_head(e, type, n, depth == 0);
      put_bytes(e, SCM_BYTEVECTOR_CONTENTS(x), n);
    }
    scm_remember_upto_here_1(x);
  } else if (scm_is_vector(x)) {
    size_t n = scm_c_vector_length(x), i;
    struct where here = {at, IN_VECTOR, 0};
    PUT(e, cbor_encode_tag, PTAG_VECTOR);
    PUT(e, cbor_encode_array_start, n);
    for (i = 0; i < n; i++) {
      here.index = i;
      par__enc_value(e, SCM_SIMPLE_VECTOR_REF(x, i), depth + 1, &here);
    }
  } else if (SCM_STRUCTP(x)) {
    encode_struct(e, x, depth, at);
  } else if (scm_is_true(scm_hash_table_p(x))) {
    encode_table(e, x, depth, at);
  } else if (scm_is_array(x) && !scm_is_bitvector(x)) {
    par__enc_array(e, x, depth, at);
  } else {
    par__enc_unsendable(e, x, at);
  }
}

void
par_scm_encode(SCM value, par_wbuf *out, const char *who)
{
  struct enc e = {out, who, 0};

  par__enc_value(&e, value, 0, NULL);
}
