/* mp-ring.c — the rings of a forked group, its pairwise channels, and
 * what is left in the rings after a run.
 *
 * Every ring, the pairwise ones and the broadcast ring alike, is moved
 * through by the code here. A process's end of a ring is an mp_end: its
 * kind (the wait kind of a process waiting there: SEND and RECV at the two
 * ends of a pairwise ring, BC_SEND at the broadcast root's, BC_RECV at
 * every other process's) and a cursor. The kind decides only which
 * counters of shared memory the end reads and writes and whom it wakes;
 * reserving room, copying across the wrap and publishing are the same
 * code for all four.
 *
 * Frames (a par__hdr, then the payload) stream through a ring as bytes: a
 * frame never has to fit in it. One that fits is published with one store
 * of the tail; a larger one goes in pieces of at most a quarter of the
 * ring, so that the consumer copies one out while the producer copies the
 * next in. The receiver of a pairwise message copies its payload into a
 * malloc'ed block: a view into the ring would stall the channel until the
 * message is released, and for the small messages where a view would save
 * anything, malloc costs tens of nanoseconds. A large payload's block is
 * one of par__malloc_large, whose fresh pages fault in huge pages.
 *
 * Invariants, checked by assert() where this process owns the end:
 *   - a ring's size is a power of two and its bytes start on a cache line;
 *   - 0 <= TAIL - HEAD <= size, in 32-bit modular arithmetic, which holds
 *     across the wrap of the counters (they start just below it, see
 *     MP_RING_ORIGIN, so that every group crosses it early).
 *
 * The arithmetic of counters that waits spin on (par__mp_room and the
 * functions under it) is inline in mp-internal.h, so that a spinning
 * process notices new bytes within a loop of a few instructions.
 *
 * Memory ordering. The producer copies bytes in, then stores the tail
 * (release); the consumer loads the tail (acquire), then copies the bytes
 * out, then stores its head (release); the producer loads that head
 * (acquire) before it writes over those bytes again. So every copy happens
 * after the other side is done with the bytes, whatever the processors
 * reorder. Waking the other side after a store is mp-wait.c's, and is
 * ordered less strictly, on purpose (see there).
 */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "large-alloc.h"
#include "mp-internal.h"

#define HDR_BYTES ((uint32_t) sizeof(par__hdr))

/* --- Ends ----------------------------------------------------------------- */

/* Point E at the bytes of the ring that end KIND of process WHO is on. */
static void
end_init(par_mp_group *g, mp_end *e, int who, int kind, int peer,
         mp_cursor *cur)
{
  e->kind = kind;
  e->peer = peer;
  e->cur = cur;
  e->size = par__mp_ring_size(g, kind);
  e->shown = cur->pos;
  if (kind == MP_WAIT_SEND) {
    e->data = par__mp_ring_data(g, who, peer);
  } else if (kind == MP_WAIT_RECV) {
    e->data = par__mp_ring_data(g, peer, who);
  } else {
    e->data = g->bdata;
  }
  assert(e->size > 0 && (e->size & (e->size - 1)) == 0);
  assert((uintptr_t) e->data % MP_CACHELINE == 0);
}

void
par__mp_end_open(mp_comm *m, mp_end *e, int kind, int peer)
{
  par_mp_group *g = m->g;

  if (kind == MP_WAIT_SEND || kind == MP_WAIT_RECV) {
    end_init(g, e, m->rank, kind, peer,
             kind == MP_WAIT_SEND ? &m->out[peer] : &m->in[peer]);
    return;
  }
  /* The broadcast ring's producer changes from one broadcast to the next,
   * so its counters are read afresh each time. */
  m->bc.pos = atomic_load(par__mp_own_counter(g, m->rank, kind, peer));
  m->bc.seen = par__mp_other_counter(g, m->rank, kind, peer);
  end_init(g, e, m->rank, kind, peer, &m->bc);
}

/* Room at E as its cursor knows it: no shared memory is read. */
static uint32_t
room(const mp_end *e)
{
  const mp_cursor *c = e->cur;

  /* TAIL - HEAD is in 0..SIZE: the producer never writes past the last
   * head it saw plus SIZE, and the consumer never reads past the last tail
   * it saw. Each process's own counter is exact, so these hold here
   * whatever the other side does meanwhile. */
  assert(par__mp_is_producer(e->kind) ? c->pos - c->seen <= e->size
                              : c->seen - c->pos <= e->size);
  return par__mp_room_between(e->kind, e->size, c->pos, c->seen);
}

/* Whether E has NEED bytes of room, reading the other end's counter again
 * if the cursor's last reading shows too few. */
static int
ready(mp_comm *m, mp_end *e, uint32_t need)
{
  if (room(e) >= need) {
    return 1;
  }
  e->cur->seen = par__mp_other_counter(m->g, m->rank, e->kind, e->peer);
  return room(e) >= need;
}

/* Wait until E has NEED bytes of room (NEED <= the ring's size). */
static int
reserve(mp_comm *m, mp_end *e, uint32_t need)
{
  int rc;

  assert(need <= e->size);
  if (ready(m, e, need)) {
    return PAR_OK;
  }
  /* What this end has done must be visible before it waits: the other
   * end may be waiting for it, and deadlock detection reads it. */
  par__mp_end_publish(m, e);
  rc = par__mp_wait(m, e->kind, e->peer, need);
  if (rc == PAR_OK) {
    e->cur->seen = par__mp_other_counter(m->g, m->rank, e->kind, e->peer);
  }
  return rc;
}

/* Copy N bytes (N <= the room) between BUF and the ring at the cursor, in
 * the direction of E, and move the cursor past them. A consumer with BUF
 * NULL drops the bytes. Nothing is published yet. */
static void
copy(mp_end *e, void *buf, size_t n)
{
  uint32_t mask = e->size - 1;
  size_t off = e->cur->pos & mask, first = (size_t) mask + 1 - off;

  if (first > n) {
    first = n;
  }
  if (par__mp_is_producer(e->kind) && n > 0) {
    memcpy(e->data + off, buf, first);
    memcpy(e->data, (const unsigned char *) buf + first, n - first);
  } else if (buf != NULL && n > 0) {
    memcpy(buf, e->data + off, first);
    memcpy((unsigned char *) buf + first, e->data, n - first);
  }
  e->cur->pos += (uint32_t) n;
}

/* Make the cursor's position visible to the other end (a release store),
 * and wake it if it sleeps. A broadcast consumer wakes the root through a
 * counter of its own (PROGRESS), since the root waits on every head at
 * once. The readers of a small frame publish once, after its payload. */
void
par__mp_end_publish(mp_comm *m, mp_end *e)
{
  par_mp_group *g = m->g;
  mp_bcast *bc = &g->ctl->bc;
  mp_ring *r;

  if (e->shown == e->cur->pos) {
    return;
  }
  e->shown = e->cur->pos;
  if (e->kind == MP_WAIT_BC_SEND) {
    /* The root's own head follows the tail, so that it never counts as a
     * consumer that lags; first, so that it never seems to, even for a
     * moment. */
    atomic_store_explicit(&g->ctl->procs[m->rank].bc_head, e->cur->pos,
                          memory_order_release);
  }
  atomic_store_explicit(par__mp_own_counter(g, m->rank, e->kind, e->peer),
                        e->cur->pos, memory_order_release);
  switch (e->kind) {
  case MP_WAIT_SEND:
    r = par__mp_ring(g, m->rank, e->peer);
    par__mp_wake_if_sleeping(&r->cons_sleeping, &r->tail);
    break;
  case MP_WAIT_RECV:
    r = par__mp_ring(g, e->peer, m->rank);
    par__mp_wake_if_sleeping(&r->prod_sleeping, &r->head);
    break;
  case MP_WAIT_BC_SEND:
    par__mp_wake_if_sleeping(&bc->cons_sleeping, &bc->tail);
    break;
  default:
    if (atomic_load(&bc->prod_sleeping) != 0) {
      atomic_fetch_add(&bc->progress, 1);
      par__mp_futex_wake(&bc->progress, INT_MAX);
    }
    break;
  }
}

/* Move N bytes between BUF and the ring at E, piece by piece, waiting for
 * room as needed; *MOVED counts the bytes that went through. A producer's
 * pieces are at most a quarter of the ring; a consumer takes whatever is
 * there. */
static int
stream(mp_comm *m, mp_end *e, void *buf, size_t n, size_t *moved)
{
  int producer = par__mp_is_producer(e->kind);
  uint32_t piece_max = producer ? e->size / 4 : e->size;
  unsigned char *p = buf;

  while (n > 0) {
    uint32_t want = n < piece_max ? (uint32_t) n : piece_max;
    uint32_t piece;
    int rc = reserve(m, e, producer ? want : 1);

    if (rc != PAR_OK) {
      return rc;
    }
    piece = room(e) < want ? room(e) : want;
    copy(e, p, piece);
    par__mp_end_publish(m, e);
    if (p != NULL) {
      p += piece;
    }
    n -= piece;
    *moved += piece;
  }
  return PAR_OK;
}

int
par__mp_end_usable(mp_comm *m, const mp_end *e)
{
  if (!e->cur->broken) {
    return PAR_OK;
  }
  if (e->kind == MP_WAIT_BC_SEND || e->kind == MP_WAIT_BC_RECV) {
    return par__comm_fail(m->comm, PAR_EABORTED,
                          "an earlier broadcast on rank %d stopped "
                          "half-way",
                          m->rank);
  }
  return par__comm_fail(m->comm, PAR_EABORTED,
                        "the channel between ranks %d and %d was left "
                        "half-way through a message by an earlier failure",
                        m->rank, e->peer);
}

int
par__mp_write_frame(mp_comm *m, mp_end *e, const par__hdr *hdr,
                    const void *buf, size_t len)
{
  size_t moved = 0;
  int rc;

  if (e->cur->broken) {
    return par__mp_end_usable(m, e);
  }
  if (len <= e->size - HDR_BYTES) {
    rc = reserve(m, e, HDR_BYTES + (uint32_t) len);
    if (rc == PAR_OK) {
      copy(e, (void *) hdr, HDR_BYTES);
      copy(e, (void *) buf, len);
      par__mp_end_publish(m, e);
    }
    return rc;
  }
  rc = stream(m, e, (void *) hdr, HDR_BYTES, &moved);
  if (rc == PAR_OK) {
    rc = stream(m, e, (void *) buf, len, &moved);
  }
  if (rc != PAR_OK && moved > 0) {
    e->cur->broken = 1;
  }
  return rc;
}

int
par__mp_read_header(mp_comm *m, mp_end *e, par__hdr *hdr)
{
  int rc;

  if (e->cur->broken) {
    return par__mp_end_usable(m, e);
  }
  rc = reserve(m, e, HDR_BYTES);
  if (rc == PAR_OK) {
    copy(e, hdr, HDR_BYTES); /* published with the payload */
  }
  return rc;
}

int
par__mp_read(mp_comm *m, mp_end *e, void *buf, size_t n)
{
  size_t moved = 0;
  int rc = stream(m, e, buf, n, &moved);

  if (rc != PAR_OK) {
    e->cur->broken = 1;
  }
  par__mp_end_publish(m, e);
  return rc;
}

int
par__mp_read_payload(mp_comm *m, mp_end *e, const par__hdr *hdr,
                     par_msg *out)
{
  void *buf = NULL;
  int rc;

  if (hdr->len > SIZE_MAX / 2) {
    e->cur->broken = 1;
    return par__comm_fail(m->comm, PAR_EMALFORMED,
                          "rank %d got a frame of %llu bytes from rank %d",
                          m->rank, (unsigned long long) hdr->len,
                          (int) hdr->from);
  }
  if (hdr->len > 0 && (buf = par__malloc_large((size_t) hdr->len)) == NULL) {
    rc = par__mp_read(m, e, NULL, (size_t) hdr->len);
    return rc != PAR_OK ? rc
                        : par__comm_fail(m->comm, PAR_ENOMEM,
                                         "rank %d cannot allocate %llu bytes "
                                         "for a message from rank %d",
                                         m->rank,
                                         (unsigned long long) hdr->len,
                                         (int) hdr->from);
  }
  rc = par__mp_read(m, e, buf, (size_t) hdr->len);
  if (rc != PAR_OK) {
    free(buf);
    return rc;
  }
  par__msg_take_malloc(out, buf, (size_t) hdr->len);
  return PAR_OK;
}

/* --- The pairwise channels ---------------------------------------------- */

int
par__mp_send(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
             size_t len)
{
  mp_comm *m = comm->impl;
  mp_end e;

  /* The generic layer only sends to other ranks of the group. */
  assert(dest >= 0 && dest < m->size && dest != m->rank);
  par__mp_end_open(m, &e, MP_WAIT_SEND, dest);
  return par__mp_write_frame(m, &e, hdr, buf, len);
}

int
par__mp_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out)
{
  mp_comm *m = comm->impl;
  mp_end e;
  int rc;

  assert(source >= 0 && source < m->size && source != m->rank);
  par__mp_end_open(m, &e, MP_WAIT_RECV, source);
  rc = par__mp_read_header(m, &e, hdr);
  if (rc == PAR_OK) {
    /* A pairwise ring has one sender. */
    hdr->from = (uint32_t) source;
    rc = par__mp_read_payload(m, &e, hdr, out);
  }
  return rc;
}

/* Receive from whichever peer has a frame ready, looking at the peers in
 * turn from the one after the last served, so that no sender starves. */
int
par__mp_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
                 par_msg *out)
{
  mp_comm *m = comm->impl;

  for (;;) {
    int rc;

    for (int i = 1; i <= m->size; i++) {
      int q = (m->last_any + i) % m->size;
      mp_end e;

      if (q == m->rank || m->in[q].broken) {
        continue;
      }
      par__mp_end_open(m, &e, MP_WAIT_RECV, q);
      if (ready(m, &e, HDR_BYTES)) {
        m->last_any = q;
        *source = q;
        return par__mp_recv(comm, q, hdr, out);
      }
    }
    if (!block) {
      return PAR_ENOENT;
    }
    rc = par__mp_wait(m, MP_WAIT_RECV_ANY, -1, HDR_BYTES);
    if (rc != PAR_OK) {
      return rc;
    }
  }
}

/* --- What is left in the rings ------------------------------------------- */

/* Copy to HDR, without consuming it, the header of the first frame that
 * process WHO has not read at its end KIND (MP_WAIT_RECV from PEER, or
 * MP_WAIT_BC_RECV) of a ring, read from the counters in shared memory.
 * Returns 0 if no whole header is there. */
static int
peek_header(par_mp_group *g, int who, int kind, int peer, par__hdr *hdr)
{
  mp_cursor cur = {atomic_load(par__mp_own_counter(g, who, kind, peer)),
                   par__mp_other_counter(g, who, kind, peer), 0};
  mp_end e;

  end_init(g, &e, who, kind, peer, &cur);
  if (room(&e) < HDR_BYTES) {
    return 0;
  }
  copy(&e, hdr, HDR_BYTES);
  return 1;
}

/* Append to BUF (SIZE bytes, USED in use) "rank FROM sent OP to rank TO,
 * which never received it", or, FROM being -1, "rank TO never received
 * OP", after a "; " unless it is the first; return the new length. */
static size_t
note_unreceived(char *buf, size_t size, size_t used, int from, int to,
                const par__hdr *hdr)
{
  par__op op = {hdr->op, hdr->seq, PAR__PEER_NONE};
  char what[64];

  par__op_describe(&op, what, sizeof what);
  if (used < size && from >= 0) {
    used += (size_t) snprintf(buf + used, size - used,
                              "%srank %d sent %s to rank %d, which never "
                              "received it",
                              used > 0 ? "; " : "", from, what, to);
  } else if (used < size) {
    used += (size_t) snprintf(buf + used, size - used,
                              "%srank %d never received %s",
                              used > 0 ? "; " : "", to, what);
  }
  return used;
}

int
par_mp_group_unreceived(par_mp_group *g, char *buf, size_t size)
{
  int count = 0;
  size_t used = 0;
  par__hdr hdr;
  int rc = par__mp_group_check(g, 0, "look for unreceived messages");

  if (rc == PAR_OK && (buf == NULL || size == 0)) {
    rc = par__mp_group_fail(g, PAR_EINVAL, "no room for the answer to look "
                            "for unreceived messages");
  }
  if (rc != PAR_OK) {
    return rc;
  }
  buf[0] = '\0';
  for (int src = 0; src < g->nprocs; src++) {
    for (int dst = 0; dst < g->nprocs; dst++) {
      if (src != dst && peek_header(g, dst, MP_WAIT_RECV, src, &hdr)) {
        used = note_unreceived(buf, size, used, src, dst, &hdr);
        count++;
      }
    }
  }
  for (int q = 0; q < g->nprocs; q++) {
    if (peek_header(g, q, MP_WAIT_BC_RECV, -1, &hdr)) {
      used = note_unreceived(buf, size, used, -1, q, &hdr);
      count++;
    }
  }
  return count;
}
