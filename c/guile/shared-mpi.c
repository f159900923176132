/* shared-mpi.c — shared memory in the MPI extension.
 *
 * Part of libguile-parallelizer-mpi: finds out, once per MPI job, whether
 * its ranks share one node, which decides what shared memory can do
 * (shared.c, doc/shared-memory.texi).
 */
#include "par/mpi-shm.h"

#include "glue.h"
#include "shared-internal.h"

/* (%shared-mpi-setup! COMM) -> #t if every rank of COMM, an MPI
 * communicator over the whole job, is on this process's node. Collective
 * over COMM. */
static SCM
prim_shared_mpi_setup_x(SCM comm)
#define FUNC_NAME "make-mpi-parallelizer"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int here = 0, all = par_comm_size(c);
  int rc = par_comm_mpi_node_size(c, &here);

  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, "cannot tell which ranks share a "
                          "node");
  }
  par_scm_shared_set_node_mode(here == all ? 1 : 2, here, all);
  return scm_from_bool(here == all);
}
#undef FUNC_NAME

void
par_scm_init_shared_mpi(void)
{
  scm_c_define_gsubr("%shared-mpi-setup!", 1, 0, 0, prim_shared_mpi_setup_x);
}
