/* mpi.c — MPI communicators (par/mpi.h) for the Scheme MPI backend.
 *
 * This file is an extension of its own, libguile-parallelizer-mpi, which
 * the Scheme MPI backend loads when a program first uses an MPI
 * parallelizer: a process that uses only the serial or multiprocessing
 * backends never loads Open MPI. MPI itself is initialised by the first of
 * these primitives a program calls.
 */
#include <stdlib.h>

#include "par/mpi.h"
#include "par/shm.h"

#include "glue.h"

/* shared-mpi.c, the shared-memory part of this extension. */
void par_scm_init_shared_mpi(void);

/* (%mpi-world-comm) -> a communicator over a duplicate of MPI_COMM_WORLD.
 * Collective over the whole job: every rank must call it, in the same
 * order as its other MPI collectives. */
static SCM
prim_mpi_world_comm(void)
#define FUNC_NAME "make-mpi-parallelizer"
{
  par_comm *comm;
  int rc = par_comm_mpi_world(&comm);

  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, "cannot initialize MPI");
  }
  return par_scm_wrap_comm(comm, 1);
}
#undef FUNC_NAME

/* (%mpi-subgroup COMM RANKS) -> a communicator over the processes of COMM
 * listed in RANKS, renumbered in that order; #f on the processes not
 * listed. Collective over COMM. */
static SCM
prim_mpi_subgroup(SCM comm, SCM ranks)
#define FUNC_NAME "parallelizer-run"
{
  par_comm *parent = par_scm_unwrap_comm(comm, FUNC_NAME);
  long n = scm_ilength(ranks);
  int *list;
  par_comm *sub = NULL;
  int rc;

  if (n <= 0) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL, "expected a non-empty list of "
                  "ranks, got ~s", scm_list_1(ranks));
  }
  list = scm_gc_malloc_pointerless(sizeof *list * (size_t) n, "ranks");
  for (long i = 0; i < n; i++, ranks = scm_cdr(ranks)) {
    list[i] = scm_to_int(scm_car(ranks));
  }
  rc = par_comm_mpi_subgroup(parent, list, (int) n, &sub);
  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, par_comm_error_detail(parent));
  }
  return sub != NULL ? par_scm_wrap_comm(sub, 1) : SCM_BOOL_F;
}
#undef FUNC_NAME

/* (%mpi-finish! COMM): this process is done with COMM, at the end of a
 * run. Collective over COMM; raises, naming both processes, when another
 * is still in an operation on COMM or has exited without finishing.
 * Once every process has finished, every one has received the shared
 * objects that this one sent during the run, which it held until now
 * (see shared-wire.c): it lets go of them without a barrier of its own. */
static SCM
prim_mpi_finish_x(SCM comm)
#define FUNC_NAME "parallelizer-run"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int rc = par_comm_mpi_finish(c);

  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, par_comm_error_detail(c));
  }
  par_shm_unpin_all();
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%mpi-set-split-threshold! BYTES): messages and chunks of collectives
 * longer than BYTES move as several MPI messages of at most BYTES each; 0
 * restores the default. Every process must use the same threshold. */
static SCM
prim_mpi_set_split_threshold_x(SCM bytes)
{
  par_mpi_set_split_threshold(scm_to_size_t(bytes));
  return SCM_UNSPECIFIED;
}

/* (%mpi-split-threshold) -> the current split threshold in bytes. */
static SCM
prim_mpi_split_threshold(void)
{
  return scm_from_size_t(par_mpi_split_threshold());
}

/* The entry point of libguile-parallelizer-mpi, called by load-extension
 * from the module (parallelizer mpi-primitives). */
PAR_EXTERN void par_scm_init_mpi(void);

void
par_scm_init_mpi(void)
{
  static int initialized;

  if (initialized) {
    return;
  }
  initialized = 1;
  scm_c_define_gsubr("%mpi-world-comm", 0, 0, 0, prim_mpi_world_comm);
  scm_c_define_gsubr("%mpi-subgroup", 2, 0, 0, prim_mpi_subgroup);
  scm_c_define_gsubr("%mpi-finish!", 1, 0, 0, prim_mpi_finish_x);
  scm_c_define_gsubr("%mpi-set-split-threshold!", 1, 0, 0,
                     prim_mpi_set_split_threshold_x);
  scm_c_define_gsubr("%mpi-split-threshold", 0, 0, 0,
                     prim_mpi_split_threshold);
  par_scm_init_shared_mpi();
}
