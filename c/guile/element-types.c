/* element-types.c — the element types of uniform vectors, as the runtime,
 * Guile and the wire format name them.
 *
 * Every fact is generated from the runtime's PAR_DTYPE_MAP (par/types.h):
 * Guile's element type (SCM_ARRAY_ELEMENT_TYPE_##NAME), the runtime's
 * (PAR_##NAME), the name and its symbol, the sizes and the RFC 8746 tag.
 * Adding a line there adds the type here. The one Guile type outside the
 * map is the bytevector's (vu8): it is described here too, last, and
 * nowhere else.
 */
#include <stdbool.h>
#include <stdint.h>

#include "glue.h"

/* Whether a KIND of PAR_DTYPE_MAP has a real and an imaginary part. */
#define IS_COMPLEX_UINT false
#define IS_COMPLEX_SINT false
#define IS_COMPLEX_FLOAT false
#define IS_COMPLEX_COMPLEX true

/* RFC 8746 tags name little-endian elements with the bit 4 set and
 * big-endian ones with it clear; a one-byte element has no byte order and
 * its tag is used as it is. */
#define BYTE_ORDER_BIT 4
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_TAG(tag, unit) ((uint64_t) (tag))
#else
#define HOST_TAG(tag, unit)                                                 \
  ((unit) > 1 ? (uint64_t) (tag) & ~(uint64_t) BYTE_ORDER_BIT               \
              : (uint64_t) (tag))
#endif

/* Indexed by par_dtype, then the bytevector type. The symbols are made by
 * par_scm_init_element_types. */
static par_scm_etype etypes[PAR_DTYPE_COUNT + 1] = {
#define ETYPE(NAME, name, ctype, n, kind, tag, mpi)                         \
  {SCM_ARRAY_ELEMENT_TYPE_##NAME, PAR_##NAME, #name,                        \
   sizeof(ctype) * (n), sizeof(ctype), IS_COMPLEX_##kind,                   \
   HOST_TAG(tag, sizeof(ctype)), SCM_BOOL_F},
    PAR_DTYPE_MAP(ETYPE)
#undef ETYPE
    /* A bytevector holds bytes: for the runtime they are u8, and on the
     * wire a plain byte string, with no typed-array tag. */
    {SCM_ARRAY_ELEMENT_TYPE_VU8, PAR_U8, "vu8", 1, 1, false, 0, SCM_BOOL_F},
};

#define BYTEVECTOR (&etypes[PAR_DTYPE_COUNT])

/* Guile's element type -> entry of ETYPES, NULL for the types that are not
 * numeric (SCM, CHAR, BIT). */
static const par_scm_etype *by_scm[SCM_ARRAY_ELEMENT_TYPE_LAST + 1];

const par_scm_etype *
par_scm_etype_of(scm_t_array_element_type type)
{
  if ((unsigned) type > SCM_ARRAY_ELEMENT_TYPE_LAST) {
    return NULL;
  }
  return by_scm[type];
}

const par_scm_etype *
par_scm_etype_bytevector(void)
{
  return BYTEVECTOR;
}

const par_scm_etype *
par_scm_etype_of_tag(uint64_t tag, bool complex, bool *swap)
{
  for (int i = 0; i < PAR_DTYPE_COUNT; i++) {
    const par_scm_etype *t = &etypes[i];

    if (t->complex != complex) {
      continue;
    }
    if (tag == t->tag) {
      *swap = false;
      return t;
    }
    if (t->unit > 1 && tag == (t->tag ^ BYTE_ORDER_BIT)) {
      *swap = true;
      return t;
    }
  }
  /* Tag 68 is "uint8, clamped arithmetic": the same bytes as a u8 vector;
   * the clamping is a property of the sender's array type that Guile has
   * no counterpart for. */
  if (tag == 68 && !complex) {
    *swap = false;
    return &etypes[PAR_U8];
  }
  return NULL;
}

/* (%element-size TYPE) -> the bytes of one element of uniform vectors of
 * TYPE (a symbol such as f64 or vu8), or #f when TYPE is not a numeric
 * element type. */
static SCM
prim_element_size(SCM type)
{
  for (int i = 0; i <= PAR_DTYPE_COUNT; i++) {
    if (scm_is_eq(type, etypes[i].symbol)) {
      return scm_from_size_t(etypes[i].size);
    }
  }
  return SCM_BOOL_F;
}

void
par_scm_init_element_types(void)
{
  for (int i = 0; i <= PAR_DTYPE_COUNT; i++) {
    etypes[i].symbol =
        scm_permanent_object(scm_from_utf8_symbol(etypes[i].name));
    by_scm[etypes[i].scm] = &etypes[i];
  }
  scm_c_define_gsubr("%element-size", 1, 0, 0, prim_element_size);
}
