/* mp_raw.c — raw latency and bandwidth of the multiprocessing backend.
 *
 * Usage: mp_raw [NPROCS]   (default 2)
 *
 * Prints one line per measurement: the barrier, a ping-pong round trip of
 * 8 bytes between ranks 0 and 1, a one-way transfer of 8 MB from 0 to 1,
 * a broadcast of 8 MB to every rank, and memcpy of 8 MB for comparison;
 * last, an empty run in C (fork, a barrier, the workers' exit and the
 * join), the median of several: the floor of an empty parallelizer-run.
 * When the environment names a file in BENCH_ROWS, the empty run and the
 * memcpy are also appended to it as "name<TAB>microseconds" lines, for
 * bench/table.scm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parallelizer.h"
#include "par/mp.h"

#define BIG ((size_t) 8 * 1024 * 1024)

static double
now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void
check(int rc, par_comm *c, const char *what)
{
  if (rc != PAR_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, par_strerror(rc),
            c != NULL ? par_comm_error_detail(c) : "");
    exit(1);
  }
}

/* Append "raw:NAME<TAB>microseconds" to the file BENCH_ROWS names. */
static void
row(const char *name, double seconds)
{
  const char *file = getenv("BENCH_ROWS");
  FILE *f = file != NULL ? fopen(file, "a") : NULL;

  if (f != NULL) {
    fprintf(f, "raw:%s\t%.3f\n", name, seconds * 1e6);
    fclose(f);
  }
}

static int
by_value(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The median time of an empty run of G: fork, a barrier, every worker's
 * exit, the join. */
static double
empty_run(par_mp_group *g)
{
  double t[9];

  for (int i = 0; i < 9; i++) {
    double t0 = now();
    int rank;

    check(par_mp_group_fork(g, &rank), NULL, "fork");
    check(par_comm_barrier(par_mp_group_comm(g)), par_mp_group_comm(g),
          "barrier");
    if (rank != 0) {
      par_mp_worker_exit(g, 0, NULL, 0);
    }
    check(par_mp_group_join(g, NULL, 0), NULL, "join");
    t[i] = now() - t0;
  }
  qsort(t, 9, sizeof *t, by_value);
  return t[4];
}

int
main(int argc, char **argv)
{
  par_mp_options opts = {.nprocs = argc > 1 ? atoi(argv[1]) : 2,
                         .timeout = 60};
  par_mp_group *g;
  par_comm *c;
  unsigned char *big = malloc(BIG), *copy = malloc(BIG);
  int rank, n;
  double t0, best;
  char small[8] = "ping";

  if (big == NULL || copy == NULL) {
    return 1;
  }
  memset(big, 7, BIG);
  memset(copy, 0, BIG);
  check(par_mp_group_create(&opts, &g), NULL, "create");
  t0 = now();
  check(par_mp_group_fork(g, &rank), NULL, "fork");
  c = par_mp_group_comm(g);
  n = par_comm_size(c);
  check(par_comm_barrier(c), c, "barrier");
  if (rank == 0) {
    printf("fork + first barrier, %d processes: %.1f us\n", n,
           (now() - t0) * 1e6);
  }

  /* Barrier. */
  for (int round = 0; round < 3; round++) {
    int iters = 200000;

    check(par_comm_barrier(c), c, "barrier");
    t0 = now();
    for (int i = 0; i < iters; i++) {
      check(par_comm_barrier(c), c, "barrier");
    }
    if (rank == 0 && round == 2) {
      printf("barrier, %d processes: %.3f us\n", n,
             (now() - t0) / iters * 1e6);
    }
  }

  /* Ping-pong between 0 and 1. */
  best = 1e9;
  for (int round = 0; round < 3; round++) {
    int iters = 100000;

    check(par_comm_barrier(c), c, "barrier");
    t0 = now();
    for (int i = 0; i < iters && rank < 2; i++) {
      par_msg msg = PAR_MSG_INIT;

      if (rank == 0) {
        check(par_comm_send(c, 1, small, sizeof small), c, "send");
        check(par_comm_recv(c, 1, &msg), c, "recv");
      } else {
        check(par_comm_recv(c, 0, &msg), c, "recv");
        check(par_comm_send(c, 0, small, sizeof small), c, "send");
      }
      par_msg_release(&msg);
    }
    if ((now() - t0) / iters < best) {
      best = (now() - t0) / iters;
    }
  }
  if (rank == 0) {
    printf("ping-pong round trip, 8 bytes: %.3f us\n", best * 1e6);
  }

  /* One-way 8 MB from 0 to 1, acknowledged. */
  best = 1e9;
  for (int round = 0; round < 10; round++) {
    par_msg msg = PAR_MSG_INIT;

    check(par_comm_barrier(c), c, "barrier");
    t0 = now();
    if (rank == 0) {
      check(par_comm_send(c, 1, big, BIG), c, "send");
      check(par_comm_recv(c, 1, &msg), c, "recv");
    } else if (rank == 1) {
      check(par_comm_recv(c, 0, &msg), c, "recv");
      par_msg_release(&msg);
      check(par_comm_send(c, 0, small, 1), c, "send");
    }
    par_msg_release(&msg);
    if (now() - t0 < best) {
      best = now() - t0;
    }
  }
  if (rank == 0) {
    printf("send 8 MB 0 -> 1: %.3f ms (%.2f GB/s)\n", best * 1e3,
           BIG / best / 1e9);
  }

  /* Broadcast 8 MB from 0 (typed, into the caller's buffer). */
  best = 1e9;
  for (int round = 0; round < 10; round++) {
    check(par_comm_barrier(c), c, "barrier");
    t0 = now();
    check(par_comm_bcast(c, 0, rank == 0 ? big : copy, BIG / 8, PAR_F64), c,
          "bcast");
    check(par_comm_barrier(c), c, "barrier");
    if (now() - t0 < best) {
      best = now() - t0;
    }
  }
  if (rank == 0) {
    printf("bcast 8 MB f64, %d processes: %.3f ms\n", n, best * 1e3);
  }

  if (rank != 0) {
    free(big);
    free(copy);
    par_mp_worker_exit(g, 0, NULL, 0);
  }
  check(par_mp_group_join(g, NULL, 0), NULL, "join");
  best = empty_run(g);
  printf("empty run (fork, barrier, exit, join), %d processes: %.1f us\n",
         n, best * 1e6);
  row("empty_run", best);
  par_mp_group_destroy(g);

  best = 1e9;
  for (int round = 0; round < 10; round++) {
    t0 = now();
    memcpy(copy, big, BIG);
    __asm__ __volatile__("" ::: "memory");
    if (now() - t0 < best) {
      best = now() - t0;
    }
  }
  printf("memcpy 8 MB: %.3f ms\n", best * 1e3);
  row("memcpy_8mb", best);
  free(big);
  free(copy);
  return 0;
}
