/* pi.c — Monte-Carlo estimate of pi: a kernel of numbers only.
 *
 * hits(samples, seed) draws SAMPLES points of the unit square with a
 * generator seeded by SEED and counts those inside the quarter disc. Its
 * signature, "int64 int64 -> int64", takes two exact integers and makes
 * one. Each process calls it with a seed of its own, so the processes
 * draw different points. `make examples` builds this file into
 * build/examples/kernels/libpi.so; pi.scm loads it.
 */
#include <stdint.h>

#include <par/kernel.h>

/* SplitMix64: a small generator whose streams from different seeds do
 * not overlap in practice. */
static uint64_t
next(uint64_t *state)
{
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

/* A double uniform in [0, 1), from the top 53 bits. */
static double
uniform(uint64_t *state)
{
  return (double) (next(state) >> 11) * 0x1.0p-53;
}

static int
hits(par_kernel_args *a)
{
  int64_t samples = a->scalars[0].i, inside = 0;
  uint64_t state = (uint64_t) a->scalars[1].i;

  if (samples < 0) {
    return par_kernel_error(a, PAR_EINVAL, "hits: %lld samples",
                            (long long) samples);
  }
  for (int64_t i = 0; i < samples; i++) {
    double x = uniform(&state), y = uniform(&state);

    inside += x * x + y * y < 1.0;
  }
  *(int64_t *) a->out->data = inside;
  return PAR_OK;
}

PAR_KERNEL_EXPORT(hits, "int64 int64 -> int64", 0,
                  "Points of the unit square inside the quarter disc, out "
                  "of SAMPLES drawn from SEED.");
