/* par/types.h — element types of typed buffers and the reduction operators.
 *
 * The element types are exactly SRFI-4's (plus the complex c32/c64 that
 * Guile adds), so a typed buffer and a Guile uniform vector describe the
 * same bytes. Complex elements are stored as (real, imaginary) pairs.
 */
#ifndef PAR_TYPES_H
#define PAR_TYPES_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, C type of one element or of its real part, count of those). */
#define PAR_DTYPE_MAP(X)                                                    \
  X(U8, uint8_t, 1)                                                         \
  X(S8, int8_t, 1)                                                          \
  X(U16, uint16_t, 1)                                                       \
  X(S16, int16_t, 1)                                                        \
  X(U32, uint32_t, 1)                                                       \
  X(S32, int32_t, 1)                                                        \
  X(U64, uint64_t, 1)                                                       \
  X(S64, int64_t, 1)                                                        \
  X(F32, float, 1)                                                          \
  X(F64, double, 1)                                                         \
  X(C32, float, 2)                                                          \
  X(C64, double, 2)

typedef enum par_dtype {
#define PAR__DTYPE_ENUM(name, ctype, n) PAR_##name,
  PAR_DTYPE_MAP(PAR__DTYPE_ENUM)
#undef PAR__DTYPE_ENUM
  PAR_DTYPE_COUNT
} par_dtype;

/* Size in bytes of one element of TYPE; 0 for an invalid TYPE. */
PAR_EXTERN size_t par_dtype_size(par_dtype type);

/* The SRFI-4 name of TYPE in lower case ("f64"); NULL if TYPE is invalid. */
PAR_EXTERN const char *par_dtype_name(par_dtype type);

/* Look up a type by its SRFI-4 name. Returns PAR_OK and writes *TYPE, or
 * PAR_EINVAL for an unknown name. */
PAR_EXTERN int par_dtype_from_name(const char *name, par_dtype *type);

/* Reduction operators. Every one is associative and commutative on exact
 * types; on floating point the result depends on the order of application,
 * which is always rank order (rank 0 first). */
#define PAR_REDUCE_MAP(X)                                                   \
  X(SUM, "sum")                                                             \
  X(PROD, "prod")                                                           \
  X(MIN, "min")                                                             \
  X(MAX, "max")

typedef enum par_reduce_op {
#define PAR__REDUCE_ENUM(name, str) PAR_REDUCE_##name,
  PAR_REDUCE_MAP(PAR__REDUCE_ENUM)
#undef PAR__REDUCE_ENUM
  PAR_REDUCE_COUNT
} par_reduce_op;

/* The name of OP ("sum"); NULL if OP is invalid. */
PAR_EXTERN const char *par_reduce_op_name(par_reduce_op op);

/* Look up an operator by name. PAR_OK, or PAR_EINVAL for an unknown name. */
PAR_EXTERN int par_reduce_op_from_name(const char *name, par_reduce_op *op);

/* INOUT[i] = INOUT[i] OP IN[i] for COUNT elements of TYPE. Integer
 * arithmetic wraps as in C unsigned arithmetic. Returns PAR_ETYPE for MIN
 * or MAX on complex types and PAR_EINVAL for an invalid TYPE or OP. The
 * buffers are borrowed for the call and may not overlap. */
PAR_EXTERN int par_reduce_apply(par_reduce_op op, par_dtype type, void *inout,
                                const void *in, size_t count);

#ifdef __cplusplus
}
#endif

#endif /* PAR_TYPES_H */
