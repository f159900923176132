/* serial.c — the one-process backend.
 *
 * A group of one has nobody to talk to: collectives are identities (the
 * generic layer short-cuts them for SIZE == 1) and point-to-point messages
 * are refused before they reach this file, since rank 0 is the only rank
 * and a process cannot send to itself.
 */
#include "comm-internal.h"

static int
serial_send(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
            size_t len)
{
  return par__comm_fail(comm, PAR_ERANK,
                        "a serial group has no rank %d to send to", dest);
}

static int
serial_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out)
{
  return par__comm_fail(comm, PAR_ERANK,
                        "a serial group has no rank %d to receive from",
                        source);
}

static void
serial_destroy(par_comm *comm)
{
}

static const par__comm_ops serial_ops = {
    .backend = "serial",
    .send = serial_send,
    .recv = serial_recv,
    .destroy = serial_destroy,
};

int
par_comm_serial_create(par_comm **out)
{
  if (out == NULL) {
    return PAR_EINVAL;
  }
  return par__comm_new(&serial_ops, 0, 1, NULL, out);
}
