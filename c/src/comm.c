/* comm.c — the backend-independent part of communicators.
 *
 * Public entry points validate their arguments, stamp the operation kind
 * and sequence number, and call the backend's native collective when it has
 * one; otherwise the generic versions here build the collective from the
 * backend's framed point-to-point messages. The generic versions are
 * linear (the root talks to every process in turn): groups on one machine
 * are small, and a backend that needs better scaling brings its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm-internal.h"

/* --- Messages ----------------------------------------------------------- */

static void
release_malloc(par_msg *msg)
{
  free(msg->owner_);
}

void
par__msg_take_malloc(par_msg *msg, void *data, size_t len)
{
  msg->data = data;
  msg->len = len;
  msg->release_ = release_malloc;
  msg->owner_ = data;
}

void
par__msg_take_block(par_msg *msg, void *block, const void *data, size_t len)
{
  msg->data = data;
  msg->len = len;
  msg->release_ = release_malloc;
  msg->owner_ = block;
}

void *
par_msg_steal(par_msg *msg)
{
  void *block;

  if (msg == NULL || msg->release_ != release_malloc) {
    return NULL;
  }
  block = msg->owner_;
  *msg = (par_msg) PAR_MSG_INIT;
  return block;
}

void
par__msg_borrow(par_msg *msg, const void *data, size_t len)
{
  msg->data = data;
  msg->len = len;
  msg->release_ = NULL;
  msg->owner_ = NULL;
}

void
par_msg_release(par_msg *msg)
{
  if (msg == NULL) {
    return;
  }
  if (msg->release_ != NULL) {
    msg->release_(msg);
  }
  *msg = (par_msg) PAR_MSG_INIT;
}

const char *
par_opkind_name(par_opkind kind)
{
  switch (kind) {
#define PAR__OPKIND_NAME(name, str)                                         \
  case PAR_OPKIND_##name:                                                   \
    return str;
    PAR_OPKIND_MAP(PAR__OPKIND_NAME)
#undef PAR__OPKIND_NAME
  default:
    return "unknown";
  }
}

/* --- Life cycle and settings --------------------------------------------- */

int
par__comm_new(const par__comm_ops *ops, int rank, int size, void *impl,
              par_comm **out)
{
  par_comm *comm;

  if (ops == NULL || size < 1 || rank < 0 || rank >= size || out == NULL) {
    return PAR_EINVAL;
  }
  comm = calloc(1, sizeof *comm);
  if (comm == NULL) {
    return PAR_ENOMEM;
  }
  comm->sent_seq = calloc((size_t) size, sizeof *comm->sent_seq);
  comm->recv_seq = calloc((size_t) size, sizeof *comm->recv_seq);
  if (comm->sent_seq == NULL || comm->recv_seq == NULL) {
    free(comm->sent_seq);
    free(comm->recv_seq);
    free(comm);
    return PAR_ENOMEM;
  }
  comm->ops = ops;
  comm->rank = rank;
  comm->size = size;
  comm->impl = impl;
  *out = comm;
  return PAR_OK;
}

void
par_comm_destroy(par_comm *comm)
{
  if (comm == NULL) {
    return;
  }
  if (comm->ops->destroy != NULL) {
    comm->ops->destroy(comm);
  }
  free(comm->sent_seq);
  free(comm->recv_seq);
  free(comm);
}

int
par_comm_rank(const par_comm *comm)
{
  return comm->rank;
}

int
par_comm_size(const par_comm *comm)
{
  return comm->size;
}

const char *
par_comm_backend(const par_comm *comm)
{
  return comm->ops->backend;
}

const char *
par_comm_error_detail(const par_comm *comm)
{
  return comm->detail;
}

void
par_comm_set_timeout(par_comm *comm, double seconds)
{
  comm->timeout = seconds;
}

void
par_comm_set_interrupt_check(par_comm *comm, int (*check)(void *data),
                             void *data)
{
  comm->interrupt = check;
  comm->interrupt_data = data;
}

int
par_comm_abort(par_comm *comm, int code)
{
  if (comm->ops->abort == NULL) {
    return PAR_OK;
  }
  return comm->ops->abort(comm, code);
}

int
par__comm_fail(par_comm *comm, int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(comm->detail, sizeof comm->detail, fmt, ap);
  va_end(ap);
  return code;
}

double
par__now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

double
par__deadline(const par_comm *comm)
{
  return comm->timeout > 0 ? par__now() + comm->timeout : 0;
}

int
par__comm_poll(par_comm *comm, double deadline)
{
  if (comm->interrupt != NULL && comm->interrupt(comm->interrupt_data)) {
    return par__comm_fail(comm, PAR_EINTR, "rank %d was interrupted",
                          comm->rank);
  }
  if (deadline > 0 && par__now() >= deadline) {
    return par__comm_fail(comm, PAR_ETIMEDOUT,
                          "rank %d waited more than %g s", comm->rank,
                          comm->timeout);
  }
  return PAR_OK;
}

/* --- Framed messages with checks --------------------------------------- */

static int
check_rank(par_comm *comm, int rank, const char *role)
{
  if (rank < 0 || rank >= comm->size) {
    return par__comm_fail(comm, PAR_ERANK,
                          "%s rank %d is not in 0..%d", role, rank,
                          comm->size - 1);
  }
  return PAR_OK;
}

static int
send_frame(par_comm *comm, int dest, par_opkind op, uint32_t seq,
           uint32_t aux, const void *buf, size_t len)
{
  par__hdr hdr = {op, seq, aux, 0, len};

  return comm->ops->send(comm, dest, &hdr, buf, len);
}

static void
describe_frame(const par__hdr *hdr, char *out, size_t size)
{
  if (hdr->op == PAR_OPKIND_SEND) {
    snprintf(out, size, "send (message #%u)", hdr->seq);
  } else {
    snprintf(out, size, "%s (collective #%u)",
             par_opkind_name((par_opkind) hdr->op), hdr->seq);
  }
}

/* Receive the next frame from SOURCE and check that it belongs to the
 * operation OP number SEQ that this process is in. */
static int
expect_frame(par_comm *comm, int source, par_opkind op, uint32_t seq,
             par__hdr *hdr, par_msg *out)
{
  int rc = comm->ops->recv(comm, source, hdr, out);

  if (rc != PAR_OK) {
    return rc;
  }
  if (hdr->op != (uint32_t) op || hdr->seq != seq) {
    char mine[64], theirs[64];
    par__hdr expected = {op, seq, 0, 0, 0};

    describe_frame(&expected, mine, sizeof mine);
    describe_frame(hdr, theirs, sizeof theirs);
    par_msg_release(out);
    return par__comm_fail(comm, PAR_EMISMATCH,
                          "rank %d is in %s but rank %d sent %s",
                          comm->rank, mine, source, theirs);
  }
  return PAR_OK;
}

/* Receive a typed frame of exactly COUNT elements of TYPE into BUF. */
static int
expect_typed(par_comm *comm, int source, par_opkind op, uint32_t seq,
             void *buf, size_t count, par_dtype type)
{
  size_t bytes = count * par_dtype_size(type);
  par__hdr hdr;
  par_msg msg = PAR_MSG_INIT;
  int rc = expect_frame(comm, source, op, seq, &hdr, &msg);

  if (rc != PAR_OK) {
    return rc;
  }
  if (hdr.aux != (uint32_t) type || msg.len != bytes) {
    rc = par__comm_fail(comm, PAR_ESIZE,
                        "rank %d expected %zu elements of %s in %s but "
                        "rank %d sent %zu bytes of %s",
                        comm->rank, count, par_dtype_name(type),
                        par_opkind_name(op), source, msg.len,
                        hdr.aux < PAR_DTYPE_COUNT
                            ? par_dtype_name((par_dtype) hdr.aux)
                            : "an unknown type");
    par_msg_release(&msg);
    return rc;
  }
  if (bytes > 0) {
    memcpy(buf, msg.data, bytes);
  }
  par_msg_release(&msg);
  return PAR_OK;
}

/* A frame received from SOURCE by a receive (from any rank when ANY) must
 * be a point-to-point message; a collective's frame means SOURCE is in
 * another operation. */
static int
accept_message(par_comm *comm, int source, const par__hdr *hdr, par_msg *out,
               int any)
{
  char theirs[64], from[32];

  if (hdr->op == PAR_OPKIND_SEND) {
    comm->recv_seq[source]++;
    return PAR_OK;
  }
  describe_frame(hdr, theirs, sizeof theirs);
  par_msg_release(out);
  if (any) {
    snprintf(from, sizeof from, "any rank");
  } else {
    snprintf(from, sizeof from, "rank %d", source);
  }
  return par__comm_fail(comm, PAR_EMISMATCH,
                        "rank %d is in receive from %s but rank %d sent %s",
                        comm->rank, from, source, theirs);
}

int
par_comm_send(par_comm *comm, int dest, const void *buf, size_t len)
{
  int rc = check_rank(comm, dest, "destination");

  if (rc != PAR_OK) {
    return rc;
  }
  if (dest == comm->rank) {
    return par__comm_fail(comm, PAR_ERANK,
                          "rank %d cannot send a message to itself", dest);
  }
  comm->cur_op = PAR_OPKIND_SEND;
  rc = send_frame(comm, dest, PAR_OPKIND_SEND, comm->sent_seq[dest] + 1, 0,
                  buf, len);
  if (rc == PAR_OK) {
    comm->sent_seq[dest]++;
  }
  return rc;
}

int
par_comm_recv(par_comm *comm, int source, par_msg *out)
{
  par__hdr hdr;
  int rc = check_rank(comm, source, "source");

  if (rc != PAR_OK) {
    return rc;
  }
  if (source == comm->rank) {
    return par__comm_fail(comm, PAR_ERANK,
                          "rank %d cannot receive a message from itself",
                          source);
  }
  comm->cur_op = PAR_OPKIND_SEND;
  rc = comm->ops->recv(comm, source, &hdr, out);
  return rc != PAR_OK ? rc : accept_message(comm, source, &hdr, out, 0);
}

int
par_comm_recv_any(par_comm *comm, int block, int *source, par_msg *out)
{
  par__hdr hdr;
  int from = -1, rc;

  if (source == NULL || out == NULL) {
    return par__comm_fail(comm, PAR_EINVAL, "recv_any without a source");
  }
  if (comm->size == 1) {
    return block ? par__comm_fail(comm, PAR_ERANK,
                                  "a group of one process has nobody to "
                                  "receive from")
                 : PAR_ENOENT;
  }
  if (comm->ops->recv_any == NULL) {
    return par__comm_fail(comm, PAR_ENOTSUP,
                          "the %s backend cannot receive from any rank",
                          comm->ops->backend);
  }
  comm->cur_op = PAR_OPKIND_SEND;
  rc = comm->ops->recv_any(comm, block, &from, &hdr, out);
  if (rc == PAR_OK) {
    rc = accept_message(comm, from, &hdr, out, 1);
  }
  if (rc == PAR_OK) {
    *source = from;
  }
  return rc;
}

/* --- Generic collectives over frames ------------------------------------ */

static int
generic_barrier(par_comm *comm)
{
  uint32_t seq = comm->coll_seq;
  par__hdr hdr;
  par_msg msg = PAR_MSG_INIT;
  int rc;

  if (comm->rank != 0) {
    rc = send_frame(comm, 0, PAR_OPKIND_BARRIER, seq, 0, NULL, 0);
    if (rc == PAR_OK) {
      rc = expect_frame(comm, 0, PAR_OPKIND_BARRIER, seq, &hdr, &msg);
      par_msg_release(&msg);
    }
    return rc;
  }
  for (int r = 1; r < comm->size; r++) {
    rc = expect_frame(comm, r, PAR_OPKIND_BARRIER, seq, &hdr, &msg);
    par_msg_release(&msg);
    if (rc != PAR_OK) {
      return rc;
    }
  }
  for (int r = 1; r < comm->size; r++) {
    rc = send_frame(comm, r, PAR_OPKIND_BARRIER, seq, 0, NULL, 0);
    if (rc != PAR_OK) {
      return rc;
    }
  }
  return PAR_OK;
}

static int
generic_bcast_bytes(par_comm *comm, par_opkind op, int root, const void *buf,
                    size_t len, par_msg *out)
{
  uint32_t seq = comm->coll_seq;
  par__hdr hdr;

  if (comm->rank != root) {
    return expect_frame(comm, root, op, seq, &hdr, out);
  }
  for (int r = 0; r < comm->size; r++) {
    if (r != root) {
      int rc = send_frame(comm, r, op, seq, 0, buf, len);

      if (rc != PAR_OK) {
        return rc;
      }
    }
  }
  par__msg_borrow(out, buf, len);
  return PAR_OK;
}

static int
generic_scatterv_bytes(par_comm *comm, int root, const void *buf,
                       const size_t *counts, par_msg *out)
{
  uint32_t seq = comm->coll_seq;
  const char *p = buf;
  par__hdr hdr;

  if (comm->rank != root) {
    return expect_frame(comm, root, PAR_OPKIND_SCATTER, seq, &hdr, out);
  }
  for (int r = 0; r < comm->size; r++) {
    if (r == root) {
      par__msg_borrow(out, p, counts[r]);
    } else {
      int rc = send_frame(comm, r, PAR_OPKIND_SCATTER, seq, 0, p, counts[r]);

      if (rc != PAR_OK) {
        return rc;
      }
    }
    p += counts[r];
  }
  return PAR_OK;
}

/* Gather every contribution to ROOT as one malloc'ed block. */
static int
gather_concat(par_comm *comm, par_opkind op, uint32_t seq, int root,
              const void *buf, size_t len, par_msg *out, size_t *counts)
{
  par_msg *parts;
  size_t total = 0;
  char *data, *p;
  int rc = PAR_OK, received = 0;

  if (comm->rank != root) {
    return send_frame(comm, root, op, seq, 0, buf, len);
  }
  parts = calloc((size_t) comm->size, sizeof *parts);
  if (parts == NULL) {
    return PAR_ENOMEM;
  }
  for (int r = 0; r < comm->size; r++, received++) {
    par__hdr hdr;

    if (r == root) {
      par__msg_borrow(&parts[r], buf, len);
    } else {
      rc = expect_frame(comm, r, op, seq, &hdr, &parts[r]);
      if (rc != PAR_OK) {
        goto done;
      }
    }
    total += parts[r].len;
  }
  /* One extra byte so that an all-empty gather still owns a block. */
  data = malloc(total + 1);
  if (data == NULL) {
    rc = PAR_ENOMEM;
    goto done;
  }
  p = data;
  for (int r = 0; r < comm->size; r++) {
    if (parts[r].len > 0) {
      memcpy(p, parts[r].data, parts[r].len);
    }
    p += parts[r].len;
    counts[r] = parts[r].len;
  }
  par__msg_take_malloc(out, data, total);
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
  return gather_concat(comm, PAR_OPKIND_GATHER, comm->coll_seq, root, buf,
                       len, out, counts);
}

/* Allgather: gather at 0, then broadcast the counts and the data as one
 * frame, the counts first (as uint64) so receivers can split it. */
static int
generic_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                         par_msg *out, size_t *counts)
{
  uint32_t seq = comm->coll_seq;
  size_t head = (size_t) comm->size * sizeof(uint64_t);
  par_msg gathered = PAR_MSG_INIT, all = PAR_MSG_INIT;
  char *frame = NULL;
  int rc;

  rc = gather_concat(comm, PAR_OPKIND_ALLGATHER, seq, 0, buf, len, &gathered,
                     counts);
  if (rc != PAR_OK) {
    return rc;
  }
  if (comm->rank == 0) {
    size_t total = gathered.len;

    frame = malloc(head + total + 1);
    if (frame == NULL) {
      par_msg_release(&gathered);
      return PAR_ENOMEM;
    }
    for (int r = 0; r < comm->size; r++) {
      uint64_t n = counts[r];

      memcpy(frame + (size_t) r * sizeof n, &n, sizeof n);
    }
    memcpy(frame + head, gathered.data, total);
    par_msg_release(&gathered);
    rc = generic_bcast_bytes(comm, PAR_OPKIND_ALLGATHER, 0, frame,
                             head + total, &all);
    par_msg_release(&all);
    if (rc != PAR_OK) {
      free(frame);
      return rc;
    }
    /* Root keeps the concatenated data: shift it over the counts. */
    memmove(frame, frame + head, total);
    par__msg_take_malloc(out, frame, total);
    return PAR_OK;
  }
  rc = generic_bcast_bytes(comm, PAR_OPKIND_ALLGATHER, 0, NULL, 0, &all);
  if (rc != PAR_OK) {
    return rc;
  }
  if (all.len < head) {
    par_msg_release(&all);
    return par__comm_fail(comm, PAR_EMALFORMED,
                          "rank %d got a short allgather frame", comm->rank);
  }
  {
    size_t total = 0;
    char *data;
    int wrapped = 0;

    for (int r = 0; r < comm->size; r++) {
      uint64_t n;

      memcpy(&n, (const char *) all.data + (size_t) r * sizeof n, sizeof n);
      counts[r] = (size_t) n;
      /* Counts that wrap around could add up to the length and send the
       * caller's split of the data far out of it. */
      wrapped |= __builtin_add_overflow(total, counts[r], &total);
    }
    if (wrapped || total != all.len - head) {
      par_msg_release(&all);
      return par__comm_fail(comm, PAR_EMALFORMED,
                            "rank %d got an inconsistent allgather frame",
                            comm->rank);
    }
    data = malloc(total + 1);
    if (data == NULL) {
      par_msg_release(&all);
      return PAR_ENOMEM;
    }
    memcpy(data, (const char *) all.data + head, total);
    par_msg_release(&all);
    par__msg_take_malloc(out, data, total);
  }
  return PAR_OK;
}

static int
generic_bcast(par_comm *comm, par_opkind op, int root, void *buf,
              size_t count, par_dtype type)
{
  uint32_t seq = comm->coll_seq;

  if (comm->rank != root) {
    return expect_typed(comm, root, op, seq, buf, count, type);
  }
  for (int r = 0; r < comm->size; r++) {
    if (r != root) {
      int rc = send_frame(comm, r, op, seq, type, buf,
                          count * par_dtype_size(type));

      if (rc != PAR_OK) {
        return rc;
      }
    }
  }
  return PAR_OK;
}

static int
generic_scatterv(par_comm *comm, int root, const void *sendbuf,
                 const size_t *counts, void *recvbuf, size_t recvcount,
                 par_dtype type)
{
  uint32_t seq = comm->coll_seq;
  size_t esize = par_dtype_size(type);
  const char *p = sendbuf;

  if (comm->rank != root) {
    return expect_typed(comm, root, PAR_OPKIND_SCATTER, seq, recvbuf,
                        recvcount, type);
  }
  for (int r = 0; r < comm->size; r++) {
    size_t bytes = counts[r] * esize;

    if (r == root) {
      if (counts[r] != recvcount) {
        return par__comm_fail(comm, PAR_ESIZE,
                              "root %d sends itself %zu elements but "
                              "expects %zu",
                              root, counts[r], recvcount);
      }
      if (bytes > 0) {
        memcpy(recvbuf, p, bytes);
      }
    } else {
      int rc = send_frame(comm, r, PAR_OPKIND_SCATTER, seq, type, p, bytes);

      if (rc != PAR_OK) {
        return rc;
      }
    }
    p += bytes;
  }
  return PAR_OK;
}

static int
gather_typed(par_comm *comm, par_opkind op, uint32_t seq, int root,
             const void *sendbuf, size_t sendcount, void *recvbuf,
             const size_t *counts, par_dtype type)
{
  size_t esize = par_dtype_size(type);
  char *p = recvbuf;

  if (comm->rank != root) {
    return send_frame(comm, root, op, seq, type, sendbuf, sendcount * esize);
  }
  for (int r = 0; r < comm->size; r++) {
    if (r == root) {
      if (counts[r] != sendcount) {
        return par__comm_fail(comm, PAR_ESIZE,
                              "root %d sends %zu elements but expects %zu "
                              "from itself",
                              root, sendcount, counts[r]);
      }
      if (sendcount > 0) {
        memcpy(p, sendbuf, sendcount * esize);
      }
    } else {
      int rc = expect_typed(comm, r, op, seq, p, counts[r], type);

      if (rc != PAR_OK) {
        return rc;
      }
    }
    p += counts[r] * esize;
  }
  return PAR_OK;
}

static int
generic_gatherv(par_comm *comm, int root, const void *sendbuf,
                size_t sendcount, void *recvbuf, const size_t *counts,
                par_dtype type)
{
  return gather_typed(comm, PAR_OPKIND_GATHER, comm->coll_seq, root, sendbuf,
                      sendcount, recvbuf, counts, type);
}

static int
generic_allgatherv(par_comm *comm, const void *sendbuf, size_t sendcount,
                   void *recvbuf, const size_t *counts, par_dtype type)
{
  size_t total = 0;
  int rc;

  rc = gather_typed(comm, PAR_OPKIND_ALLGATHER, comm->coll_seq, 0, sendbuf,
                    sendcount, recvbuf, counts, type);
  if (rc != PAR_OK) {
    return rc;
  }
  for (int r = 0; r < comm->size; r++) {
    total += counts[r];
  }
  return generic_bcast(comm, PAR_OPKIND_ALLGATHER, 0, recvbuf, total, type);
}

/* Fold every process's buffer at ROOT in rank order:
 * ((b0 op b1) op b2) ..., which is what MPI guarantees too. */
static int
reduce_typed(par_comm *comm, par_opkind op, uint32_t seq, int root,
             const void *sendbuf, void *recvbuf, size_t count,
             par_dtype type, par_reduce_op rop)
{
  size_t bytes = count * par_dtype_size(type);
  void *tmp;
  int rc = PAR_OK;

  if (comm->rank != root) {
    return send_frame(comm, root, op, seq, type, sendbuf, bytes);
  }
  tmp = malloc(bytes + 1);
  if (tmp == NULL) {
    return PAR_ENOMEM;
  }
  for (int r = 0; r < comm->size; r++) {
    /* Rank 0's contribution is received straight into RECVBUF. */
    const void *contribution = r == 0 ? recvbuf : tmp;

    if (r == root) {
      contribution = sendbuf;
    } else {
      rc = expect_typed(comm, r, op, seq, (void *) contribution, count,
                        type);
      if (rc != PAR_OK) {
        break;
      }
    }
    if (r == 0) {
      if (contribution != recvbuf && bytes > 0) {
        memmove(recvbuf, contribution, bytes);
      }
    } else {
      rc = par_reduce_apply(rop, type, recvbuf, contribution, count);
      if (rc != PAR_OK) {
        rc = par__comm_fail(comm, rc, "cannot apply %s to %s elements",
                            par_reduce_op_name(rop), par_dtype_name(type));
        break;
      }
    }
  }
  free(tmp);
  return rc;
}

/* --- Public collectives --------------------------------------------------- */

/* What a collective checks on entry, beyond counting itself. */
enum {
  NO_ROOT = -1,   /* ROOT argument of begin(): the collective has none */
  UNTYPED = -1    /* TYPE argument of begin(): it moves bytes */
};

/* Every collective starts here: count it, so that frames can be matched,
 * then check the root, the element type and, if this process needs them
 * (NEED_COUNTS), the counts. */
static int
begin(par_comm *comm, par_opkind op, int root, int type, int need_counts,
      const size_t *counts)
{
  comm->coll_seq++;
  comm->cur_op = op;
  comm->cur_seq = comm->coll_seq;
  comm->detail[0] = '\0';
  if (root != NO_ROOT) {
    int rc = check_rank(comm, root, "root");

    if (rc != PAR_OK) {
      return rc;
    }
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

/* Refuse an operator the type has no meaning for before any message is
 * sent, so every process fails alike instead of only the root. */
static int
check_op(par_comm *comm, par_dtype type, par_reduce_op op)
{
  if ((unsigned) op >= PAR_REDUCE_COUNT) {
    return par__comm_fail(comm, PAR_EINVAL, "invalid reduction operator %d",
                          (int) op);
  }
  if ((type == PAR_C32 || type == PAR_C64)
      && (op == PAR_REDUCE_MIN || op == PAR_REDUCE_MAX)) {
    return par__comm_fail(comm, PAR_ETYPE,
                          "%s is not defined on complex numbers (%s)",
                          par_reduce_op_name(op), par_dtype_name(type));
  }
  return PAR_OK;
}

/* A native slot is used for groups of two or more; a group of one goes
 * through the generic code, where every collective is a local copy. */
#define NATIVE(comm, slot) ((comm)->size > 1 && (comm)->ops->slot != NULL)

int
par_comm_barrier(par_comm *comm)
{
  begin(comm, PAR_OPKIND_BARRIER, NO_ROOT, UNTYPED, 0, NULL);
  if (comm->size == 1) {
    return PAR_OK;
  }
  return NATIVE(comm, barrier) ? comm->ops->barrier(comm)
                               : generic_barrier(comm);
}

int
par_comm_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
                     par_msg *out)
{
  int rc = begin(comm, PAR_OPKIND_BCAST, root, UNTYPED, 0, NULL);

  if (rc != PAR_OK) {
    return rc;
  }
  if (comm->size == 1) {
    par__msg_borrow(out, buf, len);
    return PAR_OK;
  }
  return NATIVE(comm, bcast_bytes)
             ? comm->ops->bcast_bytes(comm, root, buf, len, out)
             : generic_bcast_bytes(comm, PAR_OPKIND_BCAST, root, buf, len,
                                   out);
}

int
par_comm_scatterv_bytes(par_comm *comm, int root, const void *buf,
                        const size_t *counts, par_msg *out)
{
  int rc = begin(comm, PAR_OPKIND_SCATTER, root, UNTYPED,
                 comm->rank == root, counts);

  if (rc != PAR_OK) {
    return rc;
  }
  return NATIVE(comm, scatterv_bytes)
             ? comm->ops->scatterv_bytes(comm, root, buf, counts, out)
             : generic_scatterv_bytes(comm, root, buf, counts, out);
}

int
par_comm_gatherv_bytes(par_comm *comm, int root, const void *buf, size_t len,
                       par_msg *out, size_t *counts)
{
  int rc = begin(comm, PAR_OPKIND_GATHER, root, UNTYPED,
                 comm->rank == root, counts);

  if (rc != PAR_OK) {
    return rc;
  }
  return NATIVE(comm, gatherv_bytes)
             ? comm->ops->gatherv_bytes(comm, root, buf, len, out, counts)
             : generic_gatherv_bytes(comm, root, buf, len, out, counts);
}

int
par_comm_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                          par_msg *out, size_t *counts)
{
  int rc = begin(comm, PAR_OPKIND_ALLGATHER, NO_ROOT, UNTYPED, 1, counts);

  if (rc != PAR_OK) {
    return rc;
  }
  if (comm->size == 1) {
    return generic_gatherv_bytes(comm, 0, buf, len, out, counts);
  }
  return NATIVE(comm, allgatherv_bytes)
             ? comm->ops->allgatherv_bytes(comm, buf, len, out, counts)
             : generic_allgatherv_bytes(comm, buf, len, out, counts);
}

int
par_comm_bcast(par_comm *comm, int root, void *buf, size_t count,
               par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_BCAST, root, (int) type, 0, NULL);

  if (rc != PAR_OK || comm->size == 1) {
    return rc;
  }
  return NATIVE(comm, bcast)
             ? comm->ops->bcast(comm, root, buf, count, type)
             : generic_bcast(comm, PAR_OPKIND_BCAST, root, buf, count, type);
}

int
par_comm_scatterv(par_comm *comm, int root, const void *sendbuf,
                  const size_t *counts, void *recvbuf, size_t recvcount,
                  par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_SCATTER, root, (int) type,
                 comm->rank == root, counts);

  if (rc != PAR_OK) {
    return rc;
  }
  return NATIVE(comm, scatterv)
             ? comm->ops->scatterv(comm, root, sendbuf, counts, recvbuf,
                                   recvcount, type)
             : generic_scatterv(comm, root, sendbuf, counts, recvbuf,
                                recvcount, type);
}

int
par_comm_gatherv(par_comm *comm, int root, const void *sendbuf,
                 size_t sendcount, void *recvbuf, const size_t *counts,
                 par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_GATHER, root, (int) type,
                 comm->rank == root, counts);

  if (rc != PAR_OK) {
    return rc;
  }
  return NATIVE(comm, gatherv)
             ? comm->ops->gatherv(comm, root, sendbuf, sendcount, recvbuf,
                                  counts, type)
             : generic_gatherv(comm, root, sendbuf, sendcount, recvbuf,
                               counts, type);
}

int
par_comm_allgatherv(par_comm *comm, const void *sendbuf, size_t sendcount,
                    void *recvbuf, const size_t *counts, par_dtype type)
{
  int rc = begin(comm, PAR_OPKIND_ALLGATHER, NO_ROOT, (int) type, 1, counts);

  if (rc != PAR_OK) {
    return rc;
  }
  return NATIVE(comm, allgatherv)
             ? comm->ops->allgatherv(comm, sendbuf, sendcount, recvbuf,
                                     counts, type)
             : generic_allgatherv(comm, sendbuf, sendcount, recvbuf, counts,
                                  type);
}

int
par_comm_reduce(par_comm *comm, int root, const void *sendbuf, void *recvbuf,
                size_t count, par_dtype type, par_reduce_op op)
{
  int rc = begin(comm, PAR_OPKIND_REDUCE, root, (int) type, 0, NULL);

  if (rc == PAR_OK) {
    rc = check_op(comm, type, op);
  }
  if (rc != PAR_OK) {
    return rc;
  }
  return NATIVE(comm, reduce)
             ? comm->ops->reduce(comm, root, sendbuf, recvbuf, count, type,
                                 op)
             : reduce_typed(comm, PAR_OPKIND_REDUCE, comm->coll_seq, root,
                            sendbuf, recvbuf, count, type, op);
}

int
par_comm_allreduce(par_comm *comm, const void *sendbuf, void *recvbuf,
                   size_t count, par_dtype type, par_reduce_op op)
{
  int rc = begin(comm, PAR_OPKIND_ALLREDUCE, NO_ROOT, (int) type, 0, NULL);

  if (rc == PAR_OK) {
    rc = check_op(comm, type, op);
  }
  if (rc != PAR_OK) {
    return rc;
  }
  if (NATIVE(comm, allreduce)) {
    return comm->ops->allreduce(comm, sendbuf, recvbuf, count, type, op);
  }
  rc = reduce_typed(comm, PAR_OPKIND_ALLREDUCE, comm->coll_seq, 0, sendbuf,
                    recvbuf, count, type, op);
  if (rc != PAR_OK || comm->size == 1) {
    return rc;
  }
  return generic_bcast(comm, PAR_OPKIND_ALLREDUCE, 0, recvbuf, count, type);
}
