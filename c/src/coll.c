/* coll.c — the public collectives: validation, numbering, dispatch.
 *
 * Each entry point counts the collective (so that frames and statements
 * can be matched), checks its arguments the same way on every process,
 * and hands it to the backend's native slot when there is one, or to the
 * generic version built from frames (coll-generic.c) otherwise. A group
 * of one always takes the generic version, where every collective is a
 * local copy.
 */
#include "comm-internal.h"

/* What a collective checks on entry, beyond counting itself. */
enum {
  NO_ROOT = -1, /* ROOT argument of begin(): the collective has none */
  UNTYPED = -1  /* TYPE argument of begin(): it moves bytes */
};

/* Start collective OP on COMM: count it, record it as the operation in
 * progress, clear the error detail, then check ROOT (unless NO_ROOT), TYPE
 * (unless UNTYPED) and, where this process needs them (NEED_COUNTS), that
 * COUNTS is given. The checks use only local arguments, which every
 * process passes alike in a correct program, so that they all fail here
 * together rather than some of them later, halfway through. A traced
 * collective's event starts here, and ends where its entry point returns
 * (PAR__TRACE_END), whatever happened in between. */
static int
begin(par_comm *comm, par_opkind op, int root, int type, int need_counts,
      const size_t *counts)
{
  comm->coll_seq++;
  PAR__TRACE_BEGIN(comm, op, root);
  comm->cur_op = op;
  comm->cur_seq = comm->coll_seq;
  comm->detail[0] = '\0';
  if (root != NO_ROOT && (root < 0 || root >= comm->size)) {
    return par__comm_fail(comm, PAR_ERANK, "root rank %d is not in 0..%d",
                          root, comm->size - 1);
  }
  if (type != UNTYPED && (unsigned) type >= PAR_DTYPE_COUNT) {
    return par__comm_fail(comm, PAR_EINVAL, "invalid element type %d", type);
  }
  if (need_counts && counts == NULL) {
    return par__comm_fail(comm, PAR_EINVAL, "%s without counts",
                          par_opkind_name(op));
  }
  return PAR_OK;
}

/* A reduction also checks its operator, on TYPE (which begin has
 * checked), before any message is sent. */
static int
begin_reduce(par_comm *comm, par_opkind kind, int root, par_dtype type,
             par_reduce_op op)
{
  int rc = begin(comm, kind, root, (int) type, 0, NULL);

  if (rc != PAR_OK) {
    return rc;
  }
  /* With no elements, par_reduce_apply only says whether OP is defined
   * on TYPE: the reduction loops are the one place that knows. */
  rc = par_reduce_apply(op, type, NULL, NULL, 0);
  if (rc == PAR_EINVAL) {
    return par__comm_fail(comm, rc, "invalid reduction operator %d",
                          (int) op);
  }
  if (rc != PAR_OK) {
    return par__comm_fail(comm, rc, "%s is not defined on %s (%s)",
                          par_reduce_op_name(op), par__kind_describe(type),
                          par_dtype_name(type));
  }
  return PAR_OK;
}

/* Sizes for traces: the N counts of COUNTS added up (0 if there are none),
 * and the bytes a scatter moved on this process. */
static uint64_t
sum(const size_t *counts, int n)
{
  uint64_t total = 0;

  for (int i = 0; counts != NULL && i < n; i++) {
    total += counts[i];
  }
  return total;
}

static uint64_t
scatter_bytes(par_comm *comm, int root, const size_t *counts,
              const par_msg *out, int rc)
{
  if (comm->rank == root) {
    return sum(counts, comm->size);
  }
  return rc == PAR_OK ? out->len : 0;
}

/* The implementation of SLOT for COMM: the backend's, or the generic one
 * when it has none or the group is a single process. */
#define IMPL(comm, slot)                                                    \
  ((comm)->size > 1 && (comm)->ops->slot != NULL ? (comm)->ops              \
                                                 : &par__generic_ops)

int
par_comm_barrier(par_comm *comm)
{
  /* A barrier has no argument to check. */
  (void) begin(comm, PAR_OPKIND_BARRIER, NO_ROOT, UNTYPED, 0, NULL);
  return PAR__TRACE_END(comm, IMPL(comm, barrier)->barrier(comm), 0);
}

int
par_comm_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
                     par_msg *out)
{
  int rc = begin(comm, PAR_OPKIND_BCAST, root, UNTYPED, 0, NULL);

  if (rc == PAR_OK) {
    rc = IMPL(comm, bcast_bytes)->bcast_bytes(comm, root, buf, len, out);
  }
  return PAR__TRACE_END(comm, rc,
                        comm->rank == root ? len
                        : rc == PAR_OK     ? out->len
                                           : 0);
}

int
par_comm_scatterv_bytes(par_comm *comm, int root, const void *buf,
                        const size_t *counts, par_msg *out)
{
  int rc = begin(comm, PAR_OPKIND_SCATTER, root, UNTYPED,
                 comm->rank == root, counts);

  if (rc == PAR_OK) {
    rc = IMPL(comm, scatterv_bytes)
        ->scatterv_bytes(comm, root, buf, counts, out);
  }
  return PAR__TRACE_END(comm, rc, scatter_bytes(comm, root, counts, out, rc));
}

int
par_comm_gatherv_bytes(par_comm *comm, int root, const void *buf, size_t len,
                       par_msg *out, size_t *counts)
{
  int rc = begin(comm, PAR_OPKIND_GATHER, root, UNTYPED, comm->rank == root,
                 counts);

  if (rc == PAR_OK) {
    rc = IMPL(comm, gatherv_bytes)
        ->gatherv_bytes(comm, root, buf, len, out, counts);
  }
  return PAR__TRACE_END(comm, rc,
                        comm->rank != root ? len
                        : rc == PAR_OK     ? out->len
                                           : 0);
}

int
par_comm_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                          par_msg *out, size_t *counts)
{
  int rc = begin(comm, PAR_OPKIND_ALLGATHER, NO_ROOT, UNTYPED, 1, counts);

  if (rc == PAR_OK) {
    rc = IMPL(comm, allgatherv_bytes)
        ->allgatherv_bytes(comm, buf, len, out, counts);
  }
  return PAR__TRACE_END(comm, rc, rc == PAR_OK ? out->len : 0);
}

int
par_comm_bcast(par_comm *comm, int root, void *buf, size_t count,
               par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_BCAST, root, (int) type, 0, NULL);

  if (rc == PAR_OK) {
    rc = IMPL(comm, bcast)->bcast(comm, root, buf, count, type);
  }
  return PAR__TRACE_END(comm, rc, count * par_dtype_size(type));
}

int
par_comm_scatterv(par_comm *comm, int root, const void *sendbuf,
                  const size_t *counts, void *recvbuf, size_t recvcount,
                  par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_SCATTER, root, (int) type,
                 comm->rank == root, counts);

  if (rc == PAR_OK) {
    rc = IMPL(comm, scatterv)
        ->scatterv(comm, root, sendbuf, counts, recvbuf, recvcount, type);
  }
  return PAR__TRACE_END(comm, rc,
                        par_dtype_size(type)
                            * (comm->rank == root ? sum(counts, comm->size)
                                                  : recvcount));
}

int
par_comm_gatherv(par_comm *comm, int root, const void *sendbuf,
                 size_t sendcount, void *recvbuf, const size_t *counts,
                 par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_GATHER, root, (int) type,
                 comm->rank == root, counts);

  if (rc == PAR_OK) {
    rc = IMPL(comm, gatherv)
        ->gatherv(comm, root, sendbuf, sendcount, recvbuf, counts, type);
  }
  return PAR__TRACE_END(comm, rc,
                        par_dtype_size(type)
                            * (comm->rank == root ? sum(counts, comm->size)
                                                  : sendcount));
}

int
par_comm_allgatherv(par_comm *comm, const void *sendbuf, size_t sendcount,
                    void *recvbuf, const size_t *counts, par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_ALLGATHER, NO_ROOT, (int) type, 1, counts);

  if (rc == PAR_OK) {
    rc = IMPL(comm, allgatherv)
        ->allgatherv(comm, sendbuf, sendcount, recvbuf, counts, type);
  }
  return PAR__TRACE_END(comm, rc,
                        par_dtype_size(type) * sum(counts, comm->size));
}

int
par_comm_reduce(par_comm *comm, int root, const void *sendbuf, void *recvbuf,
                size_t count, par_dtype type, par_reduce_op op)
{
  int rc = begin_reduce(comm, PAR_OPKIND_REDUCE, root, type, op);

  if (rc == PAR_OK) {
    rc = IMPL(comm, reduce)
        ->reduce(comm, root, sendbuf, recvbuf, count, type, op);
  }
  return PAR__TRACE_END(comm, rc, count * par_dtype_size(type));
}

int
par_comm_allreduce(par_comm *comm, const void *sendbuf, void *recvbuf,
                   size_t count, par_dtype type, par_reduce_op op)
{
  int rc = begin_reduce(comm, PAR_OPKIND_ALLREDUCE, NO_ROOT, type, op);

  if (rc == PAR_OK) {
    rc = IMPL(comm, allreduce)
        ->allreduce(comm, sendbuf, recvbuf, count, type, op);
  }
  return PAR__TRACE_END(comm, rc, count * par_dtype_size(type));
}
