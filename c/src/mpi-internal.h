/* mpi-internal.h — shared state of the MPI backend. This file is private.
 *
 * mpi-comm.c owns the process-wide state and the life cycle of
 * communicators, mpi-frame.c the point-to-point frames and the sends in
 * flight, mpi-wait.c waiting and the notices that let waiting processes
 * find out that they wait for each other, mpi-agree.c the agreement
 * exchange that starts every collective, and mpi-coll.c builds the native
 * collectives on top of them.
 */
#ifndef PAR_MPI_INTERNAL_H
#define PAR_MPI_INTERNAL_H

#include "comm-internal.h"
#include "par/mpi.h"

/* MPI tags on our duplicate communicator. Collectives and point-to-point
 * messages never match each other in MPI, but the pieces below do share
 * the point-to-point space, so each kind has its own tag. */
enum {
  PAR__MPI_TAG_FRAME = 1,  /* the first message of a frame */
  PAR__MPI_TAG_PIECE = 2,  /* the further pieces of a split frame */
  PAR__MPI_TAG_COLL = 3,   /* pieces of a split collective */
  PAR__MPI_TAG_NOTICE = 4, /* what a process waits in (mpi-wait.c) */
  PAR__MPI_TAG_HDR = 16    /* + round: the agreement exchange */
};

/* What statements and notices say a process is in, beyond the par_opkind
 * of a collective and PAR__OPKIND_RECV. */
enum {
  /* par_comm_mpi_finish: the process is done with the group. */
  PAR__MPI_OP_FINISH = PAR__OPKIND_RECV + 1,
  /* In a notice only: the process has exited (or is exiting). */
  PAR__MPI_OP_EXITED,
  /* In a notice only: the process waits no more (its wait failed). */
  PAR__MPI_OP_RUNS
};

/* The bytes of data that a statement carries itself (see mpi-coll.c):
 * the statement is then 128 bytes, which MPI still sends eagerly, in one
 * copy, as it does 40. */
#define PAR__MPI_INLINE 88

/* What one process states when it enters a collective. Every field but
 * DATA is compared on every process, so all of them reach the same
 * verdict. */
typedef struct par__mpi_chdr {
  uint32_t op;       /* a par_opkind */
  uint32_t seq;      /* the communicator's collective number */
  int32_t root;      /* -1 when the collective has none */
  uint32_t type;     /* a par_dtype, or PAR__BYTES */
  uint32_t redop;    /* a par_reduce_op, when OP reduces */
  uint32_t reserved; /* 0 */
  uint64_t count;    /* elements or bytes this process brings */
  uint64_t digest;   /* par__mpi_digest of the counts it holds, or 0 */
  /* A broadcast's or a gather's data when they fit: COUNT elements of
   * TYPE (bytes for PAR__BYTES) that the root broadcasts or that this
   * process contributes, if they take at most PAR__MPI_INLINE bytes. */
  unsigned char data[PAR__MPI_INLINE];
} par__mpi_chdr;

/* A send still in flight: NREQ requests reading BUF, which is freed (with
 * the entry) once they complete. */
typedef struct par__mpi_pending {
  struct par__mpi_pending *next;
  void *buf;
  int nreq;
  MPI_Request req[];
} par__mpi_pending;

/* A notice: what the sending process waits in, sent to the processes it
 * may wait for once a wait has lasted a while, and on exit. The counts are
 * those between the sender and the receiver of the notice, which is how
 * the receiver tells a notice that still holds from one that no longer
 * does (see mpi-wait.c). Notices travel on the control communicator (see
 * mpi-comm.c), never on the communicator they are about, which may be
 * freed before they arrive; UID says which one that is. */
typedef struct par__mpi_notice {
  uint64_t uid;      /* the communicator's par__mpi uid */
  uint32_t op;       /* a par_opkind, PAR__OPKIND_RECV or a PAR__MPI_OP_ */
  uint32_t seq;      /* a collective's number */
  int32_t peer;      /* a receive's source, or PAR__PEER_ANY */
  uint32_t colls;    /* the collectives the sender has entered */
  uint32_t sent;     /* the messages it has sent to the receiver */
  uint32_t received; /* the messages it has received from it */
} par__mpi_notice;

typedef struct par__mpi {
  MPI_Comm comm;
  par__mpi_pending *pending; /* buffered sends not yet complete */
  par__mpi_chdr *xbuf;       /* SIZE headers: the exchange's work area */
  par__mpi_chdr *all;        /* SIZE headers in rank order */
  uint32_t abandoned;        /* a collective left unfinished, or 0 */
  par__mpi_notice *heard;    /* SIZE notices: the last from each process */
  unsigned char *has_heard;  /* SIZE flags: whether HEARD[r] holds one */
  int *world;                /* SIZE ranks in MPI_COMM_WORLD, by rank */
  uint64_t uid;              /* the same on every process, or 0: none */
  par_comm *owner;           /* the communicator this is the state of */
  struct par__mpi *next;     /* the list of live communicators */
  struct par__mpi *prev;
} par__mpi;

extern const par__comm_ops par__mpi_ops;

static inline par__mpi *
par__mpi_impl(par_comm *comm)
{
  return comm->impl;
}

/* The communicator that notices travel on (MPI_COMM_WORLD's ranks), or
 * MPI_COMM_NULL when there is none (the application initialised MPI). */
MPI_Comm par__mpi_notice_comm(void);

/* Store notice N, sent from rank SOURCE of MPI_COMM_WORLD, as the last
 * heard of its sender on the live communicator it is about, if any.
 * Returns whether that communicator is TARGET. Any thread. */
int par__mpi_file_notice(const par__mpi_notice *n, int source,
                         const par__mpi *target);

/* Record the MPI error ERR returned by CALL on COMM and return PAR_EMPI. */
int par__mpi_fail(par_comm *comm, int err, const char *call);

/* Finish what other threads left for this one (par_comm_destroy off the
 * MPI thread) and check sends in flight. Cheap when there is nothing. */
void par__mpi_progress(par_comm *comm);

/* The split threshold in bytes. */
size_t par__mpi_split(void);

/* The pieces that a transfer of COUNT elements of ESIZE bytes is cut
 * into: at most the split threshold in bytes each, and at least one
 * element. Every process cuts the same pieces from the same numbers, and
 * MPI keeps the order of messages on one tag between two processes, so
 * the pieces of a sender and of its receiver pair up. A transfer is
 * walked with
 *   for (par__mpi_piece p = par__mpi_first_piece(count, esize); p.n > 0;
 *        par__mpi_next_piece(&p))
 *     ... elements p.off .. p.off + p.n - 1 ...
 */
typedef struct par__mpi_piece {
  size_t off;   /* the first element of this piece */
  size_t n;     /* its elements; 0 once the transfer is done */
  size_t count; /* elements of the whole transfer */
  size_t per;   /* elements of a whole piece */
} par__mpi_piece;

static inline par__mpi_piece
par__mpi_first_piece(size_t count, size_t esize)
{
  size_t per = par__mpi_split() / esize;
  par__mpi_piece p = {0, 0, count, per > 0 ? per : 1};

  p.n = count < p.per ? count : p.per;
  return p;
}

static inline void
par__mpi_next_piece(par__mpi_piece *p)
{
  p->off += p->n;
  p->n = p->count - p->off < p->per ? p->count - p->off : p->per;
}

/* --- mpi-wait.c ----------------------------------------------------------- */

/* A wait of this process on COMM: for a collective (OP a par_opkind or
 * PAR__MPI_OP_FINISH, SEQ its number) or for a message (OP
 * PAR__OPKIND_RECV, PEER the source or PAR__PEER_ANY). */
typedef struct par__mpi_wait {
  uint32_t op;
  uint32_t seq;
  int peer;
  unsigned iter;   /* unsuccessful tests so far */
  double start;    /* when the wait began to sleep, or 0 */
  double deadline; /* from par__deadline, or 0 */
  double told;     /* when notices of it were last sent (as START), or 0 */
} par__mpi_wait;

/* Pace a loop of tests, after the ITER-th unsuccessful one: spin for a
 * thousand or so, then yield for a couple of milliseconds, then sleep, up
 * to 1 ms at a time. *START is 0 until the loop first yields, then the
 * time it did. Returns the seconds since then, or -1 while it spins. */
double par__mpi_pace(unsigned iter, double *start);

/* Begin the wait W on COMM. Cheap: no clock is read until the wait has
 * spun for a while. */
void par__mpi_wait_begin(par_comm *comm, par__mpi_wait *w, uint32_t op,
                         uint32_t seq, int peer);

/* Called after each unsuccessful test of what W waits for, which it paces
 * (par__mpi_pace): a long wait costs next to no CPU. Once W has lasted
 * PAR__MPI_NOTICE_AFTER seconds, this process tells the processes it
 * waits for what it waits in (again every second), and looks at what
 * they have told it: when they provably wait for each other (or one has
 * finished), W fails with PAR_EMISMATCH, PAR_EDEADLOCK or PAR_EPEER and a
 * detail that names both processes and operations. It also fails on
 * COMM's interrupt check and timeout. PAR_OK: test again. */
int par__mpi_wait_step(par_comm *comm, par__mpi_wait *w);

/* End W, which completed (RC PAR_OK) or failed with RC; returns RC. A
 * wait that told others about itself and gives up (timeout, interrupt)
 * tells them that it waits no more. */
int par__mpi_wait_end(par_comm *comm, par__mpi_wait *w, int rc);

/* Wait for N requests with W's back-off and checks; on failure the
 * requests are left pending. */
int par__mpi_wait_requests(par_comm *comm, par__mpi_wait *w, int n,
                           MPI_Request *req);

/* Fail on COMM with the sentence "rank WHO finished while rank WAITER waits
 * in OP": PAR_EPEER on the process that waits, PAR_EMISMATCH on the one
 * that finished. OP is what WAITER is in (SEQ, PEER as in par__mpi_wait). */
int par__mpi_fail_finished(par_comm *comm, int who, int waiter, uint32_t op,
                           uint32_t seq, int peer);

/* Tell every other process of COMM that this one has exited: called on
 * the MPI thread, before MPI_Finalize, for each live communicator. */
void par__mpi_tell_exit(par_comm *comm);

/* How long a wait lasts before notices are exchanged, in seconds. */
#define PAR__MPI_NOTICE_AFTER 0.25

/* --- mpi-frame.c ---------------------------------------------------------- */

/* Sends in flight: add P to the list *HEAD; drop the entries of *HEAD
 * whose requests have completed; move every entry of LIST to *TO; free
 * every entry of LIST, complete or not (when MPI is gone). */
void par__mpi_pending_push(par__mpi_pending **head, par__mpi_pending *p);
void par__mpi_pending_reap(par__mpi_pending **head);
void par__mpi_pending_move(par__mpi_pending **to, par__mpi_pending *list);
void par__mpi_pending_free(par__mpi_pending *list);

/* The point-to-point slots of par__comm_ops. */
int par__mpi_send(par_comm *comm, int dest, const par__hdr *hdr,
                  const void *buf, size_t len);
int par__mpi_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out);
int par__mpi_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
                      par_msg *out);

/* --- mpi-agree.c ---------------------------------------------------------- */

/* Start a collective: MINE is this process's statement with every field
 * but SEQ filled in (ROOT -1 when the collective has none, TYPE PAR__BYTES
 * when it moves bytes, the fields it does not use 0). Stamps COMM's
 * collective number, exchanges the statements (par__mpi_impl(COMM)->all
 * then holds them in rank order) and checks that every process is in the
 * same operation with the same root, element type and reduction operator,
 * and, with SAME_COUNT, the same count. A disagreement fails on every
 * process alike, with PAR_EMISMATCH (PAR_ESIZE for counts) and a detail
 * that names both ranks. A process that gives up waiting in the exchange
 * is out of step with the others for good, so every later collective on
 * COMM fails at once with PAR_EABORTED. */
int par__mpi_begin(par_comm *comm, par__mpi_chdr *mine, int same_count);

/* A 64-bit digest of N counts, or of N ranks, so that one statement can
 * vouch for a whole array. */
uint64_t par__mpi_digest(const size_t *counts, int n);
uint64_t par__mpi_digest_ranks(const int *ranks, int n);

/* The native collectives (mpi-coll.c), with the signatures of the slots of
 * par__comm_ops. They are called for groups of two or more processes. */
int par__mpi_barrier(par_comm *comm);
int par__mpi_bcast_bytes(par_comm *comm, int root, const void *buf,
                         size_t len, par_msg *out);
int par__mpi_scatterv_bytes(par_comm *comm, int root, const void *buf,
                            const size_t *counts, par_msg *out);
int par__mpi_gatherv_bytes(par_comm *comm, int root, const void *buf,
                           size_t len, par_msg *out, size_t *counts);
int par__mpi_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                              par_msg *out, size_t *counts);
int par__mpi_bcast(par_comm *comm, int root, void *buf, size_t count,
                   par_dtype type);
int par__mpi_scatterv(par_comm *comm, int root, const void *sendbuf,
                      const size_t *counts, void *recvbuf, size_t recvcount,
                      par_dtype type);
int par__mpi_gatherv(par_comm *comm, int root, const void *sendbuf,
                     size_t sendcount, void *recvbuf, const size_t *counts,
                     par_dtype type);
int par__mpi_allgatherv(par_comm *comm, const void *sendbuf,
                        size_t sendcount, void *recvbuf, const size_t *counts,
                        par_dtype type);
int par__mpi_reduce(par_comm *comm, int root, const void *sendbuf,
                    void *recvbuf, size_t count, par_dtype type,
                    par_reduce_op op);
int par__mpi_allreduce(par_comm *comm, const void *sendbuf, void *recvbuf,
                       size_t count, par_dtype type, par_reduce_op op);

#endif /* PAR_MPI_INTERNAL_H */
