/* mpi_raw.c — the floor of the MPI benchmarks: the same operations as the
 * MPI backend's benchmarks, written straight against MPI in C.
 *
 *   make build/bench/mpi_raw
 *   mpirun -n 2 build/bench/mpi_raw
 *
 * Rank 0 prints one line per benchmark, "name<TAB>microseconds per
 * operation", the median of several repetitions; bench/mpi4py_peer.py
 * prints the same names, so the two can be joined on the first column.
 * The ping-pong needs two processes or more and is left out otherwise.
 * Nothing of libparallelizer is used.
 *
 * The 8 MB vector is ordinary malloc'ed memory, as a Guile vector is. On a
 * kernel with transparent huge pages on "madvise", numpy asks for huge
 * pages for large arrays, which makes Open MPI's single-copy transfer of
 * mpi4py's vector two or three times faster; compare like with like.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REPS = 7 };

static int rank, size;

static int
by_value(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* Time ITERS calls of RUN(ARG) REPS times, with every process lined up
 * before each repetition, and print rank 0's median per call. */
static void
bench(const char *name, int iters, void (*run)(void *arg), void *arg)
{
  double t[REPS];

  run(arg); /* warm up: connections, buffers, first-touch of pages */
  for (int r = 0; r < REPS; r++) {
    double t0;

    MPI_Barrier(MPI_COMM_WORLD);
    t0 = MPI_Wtime();
    for (int i = 0; i < iters; i++) {
      run(arg);
    }
    t[r] = (MPI_Wtime() - t0) / iters;
  }
  qsort(t, REPS, sizeof t[0], by_value);
  if (rank == 0) {
    printf("%s\t%.3f\n", name, t[REPS / 2] * 1e6);
    fflush(stdout);
  }
}

static void
barrier(void *arg)
{
  MPI_Barrier(MPI_COMM_WORLD);
}

/* A small message, about the size of a small serialised object. */
static void
pingpong(void *arg)
{
  char *msg = arg;

  if (rank == 0) {
    MPI_Send(msg, 64, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
    MPI_Recv(msg, 64, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  } else if (rank == 1) {
    MPI_Recv(msg, 64, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(msg, 64, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
  }
}

enum { BCAST_N = 1 << 20 }; /* 8 MB of doubles */

static void
bcast(void *arg)
{
  MPI_Bcast(arg, BCAST_N, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

enum { SCATTER_N = 100000 };

typedef struct scatter_args {
  int64_t *all, *part;
  int *counts, *displs;
} scatter_args;

/* MPI_Scatter when the processes divide the data evenly, as MPI wants;
 * otherwise MPI_Scatterv with the larger chunks first. */
static void
scatter(void *arg)
{
  scatter_args *a = arg;

  if (SCATTER_N % size == 0) {
    MPI_Scatter(a->all, SCATTER_N / size, MPI_INT64_T, a->part,
                SCATTER_N / size, MPI_INT64_T, 0, MPI_COMM_WORLD);
  } else {
    MPI_Scatterv(a->all, a->counts, a->displs, MPI_INT64_T, a->part,
                 a->counts[rank], MPI_INT64_T, 0, MPI_COMM_WORLD);
  }
}

static void
gather(void *arg)
{
  int one = rank;

  MPI_Gather(&one, 1, MPI_INT, arg, 1, MPI_INT, 0, MPI_COMM_WORLD);
}

int
main(int argc, char **argv)
{
  char msg[64];
  double *vec;
  scatter_args sa;
  int *gathered, at = 0;

  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  bench("barrier", 20000, barrier, NULL);

  memset(msg, 'x', sizeof msg);
  if (size >= 2) {
    bench("pingpong", 20000, pingpong, msg);
  }

  vec = malloc(BCAST_N * sizeof *vec);
  for (int i = 0; i < BCAST_N; i++) {
    vec[i] = i;
  }
  bench("bcast_8mb_f64", 20, bcast, vec);
  free(vec);

  sa.all = malloc(SCATTER_N * sizeof *sa.all);
  sa.part = malloc((SCATTER_N / size + 1) * sizeof *sa.part);
  sa.counts = malloc(2 * (size_t) size * sizeof *sa.counts);
  sa.displs = sa.counts + size;
  for (int i = 0; i < SCATTER_N; i++) {
    sa.all[i] = i;
  }
  for (int r = 0; r < size; r++) {
    sa.counts[r] = SCATTER_N / size + (r < SCATTER_N % size);
    sa.displs[r] = at;
    at += sa.counts[r];
  }
  bench("scatter_100k", 500, scatter, &sa);
  free(sa.all);
  free(sa.part);
  free(sa.counts);

  gathered = malloc((size_t) size * sizeof *gathered);
  bench("gather_int", 20000, gather, gathered);
  free(gathered);

  MPI_Finalize();
  return 0;
}
