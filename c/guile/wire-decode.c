/* wire-decode.c — CBOR back to Scheme values.
 *
 * The decoder reads the message one item head at a time (wire-read.c) and
 * builds the value itself, reading the bulk of most lists (integers,
 * flonums and short ASCII strings) directly. It recurses only into nested
 * containers and stops at PAR_WIRE_MAX_DEPTH. Numeric vectors and arrays
 * are built by wire-decode-array.c.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>

#include "shared-internal.h"
#include "wire-internal.h"

static SCM decode(struct dec *d, int depth);

static void
check_depth(struct dec *d, int depth, size_t at)
{
  if (depth > PAR_WIRE_MAX_DEPTH) {
    par__wire_fail(d, at, "nested deeper than %d levels", PAR_WIRE_MAX_DEPTH);
  }
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

  par__wire_read_head(d, &h);
  if (h.kind != H_BYTES) {
    par__wire_fail(d, h.at, "the content of tag %" PRIu64 " (bignum) must "
                   "be a byte string", tag);
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
    SCM cell = par_scm_inline_cons(d->thread, decode(d, depth + 1), SCM_EOL);
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
  struct exn_call c;
  SCM exn;

  par__wire_expect_array(d, 2, "an error description must be [kind, "
                         "arguments]");
  c.kind = decode(d, depth + 1);
  c.args = decode(d, depth + 1);
  if (!scm_is_symbol(c.kind) || scm_ilength(c.args) < 0) {
    par__wire_fail(d, at, "an error description must be [symbol, list]");
  }
  exn = scm_c_catch(SCM_BOOL_T, exn_body, &c, exn_handler, NULL, NULL, NULL);
  if (scm_is_false(exn)) {
    par__wire_fail(d, at, "the error description cannot be rebuilt as an "
                   "exception");
  }
  return exn;
}

static SCM
decode_record(struct dec *d, int depth, size_t at)
{
  struct head h, name;
  SCM rtd, fields;
  size_t nfields;

  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY || h.n < 1) {
    par__wire_fail(d, h.at, "a record must be [type name, fields...]");
  }
  nfields = h.n - 1;
  par__wire_read_text(d, &name, "the type name of a record");
  rtd = scm_hash_ref(par__wire_records_by_name,
                     scm_from_utf8_stringn((const char *) name.data, name.n),
                     SCM_BOOL_F);
  if (scm_is_false(rtd)) {
    par_scm_throw(d->who, PAR_ENOENT,
                  "cannot receive a record of type ~s: no record type is "
                  "registered under that name in this process (see "
                  "register-wire-record-type!)",
                  scm_list_1(scm_from_utf8_stringn((const char *) name.data,
                                                   name.n)));
  }
  fields = decode_list(d, depth, nfields, false);
  if (SCM_VTABLE_SIZE(rtd) != nfields) {
    par__wire_fail(d, at, "record type %.*s has %zu fields, the message %zu",
                   (int) (name.n > 64 ? 64 : name.n),
                   (const char *) name.data, (size_t) SCM_VTABLE_SIZE(rtd),
                   nfields);
  }
  return scm_make_struct_no_tail(rtd, fields);
}

/* [numerator, denominator] of tag 30, whose tag was at AT. */
static SCM
decode_rational(struct dec *d, int depth, size_t at)
{
  SCM num, den;

  par__wire_expect_array(d, 2, "a rational must be [numerator, "
                         "denominator]");
  num = decode(d, depth + 1);
  den = decode(d, depth + 1);
  if (!scm_is_exact_integer(num) || !scm_is_exact_integer(den)
      || scm_is_false(scm_positive_p(den))) {
    par__wire_fail(d, at, "a rational needs an integer numerator and a "
                   "positive integer denominator");
  }
  return scm_divide(num, den);
}

/* [real, imaginary] of tag 43000, whose tag was at AT. */
static SCM
decode_complex(struct dec *d, int depth, size_t at)
{
  SCM re, im;

  par__wire_expect_array(d, 2, "a complex number must be [real, "
                         "imaginary]");
  re = decode(d, depth + 1);
  im = decode(d, depth + 1);
  if (!scm_is_real(re) || !scm_is_real(im)) {
    par__wire_fail(d, at, "the parts of a complex number must be real "
                   "numbers");
  }
  return scm_c_make_rectangular(scm_to_double(re), scm_to_double(im));
}

/* The elements of a Scheme vector (our vector tag). */
static SCM
decode_vector(struct dec *d, int depth)
{
  struct head h;
  SCM v;

  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY) {
    par__wire_fail(d, h.at, "the content of a vector tag must be an array");
  }
  v = scm_c_make_vector(h.n, SCM_UNSPECIFIED);
  for (size_t i = 0; i < h.n; i++) {
    SCM_SIMPLE_VECTOR_SET(v, i, decode(d, depth + 1));
  }
  return v;
}

/* The object of a tag whose content is null: the end-of-file object or
 * the receiving process's parallelizer. */
static SCM
decode_null_tag(struct dec *d, uint64_t tag)
{
  struct head h;
  SCM thunk;

  par__wire_read_head(d, &h);
  if (h.kind != H_NULL) {
    par__wire_fail(d, h.at, "the content of tag %" PRIu64 " must be null",
                   tag);
  }
  if (tag == PTAG_EOF) {
    return SCM_EOF_VAL;
  }
  thunk = SCM_SIMPLE_VECTOR_REF(par__wire_hooks, 1);
  if (scm_is_false(thunk)) {
    par_scm_throw(d->who, PAR_ENOENT,
                  "cannot receive a parallelizer: the (parallelizer) "
                  "module is not loaded in this process", SCM_EOL);
  }
  return scm_call_0(thunk);
}

/* [weakness, map] of our weak-table tag. */
static SCM
decode_weak_table(struct dec *d, int depth)
{
  struct head h;
  int weak;

  par__wire_expect_array(d, 2, "a weak hash table must be [weakness, map]");
  par__wire_read_head(d, &h);
  if (h.kind != H_UINT || h.u < WEAK_KEY || h.u > WEAK_BOTH) {
    par__wire_fail(d, h.at, "the weakness of a hash table must be 1, 2 or "
                   "3");
  }
  weak = (int) h.u;
  par__wire_read_head(d, &h);
  if (h.kind != H_MAP) {
    par__wire_fail(d, h.at, "a weak hash table must hold a map");
  }
  return decode_hash_table(d, depth, h.n, weak);
}

/* The value of the tag of head T, its content still to read. */
static SCM
decode_tag(struct dec *d, int depth, const struct head *t)
{
  struct head h;

  switch (t->u) {
  case TAG_BIGNUM_POS:
  case TAG_BIGNUM_NEG:
    return decode_bignum(d, t->u);
  case TAG_RATIONAL:
    return decode_rational(d, depth, t->at);
  case TAG_COMPLEX:
    return decode_complex(d, depth, t->at);
  case TAG_SYMBOL:
    par__wire_read_text(d, &h, "the content of tag 39 (symbol)");
    return par__wire_symbol_named((const char *) h.data, h.n);
  case PTAG_KEYWORD:
    par__wire_read_text(d, &h, "a keyword's name");
    return scm_symbol_to_keyword(
        par__wire_symbol_named((const char *) h.data, h.n));
  case PTAG_CHAR:
    par__wire_read_head(d, &h);
    if (h.kind != H_UINT || h.u > 0x10ffff
        || (h.u >= 0xd800 && h.u <= 0xdfff)) {
      par__wire_fail(d, h.at, "a character must be a Unicode scalar value");
    }
    return SCM_MAKE_CHAR((scm_t_wchar) h.u);
  case PTAG_VECTOR:
    return decode_vector(d, depth);
  case PTAG_IMPROPER:
    par__wire_read_head(d, &h);
    if (h.kind != H_ARRAY || h.n < 2) {
      par__wire_fail(d, h.at, "an improper list must be an array of two or "
                     "more items");
    }
    return decode_list(d, depth, h.n, true);
  case PTAG_EOF:
  case PTAG_PARALLELIZER:
    return decode_null_tag(d, t->u);
  case PTAG_SHARED:
    return par__wire_decode_shared(d, t->at);
  case PTAG_ERROR:
    return decode_error(d, depth, t->at);
  case PTAG_WEAK_TABLE:
    return decode_weak_table(d, depth);
  case TAG_NDARRAY:
    return par__wire_decode_ndarray(d, depth, t->at, NULL, 0);
  case PTAG_LOWER_BOUNDS:
    return par__wire_decode_lower_bounds(d, depth, t->at);
  case TAG_RECORD:
    return decode_record(d, depth, t->at);
  default:
    if (par__wire_is_vector_head(t)) {
      h = *t;
      return par__wire_decode_vector(d, &h);
    }
    par__wire_fail(d, t->at, "unknown tag %" PRIu64, t->u);
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
  par__wire_read_head(d, &h);
  switch (h.kind) {
  case H_UINT:
    return scm_from_uint64(h.u);
  case H_NEGINT:
    return decode_negint(h.u);
  case H_FLOAT:
    return scm_from_double(h.d);
  case H_TEXT:
    par__wire_check_utf8(d, &h);
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
    par__wire_fail(d, h.at, "unexpected item");
  }
}

SCM
par__wire_decode(struct dec *d, int depth)
{
  return decode(d, depth);
}

SCM
par_scm_decode_msg(par_msg *msg, const char *who)
{
  SCM v = par__wire_vector_in_place(msg, who);

  return scm_is_true(v) ? v : par_scm_decode(msg->data, msg->len, who);
}

SCM
par_scm_decode(const void *data, size_t len, const char *who)
{
  struct dec d = {data, len, 0, who, par_scm_this_thread()};
  SCM value;

  if (len == 0) {
    par_scm_throw(who, PAR_EMALFORMED, "malformed message: it is empty",
                  SCM_EOL);
  }
  value = decode(&d, 0);
  if (d.pos != len) {
    par__wire_fail(&d, d.pos, "%zu bytes of trailing garbage after the "
                   "value", len - d.pos);
  }
  return value;
}
