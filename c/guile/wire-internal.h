/* wire-internal.h — what the files of the wire codec share. This file is
 * private.
 *
 * wire-encode.c turns values into CBOR, and wire-encode-array.c the
 * numeric vectors and arrays among them (wire-encode-internal.h).
 * wire-read.c reads and checks the heads of CBOR items, wire-decode.c
 * builds values from them, and wire-decode-array.c the numeric vectors
 * and arrays among them.
 * wire-symbols.c caches symbol names for both directions, and wire.c holds
 * the Scheme values they look up, the registry of record types and the
 * primitives. doc/wire-format.texi is the specification.
 */
#ifndef PAR_WIRE_INTERNAL_H
#define PAR_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "glue.h"
#include "guile-internals.h"
#include "wire.h"

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
#define PTAG_SEGMENT (PTAG_BASE + 11) /* Memory segment of a vector. */
#define PTAG_LAST (PTAG_BASE + 15)

/* Encoded messages and decoded vectors at least this long live in malloc'ed
 * memory handed to a bytevector without a copy; shorter ones are copied
 * into Guile's heap, which is cheaper than a finalized pointer. */
#define TAKE_THRESHOLD (64 * 1024)

#define WEAK_KEY 1
#define WEAK_VALUE 2
#define WEAK_BOTH 3

/* --- Values looked up once (wire.c) ------------------------------------- */

extern SCM par__wire_exception_p;          /* exception? */
extern SCM par__wire_exception_description; /* exn -> (kind . args) */
extern SCM par__wire_make_exception;       /* make-exception-from-throw */
extern SCM par__wire_record_p;             /* record? */
extern SCM par__wire_record_type_name;     /* record-type-name */

/* Registered record types: name (string) -> RTD and RTD -> name. */
extern SCM par__wire_records_by_name;
extern SCM par__wire_names_by_record;

/* Parallelizer hooks, a vector #(RTD THUNK), both #f until set; see
 * par_scm_wire_set_parallelizer_hooks. */
extern SCM par__wire_hooks;

/* An object of our own that no message can hold: the default of a lookup
 * that must tell "absent" from any value. */
extern SCM par__wire_absent;

/* --- Reading a message (wire-read.c) ------------------------------------- */

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
  size_t at; /* Offset of the head in the message. */
};

/* A message being decoded: LEN bytes at DATA, read up to POS. Errors are
 * raised from WHO. BUDGET is what the value may still cost (see
 * par__wire_charge). */
struct dec {
  const uint8_t *data;
  size_t len;
  size_t pos;
  const char *who;
  scm_thread *thread; /* the decoding thread, for par_scm_inline_cons */
  size_t budget;
};

/* --- The decoder's budget ------------------------------------------------ */

/* What the decoder charges for each thing it builds, in bytes of memory,
 * measured on Guile 3.0 (rounded up): the budget of a message of LEN bytes
 * is PAR_WIRE_BUDGET_PER_BYTE * LEN + PAR_WIRE_BUDGET_BASE, and every
 * charge is made before the allocation it pays for. Immediates (fixnums,
 * characters, booleans) and interned objects cost nothing. */
#define COST_PAIR 16          /* per element of a list */
#define COST_FLONUM 16        /* a flonum */
#define COST_BOXED 32         /* bignum, fraction or complex cell */
#define COST_STRING 48        /* string cell and buffer header, + chars */
#define COST_BYTEVECTOR 48    /* header, + bytes */
#define COST_SYMBOL 64        /* a new symbol, + name */
#define COST_VECTOR 16        /* header, + 8 per element */
#define COST_TABLE 352        /* empty hash table, 31 buckets */
#define COST_TABLE_ENTRY 64   /* handle and chain pairs, bucket growth */
#define COST_WEAK_TABLE 640   /* empty weak table */
#define COST_WEAK_ENTRY 128   /* entry and its disappearing links */
#define COST_ARRAY 128        /* array header and storage header */
#define COST_DIMENSION 64     /* per dimension: bounds and their lists */
#define COST_RECORD 32        /* struct header, + 8 per field */
#define COST_ERROR 1024       /* the condition objects of an exception */

/* Charge COST units for what is about to be built at byte AT of D's
 * message; raises ETOOBIG once the budget is spent. */
void par__wire_over_budget(struct dec *d, size_t at, size_t cost)
    __attribute__((noreturn));

static inline void
par__wire_charge(struct dec *d, size_t cost, size_t at)
{
  if (cost > d->budget) {
    par__wire_over_budget(d, at, cost);
  }
  d->budget -= cost;
}

/* A * B + C, or SIZE_MAX when that overflows: a cost too large to pay. */
static inline size_t
par__wire_cost(size_t a, size_t b, size_t c)
{
  size_t r;

  if (__builtin_mul_overflow(a, b, &r) || __builtin_add_overflow(r, c, &r)) {
    return SIZE_MAX;
  }
  return r;
}

/* The budget of a message of LEN bytes. */
size_t par__wire_budget(size_t len);

/* Guile's largest fixnum on 64-bit hosts, 2^61 - 1 (the macro of its
 * headers shifts a negative value, which -Wextra reports). */
#define PAR_WIRE_FIXNUM_MAX (((uint64_t) 1 << 61) - 1)

/* The cost of an integer read as N (the value N or -1-N): a fixnum costs
 * nothing, a bignum a cell. */
static inline size_t
par__wire_integer_cost(uint64_t n)
{
  return n > PAR_WIRE_FIXNUM_MAX ? COST_BOXED : 0;
}

/* Raise an EMALFORMED error about the byte AT of D's message; FMT and what
 * follows say what is wrong, as for printf. */
void par__wire_fail(struct dec *d, size_t at, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* Read the head of the next item of D into H and move past it (a string's
 * payload included). Raises for a truncated or ill-formed item, for items
 * outside the format (indefinite lengths) and for counts of elements that
 * the rest of the message cannot hold. */
void par__wire_read_head(struct dec *d, struct head *h);

/* Read the head of an array of exactly N items; if it is anything else,
 * raise with the sentence WHAT, which says what was expected. */
void par__wire_expect_array(struct dec *d, size_t n, const char *what);

/* Raise unless the text string of head H is valid UTF-8. */
void par__wire_check_utf8(struct dec *d, const struct head *h);

/* Read a head that must be a text string of valid UTF-8, which WHAT names
 * in the error otherwise. */
void par__wire_read_text(struct dec *d, struct head *h, const char *what);

/* --- Building values (wire-decode.c, wire-decode-array.c) ---------------- */

/* The next value of D, DEPTH containers deep. */
SCM par__wire_decode(struct dec *d, int depth);

/* Whether head H starts a numeric vector: a byte string, a typed-array tag
 * or the complex-vector tag. */
bool par__wire_is_vector_head(const struct head *h);

/* The numeric vector that starts with head H (already read). */
SCM par__wire_decode_vector(struct dec *d, struct head *h);

/* The array of tag 40 whose tag was at AT; with LBNDS (NLBNDS lower
 * bounds), the array of tag PTAG_LOWER_BOUNDS around it. */
SCM par__wire_decode_ndarray(struct dec *d, int depth, size_t at,
                             const int64_t *lbnds, size_t nlbnds);

/* The array with lower bounds of the tag PTAG_LOWER_BOUNDS at AT. */
SCM par__wire_decode_lower_bounds(struct dec *d, int depth, size_t at);

/* When MSG is exactly one large numeric vector in this host's byte order
 * whose elements lie aligned in memory, that vector, made over MSG's own
 * block (MSG is left empty); #f otherwise, with MSG untouched. */
SCM par__wire_vector_in_place(par_msg *msg, const char *who);

/* --- Large vectors as memory segments (wire-segment.c) ----------------- */

/* Whether this thread's encoder writes large numeric vectors as memory
 * segments (mp-segment.h) and its decoder accepts them: true only while
 * a primitive of a multiprocessing communicator encodes or decodes a
 * message (comm.c), never for value->cbor and cbor->value, whose bytes
 * may be kept or sent anywhere. */
extern __thread int par__wire_segments;

/* If segments are on and the NBYTES bytes at DATA, elements of TYPE, are
 * enough to pay for one, put them in a segment, append its handle (tag
 * PTAG_SEGMENT) to OUT and return true; WHO raises the errors. */
bool par__wire_encode_segment(par_wbuf *out, const par_scm_etype *type,
                              const void *data, size_t nbytes,
                              const char *who);

/* The numeric vector of the segment whose tag was at AT, mapped
 * copy-on-write. */
SCM par__wire_decode_segment(struct dec *d, size_t at);

/* The array of bounds BOUNDS (as read_dimensions makes them: lengths, or
 * (lower upper) lists) over the vector of the segment whose tag was at AT;
 * COUNT is the number of elements the bounds hold. */
SCM par__wire_segment_array(struct dec *d, size_t at, SCM bounds,
                            size_t count);

/* --- Symbol names (wire-symbols.c) -------------------------------------- */

/* If this thread's cache knows SYMBOL, point *NAME at its UTF-8 name (of
 * fewer than 24 bytes) and return true. */
bool par__wire_symbol_cached(SCM symbol, const char **name, size_t *len);

/* Tell the cache SYMBOL's name, just converted by the caller. */
void par__wire_symbol_remember(SCM symbol, const char *name, size_t len);

/* The symbol named by the N bytes of UTF-8 at NAME. */
SCM par__wire_symbol_named(const char *name, size_t n);

void par__wire_init_symbols(void);

/* Pick the key that spreads the hash values of map keys (wire-decode.c). */
void par__wire_init_decode(void);

#endif /* PAR_WIRE_INTERNAL_H */
