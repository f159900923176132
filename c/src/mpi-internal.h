/* mpi-internal.h — shared state of the MPI backend. This file is private.
 *
 * mpi-comm.c owns the life cycle, point-to-point frames and the agreement
 * exchange that starts every collective; mpi-coll.c builds the native
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
  PAR__MPI_TAG_FRAME = 1, /* the first message of a frame */
  PAR__MPI_TAG_PIECE = 2, /* the further pieces of a split frame */
  PAR__MPI_TAG_COLL = 3,  /* pieces of a split collective */
  PAR__MPI_TAG_HDR = 16   /* + round: the agreement exchange */
};

/* The element type stated by byte collectives. */
#define PAR__MPI_BYTES 0xffffu

/* What one process states when it enters a collective. Every field is
 * compared on every process, so all of them reach the same verdict. */
typedef struct par__mpi_chdr {
  uint32_t op;       /* a par_opkind */
  uint32_t seq;      /* the communicator's collective number */
  int32_t root;      /* -1 when the collective has none */
  uint32_t type;     /* a par_dtype, or PAR__MPI_BYTES */
  uint32_t redop;    /* a par_reduce_op, when OP reduces */
  uint32_t reserved; /* 0 */
  uint64_t count;    /* elements or bytes this process brings */
  uint64_t digest;   /* par__mpi_digest of the counts it holds, or 0 */
} par__mpi_chdr;

/* A send still in flight: NREQ requests reading BUF, which is freed (with
 * the entry) once they complete. */
typedef struct par__mpi_pending {
  struct par__mpi_pending *next;
  void *buf;
  int nreq;
  MPI_Request req[];
} par__mpi_pending;

typedef struct par__mpi {
  MPI_Comm comm;
  par__mpi_pending *pending; /* buffered sends not yet complete */
  par__mpi_chdr *xbuf;       /* SIZE headers: the exchange's work area */
  par__mpi_chdr *all;        /* SIZE headers in rank order */
  uint32_t abandoned;        /* a collective left unfinished, or 0 */
} par__mpi;

extern const par__comm_ops par__mpi_ops;

static inline par__mpi *
par__mpi_impl(par_comm *comm)
{
  return comm->impl;
}

/* Record the MPI error ERR returned by CALL on COMM and return PAR_EMPI. */
int par__mpi_fail(par_comm *comm, int err, const char *call);

/* Finish what other threads left for this one (par_comm_destroy off the
 * MPI thread) and check sends in flight. Cheap when there is nothing. */
void par__mpi_progress(par_comm *comm);

/* Exchange MINE with every process of COMM (an allgather of headers over
 * point-to-point messages, which lets the wait honour COMM's timeout and
 * interrupt check). On success the headers are in par__mpi_impl(COMM)->all
 * in rank order. A process that gives up waiting is out of step with the
 * others for good, so every later exchange on COMM fails at once with
 * PAR_EABORTED. */
int par__mpi_exchange(par_comm *comm, const par__mpi_chdr *mine);

/* What par__mpi_agree compares besides the operation and its number. */
enum {
  PAR__MPI_SAME_ROOT = 1,
  PAR__MPI_SAME_TYPE = 2,
  PAR__MPI_SAME_REDOP = 4,
  PAR__MPI_SAME_COUNT = 8
};

/* Check that the exchanged headers agree with MINE on the operation, its
 * number and the fields in WHAT. The first disagreement fails with
 * PAR_EMISMATCH (PAR_ESIZE for counts) and a detail naming both ranks. */
int par__mpi_agree(par_comm *comm, const par__mpi_chdr *mine, unsigned what);

/* A 64-bit digest of N counts, so that one header can vouch for a whole
 * counts array. */
uint64_t par__mpi_digest(const size_t *counts, int n);

/* The split threshold in bytes. */
size_t par__mpi_split(void);

/* Wait for N requests. With POLL set, the wait polls with a growing
 * back-off and honours COMM's interrupt check and DEADLINE (from
 * par__deadline), leaving the requests pending when it fails; otherwise it
 * is MPI_Waitall. */
int par__mpi_waitall(par_comm *comm, int n, MPI_Request *req, double deadline,
                     int poll);

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
