/* kernels_raw.c — the floors of the kernel benchmarks, in plain C.
 *
 *   make build/bench/kernels_raw
 *   build/bench/kernels_raw loop               one process
 *   mpirun -n 2 build/bench/kernels_raw allreduce
 *
 * "loop" times, in one process, the loops that bench/kernels.scm runs as
 * kernels over 10^7 doubles: the same functions (kernel_functions.h)
 * compiled by the same compiler with the same flags, and the light loop
 * again writing into freshly allocated memory each time. "allreduce"
 * times MPI_Allreduce of 2^20 doubles (8 MB), with MPI_SUM and with a
 * user-defined operator (MPI_Op_create) doing the same sum, against which
 * bench/kernels-mpi.scm's reduction kernel is measured. Each prints one
 * line per benchmark, "name<TAB>microseconds", the median of 7
 * repetitions, in the format of bench/run-all. Nothing of libparallelizer
 * is used.
 */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel_functions.h"

enum { REPS = 7 };

#define POINTS 10000000

static double
now(void)
{
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int
by_value(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median(double *t)
{
  qsort(t, REPS, sizeof t[0], by_value);
  return t[REPS / 2];
}

/* Keeps the compiler from dropping a loop whose result is unused. */
static volatile double sink;

/* Time the loop y[i] = F(x[i]) over POINTS elements; a macro, so that F
 * is inlined into the loop as it is into a kernel's. */
#define TIME_LOOP(NAME, F, X, Y)                                            \
  do {                                                                      \
    double t_[REPS];                                                        \
    for (int r_ = 0; r_ < REPS; r_++) {                                     \
      double t0_ = now();                                                   \
      for (size_t i_ = 0; i_ < POINTS; i_++) {                              \
        (Y)[i_] = F((X)[i_]);                                               \
      }                                                                     \
      t_[r_] = now() - t0_;                                                 \
      sink = (Y)[r_];                                                       \
    }                                                                       \
    printf("%s\t%.3f\n", NAME, median(t_) * 1e6);                           \
    fflush(stdout);                                                         \
  } while (0)

static int
loops(void)
{
  double *x = malloc(sizeof *x * POINTS), *y = malloc(sizeof *y * POINTS);

  if (x == NULL || y == NULL) {
    return 1;
  }
  for (size_t i = 0; i < POINTS; i++) {
    x[i] = (double) i;
    y[i] = 0;
  }
  TIME_LOOP("c_loop_light", light, x, y);
  TIME_LOOP("c_loop_heavy", heavy, x, y);
  /* A kernel called from Scheme returns a fresh array each time, whose
   * pages the system must provide: the same loop into fresh memory. */
  {
    double t[REPS];

    for (int r = 0; r < REPS; r++) {
      double t0 = now(), *fresh = malloc(sizeof *fresh * POINTS);

      if (fresh == NULL) {
        return 1;
      }
      for (size_t i = 0; i < POINTS; i++) {
        fresh[i] = light(x[i]);
      }
      sink = fresh[r];
      free(fresh);
      t[r] = now() - t0;
    }
    printf("c_loop_light_fresh\t%.3f\n", median(t) * 1e6);
  }
  free(x);
  free(y);
  return 0;
}

static void
sum_op(void *in, void *inout, int *len, MPI_Datatype *type)
{
  const double *a = in;
  double *b = inout;

  for (int i = 0; i < *len; i++) {
    b[i] = a[i] + b[i];
  }
}

static int
allreduce(void)
{
  enum { COUNT = 1 << 20 };
  double *x = malloc(sizeof *x * COUNT), *y = malloc(sizeof *y * COUNT);
  double t[REPS];
  int rank;
  MPI_Op op;

  MPI_Init(NULL, NULL);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Op_create(sum_op, 1, &op);
  for (size_t i = 0; i < COUNT; i++) {
    x[i] = (double) i;
  }
  for (int variant = 0; variant < 2; variant++) {
    MPI_Op o = variant == 0 ? MPI_SUM : op;

    MPI_Allreduce(x, y, COUNT, MPI_DOUBLE, o, MPI_COMM_WORLD);
    for (int r = 0; r < REPS; r++) {
      double t0;
      int iters = 10;

      MPI_Barrier(MPI_COMM_WORLD);
      t0 = MPI_Wtime();
      for (int i = 0; i < iters; i++) {
        MPI_Allreduce(x, y, COUNT, MPI_DOUBLE, o, MPI_COMM_WORLD);
      }
      t[r] = (MPI_Wtime() - t0) / iters;
    }
    if (rank == 0) {
      printf("%s\t%.3f\n",
             variant == 0 ? "allreduce_8mb" : "allreduce_8mb_userop",
             median(t) * 1e6);
      fflush(stdout);
    }
  }
  MPI_Op_free(&op);
  MPI_Finalize();
  free(x);
  free(y);
  return 0;
}

int
main(int argc, char **argv)
{
  if (argc == 2 && strcmp(argv[1], "loop") == 0) {
    return loops();
  }
  if (argc == 2 && strcmp(argv[1], "allreduce") == 0) {
    return allreduce();
  }
  fprintf(stderr, "usage: kernels_raw loop | kernels_raw allreduce\n");
  return 2;
}
