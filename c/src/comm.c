/* comm.c — the communicator object and its point-to-point messages.
 *
 * What every backend shares: life cycle, settings, the error detail, the
 * clock and the poll that waits consult, received messages (par_msg), and
 * the public send and receives, which check their arguments, number the
 * messages between each pair of ranks and make sure that what arrives is
 * a message and not a collective's frame. The collectives are in coll.c.
 */
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
  par__trace_free(comm);
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

/* --- Point to point ------------------------------------------------------ */

/* Check that PEER, where this process SENDS a message or receives one
 * from, is a rank of COMM other than its own. */
static int
check_peer(par_comm *comm, int peer, int sends)
{
  if (peer < 0 || peer >= comm->size) {
    return par__comm_fail(comm, PAR_ERANK, "%s rank %d is not in 0..%d",
                          sends ? "destination" : "source", peer,
                          comm->size - 1);
  }
  if (peer == comm->rank) {
    return par__comm_fail(comm, PAR_ERANK, "rank %d cannot %s itself", peer,
                          sends ? "send a message to"
                                : "receive a message from");
  }
  return PAR_OK;
}

/* A frame received from SOURCE by a receive from FROM (a rank, or
 * PAR__PEER_ANY) must be a point-to-point message; a collective's frame
 * means SOURCE is in another operation. */
static int
accept_message(par_comm *comm, int source, int from, const par__hdr *hdr,
               par_msg *out)
{
  par__op mine = {PAR__OPKIND_RECV, 0, from};
  par__op theirs = {hdr->op, hdr->seq, PAR__PEER_NONE};

  if (hdr->op == PAR_OPKIND_SEND) {
    comm->recv_seq[source]++;
    return PAR_OK;
  }
  par_msg_release(out);
  return par__comm_mismatch(comm, PAR_EMISMATCH, &mine, NULL, source, "sent",
                            &theirs, NULL);
}

int
par_comm_send(par_comm *comm, int dest, const void *buf, size_t len)
{
  par__hdr hdr = {PAR_OPKIND_SEND, 0, PAR__BYTES, 0, len};
  int rc;

  PAR__TRACE_BEGIN(comm, PAR_OPKIND_SEND, dest);
  rc = check_peer(comm, dest, 1);
  if (rc == PAR_OK) {
    comm->cur_op = PAR_OPKIND_SEND;
    hdr.seq = comm->sent_seq[dest] + 1;
    rc = comm->ops->send(comm, dest, &hdr, buf, len);
    if (rc == PAR_OK) {
      comm->sent_seq[dest]++;
    }
  }
  return PAR__TRACE_END(comm, rc, len);
}

int
par_comm_recv(par_comm *comm, int source, par_msg *out)
{
  par__hdr hdr;
  int rc;

  PAR__TRACE_BEGIN(comm, PAR__OPKIND_RECV, source);
  rc = check_peer(comm, source, 0);
  if (rc == PAR_OK) {
    comm->cur_op = PAR__OPKIND_RECV;
    rc = comm->ops->recv(comm, source, &hdr, out);
    if (rc == PAR_OK) {
      rc = accept_message(comm, source, source, &hdr, out);
    }
  }
  return PAR__TRACE_END(comm, rc, rc == PAR_OK ? out->len : 0);
}

/* The receive from any rank, without its trace (see par_comm_recv_any). */
static int
recv_any(par_comm *comm, int block, int *source, par_msg *out)
{
  par__hdr hdr;
  int from = -1, rc;

  if (source == NULL || out == NULL) {
    return par__comm_fail(comm, PAR_EINVAL,
                          "a receive from any rank needs somewhere to put "
                          "the message and its source");
  }
  if (comm->size == 1 && block) {
    return par__comm_fail(comm, PAR_ERANK,
                          "a group of one process has nobody to receive "
                          "from");
  }
  if (comm->size > 1 && comm->ops->recv_any == NULL) {
    return par__comm_fail(comm, PAR_ENOTSUP,
                          "the %s backend cannot receive from any rank",
                          comm->ops->backend);
  }
  comm->cur_op = PAR__OPKIND_RECV;
  rc = comm->size > 1 ? comm->ops->recv_any(comm, block, &from, &hdr, out)
                      : PAR_ENOENT;
  if (rc == PAR_ENOENT) {
    return par__comm_fail(comm, rc, "no message has arrived for rank %d",
                          comm->rank);
  }
  if (rc == PAR_OK) {
    rc = accept_message(comm, from, PAR__PEER_ANY, &hdr, out);
  }
  if (rc == PAR_OK) {
    *source = from;
  }
  return rc;
}

int
par_comm_recv_any(par_comm *comm, int block, int *source, par_msg *out)
{
  int rc;

  /* A receive that finds nothing ready and does not block is a poll, not
   * an operation: it is traced only when something arrives or it waits. */
  if (comm->trace == NULL) {
    return recv_any(comm, block, source, out);
  }
  PAR__TRACE_BEGIN(comm, PAR__OPKIND_RECV, PAR_TRACE_ANY_PEER);
  rc = recv_any(comm, block, source, out);
  if (rc == PAR_OK) {
    comm->trace->cur.peer = *source;
  } else if (rc == PAR_ENOENT && !block) {
    comm->trace->depth--;
    return rc;
  }
  return PAR__TRACE_END(comm, rc, rc == PAR_OK ? out->len : 0);
}
