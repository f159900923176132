/* mpi-shm.c — which MPI ranks share a node, for shared memory.
 *
 * Ranks on one node share the arenas of par/shm.h: one rank opens another
 * rank's memfd through /proc, as any two processes of the same user can.
 * MPI-3 shared windows (MPI_Win_allocate_shared) would share memory too,
 * but their size is fixed when they are made, they are made and freed
 * collectively (a finalizer cannot), and Open MPI backs them with files
 * that a killed job leaves behind; so MPI only says here which ranks are
 * on one node.
 */
#include <stdlib.h>
#include <string.h>

#include "par/mpi.h"
#include "par/mpi-shm.h"

int
par_comm_mpi_node_size(par_comm *comm, int *out)
{
  MPI_Comm handle = par_comm_mpi_handle(comm), node;
  const char *split = getenv("PARALLELIZER_TEST_SPLIT_NODES");
  int rank, size, err;

  if (handle == MPI_COMM_NULL) {
    return PAR_EINVAL;
  }
  if (MPI_Comm_rank(handle, &rank) != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  if (split != NULL && split[0] != '\0' && strcmp(split, "0") != 0) {
    err = MPI_Comm_split(handle, rank, 0, &node);
  } else {
    err = MPI_Comm_split_type(handle, MPI_COMM_TYPE_SHARED, rank,
                              MPI_INFO_NULL, &node);
  }
  if (err != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  err = MPI_Comm_size(node, &size);
  MPI_Comm_free(&node);
  if (err != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  *out = size;
  return PAR_OK;
}
