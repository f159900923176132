/* kernel_functions.h — the functions that the kernel benchmarks map over
 * 10^7 doubles, the same C for all: build/bench/kernels_raw includes this
 * file into its plain loops, and bench/kernels.scm and
 * bench/kernels-mpi.scm read it into the source they give compile-kernel.
 *
 * light is a few arithmetic operations, as fast as memory goes; heavy
 * calls four functions of the C library per element.
 */
#include <math.h>

static double
light(double x)
{
  return x * x + 1;
}

static double
heavy(double x)
{
  return sin(x) * exp(-x * x * 1e-14) + sqrt(fabs(x)) + log1p(fabs(x));
}
