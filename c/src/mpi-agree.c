/* mpi-agree.c — the agreement that starts every collective of the MPI
 * backend.
 *
 * Every process states which collective it is in (see par__mpi_chdr), and
 * every process gets every statement: an allgather written with
 * point-to-point messages (Bruck's algorithm: ceil(log2 SIZE) rounds), not
 * MPI_Allgather or MPI_Iallgather: it is as fast as the first (one round
 * between two processes, like MPI's barrier), much faster than the
 * second, and its waits are ours (mpi-wait.c): they sleep when they last,
 * and they learn from notices when a process that this one waits for is
 * in a receive or has exited, which a blocking collective would wait for
 * forever. A wait that fails (timeout, interrupt, such a verdict) leaves
 * the process out of step with the others for good: its later collectives
 * fail at once, while the others see a mismatch or fail in turn.
 *
 * Since every process then holds every statement, they all reach the same
 * verdict: either they go on together, or they all fail with the same
 * error, which par__comm_mismatch words as every backend does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi-internal.h"

/* --- Digests ------------------------------------------------------------- */

/* FNV-1a over the value, then a final avalanche from splitmix64. */
static uint64_t
mix(uint64_t h, uint64_t v)
{
  h = (h ^ v) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

static uint64_t
seed(int n)
{
  return 0xcbf29ce484222325ull ^ (uint64_t) n;
}

uint64_t
par__mpi_digest(const size_t *counts, int n)
{
  uint64_t h = seed(n);

  for (int i = 0; i < n; i++) {
    h = mix(h, (uint64_t) counts[i]);
  }
  return h;
}

uint64_t
par__mpi_digest_ranks(const int *ranks, int n)
{
  uint64_t h = seed(n);

  for (int i = 0; i < n; i++) {
    h = mix(h, (uint64_t) (int64_t) ranks[i]);
  }
  return h;
}

/* --- Exchange ------------------------------------------------------------ */

/* Give up a round of the exchange whose requests REQ (a receive, then a
 * send reading the work area) are posted: cancel the receive, and if the
 * send is still reading the work area, let the area go with it, in the
 * list of sends in flight, so that the next exchange takes a fresh one.
 * From now on COMM is out of step with the others. */
static void
abandon_round(par_comm *comm, const par__mpi_chdr *mine, MPI_Request req[2])
{
  par__mpi *impl = par__mpi_impl(comm);
  int done = 0;

  impl->abandoned = mine->seq != 0 ? mine->seq : 1;
  MPI_Cancel(&req[0]);
  MPI_Wait(&req[0], MPI_STATUS_IGNORE);
  MPI_Test(&req[1], &done, MPI_STATUS_IGNORE);
  if (!done) {
    par__mpi_pending *keep = malloc(sizeof *keep + sizeof req[1]);

    if (keep != NULL) {
      keep->buf = impl->xbuf;
      keep->nreq = 1;
      keep->req[0] = req[1];
      par__mpi_pending_push(&impl->pending, keep);
    } else {
      MPI_Request_free(&req[1]);
    }
    impl->xbuf = NULL;
  }
}

/* Exchange MINE with every process of COMM, into IMPL->all in rank order:
 * Bruck's allgather over point-to-point messages, whose waits (mpi-wait.c)
 * cost no CPU when they last, honour the timeout and the interrupt check,
 * and find out when a process that this one waits for is in a receive or
 * has exited. */
static int
exchange(par_comm *comm, const par__mpi_chdr *mine)
{
  par__mpi *impl = par__mpi_impl(comm);
  const int p = comm->size, r = comm->rank, sz = (int) sizeof *mine;
  par__mpi_wait w;
  par__mpi_chdr *x;
  int have = 1, round = 0, rc;

  if (impl->abandoned != 0) {
    return par__comm_fail(comm, PAR_EABORTED,
                          "rank %d gave up collective #%u, so the processes "
                          "are out of step; use a new communicator",
                          comm->rank, impl->abandoned);
  }
  if (impl->xbuf == NULL) {
    impl->xbuf = malloc((size_t) p * sizeof *impl->xbuf);
    if (impl->xbuf == NULL) {
      return par__comm_fail(comm, PAR_ENOMEM,
                            "rank %d has no memory for %d statements",
                            comm->rank, p);
    }
  }
  x = impl->xbuf;
  x[0] = *mine;
  par__mpi_wait_begin(comm, &w, mine->op, mine->seq, PAR__PEER_NONE);
  /* Before round k, X holds the statements of ranks R .. R+HAVE-1 (mod
   * P); the round appends those of the next N ranks from rank R+D. */
  for (int d = 1; d < p; d <<= 1, round++) {
    int n = d < p - d ? d : p - d;
    MPI_Request req[2];

    rc = MPI_Irecv(x + have, n * sz, MPI_BYTE, (r + d) % p,
                   PAR__MPI_TAG_HDR + round, impl->comm, &req[0]);
    if (rc != MPI_SUCCESS) {
      return par__mpi_wait_end(comm, &w, par__mpi_fail(comm, rc,
                                                       "MPI_Irecv"));
    }
    rc = MPI_Isend(x, n * sz, MPI_BYTE, (r - d + p) % p,
                   PAR__MPI_TAG_HDR + round, impl->comm, &req[1]);
    if (rc != MPI_SUCCESS) {
      MPI_Cancel(&req[0]);
      MPI_Wait(&req[0], MPI_STATUS_IGNORE);
      return par__mpi_wait_end(comm, &w, par__mpi_fail(comm, rc,
                                                       "MPI_Isend"));
    }
    rc = par__mpi_wait_requests(comm, &w, 2, req);
    if (rc != PAR_OK) {
      abandon_round(comm, mine, req);
      return par__mpi_wait_end(comm, &w, rc);
    }
    have += n;
  }
  for (int k = 0; k < p; k++) {
    impl->all[(r + k) % p] = x[k];
  }
  return par__mpi_wait_end(comm, &w, PAR_OK);
}

/* --- Agreement ----------------------------------------------------------- */

/* The first way in which rank R's statement THEIRS differs from MINE, as
 * a mismatch error on COMM; PAR_OK if they agree. */
static int
compare(par_comm *comm, const par__mpi_chdr *mine, int r,
        const par__mpi_chdr *theirs, int same_count)
{
  par__op op = {mine->op, mine->seq, PAR__PEER_NONE};
  char a[64], b[64], x[80], y[80];

  if (theirs->op != mine->op && theirs->op == PAR__MPI_OP_FINISH) {
    return par__mpi_fail_finished(comm, r, comm->rank, mine->op, mine->seq,
                                  PAR__PEER_NONE);
  }
  if (theirs->op != mine->op && mine->op == PAR__MPI_OP_FINISH) {
    return par__mpi_fail_finished(comm, comm->rank, r, theirs->op,
                                  theirs->seq, PAR__PEER_NONE);
  }
  if (theirs->op != mine->op || theirs->seq != mine->seq) {
    par__op other = {theirs->op, theirs->seq, PAR__PEER_NONE};

    return par__comm_mismatch(comm, PAR_EMISMATCH, &op, NULL, r, "is in",
                              &other, NULL);
  }
  if (theirs->root != mine->root) {
    snprintf(x, sizeof x, "with root %d", (int) mine->root);
    snprintf(y, sizeof y, "with root %d", (int) theirs->root);
    return par__comm_mismatch(comm, PAR_EMISMATCH, &op, x, r, NULL, NULL, y);
  }
  if (theirs->type != mine->type) {
    snprintf(x, sizeof x, "of %s", par__type_describe(mine->type, a,
                                                       sizeof a));
    snprintf(y, sizeof y, "of %s", par__type_describe(theirs->type, b,
                                                       sizeof b));
    return par__comm_mismatch(comm, PAR_EMISMATCH, &op, x, r, NULL, NULL, y);
  }
  if (theirs->redop != mine->redop) {
    snprintf(x, sizeof x, "with %s", par_reduce_op_name(mine->redop));
    snprintf(y, sizeof y, "with %s",
             theirs->redop < PAR_REDUCE_COUNT
                 ? par_reduce_op_name(theirs->redop)
                 : "an unknown operator");
    return par__comm_mismatch(comm, PAR_EMISMATCH, &op, x, r, NULL, NULL, y);
  }
  if (same_count && theirs->count != mine->count) {
    snprintf(x, sizeof x, "with %llu elements",
             (unsigned long long) mine->count);
    snprintf(y, sizeof y, "with %llu", (unsigned long long) theirs->count);
    return par__comm_mismatch(comm, PAR_ESIZE, &op, x, r, NULL, NULL, y);
  }
  return PAR_OK;
}

int
par__mpi_begin(par_comm *comm, par__mpi_chdr *mine, int same_count)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  int rc;

  mine->seq = comm->coll_seq;
  par__mpi_progress(comm);
  rc = exchange(comm, mine);
  /* The operation and its number first, from every rank: they say the
   * most about what went wrong. */
  for (int r = 0; r < comm->size && rc == PAR_OK; r++) {
    if (all[r].op != mine->op || all[r].seq != mine->seq) {
      rc = compare(comm, mine, r, &all[r], same_count);
    }
  }
  for (int r = 0; r < comm->size && rc == PAR_OK; r++) {
    rc = compare(comm, mine, r, &all[r], same_count);
  }
  return rc;
}

int
par_comm_mpi_finish(par_comm *comm)
{
  par__mpi_chdr h = {.op = PAR__MPI_OP_FINISH, .root = -1,
                     .type = PAR__BYTES};

  if (comm == NULL) {
    return PAR_EINVAL;
  }
  if (comm->ops != &par__mpi_ops) {
    return par__comm_fail(comm, PAR_EINVAL,
                          "a %s communicator has no end of a run to agree "
                          "on", comm->ops->backend);
  }
  comm->coll_seq++;
  comm->cur_op = PAR__MPI_OP_FINISH;
  comm->cur_seq = comm->coll_seq;
  comm->detail[0] = '\0';
  return comm->size > 1 ? par__mpi_begin(comm, &h, 0) : PAR_OK;
}
