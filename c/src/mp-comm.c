/* mp-comm.c — the "multiprocessing" communicator: rings, waits, barrier.
 *
 * Frames (a par__hdr, then the payload) stream through the ring from the
 * sender to the receiver as bytes: a frame never has to fit in the ring.
 * When it does fit, it is published with one store of the tail; larger
 * frames go in pieces of at most a quarter of the ring, so that the
 * receiver copies one piece out while the sender copies the next in. The
 * receiver copies every payload into a malloc'ed block: holding a view
 * into the ring would stall the channel until the message is released,
 * and for the small messages where a view would save anything, malloc
 * costs tens of nanoseconds.
 *
 * Waiting: spin for a few tens of microseconds (the latency of a round
 * trip is what spinning buys), then sleep on the futex word that the other
 * side changes (a ring counter or the barrier generation) in slices of
 * WAIT_SLICE, so that the interrupt check, the timeout, the group's abort
 * flag and the liveness of peers are looked at every CHECK_INTERVAL. A
 * process that goes to sleep publishes what it waits on; when every
 * process of the group sleeps on a condition that only another sleeping
 * process could satisfy, and nothing changed while that was being looked
 * at (the epoch counter), the wait is a deadlock and fails at once.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mp-internal.h"

#define HDR_BYTES ((uint32_t) sizeof(par__hdr))
#define WAIT_SLICE 0.02
#define CHECK_INTERVAL 0.01
#define DEADLOCK_AFTER 0.05
#define SPIN_SECONDS 50e-6

typedef struct mp_chan {
  uint32_t pos;    /* sender: our tail; receiver: our head */
  uint32_t cached; /* sender: last head seen; receiver: last tail seen */
  int broken;      /* a transfer stopped half-way: the stream is unusable */
} mp_chan;

typedef struct mp_comm {
  par_mp_group *g;
  par_comm *comm;
  int rank;
  int size;
  uint32_t ring_bytes;
  uint32_t mask;
  double spin;
  mp_chan *out;       /* SIZE channels: rank -> peer */
  mp_chan *in;        /* SIZE channels: peer -> rank */
  int bc_broken;      /* a broadcast stopped half-way */
  int last_any;       /* the peer recv_any served last */
  int *pidfds;        /* workers: a pidfd per sibling, -1 until opened */
  struct pollfd *pfds;
} mp_comm;

typedef struct mp_wait {
  int kind;
  int peer;
  uint32_t need;
  uint32_t op;
  double start;
  double deadline;
  double next_check;
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

/* Free bytes of the broadcast ring: its size less what the slowest
 * process has yet to read. The root keeps its own head at the tail. */
static uint32_t
bc_free(par_mp_group *g)
{
  uint32_t tail = atomic_load(&g->ctl->bc.tail), most = 0;

  for (int q = 0; q < g->nprocs; q++) {
    uint32_t behind = tail - atomic_load(&g->ctl->procs[q].bc_head);

    if (behind > most) {
      most = behind;
    }
  }
  return (uint32_t) g->bcast_bytes - most;
}

/* Whether process WHO, waiting for KIND on PEER with NEED, may go on. Read
 * from shared memory only, so that any process can evaluate it for any
 * other (deadlock detection). */
static int
cond_holds(par_mp_group *g, int who, int kind, int peer, uint32_t need)
{
  mp_ring *r;

  switch (kind) {
  case MP_WAIT_RECV:
    r = par__mp_ring(g, peer, who);
    return atomic_load(&r->tail) - atomic_load(&r->head) >= need;
  case MP_WAIT_SEND:
    r = par__mp_ring(g, who, peer);
    return (uint32_t) g->ring_bytes
               - (atomic_load(&r->tail) - atomic_load(&r->head))
           >= need;
  case MP_WAIT_BARRIER:
    return atomic_load(&g->ctl->bar_gen) != need;
  case MP_WAIT_BC_RECV:
    return atomic_load(&g->ctl->bc.tail)
               - atomic_load(&g->ctl->procs[who].bc_head)
           >= need;
  case MP_WAIT_BC_SEND:
    return bc_free(g) >= need;
  case MP_WAIT_BC_CLAIM:
    return atomic_load(&g->ctl->bc.writer) == 0;
  case MP_WAIT_RECV_ANY:
    for (int q = 0; q < g->nprocs; q++) {
      if (q != who) {
        r = par__mp_ring(g, q, who);
        if (atomic_load(&r->tail) - atomic_load(&r->head) >= need) {
          return 1;
        }
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

/* Look at every other process. A failed or dead one fails the wait with
 * PAR_EPEER (main also aborts the group, so that every worker stops); one
 * that finished normally fails it only if this wait depends on it. When
 * several have ended, one that died is named rather than one that reported
 * a failure, which is usually a consequence. */
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
 * ever do (PAR_EDEADLOCK). */
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
    uint32_t qop = atomic_load(&p->wait_op), qseq = atomic_load(&p->wait_seq);
    char what[64], in[64];

    if (atomic_load(&p->exit_state) == MP_REPORTED) {
      snprintf(what, sizeof what, "has exited");
      in[0] = '\0';
    } else {
      describe_wait((int) kind, atomic_load(&p->wait_peer), what,
                    sizeof what);
      if (kind == MP_WAIT_JOIN || qop == PAR_OPKIND_NONE) {
        in[0] = '\0';
      } else {
        if (qop == PAR_OPKIND_SEND) {
          snprintf(in, sizeof in, " is in send or receive and");
          qseq = 0; /* messages between two processes have no common count */
        } else {
          snprintf(in, sizeof in, " is in %s (collective #%u) and",
                   par_opkind_name((par_opkind) qop), qseq);
        }
        if (op != 0 && (qop != op || qseq != seq)) {
          differ = 1;
        }
        op = qop;
        seq = qseq;
      }
    }
    if (used < size) {
      used += (size_t) snprintf(detail + used, size - used, "%srank %d%s %s",
                                q > 0 ? "; " : "", q, in, what);
    }
  }
  if (differ) {
    char copy[sizeof m->comm->detail];

    snprintf(copy, sizeof copy, "%s", detail);
    return par__comm_fail(m->comm, PAR_EMISMATCH, "%s", copy);
  }
  {
    char copy[sizeof m->comm->detail];

    snprintf(copy, sizeof copy, "%s", detail);
    return par__comm_fail(m->comm, PAR_EDEADLOCK, "%s", copy);
  }
}

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

static void
wait_init(mp_wait *w, int kind, int peer, uint32_t need, uint32_t op)
{
  memset(w, 0, sizeof *w);
  w->kind = kind;
  w->peer = peer;
  w->need = need;
  w->op = op;
}

/* Wait until W's condition holds. Everything the caller writes to shared
 * memory happens after this returns, never during the wait: that is what
 * makes deadlock detection sound. */
static int
wait_until(mp_comm *m, mp_wait *w)
{
  par_mp_group *g = m->g;
  _Atomic uint32_t *word, *sleepers;
  int rc = PAR_OK;

  switch (w->kind) {
  case MP_WAIT_RECV:
    word = &par__mp_ring(g, w->peer, m->rank)->tail;
    sleepers = &par__mp_ring(g, w->peer, m->rank)->cons_sleeping;
    break;
  case MP_WAIT_SEND:
    word = &par__mp_ring(g, m->rank, w->peer)->head;
    sleepers = &par__mp_ring(g, m->rank, w->peer)->prod_sleeping;
    break;
  case MP_WAIT_BC_RECV:
    word = &g->ctl->bc.tail;
    sleepers = &g->ctl->bc.cons_sleeping;
    break;
  case MP_WAIT_BC_SEND:
    word = &g->ctl->bc.progress;
    sleepers = &g->ctl->bc.prod_sleeping;
    break;
  case MP_WAIT_BC_CLAIM:
    word = &g->ctl->bc.writer;
    sleepers = &g->ctl->bc.claim_sleeping;
    break;
  default:
    word = &g->ctl->bar_gen;
    sleepers = &g->ctl->bar_sleepers;
    break;
  }
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
        par__mp_futex_wait(word, seen, WAIT_SLICE);
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
  return rc;
}

/* --- Rings ---------------------------------------------------------------- */

static void
wake_if_sleeping(_Atomic uint32_t *sleepers, _Atomic uint32_t *word)
{
  if (atomic_load(sleepers) != 0) {
    par__mp_futex_wake(word, INT_MAX);
  }
}

static void
copy_in(unsigned char *ring, uint32_t mask, uint32_t pos, const void *src,
        size_t n)
{
  size_t off = pos & mask, first = (size_t) mask + 1 - off;

  if (first > n) {
    first = n;
  }
  memcpy(ring + off, src, first);
  if (n > first) {
    memcpy(ring, (const unsigned char *) src + first, n - first);
  }
}

static void
copy_out(const unsigned char *ring, uint32_t mask, uint32_t pos, void *dst,
         size_t n)
{
  size_t off = pos & mask, first = (size_t) mask + 1 - off;

  if (dst == NULL) {
    return; /* discarding */
  }
  if (first > n) {
    first = n;
  }
  memcpy(dst, ring + off, first);
  if (n > first) {
    memcpy((unsigned char *) dst + first, ring, n - first);
  }
}

/* Stream N bytes of SRC into the ring to DEST. *WROTE counts what went
 * in, so that the caller knows whether a failure broke the stream. */
static int
ring_put(mp_comm *m, int dest, uint32_t op, const void *src, size_t n,
         size_t *wrote)
{
  par_mp_group *g = m->g;
  mp_ring *r = par__mp_ring(g, m->rank, dest);
  unsigned char *data = par__mp_ring_data(g, m->rank, dest);
  mp_chan *ch = &m->out[dest];
  uint32_t piece_max = m->ring_bytes / 4;
  const unsigned char *p = src;

  while (n > 0) {
    uint32_t free = m->ring_bytes - (ch->pos - ch->cached);
    uint32_t piece;

    if (free < n && free < piece_max) {
      ch->cached = atomic_load_explicit(&r->head, memory_order_acquire);
      free = m->ring_bytes - (ch->pos - ch->cached);
    }
    if (free == 0 || (free < n && free < piece_max)) {
      mp_wait w;
      uint32_t need = n < piece_max ? (uint32_t) n : piece_max;
      int rc;

      wait_init(&w, MP_WAIT_SEND, dest, need, op);
      rc = wait_until(m, &w);
      if (rc != PAR_OK) {
        return rc;
      }
      continue;
    }
    piece = n < free ? (uint32_t) n : free;
    if (piece > piece_max) {
      piece = piece_max;
    }
    copy_in(data, m->mask, ch->pos, p, piece);
    ch->pos += piece;
    atomic_store_explicit(&r->tail, ch->pos, memory_order_release);
    wake_if_sleeping(&r->cons_sleeping, &r->tail);
    p += piece;
    n -= piece;
    *wrote += piece;
  }
  return PAR_OK;
}

/* Stream N bytes from the ring of SOURCE into DST (NULL: discard). */
static int
ring_get(mp_comm *m, int source, void *dst, size_t n, size_t *got)
{
  par_mp_group *g = m->g;
  mp_ring *r = par__mp_ring(g, source, m->rank);
  const unsigned char *data = par__mp_ring_data(g, source, m->rank);
  mp_chan *ch = &m->in[source];
  unsigned char *p = dst;

  while (n > 0) {
    uint32_t avail = ch->cached - ch->pos, piece;

    if (avail == 0) {
      ch->cached = atomic_load_explicit(&r->tail, memory_order_acquire);
      avail = ch->cached - ch->pos;
    }
    if (avail == 0) {
      mp_wait w;
      int rc;

      wait_init(&w, MP_WAIT_RECV, source, 1, 0);
      rc = wait_until(m, &w);
      if (rc != PAR_OK) {
        return rc;
      }
      continue;
    }
    piece = n < avail ? (uint32_t) n : avail;
    copy_out(data, m->mask, ch->pos, p, piece);
    ch->pos += piece;
    atomic_store_explicit(&r->head, ch->pos, memory_order_release);
    wake_if_sleeping(&r->prod_sleeping, &r->head);
    if (p != NULL) {
      p += piece;
    }
    n -= piece;
    *got += piece;
  }
  return PAR_OK;
}

static int
check_peer_rank(mp_comm *m, int peer, const char *role)
{
  if (peer < 0 || peer >= m->size || peer == m->rank) {
    return par__comm_fail(m->comm, PAR_ERANK, "rank %d cannot %s rank %d",
                          m->rank, role, peer);
  }
  return PAR_OK;
}

static int
broken(mp_comm *m, int peer)
{
  return par__comm_fail(m->comm, PAR_EABORTED,
                        "the channel between ranks %d and %d was left "
                        "half-way through a message by an earlier failure",
                        m->rank, peer);
}

static int
mp_send(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
        size_t len)
{
  mp_comm *m = comm->impl;
  mp_chan *ch;
  size_t wrote = 0;
  int rc = check_peer_rank(m, dest, "send to");

  if (rc != PAR_OK) {
    return rc;
  }
  ch = &m->out[dest];
  if (ch->broken) {
    return broken(m, dest);
  }
  /* A frame that fits goes in with one store of the tail. */
  if (len <= m->ring_bytes - HDR_BYTES) {
    mp_ring *r = par__mp_ring(m->g, m->rank, dest);
    unsigned char *data = par__mp_ring_data(m->g, m->rank, dest);
    uint32_t total = HDR_BYTES + (uint32_t) len;

    if (m->ring_bytes - (ch->pos - ch->cached) < total) {
      ch->cached = atomic_load_explicit(&r->head, memory_order_acquire);
    }
    if (m->ring_bytes - (ch->pos - ch->cached) < total) {
      mp_wait w;

      wait_init(&w, MP_WAIT_SEND, dest, total, hdr->op);
      rc = wait_until(m, &w);
      if (rc != PAR_OK) {
        return rc;
      }
      ch->cached = atomic_load_explicit(&r->head, memory_order_acquire);
    }
    copy_in(data, m->mask, ch->pos, hdr, HDR_BYTES);
    if (len > 0) {
      copy_in(data, m->mask, ch->pos + HDR_BYTES, buf, len);
    }
    ch->pos += total;
    atomic_store_explicit(&r->tail, ch->pos, memory_order_release);
    wake_if_sleeping(&r->cons_sleeping, &r->tail);
    return PAR_OK;
  }
  rc = ring_put(m, dest, hdr->op, hdr, HDR_BYTES, &wrote);
  if (rc == PAR_OK) {
    rc = ring_put(m, dest, hdr->op, buf, len, &wrote);
  }
  if (rc != PAR_OK && wrote > 0) {
    ch->broken = 1;
  }
  return rc;
}

static int
mp_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out)
{
  mp_comm *m = comm->impl;
  mp_chan *ch;
  mp_ring *r;
  par__hdr h;
  void *buf = NULL;
  size_t got = 0;
  int rc = check_peer_rank(m, source, "receive from");

  if (rc != PAR_OK) {
    return rc;
  }
  ch = &m->in[source];
  if (ch->broken) {
    return broken(m, source);
  }
  /* The whole header before anything is consumed, so that a timeout or an
   * interrupt here leaves the channel usable. */
  r = par__mp_ring(m->g, source, m->rank);
  if (ch->cached - ch->pos < HDR_BYTES) {
    ch->cached = atomic_load_explicit(&r->tail, memory_order_acquire);
  }
  if (ch->cached - ch->pos < HDR_BYTES) {
    mp_wait w;

    wait_init(&w, MP_WAIT_RECV, source, HDR_BYTES, 0);
    rc = wait_until(m, &w);
    if (rc != PAR_OK) {
      return rc;
    }
  }
  rc = ring_get(m, source, &h, HDR_BYTES, &got);
  if (rc != PAR_OK) {
    goto broke;
  }
  if (h.len > SIZE_MAX / 2) {
    rc = par__comm_fail(comm, PAR_EMALFORMED,
                        "rank %d got a frame of %llu bytes from rank %d",
                        m->rank, (unsigned long long) h.len, source);
    goto broke;
  }
  if (h.len > 0) {
    buf = malloc((size_t) h.len);
    if (buf == NULL) {
      /* Drain the payload, so that the stream stays in step. */
      rc = ring_get(m, source, NULL, (size_t) h.len, &got);
      if (rc != PAR_OK) {
        goto broke;
      }
      return par__comm_fail(comm, PAR_ENOMEM,
                            "rank %d cannot allocate %llu bytes for a "
                            "message from rank %d",
                            m->rank, (unsigned long long) h.len, source);
    }
  }
  rc = ring_get(m, source, buf, (size_t) h.len, &got);
  if (rc != PAR_OK) {
    free(buf);
    goto broke;
  }
  *hdr = h;
  par__msg_take_malloc(out, buf, (size_t) h.len);
  return PAR_OK;

broke:
  ch->broken = 1;
  return rc;
}

/* Receive from whichever peer has a frame ready, looking at the peers in
 * turn from the one after the last served, so that no sender starves. */
static int
mp_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
            par_msg *out)
{
  mp_comm *m = comm->impl;

  for (;;) {
    mp_wait w;
    int rc;

    for (int i = 1; i <= m->size; i++) {
      int q = (m->last_any + i) % m->size;
      mp_ring *r = par__mp_ring(m->g, q, m->rank);

      if (q == m->rank || m->in[q].broken) {
        continue;
      }
      if (atomic_load_explicit(&r->tail, memory_order_acquire) - m->in[q].pos
          >= HDR_BYTES) {
        m->last_any = q;
        *source = q;
        return mp_recv(comm, q, hdr, out);
      }
    }
    if (!block) {
      return PAR_ENOENT;
    }
    wait_init(&w, MP_WAIT_RECV_ANY, -1, HDR_BYTES, 0);
    rc = wait_until(m, &w);
    if (rc != PAR_OK) {
      return rc;
    }
  }
}

/* --- Broadcast ------------------------------------------------------------ */

/* Stream N bytes of SRC into the broadcast ring (root only). */
static int
bc_put(mp_comm *m, const void *src, size_t n)
{
  par_mp_group *g = m->g;
  mp_bcast *bc = &g->ctl->bc;
  _Atomic uint32_t *own = &g->ctl->procs[m->rank].bc_head;
  uint32_t size = (uint32_t) g->bcast_bytes, piece_max = size / 4;
  uint32_t tail = atomic_load(&bc->tail);
  const unsigned char *p = src;

  while (n > 0) {
    uint32_t need = n < piece_max ? (uint32_t) n : piece_max;
    uint32_t free = bc_free(g), piece;

    if (free < need) {
      mp_wait w;
      int rc;

      wait_init(&w, MP_WAIT_BC_SEND, -1, need, PAR_OPKIND_BCAST);
      rc = wait_until(m, &w);
      if (rc != PAR_OK) {
        return rc;
      }
      continue;
    }
    piece = n < free ? (uint32_t) n : free;
    if (piece > piece_max) {
      piece = piece_max;
    }
    copy_in(g->bdata, size - 1, tail, p, piece);
    tail += piece;
    atomic_store(own, tail);
    atomic_store_explicit(&bc->tail, tail, memory_order_release);
    wake_if_sleeping(&bc->cons_sleeping, &bc->tail);
    p += piece;
    n -= piece;
  }
  return PAR_OK;
}

/* Stream N bytes out of the broadcast ring into DST (a receiver). */
static int
bc_get(mp_comm *m, int root, void *dst, size_t n)
{
  par_mp_group *g = m->g;
  mp_bcast *bc = &g->ctl->bc;
  _Atomic uint32_t *own = &g->ctl->procs[m->rank].bc_head;
  uint32_t size = (uint32_t) g->bcast_bytes;
  uint32_t head = atomic_load(own);
  unsigned char *p = dst;

  while (n > 0) {
    uint32_t avail = atomic_load_explicit(&bc->tail, memory_order_acquire)
                     - head;
    uint32_t piece;

    if (avail == 0) {
      mp_wait w;
      int rc;

      wait_init(&w, MP_WAIT_BC_RECV, root, 1, PAR_OPKIND_BCAST);
      rc = wait_until(m, &w);
      if (rc != PAR_OK) {
        return rc;
      }
      continue;
    }
    piece = n < avail ? (uint32_t) n : avail;
    copy_out(g->bdata, size - 1, head, p, piece);
    head += piece;
    atomic_store(own, head);
    if (atomic_load(&bc->prod_sleeping) != 0) {
      atomic_fetch_add(&bc->progress, 1);
      par__mp_futex_wake(&bc->progress, INT_MAX);
    }
    p += piece;
    n -= piece;
  }
  return PAR_OK;
}

/* Root: claim the ring, write the frame once, release the ring. */
static int
bc_root(mp_comm *m, uint32_t aux, const void *buf, size_t len)
{
  par_comm *comm = m->comm;
  mp_bcast *bc = &m->g->ctl->bc;
  par__hdr hdr = {PAR_OPKIND_BCAST, comm->coll_seq, aux, 0, len};
  uint32_t expected = 0;
  int rc;

  if (m->bc_broken) {
    return par__comm_fail(comm, PAR_EABORTED,
                          "an earlier broadcast on rank %d stopped half-way",
                          m->rank);
  }
  /* The previous root may still be letting go of the ring. */
  while (!atomic_compare_exchange_strong(&bc->writer, &expected,
                                         (uint32_t) m->rank + 1)) {
    mp_wait w;

    wait_init(&w, MP_WAIT_BC_CLAIM, (int) expected - 1, 0,
              PAR_OPKIND_BCAST);
    rc = wait_until(m, &w);
    if (rc != PAR_OK) {
      return rc;
    }
    expected = 0;
  }
  rc = bc_put(m, &hdr, HDR_BYTES);
  if (rc == PAR_OK) {
    rc = bc_put(m, buf, len);
  }
  if (rc != PAR_OK) {
    m->bc_broken = 1;
  }
  atomic_store(&bc->writer, 0);
  wake_if_sleeping(&bc->claim_sleeping, &bc->writer);
  return rc;
}

/* Receiver: read the frame header from ROOT and check it against this
 * collective. TYPE is -1 for bytes; otherwise the payload must be exactly
 * LEN bytes of TYPE. */
static int
bc_leaf_header(mp_comm *m, int root, int type, size_t len, par__hdr *hdr)
{
  par_comm *comm = m->comm;
  mp_wait w;
  int rc;

  if (m->bc_broken) {
    return par__comm_fail(comm, PAR_EABORTED,
                          "an earlier broadcast on rank %d stopped half-way",
                          m->rank);
  }
  wait_init(&w, MP_WAIT_BC_RECV, root, HDR_BYTES, PAR_OPKIND_BCAST);
  rc = wait_until(m, &w);
  if (rc == PAR_OK) {
    rc = bc_get(m, root, hdr, HDR_BYTES);
  }
  if (rc != PAR_OK) {
    return rc;
  }
  if (hdr->op != PAR_OPKIND_BCAST || hdr->seq != comm->coll_seq) {
    m->bc_broken = 1;
    return par__comm_fail(comm, PAR_EMISMATCH,
                          "rank %d is in broadcast (collective #%u) from "
                          "rank %d but found %s (collective #%u) in the "
                          "broadcast channel",
                          m->rank, comm->coll_seq, root,
                          par_opkind_name((par_opkind) hdr->op), hdr->seq);
  }
  if (type >= 0 && (hdr->aux != (uint32_t) type || hdr->len != len)) {
    m->bc_broken = 1;
    return par__comm_fail(comm, PAR_ESIZE,
                          "rank %d expected %zu bytes of %s in broadcast "
                          "but the root sent %llu bytes of %s",
                          m->rank, len, par_dtype_name((par_dtype) type),
                          (unsigned long long) hdr->len,
                          hdr->aux < PAR_DTYPE_COUNT
                              ? par_dtype_name((par_dtype) hdr->aux)
                              : "an unknown type");
  }
  return PAR_OK;
}

static int
mp_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
               par_msg *out)
{
  mp_comm *m = comm->impl;
  par__hdr hdr;
  void *data = NULL;
  int rc;

  if (m->rank == root) {
    rc = bc_root(m, 0, buf, len);
    if (rc == PAR_OK) {
      par__msg_borrow(out, buf, len);
    }
    return rc;
  }
  rc = bc_leaf_header(m, root, -1, 0, &hdr);
  if (rc != PAR_OK) {
    return rc;
  }
  if (hdr.len > 0) {
    data = malloc((size_t) hdr.len);
  }
  rc = bc_get(m, root, data, (size_t) hdr.len);
  if (rc != PAR_OK || (data == NULL && hdr.len > 0)) {
    free(data);
    if (rc != PAR_OK) {
      m->bc_broken = 1;
      return rc;
    }
    return par__comm_fail(comm, PAR_ENOMEM,
                          "rank %d cannot allocate %llu bytes for a "
                          "broadcast", m->rank,
                          (unsigned long long) hdr.len);
  }
  par__msg_take_malloc(out, data, (size_t) hdr.len);
  return PAR_OK;
}

/* Typed: receivers read straight into their buffer, with no copy between. */
static int
mp_bcast_typed(par_comm *comm, int root, void *buf, size_t count,
               par_dtype type)
{
  mp_comm *m = comm->impl;
  size_t len = count * par_dtype_size(type);
  par__hdr hdr;
  int rc;

  if (m->rank == root) {
    return bc_root(m, (uint32_t) type, buf, len);
  }
  rc = bc_leaf_header(m, root, (int) type, len, &hdr);
  if (rc == PAR_OK) {
    rc = bc_get(m, root, buf, len);
    if (rc != PAR_OK) {
      m->bc_broken = 1;
    }
  }
  return rc;
}

/* --- Barrier -------------------------------------------------------------- */

static int
mp_barrier(par_comm *comm)
{
  mp_comm *m = comm->impl;
  mp_ctl *ctl = m->g->ctl;
  uint32_t gen = atomic_load(&ctl->bar_gen), result;
  mp_wait w;
  int rc;

  ctl->procs[m->rank].bar_seq = comm->coll_seq;
  if (atomic_fetch_add(&ctl->bar_count, 1) == (uint32_t) m->size - 1) {
    /* Last in: everyone else is waiting, so the collective numbers can be
     * compared before anyone leaves. */
    result = 0;
    for (int q = 0; q < m->size && result == 0; q++) {
      if (ctl->procs[q].bar_seq != comm->coll_seq) {
        result = 1 + (uint32_t) q;
      }
    }
    ctl->bar_result = result;
    atomic_store(&ctl->bar_count, 0);
    atomic_fetch_add(&ctl->bar_gen, 1);
    wake_if_sleeping(&ctl->bar_sleepers, &ctl->bar_gen);
  } else {
    wait_init(&w, MP_WAIT_BARRIER, -1, gen, PAR_OPKIND_BARRIER);
    rc = wait_until(m, &w);
    if (rc != PAR_OK) {
      return rc;
    }
    result = ctl->bar_result;
  }
  if (result != 0) {
    int q = (int) result - 1;

    return par__comm_fail(comm, PAR_EMISMATCH,
                          "rank %d is in barrier (collective #%u) but "
                          "rank %d is in barrier (collective #%u)",
                          m->rank, comm->coll_seq, q,
                          ctl->procs[q].bar_seq);
  }
  return PAR_OK;
}

/* --- Abort and life cycle ------------------------------------------------- */

static int
mp_abort(par_comm *comm, int code)
{
  mp_comm *m = comm->impl;

  par__mp_abort_group(m->g, m->rank, code, "rank %d aborted with code %d",
                      m->rank, code);
  if (m->rank == 0) {
    par_mp_group_kill(m->g);
    return PAR_EABORTED;
  }
  par_mp_worker_exit(m->g, code != 0 ? code : 1, NULL, 0);
}

static void
mp_destroy(par_comm *comm)
{
  mp_comm *m = comm->impl;

  if (m == NULL) {
    return;
  }
  par__mp_group_forget_comm(m->g, comm);
  for (int q = 0; q < m->size; q++) {
    if (m->pidfds[q] >= 0) {
      close(m->pidfds[q]);
    }
  }
  free(m->out);
  free(m->in);
  free(m->pidfds);
  free(m->pfds);
  free(m);
}

static const par__comm_ops mp_ops = {
    .backend = "multiprocessing",
    .send = mp_send,
    .recv = mp_recv,
    .recv_any = mp_recv_any,
    .barrier = mp_barrier,
    .bcast_bytes = mp_bcast_bytes,
    .bcast = mp_bcast_typed,
    .abort = mp_abort,
    .destroy = mp_destroy,
};

int
par__mp_comm_create(par_mp_group *g, par_comm **out)
{
  size_t n = (size_t) g->nprocs;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  mp_comm *m;
  int rc;

  m = calloc(1, sizeof *m);
  if (m == NULL) {
    return PAR_ENOMEM;
  }
  m->g = g;
  m->rank = g->rank;
  m->size = g->nprocs;
  m->ring_bytes = (uint32_t) g->ring_bytes;
  m->mask = m->ring_bytes - 1;
  /* Spinning only pays when every process has a CPU to spin on. */
  m->spin = cpus >= g->nprocs ? SPIN_SECONDS : 0;
  m->out = calloc(n, sizeof *m->out);
  m->in = calloc(n, sizeof *m->in);
  m->pidfds = malloc(n * sizeof *m->pidfds);
  m->pfds = calloc(1, sizeof *m->pfds);
  if (m->out == NULL || m->in == NULL || m->pidfds == NULL
      || m->pfds == NULL) {
    rc = PAR_ENOMEM;
    goto fail;
  }
  for (size_t q = 0; q < n; q++) {
    m->pidfds[q] = -1;
  }
  rc = par__comm_new(&mp_ops, g->rank, g->nprocs, m, out);
  if (rc != PAR_OK) {
    goto fail;
  }
  m->comm = *out;
  if (g->timeout > 0) {
    par_comm_set_timeout(*out, g->timeout);
  }
  return PAR_OK;

fail:
  free(m->out);
  free(m->in);
  free(m->pidfds);
  free(m->pfds);
  free(m);
  return rc;
}

void
par__mp_comm_adopt(par_comm *comm, int rank)
{
  mp_comm *m = comm->impl;

  comm->rank = rank;
  m->rank = rank;
}
