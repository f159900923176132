/* mp-bcast.c — broadcasts of a forked group through its broadcast ring.
 *
 * The root writes the frame once into the one ring that every other
 * process reads with a head of its own, however many they are; a typed
 * broadcast lands straight in each receiver's buffer. The ring has one
 * producer at a time: the root claims it through WRITER (0, or 1 + the
 * root's rank), writes, and lets it go. Collectives run in the same order
 * everywhere, so the ring carries one sequence of frames whose producer
 * changes from one broadcast to the next, and a receiver that finds a
 * frame of another broadcast than its own knows that the processes are
 * out of step.
 *
 * Memory ordering. Claiming is a compare-and-swap of WRITER and letting
 * go a store of 0 to it, both sequentially consistent: the claim reads
 * the value that the previous root stored after its last tail, so the new
 * root sees that tail and writes after it. Moving bytes is mp-ring.c's.
 */
#include <stdio.h>

#include "mp-internal.h"

/* Root: claim the ring, write the frame HDR + LEN bytes of BUF once, let
 * the ring go. A failure after the claim leaves the ring unusable for
 * this process (the receivers may have read part of the frame). */
static int
bc_root(mp_comm *m, uint32_t type, const void *buf, size_t len)
{
  par_comm *comm = m->comm;
  mp_bcast *bc = &m->g->ctl->bc;
  par__hdr hdr = {PAR_OPKIND_BCAST, comm->coll_seq, type, (uint32_t) m->rank,
                  len};
  uint32_t expected = 0;
  mp_end e;
  int rc;

  par__mp_end_open(m, &e, MP_WAIT_BC_SEND, -1);
  rc = par__mp_end_usable(m, &e);
  if (rc != PAR_OK) {
    return rc;
  }
  /* The previous root may still be letting go of the ring. */
  while (!atomic_compare_exchange_strong(&bc->writer, &expected,
                                         (uint32_t) m->rank + 1)) {
    rc = par__mp_wait(m, MP_WAIT_BC_CLAIM, (int) expected - 1, 0);
    if (rc != PAR_OK) {
      return rc;
    }
    expected = 0;
  }
  /* Now that the ring is ours, its tail is where the last root left it. */
  par__mp_end_open(m, &e, MP_WAIT_BC_SEND, -1);
  rc = par__mp_write_frame(m, &e, &hdr, buf, len);
  if (rc != PAR_OK) {
    m->bc.broken = 1;
  }
  atomic_store(&bc->writer, 0);
  par__mp_wake_if_sleeping(&bc->claim_sleeping, &bc->writer);
  return rc;
}

/* Receiver: open the ring at E, read the next frame's header into HDR and
 * check it against this collective: a broadcast from ROOT of this
 * collective's number and, unless TYPE is PAR__BYTES, exactly LEN bytes of
 * TYPE. A frame that fails the check is left unread, and the ring with it
 * (a process that is out of step cannot know where the next frame for it
 * starts). */
static int
bc_leaf_header(mp_comm *m, mp_end *e, int root, uint32_t type, size_t len,
               par__hdr *hdr)
{
  par_comm *comm = m->comm;
  par__op mine = {PAR_OPKIND_BCAST, comm->coll_seq, PAR__PEER_NONE};
  par__op theirs;
  char a[64], b[64], expecting[80];
  int rc;

  par__mp_end_open(m, e, MP_WAIT_BC_RECV, root);
  rc = par__mp_read_header(m, e, hdr);
  if (rc != PAR_OK) {
    return rc;
  }
  theirs = (par__op){hdr->op, hdr->seq, PAR__PEER_NONE};
  if (hdr->op != PAR_OPKIND_BCAST || hdr->seq != comm->coll_seq) {
    par__mp_end_publish(m, e); /* the header is read all the same */
    m->bc.broken = 1;
    return par__comm_mismatch(comm, PAR_EMISMATCH, &mine, NULL,
                              (int) hdr->from, "sent", &theirs, NULL);
  }
  if (type != PAR__BYTES && (hdr->aux != type || hdr->len != len)) {
    par__mp_end_publish(m, e);
    m->bc.broken = 1;
    snprintf(expecting, sizeof expecting, "expecting %s",
             par__amount_describe(len, type, a, sizeof a));
    return par__comm_mismatch(comm, PAR_ESIZE, &mine, expecting,
                              (int) hdr->from, "sent", NULL,
                              par__amount_describe(hdr->len, hdr->aux, b,
                                                   sizeof b));
  }
  return PAR_OK;
}

int
par__mp_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
                    par_msg *out)
{
  mp_comm *m = comm->impl;
  par__hdr hdr;
  mp_end e;
  int rc;

  if (m->rank == root) {
    rc = bc_root(m, PAR__BYTES, buf, len);
    if (rc == PAR_OK) {
      par__msg_borrow(out, buf, len);
    }
    return rc;
  }
  rc = bc_leaf_header(m, &e, root, PAR__BYTES, 0, &hdr);
  return rc != PAR_OK ? rc : par__mp_read_payload(m, &e, &hdr, out);
}

int
par__mp_bcast(par_comm *comm, int root, void *buf, size_t count,
              par_dtype type)
{
  mp_comm *m = comm->impl;
  size_t len = count * par_dtype_size(type);
  par__hdr hdr;
  mp_end e;
  int rc;

  if (m->rank == root) {
    return bc_root(m, (uint32_t) type, buf, len);
  }
  rc = bc_leaf_header(m, &e, root, (uint32_t) type, len, &hdr);
  if (rc == PAR_OK) {
    rc = par__mp_read(m, &e, buf, len);
  }
  return rc;
}
