/* mpi-coll.c — the native collectives of the MPI backend.
 *
 * Each collective has two steps. First every process states what it is
 * doing (par__mpi_exchange): the operation, its number, the root, the
 * element type, the count it brings and a digest of the counts array it
 * holds. Since every process then holds every statement, they all reach
 * the same verdict: either they go on together, or they all fail with the
 * same error. The statements also carry what would otherwise take a
 * collective of its own (the length a root broadcasts, every process's
 * contribution to a gather), so the exchange costs nothing extra there.
 *
 * Then the data moves with MPI's own collective, or, when a chunk or the
 * whole buffer is over the split threshold (displacements are ints in
 * MPI), with point-to-point pieces of at most the threshold. Every process
 * makes that choice from the same numbers, so they all make the same one.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpi-internal.h"

/* --- Helpers ------------------------------------------------------------- */

static MPI_Datatype
mpi_type(par_dtype type)
{
  switch (type) {
#define PAR__DTYPE_MPI(NAME, name, ctype, n, kind, tag, mpi)                \
  case PAR_##NAME:                                                          \
    return mpi;
    PAR_DTYPE_MAP(PAR__DTYPE_MPI)
#undef PAR__DTYPE_MPI
  default:
    return MPI_DATATYPE_NULL;
  }
}

static MPI_Op
mpi_op(par_reduce_op op)
{
  switch (op) {
  case PAR_REDUCE_SUM:
    return MPI_SUM;
  case PAR_REDUCE_PROD:
    return MPI_PROD;
  case PAR_REDUCE_MIN:
    return MPI_MIN;
  case PAR_REDUCE_MAX:
    return MPI_MAX;
  default:
    return MPI_OP_NULL;
  }
}

/* Fill in this process's statement and agree with the others on it. */
static int
start(par_comm *comm, par__mpi_chdr *h, par_opkind op, int root,
      uint32_t type, uint64_t count, uint64_t digest, unsigned what)
{
  int rc;

  memset(h, 0, sizeof *h);
  h->op = op;
  h->seq = comm->coll_seq;
  h->root = root;
  h->type = type;
  h->count = count;
  h->digest = digest;
  rc = par__mpi_exchange(comm, h);
  if (rc != PAR_OK) {
    return rc;
  }
  return par__mpi_agree(comm, h, what);
}

static MPI_Comm
handle(par_comm *comm)
{
  return par__mpi_impl(comm)->comm;
}

/* Elements per piece of a split transfer: at most the threshold in bytes,
 * and at least one element. */
static size_t
piece_elements(size_t esize)
{
  size_t n = par__mpi_split() / esize;

  return n > 0 ? n : 1;
}

/* MPI_Bcast of COUNT elements in pieces. */
static int
bcast_pieces(par_comm *comm, char *buf, size_t count, size_t esize,
             MPI_Datatype dt, int root)
{
  size_t per = piece_elements(esize);

  for (size_t off = 0; off < count; off += per) {
    size_t n = count - off < per ? count - off : per;
    int rc = MPI_Bcast(buf + off * esize, (int) n, dt, root, handle(comm));

    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc, "MPI_Bcast");
    }
  }
  return PAR_OK;
}

/* Requests of a split transfer. */
typedef struct reqlist {
  MPI_Request *v;
  int n, cap;
} reqlist;

/* Post the sending (SEND) or receiving of BYTES bytes at BUF to or from
 * PEER, as pieces of at most the threshold. Both sides cut the same
 * pieces in the same order, and MPI keeps their order. */
static int
post(par_comm *comm, reqlist *l, int send, void *buf, size_t bytes, int peer)
{
  size_t split = par__mpi_split();
  char *p = buf;

  for (size_t off = 0; off < bytes; off += split) {
    size_t n = bytes - off < split ? bytes - off : split;
    int rc;

    if (l->n == l->cap) {
      int cap = l->cap > 0 ? 2 * l->cap : 16;
      MPI_Request *v = realloc(l->v, (size_t) cap * sizeof *v);

      if (v == NULL) {
        return par__comm_fail(comm, PAR_ENOMEM, "no memory for requests");
      }
      l->v = v;
      l->cap = cap;
    }
    if (send) {
      rc = MPI_Isend(p + off, (int) n, MPI_BYTE, peer, PAR__MPI_TAG_COLL,
                     handle(comm), &l->v[l->n]);
    } else {
      rc = MPI_Irecv(p + off, (int) n, MPI_BYTE, peer, PAR__MPI_TAG_COLL,
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
    rc = par__mpi_waitall(comm, l->n, l->v, 0, 0);
  }
  free(l->v);
  return rc;
}

/* Counts and displacements as MPI's ints, in units of one element. The
 * caller has checked that the total fits under the threshold. */
static int
int_counts(par_comm *comm, const size_t *counts, int **ic, int **id)
{
  int p = comm->size;
  size_t at = 0;

  *ic = malloc(2 * (size_t) p * sizeof **ic);
  if (*ic == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
  }
  *id = *ic + p;
  for (int r = 0; r < p; r++) {
    (*ic)[r] = (int) counts[r];
    (*id)[r] = (int) at;
    at += counts[r];
  }
  return PAR_OK;
}

/* The counts the statements announce, one per process. */
static size_t *
stated_counts(par_comm *comm, size_t *total)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  size_t *c = malloc((size_t) comm->size * sizeof *c);

  *total = 0;
  if (c != NULL) {
    for (int r = 0; r < comm->size; r++) {
      c[r] = (size_t) all[r].count;
      *total += c[r];
    }
  }
  return c;
}

/* --- Barrier ------------------------------------------------------------- */

/* The agreement exchange is an allgather, and so already a barrier: no
 * process leaves it before every process has entered. */
int
par__mpi_barrier(par_comm *comm)
{
  par__mpi_chdr h;

  return start(comm, &h, PAR_OPKIND_BARRIER, -1, PAR__MPI_BYTES, 0, 0, 0);
}

/* --- Byte collectives ---------------------------------------------------- */

int
par__mpi_bcast_bytes(par_comm *comm, int root, const void *buf, size_t len,
                     par_msg *out)
{
  par__mpi_chdr h;
  size_t total;
  char *data;
  int me = comm->rank == root;
  int rc = start(comm, &h, PAR_OPKIND_BCAST, root, PAR__MPI_BYTES,
                 me ? len : 0, 0, PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE);

  if (rc != PAR_OK) {
    return rc;
  }
  total = (size_t) par__mpi_impl(comm)->all[root].count;
  data = me ? (char *) buf : malloc(total + 1);
  if (!me && data == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM,
                          "no memory to receive %zu bytes", total);
  }
  rc = bcast_pieces(comm, data, total, 1, MPI_BYTE, root);
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
par__mpi_scatterv_bytes(par_comm *comm, int root, const void *buf,
                        const size_t *counts, par_msg *out)
{
  int p = comm->size, me = comm->rank == root;
  uint64_t *c64 = NULL, mine = 0;
  int *ic = NULL, *id = NULL;
  size_t total = 0, before = 0;
  char *data = NULL;
  reqlist l = {NULL, 0, 0};
  par__mpi_chdr h;
  int rc;

  if (me) {
    for (int r = 0; r < p; r++) {
      total += counts[r];
      before += r < root ? counts[r] : 0;
    }
  }
  rc = start(comm, &h, PAR_OPKIND_SCATTER, root, PAR__MPI_BYTES, total, 0,
             PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE);
  if (rc != PAR_OK) {
    return rc;
  }
  total = (size_t) par__mpi_impl(comm)->all[root].count;
  /* Every process learns the length of its own chunk. */
  if (me) {
    c64 = malloc((size_t) p * sizeof *c64);
    if (c64 == NULL) {
      return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
    }
    for (int r = 0; r < p; r++) {
      c64[r] = counts[r];
    }
  }
  rc = MPI_Scatter(c64, 1, MPI_UINT64_T, &mine, 1, MPI_UINT64_T, root,
                   handle(comm));
  free(c64);
  if (rc != MPI_SUCCESS) {
    return par__mpi_fail(comm, rc, "MPI_Scatter");
  }
  if (!me) {
    data = malloc((size_t) mine + 1);
    if (data == NULL) {
      return par__comm_fail(comm, PAR_ENOMEM,
                            "no memory to receive %llu bytes",
                            (unsigned long long) mine);
    }
  }
  if (total <= par__mpi_split()) {
    if (me) {
      rc = int_counts(comm, counts, &ic, &id);
      if (rc != PAR_OK) {
        return rc;
      }
    }
    rc = MPI_Scatterv(buf, ic, id, MPI_BYTE, me ? MPI_IN_PLACE : data,
                      (int) mine, MPI_BYTE, root, handle(comm));
    free(ic);
    rc = rc == MPI_SUCCESS ? PAR_OK : par__mpi_fail(comm, rc, "MPI_Scatterv");
  } else if (me) {
    const char *at = buf;

    for (int r = 0; r < p && rc == PAR_OK; at += counts[r], r++) {
      if (r != root) {
        rc = post(comm, &l, 1, (char *) at, counts[r], r);
      }
    }
    rc = finish(comm, &l, rc);
  } else {
    rc = post(comm, &l, 0, data, (size_t) mine, root);
    rc = finish(comm, &l, rc);
  }
  if (rc != PAR_OK) {
    free(data);
    return rc;
  }
  if (me) {
    par__msg_borrow(out, (const char *) buf + before, counts[root]);
  } else {
    par__msg_take_malloc(out, data, (size_t) mine);
  }
  return PAR_OK;
}

int
par__mpi_gatherv_bytes(par_comm *comm, int root, const void *buf, size_t len,
                       par_msg *out, size_t *counts)
{
  int p = comm->size, me = comm->rank == root;
  int *ic = NULL, *id = NULL;
  size_t total, *stated;
  char *data = NULL;
  reqlist l = {NULL, 0, 0};
  par__mpi_chdr h;
  int rc = start(comm, &h, PAR_OPKIND_GATHER, root, PAR__MPI_BYTES, len, 0,
                 PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE);

  if (rc != PAR_OK) {
    return rc;
  }
  stated = stated_counts(comm, &total);
  if (stated == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
  }
  if (me) {
    data = malloc(total + 1);
    if (data == NULL) {
      free(stated);
      return par__comm_fail(comm, PAR_ENOMEM,
                            "no memory to gather %zu bytes", total);
    }
  }
  if (total <= par__mpi_split()) {
    if (me) {
      rc = int_counts(comm, stated, &ic, &id);
    }
    if (rc == PAR_OK) {
      rc = MPI_Gatherv(buf, (int) len, MPI_BYTE, data, ic, id, MPI_BYTE, root,
                       handle(comm));
      rc = rc == MPI_SUCCESS ? PAR_OK
                             : par__mpi_fail(comm, rc, "MPI_Gatherv");
    }
    free(ic);
  } else if (me) {
    char *at = data;

    for (int r = 0; r < p && rc == PAR_OK; at += stated[r], r++) {
      if (r != root) {
        rc = post(comm, &l, 0, at, stated[r], r);
      } else if (len > 0) {
        memcpy(at, buf, len);
      }
    }
    rc = finish(comm, &l, rc);
  } else {
    rc = post(comm, &l, 1, (void *) buf, len, root);
    rc = finish(comm, &l, rc);
  }
  if (rc == PAR_OK && me) {
    memcpy(counts, stated, (size_t) p * sizeof *counts);
    par__msg_take_malloc(out, data, total);
  } else {
    free(data);
  }
  free(stated);
  return rc;
}

int
par__mpi_allgatherv_bytes(par_comm *comm, const void *buf, size_t len,
                          par_msg *out, size_t *counts)
{
  int p = comm->size;
  int *ic = NULL, *id = NULL;
  size_t total, *stated;
  char *data;
  reqlist l = {NULL, 0, 0};
  par__mpi_chdr h;
  int rc = start(comm, &h, PAR_OPKIND_ALLGATHER, -1, PAR__MPI_BYTES, len, 0,
                 PAR__MPI_SAME_TYPE);

  if (rc != PAR_OK) {
    return rc;
  }
  stated = stated_counts(comm, &total);
  if (stated == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
  }
  data = malloc(total + 1);
  if (data == NULL) {
    free(stated);
    return par__comm_fail(comm, PAR_ENOMEM, "no memory to gather %zu bytes",
                          total);
  }
  if (total <= par__mpi_split()) {
    rc = int_counts(comm, stated, &ic, &id);
    if (rc == PAR_OK) {
      rc = MPI_Allgatherv(buf, (int) len, MPI_BYTE, data, ic, id, MPI_BYTE,
                          handle(comm));
      rc = rc == MPI_SUCCESS ? PAR_OK
                             : par__mpi_fail(comm, rc, "MPI_Allgatherv");
    }
    free(ic);
  } else {
    char *at = data;

    for (int r = 0; r < p && rc == PAR_OK; at += stated[r], r++) {
      if (r != comm->rank) {
        rc = post(comm, &l, 0, at, stated[r], r);
        if (rc == PAR_OK) {
          rc = post(comm, &l, 1, (void *) buf, len, r);
        }
      } else if (len > 0) {
        memcpy(at, buf, len);
      }
    }
    rc = finish(comm, &l, rc);
  }
  if (rc == PAR_OK) {
    memcpy(counts, stated, (size_t) p * sizeof *counts);
    par__msg_take_malloc(out, data, total);
  } else {
    free(data);
  }
  free(stated);
  return rc;
}

/* --- Typed collectives --------------------------------------------------- */

int
par__mpi_bcast(par_comm *comm, int root, void *buf, size_t count,
               par_dtype type)
{
  par__mpi_chdr h;
  int rc = start(comm, &h, PAR_OPKIND_BCAST, root, type, count, 0,
                 PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE
                     | PAR__MPI_SAME_COUNT);

  if (rc != PAR_OK) {
    return rc;
  }
  return bcast_pieces(comm, buf, count, par_dtype_size(type), mpi_type(type),
                      root);
}

/* After the statements of a v-collective: check that the counts arrays
 * of HOLDER (the root; every process when HOLDER < 0), vouched for by their
 * digests, are the counts the processes stated. COUNTS is this process's
 * array when it holds one, so that it can name the first difference; MINE
 * and THEIRS say what the holder and the others do with the elements
 * ("sends 3 elements to", "expects 3 elements from"). */
static int
check_counts(par_comm *comm, const par__mpi_chdr *h, int holder,
             const size_t *counts, const size_t *stated, const char *mine,
             const char *theirs)
{
  const par__mpi_chdr *all = par__mpi_impl(comm)->all;
  uint64_t d = par__mpi_digest(stated, comm->size);
  const char *name = par_opkind_name((par_opkind) h->op);
  int bad = -1;

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
      const char *prep = h->op == PAR_OPKIND_SCATTER ? "to" : "from";

      return par__comm_fail(comm, PAR_ESIZE,
                            "rank %d %s %zu elements %s rank %d in %s "
                            "(collective #%u) but rank %d %s %zu",
                            comm->rank, mine, counts[k], prep, k, name,
                            h->seq, k, theirs, stated[k]);
    }
  }
  return par__comm_fail(comm, PAR_ESIZE,
                        "the counts rank %d holds differ from the elements "
                        "the processes bring to %s (collective #%u)",
                        bad, name, h->seq);
}

int
par__mpi_scatterv(par_comm *comm, int root, const void *sendbuf,
                  const size_t *counts, void *recvbuf, size_t recvcount,
                  par_dtype type)
{
  int p = comm->size, me = comm->rank == root;
  size_t esize = par_dtype_size(type), total, *stated;
  MPI_Datatype dt = mpi_type(type);
  int *ic = NULL, *id = NULL;
  reqlist l = {NULL, 0, 0};
  par__mpi_chdr h;
  int rc = start(comm, &h, PAR_OPKIND_SCATTER, root, type, recvcount,
                 me ? par__mpi_digest(counts, p) : 0,
                 PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE);

  if (rc != PAR_OK) {
    return rc;
  }
  stated = stated_counts(comm, &total);
  if (stated == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
  }
  rc = check_counts(comm, &h, root, me ? counts : NULL, stated, "sends",
                    "expects");
  if (rc != PAR_OK) {
    goto done;
  }
  if (total * esize <= par__mpi_split()) {
    if (me) {
      rc = int_counts(comm, counts, &ic, &id);
    }
    if (rc == PAR_OK) {
      rc = MPI_Scatterv(sendbuf, ic, id, dt, recvbuf, (int) recvcount, dt,
                        root, handle(comm));
      rc = rc == MPI_SUCCESS ? PAR_OK
                             : par__mpi_fail(comm, rc, "MPI_Scatterv");
    }
    free(ic);
  } else if (me) {
    const char *at = sendbuf;

    for (int r = 0; r < p && rc == PAR_OK; at += counts[r] * esize, r++) {
      if (r != root) {
        rc = post(comm, &l, 1, (char *) at, counts[r] * esize, r);
      } else if (recvcount > 0) {
        memcpy(recvbuf, at, recvcount * esize);
      }
    }
    rc = finish(comm, &l, rc);
  } else {
    rc = post(comm, &l, 0, recvbuf, recvcount * esize, root);
    rc = finish(comm, &l, rc);
  }
done:
  free(stated);
  return rc;
}

int
par__mpi_gatherv(par_comm *comm, int root, const void *sendbuf,
                 size_t sendcount, void *recvbuf, const size_t *counts,
                 par_dtype type)
{
  int p = comm->size, me = comm->rank == root;
  size_t esize = par_dtype_size(type), total, *stated;
  MPI_Datatype dt = mpi_type(type);
  int *ic = NULL, *id = NULL;
  reqlist l = {NULL, 0, 0};
  par__mpi_chdr h;
  int rc = start(comm, &h, PAR_OPKIND_GATHER, root, type, sendcount,
                 me ? par__mpi_digest(counts, p) : 0,
                 PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE);

  if (rc != PAR_OK) {
    return rc;
  }
  stated = stated_counts(comm, &total);
  if (stated == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
  }
  rc = check_counts(comm, &h, root, me ? counts : NULL, stated, "expects",
                    "sends");
  if (rc != PAR_OK) {
    goto done;
  }
  if (total * esize <= par__mpi_split()) {
    if (me) {
      rc = int_counts(comm, counts, &ic, &id);
    }
    if (rc == PAR_OK) {
      rc = MPI_Gatherv(sendbuf, (int) sendcount, dt, recvbuf, ic, id, dt,
                       root, handle(comm));
      rc = rc == MPI_SUCCESS ? PAR_OK
                             : par__mpi_fail(comm, rc, "MPI_Gatherv");
    }
    free(ic);
  } else if (me) {
    char *at = recvbuf;

    for (int r = 0; r < p && rc == PAR_OK; at += counts[r] * esize, r++) {
      if (r != root) {
        rc = post(comm, &l, 0, at, counts[r] * esize, r);
      } else if (sendcount > 0) {
        memcpy(at, sendbuf, sendcount * esize);
      }
    }
    rc = finish(comm, &l, rc);
  } else {
    rc = post(comm, &l, 1, (void *) sendbuf, sendcount * esize, root);
    rc = finish(comm, &l, rc);
  }
done:
  free(stated);
  return rc;
}

int
par__mpi_allgatherv(par_comm *comm, const void *sendbuf, size_t sendcount,
                    void *recvbuf, const size_t *counts, par_dtype type)
{
  int p = comm->size;
  size_t esize = par_dtype_size(type), total, *stated;
  MPI_Datatype dt = mpi_type(type);
  int *ic = NULL, *id = NULL;
  reqlist l = {NULL, 0, 0};
  par__mpi_chdr h;
  int rc = start(comm, &h, PAR_OPKIND_ALLGATHER, -1, type, sendcount,
                 par__mpi_digest(counts, p), PAR__MPI_SAME_TYPE);

  if (rc != PAR_OK) {
    return rc;
  }
  stated = stated_counts(comm, &total);
  if (stated == NULL) {
    return par__comm_fail(comm, PAR_ENOMEM, "no memory for counts");
  }
  rc = check_counts(comm, &h, -1, counts, stated, "expects", "sends");
  if (rc != PAR_OK) {
    goto done;
  }
  if (total * esize <= par__mpi_split()) {
    rc = int_counts(comm, counts, &ic, &id);
    if (rc == PAR_OK) {
      rc = MPI_Allgatherv(sendbuf, (int) sendcount, dt, recvbuf, ic, id, dt,
                          handle(comm));
      rc = rc == MPI_SUCCESS ? PAR_OK
                             : par__mpi_fail(comm, rc, "MPI_Allgatherv");
    }
    free(ic);
  } else {
    char *at = recvbuf;

    for (int r = 0; r < p && rc == PAR_OK; at += counts[r] * esize, r++) {
      if (r != comm->rank) {
        rc = post(comm, &l, 0, at, counts[r] * esize, r);
        if (rc == PAR_OK) {
          rc = post(comm, &l, 1, (void *) sendbuf, sendcount * esize, r);
        }
      } else if (sendcount > 0) {
        memcpy(at, sendbuf, sendcount * esize);
      }
    }
    rc = finish(comm, &l, rc);
  }
done:
  free(stated);
  return rc;
}

/* Reduce or allreduce (ROOT < 0) in pieces. A SENDBUF equal to RECVBUF is
 * passed to MPI as MPI_IN_PLACE, which is what such a caller means. */
static int
reduce_common(par_comm *comm, par_opkind kind, int root, const void *sendbuf,
              void *recvbuf, size_t count, par_dtype type, par_reduce_op op)
{
  size_t esize = par_dtype_size(type), per = piece_elements(esize);
  int me = root < 0 || comm->rank == root;
  int in_place = me && sendbuf == recvbuf;
  par__mpi_chdr h;
  int rc;

  memset(&h, 0, sizeof h);
  h.op = kind;
  h.seq = comm->coll_seq;
  h.root = root;
  h.type = type;
  h.redop = op;
  h.count = count;
  rc = par__mpi_exchange(comm, &h);
  if (rc == PAR_OK) {
    rc = par__mpi_agree(comm, &h,
                        PAR__MPI_SAME_ROOT | PAR__MPI_SAME_TYPE
                            | PAR__MPI_SAME_REDOP | PAR__MPI_SAME_COUNT);
  }
  if (rc != PAR_OK) {
    return rc;
  }
  /* Every process agreed on TYPE and OP, so they all stop here together. */
  if ((type == PAR_C32 || type == PAR_C64)
      && (op == PAR_REDUCE_MIN || op == PAR_REDUCE_MAX)) {
    return par__comm_fail(comm, PAR_ETYPE, "cannot apply %s to %s elements",
                          par_reduce_op_name(op), par_dtype_name(type));
  }
  for (size_t off = 0; off < count; off += per) {
    size_t n = count - off < per ? count - off : per;
    const void *s = in_place ? MPI_IN_PLACE
                             : (const char *) sendbuf + off * esize;
    void *r = me ? (char *) recvbuf + off * esize : NULL;

    if (root < 0) {
      rc = MPI_Allreduce(s, r, (int) n, mpi_type(type), mpi_op(op),
                         handle(comm));
    } else {
      rc = MPI_Reduce(s, r, (int) n, mpi_type(type), mpi_op(op), root,
                      handle(comm));
    }
    if (rc != MPI_SUCCESS) {
      return par__mpi_fail(comm, rc,
                           root < 0 ? "MPI_Allreduce" : "MPI_Reduce");
    }
  }
  return PAR_OK;
}

int
par__mpi_reduce(par_comm *comm, int root, const void *sendbuf, void *recvbuf,
                size_t count, par_dtype type, par_reduce_op op)
{
  return reduce_common(comm, PAR_OPKIND_REDUCE, root, sendbuf, recvbuf, count,
                       type, op);
}

int
par__mpi_allreduce(par_comm *comm, const void *sendbuf, void *recvbuf,
                   size_t count, par_dtype type, par_reduce_op op)
{
  return reduce_common(comm, PAR_OPKIND_ALLREDUCE, -1, sendbuf, recvbuf,
                       count, type, op);
}
