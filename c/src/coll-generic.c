/* coll-generic.c — collectives built from a backend's framed messages.
 *
 * What a backend without native collectives gets (and every group of one
 * process): each collective is made of frames sent with the backend's
 * send and received with its recv, stamped with the operation and the
 * collective's number, so that a process that receives a frame of another
 * operation reports the mismatch instead of misreading it. The algorithms
 * are linear (the root talks to every process in turn): groups on one
 * machine are small, and a backend that needs better scaling brings its
 * own.
 *
 * Every function here is called by the public wrapper in coll.c, which has
 * validated the arguments and counted the collective in COMM->coll_seq.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm-internal.h"
#include "large-alloc.h"

/* --- Frames -------------------------------------------------------------- */

static int
send_frame(par_comm *comm, int dest, par_opkind op, uint32_t type,
           const void *buf, size_t len)
{
  par__hdr hdr = {op, comm->coll_seq, type, 0, len};

  return comm->ops->send(comm, dest, &hdr, buf, len);
}

/* Receive the next frame from SOURCE into HDR and OUT, and check that it
 * belongs to operation OP of the current collective. On failure OUT is
 * left empty. */
static int
expect_frame(par_comm *comm, int source, par_opkind op, par__hdr *hdr,
             par_msg *out)
{
  int rc = comm->ops->recv(comm, source, hdr, out);

  if (rc != PAR_OK) {
    return rc;
  }
  if (hdr->op != (uint32_t) op || hdr->seq != comm->coll_seq) {
    par__op mine = {op, comm->coll_seq, PAR__PEER_NONE};
    par__op theirs = {hdr->op, hdr->seq, PAR__PEER_NONE};

    par_msg_release(out);
    return par__comm_mismatch(comm, PAR_EMISMATCH, &mine, NULL, source,
                              "sent", &theirs, NULL);
  }
  return PAR_OK;
}

/* The AUX that frames of element type TYPE carry: the type itself, or,
 * for the frames of a reduction, the type in the low 16 bits and 1 + the
 * reduction operator above them (see reduce_aux), so that processes that
 * reduce with different operators find out instead of mixing them. */
#define AUX_TYPE(aux) ((aux) & 0xffffu)
#define AUX_OP(aux) ((aux) >> 16)

static uint32_t
reduce_aux(par_dtype type, par_reduce_op rop)
{
  return (uint32_t) type | ((uint32_t) rop + 1) << 16;
}

/* Record that SOURCE sent frames of operation OP stamped with the
 * reduction operator of THEIRS while this process expects that of MINE
 * (both AUX values), and return PAR_EMISMATCH. */
static int
operator_mismatch(par_comm *comm, int source, par_opkind op, uint32_t mine,
                  uint32_t theirs)
{
  par__op me = {op, comm->coll_seq, PAR__PEER_NONE};
  char a[48], b[48];

  snprintf(a, sizeof a, "with operator %s",
           AUX_OP(mine) == 0 ? "none"
                             : par_reduce_op_name((par_reduce_op)
                                                  (AUX_OP(mine) - 1)));
  if (AUX_OP(theirs) == 0 || AUX_OP(theirs) > PAR_REDUCE_COUNT) {
    snprintf(b, sizeof b, "with no reduction operator");
  } else {
    snprintf(b, sizeof b, "with operator %s",
             par_reduce_op_name((par_reduce_op) (AUX_OP(theirs) - 1)));
  }
  return par__comm_mismatch(comm, PAR_EMISMATCH, &me, a, source, NULL, NULL,
                            b);
}

/* Receive from SOURCE a frame of operation OP holding exactly COUNT
 * elements of TYPE, into BUF; AUX is what the frame must carry (TYPE, or
 * reduce_aux for a reduction). */
static int
expect_typed_aux(par_comm *comm, int source, par_opkind op, void *buf,
                 size_t count, par_dtype type, uint32_t aux)
{
  size_t bytes = count * par_dtype_size(type);
  par__hdr hdr;
  par_msg msg = PAR_MSG_INIT;
  int rc = expect_frame(comm, source, op, &hdr, &msg);

  if (rc != PAR_OK) {
    return rc;
  }
  if (AUX_OP(hdr.aux) != AUX_OP(aux)) {
    par_msg_release(&msg);
    return operator_mismatch(comm, source, op, aux, hdr.aux);
  }
  if (AUX_TYPE(hdr.aux) != (uint32_t) type || msg.len != bytes) {
    par__op mine = {op, comm->coll_seq, PAR__PEER_NONE};
    char a[64], b[64], expecting[80];

    snprintf(expecting, sizeof expecting, "expecting %s",
             par__amount_describe(bytes, type, a, sizeof a));
    rc = par__comm_mismatch(comm, PAR_ESIZE, &mine, expecting, source,
                            "sent", NULL,
                            par__amount_describe(msg.len,
                                                 AUX_TYPE(hdr.aux), b,
                                                 sizeof b));
    par_msg_release(&msg);
    return rc;
  }
  if (bytes > 0) {
    memcpy(buf, msg.data, bytes);
  }
  par_msg_release(&msg);
  return PAR_OK;
}

static int
expect_typed(par_comm *comm, int source, par_opkind op, void *buf,
             size_t count, par_dtype type)
{
  return expect_typed_aux(comm, source, op, buf, count, type,
                          (uint32_t) type);
}

static int
no_memory(par_comm *comm, size_t bytes, par_opkind op)
{
  return par__comm_fail(comm, PAR_ENOMEM,
                        "rank %d has no memory for %zu bytes in %s",
                        comm->rank, bytes, par_opkind_name(op));
}

/* --- Barrier and broadcasts --------------------------------------------- */

/* Everyone reports to rank 0, which answers everyone once all have. */
static int
generic_barrier(par_comm *comm)
{
  par__hdr hdr;
  par_msg msg = PAR_MSG_INIT;
  int rc = PAR_OK;

  if (comm->rank != 0) {
    rc = send_frame(comm, 0, PAR_OPKIND_BARRIER, PAR__BYTES, NULL, 0);
    if (rc == PAR_OK) {
      rc = expect_frame(comm, 0, PAR_OPKIND_BARRIER, &hdr, &msg);
      par_msg_release(&msg);
    }
    return rc;
  }
  for (int r = 1; r < comm->size && rc == PAR_OK; r++) {
    rc = expect_frame(comm, r, PAR_OPKIND_BARRIER, &hdr, &msg);
    par_msg_release(&msg);
  }
  for (int r = 1; r < comm->size && rc == PAR_OK; r++) {
    rc = send_frame(comm, r, PAR_OPKIND_BARRIER, PAR__BYTES, NULL, 0);
  }
  return rc;
}

/* ROOT sends LEN bytes of BUF, of element type TYPE, to every other
 * process as a frame of operation OP. */
static int
send_to_all(par_comm *comm, par_opkind op, int root, uint32_t type,
            const void *buf, size_t len)
{
  for (int r = 0; r < comm->size; r++) {
    if (r != root) {
      int rc = send_frame(comm, r, op, type, buf, len);

      if (rc != PAR_OK) {
        return rc;
      }
    }
  }
  return PAR_OK;
}

/* Broadcast LEN bytes of ROOT's BUF as operation OP: ROOT's *OUT borrows
 * BUF, the others' own a copy. */
static int
bcast_bytes_as(par_comm *comm, par_opkind op, int root, const void *buf,
               size_t len, par_msg *out)
{
  par__hdr hdr;
  int rc;

  if (comm->rank != root) {
    return expect_frame(comm, root, op, &hdr, out);
  }
  rc = send_to_all(comm, op, root, PAR__BYTES, buf, len);
  if (rc == PAR_OK) {
    par__msg_borrow(out, buf, len);
  }
  return rc;
}

static int
generic_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
                    par_msg *out)
{
  return bcast_bytes_as(comm, PAR_OPKIND_BCAST, root, buf, len, out);
}

/* Broadcast COUNT elements of TYPE from ROOT's BUF into the others' BUF,
 * as operation OP; a receiver checks that type and count agree. */
static int
bcast_typed_aux(par_comm *comm, par_opkind op, int root, void *buf,
                size_t count, par_dtype type, uint32_t aux)
{
  if (comm->rank != root) {
    return expect_typed_aux(comm, root, op, buf, count, type, aux);
  }
  return send_to_all(comm, op, root, aux, buf, count * par_dtype_size(type));
}

static int
bcast_typed_as(par_comm *comm, par_opkind op, int root, void *buf,
               size_t count, par_dtype type)
{
  return bcast_typed_aux(comm, op, root, buf, count, type, (uint32_t) type);
}

static int
generic_bcast(par_comm *comm, int root, void *buf, size_t count,
              par_dtype type)
{
  return bcast_typed_as(comm, PAR_OPKIND_BCAST, root, buf, count, type);
}

/* --- Scatter ------------------------------------------------------------- */

/* ROOT sends chunk R of BUF to rank R and keeps a view of its own. */
static int
generic_scatterv_bytes(par_comm *comm, int root, const void *buf,
                       const size_t *counts, par_msg *out)
{
  const char *p = buf;
  par__hdr hdr;

  if (comm->rank != root) {
    return expect_frame(comm, root, PAR_OPKIND_SCATTER, &hdr, out);
  }
  for (int r = 0; r < comm->size; p += counts[r], r++) {
    if (r == root) {
      par__msg_borrow(out, p, counts[r]);
    } else {
      int rc = send_frame(comm, r, PAR_OPKIND_SCATTER, PAR__BYTES, p,
                          counts[r]);

      if (rc != PAR_OK) {
        return rc;
      }
    }
  }
  return PAR_OK;
}

/* ROOT sends chunk R of SENDBUF to rank R, and copies its own into
 * RECVBUF after checking that it is RECVCOUNT elements. */
static int
generic_scatterv(par_comm *comm, int root, const void *sendbuf,
                 const size_t *counts, void *recvbuf, size_t recvcount,
                 par_dtype type)
{
  size_t esize = par_dtype_size(type);
  const char *p = sendbuf;

  if (comm->rank != root) {
    return expect_typed(comm, root, PAR_OPKIND_SCATTER, recvbuf, recvcount,
                        type);
  }
  for (int r = 0; r < comm->size; p += counts[r] * esize, r++) {
    if (r == root && counts[r] != recvcount) {
      return par__comm_fail(comm, PAR_ESIZE,
                            "root %d sends itself %zu elements but "
                            "expects %zu",
                            root, counts[r], recvcount);
    }
    if (r == root && recvcount > 0) {
      memcpy(recvbuf, p, recvcount * esize);
    } else if (r != root) {
      int rc = send_frame(comm, r, PAR_OPKIND_SCATTER, (uint32_t) type, p,
                          counts[r] * esize);

      if (rc != PAR_OK) {
        return rc;
      }
    }
  }
  return PAR_OK;
}

/* --- Gather -------------------------------------------------------------- */

/* Gather every contribution to ROOT as one malloc'ed block in *OUT, their
 * lengths in COUNTS. Elsewhere only send. */
static int
gather_bytes_as(par_comm *comm, par_opkind op, int root, const void *buf,
                size_t len, par_msg *out, size_t *counts)
{
  par_msg *parts;
  size_t total = 0;
  char *data;
  int rc = PAR_OK, received = 0;

  if (comm->rank != root) {
    return send_frame(comm, root, op, PAR__BYTES, buf, len);
  }
  parts = calloc((size_t) comm->size, sizeof *parts);
  if (parts == NULL) {
    return no_memory(comm, (size_t) comm->size * sizeof *parts, op);
  }
  for (; received < comm->size; received++) {
    int r = received;
    par__hdr hdr;

    if (r == root) {
      par__msg_borrow(&parts[r], buf, len);
    } else {
      rc = expect_frame(comm, r, op, &hdr, &parts[r]);
      if (rc != PAR_OK) {
        goto done;
      }
    }
    total += parts[r].len;
  }
  /* One extra byte so that an all-empty gather still owns a block. */
  data = par__malloc_large(total + 1);
  if (data == NULL) {
    rc = no_memory(comm, total, op);
    goto done;
  }
  par__msg_take_malloc(out, data, total);
  for (int r = 0; r < comm->size; data += parts[r].len, r++) {
    if (parts[r].len > 0) {
      memcpy(data, parts[r].data, parts[r].len);
    }
    counts[r] = parts[r].len;
  }
done:
  for (int r = 0; r < received; r++) {
    par_msg_release(&parts[r]);
  }
  free(parts);
  return rc;
}

static int
generic_gatherv_bytes(par_comm *comm, int root, const void *buf, size_t len,
                      par_msg *out, size_t *counts)
{
  return gather_bytes_as(comm, PAR_OPKIND_GATHER, root, buf, len, out,
                         counts);
}

/* Gather COUNTS[r] elements from every rank r into ROOT's RECVBUF, in rank
 * order. */
static int
gather_typed_as(par_comm *comm, par_opkind op, int root, const void *sendbuf,
                size_t sendcount, void *recvbuf, const size_t *counts,
                par_dtype type)
{
  size_t esize = par_dtype_size(type);
  char *p = recvbuf;

  if (comm->rank != root) {
    return send_frame(comm, root, op, (uint32_t) type, sendbuf,
                      sendcount * esize);
  }
  for (int r = 0; r < comm->size; p += counts[r] * esize, r++) {
    int rc = PAR_OK;

    if (r == root && counts[r] != sendcount) {
      return par__comm_fail(comm, PAR_ESIZE,
                            "root %d sends %zu elements but expects %zu "
                            "from itself",
                            root, sendcount, counts[r]);
    }
    if (r == root && sendcount > 0) {
      memcpy(p, sendbuf, sendcount * esize);
    } else if (r != root) {
      rc = expect_typed(comm, r, op, p, counts[r], type);
    }
    if (rc != PAR_OK) {
      return rc;
    }
  }
  return PAR_OK;
}

static int
generic_gatherv(par_comm *comm, int root, const void *sendbuf,
                size_t sendcount, void *recvbuf, const size_t *counts,
                par_dtype type)
{
  return gather_typed_as(comm, PAR_OPKIND_GATHER, root, sendbuf, sendcount,
                         recvbuf, counts, type);
}

/* --- Allgather ----------------------------------------------------------- */

/* Rank 0 gathers, then broadcasts one frame: the SIZE counts as uint64,
 * then the data, so that the receivers can split it. */
static int
generic_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                         par_msg *out, size_t *counts)
{
  size_t head = (size_t) comm->size * sizeof(uint64_t), total = 0;
  par_msg part = PAR_MSG_INIT, all = PAR_MSG_INIT;
  char *frame;
  int rc, wrapped = 0;

  rc = gather_bytes_as(comm, PAR_OPKIND_ALLGATHER, 0, buf, len, &part,
                       counts);
  if (rc != PAR_OK) {
    return rc;
  }
  if (comm->size == 1) {
    *out = part;
    return PAR_OK;
  }
  if (comm->rank == 0) {
    total = part.len;
    frame = par__malloc_large(head + total + 1);
    if (frame == NULL) {
      par_msg_release(&part);
      return no_memory(comm, head + total, PAR_OPKIND_ALLGATHER);
    }
    for (int r = 0; r < comm->size; r++) {
      uint64_t n = counts[r];

      memcpy(frame + (size_t) r * sizeof n, &n, sizeof n);
    }
    memcpy(frame + head, part.data, total);
    par_msg_release(&part);
    rc = bcast_bytes_as(comm, PAR_OPKIND_ALLGATHER, 0, frame, head + total,
                        &all);
    if (rc != PAR_OK) {
      free(frame);
      return rc;
    }
    /* Rank 0 keeps the block: the data moves down over the counts. */
    memmove(frame, frame + head, total);
    par__msg_take_malloc(out, frame, total);
    return PAR_OK;
  }
  rc = bcast_bytes_as(comm, PAR_OPKIND_ALLGATHER, 0, NULL, 0, &all);
  for (int r = 0; rc == PAR_OK && all.len >= head && r < comm->size; r++) {
    uint64_t n;

    memcpy(&n, (const char *) all.data + (size_t) r * sizeof n, sizeof n);
    counts[r] = (size_t) n;
    /* Counts that wrap around could add up to the length and send the
     * caller's split of the data far out of it. */
    wrapped |= __builtin_add_overflow(total, counts[r], &total);
  }
  if (rc == PAR_OK
      && (all.len < head || wrapped || total != all.len - head)) {
    rc = par__comm_fail(comm, PAR_EMALFORMED,
                        "rank %d got an allgather frame of %zu bytes that "
                        "does not hold the %d counts it announces",
                        comm->rank, all.len, comm->size);
  }
  frame = rc == PAR_OK ? par__malloc_large(total + 1) : NULL;
  if (rc == PAR_OK && frame == NULL) {
    rc = no_memory(comm, total, PAR_OPKIND_ALLGATHER);
  }
  if (rc == PAR_OK) {
    memcpy(frame, (const char *) all.data + head, total);
    par__msg_take_malloc(out, frame, total);
  }
  par_msg_release(&all);
  return rc;
}

/* Rank 0 gathers into its RECVBUF, then broadcasts all of it into the
 * others', whose COUNTS lay it out the same way. */
static int
generic_allgatherv(par_comm *comm, const void *sendbuf, size_t sendcount,
                   void *recvbuf, const size_t *counts, par_dtype type)
{
  size_t total = 0;
  int rc;

  rc = gather_typed_as(comm, PAR_OPKIND_ALLGATHER, 0, sendbuf, sendcount,
                       recvbuf, counts, type);
  if (rc != PAR_OK) {
    return rc;
  }
  for (int r = 0; r < comm->size; r++) {
    total += counts[r];
  }
  return bcast_typed_as(comm, PAR_OPKIND_ALLGATHER, 0, recvbuf, total, type);
}

/* --- Reductions ---------------------------------------------------------- */

/* Fold every process's SENDBUF into ROOT's RECVBUF in rank order,
 * ((b0 op b1) op b2) ..., which is what MPI guarantees too. The caller
 * has checked that ROP is defined on TYPE. Every frame carries ROP, which
 * the receiver checks against its own. ROOT may reduce in place
 * (SENDBUF == RECVBUF). */
static int
reduce_as(par_comm *comm, par_opkind op, int root, const void *sendbuf,
          void *recvbuf, size_t count, par_dtype type, par_reduce_op rop)
{
  size_t bytes = count * par_dtype_size(type);
  uint32_t aux = reduce_aux(type, rop);
  char *tmp;
  int rc = PAR_OK;

  if (comm->rank != root) {
    return send_frame(comm, root, op, aux, sendbuf, bytes);
  }
  /* TMP receives the contributions after rank 0's, which goes straight
   * into RECVBUF; a root other than 0 that reduces in place keeps its own
   * in the second half, before rank 0's overwrites it. */
  tmp = par__malloc_large(2 * bytes + 1);
  if (tmp == NULL) {
    return no_memory(comm, 2 * bytes, op);
  }
  if (root != 0 && sendbuf == recvbuf && bytes > 0) {
    memcpy(tmp + bytes, sendbuf, bytes);
    sendbuf = tmp + bytes;
  }
  for (int r = 0; r < comm->size && rc == PAR_OK; r++) {
    const void *part = r == root ? sendbuf : r == 0 ? recvbuf : tmp;

    if (r != root) {
      rc = expect_typed_aux(comm, r, op, (void *) part, count, type, aux);
    }
    if (rc == PAR_OK && r == 0 && part != recvbuf && bytes > 0) {
      memcpy(recvbuf, part, bytes);
    } else if (rc == PAR_OK && r > 0) {
      (void) par_reduce_apply(rop, type, recvbuf, part, count);
    }
  }
  free(tmp);
  return rc;
}

static int
generic_reduce(par_comm *comm, int root, const void *sendbuf, void *recvbuf,
               size_t count, par_dtype type, par_reduce_op op)
{
  return reduce_as(comm, PAR_OPKIND_REDUCE, root, sendbuf, recvbuf, count,
                   type, op);
}

static int
generic_allreduce(par_comm *comm, const void *sendbuf, void *recvbuf,
                  size_t count, par_dtype type, par_reduce_op op)
{
  int rc = reduce_as(comm, PAR_OPKIND_ALLREDUCE, 0, sendbuf, recvbuf, count,
                     type, op);

  if (rc != PAR_OK) {
    return rc;
  }
  return bcast_typed_aux(comm, PAR_OPKIND_ALLREDUCE, 0, recvbuf, count, type,
                         reduce_aux(type, op));
}

const par__comm_ops par__generic_ops = {
    .backend = "generic",
    .barrier = generic_barrier,
    .bcast_bytes = generic_bcast_bytes,
    .scatterv_bytes = generic_scatterv_bytes,
    .gatherv_bytes = generic_gatherv_bytes,
    .allgatherv_bytes = generic_allgatherv_bytes,
    .bcast = generic_bcast,
    .scatterv = generic_scatterv,
    .gatherv = generic_gatherv,
    .allgatherv = generic_allgatherv,
    .reduce = generic_reduce,
    .allreduce = generic_allreduce,
};
