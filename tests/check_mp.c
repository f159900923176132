/* check_mp.c — Check suite "mp": forked groups over shared memory.
 *
 * Every test runs in its own process (Check's fork mode, so that
 * tcase_set_timeout is a hard limit); that process is the group's main
 * and forks the workers. Workers never return into Check: each test body
 * returns 0 or a line number, and run_group turns that into the worker's
 * report through par_mp_worker_exit, which main then checks.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parallelizer.h"
#include "par/mp.h"

#include "mp-segment.h"

#define SMALL_RING 4096

/* Why the body failed, in the process where it did. */
static char fail_msg[512];

#define REQ(cond)                                                           \
  do {                                                                      \
    if (!(cond)) {                                                          \
      snprintf(fail_msg, sizeof fail_msg, "line %d: %s", __LINE__, #cond);  \
      return __LINE__;                                                      \
    }                                                                       \
  } while (0)

#define REQ_OK(c, expr)                                                     \
  do {                                                                      \
    int rc_ = (expr);                                                       \
    if (rc_ != PAR_OK) {                                                    \
      snprintf(fail_msg, sizeof fail_msg, "line %d: %s -> %s (%s)",         \
               __LINE__, #expr, par_err_name(rc_),                          \
               par_comm_error_detail(c));                                   \
      return __LINE__;                                                      \
    }                                                                       \
  } while (0)

typedef int (*body_fn)(par_mp_group *g, par_comm *c, void *arg);

static double
now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static par_mp_group *
make_group(int nprocs, size_t ring, double timeout)
{
  par_mp_options o = {.nprocs = nprocs, .timeout = timeout,
                      .ring_bytes = ring};
  par_mp_group *g = NULL;

  ck_assert_int_eq(par_mp_group_create(&o, &g), PAR_OK);
  ck_assert_ptr_nonnull(g);
  return g;
}

/* Fork G, run BODY everywhere, finish the workers with their outcome and
 * check on main that every process succeeded. */
static void
run_on(par_mp_group *g, body_fn body, void *arg)
{
  int n = par_mp_group_size(g), rank = -1, rc;
  par_mp_worker_status st[16];

  ck_assert_int_le(n, 17);
  fail_msg[0] = '\0';
  ck_assert_int_eq(par_mp_group_fork(g, &rank), PAR_OK);
  rc = body(g, par_mp_group_comm(g), arg);
  if (rank != 0) {
    par_mp_worker_exit(g, rc, fail_msg, strlen(fail_msg));
  }
  ck_assert_msg(rc == 0, "main: %s", fail_msg);
  rc = par_mp_group_join(g, st, (size_t) n - 1);
  for (int i = 0; i < n - 1; i++) {
    ck_assert_msg(st[i].state == PAR_MP_OK,
                  "rank %d: %s code %d: %.*s (%s)", st[i].rank,
                  par_mp_state_name(st[i].state), st[i].code,
                  (int) st[i].report_len,
                  st[i].report ? (const char *) st[i].report : "",
                  par_mp_group_error_detail(g));
  }
  ck_assert_int_eq(rc, PAR_OK);
}

static void
run_group(int nprocs, size_t ring, body_fn body, void *arg)
{
  par_mp_group *g = make_group(nprocs, ring, 20);

  run_on(g, body, arg);
  par_mp_group_destroy(g);
}

static unsigned char
pattern(int from, int to, size_t i)
{
  return (unsigned char) (i * 131 + (size_t) from * 17 + (size_t) to * 3);
}

/* --- core ----------------------------------------------------------------- */

static int
body_identity(par_mp_group *g, par_comm *c, void *arg)
{
  int n = *(int *) arg;

  REQ(c != NULL);
  REQ(par_comm_size(c) == n);
  REQ(par_comm_rank(c) == par_mp_group_rank(g));
  REQ(strcmp(par_comm_backend(c), "multiprocessing") == 0);
  return 0;
}

START_TEST(test_create_fork_join)
{
  static int sizes[] = {1, 2, 3, 5};
  int n = sizes[_i];

  run_group(n, 0, body_identity, &n);
}
END_TEST

static int
body_pairs(par_mp_group *g, par_comm *c, void *arg)
{
  size_t ring = *(size_t *) arg;
  size_t lens[] = {0, 1, ring, 10 * ring, ring - 24, 3};
  int n = par_comm_size(c), me = par_comm_rank(c);
  unsigned char *buf = malloc(10 * ring + 1);

  REQ(buf != NULL);
  for (int from = 0; from < n; from++) {
    for (int to = 0; to < n; to++) {
      for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t len = lens[k];

        if (from == to || (me != from && me != to)) {
          continue;
        }
        if (me == from) {
          for (size_t i = 0; i < len; i++) {
            buf[i] = pattern(from, to, i + k);
          }
          REQ_OK(c, par_comm_send(c, to, buf, len));
        } else {
          par_msg msg = PAR_MSG_INIT;
          size_t bad = 0;

          REQ_OK(c, par_comm_recv(c, from, &msg));
          REQ(msg.len == len);
          for (size_t i = 0; i < len; i++) {
            bad += ((const unsigned char *) msg.data)[i]
                   != pattern(from, to, i + k);
          }
          par_msg_release(&msg);
          REQ(bad == 0);
        }
      }
    }
  }
  free(buf);
  return 0;
}

/* Every worker sends its rank three times; main takes them from whoever
 * is ready, and each sender's messages must come in order. */
static int
body_recv_any(par_mp_group *g, par_comm *c, void *arg)
{
  int n = par_comm_size(c), me = par_comm_rank(c);
  int source = -1;
  par_msg msg = PAR_MSG_INIT;

  if (me != 0) {
    for (int k = 0; k < 3; k++) {
      int value[2] = {me, k};

      REQ_OK(c, par_comm_send(c, 0, value, sizeof value));
    }
    return 0;
  }
  {
    int next[16] = {0};

    for (int i = 0; i < 3 * (n - 1); i++) {
      int value[2];

      REQ_OK(c, par_comm_recv_any(c, 1, &source, &msg));
      REQ(msg.len == sizeof value);
      memcpy(value, msg.data, sizeof value);
      par_msg_release(&msg);
      REQ(value[0] == source);
      REQ(value[1] == next[source]);
      next[source]++;
    }
  }
  /* Nothing is left: a look that does not wait says so at once. */
  REQ(par_comm_recv_any(c, 0, &source, &msg) == PAR_ENOENT);
  return 0;
}

START_TEST(test_recv_any)
{
  static int sizes[] = {2, 3, 5};

  run_group(sizes[_i], SMALL_RING, body_recv_any, NULL);
}
END_TEST

START_TEST(test_send_recv_pairs)
{
  static int sizes[] = {2, 3, 5};
  size_t ring = SMALL_RING;

  run_group(sizes[_i], ring, body_pairs, &ring);
}
END_TEST

/* Many frames of odd sizes in a row, so that headers and payloads wrap
 * around the ring at every offset and the sender runs ahead. */
static int
body_stream(par_mp_group *g, par_comm *c, void *arg)
{
  unsigned char buf[3000];

  if (par_comm_rank(c) == 0) {
    for (int k = 0; k < 2000; k++) {
      size_t len = (size_t) (k * 37) % sizeof buf;

      for (size_t i = 0; i < len; i++) {
        buf[i] = pattern(k, 0, i);
      }
      REQ_OK(c, par_comm_send(c, 1, buf, len));
    }
  } else if (par_comm_rank(c) == 1) {
    for (int k = 0; k < 2000; k++) {
      size_t len = (size_t) (k * 37) % sizeof buf;
      par_msg msg = PAR_MSG_INIT;
      size_t bad = 0;

      REQ_OK(c, par_comm_recv(c, 0, &msg));
      REQ(msg.len == len);
      for (size_t i = 0; i < len; i++) {
        bad += ((const unsigned char *) msg.data)[i] != pattern(k, 0, i);
      }
      par_msg_release(&msg);
      REQ(bad == 0);
    }
  }
  return 0;
}

START_TEST(test_stream_wraps)
{
  run_group(2, SMALL_RING, body_stream, NULL);
}
END_TEST

/* Every ring's counters start 64 KiB below the wrap of 32 bits: frames of
 * odd sizes, in every direction and broadcast from every root, carry well
 * over that through each ring, so that they cross the wrap at odd offsets
 * (and the ring invariants are asserted on the way). */
static int
body_counters_wrap(par_mp_group *g, par_comm *c, void *arg)
{
  enum { FRAMES = 40, MAX = 5000 };
  int n = par_comm_size(c), me = par_comm_rank(c);
  unsigned char *buf = malloc(MAX);
  par_msg msg = PAR_MSG_INIT;

  REQ(buf != NULL);
  /* One pair at a time, so that a frame larger than the ring never waits
   * on a receiver that is sending too. */
  for (int k = 0; k < FRAMES; k++) {
    size_t len = (size_t) (k * 997 + 1234) % MAX;

    for (int from = 0; from < n; from++) {
      for (int to = 0; to < n; to++) {
        size_t bad = 0;

        if (from == to || (me != from && me != to)) {
          continue;
        }
        if (me == from) {
          for (size_t i = 0; i < len; i++) {
            buf[i] = pattern(from, to, i + (size_t) k);
          }
          REQ_OK(c, par_comm_send(c, to, buf, len));
          continue;
        }
        REQ_OK(c, par_comm_recv(c, from, &msg));
        REQ(msg.len == len);
        for (size_t i = 0; i < len; i++) {
          bad += ((const unsigned char *) msg.data)[i]
                 != pattern(from, to, i + (size_t) k);
        }
        par_msg_release(&msg);
        REQ(bad == 0);
      }
    }
  }
  for (int k = 0; k < 2 * FRAMES; k++) {
    size_t len = (size_t) (k * 1237 + 99) % MAX, bad = 0;
    int root = k % n;

    for (size_t i = 0; i < len; i++) {
      buf[i] = me == root ? pattern(root, k, i) : 0;
    }
    REQ_OK(c, par_comm_bcast_bytes(c, root, buf, len, &msg));
    REQ(msg.len == len);
    for (size_t i = 0; i < len; i++) {
      bad += ((const unsigned char *) msg.data)[i] != pattern(root, k, i);
    }
    par_msg_release(&msg);
    REQ(bad == 0);
  }
  free(buf);
  return 0;
}

START_TEST(test_counters_wrap)
{
  static int sizes[] = {2, 3};

  run_group(sizes[_i], SMALL_RING, body_counters_wrap, NULL);
}
END_TEST

/* Each process writes its iteration into shared memory before the barrier;
 * after it, every other process must have reached that iteration. */
static int
body_barrier(par_mp_group *g, par_comm *c, void *arg)
{
  _Atomic int *marks = arg;
  int n = par_comm_size(c), me = par_comm_rank(c);

  for (int it = 1; it <= 2000; it++) {
    atomic_store(&marks[me], it);
    REQ_OK(c, par_comm_barrier(c));
    for (int q = 0; q < n; q++) {
      REQ(atomic_load(&marks[q]) >= it);
    }
    REQ_OK(c, par_comm_barrier(c));
  }
  return 0;
}

START_TEST(test_barrier_loops)
{
  static int sizes[] = {2, 3, 5};
  _Atomic int *marks = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);

  ck_assert_ptr_ne(marks, MAP_FAILED);
  run_group(sizes[_i], 0, body_barrier, (void *) marks);
  munmap((void *) marks, 4096);
}
END_TEST

static int
body_collectives(par_mp_group *g, par_comm *c, void *arg)
{
  int n = par_comm_size(c), me = par_comm_rank(c);
  size_t counts[8], total = 0;
  char text[64];

  /* Broadcast of bytes from every root, one larger than a ring. */
  for (int root = 0; root < n; root++) {
    size_t len = 10 * SMALL_RING + (size_t) root;
    unsigned char *src = malloc(len);
    par_msg msg = PAR_MSG_INIT;
    size_t bad = 0;

    REQ(src != NULL);
    for (size_t i = 0; i < len; i++) {
      src[i] = me == root ? pattern(root, 9, i) : 0;
    }
    REQ_OK(c, par_comm_bcast_bytes(c, root, src, len, &msg));
    REQ(msg.len == len);
    for (size_t i = 0; i < len; i++) {
      bad += ((const unsigned char *) msg.data)[i] != pattern(root, 9, i);
    }
    par_msg_release(&msg);
    free(src);
    REQ(bad == 0);
  }

  /* Scatter of bytes: rank I gets I + 1 bytes, all equal to I. */
  {
    char all[64];
    par_msg msg = PAR_MSG_INIT;
    size_t off = 0;

    for (int r = 0; r < n; r++) {
      counts[r] = (size_t) r + 1;
      memset(all + off, 'a' + r, counts[r]);
      off += counts[r];
    }
    REQ_OK(c, par_comm_scatterv_bytes(c, 0, me == 0 ? all : NULL,
                                      me == 0 ? counts : NULL, &msg));
    REQ(msg.len == (size_t) me + 1);
    for (size_t i = 0; i < msg.len; i++) {
      REQ(((const char *) msg.data)[i] == 'a' + me);
    }
    par_msg_release(&msg);
  }

  /* Gather and allgather of bytes: "rank N" from each. */
  snprintf(text, sizeof text, "rank %d", me);
  for (int all = 0; all < 2; all++) {
    par_msg msg = PAR_MSG_INIT;
    size_t got[8], off = 0;

    if (all) {
      REQ_OK(c, par_comm_allgatherv_bytes(c, text, strlen(text), &msg, got));
    } else {
      REQ_OK(c, par_comm_gatherv_bytes(c, n - 1, text, strlen(text), &msg,
                                       got));
    }
    if (all || me == n - 1) {
      for (int r = 0; r < n; r++) {
        char want[64];

        snprintf(want, sizeof want, "rank %d", r);
        REQ(got[r] == strlen(want));
        REQ(memcmp((const char *) msg.data + off, want, got[r]) == 0);
        off += got[r];
      }
      REQ(msg.len == off);
    } else {
      REQ(msg.len == 0);
    }
    par_msg_release(&msg);
  }

  /* Typed broadcast of doubles. */
  {
    double v[1000];

    for (int i = 0; i < 1000; i++) {
      v[i] = me == 1 % n ? i * 0.5 : -1;
    }
    REQ_OK(c, par_comm_bcast(c, 1 % n, v, 1000, PAR_F64));
    for (int i = 0; i < 1000; i++) {
      REQ(v[i] == i * 0.5);
    }
  }

  /* Typed scatterv, then gatherv and allgatherv back: 10 + R elements
   * each. */
  {
    int32_t all[200], mine[20], back[200];
    size_t off = 0;

    total = 0;
    for (int r = 0; r < n; r++) {
      counts[r] = 10 + (size_t) r;
      total += counts[r];
    }
    for (size_t i = 0; i < total; i++) {
      all[i] = (int32_t) (i * 7);
    }
    REQ_OK(c, par_comm_scatterv(c, 0, all, counts, mine, counts[me],
                                PAR_S32));
    for (int r = 0; r < me; r++) {
      off += counts[r];
    }
    for (size_t i = 0; i < counts[me]; i++) {
      REQ(mine[i] == (int32_t) ((off + i) * 7));
    }
    memset(back, 0, sizeof back);
    REQ_OK(c, par_comm_gatherv(c, 0, mine, counts[me], back, counts,
                               PAR_S32));
    if (me == 0) {
      REQ(memcmp(back, all, total * sizeof *all) == 0);
    }
    memset(back, 0, sizeof back);
    REQ_OK(c, par_comm_allgatherv(c, mine, counts[me], back, counts,
                                  PAR_S32));
    REQ(memcmp(back, all, total * sizeof *all) == 0);
  }

  /* Reductions: sums checked against the closed form. */
  {
    int64_t s[100], rs[100];
    double d[50], rd[50];

    for (int i = 0; i < 100; i++) {
      s[i] = (int64_t) (me + 1) * i;
    }
    for (int i = 0; i < 50; i++) {
      d[i] = (me + 1) * 0.25 * i;
    }
    memset(rs, 0, sizeof rs);
    REQ_OK(c, par_comm_reduce(c, 0, s, rs, 100, PAR_S64, PAR_REDUCE_SUM));
    if (me == 0) {
      for (int i = 0; i < 100; i++) {
        REQ(rs[i] == (int64_t) n * (n + 1) / 2 * i);
      }
    }
    REQ_OK(c, par_comm_allreduce(c, d, rd, 50, PAR_F64, PAR_REDUCE_SUM));
    for (int i = 0; i < 50; i++) {
      REQ(rd[i] == n * (n + 1) / 2 * 0.25 * i);
    }
    REQ_OK(c, par_comm_allreduce(c, s, rs, 100, PAR_S64, PAR_REDUCE_MAX));
    for (int i = 0; i < 100; i++) {
      REQ(rs[i] == (int64_t) n * i);
    }
  }
  REQ_OK(c, par_comm_barrier(c));
  return 0;
}

START_TEST(test_collectives)
{
  static int sizes[] = {1, 2, 3, 5};

  run_group(sizes[_i], SMALL_RING, body_collectives, NULL);
}
END_TEST

/* A group forked several times runs fresh each time. */
START_TEST(test_refork)
{
  par_mp_group *g = make_group(3, SMALL_RING, 20);
  size_t ring = SMALL_RING;

  for (int i = 0; i < 3; i++) {
    run_on(g, body_pairs, &ring);
  }
  par_mp_group_destroy(g);
}
END_TEST

/* --- faults --------------------------------------------------------------- */

/* Fork a group of N; in workers run WORKER(g, rank) (which must not
 * return); return the group in main. */
static par_mp_group *
fork_with(int n, double timeout, void (*worker)(par_mp_group *, int))
{
  par_mp_group *g = make_group(n, SMALL_RING, timeout);
  int rank = -1;

  ck_assert_int_eq(par_mp_group_fork(g, &rank), PAR_OK);
  if (rank != 0) {
    worker(g, rank);
    par_mp_worker_exit(g, 99, "worker returned", 15);
  }
  return g;
}

static void
worker_exit3(par_mp_group *g, int rank)
{
  usleep(100 * 1000);
  _exit(3);
}

START_TEST(test_early_exit)
{
  par_mp_group *g = fork_with(2, 0, worker_exit3);
  par_comm *c = par_mp_group_comm(g);
  par_mp_worker_status st;
  par_msg msg = PAR_MSG_INIT;
  double t0 = now(), dt;
  int rc = par_comm_recv(c, 1, &msg);

  dt = now() - t0;
  ck_assert_msg(rc == PAR_EPEER, "recv -> %s", par_err_name(rc));
  ck_assert_msg(dt < 1.1, "took %g s", dt);
  ck_assert_msg(strstr(par_comm_error_detail(c), "rank 1") != NULL
                    && strstr(par_comm_error_detail(c), "code 3") != NULL,
                "detail: %s", par_comm_error_detail(c));
  ck_assert_int_eq(par_mp_group_join(g, &st, 1), PAR_EPEER);
  ck_assert_int_eq(st.state, PAR_MP_EXITED);
  ck_assert_int_eq(st.code, 3);
  par_mp_group_destroy(g);
}
END_TEST

static void
worker_kill_mid_collective(par_mp_group *g, int rank)
{
  par_comm *c = par_mp_group_comm(g);
  double x[4] = {1, 2, 3, 4}, y[4];
  int rc = PAR_OK;

  for (int it = 0; it < 1000000 && rc == PAR_OK; it++) {
    if (rank == 2 && it == 50) {
      raise(SIGKILL);
    }
    rc = par_comm_allreduce(c, x, y, 4, PAR_F64, PAR_REDUCE_SUM);
  }
  par_mp_worker_exit(g, rc, par_comm_error_detail(c),
                     strlen(par_comm_error_detail(c)));
}

START_TEST(test_kill_mid_collective)
{
  par_mp_group *g = fork_with(3, 0, worker_kill_mid_collective);
  par_comm *c = par_mp_group_comm(g);
  par_mp_worker_status st[2];
  double x[4] = {1, 2, 3, 4}, y[4], t0 = 0, dt;
  int rc = PAR_OK;

  for (int it = 0; it < 1000000 && rc == PAR_OK; it++) {
    t0 = now();
    rc = par_comm_allreduce(c, x, y, 4, PAR_F64, PAR_REDUCE_SUM);
  }
  dt = now() - t0;
  ck_assert_msg(rc == PAR_EPEER || rc == PAR_EABORTED, "allreduce -> %s",
                par_err_name(rc));
  ck_assert_msg(dt < 1.1, "took %g s", dt);
  ck_assert_int_eq(par_mp_group_join(g, st, 2), PAR_EPEER);
  ck_assert_int_eq(st[1].state, PAR_MP_SIGNALED);
  ck_assert_int_eq(st[1].code, SIGKILL);
  ck_assert_int_ne(st[0].state, PAR_MP_OK);
  ck_assert_ptr_nonnull(strstr(par_mp_group_error_detail(g), "signal 9"));
  par_mp_group_destroy(g);
}
END_TEST

static void
worker_report(par_mp_group *g, int rank)
{
  par_mp_worker_exit(g, 7, "boom: something went wrong", 26);
}

START_TEST(test_failure_report)
{
  par_mp_group *g = fork_with(2, 0, worker_report);
  par_comm *c = par_mp_group_comm(g);
  par_mp_worker_status st;
  double t0 = now();
  int rc = par_comm_barrier(c);

  ck_assert_msg(rc == PAR_EPEER, "barrier -> %s", par_err_name(rc));
  ck_assert(now() - t0 < 1.1);
  ck_assert_ptr_nonnull(strstr(par_comm_error_detail(c), "status 7"));
  ck_assert_int_eq(par_mp_group_join(g, &st, 1), PAR_EPEER);
  ck_assert_int_eq(st.state, PAR_MP_FAILED);
  ck_assert_int_eq(st.code, 7);
  ck_assert_uint_eq(st.report_len, 26);
  ck_assert(memcmp(st.report, "boom: something went wrong", 26) == 0);
  par_mp_group_destroy(g);
}
END_TEST

static void
worker_sleep(par_mp_group *g, int rank)
{
  for (;;) {
    pause();
  }
}

START_TEST(test_main_timeout)
{
  par_mp_group *g = fork_with(3, 0.3, worker_sleep);
  par_comm *c = par_mp_group_comm(g);
  par_mp_worker_status st[2];
  par_msg msg = PAR_MSG_INIT;
  double t0 = now(), dt;
  int rc = par_comm_recv(c, 2, &msg);

  dt = now() - t0;
  ck_assert_msg(rc == PAR_ETIMEDOUT, "recv -> %s", par_err_name(rc));
  ck_assert_msg(dt >= 0.29 && dt < 1.0, "took %g s", dt);
  par_mp_group_kill(g);
  ck_assert_int_eq(par_mp_group_join(g, st, 2), PAR_EPEER);
  ck_assert_int_eq(st[0].state, PAR_MP_STOPPED);
  ck_assert_int_eq(st[1].state, PAR_MP_STOPPED);
  par_mp_group_destroy(g);
}
END_TEST

static void
worker_deadlock(par_mp_group *g, int rank)
{
  par_comm *c = par_mp_group_comm(g);
  par_msg msg = PAR_MSG_INIT;
  int rc = par_comm_recv(c, 0, &msg);

  par_mp_worker_exit(g, rc, par_comm_error_detail(c),
                     strlen(par_comm_error_detail(c)));
}

START_TEST(test_deadlock)
{
  par_mp_group *g = fork_with(2, 0, worker_deadlock);
  par_comm *c = par_mp_group_comm(g);
  par_mp_worker_status st;
  par_msg msg = PAR_MSG_INIT;
  double t0 = now();
  int rc = par_comm_recv(c, 1, &msg);

  /* Main looks first, but a worker that finds the deadlock before it
   * fails, and main then sees that failure. */
  ck_assert_msg(rc == PAR_EDEADLOCK || rc == PAR_EPEER, "recv -> %s",
                par_err_name(rc));
  ck_assert(now() - t0 < 1.0);
  ck_assert_msg(strstr(par_comm_error_detail(c),
                       rc == PAR_EPEER ? "failed" : "waits to receive")
                    != NULL,
                "detail: %s", par_comm_error_detail(c));
  ck_assert_int_eq(par_mp_group_join(g, &st, 1), PAR_EPEER);
  par_mp_group_destroy(g);
}
END_TEST

/* A worker waiting on main while main joins is a deadlock too: the
 * worker finds out and fails instead of hanging. */
START_TEST(test_join_deadlock)
{
  par_mp_group *g = fork_with(2, 0, worker_deadlock);
  par_mp_worker_status st;
  double t0 = now();

  ck_assert_int_eq(par_mp_group_join(g, &st, 1), PAR_EPEER);
  ck_assert(now() - t0 < 1.0);
  ck_assert_int_eq(st.state, PAR_MP_FAILED);
  ck_assert_int_eq(st.code, PAR_EDEADLOCK);
  ck_assert_ptr_nonnull(
      memmem(st.report, st.report_len, "waits to receive", 16));
  par_mp_group_destroy(g);
}
END_TEST

static void
worker_die_later(par_mp_group *g, int rank)
{
  usleep(200 * 1000);
  raise(SIGKILL);
}

START_TEST(test_join_signal)
{
  par_mp_group *g = fork_with(3, 0, worker_die_later);
  par_mp_worker_status st[2];
  double t0 = now(), dt;

  ck_assert_int_eq(par_mp_group_join(g, st, 2), PAR_EPEER);
  dt = now() - t0;
  ck_assert_msg(dt < 1.2, "took %g s", dt);
  ck_assert(st[0].state == PAR_MP_SIGNALED || st[1].state
                                                  == PAR_MP_SIGNALED);
  par_mp_group_destroy(g);
}
END_TEST

static int
interrupt_after(void *data)
{
  return --*(int *) data <= 0;
}

START_TEST(test_interrupt)
{
  par_mp_group *g = fork_with(2, 0, worker_sleep);
  par_comm *c = par_mp_group_comm(g);
  par_msg msg = PAR_MSG_INIT;
  int calls = 3;

  par_comm_set_interrupt_check(c, interrupt_after, &calls);
  ck_assert_int_eq(par_comm_recv(c, 1, &msg), PAR_EINTR);
  /* The interrupt came before any byte: the channel is still usable. */
  par_mp_group_destroy(g);
}
END_TEST

static void
worker_abort(par_mp_group *g, int rank)
{
  usleep(50 * 1000);
  par_comm_abort(par_mp_group_comm(g), 5);
}

START_TEST(test_worker_abort)
{
  par_mp_group *g = fork_with(3, 0, worker_abort);
  par_comm *c = par_mp_group_comm(g);
  par_mp_worker_status st[2];
  double t0 = now();
  int rc = par_comm_barrier(c);

  ck_assert_msg(rc == PAR_EABORTED || rc == PAR_EPEER, "barrier -> %s",
                par_err_name(rc));
  ck_assert(now() - t0 < 1.1);
  ck_assert_int_eq(par_mp_group_join(g, st, 2), PAR_EPEER);
  ck_assert(st[0].state == PAR_MP_FAILED || st[1].state == PAR_MP_FAILED);
  par_mp_group_destroy(g);
}
END_TEST

static int
count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  int n = 0;

  ck_assert_ptr_nonnull(d);
  while (readdir(d) != NULL) {
    n++;
  }
  closedir(d);
  return n;
}

static int
body_barrier_once(par_mp_group *g, par_comm *c, void *arg)
{
  REQ_OK(c, par_comm_barrier(c));
  return 0;
}

START_TEST(test_cycles)
{
  int fds = count_fds();

  for (int i = 0; i < 200; i++) {
    run_group(3, SMALL_RING, body_barrier_once, NULL);
    ck_assert_int_eq(count_fds(), fds);
  }
  /* No child is left, not even a zombie. */
  errno = 0;
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(test_destroy_reaps)
{
  par_mp_group *g = fork_with(4, 0, worker_sleep);

  par_mp_group_destroy(g);
  errno = 0;
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
}
END_TEST

/* --- What errors say ------------------------------------------------------ */

static int
op_scatter0(par_comm *c)
{
  size_t counts[2] = {1, 1};
  par_msg msg = PAR_MSG_INIT;
  int rc = par_comm_scatterv_bytes(c, 0, "ab", counts, &msg);

  par_msg_release(&msg);
  return rc;
}

static int
op_gather_to(par_comm *c, int root)
{
  size_t counts[2];
  par_msg msg = PAR_MSG_INIT;
  int rc = par_comm_gatherv_bytes(c, root, "x", 1, &msg, counts);

  par_msg_release(&msg);
  return rc;
}

static int
op_gather0(par_comm *c)
{
  return op_gather_to(c, 0);
}

static int
op_gather1(par_comm *c)
{
  return op_gather_to(c, 1);
}

static int
op_recv_other(par_comm *c)
{
  par_msg msg = PAR_MSG_INIT;
  int rc = par_comm_recv(c, 1 - par_comm_rank(c), &msg);

  par_msg_release(&msg);
  return rc;
}

static int
op_bcast0(par_comm *c)
{
  par_msg msg = PAR_MSG_INIT;
  int rc = par_comm_bcast_bytes(c, 0, "x", 1, &msg);

  par_msg_release(&msg);
  return rc;
}

static int
op_barrier(par_comm *c)
{
  return par_comm_barrier(c);
}

static int
op_bcast_f64(par_comm *c)
{
  double v[4] = {0};

  return par_comm_bcast(c, 0, v, par_comm_rank(c) == 0 ? 3 : 4, PAR_F64);
}

/* Rank 0 (main) does one thing, rank 1 one or two; their error codes and
 * details are the ones expected (a NULL detail is not checked). When a
 * deadlock is involved, whichever rank finds it first fails, and the
 * other may only see that (ALT_RC, detail not checked). */
static const struct scene {
  int (*main_op)(par_comm *c);
  int (*worker_first)(par_comm *c); /* NULL, or done before WORKER_OP */
  int (*worker_op)(par_comm *c);
  int main_rc, worker_rc, alt_rc;
  const char *main_detail, *worker_detail;
} scenes[] = {
    {op_scatter0, NULL, op_gather1, PAR_OK, PAR_EMISMATCH, PAR_OK, "",
     "rank 1 is in gather (collective #1) but rank 0 sent scatter "
     "(collective #1)"},
    {op_gather1, NULL, op_recv_other, PAR_OK, PAR_EMISMATCH, PAR_OK, "",
     "rank 1 is in receive-from rank 0 but rank 0 sent gather "
     "(collective #1)"},
    {op_bcast0, op_gather0, op_bcast0, PAR_OK, PAR_EMISMATCH, PAR_OK, "",
     "rank 1 is in broadcast (collective #2) but rank 0 sent broadcast "
     "(collective #1)"},
    {op_barrier, op_gather0, op_barrier, PAR_EMISMATCH, PAR_EMISMATCH,
     PAR_OK,
     "rank 0 is in barrier (collective #1) but rank 1 is in barrier "
     "(collective #2)",
     "rank 1 is in barrier (collective #2) but rank 0 is in barrier "
     "(collective #1)"},
    {op_bcast_f64, NULL, op_bcast_f64, PAR_OK, PAR_ESIZE, PAR_OK, "",
     "rank 1 is in broadcast (collective #1) expecting 4 f64 elements but "
     "rank 0 sent 3 f64 elements"},
    {op_gather0, NULL, op_scatter0, PAR_EMISMATCH, PAR_OK, PAR_EPEER,
     "rank 0 is in gather (collective #1) and waits to receive from rank 1; "
     "rank 1 is in scatter (collective #1) and waits to receive from rank 0",
     NULL},
    {op_recv_other, NULL, op_recv_other, PAR_EDEADLOCK, PAR_OK, PAR_EPEER,
     "rank 0 is in receive-from and waits to receive from rank 1; rank 1 is "
     "in receive-from and waits to receive from rank 0",
     NULL},
};

static int scene;

static void
worker_scene(par_mp_group *g, int rank)
{
  par_comm *c = par_mp_group_comm(g);
  const struct scene *sc = &scenes[scene];
  int rc = sc->worker_first != NULL ? sc->worker_first(c) : PAR_OK;

  rc = rc != PAR_OK ? rc : sc->worker_op(c);

  par_mp_worker_exit(g, rc, par_comm_error_detail(c),
                     strlen(par_comm_error_detail(c)));
}

START_TEST(test_error_details)
{
  const struct scene *sc = &scenes[_i];
  par_mp_group *g;
  par_comm *c;
  par_mp_worker_status st;
  int rc;

  scene = _i;
  g = fork_with(2, 0, worker_scene);
  c = par_mp_group_comm(g);
  rc = sc->main_op(c);
  ck_assert_msg(rc == sc->main_rc || (sc->alt_rc != PAR_OK
                                      && rc == sc->alt_rc),
                "main -> %s (%s)", par_err_name(rc),
                par_comm_error_detail(c));
  if (rc == sc->main_rc) {
    ck_assert_str_eq(par_comm_error_detail(c), sc->main_detail);
  }
  if (sc->alt_rc != PAR_OK) {
    par_mp_group_kill(g);
  }
  ck_assert_int_eq(par_mp_group_join(g, &st, 1), PAR_EPEER);
  if (sc->worker_detail != NULL) {
    ck_assert_int_eq(st.state, PAR_MP_FAILED);
    ck_assert_int_eq(st.code, sc->worker_rc);
    ck_assert_msg(st.report_len == strlen(sc->worker_detail)
                      && memcmp(st.report, sc->worker_detail,
                                st.report_len) == 0,
                  "worker: %.*s", (int) st.report_len,
                  (const char *) st.report);
  }
  par_mp_group_destroy(g);
}
END_TEST

/* After the counters have wrapped, a message left in a ring is still
 * found, and named as every error names it. */
static void
worker_send_many(par_mp_group *g, int rank)
{
  par_comm *c = par_mp_group_comm(g);
  char buf[3000] = {0};
  int rc = PAR_OK;

  for (int k = 0; k < 31 && rc == PAR_OK; k++) {
    rc = par_comm_send(c, 0, buf, sizeof buf);
  }
  par_mp_worker_exit(g, rc, NULL, 0);
}

START_TEST(test_unreceived_after_wrap)
{
  par_mp_group *g = fork_with(2, 0, worker_send_many);
  par_comm *c = par_mp_group_comm(g);
  par_msg msg = PAR_MSG_INIT;
  char text[256];

  for (int k = 0; k < 30; k++) {
    ck_assert_int_eq(par_comm_recv(c, 1, &msg), PAR_OK);
    par_msg_release(&msg);
  }
  ck_assert_int_eq(par_mp_group_join(g, NULL, 0), PAR_OK);
  ck_assert_int_eq(par_mp_group_unreceived(g, text, sizeof text), 1);
  ck_assert_str_eq(text, "rank 1 sent a message (send-to #31) to rank 0, "
                         "which never received it");
  par_mp_group_destroy(g);
}
END_TEST

/* Calls that cannot be made say why. */
START_TEST(test_group_misuse)
{
  par_mp_group *g = fork_with(2, 0, worker_sleep);
  par_mp_worker_status st;
  int rank;
  char text[64];

  ck_assert_int_eq(par_mp_group_fork(g, &rank), PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(par_mp_group_error_detail(g),
                               "still run"));
  ck_assert_int_eq(par_mp_group_unreceived(g, text, 0), PAR_EINVAL);
  ck_assert_str_ne(par_mp_group_error_detail(g), "");
  par_mp_group_kill(g);
  ck_assert_int_eq(par_mp_group_join(g, &st, 1), PAR_EPEER);
  par_mp_group_destroy(g);
}
END_TEST

/* A segment: its receivers read what was sent and write only their own
 * copy; it is reused only once nobody maps it, and closed by abandon and
 * release_all. */
START_TEST(test_segment)
{
  size_t len = PAR__SEG_MIN_BYTES + 24, mark;
  unsigned char *src = malloc(len), *a, *b, *c;
  par__seg_id id, id2, id3, bad;

  for (size_t i = 0; i < len; i++) {
    src[i] = (unsigned char) (i % 253);
  }
  ck_assert_uint_eq(par__seg_pending(), 0);
  mark = par__seg_mark();
  ck_assert_int_eq(par__seg_create(src, len, &id), PAR_OK);
  ck_assert_uint_eq(id.len, len);
  par__seg_commit(mark, 2);
  ck_assert_uint_eq(par__seg_pending(), 1);
  ck_assert_int_eq(par__seg_map(&id, (void **) &a), PAR_OK);
  ck_assert_int_eq(memcmp(a, src, len), 0);
  ck_assert(!par__seg_drained());
  a[0] ^= 0xff;
  ck_assert_int_eq(par__seg_map(&id, (void **) &b), PAR_OK);
  ck_assert_int_eq(memcmp(b, src, len), 0);
  ck_assert(par__seg_drained());
  ck_assert_int_eq(a[0], src[0] ^ 0xff);

  /* Mapped: not reused. */
  src[1] ^= 0xff;
  mark = par__seg_mark();
  ck_assert_int_eq(par__seg_create(src, len, &id2), PAR_OK);
  par__seg_commit(mark, 1);
  ck_assert_uint_ne(id2.ino, id.ino);
  ck_assert_int_eq(b[1], src[1] ^ 0xff);

  /* Unmapped: reused, and the old message is gone. */
  par__seg_unmap(a);
  par__seg_unmap(b);
  src[2] ^= 0xff;
  mark = par__seg_mark();
  ck_assert_int_eq(par__seg_create(src, len, &id3), PAR_OK);
  par__seg_commit(mark, 1);
  ck_assert_uint_eq(id3.ino, id.ino);
  ck_assert_uint_eq(id3.gen, id.gen + 1);
  ck_assert_int_eq(par__seg_map(&id, (void **) &c), PAR_EMALFORMED);
  ck_assert_int_eq(par__seg_map(&id3, (void **) &c), PAR_OK);
  ck_assert_int_eq(memcmp(c, src, len), 0);
  par__seg_unmap(c);

  /* A segment that was not sent is closed by abandon; a wrong identity is
   * refused. */
  mark = par__seg_mark();
  ck_assert_int_eq(par__seg_create(src, len / 2 - 1, &id), PAR_OK);
  bad = id;
  bad.ino++;
  ck_assert_int_eq(par__seg_map(&bad, (void **) &a), PAR_EMALFORMED);
  bad = id;
  bad.len--;
  ck_assert_int_eq(par__seg_map(&bad, (void **) &a), PAR_EMALFORMED);
  par__seg_abandon(mark);
  ck_assert_int_eq(par__seg_map(&id, (void **) &a), PAR_ENOENT);

  /* release_all closes everything, opened or not. */
  ck_assert_uint_eq(par__seg_pending(), 2);
  par__seg_release_all();
  ck_assert_uint_eq(par__seg_pending(), 0);
  ck_assert_int_eq(par__seg_map(&id2, (void **) &a), PAR_ENOENT);
  free(src);
}
END_TEST

static Suite *
mp_suite(void)
{
  Suite *s = suite_create("mp");
  TCase *core = tcase_create("core");
  TCase *faults = tcase_create("faults");

  tcase_set_timeout(core, 60);
  tcase_add_loop_test(core, test_create_fork_join, 0, 4);
  tcase_add_loop_test(core, test_send_recv_pairs, 0, 3);
  tcase_add_loop_test(core, test_recv_any, 0, 3);
  tcase_add_test(core, test_stream_wraps);
  tcase_add_loop_test(core, test_counters_wrap, 0, 2);
  tcase_add_loop_test(core, test_barrier_loops, 0, 3);
  tcase_add_loop_test(core, test_collectives, 0, 4);
  tcase_add_test(core, test_refork);
  tcase_add_test(core, test_segment);
  suite_add_tcase(s, core);

  tcase_set_timeout(faults, 30);
  tcase_add_test(faults, test_early_exit);
  tcase_add_test(faults, test_kill_mid_collective);
  tcase_add_test(faults, test_failure_report);
  tcase_add_test(faults, test_main_timeout);
  tcase_add_test(faults, test_deadlock);
  tcase_add_test(faults, test_join_deadlock);
  tcase_add_test(faults, test_join_signal);
  tcase_add_test(faults, test_interrupt);
  tcase_add_test(faults, test_worker_abort);
  tcase_add_test(faults, test_cycles);
  tcase_add_test(faults, test_destroy_reaps);
  tcase_add_loop_test(faults, test_error_details, 0,
                      (int) (sizeof scenes / sizeof scenes[0]));
  tcase_add_test(faults, test_unreceived_after_wrap);
  tcase_add_test(faults, test_group_misuse);
  suite_add_tcase(s, faults);
  return s;
}

int
main(void)
{
  SRunner *sr = srunner_create(mp_suite());
  int failed;

  /* Check's default fork mode is what makes tcase_set_timeout a hard
   * limit. CK_FORK=no (for valgrind) works as well: the workers of each
   * test never return into the runner (see run_on). */
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
