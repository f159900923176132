/* par/comm.h — communicators: a group of processes that exchange messages.
 *
 * A communicator is one process's endpoint in a group of SIZE processes
 * numbered 0..SIZE-1. Every backend (serial, multiprocessing, MPI) gives the
 * same interface: point-to-point messages of bytes, collectives on bytes of
 * varying length (what serialized objects need), and collectives on typed
 * buffers of known length (what numeric vectors need).
 *
 * Collectives must be called by every process of the group, in the same
 * order. Every message carries the kind of operation and a sequence number,
 * so a process that receives a message from a peer that is in a different
 * operation fails with PAR_EMISMATCH instead of hanging or returning
 * garbage; par_comm_error_detail then names both operations.
 *
 * Ownership: the caller owns the communicator from its constructor until
 * par_comm_destroy. Buffers passed in are borrowed for the call. Received
 * data comes back in a par_msg, which the caller releases.
 */
#ifndef PAR_COMM_H
#define PAR_COMM_H

#include "common.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct par_comm par_comm;

/* Received bytes. DATA and LEN stay valid until par_msg_release, which the
 * receiver must call exactly once (a released or PAR_MSG_INIT message may be
 * released again: it is a no-op). The fields ending in _ are private. */
typedef struct par_msg {
  const void *data;
  size_t len;
  void (*release_)(struct par_msg *msg);
  void *owner_;
} par_msg;

#define PAR_MSG_INIT {NULL, 0, NULL, NULL}

/* Free what MSG holds and reset it to PAR_MSG_INIT. MSG may be NULL. */
PAR_EXTERN void par_msg_release(par_msg *msg);

/* If MSG's data lies in a block allocated with malloc that MSG owns,
 * return that block (DATA points into it) and leave MSG empty: the caller
 * now owns the block and frees it with free(). Otherwise (the data is
 * borrowed, or lives in memory the backend manages) return NULL and leave
 * MSG as it was. This lets a receiver keep a large payload without copying
 * it. */
PAR_EXTERN void *par_msg_steal(par_msg *msg);

/* The kinds of operation stamped on every message: X(NAME, user-facing
 * name). The names are those of the Scheme procedures, which is how error
 * details name the operations (a process in a receive is said to be in
 * "receive-from"). */
#define PAR_OPKIND_MAP(X)                                                   \
  X(SEND, "send-to")                                                        \
  X(BCAST, "broadcast")                                                     \
  X(SCATTER, "scatter")                                                     \
  X(GATHER, "gather")                                                       \
  X(ALLGATHER, "allgather")                                                 \
  X(REDUCE, "reduce-to-root")                                               \
  X(ALLREDUCE, "allreduce")                                                 \
  X(BARRIER, "barrier")                                                     \
  X(MAP, "parallel-map")                                                    \
  X(CONTROL, "control")

typedef enum par_opkind {
  PAR_OPKIND_NONE = 0,
#define PAR__OPKIND_ENUM(name, str) PAR_OPKIND_##name,
  PAR_OPKIND_MAP(PAR__OPKIND_ENUM)
#undef PAR__OPKIND_ENUM
  PAR_OPKIND_COUNT
} par_opkind;

/* The user-facing name of KIND ("scatter"); "unknown" if invalid. */
PAR_EXTERN const char *par_opkind_name(par_opkind kind);

/* --- Life cycle ---------------------------------------------------------- */

/* A group of one process: rank 0, size 1. Collectives are identities;
 * sending to or receiving from rank 0 is PAR_ERANK, since nothing could
 * ever receive the message or send one. */
PAR_EXTERN int par_comm_serial_create(par_comm **out);

/* Release COMM and its resources; COMM may be NULL. Local only: no message
 * is exchanged, so it is safe in error paths and finalizers. */
PAR_EXTERN void par_comm_destroy(par_comm *comm);

/* --- Queries and settings ------------------------------------------------ */

PAR_EXTERN int par_comm_rank(const par_comm *comm);
PAR_EXTERN int par_comm_size(const par_comm *comm);

/* "serial", "multiprocessing" or "mpi". */
PAR_EXTERN const char *par_comm_backend(const par_comm *comm);

/* A sentence about the last failure on COMM, naming ranks and operations
 * ("rank 1 is in gather (collective #2) but rank 0 sent scatter (collective
 * #2)"); "" when nothing failed. Every call on COMM that returns an error
 * code writes one. It is for people to read: what went wrong is the code,
 * and programs test the code, never the sentence. Valid until the next
 * call on COMM. (Constructors that fail have no communicator to write a
 * sentence to, and return the code alone.) */
PAR_EXTERN const char *par_comm_error_detail(const par_comm *comm);

/* Blocking operations fail with PAR_ETIMEDOUT after SECONDS; 0 or less
 * means wait forever (but never past a peer's death). */
PAR_EXTERN void par_comm_set_timeout(par_comm *comm, double seconds);

/* While blocked, the communicator calls CHECK(DATA) every few milliseconds;
 * a non-zero return makes the operation fail with PAR_EINTR. This is how an
 * embedding runtime delivers Ctrl-C to a process stuck in a collective. */
PAR_EXTERN void par_comm_set_interrupt_check(par_comm *comm,
                                             int (*check)(void *data),
                                             void *data);

/* Abort the whole group: every process of it stops (MPI_Abort on MPI; the
 * workers are killed on multiprocessing). Returns only on failure or on the
 * serial backend, where it does nothing. */
PAR_EXTERN int par_comm_abort(par_comm *comm, int code);

/* --- Point to point ------------------------------------------------------ */

/* Send LEN bytes of BUF to rank DEST. May return before DEST receives. */
PAR_EXTERN int par_comm_send(par_comm *comm, int dest, const void *buf,
                             size_t len);

/* Receive the next message that rank SOURCE sent to this process. */
PAR_EXTERN int par_comm_recv(par_comm *comm, int source, par_msg *out);

/* Receive the next message sent to this process by any rank, and write
 * that rank to *SOURCE. Messages from one sender arrive in order; between
 * senders the order is whatever is ready first. Unless BLOCK, fails at
 * once with PAR_ENOENT when no message is ready. This is what a process
 * handing out work on demand listens with. */
PAR_EXTERN int par_comm_recv_any(par_comm *comm, int block, int *source,
                                 par_msg *out);

/* --- Collectives on bytes ------------------------------------------------ */

PAR_EXTERN int par_comm_barrier(par_comm *comm);

/* ROOT's BUF/LEN reaches every process in *OUT (on ROOT, a view of BUF).
 * BUF and LEN are read on ROOT only. */
PAR_EXTERN int par_comm_bcast_bytes(par_comm *comm, int root, const void *buf,
                                    size_t len, par_msg *out);

/* ROOT's BUF holds SIZE consecutive chunks, chunk I being COUNTS[I] bytes;
 * process I gets chunk I in *OUT. BUF and COUNTS are read on ROOT only. */
PAR_EXTERN int par_comm_scatterv_bytes(par_comm *comm, int root,
                                       const void *buf, const size_t *counts,
                                       par_msg *out);

/* Every process contributes BUF/LEN. On ROOT, *OUT holds the contributions
 * in rank order and COUNTS (SIZE entries of the caller's) their lengths;
 * elsewhere *OUT is left empty and COUNTS is not touched. */
PAR_EXTERN int par_comm_gatherv_bytes(par_comm *comm, int root,
                                      const void *buf, size_t len,
                                      par_msg *out, size_t *counts);

/* Like par_comm_gatherv_bytes, but every process gets the result. */
PAR_EXTERN int par_comm_allgatherv_bytes(par_comm *comm, const void *buf,
                                         size_t len, par_msg *out,
                                         size_t *counts);

/* --- Collectives on typed buffers --------------------------------------- */
/* Counts are in elements of TYPE and must agree between processes, as in
 * MPI; where they do not, the operation fails with PAR_ESIZE if the backend
 * can tell. Chunks are contiguous and in rank order. */

PAR_EXTERN int par_comm_bcast(par_comm *comm, int root, void *buf,
                              size_t count, par_dtype type);

/* ROOT sends COUNTS[I] elements to process I from consecutive chunks of
 * SENDBUF; each process receives RECVCOUNT elements into RECVBUF. */
PAR_EXTERN int par_comm_scatterv(par_comm *comm, int root,
                                 const void *sendbuf, const size_t *counts,
                                 void *recvbuf, size_t recvcount,
                                 par_dtype type);

/* Each process sends SENDCOUNT elements; ROOT stores them consecutively in
 * RECVBUF, COUNTS[I] elements from process I. RECVBUF and COUNTS are used
 * on ROOT only. */
PAR_EXTERN int par_comm_gatherv(par_comm *comm, int root,
                                const void *sendbuf, size_t sendcount,
                                void *recvbuf, const size_t *counts,
                                par_dtype type);

PAR_EXTERN int par_comm_allgatherv(par_comm *comm, const void *sendbuf,
                                   size_t sendcount, void *recvbuf,
                                   const size_t *counts, par_dtype type);

/* Element-wise reduction in rank order of every process's SENDBUF into ROOT's
 * RECVBUF (COUNT elements each). RECVBUF is used on ROOT only. */
PAR_EXTERN int par_comm_reduce(par_comm *comm, int root, const void *sendbuf,
                               void *recvbuf, size_t count, par_dtype type,
                               par_reduce_op op);

PAR_EXTERN int par_comm_allreduce(par_comm *comm, const void *sendbuf,
                                  void *recvbuf, size_t count, par_dtype type,
                                  par_reduce_op op);

#ifdef __cplusplus
}
#endif

#endif /* PAR_COMM_H */
