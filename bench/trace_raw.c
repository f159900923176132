/* trace_raw.c — what recording a trace costs the multiprocessing runtime.
 *
 * Usage: trace_raw [ROUNDS]   (default 7)
 *
 * Two processes run a barrier loop and a ping-pong loop (8 bytes there
 * and back), alternately with tracing off (the hook compiled in, one
 * branch per operation) and on (every operation recorded), ROUNDS times
 * each; the medians are printed side by side with their difference per
 * operation. The figure with tracing off is the one the other benchmarks
 * measure: compare it with theirs from before tracing existed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parallelizer.h"
#include "par/mp.h"
#include "par/trace.h"

#define BARRIERS 20000
#define ROUND_TRIPS 10000
#define MAX_ROUNDS 31

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

static int
compare(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
  qsort(v, (size_t) n, sizeof *v, compare);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Seconds per barrier, over BARRIERS of them. */
static double
barriers(par_comm *c)
{
  double t0;

  check(par_comm_barrier(c), c, "barrier");
  t0 = now();
  for (int i = 0; i < BARRIERS; i++) {
    check(par_comm_barrier(c), c, "barrier");
  }
  return (now() - t0) / BARRIERS;
}

/* Seconds per round trip of 8 bytes between ranks 0 and 1. */
static double
round_trips(par_comm *c, int rank)
{
  char buf[8] = "ping";
  par_msg msg = PAR_MSG_INIT;
  double t0;

  check(par_comm_barrier(c), c, "barrier");
  t0 = now();
  for (int i = 0; i < ROUND_TRIPS; i++) {
    if (rank == 0) {
      check(par_comm_send(c, 1, buf, sizeof buf), c, "send");
      check(par_comm_recv(c, 1, &msg), c, "recv");
    } else {
      check(par_comm_recv(c, 0, &msg), c, "recv");
      check(par_comm_send(c, 0, buf, sizeof buf), c, "send");
    }
    par_msg_release(&msg);
  }
  return (now() - t0) / ROUND_TRIPS;
}

int
main(int argc, char **argv)
{
  par_mp_options opts = {.nprocs = 2, .timeout = 120};
  int rounds = argc > 1 ? atoi(argv[1]) : 7;
  double bar[2][MAX_ROUNDS], pp[2][MAX_ROUNDS];
  par_mp_group *g;
  par_comm *c;
  int rank;

  if (rounds < 1 || rounds > MAX_ROUNDS) {
    fprintf(stderr, "trace_raw: ROUNDS must be 1 to %d\n", MAX_ROUNDS);
    return 2;
  }
  check(par_mp_group_create(&opts, &g), NULL, "create");
  check(par_mp_group_fork(g, &rank), NULL, "fork");
  c = par_mp_group_comm(g);
  barriers(c);
  for (int r = 0; r < rounds; r++) {
    for (int on = 0; on < 2; on++) {
      if (on) {
        check(par_comm_trace_start(c), c, "trace start");
      }
      bar[on][r] = barriers(c);
      pp[on][r] = round_trips(c, rank);
      if (on) {
        const par_trace_event *events;

        par_comm_trace_stop(c);
        if (par_comm_trace_events(c, &events)
            != (size_t) BARRIERS + 2 + (size_t) ROUND_TRIPS * 2) {
          fprintf(stderr, "trace_raw: the trace missed operations\n");
          return 1;
        }
      }
    }
  }
  if (rank != 0) {
    par_mp_worker_exit(g, 0, NULL, 0);
  }
  check(par_mp_group_join(g, NULL, 0), NULL, "join");
  par_mp_group_destroy(g);
  {
    double b0 = median(bar[0], rounds), b1 = median(bar[1], rounds);
    double p0 = median(pp[0], rounds), p1 = median(pp[1], rounds);

    printf("%-26s %14s %14s %12s\n", "operation, 2 processes",
           "tracing off", "tracing on", "on - off");
    printf("%-26s %11.3f us %11.3f us %9.3f us\n", "barrier", b0 * 1e6,
           b1 * 1e6, (b1 - b0) * 1e6);
    printf("%-26s %11.3f us %11.3f us %9.3f us\n", "ping-pong round trip",
           p0 * 1e6, p1 * 1e6, (p1 - p0) * 1e6);
    printf("Medians of %d rounds of %d barriers and %d round trips.\n",
           rounds, BARRIERS, ROUND_TRIPS);
  }
  return 0;
}
