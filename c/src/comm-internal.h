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

/* The header every frame carries. OP is a par_opkind; SEQ counts the
 * collectives entered on the communicator (for collectives) or the messages
 * sent from the sender to the receiver (for PAR_OPKIND_SEND). AUX is free
 * for the operation (typed collectives put the element type there). */
typedef struct par__hdr {
  uint32_t op;
  uint32_t seq;
  uint32_t aux;
  uint32_t reserved;
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

  /* Optional native collectives: NULL means the generic version. The
   * public wrapper has already validated the arguments and incremented
   * COMM->coll_seq, which the slot stamps on what it sends. */
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

struct par_comm {
  const par__comm_ops *ops;
  int rank;
  int size;
  uint32_t coll_seq;  /* collectives entered so far */
  uint32_t cur_op;    /* the operation in progress (a par_opkind) ... */
  uint32_t cur_seq;   /* ... and its number, for describing waits */
  uint32_t *sent_seq; /* SIZE counters: messages sent to each rank */
  uint32_t *recv_seq; /* SIZE counters: messages received from each rank */
  double timeout;     /* seconds; <= 0: none */
  int (*interrupt)(void *data);
  void *interrupt_data;
  char detail[320];
  void *impl; /* the backend's state */
};

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

#endif /* PAR_COMM_INTERNAL_H */
