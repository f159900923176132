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

/* The element types, the one list that everything about them comes from:
 * the enum below, sizes and names (types.c), the reduction loops, the MPI
 * datatypes (mpi-coll.c), the Guile uniform-vector types and the RFC 8746
 * typed-array tags of the wire format (c/guile). Adding a type of an
 * existing KIND is adding a line here; a new KIND must also be taught to
 * the code generated from KIND (the reduction loops, the Guile glue).
 *
 * X(NAME, name, C type of one element or of its real part, count of those,
 *   KIND, RFC 8746 little-endian tag, MPI datatype)
 *
 * NAME pastes onto PAR_ and onto Guile's SCM_ARRAY_ELEMENT_TYPE_; name is
 * SRFI-4's, so #name is the string users see ("f64"). KIND is UINT, SINT,
 * FLOAT or COMPLEX. The tag is that of one element's real part, and the
 * MPI datatype a token that only code built against MPI expands. */
#define PAR_DTYPE_MAP(X)                                                    \
  X(U8, u8, uint8_t, 1, UINT, 64, MPI_UINT8_T)                              \
  X(S8, s8, int8_t, 1, SINT, 72, MPI_INT8_T)                                \
  X(U16, u16, uint16_t, 1, UINT, 69, MPI_UINT16_T)                          \
  X(S16, s16, int16_t, 1, SINT, 77, MPI_INT16_T)                            \
  X(U32, u32, uint32_t, 1, UINT, 70, MPI_UINT32_T)                          \
  X(S32, s32, int32_t, 1, SINT, 78, MPI_INT32_T)                            \
  X(U64, u64, uint64_t, 1, UINT, 71, MPI_UINT64_T)                          \
  X(S64, s64, int64_t, 1, SINT, 79, MPI_INT64_T)                            \
  X(F32, f32, float, 1, FLOAT, 85, MPI_FLOAT)                               \
  X(F64, f64, double, 1, FLOAT, 86, MPI_DOUBLE)                             \
  X(C32, c32, float, 2, COMPLEX, 85, MPI_C_FLOAT_COMPLEX)                   \
  X(C64, c64, double, 2, COMPLEX, 86, MPI_C_DOUBLE_COMPLEX)

typedef enum par_dtype {
#define PAR__DTYPE_ENUM(NAME, name, ctype, n, kind, tag, mpi) PAR_##NAME,
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
 * buffers are borrowed for the call and may not overlap. With COUNT 0 no
 * memory is touched (the buffers may be NULL), which asks whether OP is
 * defined on TYPE. */
PAR_EXTERN int par_reduce_apply(par_reduce_op op, par_dtype type, void *inout,
                                const void *in, size_t count);

#ifdef __cplusplus
}
#endif

#endif /* PAR_TYPES_H */
