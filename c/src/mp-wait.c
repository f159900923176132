/* mp-wait.c — how a process of a forked group waits, and what it checks.
 *
 * A wait spins for a few tens of microseconds (the latency of a round
 * trip is what spinning buys), then sleeps on the futex word that the
 * other side changes (a ring counter, the barrier generation, ...) in
 * slices of at most WAIT_SLICE, so that the interrupt check, the timeout, the
 * group's abort flag and the liveness of peers are looked at every
 * CHECK_INTERVAL. A process that goes to sleep publishes what it waits on;
 * when every process of the group sleeps on a condition that only another
 * sleeping process could satisfy, and nothing changed while that was being
 * looked at (the epoch counter), the wait is a deadlock and fails at once.
 *
 * Waking. Whoever changes a condition (stores a counter, bumps the
 * barrier generation, lets go of the broadcast ring) then looks at the
 * sleepers flag beside it and wakes the futex if it is set
 * (par__mp_wake_if_sleeping); a sleeper raises the flag, then looks at the
 * word and its condition again, and sleeps only if the word still holds
 * the value it saw, which FUTEX_WAIT compares once more in the kernel.
 *
 * What this guarantees, and what it does not. The data is ordered by
 * release and acquire (see mp-ring.c); the wake-up is not, on purpose. A
 * waker's store followed by its load of the flag is a store then a load,
 * which only a sequentially consistent fence keeps in that order, and
 * such a fence costs a round trip of the cache line between the cores on
 * every message (about doubling the latency of a small one). Without it,
 * a waker may read the flag before its store is visible, while the
 * sleeper raises the flag and finds the old value: the wake-up is lost.
 * The sleeper then wakes by itself at the end of its slice, so a lost
 * wake-up costs at most one slice, and the first slice of a wait is short
 * (FIRST_SLICE), growing to WAIT_SLICE, because the race can only happen
 * right when the sleeper lies down. The raising of the flag is an atomic
 * read-modify-write, so the sleeper's side is fully ordered.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mp-internal.h"

#define FIRST_SLICE 0.001
#define WAIT_SLICE 0.02
#define CHECK_INTERVAL 0.01
#define DEADLOCK_AFTER 0.05

/* One wait of one process. */
typedef struct mp_wait {
  int kind;  /* an mp_wait_kind */
  int peer;  /* the rank it waits on, or -1 */
  uint32_t need;
  double start;
  double deadline;
  double next_check;
  double slice; /* how long the next sleep lasts at most */
  unsigned spins;
  int sleeping;
  int published;
} mp_wait;

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* --- Conditions ----------------------------------------------------------- */

/* Whether process WHO, waiting for KIND on PEER with NEED, may go on. Read
 * from shared memory only, so that any process can evaluate it for any
 * other (deadlock detection). */
static int
cond_holds(par_mp_group *g, int who, int kind, int peer, uint32_t need)
{
  switch (kind) {
  case MP_WAIT_RECV:
  case MP_WAIT_SEND:
  case MP_WAIT_BC_RECV:
  case MP_WAIT_BC_SEND:
    return par__mp_room(g, who, kind, peer) >= need;
  case MP_WAIT_BARRIER:
    return atomic_load(&g->ctl->bar_gen) != need;
  case MP_WAIT_BC_CLAIM:
    return atomic_load(&g->ctl->bc.writer) == 0;
  case MP_WAIT_RECV_ANY:
    for (int q = 0; q < g->nprocs; q++) {
      if (q != who && par__mp_room(g, who, MP_WAIT_RECV, q) >= need) {
        return 1;
      }
    }
    return 0;
  default:
    return 0;
  }
}


/* What a process does while it waits, by wait kind; the peer's rank
 * follows where the text shows one. */
static const char *const wait_texts[] = {
    [MP_WAIT_NONE] = "runs",
    [MP_WAIT_RECV] = "waits to receive from rank %d",
    [MP_WAIT_SEND] = "waits to send to rank %d",
    [MP_WAIT_BARRIER] = "waits in barrier",
    [MP_WAIT_JOIN] = "waits for the workers to finish",
    [MP_WAIT_BC_RECV] = "waits in broadcast from rank %d",
    [MP_WAIT_BC_SEND] = "waits in broadcast for the others to read",
    [MP_WAIT_BC_CLAIM] = "waits in broadcast for another root to finish",
    [MP_WAIT_RECV_ANY] = "waits to receive from any rank",
};

static void
describe_wait(int kind, int peer, char *buf, size_t size)
{
  if (kind < 0 || (size_t) kind >= sizeof wait_texts / sizeof *wait_texts) {
    kind = MP_WAIT_NONE;
  }
  snprintf(buf, size, wait_texts[kind], peer);
}

/* --- Checks made while sleeping ------------------------------------------- */

/* PAR_EABORTED, with the abort's own detail, once any process has aborted
 * the group; PAR_OK before. */
static int
check_aborted(mp_comm *m)
{
  mp_ctl *ctl = m->g->ctl;
  uint32_t state = atomic_load(&ctl->aborted);

  if (state == 0) {
    return PAR_OK;
  }
  /* The aborting process writes the detail between states 1 and 2. */
  for (int i = 0; i < 1000 && state == 1; i++) {
    sched_yield();
    state = atomic_load(&ctl->aborted);
  }
  return par__comm_fail(m->comm, PAR_EABORTED, "the group was aborted: %s",
                        state == 2 ? ctl->abort_detail : "(no detail)");
}

/* Whether sibling Q of a worker has ended, through a pidfd (a worker
 * cannot wait for its siblings, and kill(pid, 0) succeeds on a zombie). */
static int
sibling_ended(mp_comm *m, int q)
{
  if (m->pidfds[q] < 0) {
    pid_t pid = (pid_t) atomic_load(&m->g->ctl->procs[q].pid);
    int fd;

    if (pid <= 0) {
      return 0; /* not forked yet */
    }
    fd = (int) syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
      /* ESRCH: gone and reaped already. Without pidfds (old kernels) only
       * main can tell, and its abort reaches us. */
      return errno == ESRCH;
    }
    m->pidfds[q] = fd;
  }
  m->pfds[0].fd = m->pidfds[q];
  m->pfds[0].events = POLLIN;
  m->pfds[0].revents = 0;
  return poll(m->pfds, 1, 0) > 0;
}

static void
describe_self_wait(const mp_wait *w, char *buf, size_t size)
{
  describe_wait(w->kind, w->peer, buf, size);
}

/* Whether every other process of the group has ended (main: exited;
 * a worker: its siblings exited, main never counts as ended). */
static int
all_peers_ended(mp_comm *m)
{
  for (int q = 0; q < m->size; q++) {
    int signo, code;

    if (q == m->rank) {
      continue;
    }
    if (m->rank == 0 ? !par__mp_peek_child(m->g, q, &signo, &code)
                     : (q == 0 || !sibling_ended(m, q))) {
      return 0;
    }
  }
  return 1;
}

/* Look at every other process. A failed or dead one fails the wait W with
 * PAR_EPEER (main also aborts the group, so that every worker stops); one
 * that finished normally fails it only if W depends on it. When several
 * have ended, one that died is named rather than one that reported a
 * failure, which is usually a consequence. PAR_OK if nothing ended that
 * matters to W. */
static int
check_peers(mp_comm *m, const mp_wait *w)
{
  par_mp_group *g = m->g;
  int found = -1, found_score = 0, found_signo = 0, found_code = 0;
  char what[64], end[160];

  for (int q = 0; q < m->size; q++) {
    mp_proc *p = &g->ctl->procs[q];
    int ended, signo = 0, code = 0, score;

    if (q == m->rank) {
      continue;
    }
    if (m->rank == 0) {
      /* A worker that has delivered its report has ended for the job,
       * even if it has not reached _exit yet: otherwise detect_deadlock,
       * which already counts it out, would report a deadlock instead of
       * its failure. */
      ended = par__mp_peek_child(g, q, &signo, &code)
              || atomic_load(&p->exit_state) == MP_REPORTED;
    } else if (q == 0) {
      continue; /* main's death kills us (PR_SET_PDEATHSIG) */
    } else {
      ended = atomic_load(&p->exit_state) == MP_REPORTED
              || sibling_ended(m, q);
    }
    if (!ended) {
      continue;
    }
    if (atomic_load_explicit(&p->exit_state, memory_order_acquire)
        != MP_REPORTED) {
      score = 3; /* died */
    } else if (p->report_status != 0) {
      score = 2; /* reported a failure */
    } else if (w->kind == MP_WAIT_BARRIER || w->kind == MP_WAIT_BC_SEND
               || w->peer == q) {
      score = 1; /* finished, and we wait on it */
    } else {
      continue;
    }
    if (score > found_score) {
      found = q;
      found_score = score;
      found_signo = signo;
      found_code = code;
    }
  }
  if (found < 0 && w->kind == MP_WAIT_RECV_ANY && all_peers_ended(m)) {
    return par__comm_fail(m->comm, PAR_EPEER,
                          "every other rank has finished while rank %d "
                          "waits to receive from any rank",
                          m->rank);
  }
  if (found < 0) {
    return PAR_OK;
  }
  par__mp_describe_end(g, found, m->rank == 0, found_signo, found_code, end,
                       sizeof end);
  describe_self_wait(w, what, sizeof what);
  if (m->rank == 0 && found_score > 1) {
    par__mp_abort_group(g, 0, PAR_EPEER, "%s", end);
  }
  return par__comm_fail(m->comm, PAR_EPEER, "%s while rank %d %s", end,
                        m->rank, what);
}

/* Every process waits on another. If they wait in different operations,
 * that is the cause (PAR_EMISMATCH), and the detail names each process's
 * operation; otherwise the program waits for something no process will
 * ever do (PAR_EDEADLOCK). DETAIL is a work area of SIZE bytes. */
static int
describe_deadlock(mp_comm *m, char *detail, size_t size)
{
  mp_ctl *ctl = m->g->ctl;
  uint32_t op = 0, seq = 0;
  int differ = 0;
  size_t used = 0;

  for (int q = 0; q < m->size; q++) {
    mp_proc *p = &ctl->procs[q];
    uint32_t kind = atomic_load(&p->wait_kind);
    par__op qop = {atomic_load(&p->wait_op), atomic_load(&p->wait_seq),
                   PAR__PEER_NONE};
    char what[64], in[80], desc[64];

    in[0] = '\0';
    if (atomic_load(&p->exit_state) == MP_REPORTED) {
      snprintf(what, sizeof what, "has exited");
    } else {
      describe_wait((int) kind, atomic_load(&p->wait_peer), what,
                    sizeof what);
    }
    if (atomic_load(&p->exit_state) != MP_REPORTED && kind != MP_WAIT_JOIN
        && qop.kind != PAR_OPKIND_NONE) {
      if (qop.kind == PAR_OPKIND_SEND || qop.kind == PAR__OPKIND_RECV) {
        /* Messages between two processes have no common count, and a
         * send and a receive are one kind of operation here. */
        qop.seq = 0;
      }
      snprintf(in, sizeof in, " is in %s and",
               par__op_describe(&qop, desc, sizeof desc));
      if (qop.kind == PAR__OPKIND_RECV) {
        qop.kind = PAR_OPKIND_SEND;
      }
      if (op != 0 && (qop.kind != op || qop.seq != seq)) {
        differ = 1;
      }
      op = qop.kind;
      seq = qop.seq;
    }
    if (used < size) {
      used += (size_t) snprintf(detail + used, size - used, "%srank %d%s %s",
                                q > 0 ? "; " : "", q, in, what);
    }
  }
  return par__comm_fail(m->comm, differ ? PAR_EMISMATCH : PAR_EDEADLOCK,
                        "%s", detail);
}

/* PAR_EDEADLOCK (or PAR_EMISMATCH) if every process of the group that has
 * not exited sleeps in a published wait whose condition does not hold,
 * main's join included, and no wait changed while this was looked at (the
 * epoch did not move); PAR_OK otherwise. A process that spins has not
 * published its wait, so it keeps the group from counting as deadlocked. */
static int
detect_deadlock(mp_comm *m)
{
  par_mp_group *g = m->g;
  mp_ctl *ctl = g->ctl;
  uint32_t e1 = atomic_load(&ctl->epoch);
  char detail[sizeof m->comm->detail];

  for (int q = 0; q < m->size; q++) {
    mp_proc *p = &ctl->procs[q];
    uint32_t kind;

    if (atomic_load(&p->exit_state) == MP_REPORTED) {
      continue;
    }
    kind = atomic_load(&p->wait_kind);
    if (kind == MP_WAIT_NONE) {
      return PAR_OK;
    }
    if (kind == MP_WAIT_JOIN) {
      continue;
    }
    if (cond_holds(g, q, (int) kind, atomic_load(&p->wait_peer),
                   atomic_load(&p->wait_need))) {
      return PAR_OK;
    }
  }
  if (atomic_load(&ctl->epoch) != e1) {
    return PAR_OK;
  }
  return describe_deadlock(m, detail, sizeof detail);
}

/* The checks of a sleeping wait W, cheapest first: abort, interrupt and
 * timeout, peers, then, once W has lasted long enough, deadlock. The first
 * that fails ends the wait with its error. */
static int
run_checks(mp_comm *m, mp_wait *w, double now)
{
  int rc = check_aborted(m);

  if (rc == PAR_OK) {
    rc = par__comm_poll(m->comm, w->deadline);
    if (rc == PAR_ETIMEDOUT) {
      char what[64];

      describe_self_wait(w, what, sizeof what);
      rc = par__comm_fail(m->comm, PAR_ETIMEDOUT,
                          "rank %d timed out after %g s: it %s",
                          m->rank, m->comm->timeout, what);
    }
  }
  if (rc == PAR_OK) {
    rc = check_peers(m, w);
  }
  /* Main looks sooner than workers, so that it is usually the one to
   * report a deadlock, with the whole picture, rather than a worker whose
   * failure main would only see as "rank N failed". */
  if (rc == PAR_OK
      && now - w->start >= DEADLOCK_AFTER * (m->rank == 0 ? 1 : 3)) {
    rc = detect_deadlock(m);
  }
  return rc;
}

/* --- Waiting -------------------------------------------------------------- */

/* Make W visible to the others for deadlock detection: what it waits for,
 * and in which operation; WAIT_KIND last, since the others read it first.
 * UNPUBLISH takes it back. Each bumps the epoch. */
static void
publish(mp_comm *m, mp_wait *w)
{
  mp_proc *p = &m->g->ctl->procs[m->rank];

  atomic_store(&p->wait_peer, w->peer);
  atomic_store(&p->wait_need, w->need);
  /* What the process is in, as the generic layer recorded it, so that a
   * deadlock between processes in different operations can be told as
   * the mismatch it is. */
  atomic_store(&p->wait_op, m->comm->cur_op);
  atomic_store(&p->wait_seq, m->comm->cur_seq);
  atomic_store(&p->wait_kind, (uint32_t) w->kind);
  atomic_fetch_add(&m->g->ctl->epoch, 1);
  w->published = 1;
}

static void
unpublish(mp_comm *m, mp_wait *w)
{
  if (w->published) {
    atomic_store(&m->g->ctl->procs[m->rank].wait_kind, MP_WAIT_NONE);
    atomic_fetch_add(&m->g->ctl->epoch, 1);
    w->published = 0;
  }
}

/* The futex word that changes when W's condition may have come to hold,
 * and the flag that tells whoever changes it that someone sleeps on it. */
static void
wait_word(par_mp_group *g, int rank, const mp_wait *w,
          _Atomic uint32_t **word, _Atomic uint32_t **sleepers)
{
  mp_ring *r;

  switch (w->kind) {
  case MP_WAIT_RECV:
    r = par__mp_ring(g, w->peer, rank);
    *word = &r->tail;
    *sleepers = &r->cons_sleeping;
    break;
  case MP_WAIT_SEND:
    r = par__mp_ring(g, rank, w->peer);
    *word = &r->head;
    *sleepers = &r->prod_sleeping;
    break;
  case MP_WAIT_BC_RECV:
    *word = &g->ctl->bc.tail;
    *sleepers = &g->ctl->bc.cons_sleeping;
    break;
  case MP_WAIT_BC_SEND:
    *word = &g->ctl->bc.progress;
    *sleepers = &g->ctl->bc.prod_sleeping;
    break;
  case MP_WAIT_BC_CLAIM:
    *word = &g->ctl->bc.writer;
    *sleepers = &g->ctl->bc.claim_sleeping;
    break;
  default:
    *word = &g->ctl->bar_gen;
    *sleepers = &g->ctl->bar_sleepers;
    break;
  }
}

/* Wait until W's condition holds (see par__mp_wait). */
static int
wait_until(mp_comm *m, mp_wait *w)
{
  par_mp_group *g = m->g;
  _Atomic uint32_t *word, *sleepers;
  int rc = PAR_OK;

  wait_word(g, m->rank, w, &word, &sleepers);
  for (;;) {
    uint32_t seen = atomic_load(word);
    double now;

    if (cond_holds(g, m->rank, w->kind, w->peer, w->need)) {
      break;
    }
    if (!w->sleeping) {
      if (w->spins++ == 0) {
        w->start = par__now();
      }
      cpu_relax();
      if ((w->spins & 31) == 0 && par__now() - w->start >= m->spin) {
        w->sleeping = 1;
        w->slice = FIRST_SLICE;
        w->deadline = par__deadline(m->comm);
        w->next_check = w->start;
      }
      continue;
    }
    if (!w->published) {
      publish(m, w);
      continue; /* look once more now that others can see us */
    }
    if (w->kind == MP_WAIT_RECV_ANY) {
      /* No single word changes when any of several rings fills: nap
       * briefly instead. Whoever waits on any rank hands out work, where
       * a tenth of a millisecond is small beside a chunk of it. */
      struct timespec nap = {0, 100000};

      nanosleep(&nap, NULL);
    } else {
      /* Announce the sleep, then look again: whoever changes the
       * condition after this sees the announcement and wakes us. */
      atomic_fetch_add(sleepers, 1);
      if (atomic_load(word) == seen
          && !cond_holds(g, m->rank, w->kind, w->peer, w->need)) {
        par__mp_futex_wait(word, seen, w->slice);
        w->slice = 2 * w->slice < WAIT_SLICE ? 2 * w->slice : WAIT_SLICE;
      }
      atomic_fetch_sub(sleepers, 1);
    }
    now = par__now();
    if (now >= w->next_check) {
      w->next_check = now + CHECK_INTERVAL;
      rc = run_checks(m, w, now);
      if (rc != PAR_OK) {
        /* Data a peer wrote before it died is still good. */
        if (rc == PAR_EPEER
            && cond_holds(g, m->rank, w->kind, w->peer, w->need)) {
          rc = PAR_OK;
        }
        break;
      }
    }
  }
  unpublish(m, w);
  if (w->spins > 0) {
    /* It waited, from its first spin: a trace counts that time. */
    PAR__TRACE_WAIT(m->comm, par__now() - w->start);
  }
  return rc;
}

int
par__mp_wait(mp_comm *m, int kind, int peer, uint32_t need)
{
  mp_wait w = {.kind = kind, .peer = peer, .need = need};

  return wait_until(m, &w);
}

/* --- Waking ------------------------------------------------------------- */

void
par__mp_wake_if_sleeping(_Atomic uint32_t *sleepers, _Atomic uint32_t *word)
{
  /* May read a flag raised a moment ago as not yet raised: see "What this
   * guarantees" at the top of this file. */
  if (atomic_load_explicit(sleepers, memory_order_relaxed) != 0) {
    par__mp_futex_wake(word, INT_MAX);
  }
}
