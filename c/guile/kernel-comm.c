/* kernel-comm.c — kernels inside collectives: parallel-map of an
 * element-wise kernel over a uniform array, and reductions with a
 * reduction kernel as the operator.
 *
 * parallel-map moves the data as typed buffers, never as values: the main
 * process's array is scattered straight from its storage, each process
 * runs the kernel on its chunk in C, and the results are gathered straight
 * into the storage of the array the main process returns. The main
 * process's own chunk does not move at all: its count in the scatter and
 * the gather is zero, and the kernel reads the first rows of the data and
 * writes the first rows of the result in place.
 */
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "kernel-internal.h"

/* Raise RC, unless it is PAR_OK, with what COMM says of it. */
static void
check(par_comm *comm, int rc, const char *who)
{
  if (rc != PAR_OK) {
    par_scm_throw_failure(who, rc, par_comm_error_detail(comm));
  }
}

/* The rows of chunk R when ROWS rows are dealt to N processes: sizes
 * differ by at most one, the first (ROWS mod N) chunks having the extra
 * row, as scatter deals them. */
static size_t
chunk_rows(size_t rows, int n, int r)
{
  return rows / (size_t) n + ((size_t) r < rows % (size_t) n ? 1 : 0);
}

/* (%kernel-map COMM KERNEL DATA EXTRA-ARGS PLAN) -> on rank 0 of COMM, the
 * array that the element-wise KERNEL makes from DATA, computed chunk by
 * chunk along the first axis on every process of COMM, each call being
 * (KERNEL CHUNK EXTRA-ARGS ...); #f elsewhere. PLAN, the same on every
 * process, is (TYPE LENGTH ...): the element type and the lengths of
 * DATA, which only rank 0 passes. */
static SCM
prim_kernel_map(SCM comm, SCM kernel, SCM data, SCM extra, SCM plan)
#define FUNC_NAME "parallel-map"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  const par_kernel_sig *sig;
  const par_kernel_def *def = par_scm_kernel_def(kernel, FUNC_NAME, &sig);
  int n = par_comm_size(c), self = par_comm_rank(c);
  size_t dims[PAR_ARRAY_MAX_RANK], rank = 0, rows, row_size = 1;
  size_t *counts;
  par_dtype type;
  par_scm_kernel_call call;
  par_array out_plan, out;
  scm_t_array_handle result_handle;
  SCM chunk = data, result = SCM_BOOL_F, dim_list;
  char *type_name, detail[PAR_KERNEL_MESSAGE_MAX + 64];
  int rc;

  type_name = scm_to_utf8_string(scm_symbol_to_string(scm_car(plan)));
  rc = par_dtype_from_name(type_name, &type);
  free(type_name);
  if (rc != PAR_OK) {
    par_scm_throw(FUNC_NAME, PAR_ETYPE, "cannot map a kernel over ~s",
                  scm_list_1(plan));
  }
  dim_list = scm_cdr(plan);
  for (SCM d = dim_list; scm_is_pair(d) && rank < PAR_ARRAY_MAX_RANK;
       d = scm_cdr(d)) {
    dims[rank] = scm_to_size_t(scm_car(d));
    if (rank > 0) {
      row_size *= dims[rank];
    }
    rank++;
  }
  rows = dims[0];
  counts = scm_gc_malloc_pointerless(sizeof *counts * (size_t) n,
                                     "kernel-map counts");
  for (int r = 0; r < n; r++) {
    counts[r] = r == 0 ? 0 : chunk_rows(rows, n, r) * row_size;
  }

  scm_dynwind_begin(0);
  if (self != 0) {
    /* This process's chunk, received into a Guile array that the kernel
     * then reads like any argument. */
    SCM chunk_dims = scm_cons(scm_from_size_t(chunk_rows(rows, n, self)),
                              scm_cdr(dim_list));

    chunk = scm_make_typed_array(scm_car(plan), SCM_UNSPECIFIED, chunk_dims);
  }
  par_scm_kernel_args(def->name, sig,
                      def->signature ? def->signature : "any",
                      scm_cons(chunk, extra), &call);
  if (self == 0) {
    /* The kernel sees the first rows of DATA only. */
    call.in[0].shape[0] = chunk_rows(rows, n, 0);
    call.in[0].count = call.in[0].shape[0] * row_size;
  }
  if (n > 1) {
    const char *base = call.in[0].data;
    size_t offset = self == 0 ? call.in[0].count * par_dtype_size(type) : 0;

    check(c,
          par_comm_scatterv(c, 0, base + offset, counts,
                            self == 0 ? (void *) base : call.in[0].data,
                            self == 0 ? 0 : call.in[0].count, type),
          FUNC_NAME);
  }

  rc = par_kernel_plan(sig, def->flags, call.in, call.nin, call.scalars,
                       call.nscalars, &out_plan, detail, sizeof detail);
  if (rc != PAR_OK) {
    par_scm_throw(def->name, rc, "~a",
                  scm_list_1(scm_from_utf8_string(detail)));
  }
  if (!(def->flags & PAR_KERNEL_ELEMENTWISE) || out_plan.rank < 0) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL,
                  "~a is not an element-wise kernel",
                  scm_list_1(scm_from_utf8_string(def->name)));
  }
  if (self == 0) {
    /* The whole result, whose first rows this process computes in
     * place. */
    par_array whole = out_plan;

    whole.shape[0] = rows;
    whole.count = rows * row_size;
    result = par_scm_kernel_result(&whole, &result_handle, &out);
    out.shape[0] = out_plan.shape[0];
    out.count = out_plan.count;
  } else {
    par_scm_kernel_result(&out_plan, &result_handle, &out);
  }
  rc = par_kernel_invoke(def, call.in, call.nin, call.scalars, call.nscalars,
                         &out, NULL, NULL, detail, sizeof detail);
  if (rc != PAR_OK) {
    par_scm_kernel_failed(def->name, rc, detail);
  }
  if (n > 1) {
    char *base = out.data;
    size_t offset = self == 0 ? out.count * par_dtype_size(out.type) : 0;

    check(c,
          par_comm_gatherv(c, 0, out.data, self == 0 ? 0 : out.count,
                           base + offset, counts, out.type),
          FUNC_NAME);
  }
  scm_dynwind_end();
  scm_remember_upto_here_2(chunk, data);
  scm_remember_upto_here_2(extra, result);
  return result;
}
#undef FUNC_NAME

/* The uniform array X reduced with the reduction KERNEL across COMM: a
 * fresh array of X's type and shape on ROOT (#f elsewhere) or, if ALL, on
 * every process. */
static SCM
reduce(SCM comm, SCM kernel, SCM x, SCM root, bool all, const char *who)
{
  par_comm *c = par_scm_unwrap_comm(comm, who);
  const par_kernel_def *def = par_scm_kernel_def(kernel, who, NULL);
  int to = 0, rc;
  par_array in, out;
  scm_t_array_handle h, out_handle;
  SCM keep = x, result = SCM_BOOL_F;
  char detail[PAR_KERNEL_MESSAGE_MAX + 64];

  if (!all) {
    if (!scm_is_signed_integer(root, 0, par_comm_size(c) - 1)) {
      par_scm_throw(who, PAR_ERANK,
                    "rank ~a is out of range: the group has ~a processes",
                    scm_list_2(root, scm_from_int(par_comm_size(c))));
    }
    to = scm_to_int(root);
  }
  scm_dynwind_begin(0);
  if (par_scm_kernel_array(x, &in, &h, &keep) != 0) {
    par_scm_throw(who, PAR_ETYPE, "expected a uniform numeric array, got ~s",
                  scm_list_1(x));
  }
  if (all || par_comm_rank(c) == to) {
    result = par_scm_kernel_result(&in, &out_handle, &out);
  }
  detail[0] = '\0';
  if (all) {
    rc = par_comm_allreduce_kernel(c, def, in.data, out.data, in.count,
                                   in.type, detail, sizeof detail);
  } else {
    rc = par_comm_reduce_kernel(c, to, def, in.data,
                                scm_is_true(result) ? out.data : NULL,
                                in.count, in.type, detail, sizeof detail);
  }
  if (rc != PAR_OK) {
    if (detail[0] != '\0') {
      par_scm_kernel_failed(who, rc, detail);
    }
    check(c, rc, who);
  }
  scm_dynwind_end();
  scm_remember_upto_here_2(keep, result);
  return result;
}

/* (%comm-reduce-kernel COMM KERNEL ARRAY ROOT) -> on ROOT, a fresh array
 * of ARRAY's type and shape: every process's ARRAY combined in rank order
 * with the reduction KERNEL; #f elsewhere. */
static SCM
prim_comm_reduce_kernel(SCM comm, SCM kernel, SCM array, SCM root)
{
  return reduce(comm, kernel, array, root, false, "reduce-to-root");
}

/* (%comm-allreduce-kernel COMM KERNEL ARRAY) -> like %comm-reduce-kernel,
 * on every process. */
static SCM
prim_comm_allreduce_kernel(SCM comm, SCM kernel, SCM array)
{
  return reduce(comm, kernel, array, SCM_BOOL_F, true, "allreduce");
}

void
par_scm_init_kernel_comm(void)
{
  scm_c_define_gsubr("%kernel-map", 5, 0, 0, prim_kernel_map);
  scm_c_define_gsubr("%comm-reduce-kernel", 4, 0, 0,
                     prim_comm_reduce_kernel);
  scm_c_define_gsubr("%comm-allreduce-kernel", 3, 0, 0,
                     prim_comm_allreduce_kernel);
}
