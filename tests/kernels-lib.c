/* kernels-lib.c — a library of kernels for tests/kernels*.scm, built as
 * build/tests/libkernels-test.so with nothing but par/kernel.h, as a
 * user's library of kernels would be. */
#include <math.h>
#include <string.h>

#include <par/kernel.h>

/* x * a for every element of the f64 array x and the number a. */
static int
scale(par_kernel_args *a)
{
  double k = a->scalars[0].f;
  const double *x = a->in[0].data;
  double *y = a->out->data;

  for (size_t i = 0; i < a->out->count; i++) {
    y[i] = k * x[i];
  }
  return PAR_OK;
}
PAR_KERNEL_EXPORT(scale, "f64 double -> f64", PAR_KERNEL_ELEMENTWISE,
                  "x * a for each element x.");

/* x + y, element-wise. */
static int
add(par_kernel_args *a)
{
  const double *x = a->in[0].data, *y = a->in[1].data;
  double *z = a->out->data;

  for (size_t i = 0; i < a->out->count; i++) {
    z[i] = x[i] + y[i];
  }
  return PAR_OK;
}
PAR_KERNEL_EXPORT(add, "f64, f64 -> f64", PAR_KERNEL_ELEMENTWISE, NULL);

/* Every element plus one, in its own type (the real part of a complex
 * number), on arrays of any type and shape. */
#define INCREMENT_CASE(NAME, name, ctype, n, kind, tag, mpi)                \
  case PAR_##NAME: {                                                        \
    const ctype *x = a->in[0].data;                                         \
    ctype *y = a->out->data;                                                \
    for (size_t i = 0; i < a->out->count * (n); i++) {                      \
      y[i] = (ctype) (x[i] + (i % (n) == 0));                               \
    }                                                                       \
    break;                                                                  \
  }

static int
increment(par_kernel_args *a)
{
  switch (a->in[0].type) {
    PAR_DTYPE_MAP(INCREMENT_CASE)
  default:
    return par_kernel_error(a, PAR_ETYPE, "increment: unknown type");
  }
  return PAR_OK;
}
PAR_KERNEL_EXPORT(increment, "* -> same", PAR_KERNEL_ELEMENTWISE,
                  "Every element plus one.");

/* The dot product of two f64 vectors of the same length. */
static int
dot(par_kernel_args *a)
{
  const double *x = a->in[0].data, *y = a->in[1].data;
  double sum = 0;

  if (a->in[0].count != a->in[1].count) {
    return par_kernel_error(a, PAR_ESIZE, "dot: lengths %zu and %zu differ",
                            a->in[0].count, a->in[1].count);
  }
  for (size_t i = 0; i < a->in[0].count; i++) {
    sum += x[i] * y[i];
  }
  *(double *) a->out->data = sum;
  return PAR_OK;
}
PAR_KERNEL_EXPORT(dot, "f64 f64 -> double", 0, "The dot product.");

/* n (n + 1) / 2 for an exact integer n. */
static int
triangle(par_kernel_args *a)
{
  int64_t n = a->scalars[0].i;

  *(int64_t *) a->out->data = n * (n + 1) / 2;
  return PAR_OK;
}
PAR_KERNEL_EXPORT(triangle, "int64 -> int64", 0, NULL);

/* Fails with the code CODE (a negative code of par/error.h, or anything
 * else) and a message that says so. */
static int
fail_with(par_kernel_args *a)
{
  return par_kernel_error(a, (int) a->scalars[0].i,
                          "failing on purpose with code %lld",
                          (long long) a->scalars[0].i);
}
PAR_KERNEL_EXPORT(fail_with, "int64 -> double", 0, NULL);

/* Fails with PAR_EPEER and writes no message. */
static int
fail_silently(par_kernel_args *a)
{
  return PAR_EPEER;
}
PAR_KERNEL_EXPORT(fail_silently, "-> double", 0, NULL);

/* An f64 vector 0, 1, ..., n - 1, allocated by the kernel. */
static int
range(par_kernel_args *a)
{
  size_t shape[1];
  double *y;
  int rc;

  if (a->scalars[0].i < 0) {
    return par_kernel_error(a, PAR_EINVAL, "range: negative length");
  }
  shape[0] = (size_t) a->scalars[0].i;
  rc = par_kernel_alloc(a, PAR_F64, 1, shape);
  if (rc != PAR_OK) {
    return rc;
  }
  y = a->out->data;
  for (size_t i = 0; i < shape[0]; i++) {
    y[i] = (double) i;
  }
  return PAR_OK;
}
PAR_KERNEL_EXPORT(range, "int64 -> f64", 0, NULL);

/* The transpose of a two-axis array of any type, allocated by the
 * kernel with the axes swapped. */
static int
transpose(par_kernel_args *a)
{
  const par_array *x = &a->in[0];
  size_t shape[2], size = 0;
  int rc;

  if (x->rank != 2) {
    return par_kernel_error(a, PAR_EINVAL, "transpose: %d axes, not 2",
                            x->rank);
  }
  shape[0] = x->shape[1];
  shape[1] = x->shape[0];
  rc = par_kernel_alloc(a, x->type, 2, shape);
  if (rc != PAR_OK) {
    return rc;
  }
  switch (x->type) {
#define SIZE_CASE(NAME, name, ctype, n, kind, tag, mpi)                     \
  case PAR_##NAME:                                                          \
    size = sizeof(ctype) * (n);                                             \
    break;
    PAR_DTYPE_MAP(SIZE_CASE)
#undef SIZE_CASE
  default:
    break;
  }
  for (size_t i = 0; i < x->shape[0]; i++) {
    for (size_t j = 0; j < x->shape[1]; j++) {
      memcpy((char *) a->out->data + (j * x->shape[0] + i) * size,
             (const char *) x->data + (i * x->shape[1] + j) * size, size);
    }
  }
  return PAR_OK;
}
PAR_KERNEL_EXPORT(transpose, "* -> same", 0, NULL);

/* Any arguments: makes the u8 vector (arrays numbers), or nothing when
 * called with no argument. */
static int
anything(par_kernel_args *a)
{
  size_t shape[1] = {2};
  unsigned char *y;
  int rc;

  if (a->nin + a->nscalars == 0) {
    return PAR_OK;
  }
  rc = par_kernel_alloc(a, PAR_U8, 1, shape);
  if (rc != PAR_OK) {
    return rc;
  }
  y = a->out->data;
  y[0] = (unsigned char) a->nin;
  y[1] = (unsigned char) a->nscalars;
  return PAR_OK;
}
PAR_KERNEL_EXPORT(anything, NULL, 0, "Counts its arrays and numbers.");

/* Element-wise sum of two f64 vectors, as a reduction operator. */
static double
plus(double x, double y)
{
  return x + y;
}
PAR_KERNEL_COMBINE(vsum, plus, "Element-wise sum.");

/* The product of 2x2 matrices (4 doubles, row-major): associative, not
 * commutative, so that a reduction in any order but rank order shows. */
static int
matmul2(par_kernel_args *a)
{
  const double *x = a->in[0].data, *y = a->in[1].data;
  double r[4];

  if (a->in[0].count != 4) {
    return par_kernel_error(a, PAR_ESIZE, "matmul2: 4 elements, not %zu",
                            a->in[0].count);
  }
  r[0] = x[0] * y[0] + x[1] * y[2];
  r[1] = x[0] * y[1] + x[1] * y[3];
  r[2] = x[2] * y[0] + x[3] * y[2];
  r[3] = x[2] * y[1] + x[3] * y[3];
  memcpy(a->out->data, r, sizeof r);
  return PAR_OK;
}
PAR_KERNEL_EXPORT(matmul2, "f64 f64 -> f64", PAR_KERNEL_REDUCTION,
                  "The product of 2x2 matrices.");

/* The helpers. */
static double
half(double x)
{
  return x / 2;
}
PAR_KERNEL_MAP(halve, half, "x / 2");

static double
add_square(double acc, double x)
{
  return acc + x * x;
}
PAR_KERNEL_REDUCE(sum_of_squares, 0.0, add_square, "The sum of x^2.");

/* A visible function that is not a kernel. */
__attribute__((visibility("default"))) int
not_a_kernel(void)
{
  return 0;
}

/* A kernel built for another version of the ABI. */
static int
old(par_kernel_args *a)
{
  return PAR_OK;
}
__attribute__((visibility("default"))) const par_kernel_def
    old_abi__par_kernel = {PAR_KERNEL_ABI_VERSION + 1, "old_abi", old,
                           "-> double", 0, NULL, NULL};
