/* gaussian.c — an element-wise kernel: the standard normal density.
 *
 * PAR_KERNEL_MAP makes the whole kernel from one function of a double:
 * it takes an array of any real element type and makes an f64 array of
 * its shape. `make examples` builds this file into
 * build/examples/kernels/libgaussian.so; gaussian.scm loads it.
 */
#include <math.h>

#include <par/kernel.h>

static double
density(double x)
{
  const double sqrt_two_pi = 2.5066282746310002;

  return exp(-x * x / 2) / sqrt_two_pi;
}

PAR_KERNEL_MAP(gaussian, density,
               "The standard normal density of each element.");
