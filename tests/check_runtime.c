/* check_runtime.c — the C runtime without any backend but serial: error
 * codes, element types, reductions, and the communicator API on a group of
 * one. */
#include <check.h>
#include <complex.h>
#include <stdlib.h>
#include <string.h>

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

START_TEST(test_reduce_op_names)
{
  par_reduce_op op;

  ck_assert_int_eq(par_reduce_op_from_name("max", &op), PAR_OK);
  ck_assert_int_eq(op, PAR_REDUCE_MAX);
  ck_assert_str_eq(par_reduce_op_name(PAR_REDUCE_PROD), "prod");
  ck_assert_int_eq(par_reduce_op_from_name("mean", &op), PAR_EINVAL);
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
  ck_assert_int_eq(par_comm_reduce(comm, 0, x, x, 1, PAR_F64,
                                   PAR_REDUCE_COUNT),
                   PAR_EINVAL);
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
  tcase_add_test(core, test_reduce_op_names);
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
