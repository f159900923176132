/* comm-internal.h — what a backend implements. This file is private.
 *
 * A backend supplies point-to-point "frames" (a header plus bytes); the
 * generic layer in comm.c builds every collective from them and does the
 * operation/sequence checks. A backend with native collectives (MPI) fills
 * in the optional slots; those then do their own checks.
 */
#ifndef PAR_COMM_INTERNAL_H
#define PAR_COMM_INTERNAL_H

#include <stdarg.h>

#include "par/comm.h"
#include "par/trace.h"

/* The element type stated by what moves plain bytes, where a par_dtype
 * would otherwise be. */
#define PAR__BYTES 0xffffu

/* The header every frame carries. OP is a par_opkind; SEQ counts the
 * collectives entered on the communicator (for collectives) or the messages
 * sent from the sender to the receiver (for PAR_OPKIND_SEND). AUX is the
 * element type of the payload (a par_dtype, or PAR__BYTES). FROM is the
 * sender's rank where a channel has several senders (the multiprocessing
 * broadcast ring), 0 elsewhere. */
typedef struct par__hdr {
  uint32_t op;
  uint32_t seq;
  uint32_t aux;
  uint32_t from;
  uint64_t len;
} par__hdr;

typedef struct par__comm_ops {
  const char *backend;

  /* Required: send one frame to DEST and receive the next frame from
   * SOURCE. recv must honour the communicator's timeout and interrupt
   * check (par__comm_poll) and fail with PAR_EPEER when SOURCE is gone. */
  int (*send)(par_comm *comm, int dest, const par__hdr *hdr, const void *buf,
              size_t len);
  int (*recv)(par_comm *comm, int source, par__hdr *hdr, par_msg *out);

  /* Optional: receive the next frame from whichever process has one
   * ready, writing its rank to *SOURCE. Unless BLOCK, return PAR_ENOENT at
   * once when none is ready. NULL: the backend cannot (PAR_ENOTSUP). */
  int (*recv_any)(par_comm *comm, int block, int *source, par__hdr *hdr,
                  par_msg *out);

  /* Optional native collectives: NULL means the generic version (the
   * slots of par__generic_ops). The public wrapper has already validated
   * the arguments and incremented COMM->coll_seq, which the slot stamps on
   * what it sends. */
  int (*barrier)(par_comm *comm);
  int (*bcast_bytes)(par_comm *comm, int root, const void *buf, size_t len,
                     par_msg *out);
  int (*scatterv_bytes)(par_comm *comm, int root, const void *buf,
                        const size_t *counts, par_msg *out);
  int (*gatherv_bytes)(par_comm *comm, int root, const void *buf, size_t len,
                       par_msg *out, size_t *counts);
  int (*allgatherv_bytes)(par_comm *comm, const void *buf, size_t len,
                          par_msg *out, size_t *counts);
  int (*bcast)(par_comm *comm, int root, void *buf, size_t count,
               par_dtype type);
  int (*scatterv)(par_comm *comm, int root, const void *sendbuf,
                  const size_t *counts, void *recvbuf, size_t recvcount,
                  par_dtype type);
  int (*gatherv)(par_comm *comm, int root, const void *sendbuf,
                 size_t sendcount, void *recvbuf, const size_t *counts,
                 par_dtype type);
  int (*allgatherv)(par_comm *comm, const void *sendbuf, size_t sendcount,
                    void *recvbuf, const size_t *counts, par_dtype type);
  int (*reduce)(par_comm *comm, int root, const void *sendbuf, void *recvbuf,
                size_t count, par_dtype type, par_reduce_op op);
  int (*allreduce)(par_comm *comm, const void *sendbuf, void *recvbuf,
                   size_t count, par_dtype type, par_reduce_op op);

  /* Optional: stop the whole group (see par_comm_abort). */
  int (*abort)(par_comm *comm, int code);

  /* Required: free the backend's state (IMPL), not COMM itself. */
  void (*destroy)(par_comm *comm);
} par__comm_ops;

/* A trace being recorded (trace.c): the events so far, and the operation
 * in progress, entered DEPTH times (an operation may run others inside
 * itself, which belong to its event). */
typedef struct par__trace {
  par_trace_event *events;
  size_t n;
  size_t cap;
  par_trace_event cur;
  int depth;
} par__trace;

struct par_comm {
  const par__comm_ops *ops;
  int rank;
  int size;
  uint32_t coll_seq;  /* collectives entered so far */
  uint32_t cur_op;    /* the operation in progress (a par_opkind, or
                       * PAR__OPKIND_RECV) ... */
  uint32_t cur_seq;   /* ... and its number, for describing waits */
  uint32_t *sent_seq; /* SIZE counters: messages sent to each rank */
  uint32_t *recv_seq; /* SIZE counters: messages received from each rank */
  double timeout;     /* seconds; <= 0: none */
  int (*interrupt)(void *data);
  void *interrupt_data;
  char detail[320];
  void *impl; /* the backend's state */
  /* The trace being recorded (par/trace.h), or NULL: the one thing an
   * operation looks at when tracing is off. TRACE_KEPT holds a stopped
   * trace's events. */
  par__trace *trace;
  par__trace *trace_kept;
};

/* The collectives built from a backend's frames (coll-generic.c): every
 * optional slot is filled, the others are NULL. They are what a backend
 * without a native collective gets, and what every group of one process
 * gets. */
extern const par__comm_ops par__generic_ops;

/* The functions below are exported from libparallelizer, though not part
 * of its API, because the MPI backend is a library of its own
 * (libparallelizer-mpi) built on them. */

/* Allocate and initialise a communicator for a backend. On success *OUT
 * owns nothing of IMPL until the backend's destroy is called by
 * par_comm_destroy. */
PAR_EXTERN int par__comm_new(const par__comm_ops *ops, int rank, int size,
                             void *impl, par_comm **out);

/* Record a sentence for par_comm_error_detail and return CODE. */
PAR_EXTERN int par__comm_fail(par_comm *comm, int code, const char *fmt,
                              ...)
    __attribute__((format(printf, 3, 4)));

/* For backends' wait loops: returns PAR_OK to keep waiting, PAR_EINTR if the
 * interrupt check fired, or PAR_ETIMEDOUT if DEADLINE (from
 * par__deadline) has passed. */
PAR_EXTERN int par__comm_poll(par_comm *comm, double deadline);

/* The absolute monotonic time at which COMM's timeout expires from now, or
 * 0 when there is none. */
PAR_EXTERN double par__deadline(const par_comm *comm);

/* Monotonic clock in seconds. */
PAR_EXTERN double par__now(void);

/* A par_msg that owns a malloc'ed block: release frees it. */
PAR_EXTERN void par__msg_take_malloc(par_msg *msg, void *data,
                                     size_t len);

/* A par_msg whose DATA/LEN lie inside BLOCK, a malloc'ed block it owns:
 * release frees BLOCK. */
PAR_EXTERN void par__msg_take_block(par_msg *msg, void *block,
                                    const void *data, size_t len);

/* A par_msg that borrows DATA: release does nothing. */
PAR_EXTERN void par__msg_borrow(par_msg *msg, const void *data, size_t len);

/* --- Tracing (trace.c) ----------------------------------------------------
 *
 * Every operation's entry point calls PAR__TRACE_BEGIN once, and returns
 * through PAR__TRACE_END, which records the event and hands back RC; a
 * backend's waits add their length with PAR__TRACE_WAIT. Each costs one
 * predictable branch while tracing is off, and BYTES is only evaluated
 * while it is on. An operation that another one runs inside itself is
 * part of the outer one's event. */

PAR_EXTERN void par__trace_begin(par_comm *comm, uint32_t kind, int peer);
PAR_EXTERN int par__trace_end(par_comm *comm, int rc, uint64_t bytes);
PAR_EXTERN void par__trace_wait(par_comm *comm, double seconds);

/* Free COMM's trace, if any (par_comm_destroy). */
void par__trace_free(par_comm *comm);

#define PAR__TRACE_BEGIN(comm, kind, peer)                                  \
  do {                                                                      \
    if ((comm)->trace != NULL) {                                            \
      par__trace_begin((comm), (kind), (peer));                             \
    }                                                                       \
  } while (0)

#define PAR__TRACE_END(comm, rc, bytes)                                     \
  ((comm)->trace != NULL ? par__trace_end((comm), (rc), (bytes)) : (rc))

#define PAR__TRACE_WAIT(comm, seconds)                                      \
  do {                                                                      \
    if ((comm)->trace != NULL) {                                            \
      par__trace_wait((comm), (seconds));                                   \
    }                                                                       \
  } while (0)

/* --- Describing operations (describe.c) ---------------------------------- */

/* What a process is in while it receives a message (par_comm_recv,
 * par_comm_recv_any): not a kind that frames carry, since only senders
 * stamp frames, but one that descriptions name ("receive-from"). */
#define PAR__OPKIND_RECV ((uint32_t) PAR_OPKIND_COUNT)

/* The other rank of a send or receive, where a description has none. */
enum {
  PAR__PEER_NONE = -1, /* leave it out */
  PAR__PEER_ANY = -2   /* a receive from any rank */
};

/* An operation, as descriptions name it. */
typedef struct par__op {
  uint32_t kind; /* a par_opkind, or PAR__OPKIND_RECV */
  uint32_t seq;  /* a collective's number; a sent message's number between
                  * its two ranks; 0 for a process in a send or receive */
  int peer;      /* the other rank of a send or receive, or PAR__PEER_* */
} par__op;

/* Write the description of OP into BUF (SIZE bytes, always terminated)
 * and return BUF:
 *   a collective                     "gather (collective #2)"
 *   a message sent (SEND, SEQ > 0)   "a message (send-to #3)"
 *   a process in a send (SEQ 0)      "send-to rank 1", or "send-to"
 *   a process in a receive           "receive-from rank 0",
 *                                    "receive-from any rank"
 * Every message of the runtime that names an operation is written with
 * it, so the names are the Scheme procedures' in every backend. */
PAR_EXTERN const char *par__op_describe(const par__op *op, char *buf,
                                        size_t size);

/* The element type TYPE (a par_dtype or PAR__BYTES) as descriptions name
 * it: "f64 elements", "bytes", "elements of unknown type 77". Returns
 * BUF. */
PAR_EXTERN const char *par__type_describe(uint32_t type, char *buf,
                                          size_t size);

/* What the elements of TYPE are, in words, from its KIND in
 * PAR_DTYPE_MAP: "unsigned integers", "complex numbers". */
PAR_EXTERN const char *par__kind_describe(par_dtype type);

/* BYTES bytes of TYPE: "3 f64 elements", "12 bytes", and "12 bytes of f64
 * elements" when BYTES is not a whole number of them. Returns BUF. */
PAR_EXTERN const char *par__amount_describe(uint64_t bytes, uint32_t type,
                                            char *buf, size_t size);

/* Record on COMM that this process and rank PEER are not in step, and
 * return CODE (PAR_EMISMATCH; PAR_ESIZE where only amounts differ). The
 * detail reads
 *   rank R is in MINE[ MINE_EXTRA] but rank PEER[ VERB][ THEIRS][ THEIRS_EXTRA]
 * leaving out each part that is NULL, e.g.
 *   rank 1 is in gather (collective #2) but rank 0 sent scatter
 *     (collective #2)                    (VERB "sent", THEIRS the frame's)
 *   rank 0 is in broadcast (collective #3) with root 0 but rank 1 with
 *     root 1                             (no VERB, no THEIRS: the same
 *                                         operation, other extras)
 * Every backend reports processes out of step with it. */
PAR_EXTERN int par__comm_mismatch(par_comm *comm, int code,
                                  const par__op *mine, const char *mine_extra,
                                  int peer, const char *verb,
                                  const par__op *theirs,
                                  const char *theirs_extra);

#endif /* PAR_COMM_INTERNAL_H */
