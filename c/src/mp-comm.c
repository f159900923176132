/* mp-comm.c — the "multiprocessing" communicator: life cycle, barrier,
 * abort.
 *
 * The communicator of a forked group sends frames through the pairwise
 * rings (mp-ring.c), broadcasts through the broadcast ring (mp-bcast.c),
 * waits as mp-wait.c says, and has a barrier of its own, here; its other
 * collectives are the generic ones built from frames.
 */
#include <stdlib.h>
#include <unistd.h>

#include "mp-internal.h"

/* How long a wait spins before it sleeps, when every process has a CPU. */
#define SPIN_SECONDS 50e-6

/* --- Barrier -------------------------------------------------------------- */

/* A sense-reversing barrier on shared counters that also checks that every
 * process is in the same collective. Each process writes the collective
 * number it is in to its mp_proc.bar_seq, then counts itself in with an
 * atomic add; the last one in compares the numbers, writes the verdict to
 * bar_result, resets the count and bumps the generation, on which the
 * others wait.
 *
 * Memory ordering: the adds to BAR_COUNT form one release sequence, so the
 * last one in sees every BAR_SEQ written before an earlier add; the bump
 * of BAR_GEN releases BAR_RESULT to those who see the new generation. A
 * late waiter cannot miss its verdict: the next barrier's last arrival,
 * who overwrites it, cannot arrive before that waiter has left this one. */
static int
mp_barrier(par_comm *comm)
{
  mp_comm *m = comm->impl;
  mp_ctl *ctl = m->g->ctl;
  uint32_t gen = atomic_load(&ctl->bar_gen), result;
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
    par__mp_wake_if_sleeping(&ctl->bar_sleepers, &ctl->bar_gen);
  } else {
    rc = par__mp_wait(m, MP_WAIT_BARRIER, -1, gen);
    if (rc != PAR_OK) {
      return rc;
    }
    result = ctl->bar_result;
  }
  if (result != 0) {
    /* Name a rank whose number differs from this process's own: the last
     * one in compared the others with its own. */
    int q = (int) result - 1;

    for (int k = m->size - 1; k >= 0; k--) {
      q = ctl->procs[k].bar_seq != comm->coll_seq ? k : q;
    }
    par__op mine = {PAR_OPKIND_BARRIER, comm->coll_seq, PAR__PEER_NONE};
    par__op theirs = {PAR_OPKIND_BARRIER, ctl->procs[q].bar_seq,
                      PAR__PEER_NONE};

    return par__comm_mismatch(comm, PAR_EMISMATCH, &mine, NULL, q, "is in",
                              &theirs, NULL);
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
    return par__comm_fail(comm, PAR_EABORTED,
                          "rank 0 aborted the group with code %d", code);
  }
  par_mp_worker_exit(m->g, code != 0 ? code : 1, NULL, 0);
}

/* Free this process's state of the communicator: its cursors and pidfds.
 * The shared memory belongs to the group. */
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
    .send = par__mp_send,
    .recv = par__mp_recv,
    .recv_any = par__mp_recv_any,
    .barrier = mp_barrier,
    .bcast_bytes = par__mp_bcast_bytes,
    .bcast = par__mp_bcast,
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
  /* The group has just reset every ring to MP_RING_ORIGIN. */
  for (size_t q = 0; q < n; q++) {
    m->pidfds[q] = -1;
    m->out[q] = (mp_cursor){MP_RING_ORIGIN, MP_RING_ORIGIN, 0};
    m->in[q] = (mp_cursor){MP_RING_ORIGIN, MP_RING_ORIGIN, 0};
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
