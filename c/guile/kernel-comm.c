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

/* The bytes of input, and of result, that a process handles per round of
 * a map. The data moves in rounds rather than in one piece per process,
 * so that a worker holds one round's rows, not its whole share, and the
 * transport never carries one huge message. */
#define ROUND_BYTES ((size_t) 4 << 20)

/* (%kernel-map COMM KERNEL DATA EXTRA-ARGS PLAN) -> on rank 0 of COMM, the
 * array that the element-wise KERNEL makes from DATA, computed on every
 * process of COMM, each call being (KERNEL ROWS EXTRA-ARGS ...) on rows
 * of DATA along its first axis; #f elsewhere. PLAN, the same on every
 * process, is (TYPE LENGTH ...): the element type and the lengths of
 * DATA, which only rank 0 passes.
 *
 * The rows go in rounds: each round takes the next rows of DATA, up to
 * ROUND_BYTES per process, deals them out in rank order (rank 0 first)
 * and gathers the results into the same rows of the result. Rank 0's
 * share of every round stays where it is: it is scattered and gathered
 * with a count of zero, and the kernel reads and writes it in place. */
static SCM
prim_kernel_map(SCM comm, SCM kernel, SCM data, SCM extra, SCM plan)
#define FUNC_NAME "parallel-map"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  const par_kernel_sig *sig;
  const par_kernel_def *def = par_scm_kernel_def(kernel, FUNC_NAME, &sig);
  int n = par_comm_size(c), self = par_comm_rank(c);
  size_t rows, row_size = 1, rank = 0, per_round, in_size, out_size;
  size_t *counts, start;
  par_dtype type;
  par_scm_kernel_call call;
  par_array out_plan, out;
  scm_t_array_handle result_handle;
  SCM chunk = data, result = SCM_BOOL_F, buffer = SCM_BOOL_F, rest;
  char *type_name, detail[PAR_KERNEL_MESSAGE_MAX + 64];
  char *in_base = NULL, *out_base = NULL;
  int rc;

  type_name = scm_to_utf8_string(scm_symbol_to_string(scm_car(plan)));
  rc = par_dtype_from_name(type_name, &type);
  free(type_name);
  if (rc != PAR_OK || !(def->flags & PAR_KERNEL_ELEMENTWISE)) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL,
                  "cannot map the kernel ~a over an array of ~s",
                  scm_list_2(scm_from_utf8_string(def->name), plan));
  }
  rows = scm_to_size_t(scm_cadr(plan));
  rest = scm_cddr(plan);
  for (SCM d = rest; scm_is_pair(d); d = scm_cdr(d), rank++) {
    row_size *= scm_to_size_t(scm_car(d));
  }
  /* Rows per process and round: at least one, and no more than
   * ROUND_BYTES of input or of result (of at most 16 bytes an element). */
  in_size = par_dtype_size(type);
  per_round = ROUND_BYTES / ((row_size > 0 ? row_size : 1) * 16);
  if (per_round == 0) {
    per_round = 1;
  }
  counts = scm_gc_malloc_pointerless(sizeof *counts * (size_t) n,
                                     "kernel-map counts");

  scm_dynwind_begin(0);
  if (self != 0) {
    /* The rows this process receives in a round go into one Guile array,
     * which the kernel then reads like any argument. */
    buffer = scm_make_typed_array(
        scm_car(plan), SCM_UNSPECIFIED,
        scm_cons(scm_from_size_t(rows < per_round ? rows : per_round),
                 rest));
    chunk = buffer;
  }
  par_scm_kernel_args(def->name, sig,
                      def->signature ? def->signature : "any",
                      scm_cons(chunk, extra), &call);
  in_base = call.in[0].data;

  /* The result's type comes from a plan of one row. */
  call.in[0].shape[0] = 1;
  call.in[0].count = row_size;
  rc = par_kernel_plan(sig, def->flags, call.in, call.nin, call.scalars,
                       call.nscalars, &out_plan, detail, sizeof detail);
  if (rc != PAR_OK) {
    par_scm_throw(def->name, rc, "~a",
                  scm_list_1(scm_from_utf8_string(detail)));
  }
  out_size = par_dtype_size(out_plan.type);
  if (self == 0) {
    par_array whole = out_plan;

    whole.shape[0] = rows;
    whole.count = rows * row_size;
    result = par_scm_kernel_result(&whole, &result_handle, &out);
  } else {
    par_array block = out_plan;

    block.shape[0] = rows < per_round ? rows : per_round;
    block.count = block.shape[0] * row_size;
    par_scm_kernel_result(&block, &result_handle, &out);
  }
  out_base = out.data;

  for (start = 0; start < rows;) {
    size_t round = rows - start < per_round * (size_t) n
                       ? rows - start
                       : per_round * (size_t) n;
    size_t mine = chunk_rows(round, n, self), first = chunk_rows(round, n, 0);

    for (int r = 0; r < n; r++) {
      counts[r] = r == 0 ? 0 : chunk_rows(round, n, r) * row_size;
    }
    if (n > 1) {
      /* Rank 0 sends the rows after its own share of the round. */
      check(c,
            par_comm_scatterv(c, 0,
                              self == 0 ? in_base
                                              + (start + first) * row_size
                                                    * in_size
                                        : in_base,
                              counts, in_base,
                              self == 0 ? 0 : mine * row_size, type),
            FUNC_NAME);
    }
    call.in[0].shape[0] = mine;
    call.in[0].count = mine * row_size;
    call.in[0].data = self == 0 ? in_base + start * row_size * in_size
                                : in_base;
    out = out_plan;
    out.shape[0] = mine;
    out.count = mine * row_size;
    out.data = self == 0 ? out_base + start * row_size * out_size : out_base;
    rc = par_kernel_invoke(def, call.in, call.nin, call.scalars,
                           call.nscalars, &out, NULL, NULL, detail,
                           sizeof detail);
    if (rc != PAR_OK) {
      par_scm_kernel_failed(def->name, rc, detail);
    }
    if (n > 1) {
      check(c,
            par_comm_gatherv(c, 0, out.data,
                             self == 0 ? 0 : mine * row_size,
                             self == 0 ? out_base
                                             + (start + first) * row_size
                                                   * out_size
                                       : out_base,
                             counts, out_plan.type),
            FUNC_NAME);
    }
    start += round;
  }
  scm_dynwind_end();
  scm_remember_upto_here_2(chunk, data);
  scm_remember_upto_here_2(extra, result);
  scm_remember_upto_here_1(buffer);
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
