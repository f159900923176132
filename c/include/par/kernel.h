/* par/kernel.h — C kernels: one signature for functions over typed arrays.
 *
 * A kernel is a C function that takes typed arrays and numbers and makes
 * an array or a number: the hot loop of a program whose control stays in
 * Scheme (or in C). Every kernel has the same C signature,
 *
 *   int kernel(par_kernel_args *args);
 *
 * and is described by a par_kernel_def: its name, its function, the
 * signature of its arguments as text ("f64 f64 -> f64") and flags. The
 * caller checks the arguments against that signature before the call, so
 * the kernel can rely on the element types and, for an element-wise kernel,
 * on the shapes. A kernel returns PAR_OK or a negative code of par/error.h,
 * with a message written by par_kernel_error.
 *
 * A shared library makes its kernels loadable by exporting their
 * descriptors with PAR_KERNEL_EXPORT (Scheme: load-kernel); a program
 * registers its own with par_kernel_register (Scheme: kernel-ref). The
 * helpers PAR_KERNEL_MAP, PAR_KERNEL_REDUCE and PAR_KERNEL_COMBINE write a
 * whole kernel from one C function of doubles.
 *
 * Everything a kernel itself uses (par_kernel_error, par_kernel_alloc, the
 * helpers) is defined in this header, so that a library of kernels needs
 * nothing but this header to build: it links with no Parallelizer library.
 * The functions declared PAR_EXTERN at the end are libparallelizer's, for
 * programs that register or call kernels.
 *
 * Ownership: the caller owns the arguments, the output array and its
 * memory; a kernel borrows them for the call and keeps no pointer to them.
 */
#ifndef PAR_KERNEL_H
#define PAR_KERNEL_H

#include <stdarg.h>
#include <stdio.h>

#include "comm.h"
#include "common.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the layout of the structures below and of the calling
 * convention. It changes whenever a kernel built against an earlier
 * header could misread its arguments; load-kernel refuses a kernel built
 * for another version, and compile-kernel's cache is keyed by it. */
#define PAR_KERNEL_ABI_VERSION 1

/* The most axes an array passed to a kernel may have. */
#define PAR_ARRAY_MAX_RANK 8

/* Room for a kernel's error message, terminating NUL included. */
#define PAR_KERNEL_MESSAGE_MAX 256

/* The most arguments (arrays and numbers together) of a signature. */
#define PAR_KERNEL_MAX_ARGS 16

/* A typed array: COUNT elements of TYPE at DATA, contiguous, in row-major
 * order (the last axis varies fastest), with RANK axes of the lengths in
 * SHAPE. COUNT is the product of the lengths, 1 for rank 0 (one element).
 * The arrays a kernel receives are the caller's; it must not write to its
 * inputs. */
typedef struct par_array {
  par_dtype type;
  int rank;
  size_t shape[PAR_ARRAY_MAX_RANK];
  size_t count;
  void *data;
} par_array;

/* A number argument. TYPE says what the caller passed: PAR_S64 for an
 * exact integer (I holds it, F its nearest double), PAR_F64 for any other
 * real (F holds it, I its truncation toward zero, saturated). */
typedef struct par_scalar {
  par_dtype type;
  int64_t i;
  double f;
} par_scalar;

typedef struct par_kernel_args par_kernel_args;

/* The signature of every kernel. */
typedef int par_kernel_fn(par_kernel_args *args);

/* How the caller makes a result that the kernel asks for with
 * par_kernel_alloc (see par_kernel_invoke). */
typedef int par_kernel_alloc_fn(par_kernel_args *args, par_dtype type,
                                int rank, const size_t *shape);

/* What a kernel receives. The arrays (IN) and the numbers (SCALARS) of the
 * call are each in the order of the signature. OUT is the result:
 *
 * - For an element-wise kernel (PAR_KERNEL_ELEMENTWISE) or a reduction
 *   (PAR_KERNEL_REDUCTION), and for a kernel whose result is a number
 *   ("double" or "int64"), OUT is ready when the kernel is called: an
 *   array of the result type and of the shape of the first input (rank 0,
 *   one element, for a number), whose DATA the kernel fills.
 * - Otherwise OUT->data is NULL, and the kernel makes the result with
 *   par_kernel_alloc, once, then fills it. A kernel that allocates nothing
 *   returns no value (Scheme: the unspecified value).
 *
 * USER is the pointer given when the kernel was registered (NULL for a
 * kernel loaded from a library). MESSAGE receives the text of an error
 * (see par_kernel_error). The fields ending in _ are the caller's. */
struct par_kernel_args {
  int abi;
  size_t nin;
  const par_array *in;
  size_t nscalars;
  const par_scalar *scalars;
  par_array *out;
  void *user;
  par_kernel_alloc_fn *alloc_;
  void *impl_;
  char message[PAR_KERNEL_MESSAGE_MAX];
};

/* Flags of a kernel. */
enum {
  /* The result has the shape of the inputs, every array input has the
   * same shape, and each element of the result depends on the elements at
   * the same index only. Such a kernel can be run on any piece of its
   * inputs, which is what parallel-map does with each process's chunk. */
  PAR_KERNEL_ELEMENTWISE = 1u << 0,
  /* A reduction: two arrays of one type and shape in, the same out,
   * ready before the call as for an element-wise kernel; the combination
   * is associative (it need not be commutative), but need not be done
   * element by element. OUT may be the first input (the caller may pass
   * the same memory): read what an element of OUT depends on before
   * writing it. Such a kernel is an operator of allreduce and
   * reduce-to-root. */
  PAR_KERNEL_REDUCTION = 1u << 1
};

/* The description of a kernel.
 *
 * SIGNATURE lists the arguments in order, then "->" and the result,
 * separated by white space (commas are allowed between arguments):
 *
 *   f64, s32, ...   an array of that element type (par/types.h names)
 *   *               an array of any element type
 *   double          a real number (par_scalar; any real is accepted)
 *   int64           an exact integer that fits in 64 bits
 *
 * and the result is an element type name, "same" (the element type of the
 * first array argument), "*" (an array of any type, which the kernel
 * allocates), "double" or "int64" (a number). For example "f64 f64 ->
 * double", "double f64 -> f64", "* -> same". A NULL signature accepts any
 * arrays and numbers, in any order, and the kernel allocates its result.
 *
 * NAME is the name under which kernel-ref finds the kernel; DOC a sentence
 * shown with the kernel (may be NULL); ABI must be
 * PAR_KERNEL_ABI_VERSION. */
typedef struct par_kernel_def {
  int abi;
  const char *name;
  par_kernel_fn *fn;
  const char *signature;
  unsigned flags;
  void *user;
  const char *doc;
} par_kernel_def;

/* --- Writing a kernel ---------------------------------------------------- */

/* Write the message FORMAT (printf's) into ARGS's message slot and return
 * CODE, which must be a negative code of par/error.h:
 *
 *   if (a->in[0].count != a->in[1].count)
 *     return par_kernel_error(a, PAR_ESIZE, "lengths %zu and %zu differ",
 *                             a->in[0].count, a->in[1].count);
 */
static inline int par_kernel_error(par_kernel_args *args, int code,
                                   const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static inline int
par_kernel_error(par_kernel_args *args, int code, const char *format, ...)
{
  va_list ap;

  va_start(ap, format);
  vsnprintf(args->message, sizeof args->message, format, ap);
  va_end(ap);
  return code;
}

/* Make the result: an array of TYPE with RANK axes of the lengths SHAPE
 * (RANK from 0 to PAR_ARRAY_MAX_RANK), whose memory the caller owns. On
 * PAR_OK, ARGS->out describes it and ARGS->out->data is ready to be
 * filled. Fails with PAR_EINVAL when the result was made already (or was
 * ready before the call) or RANK is out of range, with PAR_ETYPE when
 * TYPE is not the result type of the signature, and with PAR_ENOMEM. */
static inline int
par_kernel_alloc(par_kernel_args *args, par_dtype type, int rank,
                 const size_t *shape)
{
  return args->alloc_(args, type, rank, shape);
}

/* The name of TYPE ("f64"), for messages; "?" for an invalid TYPE. */
static inline const char *
par_kernel_type_name(par_dtype type)
{
  switch (type) {
#define PAR__KERNEL_TYPE_NAME(NAME, name, ctype, n, kind, tag, mpi)         \
  case PAR_##NAME:                                                          \
    return #name;
    PAR_DTYPE_MAP(PAR__KERNEL_TYPE_NAME)
#undef PAR__KERNEL_TYPE_NAME
  default:
    return "?";
  }
}

/* The C type of one element of each type, from PAR_DTYPE_MAP: par_u8_t is
 * uint8_t, ..., par_f64_t is double, par_c64_t is double _Complex. */
#define PAR__ELEMENT_UINT(t) t
#define PAR__ELEMENT_SINT(t) t
#define PAR__ELEMENT_FLOAT(t) t
#define PAR__ELEMENT_COMPLEX(t) t _Complex
#define PAR__ELEMENT_TYPEDEF(NAME, name, ctype, n, kind, tag, mpi)          \
  typedef PAR__ELEMENT_##kind(ctype) par_##name##_t;
PAR_DTYPE_MAP(PAR__ELEMENT_TYPEDEF)
#undef PAR__ELEMENT_TYPEDEF

/* PAR__IF_REAL_KIND(x) is x for the real kinds and nothing for COMPLEX. */
#define PAR__IF_REAL_UINT(x) x
#define PAR__IF_REAL_SINT(x) x
#define PAR__IF_REAL_FLOAT(x) x
#define PAR__IF_REAL_COMPLEX(x)

/* Export the kernel FN (a par_kernel_fn of this file) from a shared
 * library under its own name, so that load-kernel and compile-kernel find
 * it: this defines the descriptor FN__par_kernel, visible even when the
 * library is built with -fvisibility=hidden (compile-kernel's default).
 *
 *   static int dot(par_kernel_args *a) { ... }
 *   PAR_KERNEL_EXPORT(dot, "f64 f64 -> double", 0, "The dot product.");
 */
#define PAR_KERNEL_EXPORT(FN, SIGNATURE, FLAGS, DOC)                        \
  PAR_KERNEL_EXPORT_AS(FN, #FN, SIGNATURE, FLAGS, DOC)

/* Like PAR_KERNEL_EXPORT, with NAME (a string) as the kernel's name: for
 * names that are not C identifiers ("soft-plus"). The library's symbol is
 * still FN__par_kernel, which is what load-kernel is given. */
#define PAR_KERNEL_EXPORT_AS(FN, NAME, SIGNATURE, FLAGS, DOC)               \
  PAR__KERNEL_LINKAGE PAR__KERNEL_VISIBLE const par_kernel_def              \
      FN##__par_kernel = {PAR_KERNEL_ABI_VERSION, NAME, FN, SIGNATURE,      \
                          FLAGS, NULL, DOC}

#ifdef __cplusplus
#define PAR__KERNEL_LINKAGE extern "C"
#else
#define PAR__KERNEL_LINKAGE
#endif
#if defined(__GNUC__)
#define PAR__KERNEL_VISIBLE __attribute__((visibility("default"), used))
#else
#define PAR__KERNEL_VISIBLE
#endif

/* --- Helpers: a whole kernel from one function of doubles --------------- */
/* Each helper defines a static kernel NAME and exports it. F names a
 * function of this file; the loops call it through a constant pointer,
 * which the compiler inlines at -O2, so the loop is as fast as one
 * written by hand. Inputs may have any real element type, converted to
 * double element by element; complex inputs fail with PAR_ETYPE. */

/* The loops over each real element type, generated from PAR_DTYPE_MAP. */
#define PAR__MAP_CASE(NAME, name, ctype, n, kind, tag, mpi)                 \
  PAR__IF_REAL_##kind(case PAR_##NAME : {                                   \
    const ctype *x_ = (const ctype *) in_->data;                            \
    for (size_t i_ = 0; i_ < count_; i_++) {                                \
      y_[i_] = f_((double) x_[i_]);                                         \
    }                                                                       \
    break;                                                                  \
  })

#define PAR__REDUCE_CASE(NAME, name, ctype, n, kind, tag, mpi)              \
  PAR__IF_REAL_##kind(case PAR_##NAME : {                                   \
    const ctype *x_ = (const ctype *) in_->data;                            \
    for (size_t i_ = 0; i_ < count_; i_++) {                                \
      acc_ = f_(acc_, (double) x_[i_]);                                     \
    }                                                                       \
    break;                                                                  \
  })

#define PAR__NOT_REAL(WHO)                                                  \
  par_kernel_error(args_, PAR_ETYPE,                                        \
                   "%s: expected an array of real numbers, got an array "   \
                   "of %s",                                                 \
                   WHO, par_kernel_type_name(in_->type))

/* NAME: an array of any real type -> an f64 array of its shape, element i
 * being F(x[i]) for a function double F(double). Element-wise.
 *
 *   static double gauss(double x) { return exp(-x * x / 2); }
 *   PAR_KERNEL_MAP(gaussian, gauss, "exp(-x^2/2) of each element.");
 */
#define PAR_KERNEL_MAP(NAME, F, DOC)                                        \
  static int NAME(par_kernel_args *args_)                                   \
  {                                                                         \
    double (*const f_)(double) = (F);                                       \
    const par_array *in_ = &args_->in[0];                                   \
    double *y_ = (double *) args_->out->data;                               \
    size_t count_ = in_->count;                                             \
    switch (in_->type) {                                                    \
      PAR_DTYPE_MAP(PAR__MAP_CASE)                                          \
    default:                                                                \
      return PAR__NOT_REAL(#NAME);                                          \
    }                                                                       \
    return PAR_OK;                                                          \
  }                                                                         \
  PAR_KERNEL_EXPORT(NAME, "* -> f64", PAR_KERNEL_ELEMENTWISE, DOC)

/* NAME: a chunk reduction, an array of any real type -> a number: F
 * folded over the elements in order from INIT, acc = F(acc, x[i]), for a
 * function double F(double acc, double x).
 *
 *   static double add_square(double acc, double x) { return acc + x * x; }
 *   PAR_KERNEL_REDUCE(sum_of_squares, 0.0, add_square, "Sum of x^2.");
 */
#define PAR_KERNEL_REDUCE(NAME, INIT, F, DOC)                               \
  static int NAME(par_kernel_args *args_)                                   \
  {                                                                         \
    double (*const f_)(double, double) = (F);                               \
    const par_array *in_ = &args_->in[0];                                   \
    size_t count_ = in_->count;                                             \
    double acc_ = (INIT);                                                   \
    switch (in_->type) {                                                    \
      PAR_DTYPE_MAP(PAR__REDUCE_CASE)                                       \
    default:                                                                \
      return PAR__NOT_REAL(#NAME);                                          \
    }                                                                       \
    *(double *) args_->out->data = acc_;                                    \
    return PAR_OK;                                                          \
  }                                                                         \
  PAR_KERNEL_EXPORT(NAME, "* -> double", 0, DOC)

/* NAME: a reduction operator on f64 arrays, element i of the result
 * being F(a[i], b[i]) for a function double F(double a, double b), which
 * must be associative. It can be the OP of allreduce and reduce-to-root.
 *
 *   static double larger(double a, double b) { return a > b ? a : b; }
 *   PAR_KERNEL_COMBINE(vmax, larger, "Element-wise maximum.");
 */
#define PAR_KERNEL_COMBINE(NAME, F, DOC)                                    \
  static int NAME(par_kernel_args *args_)                                   \
  {                                                                         \
    double (*const f_)(double, double) = (F);                               \
    const double *a_ = (const double *) args_->in[0].data;                  \
    const double *b_ = (const double *) args_->in[1].data;                  \
    double *y_ = (double *) args_->out->data;                               \
    size_t count_ = args_->out->count;                                      \
    for (size_t i_ = 0; i_ < count_; i_++) {                                \
      y_[i_] = f_(a_[i_], b_[i_]);                                          \
    }                                                                       \
    return PAR_OK;                                                          \
  }                                                                         \
  PAR_KERNEL_EXPORT(NAME, "f64 f64 -> f64",                                 \
                    PAR_KERNEL_ELEMENTWISE | PAR_KERNEL_REDUCTION, DOC)

/* --- Registering and calling kernels (libparallelizer) ------------------ */

/* What a signature says, parsed. Each of ARGS (NARGS of them) and RESULT
 * is a par_dtype for an array of that type, or one of the negative codes
 * below. NARGS is -1 for the NULL signature (any arguments). */
enum {
  PAR_KERNEL_ANY = -1,    /* "*": an array of any type */
  PAR_KERNEL_SAME = -2,   /* "same": the type of the first array argument */
  PAR_KERNEL_DOUBLE = -3, /* "double": a real number */
  PAR_KERNEL_INT64 = -4   /* "int64": an exact integer */
};

typedef struct par_kernel_sig {
  int nargs;
  int args[PAR_KERNEL_MAX_ARGS];
  int result;
  int narrays;  /* how many of ARGS are arrays */
  int nscalars; /* and how many are numbers */
} par_kernel_sig;

/* Parse the signature TEXT (see par_kernel_def; NULL is the signature
 * that accepts anything) into *SIG. PAR_EINVAL, with a sentence in DETAIL
 * (SIZE bytes; may be NULL), for text that is not a signature. */
PAR_EXTERN int par_kernel_sig_parse(const char *text, par_kernel_sig *sig,
                                    char *detail, size_t size);

/* Check DEF: its ABI version, name, function, signature, and flags that
 * agree with the signature (an element-wise kernel takes an array and
 * makes an array; a reduction takes two arrays of one type and makes that
 * type). PAR_EINVAL with a sentence in DETAIL otherwise. */
PAR_EXTERN int par_kernel_def_check(const par_kernel_def *def,
                                    par_kernel_sig *sig, char *detail,
                                    size_t size);

/* Check a call of a kernel of signature SIG and FLAGS on the arrays IN
 * (NIN) and numbers SCALARS (NSCALARS), and plan its result in *OUT (data
 * NULL): for an element-wise kernel, a reduction or a number result, the
 * type and shape
 * of the result, which the caller provides memory for before the call
 * (a number is a rank-0 array of f64 or s64); otherwise OUT->rank is -1
 * and OUT->type the type the kernel must allocate (PAR_DTYPE_COUNT: any),
 * and the kernel allocates with par_kernel_alloc. Fails
 * with PAR_EINVAL (wrong number of arrays or numbers), PAR_ETYPE (an
 * element type, or an integer where an int64 is expected) or PAR_ESIZE
 * (shapes of an element-wise call or a reduction differ), saying which
 * argument in DETAIL. */
PAR_EXTERN int par_kernel_plan(const par_kernel_sig *sig, unsigned flags,
                               const par_array *in, size_t nin,
                               const par_scalar *scalars, size_t nscalars,
                               par_array *out, char *detail, size_t size);

/* Register a kernel of this program under NAME, so that kernel-ref finds
 * it: FN, SIGNATURE and FLAGS as in par_kernel_def, USER passed to every
 * call in ARGS->user. The strings are copied. Registering a name again
 * replaces the earlier kernel (as a new definition does in Scheme); the
 * earlier one stays valid for those who hold it. Registering again the
 * very kernel that the name has (same function, signature, flags, user
 * pointer and documentation) changes nothing. PAR_EINVAL (with no
 * effect) if the description does not pass par_kernel_def_check,
 * PAR_ENOMEM. Thread-safe. */
PAR_EXTERN int par_kernel_register(const char *name, par_kernel_fn *fn,
                                   const char *signature, unsigned flags,
                                   void *user);

/* Register a copy of DEF, as par_kernel_register does; DEF->doc is copied
 * too. */
PAR_EXTERN int par_kernel_register_def(const par_kernel_def *def);

/* The kernel registered under NAME, in *OUT: a description that stays
 * valid until the program ends. PAR_ENOENT if there is none. */
PAR_EXTERN int par_kernel_lookup(const char *name,
                                 const par_kernel_def **out);

/* Call DEF on the arrays IN (NIN) and numbers SCALARS (NSCALARS), checked
 * with par_kernel_plan. The result is written into *OUT: its data (and,
 * for a number result, the rank-0 array holding it) is allocated with
 * malloc, and the caller frees OUT->data with free(); a kernel that makes
 * no result leaves OUT->data NULL. On failure, nothing is allocated, and
 * DETAIL (SIZE bytes) holds the kernel's message or what the check
 * found. Returns PAR_OK or the kernel's or the check's code. */
PAR_EXTERN int par_kernel_call(const par_kernel_def *def, const par_array *in,
                               size_t nin, const par_scalar *scalars,
                               size_t nscalars, par_array *out, char *detail,
                               size_t size);

/* For language bindings, which provide the memory of results themselves.
 *
 * Call DEF with the arrays IN (NIN) and numbers SCALARS (NSCALARS) and the
 * result *OUT as par_kernel_plan planned it: when OUT->rank >= 0 the
 * caller has set OUT->data to memory for the result; otherwise the kernel
 * may call par_kernel_alloc, which calls ALLOC with IMPL in ARGS->impl_.
 * Nothing is checked: call par_kernel_plan first. On failure DETAIL
 * (SIZE bytes) holds the kernel's message, or par_strerror of its code
 * when it wrote none. Returns the kernel's code. */
PAR_EXTERN int par_kernel_invoke(const par_kernel_def *def,
                                 const par_array *in, size_t nin,
                                 const par_scalar *scalars, size_t nscalars,
                                 par_array *out, par_kernel_alloc_fn *alloc,
                                 void *impl, char *detail, size_t size);

/* What every allocator checks, from inside its call: that the result was
 * not made yet and that TYPE, RANK and SHAPE are allowed by the plan in
 * ARGS->out. Fills *A (data NULL) on PAR_OK; otherwise writes the message
 * into ARGS and returns the code for the allocator to return. */
PAR_EXTERN int par_kernel_alloc_prepare(par_kernel_args *args,
                                        par_dtype type, int rank,
                                        const size_t *shape, par_array *a);

/* Fill *A as a contiguous array of TYPE with RANK axes of lengths SHAPE
 * over DATA (which may be NULL), computing its count. PAR_EINVAL for a
 * rank out of range or an invalid type. A convenience for callers. */
PAR_EXTERN int par_array_init(par_array *a, par_dtype type, int rank,
                              const size_t *shape, void *data);

/* --- Collectives with a reduction kernel as the operator ---------------- */
/* DEF must be a reduction (PAR_KERNEL_REDUCTION) whose signature accepts
 * TYPE. Every process contributes COUNT elements of TYPE in SENDBUF; the
 * contributions are combined in rank order, ((b0 op b1) op b2) ..., with
 * the kernel as op. The runtime gathers them all and folds them with the
 * kernel (an MPI_Op could not tell a kernel's failure), so the data that
 * moves is the group's size times COUNT elements rather than about COUNT: a reduction
 * kernel pays off where its combination is costly or the vectors short.
 * DETAIL (SIZE bytes, may be NULL) receives the kernel's message when it
 * fails; communication failures are described by par_comm_error_detail. */

/* The result reaches ROOT's RECVBUF (COUNT elements, unused elsewhere). */
PAR_EXTERN int par_comm_reduce_kernel(par_comm *comm, int root,
                                      const par_kernel_def *def,
                                      const void *sendbuf, void *recvbuf,
                                      size_t count, par_dtype type,
                                      char *detail, size_t size);

/* The result reaches every process's RECVBUF. */
PAR_EXTERN int par_comm_allreduce_kernel(par_comm *comm,
                                         const par_kernel_def *def,
                                         const void *sendbuf, void *recvbuf,
                                         size_t count, par_dtype type,
                                         char *detail, size_t size);

#ifdef __cplusplus
}
#endif

#endif /* PAR_KERNEL_H */
