/* fuzz_frames.c — libFuzzer target: the frames of the message protocol.
 *
 * The multiprocessing backend streams frames (a par__hdr, then its
 * payload) through a ring from each process to each other one, and the
 * generic layer of comm.c builds every operation but the barrier and the
 * broadcast from them, checking each frame it receives against the
 * operation it is in. Here the peers' streams come from the input: one
 * process of a group of 2 to 5 runs operations chosen by the input
 * (receives, and every collective as root or not), and each frame it
 * asks a peer for is read from the input, exactly as it would arrive
 * through a ring, with any header at all: wrong operation, sequence
 * number, element type or length. When the input runs out in the middle
 * of a frame, the peer is gone (PAR_EPEER), as when a worker dies
 * half-way through a message.
 *
 * What must hold, besides no crash, overflow or undefined behaviour:
 * every call returns PAR_OK or one of the runtime's error codes, with an
 * error detail that is a string; what a call returns is as long as it
 * says (the bytes are all read); the counts of a gather add up to its
 * length. A violation aborts.
 *
 * The transport is this file's own, through the backend interface of
 * comm-internal.h (par__comm_ops), so that the target does not depend on
 * how the multiprocessing backend lays out its rings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm-internal.h"

/* The bytes of the input not read yet. */
struct input {
  const uint8_t *p;
  size_t left;
};

static uint8_t
byte(struct input *in)
{
  if (in->left == 0) {
    return 0;
  }
  in->left--;
  return *in->p++;
}

/* Where the bytes that must be readable are read to. */
static volatile uint8_t sink;

static void
violation(const char *what, int rc)
{
  fprintf(stderr, "fuzz_frames: %s (rc %d, %s)\n", what, rc,
          par_err_name(rc));
  abort();
}

static int
fake_send(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
          size_t len)
{
  (void) hdr;
  if (dest < 0 || dest >= comm->size || dest == comm->rank) {
    violation("a frame sent to an invalid rank", PAR_ERANK);
  }
  /* What is sent must be readable. */
  for (size_t i = 0; i < len; i++) {
    sink ^= ((const uint8_t *) buf)[i];
  }
  return PAR_OK;
}

/* The next frame from SOURCE: a flag byte, then either a raw header (flag
 * bit 7) or a compact one (the operation in the low bits; the sequence
 * number this process expects unless bit 6 asks for the next byte; the
 * element type; a 16-bit length), then the payload. */
static int
fake_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out)
{
  struct input *in = comm->impl;
  uint8_t flag = byte(in);
  par__hdr h;
  void *payload = NULL;

  if (source < 0 || source >= comm->size || source == comm->rank) {
    violation("a frame received from an invalid rank", PAR_ERANK);
  }
  if (in->left == 0) {
    return par__comm_fail(comm, PAR_EPEER, "rank %d is gone", source);
  }
  if (flag & 0x80) {
    if (in->left < sizeof h) {
      in->left = 0;
      return par__comm_fail(comm, PAR_EPEER, "rank %d died in a header",
                            source);
    }
    memcpy(&h, in->p, sizeof h);
    in->p += sizeof h;
    in->left -= sizeof h;
  } else {
    h.op = (uint32_t) (flag & 0x0f) % (PAR_OPKIND_COUNT + 1);
    h.seq = h.op == PAR_OPKIND_SEND ? comm->recv_seq[source] + 1
                                    : comm->coll_seq;
    if (flag & 0x40) {
      h.seq = byte(in);
    }
    h.aux = byte(in);
    h.from = (uint32_t) source;
    h.len = byte(in);
    h.len = h.len << 8 | byte(in);
  }
  /* The length is the peer's word: nothing is allocated for it before
   * the bytes are there. */
  if (h.len > in->left) {
    in->left = 0;
    return par__comm_fail(comm, PAR_EPEER,
                          "rank %d died in a frame of %llu bytes", source,
                          (unsigned long long) h.len);
  }
  if (h.len > 0) {
    payload = malloc((size_t) h.len);
    if (payload == NULL) {
      violation("out of memory", PAR_ENOMEM);
    }
    memcpy(payload, in->p, (size_t) h.len);
  }
  in->p += h.len;
  in->left -= (size_t) h.len;
  *hdr = h;
  par__msg_take_malloc(out, payload, (size_t) h.len);
  return PAR_OK;
}

static int
fake_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
              par_msg *out)
{
  struct input *in = comm->impl;
  int from = byte(in) % comm->size;

  (void) block;
  if (from == comm->rank) {
    from = (from + 1) % comm->size;
  }
  *source = from;
  return fake_recv(comm, from, hdr, out);
}

static void
fake_destroy(par_comm *comm)
{
  (void) comm;
}

static const par__comm_ops fake_ops = {
    .backend = "fuzz",
    .send = fake_send,
    .recv = fake_recv,
    .recv_any = fake_recv_any,
    .destroy = fake_destroy,
};

/* Check what a call returned: a known code with a detail that is a
 * string, and on success LEN readable bytes at DATA. */
static void
check(par_comm *comm, int rc, const void *data, size_t len)
{
  if (rc > 0 || strcmp(par_err_name(rc), "unknown") == 0) {
    violation("an unknown return code", rc);
  }
  if (strlen(par_comm_error_detail(comm)) >= sizeof comm->detail) {
    violation("an error detail that is not a string", rc);
  }
  if (rc == PAR_OK) {
    for (size_t i = 0; i < len; i++) {
      sink ^= ((const uint8_t *) data)[i];
    }
  }
}

static void
check_counts(int rc, const size_t *counts, int size, size_t len)
{
  size_t total = 0;

  if (rc != PAR_OK) {
    return;
  }
  for (int r = 0; r < size; r++) {
    if (__builtin_add_overflow(total, counts[r], &total)) {
      violation("gather counts that overflow", rc);
    }
  }
  if (total != len) {
    violation("gather counts that do not add up to the length", rc);
  }
}

/* A buffer of N elements of TYPE, filled from the input. */
static void *
elements(struct input *in, par_dtype type, size_t n)
{
  size_t bytes = n * par_dtype_size(type);
  uint8_t *buf = malloc(bytes + 1);

  if (buf == NULL) {
    violation("out of memory", PAR_ENOMEM);
  }
  for (size_t i = 0; i < bytes; i++) {
    buf[i] = byte(in);
  }
  return buf;
}

/* Run the operation chosen by the next byte of IN on COMM. */
static void
run_one(par_comm *comm, struct input *in)
{
  int size = comm->size, me = comm->rank;
  int root = byte(in) % size, rc, from;
  par_dtype type = (par_dtype) (byte(in) % PAR_DTYPE_COUNT);
  par_reduce_op op = (par_reduce_op) (byte(in) % PAR_REDUCE_COUNT);
  size_t counts[8], n = byte(in) % 16, total = 0, esize;
  /* This process's data: up to 5 counts of up to 15 bytes, as root of a
   * scatter. */
  uint8_t mine[80], fill = byte(in);
  par_msg msg = PAR_MSG_INIT;
  void *send, *recv;

  esize = par_dtype_size(type);
  for (int r = 0; r < size; r++) {
    counts[r] = byte(in) % 16;
    total += counts[r];
  }
  for (size_t i = 0; i < sizeof mine; i++) {
    mine[i] = (uint8_t) (fill + i);
  }
  switch (byte(in) % 13) {
  case 0:
    rc = par_comm_recv(comm, root == me ? (me + 1) % size : root, &msg);
    check(comm, rc, msg.data, msg.len);
    break;
  case 1:
    rc = par_comm_recv_any(comm, 1, &from, &msg);
    check(comm, rc, msg.data, msg.len);
    break;
  case 2:
    check(comm, par_comm_barrier(comm), NULL, 0);
    break;
  case 3:
    rc = par_comm_bcast_bytes(comm, root, mine, n, &msg);
    check(comm, rc, msg.data, msg.len);
    break;
  case 4:
    rc = par_comm_scatterv_bytes(comm, root, mine, counts, &msg);
    check(comm, rc, msg.data, msg.len);
    break;
  case 5:
    rc = par_comm_gatherv_bytes(comm, root, mine, n, &msg, counts);
    check(comm, rc, msg.data, msg.len);
    if (me == root) {
      check_counts(rc, counts, size, msg.len);
    }
    break;
  case 6:
    rc = par_comm_allgatherv_bytes(comm, mine, n, &msg, counts);
    check(comm, rc, msg.data, msg.len);
    check_counts(rc, counts, size, msg.len);
    break;
  case 7:
    send = elements(in, type, n);
    rc = par_comm_bcast(comm, root, send, n, type);
    check(comm, rc, send, n * esize);
    free(send);
    break;
  case 8:
    send = elements(in, type, total);
    recv = malloc(counts[me] * esize + 1);
    rc = par_comm_scatterv(comm, root, send, counts, recv, counts[me], type);
    check(comm, rc, recv, counts[me] * esize);
    free(send);
    free(recv);
    break;
  case 9:
  case 10:
    send = elements(in, type, counts[me]);
    recv = malloc(total * esize + 1);
    rc = byte(in) & 1
             ? par_comm_allgatherv(comm, send, counts[me], recv, counts,
                                   type)
             : par_comm_gatherv(comm, root, send, counts[me], recv, counts,
                                type);
    check(comm, rc, recv, total * esize);
    free(send);
    free(recv);
    break;
  case 11:
    send = elements(in, type, n);
    recv = malloc(n * esize + 1);
    rc = par_comm_reduce(comm, root, send, recv, n, type, op);
    check(comm, rc, me == root ? recv : send, n * esize);
    free(send);
    free(recv);
    break;
  default:
    send = elements(in, type, n);
    recv = malloc(n * esize + 1);
    rc = par_comm_allreduce(comm, send, recv, n, type, op);
    check(comm, rc, recv, n * esize);
    free(send);
    free(recv);
    break;
  }
  par_msg_release(&msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  struct input in = {data, len};
  int size = 2 + byte(&in) % 4, rank = byte(&in) % size;
  par_comm *comm;

  if (par__comm_new(&fake_ops, rank, size, &in, &comm) != PAR_OK) {
    violation("cannot make a communicator", PAR_ENOMEM);
  }
  while (in.left > 0) {
    run_one(comm, &in);
  }
  par_comm_destroy(comm);
  return 0;
}
