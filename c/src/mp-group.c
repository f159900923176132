/* mp-group.c — forked groups: shared memory, fork, reports, join, kill.
 *
 * The main process maps everything before the fork and allocates every
 * structure a worker needs, so a worker never allocates while it starts.
 * Main is the only process that reaps workers (waitpid); elsewhere it only
 * peeks at them with WNOWAIT, so that join always sees every exit status.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>

#include "mp-internal.h"
#include "mp-segment.h"

#define DEFAULT_RING_BYTES ((size_t) 256 * 1024)
#define DEFAULT_REPORT_BYTES ((size_t) 1024 * 1024)
#define MAX_RING_BYTES ((size_t) 1 << 28)
#define MAX_NPROCS 1024

/* The broadcast ring is this many channels large: it carries more data
 * than any single channel, and there is only one. */
#define BCAST_RINGS 4

/* How long join sleeps between checks of the workers. A worker killed by
 * a signal cannot wake it, so this bounds how late join notices. */
#define JOIN_SLICE 0.02

/* --- Futexes -------------------------------------------------------------- */

int
par__mp_futex_wait(_Atomic uint32_t *word, uint32_t expected, double seconds)
{
  struct timespec ts;

  ts.tv_sec = (time_t) seconds;
  ts.tv_nsec = (long) ((seconds - (double) ts.tv_sec) * 1e9);
  /* Not FUTEX_PRIVATE_FLAG: the word is shared between processes. */
  return (int) syscall(SYS_futex, (uint32_t *) word, FUTEX_WAIT, expected,
                       &ts, NULL, 0);
}

void
par__mp_futex_wake(_Atomic uint32_t *word, int count)
{
  syscall(SYS_futex, (uint32_t *) word, FUTEX_WAKE, count, NULL, NULL, 0);
}

void
par__mp_wake_all(par_mp_group *g)
{
  int n = g->nprocs;

  par__mp_futex_wake(&g->ctl->bar_gen, INT_MAX);
  par__mp_futex_wake(&g->ctl->exits, INT_MAX);
  par__mp_futex_wake(&g->ctl->bc.tail, INT_MAX);
  par__mp_futex_wake(&g->ctl->bc.progress, INT_MAX);
  par__mp_futex_wake(&g->ctl->bc.writer, INT_MAX);
  for (int s = 0; s < n; s++) {
    for (int d = 0; d < n; d++) {
      mp_ring *r = par__mp_ring(g, s, d);

      if (s == d) {
        continue;
      }
      if (atomic_load(&r->cons_sleeping) != 0) {
        par__mp_futex_wake(&r->tail, INT_MAX);
      }
      if (atomic_load(&r->prod_sleeping) != 0) {
        par__mp_futex_wake(&r->head, INT_MAX);
      }
    }
  }
}

void
par__mp_abort_group(par_mp_group *g, int rank, int code, const char *fmt,
                    ...)
{
  uint32_t expected = 0;

  if (atomic_compare_exchange_strong(&g->ctl->aborted, &expected, 1)) {
    va_list ap;

    g->ctl->abort_rank = rank;
    g->ctl->abort_code = code;
    va_start(ap, fmt);
    vsnprintf(g->ctl->abort_detail, sizeof g->ctl->abort_detail, fmt, ap);
    va_end(ap);
    atomic_store(&g->ctl->aborted, 2);
  }
  par__mp_wake_all(g);
}

/* --- Describing how a process ended --------------------------------------- */

void
par__mp_describe_end(par_mp_group *g, int rank, int known, int signo,
                     int code, char *buf, size_t size)
{
  mp_proc *p = &g->ctl->procs[rank];
  int pid = (int) atomic_load(&p->pid);

  if (atomic_load_explicit(&p->exit_state, memory_order_acquire)
      == MP_REPORTED) {
    if (p->report_status == 0) {
      snprintf(buf, size, "rank %d (pid %d) finished and exited", rank, pid);
    } else {
      snprintf(buf, size, "rank %d (pid %d) failed with status %d", rank,
               pid, (int) p->report_status);
    }
  } else if (known && signo != 0) {
    snprintf(buf, size, "rank %d (pid %d) was killed by signal %d (%s)",
             rank, pid, signo, sigdescr_np(signo));
  } else if (known) {
    snprintf(buf, size, "rank %d (pid %d) exited with code %d without "
             "reporting", rank, pid, code);
  } else {
    snprintf(buf, size, "rank %d (pid %d) died", rank, pid);
  }
}

int
par__mp_peek_child(par_mp_group *g, int rank, int *signo, int *code)
{
  mp_child *c = &g->children[rank];
  siginfo_t si;

  *signo = 0;
  *code = 0;
  if (c->reaped) {
    if (WIFSIGNALED(c->wstatus)) {
      *signo = WTERMSIG(c->wstatus);
    } else {
      *code = WEXITSTATUS(c->wstatus);
    }
    return 1;
  }
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t) c->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
    /* ECHILD: someone else reaped it (SIGCHLD ignored, say). It is gone,
     * and how it ended cannot be known. */
    *code = -1;
    return errno == ECHILD;
  }
  if (si.si_pid == 0) {
    return 0;
  }
  if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
    *signo = si.si_status;
  } else {
    *code = si.si_status;
  }
  return 1;
}

/* --- Creation ------------------------------------------------------------- */

static size_t
round_up(size_t n, size_t to)
{
  return (n + to - 1) / to * to;
}

/* Empty every channel and the control block, for a (new) fork. */
static void
reset_shared(par_mp_group *g)
{
  size_t procs = (size_t) g->nprocs * sizeof(mp_proc);

  memset(g->ctl, 0, sizeof *g->ctl + procs);
  g->ctl->nprocs = (uint32_t) g->nprocs;
  g->ctl->ring_bytes = (uint32_t) g->ring_bytes;
  g->ctl->report_bytes = g->report_bytes;
  memset(g->rings, 0, (size_t) g->nprocs * g->nprocs * sizeof(mp_ring));
  for (size_t i = 0; i < (size_t) g->nprocs * g->nprocs; i++) {
    atomic_store(&g->rings[i].tail, MP_RING_ORIGIN);
    atomic_store(&g->rings[i].head, MP_RING_ORIGIN);
  }
  atomic_store(&g->ctl->bc.tail, MP_RING_ORIGIN);
  for (int q = 0; q < g->nprocs; q++) {
    atomic_store(&g->ctl->procs[q].bc_head, MP_RING_ORIGIN);
  }
}

/* Fill *O with OPTS (NULL: all defaults), zero fields replaced by their
 * defaults, and the ring rounded up to a power of two of at least a PAGE,
 * so that positions wrap with a mask and every ring starts page-aligned.
 * PAR_EINVAL for options out of range. */
static int
settle_options(const par_mp_options *opts, size_t page, par_mp_options *o)
{
  size_t r = page;

  memset(o, 0, sizeof *o);
  if (opts != NULL) {
    *o = *opts;
  }
  if (o->nprocs == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    o->nprocs = n > 0 ? (int) n : 1;
  }
  o->ring_bytes = o->ring_bytes != 0 ? o->ring_bytes : DEFAULT_RING_BYTES;
  o->report_bytes =
      o->report_bytes != 0 ? o->report_bytes : DEFAULT_REPORT_BYTES;
  if (o->nprocs < 1 || o->nprocs > MAX_NPROCS || o->timeout < 0
      || o->ring_bytes > MAX_RING_BYTES || o->report_bytes > MAX_RING_BYTES) {
    return PAR_EINVAL;
  }
  while (r < o->ring_bytes) {
    r *= 2;
  }
  o->ring_bytes = r;
  o->report_bytes = round_up(o->report_bytes, 64);
  return PAR_OK;
}

int
par_mp_group_create(const par_mp_options *opts, par_mp_group **out)
{
  par_mp_options o;
  size_t page = (size_t) sysconf(_SC_PAGESIZE);
  size_t ctl_len, rings_len, data_len, reports_len, pairs;
  par_mp_group *g;
  int rc;

  if (out == NULL || settle_options(opts, page, &o) != PAR_OK) {
    return PAR_EINVAL;
  }
  g = calloc(1, sizeof *g);
  if (g == NULL) {
    return PAR_ENOMEM;
  }
  g->nprocs = o.nprocs;
  g->timeout = o.timeout;
  g->ring_bytes = o.ring_bytes;
  g->report_bytes = o.report_bytes;
  g->fork_fn = o.fork;
  g->fork_data = o.fork_data;
  g->main_pid = getpid();
  g->children = calloc((size_t) o.nprocs, sizeof *g->children);
  if (g->children == NULL) {
    rc = PAR_ENOMEM;
    goto fail_group;
  }

  pairs = (size_t) o.nprocs * (size_t) o.nprocs;
  ctl_len = round_up(sizeof(mp_ctl) + (size_t) o.nprocs * sizeof(mp_proc),
                     page);
  rings_len = round_up(pairs * sizeof(mp_ring), page);
  data_len = pairs * o.ring_bytes;
  reports_len = round_up((size_t) o.nprocs * o.report_bytes, page);
  g->bcast_bytes = o.ring_bytes * BCAST_RINGS;
  g->map_len = ctl_len + rings_len + data_len + reports_len + g->bcast_bytes;
  /* MAP_NORESERVE: the channels are mostly address space; only the pages
   * that messages touch ever take memory. */
  g->base = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (g->base == MAP_FAILED) {
    g->base = NULL;
    rc = errno == ENOMEM ? PAR_ENOMEM : PAR_ESYS;
    goto fail_children;
  }
  g->ctl = g->base;
  g->rings = (mp_ring *) ((char *) g->base + ctl_len);
  g->data = (unsigned char *) g->base + ctl_len + rings_len;
  g->reports = g->data + data_len;
  g->bdata = g->reports + reports_len;
  reset_shared(g);
  *out = g;
  return PAR_OK;

fail_children:
  free(g->children);
fail_group:
  free(g);
  return rc;
}

int
par_mp_group_rank(const par_mp_group *g)
{
  return g->rank;
}

int
par_mp_group_size(const par_mp_group *g)
{
  return g->nprocs;
}

par_comm *
par_mp_group_comm(par_mp_group *g)
{
  return g->comm;
}

const char *
par_mp_group_error_detail(const par_mp_group *g)
{
  return g->detail;
}

void
par__mp_group_forget_comm(par_mp_group *g, par_comm *comm)
{
  if (g->comm == comm) {
    g->comm = NULL;
  }
}

const char *
par_mp_state_name(int state)
{
  switch (state) {
  case PAR_MP_OK:
    return "ok";
  case PAR_MP_FAILED:
    return "failed";
  case PAR_MP_EXITED:
    return "exited";
  case PAR_MP_SIGNALED:
    return "signaled";
  case PAR_MP_STOPPED:
    return "stopped";
  default:
    return "unknown";
  }
}

/* --- Fork ----------------------------------------------------------------- */

static void
reap_blocking(mp_child *c)
{
  pid_t r;

  do {
    r = waitpid(c->pid, &c->wstatus, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    /* ECHILD: reaped behind our back; nothing is left to wait for. */
    c->wstatus = 0;
  }
  c->reaped = 1;
}

static int
live_workers(par_mp_group *g)
{
  int live = 0;

  for (int i = 1; i < g->nprocs; i++) {
    live += g->children[i].pid > 0 && !g->children[i].reaped;
  }
  return live;
}

int
par__mp_group_fail(par_mp_group *g, int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(g->detail, sizeof g->detail, fmt, ap);
  va_end(ap);
  return code;
}

int
par__mp_group_check(par_mp_group *g, int any_time, const char *what)
{
  if (g == NULL) {
    return PAR_EINVAL;
  }
  if (g->rank != 0 || getpid() != g->main_pid) {
    return par__mp_group_fail(g, PAR_EINVAL,
                              "only the main process of the group may %s",
                              what);
  }
  if (!any_time && live_workers(g) > 0) {
    return par__mp_group_fail(g, PAR_EINVAL,
                              "cannot %s while workers of the last fork "
                              "still run (join or kill them first)",
                              what);
  }
  return PAR_OK;
}

/* Kill and reap every worker of the current fork that is still running. */
static void
stop_workers(par_mp_group *g)
{
  for (int i = 1; i < g->nprocs; i++) {
    mp_child *c = &g->children[i];

    /* One that has already ended keeps its own exit status. */
    if (c->pid > 0 && !c->reaped
        && waitpid(c->pid, &c->wstatus, WNOHANG) == 0) {
      kill(c->pid, SIGKILL);
      c->stopped = 1;
    } else if (c->pid > 0) {
      c->reaped = 1;
    }
  }
  for (int i = 1; i < g->nprocs; i++) {
    mp_child *c = &g->children[i];

    if (c->pid > 0 && !c->reaped) {
      reap_blocking(c);
    }
  }
}

/* The start of a worker's life, right after fork. */
static void
become_worker(par_mp_group *g, int rank)
{
  g->rank = rank;
  /* Die with main. The parent may have died before prctl took effect, in
   * which case nobody would ever send the signal: check after setting. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != g->main_pid) {
    _exit(127);
  }
  /* Ctrl-C reaches the whole foreground process group; main handles it
   * and stops the workers, which must not die half-way on their own. */
  signal(SIGINT, SIG_IGN);
  atomic_store(&g->ctl->procs[rank].pid, (int32_t) getpid());
  par__mp_comm_adopt(g->comm, rank);
}

int
par_mp_group_fork(par_mp_group *g, int *rank)
{
  par_comm *comm;
  int rc;

  rc = par__mp_group_check(g, 0, "fork the group");
  if (rc == PAR_OK && rank == NULL) {
    rc = par__mp_group_fail(g, PAR_EINVAL,
                            "nowhere to write the rank of a fork");
  }
  if (rc != PAR_OK) {
    return rc;
  }
  /* A fresh communicator each time: sequence numbers start again. */
  if (g->comm != NULL) {
    comm = g->comm;
    g->comm = NULL;
    par_comm_destroy(comm);
  }
  reset_shared(g);
  memset(g->children, 0, (size_t) g->nprocs * sizeof *g->children);
  g->detail[0] = '\0';
  rc = par__mp_comm_create(g, &g->comm);
  if (rc != PAR_OK) {
    return par__mp_group_fail(g, rc, "no memory for the communicator of a "
                              "group of %d processes", g->nprocs);
  }
  atomic_store(&g->ctl->procs[0].pid, (int32_t) g->main_pid);
  g->forked = 1;

  fflush(NULL);
  for (int i = 1; i < g->nprocs; i++) {
    pid_t pid = g->fork_fn != NULL ? g->fork_fn(g->fork_data) : fork();

    if (pid == 0) {
      become_worker(g, i);
      *rank = i;
      return PAR_OK;
    }
    if (pid < 0) {
      int err = errno;

      par__mp_group_fail(g, PAR_EFORK, "cannot fork worker %d: %s", i,
                         strerror(err));
      par__mp_abort_group(g, 0, PAR_EFORK, "%s", g->detail);
      stop_workers(g);
      comm = g->comm;
      g->comm = NULL;
      par_comm_destroy(comm);
      return PAR_EFORK;
    }
    g->children[i].pid = pid;
    atomic_store(&g->ctl->procs[i].pid, (int32_t) pid);
  }
  *rank = 0;
  return PAR_OK;
}

/* --- Worker exit --------------------------------------------------------- */

/* Whether every other process of G has ended its job (main joins, the
 * workers have reported) or the group is aborted: then none of them will
 * open a segment any more. */
static int
others_done(par_mp_group *g)
{
  if (atomic_load(&g->ctl->aborted) != 0) {
    return 1;
  }
  if (!atomic_load(&g->ctl->main_joined)) {
    return 0;
  }
  for (int r = 1; r < g->nprocs; r++) {
    if (r != g->rank
        && atomic_load_explicit(&g->ctl->procs[r].exit_state,
                                memory_order_acquire) != MP_REPORTED) {
      return 0;
    }
  }
  return 1;
}

/* A worker's segments (mp-segment.h) live while it keeps their
 * descriptors, and a receiver may not have opened one yet when the
 * sender's job ends (a gather is often the last thing a job does): wait
 * until each has been opened, or until no process that could still open
 * it runs its job. Receivers open a segment as soon as they take its
 * message, so the wait is short; the sleeps grow, since a receiver may
 * also be computing before it receives. */
static void
wait_for_segments(par_mp_group *g)
{
  struct timespec pause = {0, 20 * 1000};

  while (!par__seg_drained() && !others_done(g)) {
    nanosleep(&pause, NULL);
    if (pause.tv_nsec < 10 * 1000 * 1000) {
      pause.tv_nsec *= 2;
    }
  }
}

void
par_mp_worker_exit(par_mp_group *g, int status, const void *report,
                   size_t len)
{
  mp_proc *p;
  int code;

  if (g->rank == 0) {
    abort();
  }
  p = &g->ctl->procs[g->rank];
  /* Output first: once the report is delivered, main may kill us at any
   * moment. */
  fflush(NULL);
  if (len > g->report_bytes) {
    len = g->report_bytes;
    p->report_truncated = 1;
  }
  if (len > 0 && report != NULL) {
    memcpy(g->reports + (size_t) g->rank * g->report_bytes, report, len);
  } else {
    len = 0;
  }
  p->report_len = len;
  p->report_status = status;
  atomic_store(&p->wait_kind, MP_WAIT_NONE);
  atomic_store_explicit(&p->exit_state, MP_REPORTED, memory_order_release);
  atomic_fetch_add(&g->ctl->epoch, 1);
  atomic_fetch_add(&g->ctl->exits, 1);
  /* Peers waiting on us notice at their next check; waking them makes it
   * now. */
  par__mp_wake_all(g);
  wait_for_segments(g);
  code = status == 0 ? 0 : (status & 0xff) != 0 ? status & 0xff : 1;
  _exit(code);
}

/* --- Join and kill -------------------------------------------------------- */

/* Worker RANK's fate, from its report if it delivered one, else from how
 * it was reaped (or PAR_MP_STOPPED if it was not). */
static void
fill_status(par_mp_group *g, int rank, par_mp_worker_status *st)
{
  mp_child *c = &g->children[rank];
  mp_proc *p = &g->ctl->procs[rank];

  memset(st, 0, sizeof *st);
  st->rank = rank;
  st->pid = c->pid;
  if (atomic_load_explicit(&p->exit_state, memory_order_acquire)
      == MP_REPORTED) {
    st->code = p->report_status;
    st->state = p->report_status == 0 ? PAR_MP_OK : PAR_MP_FAILED;
    st->report_len = (size_t) p->report_len;
    st->report = st->report_len > 0
                     ? g->reports + (size_t) rank * g->report_bytes
                     : NULL;
    st->report_truncated = (int) p->report_truncated;
  } else if (!c->reaped) {
    st->state = PAR_MP_STOPPED;
  } else if (WIFSIGNALED(c->wstatus)) {
    st->code = WTERMSIG(c->wstatus);
    st->state = c->stopped ? PAR_MP_STOPPED : PAR_MP_SIGNALED;
  } else {
    st->code = WEXITSTATUS(c->wstatus);
    st->state = PAR_MP_EXITED;
  }
}

/* Reap worker RANK if it has ended. Returns 1 if it is (now) reaped. */
static int
try_reap(par_mp_group *g, int rank)
{
  mp_child *c = &g->children[rank];
  pid_t r;

  if (c->reaped) {
    return 1;
  }
  if (atomic_load_explicit(&g->ctl->procs[rank].exit_state,
                           memory_order_acquire) == MP_REPORTED) {
    /* It has flushed its output and only has _exit left to do. */
    reap_blocking(c);
    return 1;
  }
  r = waitpid(c->pid, &c->wstatus, WNOHANG);
  if (r == c->pid || (r < 0 && errno == ECHILD)) {
    if (r < 0) {
      c->wstatus = 0;
    }
    c->reaped = 1;
    return 1;
  }
  return 0;
}

/* Main: wait until every worker has ended or one has failed (*FAILED is
 * then its rank), honouring the communicator's timeout and interrupt
 * check (whose error is returned, with its detail in G's). While it
 * waits, main publishes that it joins: workers waiting on it are then
 * deadlocked, and find out. */
static int
wait_for_workers(par_mp_group *g, int *failed)
{
  mp_proc *self = &g->ctl->procs[0];
  double deadline = g->comm != NULL ? par__deadline(g->comm) : 0;
  int rc = PAR_OK;

  if (g->forked) {
    atomic_store(&self->wait_kind, MP_WAIT_JOIN);
    atomic_fetch_add(&g->ctl->epoch, 1);
  }
  while (g->forked && rc == PAR_OK) {
    uint32_t seen = atomic_load(&g->ctl->exits);
    int live = 0, worst = PAR_MP_OK;

    /* Look at every worker before deciding: when several fail at once,
     * one that died is the cause and the ones that reported a failure
     * are usually its consequences. */
    for (int i = 1; i < g->nprocs; i++) {
      par_mp_worker_status st;

      if (g->children[i].reaped) {
        continue;
      }
      if (!try_reap(g, i)) {
        live++;
        continue;
      }
      fill_status(g, i, &st);
      if (st.state != PAR_MP_OK && st.state > worst) {
        worst = st.state;
        *failed = i;
      }
    }
    if (*failed || live == 0) {
      break;
    }
    rc = g->comm != NULL ? par__comm_poll(g->comm, deadline) : PAR_OK;
    if (rc != PAR_OK) {
      par__mp_group_fail(g, rc, "%s", par_comm_error_detail(g->comm));
    } else {
      par__mp_futex_wait(&g->ctl->exits, seen, JOIN_SLICE);
    }
  }
  atomic_store(&self->wait_kind, MP_WAIT_NONE);
  atomic_fetch_add(&g->ctl->epoch, 1);
  return rc;
}

int
par_mp_group_join(par_mp_group *g, par_mp_worker_status *statuses, size_t n)
{
  int rc, failed = 0;

  rc = par__mp_group_check(g, 1, "join the group");
  if (rc == PAR_OK && n > 0
      && (statuses == NULL || n < (size_t) g->nprocs - 1)) {
    rc = par__mp_group_fail(g, PAR_EINVAL,
                            "no room for the statuses of %d workers in %s",
                            g->nprocs - 1,
                            statuses == NULL ? "NULL" : "fewer entries");
  }
  if (rc != PAR_OK) {
    return rc;
  }
  atomic_store(&g->ctl->main_joined, 1);
  rc = wait_for_workers(g, &failed);
  if (failed) {
    int signo = 0, code = 0;

    par__mp_peek_child(g, failed, &signo, &code);
    par__mp_describe_end(g, failed, 1, signo, code, g->detail,
                         sizeof g->detail);
    par__mp_abort_group(g, 0, PAR_EPEER, "%s", g->detail);
    rc = PAR_EPEER;
  } else if (rc != PAR_OK) {
    par__mp_abort_group(g, 0, rc, "%s", g->detail);
  }
  stop_workers(g);
  for (int i = 1; i < g->nprocs; i++) {
    par_mp_worker_status st;

    fill_status(g, i, &st);
    if (rc == PAR_OK && st.state != PAR_MP_OK) {
      /* Stopped earlier, by par_mp_group_kill or a failed fork. */
      par__mp_describe_end(g, i, 1, st.state == PAR_MP_EXITED ? 0 : st.code,
                           st.code, g->detail, sizeof g->detail);
      rc = PAR_EPEER;
    }
    if ((size_t) (i - 1) < n) {
      statuses[i - 1] = st;
    }
  }
  return rc;
}

void
par_mp_group_kill(par_mp_group *g)
{
  if (g == NULL || g->rank != 0 || getpid() != g->main_pid
      || live_workers(g) == 0) {
    return;
  }
  par__mp_abort_group(g, 0, PAR_EABORTED, "the main process stopped the "
                      "group");
  stop_workers(g);
}

void
par_mp_group_destroy(par_mp_group *g)
{
  if (g == NULL) {
    return;
  }
  if (g->rank == 0 && getpid() == g->main_pid) {
    par_mp_group_kill(g);
  }
  if (g->comm != NULL) {
    par_comm *comm = g->comm;

    g->comm = NULL;
    par_comm_destroy(comm);
  }
  if (g->base != NULL) {
    munmap(g->base, g->map_len);
  }
  free(g->children);
  free(g);
}
