/* wire-internal.h — what the files of the wire codec share. This file is
 * private.
 *
 * wire-encode.c turns values into CBOR, wire-decode.c turns CBOR back into
 * values, wire-symbols.c caches symbol names for both, and wire.c holds the
 * Scheme values they look up, the registry of record types and the
 * primitives. doc/wire-format.texi is the specification.
 */
#ifndef PAR_WIRE_INTERNAL_H
#define PAR_WIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "glue.h"
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

/* --- Values looked up once (wire.c) ------------------------------------- */

/* The array type symbol of each element type (vu8, f64...), by type. */
extern SCM par__wire_element_types[SCM_ARRAY_ELEMENT_TYPE_LAST + 1];
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

/* --- Symbol names (wire-symbols.c) -------------------------------------- */

/* If this thread's cache knows SYMBOL, point *NAME at its UTF-8 name (of
 * fewer than 24 bytes) and return true. */
bool par__wire_symbol_cached(SCM symbol, const char **name, size_t *len);

/* Tell the cache SYMBOL's name, just converted by the caller. */
void par__wire_symbol_remember(SCM symbol, const char *name, size_t len);

/* The symbol named by the N bytes of UTF-8 at NAME. */
SCM par__wire_symbol_named(const char *name, size_t n);

void par__wire_init_symbols(void);

#endif /* PAR_WIRE_INTERNAL_H */
