/* dot.c — a kernel of two arrays that makes a number: the dot product.
 *
 * Its signature, "f64 f64 -> double", says it takes two f64 arrays and
 * makes a real number; the caller checks the element types before the
 * call, and the kernel checks that the lengths agree, failing with a
 * message otherwise. `make examples` builds this file into
 * build/examples/kernels/libdot.so; dot.scm loads it.
 */
#include <par/kernel.h>

static int
dot(par_kernel_args *a)
{
  const double *x = a->in[0].data, *y = a->in[1].data;
  size_t n = a->in[0].count;
  double sum = 0;

  if (a->in[1].count != n) {
    return par_kernel_error(a, PAR_ESIZE, "dot: lengths %zu and %zu differ",
                            n, a->in[1].count);
  }
  for (size_t i = 0; i < n; i++) {
    sum += x[i] * y[i];
  }
  *(double *) a->out->data = sum;
  return PAR_OK;
}

PAR_KERNEL_EXPORT(dot, "f64 f64 -> double", 0,
                  "The dot product of two f64 vectors.");
