/* kernel-reduce.c — reduce-to-root and allreduce with a reduction kernel as
 * the operator (par/kernel.h).
 *
 * Every process's contribution is gathered, then folded in rank order with
 * the kernel, ((b0 op b1) op b2) ..., writing into the accumulator in
 * place, which a reduction kernel allows. An MPI_Op built on the kernel
 * would move less data for large groups, but it could not report a
 * kernel's failure, would need a global to find the kernel (MPI passes an
 * operator no user data), and would apply the operator in whatever order
 * the MPI library's algorithm picks; the gather uses the communicator's own
 * collectives, with their checks that every process is in the same
 * operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "par/kernel.h"

/* Check that DEF is a reduction that accepts arrays of TYPE. */
static int
check_reduction(const par_kernel_def *def, par_dtype type, char *detail,
                size_t size)
{
  par_kernel_sig sig;
  int rc = par_kernel_def_check(def, &sig, detail, size);

  if (rc != PAR_OK) {
    return rc;
  }
  if (!(def->flags & PAR_KERNEL_REDUCTION)) {
    if (detail != NULL && size > 0) {
      snprintf(detail, size,
               "kernel %s is not a reduction (PAR_KERNEL_REDUCTION)",
               def->name);
    }
    return PAR_EINVAL;
  }
  if ((unsigned) type >= PAR_DTYPE_COUNT) {
    return PAR_EINVAL;
  }
  if (sig.args[0] >= 0 && sig.args[0] != (int) type) {
    if (detail != NULL && size > 0) {
      snprintf(detail, size, "kernel %s combines arrays of %s, not of %s",
               def->name, par_dtype_name((par_dtype) sig.args[0]),
               par_dtype_name(type));
    }
    return PAR_ETYPE;
  }
  return PAR_OK;
}

/* Fold the N blocks of COUNT elements of TYPE at PARTS into RESULT, in
 * order, with DEF. */
static int
fold(const par_kernel_def *def, par_dtype type, size_t count,
     const char *parts, int n, void *result, char *detail, size_t size)
{
  size_t bytes = count * par_dtype_size(type);
  size_t shape[1] = {count};
  par_array in[2], out;

  memmove(result, parts, bytes);
  par_array_init(&in[0], type, 1, shape, result);
  par_array_init(&out, type, 1, shape, result);
  for (int r = 1; r < n; r++) {
    int rc;

    par_array_init(&in[1], type, 1, shape, (void *) (parts + r * bytes));
    rc = par_kernel_invoke(def, in, 2, NULL, 0, &out, NULL, NULL, detail,
                           size);
    if (rc != PAR_OK) {
      return rc;
    }
  }
  return PAR_OK;
}

/* The common part: gather to ROOT, or to all if ROOT < 0, and fold. */
static int
reduce(par_comm *comm, int root, const par_kernel_def *def,
       const void *sendbuf, void *recvbuf, size_t count, par_dtype type,
       char *detail, size_t size)
{
  int n, rank, rc;
  size_t elsize, *counts = NULL;
  char *parts = NULL;

  if (detail != NULL && size > 0) {
    detail[0] = '\0';
  }
  if (comm == NULL || (count > 0 && sendbuf == NULL)) {
    return PAR_EINVAL;
  }
  rc = check_reduction(def, type, detail, size);
  if (rc != PAR_OK) {
    return rc;
  }
  n = par_comm_size(comm);
  rank = par_comm_rank(comm);
  if (root >= n) {
    return PAR_ERANK;
  }
  elsize = par_dtype_size(type);
  if (count > 0 && count > SIZE_MAX / elsize / (size_t) n) {
    return PAR_ETOOBIG;
  }
  if ((root < 0 || rank == root) && count > 0 && recvbuf == NULL) {
    return PAR_EINVAL;
  }
  counts = malloc(sizeof *counts * (size_t) n);
  if (root < 0 || rank == root) {
    parts = malloc(count * elsize * (size_t) n + 1);
  }
  if (counts == NULL || ((root < 0 || rank == root) && parts == NULL)) {
    rc = PAR_ENOMEM;
    goto done;
  }
  for (int r = 0; r < n; r++) {
    counts[r] = count;
  }
  if (root < 0) {
    rc = par_comm_allgatherv(comm, sendbuf, count, parts, counts, type);
  } else {
    rc = par_comm_gatherv(comm, root, sendbuf, count, parts, counts, type);
  }
  if (rc == PAR_OK && (root < 0 || rank == root)) {
    rc = fold(def, type, count, parts, n, recvbuf, detail, size);
  }
done:
  free(parts);
  free(counts);
  return rc;
}

int
par_comm_reduce_kernel(par_comm *comm, int root, const par_kernel_def *def,
                       const void *sendbuf, void *recvbuf, size_t count,
                       par_dtype type, char *detail, size_t size)
{
  if (root < 0) {
    return PAR_ERANK;
  }
  return reduce(comm, root, def, sendbuf, recvbuf, count, type, detail,
                size);
}

int
par_comm_allreduce_kernel(par_comm *comm, const par_kernel_def *def,
                          const void *sendbuf, void *recvbuf, size_t count,
                          par_dtype type, char *detail, size_t size)
{
  return reduce(comm, -1, def, sendbuf, recvbuf, count, type, detail, size);
}
