/* mpi-coll.c — the native collectives of the MPI backend.
 *
 * Each collective has two steps. First every process states what it is
 * doing (par__mpi_begin): the operation, its number, the root, the
 * element type, the reduction operator, the count it brings and a digest
 * of the counts array it holds. Since every process then holds every
 * statement, they all reach the same verdict: either they go on together,
 * or they all fail with the same error. The statements also carry what
 * would otherwise take a collective of its own (the length a root
 * broadcasts, every process's contribution to a gather), so the exchange
 * costs nothing extra there.
 *
 * A broadcast or a gather of a few bytes costs nothing more: when the
 * data fits in a statement (PAR__MPI_INLINE bytes, from each process that
 * contributes), it travels in the statements, and the agreement exchange
 * is the whole collective. Every process knows from the stated counts
 * whether the data came that way, so they all make the same choice.
 *
 * Otherwise the data moves with MPI's own collective, or, when the whole
 * buffer is over the split threshold (displacements are ints in MPI),
 * in pieces of at most the threshold: repeated MPI_Bcast and MPI_Reduce
 * calls, or point-to-point messages for the v-collectives. Every process
 * makes that choice from the same numbers, so they all make the same one.
 * The three v-collectives (scatter, gather, allgather) on bytes and on
 * typed elements are one data movement, vmove().
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi-internal.h"

/* --- Helpers ------------------------------------------------------------- */

/* The MPI datatype of TYPE (a par_dtype, or PAR__BYTES), from
 * PAR_DTYPE_MAP. */
static MPI_Datatype
datatype(uint32_t type)
{
  switch (type) {
#define PAR__DTYPE_MPI(NAME, name, ctype, n, kind, tag, mpi)                \
  case PAR_##NAME:                                                          \
    return mpi;
    PAR_DTYPE_MAP(PAR__DTYPE_MPI)
#undef PAR__DTYPE_MPI
  default:
    return MPI_BYTE;
  }
}

static size_t
element_size(uint32_t type)
{
  return type == PAR__BYTES ? 1 : par_dtype_size((par_dtype) type);
}

/* Put COUNT elements of TYPE at BUF in statement H, if they fit. */
static void
put_inline(par__mpi_chdr *h, const void *buf, size_t count, uint32_t type)
{
  size_t esize = element_size(type);

  if (count > 0 && count <= PAR__MPI_INLINE / esize) {
    memcpy(h->data, buf, count * esize);
  }
}

/* Whether the statement of every process (of rank ROOT alone when ROOT >=
 * 0) carried its data: COUNT elements of TYPE that fit. */
static int
all_inline(par_comm *comm, int root, uint32_t type)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  size_t most = PAR__MPI_INLINE / element_size(type);

  for (int r = root < 0 ? 0 : root; r < (root < 0 ? comm->size : root + 1);
       r++) {
    if (all[r].count > most) {
      return 0;
    }
  }
  return 1;
}

/* MPI's operator for OP: MPI_SUM for PAR_REDUCE_SUM, and so on. */
static MPI_Op
mpi_op(par_reduce_op op)
{
  switch (op) {
#define PAR__REDUCE_MPI(NAME, str)                                          \
  case PAR_REDUCE_##NAME:                                                   \
    return MPI_##NAME;
    PAR_REDUCE_MAP(PAR__REDUCE_MPI)
#undef PAR__REDUCE_MPI
  default:
    return MPI_OP_NULL;
  }
}

static MPI_Comm
handle(par_comm *comm)
{
  return par__mpi_impl(comm)->comm;
}

static int
no_memory(par_comm *comm, size_t bytes, par_opkind op)
{
  return par__comm_fail(comm, PAR_ENOMEM,
                        "rank %d has no memory for %zu bytes in %s",
                        comm->rank, bytes, par_opkind_name(op));
}

/* --- Point-to-point pieces ------------------------------------------------ */

/* Requests of a transfer in point-to-point pieces. */
typedef struct reqlist {
  MPI_Request *v;
  int n, cap;
} reqlist;

/* Post the sending (SEND) or receiving of BYTES bytes at BUF to or from
 * PEER, in pieces. */
static int
post(par_comm *comm, reqlist *l, int send, void *buf, size_t bytes, int peer)
{
  char *p = buf;

  for (par__mpi_piece c = par__mpi_first_piece(bytes, 1); c.n > 0;
       par__mpi_next_piece(&c)) {
    int rc;

    if (l->n == l->cap) {
      int cap = l->cap > 0 ? 2 * l->cap : 16;
      MPI_Request *v = realloc(l->v, (size_t) cap * sizeof *v);

      if (v == NULL) {
        return par__comm_fail(comm, PAR_ENOMEM,
                              "rank %d has no memory for %d requests",
                              comm->rank, cap);
      }
      l->v = v;
      l->cap = cap;
    }
    if (send) {
      rc = MPI_Isend(p + c.off, (int) c.n, MPI_BYTE, peer, PAR__MPI_TAG_COLL,
                     handle(comm), &l->v[l->n]);
    } else {
      rc = MPI_Irecv(p + c.off, (int) c.n, MPI_BYTE, peer, PAR__MPI_TAG_COLL,
                     handle(comm), &l->v[l->n]);
    }
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, send ? "MPI_Isend" : "MPI_Irecv");
    }
    l->n++;
  }
  return PAR_OK;
}

/* Wait for every posted piece (after a failure to post, cancel the rest
 * first), then free the list. Returns RC, or the error of the wait. */
static int
finish(par_comm *comm, reqlist *l, int rc)
{
  if (rc != PAR_OK) {
    for (int i = 0; i < l->n; i++) {
      MPI_Cancel(&l->v[i]);
    }
    MPI_Waitall(l->n, l->v, MPI_STATUSES_IGNORE);
  } else if (l->n > 0) {
    rc = MPI_Waitall(l->n, l->v, MPI_STATUSES_IGNORE);
    rc = rc == MPI_SUCCESS ? PAR_OK : par__mpi_fail(comm, rc, "MPI_Waitall");
  }
  free(l->v);
  return rc;
}

/* --- The v-collectives' data movement ----------------------------------- */

/* One v-collective, once the processes agree on it. Chunk R of the
 * chunked buffer is COUNTS[R] elements of TYPE, in rank order: the root's
 * SEND for a scatter, the receivers' RECV for a gather or an allgather. */
typedef struct vcoll {
  par_opkind op;        /* SCATTER, GATHER or ALLGATHER */
  int root;             /* -1 for ALLGATHER */
  uint32_t type;        /* a par_dtype, or PAR__BYTES */
  const void *send;     /* scatter: the chunks (root); else this process's */
  size_t sendcount;     /* elements of SEND, but for a scatter */
  void *recv;           /* scatter: this process's chunk; else the chunks */
  size_t recvcount;     /* elements of RECV, for a scatter */
  int in_place;         /* scatter: the root's chunk stays where it is */
  const size_t *counts; /* where the chunked buffer is (else NULL) */
  size_t total;         /* elements of all chunks, known everywhere */
} vcoll;

/* Counts and displacements of V as MPI's ints, in elements, if this
 * process needs them (*IC stays NULL otherwise). The total is under the
 * split threshold, so each fits. */
static int
int_counts(par_comm *comm, const vcoll *v, int **ic, int **id)
{
  int p = comm->size;
  size_t at = 0;

  *ic = *id = NULL;
  if (v->counts == NULL) {
    return PAR_OK;
  }
  *ic = malloc(2 * (size_t) p * sizeof **ic);
  if (*ic == NULL) {
    return no_memory(comm, 2 * (size_t) p * sizeof **ic, v->op);
  }
  *id = *ic + p;
  for (int r = 0; r < p; r++) {
    (*ic)[r] = (int) v->counts[r];
    (*id)[r] = (int) at;
    at += v->counts[r];
  }
  return PAR_OK;
}

/* V with MPI's own collective. */
static int
vmove_native(par_comm *comm, const vcoll *v)
{
  MPI_Datatype dt = datatype(v->type);
  const char *call = "MPI_Allgatherv";
  int *ic, *id, rc = int_counts(comm, v, &ic, &id);

  if (rc != PAR_OK) {
    return rc;
  }
  if (v->op == PAR_OPKIND_SCATTER) {
    call = "MPI_Scatterv";
    rc = MPI_Scatterv(v->send, ic, id, dt,
                      v->in_place ? MPI_IN_PLACE : v->recv,
                      (int) v->recvcount, dt, v->root, handle(comm));
  } else if (v->op == PAR_OPKIND_GATHER) {
    call = "MPI_Gatherv";
    rc = MPI_Gatherv(v->send, (int) v->sendcount, dt, v->recv, ic, id, dt,
                     v->root, handle(comm));
  } else {
    rc = MPI_Allgatherv(v->send, (int) v->sendcount, dt, v->recv, ic, id,
                        dt, handle(comm));
  }
  free(ic);
  return rc == MPI_SUCCESS ? PAR_OK : par__mpi_fail(comm, rc, call);
}

/* V in point-to-point pieces: every process sends its part to each
 * process that receives from it, receives from each process that sends to
 * it, and copies what it sends itself. */
static int
vmove_pieces(par_comm *comm, const vcoll *v)
{
  size_t esize = element_size(v->type), at = 0;
  int me = comm->rank, scatter = v->op == PAR_OPKIND_SCATTER;
  reqlist l = {NULL, 0, 0};
  int rc = PAR_OK;

  for (int r = 0; r < comm->size && rc == PAR_OK; r++) {
    int all = v->op == PAR_OPKIND_ALLGATHER;
    int to = all || (scatter ? me == v->root : r == v->root);
    int from = all || (scatter ? r == v->root : me == v->root);
    size_t chunk = v->counts != NULL ? v->counts[r] * esize : 0;
    /* What goes from this process to R, and where what comes from R
     * lands: the scatter cuts the first in chunks, the others the second. */
    const char *out = scatter && v->counts != NULL
                          ? (const char *) v->send + at
                          : v->send;
    size_t outlen = scatter ? chunk : v->sendcount * esize;
    char *in = !scatter && v->counts != NULL ? (char *) v->recv + at
                                             : v->recv;

    if (r == me && to && from && !v->in_place && outlen > 0) {
      memcpy(in, out, outlen);
    } else if (r != me) {
      if (to) {
        rc = post(comm, &l, 1, (void *) out, outlen, r);
      }
      if (from && rc == PAR_OK) {
        rc = post(comm, &l, 0, in, scatter ? v->recvcount * esize : chunk,
                  r);
      }
    }
    at += chunk;
  }
  return finish(comm, &l, rc);
}

/* A gather or an allgather whose chunks all came in the statements: the
 * receivers copy them out. */
static void
vmove_inline(par_comm *comm, const vcoll *v)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  size_t esize = element_size(v->type), at = 0;

  for (int r = 0; v->counts != NULL && r < comm->size; r++) {
    if (v->counts[r] > 0) {
      memcpy((char *) v->recv + at, all[r].data, v->counts[r] * esize);
    }
    at += v->counts[r] * esize;
  }
}

static int
vmove(par_comm *comm, const vcoll *v)
{
  if (v->op != PAR_OPKIND_SCATTER && all_inline(comm, -1, v->type)) {
    vmove_inline(comm, v);
    return PAR_OK;
  }
  return v->total * element_size(v->type) <= par__mpi_split()
             ? vmove_native(comm, v)
             : vmove_pieces(comm, v);
}

/* --- Agreeing on counts ------------------------------------------------- */

/* After the statements: the counts they state, in a new array that the
 * caller frees, and their total. */
static int
stated_counts(par_comm *comm, size_t **counts, size_t *total)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  size_t *c = malloc((size_t) comm->size * sizeof *c);

  if (c == NULL) {
    return no_memory(comm, (size_t) comm->size * sizeof *c,
                     (par_opkind) all[comm->rank].op);
  }
  *total = 0;
  for (int r = 0; r < comm->size; r++) {
    c[r] = (size_t) all[r].count;
    *total += c[r];
  }
  *counts = c;
  return PAR_OK;
}

/* After the statements of a typed v-collective: check that the counts
 * arrays of HOLDER (the root; every process when HOLDER < 0), vouched for
 * by their digests, are the counts that the processes stated (STATED).
 * COUNTS is this process's array when it holds one, so that it can name
 * the first difference. */
static int
check_counts(par_comm *comm, const par__mpi_chdr *h, int holder,
             const size_t *counts, const size_t *stated)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  uint64_t d = par__mpi_digest(stated, comm->size);
  int sends = h->op == PAR_OPKIND_SCATTER, bad = -1;
  size_t esize = element_size(h->type);
  par__op op = {h->op, h->seq, PAR__PEER_NONE};
  char a[64], b[64], mine[96];

  for (int r = 0; r < comm->size && bad < 0; r++) {
    if ((holder < 0 || r == holder) && all[r].digest != d) {
      bad = r;
    }
  }
  if (bad < 0) {
    return PAR_OK;
  }
  for (int k = 0; counts != NULL && k < comm->size; k++) {
    if (counts[k] != stated[k]) {
      snprintf(mine, sizeof mine, "%s %s %s rank %d",
               sends ? "sending" : "expecting",
               par__amount_describe(counts[k] * esize, h->type, a, sizeof a),
               sends ? "to" : "from", k);
      return par__comm_mismatch(comm, PAR_ESIZE, &op, mine, k,
                                sends ? "expects" : "sends", NULL,
                                par__amount_describe(stated[k] * esize,
                                                     h->type, b, sizeof b));
    }
  }
  return par__comm_fail(comm, PAR_ESIZE,
                        "the counts rank %d holds differ from the elements "
                        "the processes bring to %s",
                        bad, par__op_describe(&op, a, sizeof a));
}

/* Begin a typed v-collective with statement H: agree, then check the
 * counts arrays that HOLDER (the root, or every process when HOLDER < 0)
 * holds against the counts stated, and set V->total. */
static int
begin_typed_v(par_comm *comm, par__mpi_chdr *h, int holder, vcoll *v)
{
  size_t *stated = NULL;
  int rc = par__mpi_begin(comm, h, 0);

  if (rc == PAR_OK) {
    rc = stated_counts(comm, &stated, &v->total);
  }
  if (rc == PAR_OK) {
    rc = check_counts(comm, h, holder, v->counts, stated);
  }
  free(stated);
  return rc;
}

/* --- Barrier and broadcasts --------------------------------------------- */

/* The agreement exchange is an allgather, and so already a barrier: no
 * process leaves it before every process has entered. */
int
par__mpi_barrier(par_comm *comm)
{
  par__mpi_chdr h = {.op = PAR_OPKIND_BARRIER, .root = -1,
                     .type = PAR__BYTES};

  return par__mpi_begin(comm, &h, 0);
}

/* MPI_Bcast of COUNT elements of TYPE at BUF, in pieces. */
static int
bcast_pieces(par_comm *comm, char *buf, size_t count, uint32_t type,
             int root)
{
  size_t esize = element_size(type);

  for (par__mpi_piece p = par__mpi_first_piece(count, esize); p.n > 0;
       par__mpi_next_piece(&p)) {
    int rc = MPI_Bcast(buf + p.off * esize, (int) p.n, datatype(type), root,
                       handle(comm));

    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Bcast");
    }
  }
  return PAR_OK;
}

int
par__mpi_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
                     par_msg *out)
{
  int me = comm->rank == root;
  par__mpi_chdr h = {.op = PAR_OPKIND_BCAST, .root = root,
                     .type = PAR__BYTES, .count = me ? len : 0};
  size_t total;
  char *data;
  int rc;

  if (me) {
    put_inline(&h, buf, len, PAR__BYTES);
  }
  rc = par__mpi_begin(comm, &h, 0);
  if (rc != PAR_OK) {
    return rc;
  }
  /* The root stated the length: everyone can allocate before the data. */
  total = (size_t) par__mpi_impl(comm)->all[root].count;
  data = me ? (char *) buf : malloc(total + 1);
  if (!me && data == NULL) {
    return no_memory(comm, total, PAR_OPKIND_BCAST);
  }
  if (!all_inline(comm, root, PAR__BYTES)) {
    rc = bcast_pieces(comm, data, total, PAR__BYTES, root);
  } else if (!me && total > 0) {
    memcpy(data, par__mpi_impl(comm)->all[root].data, total);
  }
  if (me) {
    par__msg_borrow(out, buf, len);
  } else if (rc == PAR_OK) {
    par__msg_take_malloc(out, data, total);
  } else {
    free(data);
  }
  return rc;
}

int
par__mpi_bcast(par_comm *comm, int root, void *buf, size_t count,
               par_dtype type)
{
  par__mpi_chdr h = {.op = PAR_OPKIND_BCAST, .root = root, .type = type,
                     .count = count};
  int rc;

  if (comm->rank == root) {
    put_inline(&h, buf, count, type);
  }
  rc = par__mpi_begin(comm, &h, 1);
  if (rc != PAR_OK) {
    return rc;
  }
  if (!all_inline(comm, root, type)) {
    return bcast_pieces(comm, buf, count, type, root);
  }
  if (comm->rank != root && count > 0) {
    memcpy(buf, par__mpi_impl(comm)->all[root].data,
           count * element_size(type));
  }
  return PAR_OK;
}

/* --- Scatter ------------------------------------------------------------- */

/* The root's statement carries only the total, so every process learns
 * the length of its own chunk from one MPI_Scatter before the data. */
int
par__mpi_scatterv_bytes(par_comm *comm, int root, const void *buf,
                        const size_t *counts, par_msg *out)
{
  int p = comm->size, me = comm->rank == root;
  vcoll v = {.op = PAR_OPKIND_SCATTER, .root = root, .type = PAR__BYTES,
             .send = buf, .in_place = me, .counts = me ? counts : NULL};
  par__mpi_chdr h = {.op = PAR_OPKIND_SCATTER, .root = root,
                     .type = PAR__BYTES};
  uint64_t *c64 = NULL, mine = 0;
  size_t before = 0;
  int rc;

  for (int r = 0; me && r < p; r++) {
    h.count += counts[r];
    before += r < root ? counts[r] : 0;
  }
  rc = par__mpi_begin(comm, &h, 0);
  if (rc != PAR_OK) {
    return rc;
  }
  v.total = (size_t) par__mpi_impl(comm)->all[root].count;
  if (me && (c64 = malloc((size_t) p * sizeof *c64)) == NULL) {
    return no_memory(comm, (size_t) p * sizeof *c64, PAR_OPKIND_SCATTER);
  }
  for (int r = 0; me && r < p; r++) {
    c64[r] = counts[r];
  }
  rc = MPI_Scatter(c64, 1, MPI_UINT64_T, &mine, 1, MPI_UINT64_T, root,
                   handle(comm));
  free(c64);
  if (rc != MPI_SUCCESS) {
    return par__mpi_fail(comm, rc, "MPI_Scatter");
  }
  v.recvcount = (size_t) mine;
  if (!me && (v.recv = malloc(v.recvcount + 1)) == NULL) {
    return no_memory(comm, v.recvcount, PAR_OPKIND_SCATTER);
  }
  rc = vmove(comm, &v);
  if (rc != PAR_OK) {
    free(v.recv);
  } else if (me) {
    par__msg_borrow(out, (const char *) buf + before, counts[root]);
  } else {
    par__msg_take_malloc(out, v.recv, v.recvcount);
  }
  return rc;
}

int
par__mpi_scatterv(par_comm *comm, int root, const void *sendbuf,
                  const size_t *counts, void *recvbuf, size_t recvcount,
                  par_dtype type)
{
  int me = comm->rank == root;
  vcoll v = {.op = PAR_OPKIND_SCATTER, .root = root, .type = type,
             .send = sendbuf, .recv = recvbuf, .recvcount = recvcount,
             .counts = me ? counts : NULL};
  par__mpi_chdr h = {.op = PAR_OPKIND_SCATTER, .root = root, .type = type,
                     .count = recvcount,
                     .digest = me ? par__mpi_digest(counts, comm->size) : 0};
  int rc = begin_typed_v(comm, &h, root, &v);

  return rc != PAR_OK ? rc : vmove(comm, &v);
}

/* --- Gather and allgather ------------------------------------------------ */

/* Gather (ROOT >= 0) or allgather (ROOT < 0, operation OP) of bytes: the
 * statements carry every contribution's length, so the receivers know
 * them before the data. */
static int
gather_bytes_as(par_comm *comm, par_opkind op, int root, const void *buf,
                size_t len, par_msg *out, size_t *counts)
{
  int receives = root < 0 || comm->rank == root;
  vcoll v = {.op = op, .root = root, .type = PAR__BYTES, .send = buf,
             .sendcount = len};
  par__mpi_chdr h = {.op = op, .root = root, .type = PAR__BYTES,
                     .count = len};
  size_t *stated = NULL;
  int rc;

  put_inline(&h, buf, len, PAR__BYTES);
  rc = par__mpi_begin(comm, &h, 0);

  if (rc == PAR_OK) {
    rc = stated_counts(comm, &stated, &v.total);
  }
  if (rc == PAR_OK && receives) {
    v.counts = stated;
    v.recv = malloc(v.total + 1);
    rc = v.recv == NULL ? no_memory(comm, v.total, op) : PAR_OK;
  }
  if (rc == PAR_OK) {
    rc = vmove(comm, &v);
  }
  if (rc == PAR_OK && receives) {
    memcpy(counts, stated, (size_t) comm->size * sizeof *counts);
    par__msg_take_malloc(out, v.recv, v.total);
  } else {
    free(v.recv);
  }
  free(stated);
  return rc;
}

int
par__mpi_gatherv_bytes(par_comm *comm, int root, const void *buf, size_t len,
                       par_msg *out, size_t *counts)
{
  return gather_bytes_as(comm, PAR_OPKIND_GATHER, root, buf, len, out,
                         counts);
}

int
par__mpi_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                          par_msg *out, size_t *counts)
{
  return gather_bytes_as(comm, PAR_OPKIND_ALLGATHER, -1, buf, len, out,
                         counts);
}

/* Gather (ROOT >= 0) or allgather (ROOT < 0, operation OP) of typed
 * elements into the receivers' RECVBUF, laid out by their COUNTS. */
static int
gather_typed_as(par_comm *comm, par_opkind op, int root, const void *sendbuf,
                size_t sendcount, void *recvbuf, const size_t *counts,
                par_dtype type)
{
  int receives = root < 0 || comm->rank == root;
  vcoll v = {.op = op, .root = root, .type = type, .send = sendbuf,
             .sendcount = sendcount, .recv = recvbuf,
             .counts = receives ? counts : NULL};
  par__mpi_chdr h = {.op = op, .root = root, .type = type,
                     .count = sendcount,
                     .digest = receives ? par__mpi_digest(counts, comm->size)
                                        : 0};
  int rc;

  put_inline(&h, sendbuf, sendcount, type);
  rc = begin_typed_v(comm, &h, root, &v);
  return rc != PAR_OK ? rc : vmove(comm, &v);
}

int
par__mpi_gatherv(par_comm *comm, int root, const void *sendbuf,
                 size_t sendcount, void *recvbuf, const size_t *counts,
                 par_dtype type)
{
  return gather_typed_as(comm, PAR_OPKIND_GATHER, root, sendbuf, sendcount,
                         recvbuf, counts, type);
}

int
par__mpi_allgatherv(par_comm *comm, const void *sendbuf, size_t sendcount,
                    void *recvbuf, const size_t *counts, par_dtype type)
{
  return gather_typed_as(comm, PAR_OPKIND_ALLGATHER, -1, sendbuf, sendcount,
                         recvbuf, counts, type);
}

/* --- Reductions ---------------------------------------------------------- */

/* Reduce (ROOT >= 0) or allreduce (ROOT < 0) in pieces. The public
 * wrapper has checked that OP is defined on TYPE. A SENDBUF equal to
 * RECVBUF is passed to MPI as MPI_IN_PLACE, which is what such a caller
 * means. Vectors that fit in the statements came with them: the
 * processes that receive fold them in rank order, ((b0 op b1) op b2) ...,
 * which is what MPI guarantees too, and no MPI call follows. */
static int
reduce_as(par_comm *comm, par_opkind kind, int root, const void *sendbuf,
          void *recvbuf, size_t count, par_dtype type, par_reduce_op op)
{
  size_t esize = par_dtype_size(type);
  int me = root < 0 || comm->rank == root;
  int in_place = me && sendbuf == recvbuf;
  par__mpi_chdr h = {.op = kind, .root = root, .type = type, .redop = op,
                     .count = count};
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  int rc;

  put_inline(&h, sendbuf, count, type);
  rc = par__mpi_begin(comm, &h, 1);
  if (rc == PAR_OK && all_inline(comm, -1, type)) {
    for (int r = 0; me && count > 0 && r < comm->size; r++) {
      if (r == 0) {
        memcpy(recvbuf, all[0].data, count * esize);
      } else {
        (void) par_reduce_apply(op, type, recvbuf, all[r].data, count);
      }
    }
    return PAR_OK;
  }
  for (par__mpi_piece p = par__mpi_first_piece(count, esize);
       rc == PAR_OK && p.n > 0; par__mpi_next_piece(&p)) {
    const void *s = in_place ? MPI_IN_PLACE
                             : (const char *) sendbuf + p.off * esize;
    void *r = me ? (char *) recvbuf + p.off * esize : NULL;
    int err;

    if (root < 0) {
      err = MPI_Allreduce(s, r, (int) p.n, datatype(type), mpi_op(op),
                          handle(comm));
    } else {
      err = MPI_Reduce(s, r, (int) p.n, datatype(type), mpi_op(op), root,
                       handle(comm));
    }
    if (err != MPI_SUCCESS) {
      rc = par__mpi_fail(comm, err,
                         root < 0 ? "MPI_Allreduce" : "MPI_Reduce");
    }
  }
  return rc;
}

int
par__mpi_reduce(par_comm *comm, int root, const void *sendbuf, void *recvbuf,
                size_t count, par_dtype type, par_reduce_op op)
{
  return reduce_as(comm, PAR_OPKIND_REDUCE, root, sendbuf, recvbuf, count,
                   type, op);
}

int
par__mpi_allreduce(par_comm *comm, const void *sendbuf, void *recvbuf,
                   size_t count, par_dtype type, par_reduce_op op)
{
  return reduce_as(comm, PAR_OPKIND_ALLREDUCE, -1, sendbuf, recvbuf, count,
                   type, op);
}
