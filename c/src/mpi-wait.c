/* mpi-wait.c — waiting on the MPI backend, and the notices with which
 * waiting processes find out that they wait for each other.
 *
 * Every wait of the backend (a round of the agreement that starts a
 * collective, a receive) tests its requests in a loop: it spins a little,
 * then yields, then sleeps, so that a process waiting for minutes costs
 * next to no CPU (Open MPI's own blocking calls poll a core flat out).
 *
 * MPI cannot tell a process in a receive that its peer is in a collective,
 * nor one in a collective that a peer has exited: collectives and messages
 * never match each other, and the waits would last forever. So once a wait
 * has lasted PAR__MPI_NOTICE_AFTER seconds, the process sends a notice
 * saying what it waits in to the processes it waits for (its source, or
 * every other process), and reads the notices sent to it. A process also
 * sends one to every other process when it exits (par__mpi_tell_exit). A
 * notice carries the number of collectives its sender has entered and the
 * number of messages it has sent to and received from the receiver, which
 * is what makes a verdict certain rather than a guess: process M waiting
 * to receive from S knows that S will never send if S waits in a
 * collective that M has not entered and M has received every message S
 * had sent it, and so on (verdict() lists the cases). A notice that no
 * longer holds (its sender has moved on) fails these tests by itself: a
 * collective that M has since entered, a receive that a message M has
 * since sent satisfies. Only a wait that ends without being satisfied
 * (timeout, interrupt) needs a notice of its own to take the first back.
 *
 * Both processes of a pair that wait for each other reach the verdict, each
 * from the other's notice, and fail with the same sentence: "rank 0 is in
 * receive-from rank 1 but rank 1 is in barrier (collective #1)", "rank 1
 * finished while rank 0 waits in receive-from rank 1". Where a verdict
 * needs what only a third process knows, the processes that can reach it
 * fail and abort the job, which stops the others.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mpi-internal.h"

enum {
  SPIN_TESTS = 1024, /* tests before the first yield */
  POLL_EVERY = 64    /* tests between interrupt checks while spinning */
};

#define YIELD_FOR 0.002 /* seconds of yielding before sleeping */
#define SLEEP_MAX 0.004   /* the longest sleep between two tests */
#define NOTICE_AGAIN 1.0 /* seconds between two notices of one wait */

/* --- Notices ------------------------------------------------------------- */

/* Send the notice of OP (SEQ, PEER) about COMM to DEST, or to every other
 * process when DEST < 0, on the control communicator. The notices go in
 * one block kept among COMM's sends in flight. Notices are a help, not a
 * duty: without memory, or without the control communicator, none is
 * sent. */
static void
send_notices(par_comm *comm, uint32_t op, uint32_t seq, int peer, int dest)
{
  par__mpi *impl = par__mpi_impl(comm);
  MPI_Comm on = par__mpi_notice_comm();
  int n = dest >= 0 ? 1 : comm->size - 1, done = 0;
  par__mpi_pending *p;
  par__mpi_notice *v;

  if (on == MPI_COMM_NULL || impl->uid == 0) {
    return;
  }
  p = malloc(sizeof *p + (size_t) n * (sizeof *p->req + sizeof *v));
  if (p == NULL) {
    return;
  }
  p->buf = NULL;
  p->nreq = 0;
  v = (par__mpi_notice *) (p->req + n);
  for (int r = 0; r < comm->size; r++) {
    par__mpi_notice *x = &v[p->nreq];

    if (r == comm->rank || (dest >= 0 && r != dest)) {
      continue;
    }
    *x = (par__mpi_notice){impl->uid, op, seq, peer, comm->coll_seq,
                           comm->sent_seq[r], comm->recv_seq[r]};
    if (MPI_Isend(x, (int) sizeof *x, MPI_BYTE, impl->world[r],
                  PAR__MPI_TAG_NOTICE, on, &p->req[p->nreq])
        == MPI_SUCCESS) {
      p->nreq++;
    }
  }
  if (p->nreq == 0
      || (MPI_Testall(p->nreq, p->req, &done, MPI_STATUSES_IGNORE)
              == MPI_SUCCESS
          && done)) {
    free(p);
  } else {
    par__mpi_pending_push(&impl->pending, p);
  }
}

/* File every notice that has arrived for this process (on whichever
 * communicator it is about). Returns whether any is about COMM. */
static int
drain_notices(par_comm *comm)
{
  MPI_Comm on = par__mpi_notice_comm();
  int got = 0;

  while (on != MPI_COMM_NULL) {
    par__mpi_notice n;
    MPI_Message message;
    MPI_Status status;
    int flag = 0, count = 0;

    if (MPI_Improbe(MPI_ANY_SOURCE, PAR__MPI_TAG_NOTICE, on, &flag,
                    &message, &status)
            != MPI_SUCCESS
        || !flag) {
      break;
    }
    MPI_Get_count(&status, MPI_BYTE, &count);
    if (count != (int) sizeof n) {
      /* Not one of ours: take it off the queue and forget it. */
      char *junk = malloc(count > 0 ? (size_t) count : 1);

      MPI_Mrecv(junk, junk != NULL && count > 0 ? count : 0, MPI_BYTE,
                &message, MPI_STATUS_IGNORE);
      free(junk);
      continue;
    }
    if (MPI_Mrecv(&n, count, MPI_BYTE, &message, MPI_STATUS_IGNORE)
            == MPI_SUCCESS
        && par__mpi_file_notice(&n, status.MPI_SOURCE,
                                par__mpi_impl(comm))) {
      got = 1;
    }
  }
  return got;
}

/* --- Verdicts ------------------------------------------------------------ */

static int
is_collective(uint32_t op)
{
  return (op > PAR_OPKIND_NONE && op < PAR_OPKIND_COUNT
          && op != PAR_OPKIND_SEND)
         || op == PAR__MPI_OP_FINISH;
}

/* "in barrier (collective #3)", "at the end of a run (collective #3)" or
 * "in receive-from rank 1": what a process is in, as "waits ..." reads. */
static const char *
describe_in(uint32_t op, uint32_t seq, int peer, char *buf, size_t size)
{
  par__op o = {op, seq, peer};
  char what[64];

  if (op == PAR__MPI_OP_FINISH) {
    snprintf(buf, size, "at the end of a run (collective #%u)", seq);
  } else {
    o.seq = op == PAR__OPKIND_RECV ? 0 : seq;
    snprintf(buf, size, "in %s", par__op_describe(&o, what, sizeof what));
  }
  return buf;
}

/* Rank WHO finished (exited, or is at the end of a run) while rank WAITER
 * waits in OP (SEQ, PEER): PAR_EPEER on the process that waits, and
 * PAR_EMISMATCH on the one that finished. */
int
par__mpi_fail_finished(par_comm *comm, int who, int waiter, uint32_t op,
                       uint32_t seq, int peer)
{
  char in[96];

  return par__comm_fail(comm, who == comm->rank ? PAR_EMISMATCH : PAR_EPEER,
                        "rank %d finished while rank %d waits %s", who,
                        waiter, describe_in(op, seq, peer, in, sizeof in));
}

/* Whether process S, which last told this one N, waits for it in a
 * receive that only this process can satisfy and has received every
 * message this process has sent it (so that it is still waiting). */
static int
receives_from_me(par_comm *comm, int s, const par__mpi_notice *n)
{
  return n->op == PAR__OPKIND_RECV
         && (n->peer == comm->rank
             || (n->peer == PAR__PEER_ANY && comm->size == 2))
         && n->received == comm->sent_seq[s];
}

/* Whether S, by N, has ended or waits in a collective that this process
 * has not entered: either way it will send nothing more before this
 * process does something. */
static int
gone_ahead(par_comm *comm, const par__mpi_notice *n)
{
  return n->op == PAR__MPI_OP_EXITED
         || (is_collective(n->op) && n->seq > comm->coll_seq);
}

/* Whether S, by N, will never send this process anything while it waits:
 * every message S sent has arrived, and S is gone ahead or receives from
 * this process. */
static int
stuck_for_me(par_comm *comm, int s, const par__mpi_notice *n)
{
  return n->sent == comm->recv_seq[s]
         && (gone_ahead(comm, n) || receives_from_me(comm, s, n));
}

/* This process waits in W for a message from S, and S, by N, will never
 * send it: fail W with what S is in. */
static int
fail_receive(par_comm *comm, const par__mpi_wait *w, int s,
             const par__mpi_notice *n)
{
  par__op mine = {PAR__OPKIND_RECV, 0, w->peer};
  par__op theirs = {n->op, n->seq, n->peer};

  if (n->op == PAR__MPI_OP_EXITED || n->op == PAR__MPI_OP_FINISH) {
    return par__mpi_fail_finished(comm, s, comm->rank, w->op, w->seq,
                                  w->peer);
  }
  if (n->op == PAR__OPKIND_RECV) {
    theirs.seq = 0;
    return par__comm_mismatch(comm, PAR_EDEADLOCK, &mine, NULL, s, "is in",
                              &theirs, NULL);
  }
  return par__comm_mismatch(comm, PAR_EMISMATCH, &mine, NULL, s, "is in",
                            &theirs, NULL);
}

/* A receive from any process, in a group of three or more: it can never
 * be satisfied when every other process will never send (then the first
 * that waits in a collective, or else the first that receives, is
 * named). */
static int
verdict_any(par_comm *comm, const par__mpi_wait *w)
{
  par__mpi *impl = par__mpi_impl(comm);
  int named = -1, all_ended = 1;

  for (int s = 0; s < comm->size; s++) {
    const par__mpi_notice *n = &impl->heard[s];

    if (s == comm->rank) {
      continue;
    }
    if (!impl->has_heard[s] || !stuck_for_me(comm, s, n)) {
      return PAR_OK;
    }
    if (n->op != PAR__MPI_OP_EXITED && n->op != PAR__MPI_OP_FINISH) {
      all_ended = 0;
      if (named < 0 || (is_collective(n->op)
                        && impl->heard[named].op == PAR__OPKIND_RECV)) {
        named = s;
      }
    }
  }
  if (all_ended) {
    return par__comm_fail(comm, PAR_EPEER,
                          "every other rank has finished while rank %d "
                          "waits in receive-from any rank",
                          comm->rank);
  }
  return fail_receive(comm, w, named, &impl->heard[named]);
}

/* What process S last told this one (N) against this process's wait W:
 * a failure if they provably wait for each other, PAR_OK otherwise. */
static int
verdict(par_comm *comm, const par__mpi_wait *w, int s,
        const par__mpi_notice *n)
{
  if (w->op == PAR__OPKIND_RECV) {
    int from = w->peer;

    if (from == PAR__PEER_ANY && comm->size == 2) {
      from = 1 - comm->rank;
    }
    if (from != s || !stuck_for_me(comm, s, n)) {
      return PAR_OK;
    }
    return fail_receive(comm, w, s, n);
  }
  /* W is collective #W->seq, which S has not entered: it has exited, or
   * it waits for a message that only this process could send. */
  if (n->colls >= w->seq) {
    return PAR_OK;
  }
  if (n->op == PAR__MPI_OP_EXITED) {
    return par__mpi_fail_finished(comm, s, comm->rank, w->op, w->seq,
                                  PAR__PEER_NONE);
  }
  if (receives_from_me(comm, s, n)) {
    par__op mine = {w->op, w->seq, PAR__PEER_NONE};
    par__op theirs = {PAR__OPKIND_RECV, 0, n->peer};

    if (w->op == PAR__MPI_OP_FINISH) {
      return par__mpi_fail_finished(comm, comm->rank, s, n->op, 0, n->peer);
    }
    return par__comm_mismatch(comm, PAR_EMISMATCH, &mine, NULL, s, "is in",
                              &theirs, NULL);
  }
  return PAR_OK;
}

/* Hold W against everything the others have told this process. */
static int
check_notices(par_comm *comm, const par__mpi_wait *w)
{
  par__mpi *impl = par__mpi_impl(comm);

  if (w->op == PAR__OPKIND_RECV && w->peer == PAR__PEER_ANY
      && comm->size > 2) {
    return verdict_any(comm, w);
  }
  for (int s = 0; s < comm->size; s++) {
    if (s != comm->rank && impl->has_heard[s]) {
      int rc = verdict(comm, w, s, &impl->heard[s]);

      if (rc != PAR_OK) {
        return rc;
      }
    }
  }
  return PAR_OK;
}

/* The process W's notices go to: its source, or every other process. */
static int
audience(const par__mpi_wait *w)
{
  return w->op == PAR__OPKIND_RECV && w->peer >= 0 ? w->peer : -1;
}

void
par__mpi_tell_exit(par_comm *comm)
{
  par__mpi *impl = par__mpi_impl(comm);
  par__mpi_pending *list = impl->pending;

  if (comm->size < 2) {
    return;
  }
  send_notices(comm, PAR__MPI_OP_EXITED, 0, PAR__PEER_NONE, -1);
  /* The notices, if not complete, are the first entry now. They are
   * small, hence sent eagerly: the wait ends at once. */
  if (impl->pending != list) {
    MPI_Waitall(impl->pending->nreq, impl->pending->req,
                MPI_STATUSES_IGNORE);
  }
}

/* --- Waiting ------------------------------------------------------------- */

void
par__mpi_wait_begin(par_comm *comm, par__mpi_wait *w, uint32_t op,
                    uint32_t seq, int peer)
{
  *w = (par__mpi_wait){op, seq, peer, 0, 0, par__deadline(comm), 0};
}

double
par__mpi_pace(unsigned iter, double *start)
{
  double now, elapsed;

  if (iter < SPIN_TESTS) {
    return -1;
  }
  now = par__now();
  if (*start == 0) {
    *start = now;
  }
  elapsed = now - *start;
  if (elapsed < YIELD_FOR) {
    sched_yield();
  } else {
    double s = elapsed / 16 < SLEEP_MAX ? elapsed / 16 : SLEEP_MAX;
    struct timespec ts = {0, (long) (s * 1e9)};

    nanosleep(&ts, NULL);
  }
  return elapsed;
}

int
par__mpi_wait_step(par_comm *comm, par__mpi_wait *w)
{
  double elapsed;
  int rc;

  w->iter++;
  if (w->iter < SPIN_TESTS) {
    return w->iter % POLL_EVERY != 0 ? PAR_OK
                                     : par__comm_poll(comm, w->deadline);
  }
  if (w->start == 0) {
    /* Whatever arrived while this process was busy: reading notices
     * whenever a wait lasts keeps them from piling up. */
    drain_notices(comm);
  }
  elapsed = par__mpi_pace(w->iter, &w->start);
  rc = par__comm_poll(comm, w->deadline);
  if (rc != PAR_OK || elapsed < PAR__MPI_NOTICE_AFTER) {
    return rc;
  }
  if (w->told == 0 || elapsed - w->told >= NOTICE_AGAIN) {
    /* Again now and then: a notice about a communicator that its
     * receiver has not finished making yet is dropped. */
    send_notices(comm, w->op, w->seq, w->peer, audience(w));
    w->told = elapsed;
    drain_notices(comm);
    return check_notices(comm, w);
  }
  return drain_notices(comm) ? check_notices(comm, w) : PAR_OK;
}

int
par__mpi_wait_end(par_comm *comm, par__mpi_wait *w, int rc)
{
  /* Not after a verdict: the other process may not have reached its own
   * yet, from the notice that this one would take back. */
  if ((rc == PAR_ETIMEDOUT || rc == PAR_EINTR) && w->told > 0) {
    send_notices(comm, PAR__MPI_OP_RUNS, 0, PAR__PEER_NONE, audience(w));
  }
  return rc;
}

int
par__mpi_wait_requests(par_comm *comm, par__mpi_wait *w, int n,
                       MPI_Request *req)
{
  for (;;) {
    int done = 0;
    int rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);

    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Testall");
    }
    if (done) {
      return PAR_OK;
    }
    rc = par__mpi_wait_step(comm, w);
    if (rc != PAR_OK) {
      return rc;
    }
  }
}
