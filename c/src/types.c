/* types.c — element types and element-wise reductions. */
#include <complex.h>
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

/* One loop per (operator, real type); the compiler vectorizes each. C
 * promotes u8 and u16 operands to int, where 65535 * 65535 overflows: the
 * product starts from 1u so that it is unsigned (and exact on floats). */
#define ARITH_LOOPS(T)                                                      \
  static void sum_##T(T *a, const T *b, size_t n)                           \
  {                                                                         \
    for (size_t i = 0; i < n; i++) {                                        \
      a[i] = (T) (a[i] + b[i]);                                             \
    }                                                                       \
  }                                                                         \
  static void prod_##T(T *a, const T *b, size_t n)                          \
  {                                                                         \
    for (size_t i = 0; i < n; i++) {                                        \
      a[i] = (T) (1u * a[i] * b[i]);                                        \
    }                                                                       \
  }

#define MINMAX_LOOPS(T)                                                     \
  static void min_##T(T *a, const T *b, size_t n)                           \
  {                                                                         \
    for (size_t i = 0; i < n; i++) {                                        \
      a[i] = b[i] < a[i] ? b[i] : a[i];                                     \
    }                                                                       \
  }                                                                         \
  static void max_##T(T *a, const T *b, size_t n)                           \
  {                                                                         \
    for (size_t i = 0; i < n; i++) {                                        \
      a[i] = b[i] > a[i] ? b[i] : a[i];                                     \
    }                                                                       \
  }

/* Signed integer arithmetic is done unsigned so that overflow wraps, as
 * documented, instead of being undefined. */
#define REAL_LOOPS(T) ARITH_LOOPS(T) MINMAX_LOOPS(T)
REAL_LOOPS(uint8_t)
REAL_LOOPS(uint16_t)
REAL_LOOPS(uint32_t)
REAL_LOOPS(uint64_t)
MINMAX_LOOPS(int8_t)
MINMAX_LOOPS(int16_t)
MINMAX_LOOPS(int32_t)
MINMAX_LOOPS(int64_t)
REAL_LOOPS(float)
REAL_LOOPS(double)

#define WRAP_SIGNED(S, U)                                                   \
  static void wsum_##S(S *a, const S *b, size_t n)                          \
  {                                                                         \
    sum_##U((U *) a, (const U *) b, n);                                     \
  }                                                                         \
  static void wprod_##S(S *a, const S *b, size_t n)                         \
  {                                                                         \
    prod_##U((U *) a, (const U *) b, n);                                    \
  }

WRAP_SIGNED(int8_t, uint8_t)
WRAP_SIGNED(int16_t, uint16_t)
WRAP_SIGNED(int32_t, uint32_t)
WRAP_SIGNED(int64_t, uint64_t)

static void
sum_cfloat(float complex *a, const float complex *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    a[i] += b[i];
  }
}

static void
prod_cfloat(float complex *a, const float complex *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    a[i] *= b[i];
  }
}

static void
sum_cdouble(double complex *a, const double complex *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    a[i] += b[i];
  }
}

static void
prod_cdouble(double complex *a, const double complex *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    a[i] *= b[i];
  }
}

#define DISPATCH(T, SUM, PROD, MIN, MAX)                                    \
  switch (op) {                                                             \
  case PAR_REDUCE_SUM:                                                      \
    SUM((T *) inout, (const T *) in, count);                                \
    return PAR_OK;                                                          \
  case PAR_REDUCE_PROD:                                                     \
    PROD((T *) inout, (const T *) in, count);                               \
    return PAR_OK;                                                          \
  case PAR_REDUCE_MIN:                                                      \
    MIN((T *) inout, (const T *) in, count);                                \
    return PAR_OK;                                                          \
  case PAR_REDUCE_MAX:                                                      \
    MAX((T *) inout, (const T *) in, count);                                \
    return PAR_OK;                                                          \
  default:                                                                  \
    return PAR_EINVAL;                                                      \
  }

int
par_reduce_apply(par_reduce_op op, par_dtype type, void *inout,
                 const void *in, size_t count)
{
  if ((unsigned) op >= PAR_REDUCE_COUNT) {
    return PAR_EINVAL;
  }
  switch (type) {
  case PAR_U8:
    DISPATCH(uint8_t, sum_uint8_t, prod_uint8_t, min_uint8_t, max_uint8_t);
  case PAR_S8:
    DISPATCH(int8_t, wsum_int8_t, wprod_int8_t, min_int8_t, max_int8_t);
  case PAR_U16:
    DISPATCH(uint16_t, sum_uint16_t, prod_uint16_t, min_uint16_t,
             max_uint16_t);
  case PAR_S16:
    DISPATCH(int16_t, wsum_int16_t, wprod_int16_t, min_int16_t, max_int16_t);
  case PAR_U32:
    DISPATCH(uint32_t, sum_uint32_t, prod_uint32_t, min_uint32_t,
             max_uint32_t);
  case PAR_S32:
    DISPATCH(int32_t, wsum_int32_t, wprod_int32_t, min_int32_t, max_int32_t);
  case PAR_U64:
    DISPATCH(uint64_t, sum_uint64_t, prod_uint64_t, min_uint64_t,
             max_uint64_t);
  case PAR_S64:
    DISPATCH(int64_t, wsum_int64_t, wprod_int64_t, min_int64_t, max_int64_t);
  case PAR_F32:
    DISPATCH(float, sum_float, prod_float, min_float, max_float);
  case PAR_F64:
    DISPATCH(double, sum_double, prod_double, min_double, max_double);
  case PAR_C32:
    if (op == PAR_REDUCE_SUM) {
      sum_cfloat(inout, in, count);
    } else if (op == PAR_REDUCE_PROD) {
      prod_cfloat(inout, in, count);
    } else {
      return PAR_ETYPE;
    }
    return PAR_OK;
  case PAR_C64:
    if (op == PAR_REDUCE_SUM) {
      sum_cdouble(inout, in, count);
    } else if (op == PAR_REDUCE_PROD) {
      prod_cdouble(inout, in, count);
    } else {
      return PAR_ETYPE;
    }
    return PAR_OK;
  default:
    return PAR_EINVAL;
  }
}
