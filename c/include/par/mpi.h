/* par/mpi.h — communicators over Open MPI.
 *
 * An MPI communicator of Parallelizer works on its own duplicate of an
 * MPI_Comm, so its messages never mix with the application's. It offers the
 * whole par/comm.h interface; the collectives are MPI's own (MPI_Bcast,
 * MPI_Scatterv, MPI_Gatherv, MPI_Allgatherv, MPI_Reduce, MPI_Allreduce) on
 * native datatypes, preceded by a small exchange in which every process
 * states which collective it is in (operation kind, collective number, root,
 * element type, counts). A process in a different collective is therefore
 * reported on every process as PAR_EMISMATCH with a detail that names both
 * operations, and only then does data move. The barrier is that exchange
 * alone, so it is checked too. The exchange is made of point-to-point
 * messages (one round between two processes, as MPI's own barrier), and
 * every wait of the backend (the exchange, a receive) is one of ours: it
 * honours the timeout and the interrupt check, sleeps rather than polls
 * when it lasts, and once it has lasted a quarter of a second it tells the
 * processes it waits for what it waits in, and hears from them in turn.
 * Processes that provably wait for each other then fail instead of
 * waiting forever: a receive from a process that is in a collective (both
 * fail, PAR_EMISMATCH, naming both operations), two processes that
 * receive from each other (PAR_EDEADLOCK), a wait for a process that has
 * exited or finished its run (PAR_EPEER, "rank 1 finished while rank 0
 * waits in barrier (collective #3)"; every process tells the others when
 * it exits, before MPI_Finalize).
 *
 * Limits, which follow from MPI:
 *  - Once every process has agreed, the data moves with MPI's blocking
 *    collectives; the timeout covers waiting for peers, not the transfer.
 *  - A process that gives up waiting for the others in a collective
 *    (timeout, interrupt) is out of step with them for good: its later
 *    collectives on that communicator fail with PAR_EABORTED, and the job
 *    is best aborted (par_comm_abort). Point-to-point messages still work.
 *  - A process that dies is not reported as PAR_EPEER: mpirun ends the job.
 *  - A wait is judged only against the communicator it waits on: a
 *    receive on one communicator from a process in a collective of
 *    another is not found out. A verdict that needs what only a third
 *    process knows (rank 0 in a barrier, rank 1 receiving from rank 2,
 *    which is in the barrier) is reached by the processes that know it;
 *    they fail, and the job is best aborted, which stops the others.
 *  - Point-to-point sends are buffered (the bytes are copied and sent in
 *    the background), so par_comm_send returns at once; sends still in
 *    flight when the communicator is destroyed are left to complete.
 *  - Floating-point reductions combine values in the order Open MPI's
 *    algorithm chooses (fixed for a given group size), which may differ in
 *    the last bits from a left fold in rank order.
 *
 * Threads: MPI is initialised at MPI_THREAD_SERIALIZED. Calls on MPI
 * communicators must not run concurrently; par_comm_destroy may be called
 * from any thread (a finalizer, say): off the thread that initialised MPI,
 * freeing the MPI resources is deferred to that thread's next MPI call.
 *
 * Ownership: as in par/comm.h. The MPI_Comm passed in is only duplicated;
 * the caller keeps it.
 */
#ifndef PAR_MPI_H
#define PAR_MPI_H

#include <mpi.h>

#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Initialise MPI unless it already is (by us or by the application), at
 * MPI_THREAD_SERIALIZED. Works in a process started without mpirun, which
 * becomes a one-process "singleton" job. When this call initialised MPI, it
 * also arranges for MPI_Finalize at exit. Idempotent. Returns PAR_OK, or
 * PAR_EMPI when MPI cannot be initialised or was already finalised. */
PAR_EXTERN int par_mpi_init(void);

/* A communicator over a duplicate of BASE (MPI_Comm_dup, so collective over
 * BASE), with MPI_ERRORS_RETURN on the duplicate; backend name "mpi".
 * Initialises MPI first if needed. */
PAR_EXTERN int par_comm_mpi_create(MPI_Comm base, par_comm **out);

/* par_comm_mpi_create(MPI_COMM_WORLD, OUT). */
PAR_EXTERN int par_comm_mpi_world(par_comm **out);

/* A communicator over the N processes of PARENT (an MPI communicator)
 * whose ranks are listed in RANKS, renumbered 0..N-1 in the order given.
 * Collective over PARENT: every process of PARENT calls it with the same
 * RANKS, and counts as one collective operation of PARENT. On processes
 * not in RANKS it succeeds with *OUT = NULL. The new communicator inherits
 * PARENT's timeout and interrupt check. PAR_EINVAL if PARENT is not an MPI
 * communicator or RANKS is empty, out of range or has duplicates;
 * PAR_EMISMATCH (or PAR_ESIZE) if processes pass different RANKS. */
PAR_EXTERN int par_comm_mpi_subgroup(par_comm *parent, const int *ranks,
                                     int n, par_comm **out);

/* Collective over COMM: this process is done with COMM (parallelizer-run
 * calls it at the end of every run on MPI). It counts as a collective, and
 * returns PAR_OK once every process of COMM has called it. A process still
 * in another operation on COMM, or one that exits without calling it,
 * makes it fail instead of waiting forever, and the sentence names both
 * ("rank 1 finished while rank 0 waits in barrier (collective #3)"): with
 * PAR_EMISMATCH on the process that finished, PAR_EPEER on the one that
 * waits. PAR_EINVAL if COMM is not an MPI communicator. */
PAR_EXTERN int par_comm_mpi_finish(par_comm *comm);

/* The MPI communicator under COMM, for applications that call MPI
 * themselves; MPI_COMM_NULL if COMM is not an MPI communicator. It belongs
 * to COMM: do not free it, and do not use it after par_comm_destroy. */
PAR_EXTERN MPI_Comm par_comm_mpi_handle(const par_comm *comm);

/* Messages, and chunks of collectives, larger than the split threshold
 * move as several MPI messages of at most that many bytes, which keeps
 * every count below MPI's INT_MAX limit. The default is 1 GiB. BYTES is
 * clamped to 1..PAR_MPI_SPLIT_MAX; 0 restores the default. Every process
 * must use the same threshold, so set it before communicating. */
#define PAR_MPI_SPLIT_DEFAULT ((size_t) 1 << 30)
#define PAR_MPI_SPLIT_MAX ((size_t) 0x7fff0000)

PAR_EXTERN void par_mpi_set_split_threshold(size_t bytes);
PAR_EXTERN size_t par_mpi_split_threshold(void);

#ifdef __cplusplus
}
#endif

#endif /* PAR_MPI_H */
