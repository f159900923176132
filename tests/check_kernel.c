/* check_kernel.c — Check suite "kernel": the kernel ABI of par/kernel.h.
 *
 * Signatures, the checks before a call, the helpers that make a kernel of
 * a function of doubles (on every element type), kernels that allocate
 * their result, errors and their messages, the registry, and reductions
 * with a kernel as the operator on a serial communicator and a forked
 * group. Under mpirun (OMPI_COMM_WORLD_SIZE set) it runs instead the
 * reductions on an MPI communicator over the whole job, in Check's
 * no-fork mode, since a forked child cannot talk MPI.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parallelizer.h"
#include "par/mpi.h"

/* --- Kernels of this file ------------------------------------------------ */

static double
twice(double x)
{
  return 2 * x;
}
PAR_KERNEL_MAP(twice_kernel, twice, "2x");

static double
add_square(double acc, double x)
{
  return acc + x * x;
}
PAR_KERNEL_REDUCE(sum_squares, 1.0, add_square, "1 + sum of x^2");

static double
larger(double a, double b)
{
  return a > b ? a : b;
}
PAR_KERNEL_COMBINE(vmax, larger, "element-wise maximum");

/* Makes an f64 array 0, 1, ..., N-1 of the length of its one argument,
 * an int64 N; N < 0 is an error with a message. */
static int
iota_kernel(par_kernel_args *a)
{
  int64_t n = a->scalars[0].i;
  size_t shape[1];
  double *y;
  int rc;

  if (n < 0) {
    return par_kernel_error(a, PAR_EINVAL, "iota: negative length %lld",
                            (long long) n);
  }
  shape[0] = (size_t) n;
  rc = par_kernel_alloc(a, PAR_F64, 1, shape);
  if (rc != PAR_OK) {
    return rc;
  }
  y = a->out->data;
  for (int64_t i = 0; i < n; i++) {
    y[i] = (double) i;
  }
  /* A second allocation is refused. */
  return par_kernel_alloc(a, PAR_F64, 1, shape) == PAR_EINVAL ? PAR_OK
                                                               : PAR_EINVAL;
}

/* Allocates the wrong type, which the signature forbids. */
static int
wrong_alloc(par_kernel_args *a)
{
  size_t shape[1] = {1};

  return par_kernel_alloc(a, PAR_S32, 1, shape);
}

/* The product of 2x2 matrices (four doubles, row-major): associative but
 * not commutative, so a fold in any order but rank order shows. Reads its
 * inputs before writing, since OUT may be IN[0]. */
static int
matmul2(par_kernel_args *a)
{
  const double *x = a->in[0].data, *y = a->in[1].data;
  double *z = a->out->data;
  double r[4];

  if (a->in[0].count != 4) {
    return par_kernel_error(a, PAR_ESIZE, "matmul2: 4 elements, not %zu",
                            a->in[0].count);
  }
  r[0] = x[0] * y[0] + x[1] * y[2];
  r[1] = x[0] * y[1] + x[1] * y[3];
  r[2] = x[2] * y[0] + x[3] * y[2];
  r[3] = x[2] * y[1] + x[3] * y[3];
  memcpy(z, r, sizeof r);
  return PAR_OK;
}

static const par_kernel_def matmul2_def = {
    PAR_KERNEL_ABI_VERSION, "matmul2",    matmul2, "f64 f64 -> f64",
    PAR_KERNEL_REDUCTION,   NULL,         "2x2 matrix product"};

/* Returns USER's int plus its scalar. */
static int
add_user(par_kernel_args *a)
{
  *(int64_t *) a->out->data = *(int *) a->user + a->scalars[0].i;
  return PAR_OK;
}

/* The matrix of rank R: [[R + 1, 1], [0, 1]]. */
static void
rank_matrix(int r, double m[4])
{
  m[0] = r + 1;
  m[1] = 1;
  m[2] = 0;
  m[3] = 1;
}

/* The product of the matrices of ranks 0..N-1, in rank order. */
static void
expected_product(int n, double out[4])
{
  double m[4];

  rank_matrix(0, out);
  for (int r = 1; r < n; r++) {
    double t[4];

    rank_matrix(r, m);
    t[0] = out[0] * m[0] + out[1] * m[2];
    t[1] = out[0] * m[1] + out[1] * m[3];
    t[2] = out[2] * m[0] + out[3] * m[2];
    t[3] = out[2] * m[1] + out[3] * m[3];
    memcpy(out, t, sizeof t);
  }
}

/* --- Signatures ---------------------------------------------------------- */

START_TEST(test_sig_parse)
{
  par_kernel_sig s;
  char detail[256];

  ck_assert_int_eq(par_kernel_sig_parse("f64 s32 -> f64", &s, detail,
                                        sizeof detail),
                   PAR_OK);
  ck_assert_int_eq(s.nargs, 2);
  ck_assert_int_eq(s.args[0], PAR_F64);
  ck_assert_int_eq(s.args[1], PAR_S32);
  ck_assert_int_eq(s.result, PAR_F64);
  ck_assert_int_eq(s.narrays, 2);
  ck_assert_int_eq(s.nscalars, 0);

  ck_assert_int_eq(par_kernel_sig_parse("double,*,int64->same", &s, NULL, 0),
                   PAR_OK);
  ck_assert_int_eq(s.nargs, 3);
  ck_assert_int_eq(s.args[0], PAR_KERNEL_DOUBLE);
  ck_assert_int_eq(s.args[1], PAR_KERNEL_ANY);
  ck_assert_int_eq(s.args[2], PAR_KERNEL_INT64);
  ck_assert_int_eq(s.result, PAR_KERNEL_SAME);
  ck_assert_int_eq(s.narrays, 1);
  ck_assert_int_eq(s.nscalars, 2);

  /* Every element type by its name. */
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    char text[32];

    snprintf(text, sizeof text, "%s -> %s", par_dtype_name((par_dtype) t),
             par_dtype_name((par_dtype) t));
    ck_assert_int_eq(par_kernel_sig_parse(text, &s, NULL, 0), PAR_OK);
    ck_assert_int_eq(s.args[0], t);
    ck_assert_int_eq(s.result, t);
  }
  ck_assert_int_eq(par_kernel_sig_parse("-> double", &s, NULL, 0), PAR_OK);
  ck_assert_int_eq(s.nargs, 0);
  ck_assert_int_eq(par_kernel_sig_parse(NULL, &s, NULL, 0), PAR_OK);
  ck_assert_int_eq(s.nargs, -1);

  ck_assert_int_eq(par_kernel_sig_parse("f64 -> f128", &s, detail,
                                        sizeof detail),
                   PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(detail, "unknown type \"f128\""));
  ck_assert_int_eq(par_kernel_sig_parse("f64 f64", &s, detail,
                                        sizeof detail),
                   PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(detail, "no \"-> RESULT\""));
  ck_assert_int_eq(par_kernel_sig_parse("f64 -> f64 -> f64", &s, NULL, 0),
                   PAR_EINVAL);
  ck_assert_int_eq(par_kernel_sig_parse("f64 -> f64 f64", &s, NULL, 0),
                   PAR_EINVAL);
  ck_assert_int_eq(par_kernel_sig_parse("same -> f64", &s, NULL, 0),
                   PAR_EINVAL);
  ck_assert_int_eq(par_kernel_sig_parse("double -> same", &s, NULL, 0),
                   PAR_EINVAL);
  ck_assert_int_eq(par_kernel_sig_parse(
                       "f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 f64 "
                       "f64 f64 f64 f64 -> f64",
                       &s, NULL, 0),
                   PAR_EINVAL);
}
END_TEST

START_TEST(test_def_check)
{
  par_kernel_def def = {PAR_KERNEL_ABI_VERSION, "k", matmul2,
                        "f64 f64 -> f64", PAR_KERNEL_REDUCTION, NULL, NULL};
  char detail[256];

  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_OK);
  def.abi = PAR_KERNEL_ABI_VERSION + 1;
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, detail, sizeof detail),
                   PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(detail, "ABI version"));
  def.abi = PAR_KERNEL_ABI_VERSION;
  def.signature = "f64 s32 -> f64";
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, detail, sizeof detail),
                   PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(detail, "is a reduction"));
  def.signature = "* * -> same";
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_OK);
  def.flags = PAR_KERNEL_ELEMENTWISE;
  def.signature = "double -> f64";
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_EINVAL);
  def.signature = "f64 -> double";
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_EINVAL);
  def.signature = NULL;
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_EINVAL);
  def.flags = 1u << 7;
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_EINVAL);
  def.flags = 0;
  def.fn = NULL;
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_EINVAL);
  def.fn = matmul2;
  def.name = "";
  ck_assert_int_eq(par_kernel_def_check(&def, NULL, NULL, 0), PAR_EINVAL);
  ck_assert_int_eq(par_kernel_def_check(NULL, NULL, NULL, 0), PAR_EINVAL);
}
END_TEST

/* The element types of kernel.h are those of the runtime's table. */
START_TEST(test_element_typedefs)
{
#define CHECK_SIZE(NAME, name, ctype, n, kind, tag, mpi)                    \
  ck_assert_uint_eq(sizeof(par_##name##_t), par_dtype_size(PAR_##NAME));    \
  ck_assert_str_eq(par_kernel_type_name(PAR_##NAME),                        \
                   par_dtype_name(PAR_##NAME));
  PAR_DTYPE_MAP(CHECK_SIZE)
#undef CHECK_SIZE
  ck_assert_str_eq(par_kernel_type_name(PAR_DTYPE_COUNT), "?");
}
END_TEST

/* --- Calls --------------------------------------------------------------- */

/* The map helper on every element type: the real ones double, the complex
 * ones fail with ETYPE and a message that names the type. */
START_TEST(test_map_every_type)
{
  for (int t = 0; t < PAR_DTYPE_COUNT; t++) {
    unsigned char data[3 * 16];
    size_t shape[1] = {3};
    par_array in, out;
    char detail[256];
    int rc;

    memset(data, 0, sizeof data);
    /* 1, 2, 3 in the type's own representation. */
    for (int i = 0; i < 3; i++) {
      switch ((par_dtype) t) {
#define SET(NAME, name, ctype, n, kind, tag, mpi)                           \
  case PAR_##NAME:                                                          \
    ((ctype *) data)[i * (n)] = (ctype) (i + 1);                            \
    break;
        PAR_DTYPE_MAP(SET)
#undef SET
      default:
        break;
      }
    }
    par_array_init(&in, (par_dtype) t, 1, shape, data);
    rc = par_kernel_call(&twice_kernel__par_kernel, &in, 1, NULL, 0, &out,
                         detail, sizeof detail);
    if (t == PAR_C32 || t == PAR_C64) {
      ck_assert_int_eq(rc, PAR_ETYPE);
      ck_assert_ptr_nonnull(strstr(detail, par_dtype_name((par_dtype) t)));
      ck_assert_ptr_nonnull(strstr(detail, "twice_kernel"));
      continue;
    }
    ck_assert_msg(rc == PAR_OK, "%s: %s", par_dtype_name((par_dtype) t),
                  detail);
    ck_assert_int_eq(out.type, PAR_F64);
    ck_assert_int_eq(out.rank, 1);
    ck_assert_uint_eq(out.shape[0], 3);
    for (int i = 0; i < 3; i++) {
      ck_assert_double_eq(((double *) out.data)[i], 2.0 * (i + 1));
    }
    free(out.data);
  }
}
END_TEST

START_TEST(test_reduce_and_combine_helpers)
{
  float x[4] = {1, 2, 3, 4};
  double a[3] = {1, 5, -2}, b[3] = {3, 4, -1};
  size_t four[1] = {4}, three[1] = {3};
  par_array in[2], out;

  par_array_init(&in[0], PAR_F32, 1, four, x);
  ck_assert_int_eq(par_kernel_call(&sum_squares__par_kernel, in, 1, NULL, 0,
                                   &out, NULL, 0),
                   PAR_OK);
  ck_assert_int_eq(out.rank, 0);
  ck_assert_int_eq(out.type, PAR_F64);
  ck_assert_double_eq(*(double *) out.data, 31);
  free(out.data);

  par_array_init(&in[0], PAR_F64, 1, three, a);
  par_array_init(&in[1], PAR_F64, 1, three, b);
  ck_assert_int_eq(par_kernel_call(&vmax__par_kernel, in, 2, NULL, 0, &out,
                                   NULL, 0),
                   PAR_OK);
  ck_assert_double_eq(((double *) out.data)[0], 3);
  ck_assert_double_eq(((double *) out.data)[1], 5);
  ck_assert_double_eq(((double *) out.data)[2], -1);
  free(out.data);
  ck_assert_uint_eq(vmax__par_kernel.flags,
                    PAR_KERNEL_ELEMENTWISE | PAR_KERNEL_REDUCTION);
  ck_assert_str_eq(vmax__par_kernel.doc, "element-wise maximum");
}
END_TEST

/* What par_kernel_plan refuses, and the sentence it says it with. */
START_TEST(test_plan_errors)
{
  double a[6] = {0}, b[6] = {0};
  int32_t c[3] = {0};
  size_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3};
  par_array in[2], out;
  par_scalar sc[1] = {{PAR_F64, 1, 1.5}};
  par_kernel_sig sig;
  char detail[256];

  par_array_init(&in[0], PAR_F64, 2, s23, a);
  par_array_init(&in[1], PAR_F64, 2, s32, b);
  ck_assert_int_eq(par_kernel_call(&vmax__par_kernel, in, 2, NULL, 0, &out,
                                   detail, sizeof detail),
                   PAR_ESIZE);
  ck_assert_ptr_nonnull(strstr(detail, "argument 2 has shape (3 2)"));
  ck_assert_ptr_nonnull(strstr(detail, "(2 3)"));
  par_array_init(&in[1], PAR_S32, 1, s3, c);
  ck_assert_int_eq(par_kernel_call(&vmax__par_kernel, in, 2, NULL, 0, &out,
                                   detail, sizeof detail),
                   PAR_ETYPE);
  ck_assert_str_eq(detail,
                   "argument 2 must be an array of f64, got an array of s32");
  ck_assert_int_eq(par_kernel_call(&vmax__par_kernel, in, 1, NULL, 0, &out,
                                   detail, sizeof detail),
                   PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(detail, "expected 2 arguments"));

  /* An int64 argument takes exact integers only. */
  par_kernel_sig_parse("int64 -> f64", &sig, NULL, 0);
  ck_assert_int_eq(par_kernel_plan(&sig, 0, NULL, 0, sc, 1, &out, detail,
                                   sizeof detail),
                   PAR_ETYPE);
  ck_assert_ptr_nonnull(strstr(detail, "exact integer"));
  sc[0].type = PAR_S64;
  ck_assert_int_eq(par_kernel_plan(&sig, 0, NULL, 0, sc, 1, &out, NULL, 0),
                   PAR_OK);
  ck_assert_int_eq(out.rank, -1);
  ck_assert_int_eq(out.type, PAR_F64);

  /* An element-wise result has the first array's shape and the signature's
   * type, or the first array's type for "same". */
  par_kernel_sig_parse("* -> same", &sig, NULL, 0);
  par_array_init(&in[0], PAR_S32, 1, s3, c);
  ck_assert_int_eq(par_kernel_plan(&sig, PAR_KERNEL_ELEMENTWISE, in, 1, NULL,
                                   0, &out, NULL, 0),
                   PAR_OK);
  ck_assert_int_eq(out.type, PAR_S32);
  ck_assert_int_eq(out.rank, 1);
  ck_assert_uint_eq(out.count, 3);
  ck_assert_ptr_null(out.data);
}
END_TEST

START_TEST(test_allocating_kernel)
{
  par_kernel_def def = {PAR_KERNEL_ABI_VERSION, "iota", iota_kernel,
                        "int64 -> f64", 0, NULL, NULL};
  par_scalar n = {PAR_S64, 5, 5.0};
  par_array out;
  char detail[256];

  ck_assert_int_eq(par_kernel_call(&def, NULL, 0, &n, 1, &out, detail,
                                   sizeof detail),
                   PAR_OK);
  ck_assert_int_eq(out.rank, 1);
  ck_assert_uint_eq(out.count, 5);
  ck_assert_double_eq(((double *) out.data)[4], 4);
  free(out.data);

  n.i = 0;
  ck_assert_int_eq(par_kernel_call(&def, NULL, 0, &n, 1, &out, NULL, 0),
                   PAR_OK);
  ck_assert_uint_eq(out.count, 0);
  free(out.data);

  n.i = -2;
  ck_assert_int_eq(par_kernel_call(&def, NULL, 0, &n, 1, &out, detail,
                                   sizeof detail),
                   PAR_EINVAL);
  ck_assert_str_eq(detail, "iota: negative length -2");

  def.fn = wrong_alloc;
  ck_assert_int_eq(par_kernel_call(&def, NULL, 0, &n, 1, &out, detail,
                                   sizeof detail),
                   PAR_ETYPE);
  ck_assert_ptr_nonnull(strstr(detail, "not of s32"));
}
END_TEST

START_TEST(test_registry)
{
  static int base = 40;
  const par_kernel_def *def, *first;
  par_scalar two = {PAR_S64, 2, 2.0};
  par_array out;
  char name[] = "add-user";

  ck_assert_int_eq(par_kernel_lookup("add-user", &def), PAR_ENOENT);
  ck_assert_int_eq(par_kernel_register(name, add_user, "int64 -> int64", 0,
                                       &base),
                   PAR_OK);
  /* The name was copied. */
  name[0] = 'X';
  ck_assert_int_eq(par_kernel_lookup("add-user", &def), PAR_OK);
  ck_assert_str_eq(def->name, "add-user");
  ck_assert_int_eq(par_kernel_call(def, NULL, 0, &two, 1, &out, NULL, 0),
                   PAR_OK);
  ck_assert_int_eq(*(int64_t *) out.data, 42);
  free(out.data);

  /* A second registration replaces the first, which stays valid. */
  first = def;
  ck_assert_int_eq(par_kernel_register_def(&matmul2_def), PAR_OK);
  ck_assert_int_eq(par_kernel_register("add-user", twice_kernel, "* -> f64",
                                       PAR_KERNEL_ELEMENTWISE, NULL),
                   PAR_OK);
  ck_assert_int_eq(par_kernel_lookup("add-user", &def), PAR_OK);
  ck_assert_ptr_ne(def, first);
  ck_assert_str_eq(first->signature, "int64 -> int64");
  ck_assert_int_eq(par_kernel_lookup("matmul2", &def), PAR_OK);
  ck_assert_str_eq(def->doc, "2x2 matrix product");
  /* The same kernel again changes nothing. */
  first = def;
  ck_assert_int_eq(par_kernel_register_def(&matmul2_def), PAR_OK);
  ck_assert_int_eq(par_kernel_lookup("matmul2", &def), PAR_OK);
  ck_assert_ptr_eq(def, first);

  /* What does not pass the check is not registered. */
  ck_assert_int_eq(par_kernel_register("bad", add_user, "f64 ->", 0, NULL),
                   PAR_EINVAL);
  ck_assert_int_eq(par_kernel_lookup("bad", &def), PAR_ENOENT);
  ck_assert_int_eq(par_kernel_lookup(NULL, &def), PAR_EINVAL);
}
END_TEST

/* --- Reductions ---------------------------------------------------------- */

START_TEST(test_reduce_serial)
{
  par_comm *comm;
  double m[4], r[4] = {0}, e[4];
  int32_t c[4] = {0};
  char detail[256];

  ck_assert_int_eq(par_comm_serial_create(&comm), PAR_OK);
  rank_matrix(0, m);
  expected_product(1, e);
  ck_assert_int_eq(par_comm_allreduce_kernel(comm, &matmul2_def, m, r, 4,
                                             PAR_F64, detail, sizeof detail),
                   PAR_OK);
  ck_assert_mem_eq(r, e, sizeof e);
  memset(r, 0, sizeof r);
  ck_assert_int_eq(par_comm_reduce_kernel(comm, 0, &matmul2_def, m, r, 4,
                                          PAR_F64, NULL, 0),
                   PAR_OK);
  ck_assert_mem_eq(r, e, sizeof e);
  ck_assert_int_eq(par_comm_reduce_kernel(comm, 1, &matmul2_def, m, r, 4,
                                          PAR_F64, NULL, 0),
                   PAR_ERANK);
  ck_assert_int_eq(par_comm_allreduce_kernel(comm, &matmul2_def, c, c, 4,
                                             PAR_S32, detail, sizeof detail),
                   PAR_ETYPE);
  ck_assert_ptr_nonnull(strstr(detail, "not of s32"));
  ck_assert_int_eq(par_comm_allreduce_kernel(comm, &twice_kernel__par_kernel,
                                             m, r, 4, PAR_F64, detail,
                                             sizeof detail),
                   PAR_EINVAL);
  ck_assert_ptr_nonnull(strstr(detail, "not a reduction"));
  /* A kernel's failure comes back with its message. */
  ck_assert_int_eq(par_comm_allreduce_kernel(comm, &matmul2_def, m, r, 3,
                                             PAR_F64, detail, sizeof detail),
                   PAR_OK); /* one process: nothing to combine */
  par_comm_destroy(comm);
}
END_TEST

/* Every process of a forked group of N contributes its rank's matrix; the
 * product must come out in rank order, on every process and at root 1. */
static void
reduce_in_group(int n)
{
  par_mp_options o = {.nprocs = n, .timeout = 20};
  par_mp_group *g;
  par_mp_worker_status st[8];
  int rank, ok = 1;
  double m[4], r[4], e[4];
  char detail[256];
  par_comm *c;

  ck_assert_int_eq(par_mp_group_create(&o, &g), PAR_OK);
  ck_assert_int_eq(par_mp_group_fork(g, &rank), PAR_OK);
  c = par_mp_group_comm(g);
  rank_matrix(rank, m);
  expected_product(n, e);
  ok &= par_comm_allreduce_kernel(c, &matmul2_def, m, r, 4, PAR_F64, detail,
                                  sizeof detail)
        == PAR_OK;
  ok &= memcmp(r, e, sizeof e) == 0;
  memset(r, 0, sizeof r);
  ok &= par_comm_reduce_kernel(c, n - 1, &matmul2_def, m, r, 4, PAR_F64,
                               detail, sizeof detail)
        == PAR_OK;
  ok &= rank != n - 1 || memcmp(r, e, sizeof e) == 0;
  /* A kernel that fails on the process that folds says why. */
  ok &= par_comm_allreduce_kernel(c, &matmul2_def, m, r, 3, PAR_F64, detail,
                                  sizeof detail)
        == (n > 1 ? PAR_ESIZE : PAR_OK);
  ok &= n == 1 || strcmp(detail, "matmul2: 4 elements, not 3") == 0;
  if (rank != 0) {
    par_mp_worker_exit(g, ok ? 0 : 1, NULL, 0);
  }
  ck_assert_msg(ok, "main: %s", detail);
  ck_assert_int_eq(par_mp_group_join(g, st, 8), PAR_OK);
  par_mp_group_destroy(g);
}

START_TEST(test_reduce_group)
{
  reduce_in_group(_i);
}
END_TEST

/* --- Under mpirun -------------------------------------------------------- */

START_TEST(test_reduce_mpi)
{
  par_comm *c;
  double m[4], r[4], e[4];
  char detail[256];
  int n, rank;

  ck_assert_int_eq(par_comm_mpi_world(&c), PAR_OK);
  n = par_comm_size(c);
  rank = par_comm_rank(c);
  rank_matrix(rank, m);
  expected_product(n, e);
  ck_assert_int_eq(par_comm_allreduce_kernel(c, &matmul2_def, m, r, 4,
                                             PAR_F64, detail, sizeof detail),
                   PAR_OK);
  ck_assert_mem_eq(r, e, sizeof e);
  memset(r, 0, sizeof r);
  ck_assert_int_eq(par_comm_reduce_kernel(c, n - 1, &matmul2_def, m, r, 4,
                                          PAR_F64, detail, sizeof detail),
                   PAR_OK);
  if (rank == n - 1) {
    ck_assert_mem_eq(r, e, sizeof e);
  }
  par_comm_destroy(c);
}
END_TEST

static Suite *
kernel_suite(void)
{
  Suite *s = suite_create("kernel");
  TCase *core = tcase_create("core");
  TCase *calls = tcase_create("calls");
  TCase *reductions = tcase_create("reductions");

  tcase_add_test(core, test_sig_parse);
  tcase_add_test(core, test_def_check);
  tcase_add_test(core, test_element_typedefs);
  suite_add_tcase(s, core);

  tcase_add_test(calls, test_map_every_type);
  tcase_add_test(calls, test_reduce_and_combine_helpers);
  tcase_add_test(calls, test_plan_errors);
  tcase_add_test(calls, test_allocating_kernel);
  tcase_add_test(calls, test_registry);
  suite_add_tcase(s, calls);

  tcase_add_test(reductions, test_reduce_serial);
  tcase_add_loop_test(reductions, test_reduce_group, 1, 5);
  suite_add_tcase(s, reductions);
  return s;
}

static int
run_mpi(void)
{
  Suite *s = suite_create("kernel-mpi");
  TCase *tc = tcase_create("mpi");
  SRunner *sr;
  int rank, failed, all_failed = 0;

  if (par_mpi_init() != PAR_OK) {
    fprintf(stderr, "check_kernel: cannot initialise MPI\n");
    return EXIT_FAILURE;
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  tcase_add_test(tc, test_reduce_mpi);
  suite_add_tcase(s, tc);
  sr = srunner_create(s);
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, rank == 0 ? CK_NORMAL : CK_SILENT);
  fflush(stdout);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  MPI_Allreduce(&failed, &all_failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return all_failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
main(void)
{
  SRunner *runner;
  int failed;

  if (getenv("OMPI_COMM_WORLD_SIZE") != NULL) {
    return run_mpi();
  }
  runner = srunner_create(kernel_suite());
  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
