/* par/mpi-shm.h — which MPI ranks can share memory.
 *
 * Shared memory (par/shm.h) is memory of one machine: MPI ranks share it
 * when they are on the same node. Part of libparallelizer-mpi.
 */
#ifndef PAR_MPI_SHM_H
#define PAR_MPI_SHM_H

#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Write to *OUT how many ranks of COMM, an MPI communicator, share the
 * calling rank's node (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED):
 * par_comm_size(COMM) when they all do. Collective over COMM.
 *
 * For tests of what happens on several nodes, on one machine: when the
 * environment variable PARALLELIZER_TEST_SPLIT_NODES is set (and not
 * "0"), every rank is counted as alone on its node, which is what the
 * split would give with one rank per node.
 *
 * Errors: PAR_EINVAL (COMM is not an MPI communicator), PAR_EMPI. */
PAR_EXTERN int par_comm_mpi_node_size(par_comm *comm, int *out);

#ifdef __cplusplus
}
#endif

#endif /* PAR_MPI_SHM_H */
