/* check_mpi.c — Check suite of the MPI backend (par/mpi.h).
 *
 * Run it under mpirun with one to four processes; every rank runs the whole
 * suite (in CK_NOFORK mode, since a forked child cannot talk MPI), prints
 * its failures, and every rank exits with the same status, that of the
 * whole job:
 *
 *   make build/tests/check_mpi
 *   mpirun -n 3 --oversubscribe build/tests/check_mpi
 *
 * As root, Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 and
 * OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the environment. Each test works on a
 * fresh communicator with a timeout, so a failure on one rank makes the
 * others time out instead of hanging the job.
 */
#include <check.h>
#include <complex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parallelizer.h"
#include "par/mpi.h"

static par_comm *comm;
static int rank, size;

static void
setup(void)
{
  ck_assert_int_eq(par_comm_mpi_world(&comm), PAR_OK);
  par_comm_set_timeout(comm, 10);
  rank = par_comm_rank(comm);
  size = par_comm_size(comm);
}

static void
teardown(void)
{
  par_mpi_set_split_threshold(0);
  par_comm_destroy(comm);
  comm = NULL;
  /* Line the ranks up between tests, outside the communicator tested. */
  MPI_Barrier(MPI_COMM_WORLD);
}

/* The byte at I of a test message identified by SEED. */
static unsigned char
pattern(size_t i, int seed)
{
  return (unsigned char) (i * 31u + (unsigned) seed * 7u + 1u);
}

static void
fill(unsigned char *p, size_t n, int seed)
{
  for (size_t i = 0; i < n; i++) {
    p[i] = pattern(i, seed);
  }
}

static int
holds(const void *data, size_t n, int seed)
{
  const unsigned char *p = data;

  for (size_t i = 0; i < n; i++) {
    if (p[i] != pattern(i, seed)) {
      return 0;
    }
  }
  return 1;
}

/* Uneven chunk lengths, with an empty chunk when there are two or more. */
static size_t
chunk_len(int r)
{
  return r == 1 ? 0 : (size_t) (r * 37 + 5);
}

/* --- core ---------------------------------------------------------------- */

START_TEST(test_world)
{
  int r, n;

  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  ck_assert_int_eq(rank, r);
  ck_assert_int_eq(size, n);
  ck_assert_str_eq(par_comm_backend(comm), "mpi");
  ck_assert(par_comm_mpi_handle(comm) != MPI_COMM_NULL);
  ck_assert(par_comm_mpi_handle(comm) != MPI_COMM_WORLD);
  ck_assert_int_eq(par_mpi_init(), PAR_OK);
  ck_assert_int_eq(par_mpi_init(), PAR_OK);
  ck_assert_uint_eq(par_mpi_split_threshold(), PAR_MPI_SPLIT_DEFAULT);
}
END_TEST

START_TEST(test_handle_of_other_backend)
{
  par_comm *serial;

  ck_assert_int_eq(par_comm_serial_create(&serial), PAR_OK);
  ck_assert(par_comm_mpi_handle(serial) == MPI_COMM_NULL);
  par_comm_destroy(serial);
  ck_assert(par_comm_mpi_handle(NULL) == MPI_COMM_NULL);
}
END_TEST

/* Each rank sends three messages of different lengths to the next rank
 * and receives the previous rank's, in order. */
static void
ring(size_t base)
{
  int next = (rank + 1) % size, prev = (rank + size - 1) % size;
  unsigned char *buf;

  if (size == 1) {
    ck_assert_int_eq(par_comm_send(comm, 0, "x", 1), PAR_ERANK);
    return;
  }
  buf = malloc(base + 3);
  for (int k = 0; k < 3; k++) {
    fill(buf, base + (size_t) k, rank * 10 + k);
    ck_assert_int_eq(par_comm_send(comm, next, buf, base + (size_t) k),
                     PAR_OK);
  }
  free(buf);
  for (int k = 0; k < 3; k++) {
    par_msg msg = PAR_MSG_INIT;

    ck_assert_int_eq(par_comm_recv(comm, prev, &msg), PAR_OK);
    ck_assert_uint_eq(msg.len, base + (size_t) k);
    ck_assert(holds(msg.data, msg.len, prev * 10 + k));
    par_msg_release(&msg);
  }
}

START_TEST(test_ring_small)
{
  ring(0);
  ring(100);
}
END_TEST

/* Large sends that nobody receives yet must not block the sender, or this
 * exchange (everybody sends first) would deadlock. */
/* Every other rank sends rank 0 its rank three times; rank 0 takes them
 * from whoever is ready, each sender's in order. */
START_TEST(test_recv_any)
{
  par_msg msg = PAR_MSG_INIT;
  int source = -1;

  if (rank != 0) {
    for (int k = 0; k < 3; k++) {
      int value[2] = {rank, k};

      ck_assert_int_eq(par_comm_send(comm, 0, value, sizeof value), PAR_OK);
    }
  } else {
    int next[64] = {0};

    ck_assert_int_le(size, 64);
    for (int i = 0; i < 3 * (size - 1); i++) {
      int value[2];

      ck_assert_int_eq(par_comm_recv_any(comm, 1, &source, &msg), PAR_OK);
      ck_assert_uint_eq(msg.len, sizeof value);
      memcpy(value, msg.data, sizeof value);
      par_msg_release(&msg);
      ck_assert_int_eq(value[0], source);
      ck_assert_int_eq(value[1], next[source]);
      next[source]++;
    }
    ck_assert_int_eq(par_comm_recv_any(comm, 0, &source, &msg), PAR_ENOENT);
  }
}
END_TEST

START_TEST(test_ring_large)
{
  ring((size_t) 8 << 20);
}
END_TEST

static void
bcast_bytes_all_roots(void)
{
  for (int root = 0; root < size; root++) {
    size_t len = (size_t) root * 1000 + 3;
    unsigned char *buf = malloc(len);
    par_msg msg = PAR_MSG_INIT;

    fill(buf, len, root);
    ck_assert_int_eq(par_comm_bcast_bytes(comm, root,
                                          rank == root ? buf : NULL,
                                          rank == root ? len : 0, &msg),
                     PAR_OK);
    ck_assert_uint_eq(msg.len, len);
    ck_assert(holds(msg.data, len, root));
    par_msg_release(&msg);
    free(buf);
  }
}

START_TEST(test_bcast_bytes)
{
  bcast_bytes_all_roots();
}
END_TEST

START_TEST(test_bcast_bytes_empty)
{
  par_msg msg = PAR_MSG_INIT;

  ck_assert_int_eq(par_comm_bcast_bytes(comm, 0, NULL, 0, &msg), PAR_OK);
  ck_assert_uint_eq(msg.len, 0);
  par_msg_release(&msg);
}
END_TEST

static void
scatterv_bytes_from(int root)
{
  size_t *counts = malloc((size_t) size * sizeof *counts), total = 0;
  unsigned char *buf, *p;
  par_msg msg = PAR_MSG_INIT;

  for (int r = 0; r < size; r++) {
    counts[r] = chunk_len(r);
    total += counts[r];
  }
  buf = malloc(total + 1);
  p = buf;
  for (int r = 0; r < size; r++) {
    fill(p, counts[r], r);
    p += counts[r];
  }
  ck_assert_int_eq(par_comm_scatterv_bytes(comm, root,
                                           rank == root ? buf : NULL,
                                           rank == root ? counts : NULL,
                                           &msg),
                   PAR_OK);
  ck_assert_uint_eq(msg.len, chunk_len(rank));
  ck_assert(holds(msg.data, msg.len, rank));
  par_msg_release(&msg);
  free(buf);
  free(counts);
}

START_TEST(test_scatterv_bytes)
{
  scatterv_bytes_from(0);
  scatterv_bytes_from(size - 1);
}
END_TEST

static void
check_gathered(const par_msg *msg, const size_t *counts)
{
  const unsigned char *p = msg->data;
  size_t total = 0;

  for (int r = 0; r < size; r++) {
    ck_assert_uint_eq(counts[r], chunk_len(r));
    ck_assert(holds(p, counts[r], r));
    p += counts[r];
    total += counts[r];
  }
  ck_assert_uint_eq(msg->len, total);
}

static void
gatherv_bytes_to(int root)
{
  size_t len = chunk_len(rank);
  unsigned char *buf = malloc(len + 1);
  size_t *counts = calloc((size_t) size, sizeof *counts);
  par_msg msg = PAR_MSG_INIT;

  fill(buf, len, rank);
  ck_assert_int_eq(par_comm_gatherv_bytes(comm, root, buf, len, &msg,
                                          counts),
                   PAR_OK);
  if (rank == root) {
    check_gathered(&msg, counts);
  } else {
    ck_assert_uint_eq(msg.len, 0);
  }
  par_msg_release(&msg);
  free(counts);
  free(buf);
}

START_TEST(test_gatherv_bytes)
{
  gatherv_bytes_to(0);
  gatherv_bytes_to(size - 1);
}
END_TEST

static void
allgatherv_bytes_once(void)
{
  size_t len = chunk_len(rank);
  unsigned char *buf = malloc(len + 1);
  size_t *counts = calloc((size_t) size, sizeof *counts);
  par_msg msg = PAR_MSG_INIT;

  fill(buf, len, rank);
  ck_assert_int_eq(par_comm_allgatherv_bytes(comm, buf, len, &msg, counts),
                   PAR_OK);
  check_gathered(&msg, counts);
  par_msg_release(&msg);
  free(counts);
  free(buf);
}

/* Messages in flight do not disturb collectives, nor the other way. */
START_TEST(test_send_across_collectives)
{
  par_msg msg = PAR_MSG_INIT;

  if (size == 1) {
    return;
  }
  if (rank == 0) {
    ck_assert_int_eq(par_comm_send(comm, 1, "early", 5), PAR_OK);
  }
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  allgatherv_bytes_once();
  if (rank == 1) {
    ck_assert_int_eq(par_comm_recv(comm, 0, &msg), PAR_OK);
    ck_assert_uint_eq(msg.len, 5);
    ck_assert(memcmp(msg.data, "early", 5) == 0);
    par_msg_release(&msg);
  }
}
END_TEST

START_TEST(test_allgatherv_bytes)
{
  allgatherv_bytes_once();
}
END_TEST

START_TEST(test_barrier)
{
  for (int i = 0; i < 1000; i++) {
    ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  }
}
END_TEST

/* Typed buffers: element I of rank R's data, as a double that every type
 * here can hold exactly. */
static double
value(int r, size_t i)
{
  return (double) ((r * 7 + (int) i * 3) % 50);
}

static void
store(par_dtype t, void *buf, size_t i, double v)
{
  switch (t) {
  case PAR_U8: ((uint8_t *) buf)[i] = (uint8_t) v; break;
  case PAR_S8: ((int8_t *) buf)[i] = (int8_t) v; break;
  case PAR_U16: ((uint16_t *) buf)[i] = (uint16_t) v; break;
  case PAR_S16: ((int16_t *) buf)[i] = (int16_t) v; break;
  case PAR_U32: ((uint32_t *) buf)[i] = (uint32_t) v; break;
  case PAR_S32: ((int32_t *) buf)[i] = (int32_t) v; break;
  case PAR_U64: ((uint64_t *) buf)[i] = (uint64_t) v; break;
  case PAR_S64: ((int64_t *) buf)[i] = (int64_t) v; break;
  case PAR_F32: ((float *) buf)[i] = (float) v; break;
  case PAR_F64: ((double *) buf)[i] = v; break;
  case PAR_C32: ((float complex *) buf)[i] = (float) v + (float) v * I; break;
  case PAR_C64: ((double complex *) buf)[i] = v - v * I; break;
  default: ck_abort();
  }
}

static int
same_as(par_dtype t, const void *buf, size_t i, double v)
{
  switch (t) {
  case PAR_U8: return ((const uint8_t *) buf)[i] == (uint8_t) v;
  case PAR_S8: return ((const int8_t *) buf)[i] == (int8_t) v;
  case PAR_U16: return ((const uint16_t *) buf)[i] == (uint16_t) v;
  case PAR_S16: return ((const int16_t *) buf)[i] == (int16_t) v;
  case PAR_U32: return ((const uint32_t *) buf)[i] == (uint32_t) v;
  case PAR_S32: return ((const int32_t *) buf)[i] == (int32_t) v;
  case PAR_U64: return ((const uint64_t *) buf)[i] == (uint64_t) v;
  case PAR_S64: return ((const int64_t *) buf)[i] == (int64_t) v;
  case PAR_F32: return ((const float *) buf)[i] == (float) v;
  case PAR_F64: return ((const double *) buf)[i] == v;
  case PAR_C32:
    return ((const float complex *) buf)[i] == (float) v + (float) v * I;
  case PAR_C64: return ((const double complex *) buf)[i] == v - v * I;
  default: return 0;
  }
}

START_TEST(test_bcast_typed)
{
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    size_t n = 1001, es = par_dtype_size((par_dtype) t);
    int root = t % size;
    void *buf = calloc(n, es);

    if (rank == root) {
      for (size_t i = 0; i < n; i++) {
        store((par_dtype) t, buf, i, value(root, i));
      }
    }
    ck_assert_int_eq(par_comm_bcast(comm, root, buf, n, (par_dtype) t),
                     PAR_OK);
    for (size_t i = 0; i < n; i++) {
      ck_assert(same_as((par_dtype) t, buf, i, value(root, i)));
    }
    free(buf);
  }
}
END_TEST

/* Chunk sizes of N elements as the Scheme scatter cuts them: the first
 * N mod SIZE ranks get one more. */
static size_t
share(size_t n, int r)
{
  return n / (size_t) size + ((size_t) r < n % (size_t) size ? 1 : 0);
}

static void
scatterv_typed(par_dtype t, size_t n, int root)
{
  size_t es = par_dtype_size(t), *counts = malloc(size * sizeof *counts);
  size_t mine = share(n, rank), first = 0;
  void *all = calloc(n + 1, es), *part = calloc(mine + 1, es);

  for (int r = 0; r < size; r++) {
    counts[r] = share(n, r);
    first += r < rank ? counts[r] : 0;
  }
  for (size_t i = 0; i < n; i++) {
    store(t, all, i, value(0, i));
  }
  ck_assert_int_eq(par_comm_scatterv(comm, root, rank == root ? all : NULL,
                                     rank == root ? counts : NULL, part,
                                     mine, t),
                   PAR_OK);
  for (size_t i = 0; i < mine; i++) {
    ck_assert(same_as(t, part, i, value(0, first + i)));
  }
  free(all);
  free(part);
  free(counts);
}

START_TEST(test_scatterv_typed)
{
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    scatterv_typed((par_dtype) t, 1003, 0);
    scatterv_typed((par_dtype) t, 2, size - 1);
  }
}
END_TEST

static void
gatherv_typed(par_dtype t, size_t n, int root, int all_of_them)
{
  size_t es = par_dtype_size(t), *counts = malloc(size * sizeof *counts);
  size_t mine = share(n, rank), first = 0;
  void *all = calloc(n + 1, es), *part = calloc(mine + 1, es);

  for (int r = 0; r < size; r++) {
    counts[r] = share(n, r);
    first += r < rank ? counts[r] : 0;
  }
  for (size_t i = 0; i < mine; i++) {
    store(t, part, i, value(0, first + i));
  }
  if (all_of_them) {
    ck_assert_int_eq(par_comm_allgatherv(comm, part, mine, all, counts, t),
                     PAR_OK);
  } else {
    ck_assert_int_eq(par_comm_gatherv(comm, root, part, mine,
                                      rank == root ? all : NULL,
                                      rank == root ? counts : NULL, t),
                     PAR_OK);
  }
  if (all_of_them || rank == root) {
    for (size_t i = 0; i < n; i++) {
      ck_assert(same_as(t, all, i, value(0, i)));
    }
  }
  free(all);
  free(part);
  free(counts);
}

START_TEST(test_gatherv_typed)
{
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    gatherv_typed((par_dtype) t, 1003, 0, 0);
    gatherv_typed((par_dtype) t, 3, size - 1, 0);
  }
}
END_TEST

START_TEST(test_allgatherv_typed)
{
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    gatherv_typed((par_dtype) t, 1003, 0, 1);
    gatherv_typed((par_dtype) t, 1, 0, 1);
  }
}
END_TEST

START_TEST(test_reduce_s32)
{
  int32_t in[4] = {rank + 1, -(rank + 1), 2, rank * 10}, out[4] = {0};
  int32_t sum = size * (size + 1) / 2, prod = 1 << size;

  ck_assert_int_eq(par_comm_reduce(comm, size - 1, in, out, 4, PAR_S32,
                                   PAR_REDUCE_SUM),
                   PAR_OK);
  if (rank == size - 1) {
    ck_assert_int_eq(out[0], sum);
    ck_assert_int_eq(out[1], -sum);
    ck_assert_int_eq(out[2], 2 * size);
  }
  ck_assert_int_eq(par_comm_allreduce(comm, in, out, 4, PAR_S32,
                                      PAR_REDUCE_PROD),
                   PAR_OK);
  ck_assert_int_eq(out[2], prod);
  ck_assert_int_eq(par_comm_allreduce(comm, in, out, 4, PAR_S32,
                                      PAR_REDUCE_MIN),
                   PAR_OK);
  ck_assert_int_eq(out[0], 1);
  ck_assert_int_eq(out[1], -size);
  ck_assert_int_eq(par_comm_allreduce(comm, in, out, 4, PAR_S32,
                                      PAR_REDUCE_MAX),
                   PAR_OK);
  ck_assert_int_eq(out[0], size);
  ck_assert_int_eq(out[3], (size - 1) * 10);
}
END_TEST

START_TEST(test_reduce_wraps)
{
  uint8_t in = 200, out = 0;

  ck_assert_int_eq(par_comm_allreduce(comm, &in, &out, 1, PAR_U8,
                                      PAR_REDUCE_SUM),
                   PAR_OK);
  ck_assert_uint_eq(out, (uint8_t) (200 * size));
}
END_TEST

START_TEST(test_reduce_float_complex)
{
  double d[2] = {0.5 * (rank + 1), 1.0}, dout[2];
  double complex z = 1.0 + 1.0 * I, zout = 0;
  double complex want = 1;

  ck_assert_int_eq(par_comm_allreduce(comm, d, dout, 2, PAR_F64,
                                      PAR_REDUCE_SUM),
                   PAR_OK);
  ck_assert(dout[0] == 0.25 * size * (size + 1));
  ck_assert(dout[1] == size);
  ck_assert_int_eq(par_comm_reduce(comm, 0, &z, &zout, 1, PAR_C64,
                                   PAR_REDUCE_PROD),
                   PAR_OK);
  for (int r = 0; r < size; r++) {
    want *= 1.0 + 1.0 * I;
  }
  if (rank == 0) {
    ck_assert(zout == want);
  }
  if (size > 1) {
    /* Complex numbers have no order, whatever the backend. */
    ck_assert_int_eq(par_comm_allreduce(comm, &z, &zout, 1, PAR_C64,
                                        PAR_REDUCE_MAX),
                     PAR_ETYPE);
    ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  }
}
END_TEST

START_TEST(test_allreduce_in_place)
{
  double v[3] = {1, rank, 2};

  ck_assert_int_eq(par_comm_allreduce(comm, v, v, 3, PAR_F64,
                                      PAR_REDUCE_SUM),
                   PAR_OK);
  ck_assert(v[0] == size);
  ck_assert(v[1] == size * (size - 1) / 2);
  ck_assert(v[2] == 2 * size);
}
END_TEST

/* --- limits -------------------------------------------------------------- */

START_TEST(test_subgroup)
{
  /* The even ranks, listed from the highest down. */
  int n = (size + 1) / 2, *ranks = malloc((size_t) n * sizeof *ranks);
  par_comm *sub = NULL;

  for (int i = 0; i < n; i++) {
    ranks[i] = 2 * (n - 1 - i);
  }
  ck_assert_int_eq(par_comm_mpi_subgroup(comm, ranks, n, &sub), PAR_OK);
  if (rank % 2 == 1) {
    ck_assert(sub == NULL);
  } else {
    int32_t in = rank, out = 0;

    ck_assert(sub != NULL);
    ck_assert_str_eq(par_comm_backend(sub), "mpi");
    ck_assert_int_eq(par_comm_size(sub), n);
    ck_assert_int_eq(par_comm_rank(sub), n - 1 - rank / 2);
    ck_assert_int_eq(par_comm_allreduce(sub, &in, &out, 1, PAR_S32,
                                        PAR_REDUCE_SUM),
                     PAR_OK);
    ck_assert_int_eq(out, n * (n - 1));
    ck_assert_int_eq(par_comm_barrier(sub), PAR_OK);
    par_comm_destroy(sub);
  }
  /* The parent is still in step on every rank. */
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  free(ranks);
}
END_TEST

START_TEST(test_subgroup_0_2_of_3)
{
  int ranks[2] = {0, 2};
  par_comm *sub = NULL;

  if (size != 3) {
    return;
  }
  ck_assert_int_eq(par_comm_mpi_subgroup(comm, ranks, 2, &sub), PAR_OK);
  if (rank == 1) {
    ck_assert(sub == NULL);
  } else {
    par_msg msg = PAR_MSG_INIT;

    ck_assert_int_eq(par_comm_size(sub), 2);
    ck_assert_int_eq(par_comm_rank(sub), rank / 2);
    ck_assert_int_eq(par_comm_bcast_bytes(sub, 1, "two", 3, &msg), PAR_OK);
    ck_assert_uint_eq(msg.len, 3);
    ck_assert(memcmp(msg.data, "two", 3) == 0);
    par_msg_release(&msg);
    par_comm_destroy(sub);
  }
}
END_TEST

START_TEST(test_subgroup_errors)
{
  int dup[2] = {0, 0}, far[1] = {size}, mine[1] = {rank};
  par_comm *serial, *sub = NULL;

  ck_assert_int_eq(par_comm_mpi_subgroup(comm, dup, 2, &sub), PAR_EINVAL);
  ck_assert_int_eq(par_comm_mpi_subgroup(comm, far, 1, &sub), PAR_EINVAL);
  ck_assert_int_eq(par_comm_mpi_subgroup(comm, NULL, 0, &sub), PAR_EINVAL);
  if (size > 1) {
    ck_assert_int_eq(par_comm_mpi_subgroup(comm, mine, 1, &sub),
                     PAR_EMISMATCH);
  }
  ck_assert(sub == NULL);
  ck_assert_int_eq(par_comm_serial_create(&serial), PAR_OK);
  ck_assert_int_eq(par_comm_mpi_subgroup(serial, dup, 1, &sub), PAR_EINVAL);
  par_comm_destroy(serial);
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
}
END_TEST

/* With a threshold of a few bytes, every transfer is cut into many pieces
 * and must still arrive intact. */
START_TEST(test_split)
{
  par_mpi_set_split_threshold(7);
  ck_assert_uint_eq(par_mpi_split_threshold(), 7);
  ring(1000);
  ring(7);
  ring(8);
  bcast_bytes_all_roots();
  for (int root = 0; root < size; root++) {
    scatterv_bytes_from(root);
    gatherv_bytes_to(root);
  }
  allgatherv_bytes_once();
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    scatterv_typed((par_dtype) t, 103, size - 1);
    gatherv_typed((par_dtype) t, 103, 0, 0);
    gatherv_typed((par_dtype) t, 103, 0, 1);
  }
  {
    size_t n = 5000;
    double *v = malloc(n * sizeof *v), *w = malloc(n * sizeof *w);

    for (size_t i = 0; i < n; i++) {
      v[i] = (double) i;
    }
    ck_assert_int_eq(par_comm_bcast(comm, 0, v, n, PAR_F64), PAR_OK);
    ck_assert_int_eq(par_comm_allreduce(comm, v, w, n, PAR_F64,
                                        PAR_REDUCE_SUM),
                     PAR_OK);
    for (size_t i = 0; i < n; i++) {
      ck_assert(w[i] == (double) i * size);
    }
    memset(w, 0, n * sizeof *w);
    ck_assert_int_eq(par_comm_reduce(comm, size - 1, v, w, n, PAR_F64,
                                     PAR_REDUCE_MAX),
                     PAR_OK);
    for (size_t i = 0; rank == size - 1 && i < n; i++) {
      ck_assert(w[i] == (double) i);
    }
    free(v);
    free(w);
  }
  par_mpi_set_split_threshold((size_t) -1);
  ck_assert_uint_eq(par_mpi_split_threshold(), PAR_MPI_SPLIT_MAX);
  par_mpi_set_split_threshold(0);
  ck_assert_uint_eq(par_mpi_split_threshold(), PAR_MPI_SPLIT_DEFAULT);
}
END_TEST

START_TEST(test_recv_timeout)
{
  par_msg msg = PAR_MSG_INIT;
  double t0;

  if (size == 1) {
    return;
  }
  par_comm_set_timeout(comm, 0.2);
  t0 = MPI_Wtime();
  ck_assert_int_eq(par_comm_recv(comm, (rank + 1) % size, &msg),
                   PAR_ETIMEDOUT);
  ck_assert(MPI_Wtime() - t0 >= 0.19);
  ck_assert(MPI_Wtime() - t0 < 5);
  ck_assert(strstr(par_comm_error_detail(comm), "waited") != NULL);
}
END_TEST

/* Rank 0 waits in a barrier that nobody else enters. */
START_TEST(test_collective_timeout)
{
  if (size == 1) {
    return;
  }
  if (rank == 0) {
    par_comm_set_timeout(comm, 0.2);
    ck_assert_int_eq(par_comm_barrier(comm), PAR_ETIMEDOUT);
    /* Rank 0 is now out of step: it must not go on as if nothing was. */
    ck_assert_int_eq(par_comm_barrier(comm), PAR_EABORTED);
    ck_assert(strstr(par_comm_error_detail(comm), "out of step") != NULL);
  }
}
END_TEST

static int
interrupt_after(void *data)
{
  int *left = data;

  return --*left <= 0;
}

START_TEST(test_interrupt)
{
  par_msg msg = PAR_MSG_INIT;
  int left = 5;

  if (size == 1) {
    return;
  }
  par_comm_set_timeout(comm, 0);
  par_comm_set_interrupt_check(comm, interrupt_after, &left);
  ck_assert_int_eq(par_comm_recv(comm, (rank + 1) % size, &msg), PAR_EINTR);
}
END_TEST

START_TEST(test_mismatch)
{
  par_msg msg = PAR_MSG_INIT;
  size_t *counts = calloc((size_t) size, sizeof *counts);
  const char *detail;
  int rc;

  if (size == 1) {
    free(counts);
    return;
  }
  /* Collective #1: rank 0 scatters while the others gather. */
  if (rank == 0) {
    rc = par_comm_scatterv_bytes(comm, 0, "", counts, &msg);
  } else {
    rc = par_comm_gatherv_bytes(comm, 0, "", 0, &msg, counts);
  }
  ck_assert_int_eq(rc, PAR_EMISMATCH);
  detail = par_comm_error_detail(comm);
  /* Each rank names the first rank that is elsewhere. */
  if (rank == 0) {
    ck_assert_str_eq(detail, "rank 0 is in scatter (collective #1) but "
                             "rank 1 is in gather (collective #1)");
  } else {
    char want[128];

    snprintf(want, sizeof want, "rank %d is in gather (collective #1) but "
             "rank 0 is in scatter (collective #1)", rank);
    ck_assert_str_eq(detail, want);
  }
  /* Collective #2: different roots. */
  rc = par_comm_bcast_bytes(comm, rank == 0 ? 0 : 1, "x", 1, &msg);
  ck_assert_int_eq(rc, PAR_EMISMATCH);
  if (rank == 0) {
    ck_assert_str_eq(par_comm_error_detail(comm),
                     "rank 0 is in broadcast (collective #2) with root 0 "
                     "but rank 1 with root 1");
  }
  /* Collective #3: different lengths of a typed broadcast. */
  {
    double v[4] = {0};

    rc = par_comm_bcast(comm, 0, v, rank == 0 ? 3 : 4, PAR_F64);
    ck_assert_int_eq(rc, PAR_ESIZE);
    if (rank == 0) {
      ck_assert_str_eq(par_comm_error_detail(comm),
                       "rank 0 is in broadcast (collective #3) with 3 "
                       "elements but rank 1 with 4");
    }
  }
  /* Collective #4: bytes on one rank, typed elements on the others. */
  {
    double v[1] = {0};

    if (rank == 0) {
      rc = par_comm_bcast_bytes(comm, 0, "x", 1, &msg);
    } else {
      rc = par_comm_bcast(comm, 0, v, 1, PAR_F64);
    }
    ck_assert_int_eq(rc, PAR_EMISMATCH);
    if (rank == 0) {
      ck_assert_str_eq(par_comm_error_detail(comm),
                       "rank 0 is in broadcast (collective #4) of bytes but "
                       "rank 1 of f64 elements");
    }
  }
  /* Collective #5: the root's counts disagree with what rank 1 expects. */
  {
    int32_t all[64] = {0}, part[64];
    size_t n = 0;

    for (int r = 0; r < size; r++) {
      counts[r] = 2;
    }
    n = rank == 1 ? 3 : 2;
    rc = par_comm_scatterv(comm, 0, all, counts, part, n, PAR_S32);
    ck_assert_int_eq(rc, PAR_ESIZE);
    if (rank == 0) {
      ck_assert_str_eq(par_comm_error_detail(comm),
                       "rank 0 is in scatter (collective #5) sending 2 s32 "
                       "elements to rank 1 but rank 1 expects 3 s32 "
                       "elements");
    } else {
      ck_assert_str_eq(par_comm_error_detail(comm),
                       "the counts rank 0 holds differ from the elements "
                       "the processes bring to scatter (collective #5)");
    }
  }
  /* Collective #6: different reduction operators. */
  {
    int32_t in = 1, out;

    rc = par_comm_allreduce(comm, &in, &out, 1, PAR_S32,
                            rank == 0 ? PAR_REDUCE_SUM : PAR_REDUCE_MAX);
    ck_assert_int_eq(rc, PAR_EMISMATCH);
    if (rank == 0) {
      ck_assert_str_eq(par_comm_error_detail(comm),
                       "rank 0 is in allreduce (collective #6) with sum but "
                       "rank 1 with max");
    }
  }
  /* After all that, the communicator still works. */
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  allgatherv_bytes_once();
  free(counts);
}
END_TEST

/* --- Waits that can never end --------------------------------------------- */

/* A communicator over ranks 0 and 1 of COMM, NULL on the other ranks (and
 * on every rank of a job of one). */
static par_comm *
pair(void)
{
  int ranks[2] = {0, 1};
  par_comm *sub = NULL;

  if (size < 2) {
    return NULL;
  }
  ck_assert_int_eq(par_comm_mpi_subgroup(comm, ranks, 2, &sub), PAR_OK);
  return sub;
}

/* Check that RC, which took since T0, is the failure CODE with DETAIL on
 * SUB, found out long before the 10 s timeout. */
static void
failed_with(par_comm *sub, int rc, double t0, int code, const char *detail)
{
  ck_assert_str_eq(par_comm_error_detail(sub), detail);
  ck_assert_int_eq(rc, code);
  ck_assert(MPI_Wtime() - t0 < 5);
}

/* Rank 0 receives from rank 1, which is in a barrier: each finds out from
 * the other's notice, and both fail naming both operations. */
START_TEST(test_receive_while_in_collective)
{
  par_comm *sub = pair();
  par_msg msg = PAR_MSG_INIT;
  double t0 = MPI_Wtime();

  if (sub == NULL) {
    return;
  }
  if (par_comm_rank(sub) == 0) {
    failed_with(sub, par_comm_recv(sub, 1, &msg), t0, PAR_EMISMATCH,
                "rank 0 is in receive-from rank 1 but rank 1 is in barrier "
                "(collective #1)");
  } else {
    failed_with(sub, par_comm_barrier(sub), t0, PAR_EMISMATCH,
                "rank 1 is in barrier (collective #1) but rank 0 is in "
                "receive-from rank 1");
  }
  par_comm_destroy(sub);
}
END_TEST

/* Two processes that receive from each other. */
START_TEST(test_receive_from_each_other)
{
  par_comm *sub = pair();
  par_msg msg = PAR_MSG_INIT;
  double t0 = MPI_Wtime();
  char want[128];
  int me;

  if (sub == NULL) {
    return;
  }
  me = par_comm_rank(sub);
  /* A message each way first: the counts, not zero, must match. */
  ck_assert_int_eq(par_comm_send(sub, 1 - me, "x", 1), PAR_OK);
  ck_assert_int_eq(par_comm_recv(sub, 1 - me, &msg), PAR_OK);
  par_msg_release(&msg);
  snprintf(want, sizeof want,
           "rank %d is in receive-from rank %d but rank %d is in "
           "receive-from rank %d",
           me, 1 - me, 1 - me, me);
  failed_with(sub, par_comm_recv(sub, 1 - me, &msg), t0, PAR_EDEADLOCK,
              want);
  par_comm_destroy(sub);
}
END_TEST

/* Rank 1 is done with the group while rank 0 waits in a collective, then
 * while rank 0 waits to receive from it. */
START_TEST(test_finish_while_others_wait)
{
  par_comm *sub = pair();
  par_msg msg = PAR_MSG_INIT;
  double t0 = MPI_Wtime();
  const char *in_barrier = "rank 1 finished while rank 0 waits in barrier "
                           "(collective #1)";
  const char *in_receive = "rank 1 finished while rank 0 waits in "
                           "receive-from rank 1";

  if (sub == NULL) {
    return;
  }
  if (par_comm_rank(sub) == 0) {
    failed_with(sub, par_comm_barrier(sub), t0, PAR_EPEER, in_barrier);
    failed_with(sub, par_comm_recv(sub, 1, &msg), t0, PAR_EPEER,
                in_receive);
  } else {
    failed_with(sub, par_comm_mpi_finish(sub), t0, PAR_EMISMATCH,
                in_barrier);
    failed_with(sub, par_comm_mpi_finish(sub), t0, PAR_EMISMATCH,
                in_receive);
  }
  par_comm_destroy(sub);
}
END_TEST

static void
nap(double seconds)
{
  struct timespec ts = {(time_t) seconds,
                        (long) ((seconds - (time_t) seconds) * 1e9)};

  nanosleep(&ts, NULL);
}

/* Waits that last longer than the notices take to come, but end: nothing
 * fails, whoever waits and in whatever order the messages come. */
START_TEST(test_long_waits_end)
{
  par_msg msg = PAR_MSG_INIT;

  if (size < 2) {
    return;
  }
  /* Rank 1 sends and enters a barrier; rank 0 receives late. */
  if (rank == 1) {
    ck_assert_int_eq(par_comm_send(comm, 0, "late", 4), PAR_OK);
  } else if (rank == 0) {
    nap(0.6);
    ck_assert_int_eq(par_comm_recv(comm, 1, &msg), PAR_OK);
    par_msg_release(&msg);
  }
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  /* Rank 1 waits to receive while rank 0 computes, then sends. */
  if (rank == 0) {
    nap(0.6);
    ck_assert_int_eq(par_comm_send(comm, 1, "x", 1), PAR_OK);
  } else if (rank == 1) {
    ck_assert_int_eq(par_comm_recv(comm, 0, &msg), PAR_OK);
    par_msg_release(&msg);
  }
  /* Everyone waits in a barrier while the last rank computes. */
  if (rank == size - 1) {
    nap(0.6);
  }
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  /* With three or more: rank 0 in a barrier, rank 1 receiving from rank
   * 2, which computes, sends, then joins the barrier. */
  if (rank == 1 && size > 2) {
    ck_assert_int_eq(par_comm_recv(comm, 2, &msg), PAR_OK);
    par_msg_release(&msg);
  } else if (rank == 2) {
    nap(0.6);
    ck_assert_int_eq(par_comm_send(comm, 1, "y", 1), PAR_OK);
  }
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  /* Every process done with the group at once. */
  ck_assert_int_eq(par_comm_mpi_finish(comm), PAR_OK);
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
}
END_TEST

static void *
destroy_in_thread(void *data)
{
  par_comm_destroy(data);
  return NULL;
}

/* A communicator destroyed from another thread (a finalizer, say) is
 * released later by the MPI thread. */
START_TEST(test_destroy_off_thread)
{
  par_comm *other;
  pthread_t t;

  ck_assert_int_eq(par_comm_mpi_world(&other), PAR_OK);
  ck_assert_int_eq(pthread_create(&t, NULL, destroy_in_thread, other), 0);
  ck_assert_int_eq(pthread_join(t, NULL), 0);
  ring(10);
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
}
END_TEST

static Suite *
mpi_suite(void)
{
  Suite *s = suite_create("mpi");
  TCase *core = tcase_create("core"), *limits = tcase_create("limits");

  tcase_add_checked_fixture(core, setup, teardown);
  tcase_add_test(core, test_world);
  tcase_add_test(core, test_handle_of_other_backend);
  tcase_add_test(core, test_ring_small);
  tcase_add_test(core, test_ring_large);
  tcase_add_test(core, test_recv_any);
  tcase_add_test(core, test_bcast_bytes);
  tcase_add_test(core, test_bcast_bytes_empty);
  tcase_add_test(core, test_scatterv_bytes);
  tcase_add_test(core, test_gatherv_bytes);
  tcase_add_test(core, test_allgatherv_bytes);
  tcase_add_test(core, test_send_across_collectives);
  tcase_add_test(core, test_barrier);
  tcase_add_test(core, test_bcast_typed);
  tcase_add_test(core, test_scatterv_typed);
  tcase_add_test(core, test_gatherv_typed);
  tcase_add_test(core, test_allgatherv_typed);
  tcase_add_test(core, test_reduce_s32);
  tcase_add_test(core, test_reduce_wraps);
  tcase_add_test(core, test_reduce_float_complex);
  tcase_add_test(core, test_allreduce_in_place);
  suite_add_tcase(s, core);

  tcase_add_checked_fixture(limits, setup, teardown);
  tcase_add_test(limits, test_subgroup);
  tcase_add_test(limits, test_subgroup_0_2_of_3);
  tcase_add_test(limits, test_subgroup_errors);
  tcase_add_test(limits, test_split);
  tcase_add_test(limits, test_recv_timeout);
  tcase_add_test(limits, test_collective_timeout);
  tcase_add_test(limits, test_interrupt);
  tcase_add_test(limits, test_mismatch);
  tcase_add_test(limits, test_destroy_off_thread);
  tcase_add_test(limits, test_receive_while_in_collective);
  tcase_add_test(limits, test_receive_from_each_other);
  tcase_add_test(limits, test_finish_while_others_wait);
  tcase_add_test(limits, test_long_waits_end);
  suite_add_tcase(s, limits);
  return s;
}

int
main(void)
{
  SRunner *sr;
  int failed, all_failed = 0;

  if (par_mpi_init() != PAR_OK) {
    fprintf(stderr, "check_mpi: cannot initialise MPI\n");
    return EXIT_FAILURE;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  sr = srunner_create(mpi_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  /* Rank 0 prints the summary; the others print only their failures. */
  srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
  fflush(stdout);
  failed = srunner_ntests_failed(sr);
  if (rank != 0 && failed > 0) {
    printf("rank %d:\n", rank);
    srunner_print(sr, CK_NORMAL);
    fflush(stdout);
  }
  srunner_free(sr);
  MPI_Allreduce(&failed, &all_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return all_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
