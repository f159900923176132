/* mpi-frame.c — point-to-point frames of the MPI backend.
 *
 * A frame (par__hdr plus bytes) goes as one MPI message when it fits under
 * the split threshold, and otherwise as a message holding the header alone
 * followed by pieces of at most the threshold on another tag; MPI keeps
 * messages between two processes on one tag in order, so the pieces of a
 * frame are the next ones from its sender. Sends copy the bytes and
 * complete in the background, which gives par_comm_send its "may return
 * before DEST receives" promise even for large messages. Receives poll
 * MPI_Improbe as every wait of the backend does (mpi-wait.c), so that they
 * honour the timeout and the interrupt check and find out when the sender
 * will never send, then take the message with MPI_Mrecv into a block of
 * exactly the right size.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpi-internal.h"

/* --- Sends in flight ----------------------------------------------------- */

/* An entry is one malloc'ed block unless BUF is set (a work area that an
 * abandoned exchange left to a send). */
static void
entry_free(par__mpi_pending *p)
{
  free(p->buf);
  free(p);
}

void
par__mpi_pending_free(par__mpi_pending *list)
{
  while (list != NULL) {
    par__mpi_pending *next = list->next;

    entry_free(list);
    list = next;
  }
}

void
par__mpi_pending_reap(par__mpi_pending **head)
{
  while (*head != NULL) {
    par__mpi_pending *p = *head;
    int done = 0;

    if (MPI_Testall(p->nreq, p->req, &done, MPI_STATUSES_IGNORE)
            != MPI_SUCCESS
        || done) {
      *head = p->next;
      entry_free(p);
    } else {
      head = &p->next;
    }
  }
}

void
par__mpi_pending_push(par__mpi_pending **head, par__mpi_pending *p)
{
  p->next = *head;
  *head = p;
}

void
par__mpi_pending_move(par__mpi_pending **to, par__mpi_pending *list)
{
  while (list != NULL) {
    par__mpi_pending *next = list->next;

    par__mpi_pending_push(to, list);
    list = next;
  }
}

/* --- Frames -------------------------------------------------------------- */

/* Send a frame as one block holding the list entry, its requests and a
 * copy of the frame, so that the caller's buffer is free at once and the
 * block goes when the requests complete. */
int
par__mpi_send(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
              size_t len)
{
  par__mpi *impl = par__mpi_impl(comm);
  size_t split = par__mpi_split();
  size_t pieces = len <= split ? 0 : (len + split - 1) / split;
  size_t reqbytes = (1 + pieces) * sizeof(MPI_Request);
  par__mpi_pending *p;
  char *frame;
  int rc, done = 0;

  par__mpi_progress(comm);
  if (pieces > (size_t) INT_MAX - 1) {
    return par__comm_fail(comm, PAR_ETOOBIG,
                          "a message of %zu bytes needs too many pieces", len);
  }
  p = malloc(sizeof *p + reqbytes + sizeof *hdr + len);
  if (p == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM,
                          "no memory to send %zu bytes to rank %d", len,
                          dest);
  }
  p->buf = NULL;
  p->nreq = 0;
  frame = (char *) p->req + reqbytes;
  memcpy(frame, hdr, sizeof *hdr);
  if (len > 0) {
    memcpy(frame + sizeof *hdr, buf, len);
  }
  /* The header, with the payload when it is not split. */
  rc = MPI_Isend(frame, (int) (sizeof *hdr + (pieces > 0 ? 0 : len)),
                 MPI_BYTE, dest, PAR__MPI_TAG_FRAME, impl->comm,
                 &p->req[p->nreq]);
  p->nreq += rc == MPI_SUCCESS;
  for (par__mpi_piece c = par__mpi_first_piece(pieces > 0 ? len : 0, 1);
       c.n > 0 && rc == MPI_SUCCESS; par__mpi_next_piece(&c)) {
    rc = MPI_Isend(frame + sizeof *hdr + c.off, (int) c.n, MPI_BYTE, dest,
                   PAR__MPI_TAG_PIECE, impl->comm, &p->req[p->nreq]);
    p->nreq += rc == MPI_SUCCESS;
  }
  /* Small messages usually go out at once; only the others are kept,
   * and so is whatever was posted before a failure, which still reads
   * the block. */
  if (rc == MPI_SUCCESS
      && MPI_Testall(p->nreq, p->req, &done, MPI_STATUSES_IGNORE)
             == MPI_SUCCESS
      && done) {
    free(p);
  } else if (p->nreq > 0) {
    par__mpi_pending_push(&impl->pending, p);
  } else {
    free(p);
  }
  return rc == MPI_SUCCESS ? PAR_OK : par__mpi_fail(comm, rc, "MPI_Isend");
}

/* Receive the further pieces of a split frame of LEN bytes from SOURCE. */
static int
recv_pieces(par_comm *comm, int source, char *data, size_t len)
{
  par__mpi *impl = par__mpi_impl(comm);
  size_t off = 0;

  while (off < len) {
    MPI_Message message;
    MPI_Status status;
    int n = 0, rc;

    rc = MPI_Mprobe(source, PAR__MPI_TAG_PIECE, impl->comm, &message,
                    &status);
    if (rc == MPI_SUCCESS) {
      rc = MPI_Get_count(&status, MPI_BYTE, &n);
    }
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Mprobe");
    }
    if (n <= 0 || (size_t) n > len - off) {
      char dummy;

      MPI_Mrecv(n > 0 ? NULL : &dummy, 0, MPI_BYTE, &message,
                MPI_STATUS_IGNORE);
      return par__comm_fail(comm, PAR_EMALFORMED,
                            "rank %d got a piece of %d bytes from rank %d "
                            "where %zu bytes were left",
                            comm->rank, n, source, len - off);
    }
    rc = MPI_Mrecv(data + off, n, MPI_BYTE, &message, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Mrecv");
    }
    off += (size_t) n;
  }
  return PAR_OK;
}

/* Wait for the first message of a frame from SOURCE (or MPI_ANY_SOURCE)
 * and match it (*MESSAGE, *STATUS). Unless BLOCK, a frame that has not
 * arrived is PAR_ENOENT at once. */
static int
probe_frame(par_comm *comm, int source, int block, MPI_Message *message,
            MPI_Status *status)
{
  MPI_Comm c = par__mpi_impl(comm)->comm;
  par__mpi_wait w;
  int flag = 0, rc = MPI_Improbe(source, PAR__MPI_TAG_FRAME, c, &flag,
                                 message, status);

  if (rc != MPI_SUCCESS) {
    return par__mpi_fail(comm, rc, "MPI_Improbe");
  }
  if (flag) {
    return PAR_OK;
  }
  if (!block) {
    return PAR_ENOENT;
  }
  par__mpi_wait_begin(comm, &w, PAR__OPKIND_RECV, 0,
                      source == MPI_ANY_SOURCE ? PAR__PEER_ANY : source);
  do {
    rc = par__mpi_wait_step(comm, &w);
    if (rc == PAR_OK) {
      rc = MPI_Improbe(source, PAR__MPI_TAG_FRAME, c, &flag, message,
                       status);
      if (rc != MPI_SUCCESS) {
        rc = par__mpi_fail(comm, rc, "MPI_Improbe");
      }
    }
  } while (rc == PAR_OK && !flag);
  return par__mpi_wait_end(comm, &w, rc);
}

/* Receive the next frame from SOURCE, or from any process when SOURCE is
 * MPI_ANY_SOURCE (the sender is then written to *FROM). Unless BLOCK, a
 * frame that has not arrived yet is PAR_ENOENT. */
static int
recv_frame(par_comm *comm, int source, int block, int *from, par__hdr *hdr,
           par_msg *out)
{
  MPI_Message message;
  MPI_Status status;
  char *block_data;
  int n = 0, rc;

  par__mpi_progress(comm);
  rc = probe_frame(comm, source, block, &message, &status);
  if (rc != PAR_OK) {
    return rc;
  }
  source = status.MPI_SOURCE;
  *from = source;
  rc = MPI_Get_count(&status, MPI_BYTE, &n);
  if (rc != MPI_SUCCESS) {
    return par__mpi_fail(comm, rc, "MPI_Get_count");
  }
  block_data = malloc(n > 0 ? (size_t) n : 1);
  if (block_data == NULL) {
    /* The matched message must still be taken off the queue. */
    MPI_Mrecv(NULL, 0, MPI_BYTE, &message, MPI_STATUS_IGNORE);
    return par__comm_fail(comm, PAR_ENOMEM,
                          "no memory to receive %d bytes from rank %d", n,
                          source);
  }
  rc = MPI_Mrecv(block_data, n, MPI_BYTE, &message, MPI_STATUS_IGNORE);
  if (rc != MPI_SUCCESS) {
    free(block_data);
    return par__mpi_fail(comm, rc, "MPI_Mrecv");
  }
  if ((size_t) n < sizeof *hdr) {
    free(block_data);
    return par__comm_fail(comm, PAR_EMALFORMED,
                          "rank %d got a frame of %d bytes from rank %d",
                          comm->rank, n, source);
  }
  memcpy(hdr, block_data, sizeof *hdr);
  if (hdr->len == (size_t) n - sizeof *hdr) {
    /* The payload stays where it landed, just after the header. */
    par__msg_take_block(out, block_data, block_data + sizeof *hdr,
                        hdr->len);
    return PAR_OK;
  }
  free(block_data);
  if ((size_t) n != sizeof *hdr || hdr->len > SIZE_MAX - 1) {
    return par__comm_fail(comm, PAR_EMALFORMED,
                          "rank %d got a frame from rank %d announcing %llu "
                          "bytes but holding %d",
                          comm->rank, source, (unsigned long long) hdr->len,
                          n);
  }
  block_data = malloc((size_t) hdr->len);
  if (block_data == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM,
                          "no memory to receive %llu bytes from rank %d",
                          (unsigned long long) hdr->len, source);
  }
  rc = recv_pieces(comm, source, block_data, (size_t) hdr->len);
  if (rc != PAR_OK) {
    free(block_data);
    return rc;
  }
  par__msg_take_malloc(out, block_data, (size_t) hdr->len);
  return PAR_OK;
}

int
par__mpi_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out)
{
  int from;

  return recv_frame(comm, source, 1, &from, hdr, out);
}

int
par__mpi_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
                  par_msg *out)
{
  return recv_frame(comm, MPI_ANY_SOURCE, block, source, hdr, out);
}

