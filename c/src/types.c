/* types.c — element types and element-wise reductions.
 *
 * Everything here comes from the rows of PAR_DTYPE_MAP and PAR_REDUCE_MAP
 * (par/types.h); no element type is named by hand. */
#include <string.h>

#include "par/error.h"
#include "par/types.h"

static const struct {
  const char *name;
  size_t size;
} dtype_info[PAR_DTYPE_COUNT] = {
#define PAR__DTYPE_INFO(NAME, name, ctype, n, kind, tag, mpi)               \
  {#name, sizeof(ctype) * (n)},
    PAR_DTYPE_MAP(PAR__DTYPE_INFO)
#undef PAR__DTYPE_INFO
};

static const char *const reduce_names[PAR_REDUCE_COUNT] = {
#define PAR__REDUCE_NAME(name, str) str,
    PAR_REDUCE_MAP(PAR__REDUCE_NAME)
#undef PAR__REDUCE_NAME
};

size_t
par_dtype_size(par_dtype type)
{
  if ((unsigned) type >= PAR_DTYPE_COUNT) {
    return 0;
  }
  return dtype_info[type].size;
}

const char *
par_dtype_name(par_dtype type)
{
  if ((unsigned) type >= PAR_DTYPE_COUNT) {
    return NULL;
  }
  return dtype_info[type].name;
}

int
par_dtype_from_name(const char *name, par_dtype *type)
{
  if (name == NULL) {
    return PAR_EINVAL;
  }
  for (int i = 0; i < PAR_DTYPE_COUNT; i++) {
    if (strcmp(name, dtype_info[i].name) == 0) {
      *type = (par_dtype) i;
      return PAR_OK;
    }
  }
  return PAR_EINVAL;
}

const char *
par_reduce_op_name(par_reduce_op op)
{
  if ((unsigned) op >= PAR_REDUCE_COUNT) {
    return NULL;
  }
  return reduce_names[op];
}

int
par_reduce_op_from_name(const char *name, par_reduce_op *op)
{
  if (name == NULL) {
    return PAR_EINVAL;
  }
  for (int i = 0; i < PAR_REDUCE_COUNT; i++) {
    if (strcmp(name, reduce_names[i]) == 0) {
      *op = (par_reduce_op) i;
      return PAR_OK;
    }
  }
  return PAR_EINVAL;
}

/* --- Reductions -----------------------------------------------------------
 *
 * One function per element type, generated from PAR_DTYPE_MAP by the
 * type's KIND: reduce_u8, reduce_s8, ... Each is a switch over the
 * operator around plain loops on restrict pointers (the buffers may not
 * overlap), which the compiler is free to vectorize. An operator that has
 * no meaning for the kind (MIN or MAX on complex numbers) is PAR_ETYPE. */

/* Integers (UINT, SINT) add and multiply in uint64_t, then convert back:
 * unsigned arithmetic wraps, as documented, where the same operation on
 * the signed type or on a narrow type promoted to int could overflow,
 * which is undefined. The conversion back to a narrower signed type keeps
 * the low bits (GCC's documented conversion). */
#define INT_ARITH(T)                                                        \
  case PAR_REDUCE_SUM:                                                      \
    for (size_t i = 0; i < count; i++) {                                    \
      a[i] = (T) ((uint64_t) a[i] + (uint64_t) b[i]);                       \
    }                                                                       \
    return PAR_OK;                                                          \
  case PAR_REDUCE_PROD:                                                     \
    for (size_t i = 0; i < count; i++) {                                    \
      a[i] = (T) ((uint64_t) a[i] * (uint64_t) b[i]);                       \
    }                                                                       \
    return PAR_OK;

#define PLAIN_ARITH(T)                                                      \
  case PAR_REDUCE_SUM:                                                      \
    for (size_t i = 0; i < count; i++) {                                    \
      a[i] += b[i];                                                         \
    }                                                                       \
    return PAR_OK;                                                          \
  case PAR_REDUCE_PROD:                                                     \
    for (size_t i = 0; i < count; i++) {                                    \
      a[i] *= b[i];                                                         \
    }                                                                       \
    return PAR_OK;

#define ORDERED(T)                                                          \
  case PAR_REDUCE_MIN:                                                      \
    for (size_t i = 0; i < count; i++) {                                    \
      a[i] = b[i] < a[i] ? b[i] : a[i];                                     \
    }                                                                       \
    return PAR_OK;                                                          \
  case PAR_REDUCE_MAX:                                                      \
    for (size_t i = 0; i < count; i++) {                                    \
      a[i] = b[i] > a[i] ? b[i] : a[i];                                     \
    }                                                                       \
    return PAR_OK;

#define UNORDERED(T)                                                        \
  case PAR_REDUCE_MIN:                                                      \
  case PAR_REDUCE_MAX:                                                      \
    return PAR_ETYPE;

/* The element type, and the cases of the switch, of each kind. A complex
 * element is C's complex type over the real part's, which has the size of
 * COUNT real parts. */
#define ELEMENT_UINT(ctype) ctype
#define ELEMENT_SINT(ctype) ctype
#define ELEMENT_FLOAT(ctype) ctype
#define ELEMENT_COMPLEX(ctype) ctype _Complex
#define CASES_UINT(T) INT_ARITH(T) ORDERED(T)
#define CASES_SINT(T) INT_ARITH(T) ORDERED(T)
#define CASES_FLOAT(T) PLAIN_ARITH(T) ORDERED(T)
#define CASES_COMPLEX(T) PLAIN_ARITH(T) UNORDERED(T)

#define PAR__DTYPE_REDUCE(NAME, name, ctype, n, KIND, tag, mpi)             \
  typedef ELEMENT_##KIND(ctype) elem_##name;                                \
  _Static_assert(sizeof(elem_##name) == sizeof(ctype) * (n),                \
                 "the element type of " #name " has the size of its row"); \
  static int reduce_##name(par_reduce_op op, void *inout, const void *in,   \
                           size_t count)                                    \
  {                                                                         \
    elem_##name *restrict a = inout;                                        \
    const elem_##name *restrict b = in;                                     \
                                                                            \
    switch (op) {                                                           \
      CASES_##KIND(elem_##name)                                             \
    default:                                                                \
      return PAR_EINVAL;                                                    \
    }                                                                       \
  }
PAR_DTYPE_MAP(PAR__DTYPE_REDUCE)
#undef PAR__DTYPE_REDUCE

int
par_reduce_apply(par_reduce_op op, par_dtype type, void *inout,
                 const void *in, size_t count)
{
  if ((unsigned) op >= PAR_REDUCE_COUNT) {
    return PAR_EINVAL;
  }
  switch (type) {
#define PAR__DTYPE_DISPATCH(NAME, name, ctype, n, kind, tag, mpi)           \
  case PAR_##NAME:                                                          \
    return reduce_##name(op, inout, in, count);
    PAR_DTYPE_MAP(PAR__DTYPE_DISPATCH)
#undef PAR__DTYPE_DISPATCH
  default:
    return PAR_EINVAL;
  }
}
