/* check_runtime.c — the C runtime without any backend but serial: error
 * codes, element types, reductions, how operations are described, and the
 * communicator API on a group of one. The describer is private to the
 * runtime (comm-internal.h), and tested here beside the public API since
 * every backend's error details come from it. */
#include <check.h>
#include <complex.h>
#include <stdlib.h>
#include <string.h>

#include "comm-internal.h"
#include "parallelizer.h"

/* --- Errors -------------------------------------------------------------- */

START_TEST(test_error_names)
{
  ck_assert_str_eq(par_err_name(PAR_OK), "OK");
  ck_assert_str_eq(par_err_name(PAR_EMISMATCH), "EMISMATCH");
  ck_assert_str_eq(par_strerror(PAR_EPEER),
                   "a peer process died or left the group");
  ck_assert_str_eq(par_strerror(12345), "unknown error");
  ck_assert_str_eq(par_err_name(-1), "UNKNOWN");
  ck_assert_int_lt(PAR_EINVAL, 0);
  ck_assert_int_lt(PAR_ETOOBIG, 0);
}
END_TEST

START_TEST(test_every_code_is_named)
{
  for (int code = PAR_EINVAL; code < PAR__ERRNO_END; code++) {
    ck_assert_str_ne(par_err_name(code), "UNKNOWN");
    ck_assert_str_ne(par_strerror(code), "unknown error");
  }
}
END_TEST

START_TEST(test_version)
{
  ck_assert_str_eq(par_version_string(), PAR_VERSION_STRING);
}
END_TEST

/* --- Element types and reductions --------------------------------------- */

START_TEST(test_dtypes)
{
  static const size_t sizes[PAR_DTYPE_COUNT] = {1, 1, 2, 2, 4, 4,
                                                8, 8, 4, 8, 8, 16};
  par_dtype t;

  for (int i = 0; i < PAR_DTYPE_COUNT; i++) {
    ck_assert_uint_eq(par_dtype_size((par_dtype) i), sizes[i]);
    ck_assert_int_eq(par_dtype_from_name(par_dtype_name((par_dtype) i), &t),
                     PAR_OK);
    ck_assert_int_eq(t, i);
  }
  ck_assert_int_eq(par_dtype_from_name("f128", &t), PAR_EINVAL);
  ck_assert_ptr_null(par_dtype_name(PAR_DTYPE_COUNT));
  ck_assert_uint_eq(par_dtype_size(PAR_DTYPE_COUNT), 0);
}
END_TEST

START_TEST(test_reduce_f64)
{
  double a[4] = {1, -2, 3.5, 0}, b[4] = {2, 5, -1, 0};
  double s[4], expect_min[4] = {1, -2, -1, 0};

  memcpy(s, a, sizeof a);
  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_SUM, PAR_F64, s, b, 4),
                   PAR_OK);
  ck_assert_double_eq(s[0], 3);
  ck_assert_double_eq(s[2], 2.5);
  memcpy(s, a, sizeof a);
  par_reduce_apply(PAR_REDUCE_MIN, PAR_F64, s, b, 4);
  ck_assert_mem_eq(s, expect_min, sizeof s);
  memcpy(s, a, sizeof a);
  par_reduce_apply(PAR_REDUCE_PROD, PAR_F64, s, b, 4);
  ck_assert_double_eq(s[1], -10);
  memcpy(s, a, sizeof a);
  par_reduce_apply(PAR_REDUCE_MAX, PAR_F64, s, b, 4);
  ck_assert_double_eq(s[0], 2);
  ck_assert_double_eq(s[2], 3.5);
}
END_TEST

START_TEST(test_reduce_integers_wrap)
{
  int8_t a[2] = {127, -128}, b[2] = {1, -1};
  uint16_t u[1] = {65535}, v[1] = {2};
  int64_t x[1] = {-5}, y[1] = {3};

  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_SUM, PAR_S8, a, b, 2), PAR_OK);
  ck_assert_int_eq(a[0], -128);
  ck_assert_int_eq(a[1], 127);
  par_reduce_apply(PAR_REDUCE_SUM, PAR_U16, u, v, 1);
  ck_assert_uint_eq(u[0], 1);
  par_reduce_apply(PAR_REDUCE_MIN, PAR_S64, x, y, 1);
  ck_assert_int_eq(x[0], -5);
  par_reduce_apply(PAR_REDUCE_MAX, PAR_S64, x, y, 1);
  ck_assert_int_eq(x[0], 3);
}
END_TEST

START_TEST(test_reduce_complex)
{
  double complex a[1] = {1 + 2 * I}, b[1] = {3 - I};

  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_PROD, PAR_C64, a, b, 1),
                   PAR_OK);
  ck_assert_double_eq(creal(a[0]), 5);
  ck_assert_double_eq(cimag(a[0]), 5);
  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_MIN, PAR_C64, a, b, 1),
                   PAR_ETYPE);
  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_MAX, PAR_C32, a, b, 1),
                   PAR_ETYPE);
  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_COUNT, PAR_F64, a, b, 1),
                   PAR_EINVAL);
  ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_SUM, PAR_DTYPE_COUNT, a, b,
                                    1),
                   PAR_EINVAL);
}
END_TEST

/* Every (operator, type) pair is defined but MIN and MAX on complex
 * numbers, and a reduction of no elements touches no memory. */
START_TEST(test_reduce_defined)
{
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    int complex_type = t == PAR_C32 || t == PAR_C64;

    for (int op = 0; op < PAR_REDUCE_COUNT; op++) {
      int expect = complex_type && (op == PAR_REDUCE_MIN
                                    || op == PAR_REDUCE_MAX)
                       ? PAR_ETYPE
                       : PAR_OK;

      ck_assert_int_eq(par_reduce_apply((par_reduce_op) op, (par_dtype) t,
                                        NULL, NULL, 0),
                       expect);
    }
  }
}
END_TEST

/* Every type sums and multiplies element-wise; integers wrap, narrow
 * unsigned ones too (65535 * 65535 overflows an int after promotion). */
START_TEST(test_reduce_every_type)
{
  unsigned char a[4 * 16], b[4 * 16];

  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    size_t size = par_dtype_size((par_dtype) t);

    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_SUM, (par_dtype) t, a, b,
                                      4),
                     PAR_OK);
    ck_assert_int_eq(par_reduce_apply(PAR_REDUCE_PROD, (par_dtype) t, a, b,
                                      sizeof a / size),
                     PAR_OK);
  }
  {
    uint16_t u[2] = {65535, 3}, v[2] = {65535, 5};
    uint32_t w[1] = {4000000000u}, x[1] = {3};

    par_reduce_apply(PAR_REDUCE_PROD, PAR_U16, u, v, 2);
    ck_assert_uint_eq(u[0], 1);
    ck_assert_uint_eq(u[1], 15);
    par_reduce_apply(PAR_REDUCE_PROD, PAR_U32, w, x, 1);
    ck_assert_uint_eq(w[0], (uint32_t) (4000000000ull * 3));
  }
  {
    float complex c[1] = {1 + 2 * I}, d[1] = {1 - 2 * I};

    par_reduce_apply(PAR_REDUCE_SUM, PAR_C32, c, d, 1);
    ck_assert_float_eq(crealf(c[0]), 2);
    ck_assert_float_eq(cimagf(c[0]), 0);
  }
}
END_TEST

START_TEST(test_reduce_op_names)
{
  par_reduce_op op;

  ck_assert_int_eq(par_reduce_op_from_name("max", &op), PAR_OK);
  ck_assert_int_eq(op, PAR_REDUCE_MAX);
  ck_assert_str_eq(par_reduce_op_name(PAR_REDUCE_PROD), "prod");
  ck_assert_int_eq(par_reduce_op_from_name("mean", &op), PAR_EINVAL);
}
END_TEST

/* --- How operations are described --------------------------------------- */

static const char *
describe(uint32_t kind, uint32_t seq, int peer)
{
  static char buf[64];
  par__op op = {kind, seq, peer};

  return par__op_describe(&op, buf, sizeof buf);
}

/* The names are the Scheme procedures'. */
START_TEST(test_opkind_names)
{
  ck_assert_str_eq(par_opkind_name(PAR_OPKIND_SEND), "send-to");
  ck_assert_str_eq(par_opkind_name(PAR_OPKIND_REDUCE), "reduce-to-root");
  ck_assert_str_eq(par_opkind_name(PAR_OPKIND_ALLREDUCE), "allreduce");
  ck_assert_str_eq(par_opkind_name(PAR_OPKIND_BCAST), "broadcast");
  ck_assert_str_eq(par_opkind_name(PAR_OPKIND_COUNT), "unknown");
}
END_TEST

START_TEST(test_describe_operations)
{
  ck_assert_str_eq(describe(PAR_OPKIND_GATHER, 2, PAR__PEER_NONE),
                   "gather (collective #2)");
  ck_assert_str_eq(describe(PAR_OPKIND_REDUCE, 7, PAR__PEER_NONE),
                   "reduce-to-root (collective #7)");
  ck_assert_str_eq(describe(PAR_OPKIND_SEND, 3, PAR__PEER_NONE),
                   "a message (send-to #3)");
  ck_assert_str_eq(describe(PAR_OPKIND_SEND, 0, 1), "send-to rank 1");
  ck_assert_str_eq(describe(PAR_OPKIND_SEND, 0, PAR__PEER_NONE), "send-to");
  ck_assert_str_eq(describe(PAR__OPKIND_RECV, 0, 0), "receive-from rank 0");
  ck_assert_str_eq(describe(PAR__OPKIND_RECV, 0, PAR__PEER_ANY),
                   "receive-from any rank");
  ck_assert_str_eq(describe(PAR__OPKIND_RECV, 0, PAR__PEER_NONE),
                   "receive-from");
}
END_TEST

START_TEST(test_describe_amounts)
{
  char buf[64];

  ck_assert_str_eq(par__type_describe(PAR_F64, buf, sizeof buf),
                   "f64 elements");
  ck_assert_str_eq(par__type_describe(PAR__BYTES, buf, sizeof buf), "bytes");
  ck_assert_str_eq(par__type_describe(77, buf, sizeof buf),
                   "elements of unknown type 77");
  ck_assert_str_eq(par__amount_describe(24, PAR_F64, buf, sizeof buf),
                   "3 f64 elements");
  ck_assert_str_eq(par__amount_describe(12, PAR__BYTES, buf, sizeof buf),
                   "12 bytes");
  ck_assert_str_eq(par__amount_describe(12, PAR_F64, buf, sizeof buf),
                   "12 bytes of f64 elements");
  ck_assert_str_eq(par__kind_describe(PAR_C64), "complex numbers");
  ck_assert_str_eq(par__kind_describe(PAR_S8), "signed integers");
}
END_TEST

/* The one sentence of a mismatch, in each of the shapes its callers use.
 * The communicator is a serial one, of rank 0. */
START_TEST(test_describe_mismatch)
{
  par__op gather = {PAR_OPKIND_GATHER, 2, PAR__PEER_NONE};
  par__op scatter = {PAR_OPKIND_SCATTER, 2, PAR__PEER_NONE};
  par__op recv = {PAR__OPKIND_RECV, 0, 1};
  par__op message = {PAR_OPKIND_SEND, 4, PAR__PEER_NONE};
  par__op bcast = {PAR_OPKIND_BCAST, 3, PAR__PEER_NONE};
  par_comm *c;

  ck_assert_int_eq(par_comm_serial_create(&c), PAR_OK);
  ck_assert_int_eq(par__comm_mismatch(c, PAR_EMISMATCH, &gather, NULL, 1,
                                      "sent", &scatter, NULL),
                   PAR_EMISMATCH);
  ck_assert_str_eq(par_comm_error_detail(c),
                   "rank 0 is in gather (collective #2) but rank 1 sent "
                   "scatter (collective #2)");
  par__comm_mismatch(c, PAR_EMISMATCH, &gather, NULL, 1, "is in", &scatter,
                     NULL);
  ck_assert_str_eq(par_comm_error_detail(c),
                   "rank 0 is in gather (collective #2) but rank 1 is in "
                   "scatter (collective #2)");
  par__comm_mismatch(c, PAR_EMISMATCH, &recv, NULL, 1, "sent", &gather,
                     NULL);
  ck_assert_str_eq(par_comm_error_detail(c),
                   "rank 0 is in receive-from rank 1 but rank 1 sent gather "
                   "(collective #2)");
  par__comm_mismatch(c, PAR_EMISMATCH, &gather, NULL, 1, "sent", &message,
                     NULL);
  ck_assert_str_eq(par_comm_error_detail(c),
                   "rank 0 is in gather (collective #2) but rank 1 sent a "
                   "message (send-to #4)");
  ck_assert_int_eq(par__comm_mismatch(c, PAR_ESIZE, &bcast, "with root 0", 1,
                                      NULL, NULL, "with root 1"),
                   PAR_ESIZE);
  ck_assert_str_eq(par_comm_error_detail(c),
                   "rank 0 is in broadcast (collective #3) with root 0 but "
                   "rank 1 with root 1");
  par__comm_mismatch(c, PAR_ESIZE, &bcast, "expecting 3 f64 elements", 1,
                     "sent", NULL, "2 f64 elements");
  ck_assert_str_eq(par_comm_error_detail(c),
                   "rank 0 is in broadcast (collective #3) expecting 3 f64 "
                   "elements but rank 1 sent 2 f64 elements");
  par_comm_destroy(c);
}
END_TEST

/* --- The serial communicator -------------------------------------------- */

static par_comm *comm;

static void
setup(void)
{
  ck_assert_int_eq(par_comm_serial_create(&comm), PAR_OK);
}

static void
teardown(void)
{
  par_comm_destroy(comm);
  comm = NULL;
}

START_TEST(test_serial_identity)
{
  ck_assert_int_eq(par_comm_rank(comm), 0);
  ck_assert_int_eq(par_comm_size(comm), 1);
  ck_assert_str_eq(par_comm_backend(comm), "serial");
  ck_assert_str_eq(par_comm_error_detail(comm), "");
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  ck_assert_int_eq(par_comm_abort(comm, 1), PAR_OK);
}
END_TEST

START_TEST(test_serial_byte_collectives)
{
  const char text[] = "hello";
  size_t counts[1];
  par_msg msg = PAR_MSG_INIT;

  ck_assert_int_eq(par_comm_bcast_bytes(comm, 0, text, 5, &msg), PAR_OK);
  ck_assert_uint_eq(msg.len, 5);
  ck_assert_mem_eq(msg.data, "hello", 5);
  par_msg_release(&msg);
  ck_assert_ptr_null(msg.data);
  par_msg_release(&msg); /* A released message may be released again. */

  counts[0] = 5;
  ck_assert_int_eq(par_comm_scatterv_bytes(comm, 0, text, counts, &msg),
                   PAR_OK);
  ck_assert_mem_eq(msg.data, "hello", 5);
  par_msg_release(&msg);

  counts[0] = 0;
  ck_assert_int_eq(par_comm_gatherv_bytes(comm, 0, text, 3, &msg, counts),
                   PAR_OK);
  ck_assert_uint_eq(counts[0], 3);
  ck_assert_mem_eq(msg.data, "hel", 3);
  ck_assert_ptr_ne(msg.data, text); /* The result is a copy it owns. */
  par_msg_release(&msg);

  ck_assert_int_eq(par_comm_allgatherv_bytes(comm, text, 0, &msg, counts),
                   PAR_OK);
  ck_assert_uint_eq(counts[0], 0);
  ck_assert_uint_eq(msg.len, 0);
  par_msg_release(&msg);
}
END_TEST

START_TEST(test_serial_typed_collectives)
{
  double x[3] = {1, 2, 3}, y[3] = {0, 0, 0};
  size_t counts[1] = {3};

  ck_assert_int_eq(par_comm_bcast(comm, 0, x, 3, PAR_F64), PAR_OK);
  ck_assert_int_eq(par_comm_scatterv(comm, 0, x, counts, y, 3, PAR_F64),
                   PAR_OK);
  ck_assert_mem_eq(x, y, sizeof x);
  memset(y, 0, sizeof y);
  ck_assert_int_eq(par_comm_gatherv(comm, 0, x, 3, y, counts, PAR_F64),
                   PAR_OK);
  ck_assert_mem_eq(x, y, sizeof x);
  memset(y, 0, sizeof y);
  ck_assert_int_eq(par_comm_allgatherv(comm, x, 3, y, counts, PAR_F64),
                   PAR_OK);
  ck_assert_mem_eq(x, y, sizeof x);
  memset(y, 0, sizeof y);
  ck_assert_int_eq(par_comm_reduce(comm, 0, x, y, 3, PAR_F64,
                                   PAR_REDUCE_SUM),
                   PAR_OK);
  ck_assert_mem_eq(x, y, sizeof x);
  memset(y, 0, sizeof y);
  ck_assert_int_eq(par_comm_allreduce(comm, x, y, 3, PAR_F64,
                                      PAR_REDUCE_MAX),
                   PAR_OK);
  ck_assert_mem_eq(x, y, sizeof x);
}
END_TEST

START_TEST(test_serial_errors)
{
  par_msg msg = PAR_MSG_INIT;
  double x[1] = {0};
  size_t counts[1] = {2};

  ck_assert_int_eq(par_comm_send(comm, 0, "x", 1), PAR_ERANK);
  ck_assert_str_ne(par_comm_error_detail(comm), "");
  ck_assert_int_eq(par_comm_send(comm, 1, "x", 1), PAR_ERANK);
  ck_assert_int_eq(par_comm_recv(comm, 0, &msg), PAR_ERANK);
  ck_assert_int_eq(par_comm_recv(comm, -1, &msg), PAR_ERANK);
  ck_assert_int_eq(par_comm_bcast_bytes(comm, 3, "x", 1, &msg), PAR_ERANK);
  ck_assert_ptr_nonnull(strstr(par_comm_error_detail(comm), "root rank 3"));
  ck_assert_int_eq(par_comm_bcast(comm, 0, x, 1, PAR_DTYPE_COUNT),
                   PAR_EINVAL);
  ck_assert_int_eq(par_comm_scatterv(comm, 0, x, counts, x, 1, PAR_F64),
                   PAR_ESIZE);
  ck_assert_int_eq(par_comm_gatherv_bytes(comm, 0, "x", 1, &msg, NULL),
                   PAR_EINVAL);
  ck_assert_int_eq(par_comm_reduce(comm, 0, x, x, 1, PAR_C64,
                                   PAR_REDUCE_MIN),
                   PAR_ETYPE);
  ck_assert_str_eq(par_comm_error_detail(comm),
                   "min is not defined on complex numbers (c64)");
  ck_assert_int_eq(par_comm_reduce(comm, 0, x, x, 1, PAR_F64,
                                   PAR_REDUCE_COUNT),
                   PAR_EINVAL);
  {
    int source = -1;

    ck_assert_int_eq(par_comm_recv_any(comm, 0, &source, &msg), PAR_ENOENT);
    ck_assert_str_ne(par_comm_error_detail(comm), "");
    ck_assert_int_eq(par_comm_recv_any(comm, 1, &source, &msg), PAR_ERANK);
    ck_assert_int_eq(source, -1);
  }
  /* A failed call leaves the communicator usable. */
  ck_assert_int_eq(par_comm_barrier(comm), PAR_OK);
  ck_assert_str_eq(par_comm_error_detail(comm), "");
}
END_TEST

START_TEST(test_destroy_null)
{
  par_comm_destroy(NULL);
  par_msg_release(NULL);
  ck_assert_int_eq(par_comm_serial_create(NULL), PAR_EINVAL);
}
END_TEST

static Suite *
runtime_suite(void)
{
  Suite *s = suite_create("runtime");
  TCase *core = tcase_create("core");
  TCase *comm_case = tcase_create("serial");
  TCase *limits = tcase_create("limits");

  tcase_add_test(core, test_error_names);
  tcase_add_test(core, test_every_code_is_named);
  tcase_add_test(core, test_version);
  tcase_add_test(core, test_dtypes);
  tcase_add_test(core, test_reduce_f64);
  tcase_add_test(core, test_reduce_integers_wrap);
  tcase_add_test(core, test_reduce_complex);
  tcase_add_test(core, test_reduce_defined);
  tcase_add_test(core, test_reduce_every_type);
  tcase_add_test(core, test_reduce_op_names);
  tcase_add_test(core, test_opkind_names);
  tcase_add_test(core, test_describe_operations);
  tcase_add_test(core, test_describe_amounts);
  tcase_add_test(core, test_describe_mismatch);
  suite_add_tcase(s, core);

  tcase_add_checked_fixture(comm_case, setup, teardown);
  tcase_add_test(comm_case, test_serial_identity);
  tcase_add_test(comm_case, test_serial_byte_collectives);
  tcase_add_test(comm_case, test_serial_typed_collectives);
  suite_add_tcase(s, comm_case);

  tcase_add_checked_fixture(limits, setup, teardown);
  tcase_add_test(limits, test_serial_errors);
  tcase_add_test(limits, test_destroy_null);
  suite_add_tcase(s, limits);
  return s;
}

int
main(void)
{
  SRunner *runner = srunner_create(runtime_suite());
  int failed;

  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
