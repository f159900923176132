/* mpi-comm.c — the MPI backend: life cycle, frames and agreement.
 *
 * A frame (par__hdr plus bytes) goes as one MPI message when it fits under
 * the split threshold, and otherwise as a message holding the header alone
 * followed by pieces of at most the threshold on another tag; MPI keeps
 * messages between two processes on one tag in order, so the pieces of a
 * frame are the next ones from its sender. Sends copy the bytes and
 * complete in the background, which gives par_comm_send its "may return
 * before DEST receives" promise even for large messages. Receives poll
 * MPI_Improbe with a growing back-off so that they honour the timeout and
 * the interrupt check, then take the message with MPI_Mrecv into a block of
 * exactly the right size.
 *
 * Every collective starts with an exchange of small headers saying which
 * collective each process is in (see mpi-internal.h). It is an allgather
 * written with point-to-point messages (Bruck's algorithm: ceil(log2 SIZE)
 * rounds), not MPI_Iallgather: it is as fast as MPI_Allgather, much faster
 * than the nonblocking collectives, and a wait on it can be abandoned. If it
 * is abandoned (timeout, interrupt), the process is out of step with the
 * others for good: its later collectives fail at once, while the others
 * see a mismatch or time out in turn.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi-internal.h"

/* --- Process-wide state -------------------------------------------------- */

/* Guards the fields below that other threads touch: the initialisation
 * and the list of communicators destroyed off the MPI thread. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialised_by_us;
static int have_mpi_thread;
static pthread_t mpi_thread;
static pid_t mpi_pid;

/* Communicators destroyed on another thread, to be freed by the MPI
 * thread (MPI is not called from finalizer threads). */
typedef struct orphan {
  struct orphan *next;
  MPI_Comm comm;
  par__mpi_pending *pending;
} orphan;

static orphan *orphans;
static atomic_int have_orphans;

/* Sends still in flight from communicators already destroyed. Touched on
 * the MPI thread only. */
static par__mpi_pending *abandoned;

static _Atomic size_t split_threshold = PAR_MPI_SPLIT_DEFAULT;

void
par_mpi_set_split_threshold(size_t bytes)
{
  if (bytes == 0) {
    bytes = PAR_MPI_SPLIT_DEFAULT;
  } else if (bytes > PAR_MPI_SPLIT_MAX) {
    bytes = PAR_MPI_SPLIT_MAX;
  }
  atomic_store(&split_threshold, bytes);
}

size_t
par_mpi_split_threshold(void)
{
  return atomic_load(&split_threshold);
}

size_t
par__mpi_split(void)
{
  return atomic_load(&split_threshold);
}

static int
mpi_alive(void)
{
  int init = 0, fini = 0;

  MPI_Initialized(&init);
  MPI_Finalized(&fini);
  return init && !fini;
}

static int
on_mpi_thread(void)
{
  return have_mpi_thread && pthread_equal(pthread_self(), mpi_thread)
         && getpid() == mpi_pid;
}

static void reap_orphans(void);

static void
finalize_at_exit(void)
{
  /* A forked child that calls exit must not finalise its parent's MPI. */
  if (getpid() != mpi_pid || !mpi_alive()) {
    return;
  }
  /* Communicators destroyed off the MPI thread since its last operation
   * are freed now, or MPI_Finalize would leave them allocated. */
  if (on_mpi_thread()) {
    reap_orphans();
  }
  MPI_Finalize();
}

int
par_mpi_init(void)
{
  int init = 0, fini = 0, rc = PAR_OK;

  pthread_mutex_lock(&state_lock);
  MPI_Finalized(&fini);
  if (fini) {
    rc = PAR_EMPI;
    goto out;
  }
  MPI_Initialized(&init);
  if (!init) {
    int provided;

    /* SERIALIZED rather than FUNNELED: a Guile program may well talk to
     * MPI from a thread other than the first, one at a time. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided)
        != MPI_SUCCESS) {
      rc = PAR_EMPI;
      goto out;
    }
    initialised_by_us = 1;
  }
  if (!have_mpi_thread) {
    mpi_thread = pthread_self();
    mpi_pid = getpid();
    have_mpi_thread = 1;
    if (initialised_by_us && atexit(finalize_at_exit) != 0) {
      rc = PAR_ENOMEM;
    }
  }
out:
  pthread_mutex_unlock(&state_lock);
  return rc;
}

int
par__mpi_fail(par_comm *comm, int err, const char *call)
{
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;

  if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) {
    len = 0;
  }
  text[len] = '\0';
  return par__comm_fail(comm, PAR_EMPI, "%s failed on rank %d: %s", call,
                        comm->rank, len > 0 ? text : "unknown MPI error");
}

/* --- Sends in flight ----------------------------------------------------- */

static void
pending_free(par__mpi_pending *p)
{
  free(p->buf);
  free(p);
}

/* Drop the entries of *HEAD whose requests have completed. */
static void
pending_reap(par__mpi_pending **head)
{
  while (*head != NULL) {
    par__mpi_pending *p = *head;
    int done = 0;

    if (MPI_Testall(p->nreq, p->req, &done, MPI_STATUSES_IGNORE)
            != MPI_SUCCESS
        || done) {
      *head = p->next;
      pending_free(p);
    } else {
      head = &p->next;
    }
  }
}

static void
pending_push(par__mpi_pending **head, par__mpi_pending *p)
{
  p->next = *head;
  *head = p;
}

static void
pending_move(par__mpi_pending **to, par__mpi_pending *list)
{
  while (list != NULL) {
    par__mpi_pending *next = list->next;

    pending_push(to, list);
    list = next;
  }
}

static void
reap_orphans(void)
{
  orphan *list;

  pthread_mutex_lock(&state_lock);
  list = orphans;
  orphans = NULL;
  atomic_store(&have_orphans, 0);
  pthread_mutex_unlock(&state_lock);
  while (list != NULL) {
    orphan *next = list->next;

    pending_move(&abandoned, list->pending);
    MPI_Comm_free(&list->comm);
    free(list);
    list = next;
  }
}

void
par__mpi_progress(par_comm *comm)
{
  par__mpi *impl = par__mpi_impl(comm);

  if (atomic_load_explicit(&have_orphans, memory_order_relaxed)
      && on_mpi_thread()) {
    reap_orphans();
  }
  if (abandoned != NULL) {
    pending_reap(&abandoned);
  }
  if (impl->pending != NULL) {
    pending_reap(&impl->pending);
  }
}

/* --- Waiting ------------------------------------------------------------- */

typedef struct backoff {
  unsigned iter;
  double start;
  double deadline;
} backoff;

/* Called after each unsuccessful test. The first thousand or so tests spin
 * (a peer a few microseconds late costs nothing more); then the process
 * yields for a couple of milliseconds, which lets an oversubscribed peer
 * run; then it sleeps, longer and longer up to 1 ms, so that a rank
 * waiting for minutes does not burn a core. */
static int
backoff_step(par_comm *comm, backoff *b)
{
  double now, elapsed;

  b->iter++;
  if (b->iter < 1024) {
    return (b->iter & 63) != 0 ? PAR_OK : par__comm_poll(comm, b->deadline);
  }
  now = par__now();
  if (b->start == 0) {
    b->start = now;
  }
  elapsed = now - b->start;
  if (elapsed < 0.002) {
    sched_yield();
  } else {
    double s = elapsed / 16;
    struct timespec ts;

    if (s > 0.001) {
      s = 0.001;
    }
    ts.tv_sec = 0;
    ts.tv_nsec = (long) (s * 1e9);
    nanosleep(&ts, NULL);
  }
  return par__comm_poll(comm, b->deadline);
}

int
par__mpi_waitall(par_comm *comm, int n, MPI_Request *req, double deadline,
                 int poll)
{
  backoff b = {0, 0, deadline};
  int rc;

  if (!poll) {
    rc = MPI_Waitall(n, req, MPI_STATUSES_IGNORE);
    return rc == MPI_SUCCESS ? PAR_OK : par__mpi_fail(comm, rc, "MPI_Waitall");
  }
  for (;;) {
    int done = 0;

    rc = MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Testall");
    }
    if (done) {
      return PAR_OK;
    }
    rc = backoff_step(comm, &b);
    if (rc != PAR_OK) {
      return rc;
    }
  }
}

/* --- Frames -------------------------------------------------------------- */

static int
mpi_send(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
         size_t len)
{
  par__mpi *impl = par__mpi_impl(comm);
  size_t split = par__mpi_split();
  size_t first = len <= split ? len : 0;
  size_t npieces = len <= split ? 0 : (len + split - 1) / split;
  size_t reqbytes = (1 + npieces) * sizeof(MPI_Request);
  par__mpi_pending *p;
  char *data;
  int rc, done = 0;

  par__mpi_progress(comm);
  if (npieces > (size_t) INT_MAX - 1) {
    return par__comm_fail(comm, PAR_ETOOBIG,
                          "a message of %zu bytes needs too many pieces", len);
  }
  /* One block: the entry, its requests, then the frame itself. */
  p = malloc(sizeof *p + reqbytes + sizeof *hdr + len);
  if (p == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM,
                          "no memory to send %zu bytes to rank %d", len,
                          dest);
  }
  p->buf = NULL;
  p->nreq = 0;
  data = (char *) p->req + reqbytes;
  memcpy(data, hdr, sizeof *hdr);
  if (len > 0) {
    memcpy(data + sizeof *hdr, buf, len);
  }
  rc = MPI_Isend(data, (int) (sizeof *hdr + first), MPI_BYTE, dest,
                 PAR__MPI_TAG_FRAME, impl->comm, &p->req[p->nreq]);
  if (rc != MPI_SUCCESS) {
    goto fail;
  }
  p->nreq++;
  for (size_t off = 0; off < len && npieces > 0; off += split) {
    size_t n = len - off < split ? len - off : split;

    rc = MPI_Isend(data + sizeof *hdr + off, (int) n, MPI_BYTE, dest,
                   PAR__MPI_TAG_PIECE, impl->comm, &p->req[p->nreq]);
    if (rc != MPI_SUCCESS) {
      goto fail;
    }
    p->nreq++;
  }
  /* Small messages usually go out at once; only the others are kept. */
  if (MPI_Testall(p->nreq, p->req, &done, MPI_STATUSES_IGNORE) == MPI_SUCCESS
      && done) {
    free(p);
  } else {
    pending_push(&impl->pending, p);
  }
  return PAR_OK;
fail:
  /* Whatever was posted still reads the block: keep it until it is done. */
  if (p->nreq > 0) {
    pending_push(&impl->pending, p);
  } else {
    free(p);
  }
  return par__mpi_fail(comm, rc, "MPI_Isend");
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

/* Receive the next frame from SOURCE, or from any process when SOURCE is
 * MPI_ANY_SOURCE (the sender is then written to *FROM). Unless BLOCK, a
 * frame that has not arrived yet is PAR_ENOENT. */
static int
recv_frame(par_comm *comm, int source, int block, int *from, par__hdr *hdr,
           par_msg *out)
{
  par__mpi *impl = par__mpi_impl(comm);
  backoff b = {0, 0, par__deadline(comm)};
  MPI_Message message;
  MPI_Status status;
  char *block_data;
  int flag = 0, n = 0, rc;

  par__mpi_progress(comm);
  for (;;) {
    rc = MPI_Improbe(source, PAR__MPI_TAG_FRAME, impl->comm, &flag, &message,
                     &status);
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Improbe");
    }
    if (flag) {
      break;
    }
    if (!block) {
      return PAR_ENOENT;
    }
    rc = backoff_step(comm, &b);
    if (rc != PAR_OK) {
      return rc;
    }
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

static int
mpi_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out)
{
  int from;

  return recv_frame(comm, source, 1, &from, hdr, out);
}

static int
mpi_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
             par_msg *out)
{
  return recv_frame(comm, MPI_ANY_SOURCE, block, source, hdr, out);
}

/* --- Agreement ----------------------------------------------------------- */

static uint64_t
mix(uint64_t h, uint64_t v)
{
  /* FNV-1a over the value, then a final avalanche from splitmix64. */
  h = (h ^ v) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

uint64_t
par__mpi_digest(const size_t *counts, int n)
{
  uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t) n;

  for (int i = 0; i < n; i++) {
    h = mix(h, (uint64_t) counts[i]);
  }
  return h;
}

int
par__mpi_exchange(par_comm *comm, const par__mpi_chdr *mine)
{
  par__mpi *impl = par__mpi_impl(comm);
  const int p = comm->size, r = comm->rank;
  const int sz = (int) sizeof *mine;
  double deadline = par__deadline(comm);
  par__mpi_chdr *x;
  int have = 1, round = 0, rc;

  par__mpi_progress(comm);
  if (impl->abandoned != 0) {
    return par__comm_fail(comm, PAR_EABORTED,
                          "rank %d gave up collective #%u, so the processes "
                          "are out of step; use a new communicator",
                          comm->rank, impl->abandoned);
  }
  if (impl->xbuf == NULL) {
    impl->xbuf = malloc((size_t) p * sizeof *impl->xbuf);
    if (impl->xbuf == NULL) {
      return par__comm_fail(comm, PAR_ENOMEM, "no memory for %d headers", p);
    }
  }
  if (comm->timeout <= 0) {
    /* Nothing to give up on: MPI's own allgather, as fast as the job's
     * network allows. An interrupt (Ctrl-C) is then mpirun's business: it
     * forwards the signal to every rank. */
    rc = MPI_Allgather(mine, sz, MPI_BYTE, impl->all, sz, MPI_BYTE,
                       impl->comm);
    return rc == MPI_SUCCESS ? PAR_OK
                             : par__mpi_fail(comm, rc, "MPI_Allgather");
  }
  x = impl->xbuf;
  x[0] = *mine;
  /* Before round k, X holds the headers of ranks R .. R+HAVE-1 (mod P);
   * the round appends those of the next N ranks from rank R+D. */
  for (int d = 1; d < p; d <<= 1, round++) {
    int n = d < p - d ? d : p - d;
    MPI_Request req[2];

    rc = MPI_Irecv(x + have, n * sz, MPI_BYTE, (r + d) % p,
                   PAR__MPI_TAG_HDR + round, impl->comm, &req[0]);
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Irecv");
    }
    rc = MPI_Isend(x, n * sz, MPI_BYTE, (r - d + p) % p,
                   PAR__MPI_TAG_HDR + round, impl->comm, &req[1]);
    if (rc != MPI_SUCCESS) {
      MPI_Cancel(&req[0]);
      MPI_Wait(&req[0], MPI_STATUS_IGNORE);
      return par__mpi_fail(comm, rc, "MPI_Isend");
    }
    rc = par__mpi_waitall(comm, 2, req, deadline, 1);
    if (rc != PAR_OK) {
      int done = 0;

      /* Give up the round. The send may still be reading X: if so, X goes
       * with it, and the next exchange allocates a fresh one. */
      impl->abandoned = mine->seq != 0 ? mine->seq : 1;
      MPI_Cancel(&req[0]);
      MPI_Wait(&req[0], MPI_STATUS_IGNORE);
      MPI_Test(&req[1], &done, MPI_STATUS_IGNORE);
      if (!done) {
        par__mpi_pending *keep = malloc(sizeof *keep + sizeof req[1]);

        if (keep != NULL) {
          keep->buf = x;
          keep->nreq = 1;
          keep->req[0] = req[1];
          pending_push(&impl->pending, keep);
        } else {
          MPI_Request_free(&req[1]);
        }
        impl->xbuf = NULL;
      }
      return rc;
    }
    have += n;
  }
  for (int k = 0; k < p; k++) {
    impl->all[(r + k) % p] = x[k];
  }
  return PAR_OK;
}

static void
describe_type(uint32_t type, char *out, size_t size)
{
  if (type == PAR__MPI_BYTES) {
    snprintf(out, size, "bytes");
  } else if (type < PAR_DTYPE_COUNT) {
    snprintf(out, size, "%s elements", par_dtype_name((par_dtype) type));
  } else {
    snprintf(out, size, "elements of unknown type %u", type);
  }
}

static const char *
redop_name(uint32_t op)
{
  return op < PAR_REDUCE_COUNT ? par_reduce_op_name((par_reduce_op) op)
                               : "an unknown operator";
}

int
par__mpi_agree(par_comm *comm, const par__mpi_chdr *mine, unsigned what)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  const char *name = par_opkind_name((par_opkind) mine->op);
  int me = comm->rank;

  /* Operation and number first: they say the most about what went wrong. */
  for (int r = 0; r < comm->size; r++) {
    if (all[r].op != mine->op || all[r].seq != mine->seq) {
      return par__comm_fail(comm, PAR_EMISMATCH,
                            "rank %d is in %s (collective #%u) but rank %d "
                            "is in %s (collective #%u)",
                            me, name, mine->seq, r,
                            par_opkind_name((par_opkind) all[r].op),
                            all[r].seq);
    }
  }
  for (int r = 0; r < comm->size; r++) {
    const par__mpi_chdr *h = &all[r];

    if ((what & PAR__MPI_SAME_ROOT) && h->root != mine->root) {
      return par__comm_fail(comm, PAR_EMISMATCH,
                            "rank %d is in %s (collective #%u) with root %d "
                            "but rank %d with root %d",
                            me, name, mine->seq, mine->root, r, h->root);
    }
    if ((what & PAR__MPI_SAME_TYPE) && h->type != mine->type) {
      char a[48], b[48];

      describe_type(mine->type, a, sizeof a);
      describe_type(h->type, b, sizeof b);
      return par__comm_fail(comm, PAR_EMISMATCH,
                            "rank %d is in %s (collective #%u) of %s but "
                            "rank %d of %s",
                            me, name, mine->seq, a, r, b);
    }
    if ((what & PAR__MPI_SAME_REDOP) && h->redop != mine->redop) {
      return par__comm_fail(comm, PAR_EMISMATCH,
                            "rank %d is in %s (collective #%u) with %s but "
                            "rank %d with %s",
                            me, name, mine->seq, redop_name(mine->redop), r,
                            redop_name(h->redop));
    }
  }
  if (what & PAR__MPI_SAME_COUNT) {
    for (int r = 0; r < comm->size; r++) {
      if (all[r].count != mine->count) {
        return par__comm_fail(comm, PAR_ESIZE,
                              "rank %d has %llu elements in %s (collective "
                              "#%u) but rank %d has %llu",
                              me, (unsigned long long) mine->count, name,
                              mine->seq, r,
                              (unsigned long long) all[r].count);
      }
    }
  }
  return PAR_OK;
}

/* --- Life cycle ---------------------------------------------------------- */

static int
mpi_abort(par_comm *comm, int code)
{
  int rc = MPI_Abort(par__mpi_impl(comm)->comm, code);

  return par__mpi_fail(comm, rc, "MPI_Abort");
}

static void
impl_free(par__mpi *impl)
{
  free(impl->xbuf);
  free(impl->all);
  free(impl);
}

static void
mpi_destroy(par_comm *comm)
{
  par__mpi *impl = par__mpi_impl(comm);

  if (getpid() != mpi_pid || !mpi_alive()) {
    /* MPI is gone (or belongs to our parent): only memory is left. */
    while (impl->pending != NULL) {
      par__mpi_pending *next = impl->pending->next;

      pending_free(impl->pending);
      impl->pending = next;
    }
  } else if (on_mpi_thread()) {
    pending_reap(&impl->pending);
    pending_move(&abandoned, impl->pending);
    MPI_Comm_free(&impl->comm);
  } else {
    orphan *o = malloc(sizeof *o);

    /* Without memory for the note the MPI communicator leaks; that is
     * still better than calling MPI from a finalizer thread. */
    if (o != NULL) {
      o->comm = impl->comm;
      o->pending = impl->pending;
      pthread_mutex_lock(&state_lock);
      o->next = orphans;
      orphans = o;
      atomic_store(&have_orphans, 1);
      pthread_mutex_unlock(&state_lock);
    }
  }
  impl_free(impl);
}

/* Wrap MPI communicator C, which the result then owns, in a par_comm. */
static int
wrap(MPI_Comm c, par_comm **out)
{
  par__mpi *impl;
  int rank, size, rc;

  rc = MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Comm_rank(c, &rank);
  }
  if (rc == MPI_SUCCESS) {
    rc = MPI_Comm_size(c, &size);
  }
  if (rc != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  impl = calloc(1, sizeof *impl);
  if (impl == NULL) {
    return PAR_ENOMEM;
  }
  impl->comm = c;
  impl->all = malloc((size_t) size * sizeof *impl->all);
  if (impl->all == NULL) {
    rc = PAR_ENOMEM;
    goto fail;
  }
  rc = par__comm_new(&par__mpi_ops, rank, size, impl, out);
  if (rc != PAR_OK) {
    goto fail;
  }
  return PAR_OK;
fail:
  impl_free(impl);
  return rc;
}

int
par_comm_mpi_create(MPI_Comm base, par_comm **out)
{
  MPI_Comm dup;
  int rc;

  if (out == NULL || base == MPI_COMM_NULL) {
    return PAR_EINVAL;
  }
  rc = par_mpi_init();
  if (rc != PAR_OK) {
    return rc;
  }
  if (have_orphans && on_mpi_thread()) {
    reap_orphans();
  }
  if (MPI_Comm_dup(base, &dup) != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  rc = wrap(dup, out);
  if (rc != PAR_OK) {
    MPI_Comm_free(&dup);
  }
  return rc;
}

int
par_comm_mpi_world(par_comm **out)
{
  return par_comm_mpi_create(MPI_COMM_WORLD, out);
}

MPI_Comm
par_comm_mpi_handle(const par_comm *comm)
{
  if (comm == NULL || comm->ops != &par__mpi_ops) {
    return MPI_COMM_NULL;
  }
  return ((const par__mpi *) comm->impl)->comm;
}

static uint64_t
digest_ranks(const int *ranks, int n)
{
  uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t) n;

  for (int i = 0; i < n; i++) {
    h = mix(h, (uint64_t) (int64_t) ranks[i]);
  }
  return h;
}

static int
check_ranks(par_comm *parent, const int *ranks, int n)
{
  char *seen;

  if (n < 1 || ranks == NULL) {
    return par__comm_fail(parent, PAR_EINVAL, "a group needs a rank or more");
  }
  seen = calloc((size_t) parent->size, 1);
  if (seen == NULL) {
    return PAR_ENOMEM;
  }
  for (int i = 0; i < n; i++) {
    if (ranks[i] < 0 || ranks[i] >= parent->size || seen[ranks[i]]) {
      int bad = ranks[i];

      free(seen);
      if (bad < 0 || bad >= parent->size) {
        return par__comm_fail(parent, PAR_EINVAL,
                              "rank %d is not in 0..%d", bad,
                              parent->size - 1);
      }
      return par__comm_fail(parent, PAR_EINVAL,
                            "rank %d is listed twice for the group", bad);
    }
    seen[ranks[i]] = 1;
  }
  free(seen);
  return PAR_OK;
}

int
par_comm_mpi_subgroup(par_comm *parent, const int *ranks, int n,
                      par_comm **out)
{
  par__mpi *impl;
  par__mpi_chdr mine;
  MPI_Group whole = MPI_GROUP_NULL, part = MPI_GROUP_NULL;
  MPI_Comm c = MPI_COMM_NULL;
  par_comm *sub;
  int rc;

  if (parent == NULL || out == NULL) {
    return PAR_EINVAL;
  }
  if (parent->ops != &par__mpi_ops) {
    return par__comm_fail(parent, PAR_EINVAL,
                          "a %s communicator has no MPI subgroups",
                          parent->ops->backend);
  }
  impl = par__mpi_impl(parent);
  /* This is a collective of PARENT: count it like the others, and let the
   * processes agree on it before MPI_Comm_create, which would hang on a
   * process that is elsewhere. */
  parent->coll_seq++;
  parent->detail[0] = '\0';
  memset(&mine, 0, sizeof mine);
  mine.op = PAR_OPKIND_CONTROL;
  mine.seq = parent->coll_seq;
  mine.root = -1;
  mine.type = PAR__MPI_BYTES;
  mine.count = n > 0 ? (uint64_t) n : 0;
  mine.digest = n > 0 && ranks != NULL ? digest_ranks(ranks, n) : 0;
  rc = par__mpi_exchange(parent, &mine);
  if (rc == PAR_OK) {
    rc = par__mpi_agree(parent, &mine, PAR__MPI_SAME_COUNT);
  }
  if (rc != PAR_OK) {
    return rc;
  }
  for (int r = 0; r < parent->size; r++) {
    if (impl->all[r].digest != mine.digest) {
      return par__comm_fail(parent, PAR_EMISMATCH,
                            "rank %d and rank %d list different ranks for "
                            "a new group",
                            parent->rank, r);
    }
  }
  rc = check_ranks(parent, ranks, n);
  if (rc != PAR_OK) {
    return rc;
  }
  rc = MPI_Comm_group(impl->comm, &whole);
  if (rc != MPI_SUCCESS) {
    return par__mpi_fail(parent, rc, "MPI_Comm_group");
  }
  rc = MPI_Group_incl(whole, n, ranks, &part);
  if (rc != MPI_SUCCESS) {
    rc = par__mpi_fail(parent, rc, "MPI_Group_incl");
    goto done;
  }
  rc = MPI_Comm_create(impl->comm, part, &c);
  if (rc != MPI_SUCCESS) {
    rc = par__mpi_fail(parent, rc, "MPI_Comm_create");
    goto done;
  }
  if (c == MPI_COMM_NULL) {
    *out = NULL;
    rc = PAR_OK;
    goto done;
  }
  rc = wrap(c, &sub);
  if (rc != PAR_OK) {
    MPI_Comm_free(&c);
    rc = par__comm_fail(parent, rc, "cannot set up the new group");
    goto done;
  }
  sub->timeout = parent->timeout;
  sub->interrupt = parent->interrupt;
  sub->interrupt_data = parent->interrupt_data;
  *out = sub;
done:
  if (part != MPI_GROUP_NULL) {
    MPI_Group_free(&part);
  }
  MPI_Group_free(&whole);
  return rc;
}

const par__comm_ops par__mpi_ops = {
    .backend = "mpi",
    .send = mpi_send,
    .recv = mpi_recv,
    .recv_any = mpi_recv_any,
    .barrier = par__mpi_barrier,
    .bcast_bytes = par__mpi_bcast_bytes,
    .scatterv_bytes = par__mpi_scatterv_bytes,
    .gatherv_bytes = par__mpi_gatherv_bytes,
    .allgatherv_bytes = par__mpi_allgatherv_bytes,
    .bcast = par__mpi_bcast,
    .scatterv = par__mpi_scatterv,
    .gatherv = par__mpi_gatherv,
    .allgatherv = par__mpi_allgatherv,
    .reduce = par__mpi_reduce,
    .allreduce = par__mpi_allreduce,
    .abort = mpi_abort,
    .destroy = mpi_destroy,
};
