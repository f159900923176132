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

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <gmp.h>

#include "shared-internal.h"
#include "wire-internal.h"

static SCM decode(struct dec *d, int depth);
static inline bool decode_fast(struct dec *d, SCM *out)
    __attribute__((always_inline));

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
  par__wire_charge(d, par__wire_cost(h.n, 2, COST_BOXED), h.at);
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

/* --- Maps --------------------------------------------------------------- */

/* Keys that Guile's hash function cannot tell apart are compared with
 * each other on every insertion: n of them cost n^2/2 comparisons, which
 * a hostile message can make as long as it likes (Guile hashes a list by
 * its first four elements only, an integer modulo the largest fixnum).
 * The decoder charges the comparisons each insertion makes to the budget,
 * a unit per byte of the key for each earlier key it is compared with.
 * Maps this small are not counted: their comparisons cost at most a few
 * times their own size. */
#define FEW_KEYS 16

static void
too_many_collisions(struct dec *d, size_t at, size_t keys)
{
  par_scm_throw(d->who, PAR_ETOOBIG,
                "cannot decode a message of ~a bytes within its bound: ~a "
                "keys of the map at byte ~a fall together in the hash table "
                "(keys that differ only past what Guile's hash function "
                "looks at, such as long lists with a common beginning), "
                "and comparing them would cost more than the ~a units that "
                "remain",
                scm_list_4(scm_from_size_t(d->len), scm_from_size_t(keys),
                           scm_from_size_t(at), scm_from_size_t(d->budget)));
}

/* Charge the comparisons that inserting KEY, whose encoding took
 * KEY_BYTES, into the strong TABLE will make: one per entry of the bucket
 * it goes to. The bucket is read through the public macros of hashtab.h;
 * Guile walks the same chain right after, so this costs little more than
 * the hash of KEY. */
static void
charge_bucket(struct dec *d, size_t at, SCM table, SCM key, size_t key_bytes)
{
  unsigned long i = scm_ihash(key, SCM_HASHTABLE_N_BUCKETS(table));
  size_t chain = 0, cost;

  for (SCM e = SCM_HASHTABLE_BUCKET(table, i); scm_is_pair(e);
       e = SCM_CDR(e)) {
    chain++;
  }
  cost = par__wire_cost(chain, key_bytes, 0);
  if (cost > d->budget) {
    too_many_collisions(d, at, chain + 1);
  }
  d->budget -= cost;
}

/* Weak tables keep their entries out of reach, so for them the decoder
 * counts the keys of each hash value itself, in a table of slots: HASH + 1
 * (0 marks an empty slot; Guile's hash values are below 2^62) and how
 * many keys had it so far. */
struct hash_count {
  uint64_t hash;
  uint64_t keys;
};

/* A key of our own for spreading the hash values over the slots: the
 * values come from the message, and slot numbers it could predict would
 * let it make our own count quadratic. */
static uint64_t spread_key;

void
par__wire_init_decode(void)
{
  if (getrandom(&spread_key, sizeof spread_key, GRND_NONBLOCK)
      != (ssize_t) sizeof spread_key) {
    spread_key = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32)
                 ^ (uint64_t) (uintptr_t) &spread_key;
  }
}

/* The slot of hash value HASH in SLOTS, MASK + 1 of them. */
static size_t
hash_slot(const struct hash_count *slots, size_t mask, uint64_t hash)
{
  /* MurmurHash3's finalizer over the keyed value: every bit of the hash
   * value reaches the bits of the slot number. */
  uint64_t x = hash ^ spread_key;
  size_t i;

  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdu;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53u;
  x ^= x >> 33;
  i = (size_t) x & mask;
  while (slots[i].hash != 0 && slots[i].hash != hash + 1) {
    i = (i + 1) & mask;
  }
  return i;
}

/* Charge the comparisons that inserting KEY, whose encoding took
 * KEY_BYTES, into a weak table will make: one per earlier key of its hash
 * value, which SLOTS (MASK + 1 of them) count. */
static void
charge_hash_value(struct dec *d, size_t at, struct hash_count *slots,
                  size_t mask, SCM key, size_t key_bytes)
{
  uint64_t hash = scm_ihash(key, ULONG_MAX);
  size_t i = hash_slot(slots, mask, hash);
  size_t cost = par__wire_cost(slots[i].keys, key_bytes, 0);

  if (cost > d->budget) {
    too_many_collisions(d, at, slots[i].keys + 1);
  }
  d->budget -= cost;
  slots[i].hash = hash + 1;
  slots[i].keys++;
}

/* Refuse the map at AT whose entry I repeats KEY. The key is shown as
 * written, cut short: it comes from the message. */
static void
duplicate_key(struct dec *d, size_t at, size_t i, SCM key)
{
  char *text = scm_to_utf8_string(scm_object_to_string(key, SCM_UNDEFINED));
  size_t n = strlen(text);

  scm_dynwind_begin(0);
  scm_dynwind_free(text);
  par__wire_fail(d, at, "entry %zu of the map repeats the key %.*s%s", i,
                 (int) (n > 60 ? 60 : n), text, n > 60 ? "..." : "");
  scm_dynwind_end();
}

/* The entries of a strong table. */
static void
fill_table(struct dec *d, int depth, size_t at, SCM table, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    size_t key_at = d->pos;
    SCM key = decode(d, depth + 1);
    SCM value = decode(d, depth + 1);
    unsigned long before;

    if (n > FEW_KEYS) {
      charge_bucket(d, at, table, key, d->pos - key_at);
    }
    /* The count of a strong table grows with each new key: one lookup
     * finds a repeated key, not two. */
    before = SCM_HASHTABLE_N_ITEMS(table);
    scm_hash_set_x(table, key, value);
    if (SCM_HASHTABLE_N_ITEMS(table) == before) {
      duplicate_key(d, at, i, key);
    }
  }
}

/* The entries of a weak table. */
static void
fill_weak_table(struct dec *d, int depth, size_t at, SCM table, size_t n)
{
  struct hash_count *slots = NULL;
  size_t mask = 0;

  scm_dynwind_begin(0);
  if (n > FEW_KEYS) {
    /* At least twice as many slots as keys, a power of two. N is at most
     * half the message, so this cannot overflow. */
    for (mask = 63; mask / 2 < n; mask = mask * 2 + 1) {
    }
    par__wire_charge(d, (mask + 1) * sizeof *slots, at);
    slots = calloc(mask + 1, sizeof *slots);
    if (slots == NULL) {
      par_scm_throw(d->who, PAR_ENOMEM, "out of memory for a map of ~a "
                    "entries", scm_list_1(scm_from_size_t(n)));
    }
    scm_dynwind_free(slots);
  }
  for (size_t i = 0; i < n; i++) {
    size_t key_at = d->pos;
    SCM key = decode(d, depth + 1);
    SCM value = decode(d, depth + 1);

    if (slots != NULL) {
      charge_hash_value(d, at, slots, mask, key, d->pos - key_at);
    }
    if (!scm_is_eq(scm_hash_ref(table, key, par__wire_absent),
                   par__wire_absent)) {
      duplicate_key(d, at, i, key);
    }
    scm_hash_set_x(table, key, value);
  }
  scm_dynwind_end();
}

/* A map of N entries whose head was at AT, as a hash table of weakness
 * WEAK (0 for a strong table). Keys are compared with equal?, as the
 * table does; a key that repeats an earlier one makes the message
 * malformed (RFC 8949, section 5.6), rather than one of its values being
 * dropped without a word. */
static SCM
decode_hash_table(struct dec *d, int depth, size_t at, size_t n, int weak)
{
  SCM table;

  if (weak == 0) {
    par__wire_charge(d, par__wire_cost(n, COST_TABLE_ENTRY, COST_TABLE), at);
    table = scm_c_make_hash_table(n);
    fill_table(d, depth, at, table, n);
    return table;
  }
  par__wire_charge(d, par__wire_cost(n, COST_WEAK_ENTRY, COST_WEAK_TABLE),
                   at);
  switch (weak) {
  case WEAK_KEY:
    table = scm_make_weak_key_hash_table(scm_from_size_t(n));
    break;
  case WEAK_VALUE:
    table = scm_make_weak_value_hash_table(scm_from_size_t(n));
    break;
  default:
    table = scm_make_doubly_weak_hash_table(scm_from_size_t(n));
    break;
  }
  fill_weak_table(d, depth, at, table, n);
  return table;
}

/* --- Other containers ---------------------------------------------------- */

/* A CBOR array holding a list: N elements, the last being the tail when
 * IMPROPER. Built front to back without recursion along the spine. */
static SCM
decode_list(struct dec *d, int depth, size_t n, bool improper)
{
  SCM head = SCM_EOL, *tailp = &head;
  size_t i, elements = improper ? n - 1 : n;

  par__wire_charge(d, par__wire_cost(elements, COST_PAIR, 0), d->pos);
  for (i = 0; i < elements; i++) {
    SCM value, cell;

    /* The common elements without a call, the others the general way. */
    if (d->pos >= d->len || !decode_fast(d, &value)) {
      value = decode(d, depth + 1);
    }
    /* The thread's own free list: scm_cons goes through the collector's
     * general allocator, which costs more than the rest of the loop. */
    cell = par_scm_inline_cons(d->thread, value, SCM_EOL);
    *tailp = cell;
    tailp = SCM_CDRLOC(cell);
  }
  if (improper) {
    *tailp = decode(d, depth + 1);
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

  par__wire_charge(d, COST_ERROR, at);
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
  par__wire_charge(d, par__wire_cost(nfields, 8, COST_RECORD), at);
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

  par__wire_charge(d, COST_BOXED, at);
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

  par__wire_charge(d, COST_BOXED, at);
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
  par__wire_charge(d, par__wire_cost(h.n, 8, COST_VECTOR), h.at);
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
  return decode_hash_table(d, depth, h.at, h.n, weak);
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
    par__wire_charge(d, par__wire_cost(h.n, 1, COST_SYMBOL), h.at);
    return par__wire_symbol_named((const char *) h.data, h.n);
  case PTAG_KEYWORD:
    par__wire_read_text(d, &h, "a keyword's name");
    par__wire_charge(d, par__wire_cost(h.n, 1, COST_SYMBOL + COST_PAIR),
                     h.at);
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

static inline bool
all_ascii(const uint8_t *s, size_t n)
{
  uint8_t any = 0;

  for (size_t i = 0; i < n; i++) {
    any |= s[i];
  }
  return any < 0x80;
}

/* The big-endian unsigned integer of N bytes (1, 2, 4 or 8) at P. */
static inline uint64_t
load_be(const uint8_t *p, size_t n)
{
  uint64_t v = 0;

  switch (n) {
  case 1:
    return p[0];
  case 2: {
    uint16_t x;
    memcpy(&x, p, 2);
    v = x;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap16(x);
#endif
    return v;
  }
  case 4: {
    uint32_t x;
    memcpy(&x, p, 4);
    v = x;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(x);
#endif
    return v;
  }
  default:
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
  }
}

/* Integers, flonums and short strings, the bulk of most lists, are read
 * here directly: going through cbor_stream_decode and its callbacks costs
 * more than building the value. Anything unusual (a truncated item included)
 * is left to the general path, which reports it. D has at least one byte
 * left. */
static inline bool
decode_fast(struct dec *d, SCM *out)
{
  const uint8_t *p = d->data + d->pos;
  size_t left = d->len - d->pos, size;
  uint8_t b = p[0], info = b & 31;
  uint64_t v;

  /* The size of a definite head of major type 0, 1 or 3 (1 + 0, 1, 2, 4
   * or 8 bytes); 0 for the other additional informations. */
  size = info < 24 ? 1 : info <= 27 ? (size_t) 1 + ((size_t) 1 << (info - 24))
                                    : 0;
  if (b <= 0x3b) {
    /* Major types 0 and 1: an unsigned or a negative integer. */
    if (size == 0 || size > left) {
      return false;
    }
    v = size == 1 ? info : load_be(p + 1, size - 1);
    if (v > PAR_WIRE_FIXNUM_MAX) {
      par__wire_charge(d, par__wire_integer_cost(v), d->pos);
      *out = b < 0x20 ? scm_from_uint64(v) : decode_negint(v);
    } else {
      /* -1 - V is a fixnum too: the fixnums reach -2^61. */
      *out = par_scm_from_fixnum(b < 0x20 ? (int64_t) v : -1 - (int64_t) v);
    }
    d->pos += size;
    return true;
  }
  if (b == 0xfb && left >= 9) {
    double value;

    v = load_be(p + 1, 8);
    memcpy(&value, &v, sizeof value);
    par__wire_charge(d, COST_FLONUM, d->pos);
    *out = par_scm_inline_flonum(d->thread, value);
    d->pos += 9;
    return true;
  }
  if (b >> 5 == 3 && size != 0 && size <= left) {
    v = size == 1 ? info : load_be(p + 1, size - 1);
    if (v > left - size || !all_ascii(p + size, (size_t) v)) {
      return false;
    }
    par__wire_charge(d, COST_STRING + (size_t) v, d->pos);
    *out = scm_from_latin1_stringn((const char *) p + size, (size_t) v);
    d->pos += size + (size_t) v;
    return true;
  }
  return false;
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
    par__wire_charge(d, par__wire_integer_cost(h.u), h.at);
    return scm_from_uint64(h.u);
  case H_NEGINT:
    par__wire_charge(d, par__wire_integer_cost(h.u), h.at);
    return decode_negint(h.u);
  case H_FLOAT:
    par__wire_charge(d, COST_FLONUM, h.at);
    return scm_from_double(h.d);
  case H_TEXT:
    par__wire_check_utf8(d, &h);
    /* Four bytes a character when any is outside Latin-1. */
    par__wire_charge(d, par__wire_cost(h.n, 4, COST_STRING), h.at);
    return scm_from_utf8_stringn((const char *) h.data, h.n);
  case H_BYTES: {
    SCM v;

    par__wire_charge(d, par__wire_cost(h.n, 1, COST_BYTEVECTOR), h.at);
    v = scm_c_make_bytevector(h.n);
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
    return decode_hash_table(d, depth, h.at, h.n, 0);
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
  struct dec d = {data, len, 0, who, par_scm_this_thread(),
                  par__wire_budget(len)};
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
