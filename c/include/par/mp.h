/* par/mp.h — forked groups of worker processes over shared memory.
 *
 * A group is NPROCS processes on one machine: the process that creates it
 * (rank 0, "main") and NPROCS-1 workers forked from it (ranks 1..NPROCS-1).
 * Every ordered pair of processes is connected by a lock-free ring in
 * shared memory (MAP_SHARED | MAP_ANONYMOUS, mapped before the fork, so
 * nothing is ever left in /dev/shm); the group's communicator, of backend
 * "multiprocessing", sends and receives through these rings and waits on
 * futexes.
 *
 * Typical use, on the main process:
 *
 *   par_mp_group *g;
 *   int rank;
 *   par_mp_group_create(&opts, &g);
 *   par_mp_group_fork(g, &rank);       (returns in every process)
 *   ... work with par_mp_group_comm(g) ...
 *   if (rank != 0)
 *     par_mp_worker_exit(g, 0, NULL, 0);     (never returns)
 *   par_mp_group_join(g, statuses, nprocs - 1);
 *   par_mp_group_destroy(g);
 *
 * The communicator has a native barrier (a sense-reversing barrier on a
 * futex in shared memory, which also checks that every process is in the
 * same collective) and native broadcasts: the root writes the payload once
 * into a ring that every receiver reads, and typed broadcasts land
 * straight in the receivers' buffers. The other collectives are the
 * generic ones of par/comm.h over the pairwise channels.
 *
 * par_comm_abort on this communicator marks the group aborted (every
 * process waiting in it fails with PAR_EABORTED): in a worker it then
 * exits like par_mp_worker_exit with status CODE (or 1); in main it kills
 * and reaps the workers and returns PAR_EABORTED, since the main process
 * is the user's program and goes on.
 *
 * Nothing hangs: a process waiting on a peer that died, failed or left
 * fails within a second with PAR_EPEER (or PAR_EABORTED when another
 * process already found the failure and aborted the group), and a wait in
 * which every process of the group waits on another fails within a tenth
 * of a second as a deadlock (PAR_ETIMEDOUT, with an error detail that
 * says so), on main first. Workers die
 * with their main process (PR_SET_PDEATHSIG) and ignore SIGINT: the main
 * process handles Ctrl-C (through par_comm_set_interrupt_check) and stops
 * the group.
 *
 * Ownership: the caller owns the group from par_mp_group_create until
 * par_mp_group_destroy, in every process. The communicator returned by
 * par_mp_group_comm belongs to the group; destroying it with
 * par_comm_destroy is allowed (the group then hands out no communicator
 * until the next fork), and par_mp_group_destroy destroys it otherwise.
 */
#ifndef PAR_MP_H
#define PAR_MP_H

#include <sys/types.h>

#include "common.h"
#include "comm.h"
#include "error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct par_mp_group par_mp_group;

/* Options of a group. Zero fields take the defaults. */
typedef struct par_mp_options {
  int nprocs;          /* total processes including main; >= 1 */
  double timeout;      /* seconds for every blocking operation; 0: none */
  size_t ring_bytes;   /* bytes of each channel; a power of two (rounded
                        * up), default 256 KiB. Messages of any size
                        * stream through a channel in pieces. */
  size_t report_bytes; /* bytes of each worker's outcome report, default
                        * 1 MiB; longer reports are truncated */
  /* How to fork a worker: called in place of fork(2) with FORK_DATA, it
   * must behave like fork (0 in the child, the child's pid in the parent,
   * -1 with errno set). NULL means fork(2). A language runtime passes its
   * own fork here so that it can prepare its threads for the fork. */
  pid_t (*fork)(void *fork_data);
  void *fork_data;
} par_mp_options;

/* Map the shared memory of a group of OPTS->nprocs processes (OPTS may be
 * NULL: one process per online CPU). No process is forked yet. On success
 * *OUT owns the mapping; the caller releases it with par_mp_group_destroy.
 * Errors: PAR_EINVAL (bad option), PAR_ENOMEM, PAR_ESYS (mmap failed). */
PAR_EXTERN int par_mp_group_create(const par_mp_options *opts,
                                   par_mp_group **out);

/* Fork the workers. Returns in every process of the group with *RANK set:
 * 0 in the caller, 1..nprocs-1 in the workers. Flushes every stdio stream
 * first, so that workers do not print the parent's buffered output again.
 * A group may be forked again once it has been joined or killed; the
 * channels then start empty. Errors (in the caller only, with no worker
 * left behind): PAR_EFORK, PAR_EINVAL (workers still running, or called in
 * a worker), PAR_ENOMEM. */
PAR_EXTERN int par_mp_group_fork(par_mp_group *g, int *rank);

/* This process's endpoint in the group, of backend "multiprocessing", or
 * NULL before the fork. Owned by the group (see above). */
PAR_EXTERN par_comm *par_mp_group_comm(par_mp_group *g);

/* This process's rank (0 in main, also before the fork) and the group's
 * size. */
PAR_EXTERN int par_mp_group_rank(const par_mp_group *g);
PAR_EXTERN int par_mp_group_size(const par_mp_group *g);

/* In a worker: deliver STATUS (0 = success) and the outcome report
 * REPORT/LEN (any bytes, e.g. a serialized error; may be NULL/0) to the
 * main process through shared memory, flush every stdio stream and _exit.
 * The report does not go through the data channels, so unread data never
 * holds it back. The exit code is 0 for STATUS 0 and non-zero otherwise.
 * Only workers may call it: in main it is a broken invariant (abort()). */
PAR_EXTERN void par_mp_worker_exit(par_mp_group *g, int status,
                                   const void *report, size_t len)
    __attribute__((noreturn));

/* The fate of one worker, as par_mp_group_join reports it. */
typedef enum par_mp_state {
  PAR_MP_OK = 0,   /* reported status 0 and exited */
  PAR_MP_FAILED,   /* reported a non-zero status (CODE) and exited */
  PAR_MP_EXITED,   /* exited without a report; CODE is the exit code */
  PAR_MP_SIGNALED, /* killed by signal CODE before it reported */
  PAR_MP_STOPPED   /* still running when the group was stopped; killed */
} par_mp_state;

/* The name of STATE in lower case ("failed"); "unknown" if invalid. */
PAR_EXTERN const char *par_mp_state_name(int state);

typedef struct par_mp_worker_status {
  int rank;
  pid_t pid;
  int state; /* a par_mp_state */
  int code;  /* reported status, exit code or signal number (see above) */
  /* The report the worker passed to par_mp_worker_exit (NULL/0 when it
   * sent none). It points into the group's shared memory and stays valid
   * until the group is forked again or destroyed. */
  const void *report;
  size_t report_len;
  int report_truncated; /* non-zero if the report did not fit */
} par_mp_worker_status;

/* In main: wait for every worker to finish. As soon as one fails (any
 * state but PAR_MP_OK) the group is aborted, and every worker still
 * running is killed and reaped (PAR_MP_STOPPED). Writes one status per
 * worker, in rank order, into STATUSES (N >= nprocs-1 entries; may be NULL
 * when N is 0, to wait without details). Honours the communicator's
 * timeout and interrupt check: on PAR_ETIMEDOUT or PAR_EINTR the workers
 * are stopped too. Returns PAR_OK when every worker succeeded, PAR_EPEER
 * when one did not (STATUSES are written in both cases, and
 * par_mp_group_error_detail names the first failure), or PAR_EINVAL when
 * called in a worker or with too small an N. When it returns, no worker of
 * this fork is left, not even as a zombie. */
PAR_EXTERN int par_mp_group_join(par_mp_group *g,
                                 par_mp_worker_status *statuses, size_t n);

/* A sentence about the first failure that par_mp_group_join found
 * ("rank 2 (pid 1234) was killed by signal 9 (Killed)"), or about why the
 * last call on G that returned an error code failed; "" if none. Valid
 * until the next fork, join or destroy. */
PAR_EXTERN const char *par_mp_group_error_detail(const par_mp_group *g);

/* In main, after par_mp_group_join: count the messages that a process
 * sent and its peer never received, and describe them in BUF/SIZE ("rank
 * 1 sent gather (collective #1) to rank 0, which never received it; ...").
 * A run that ends with such messages had processes in different
 * operations, which a process that only sends cannot notice. Returns the
 * count (0 if none) or PAR_EINVAL (a worker, workers still running, no
 * buffer). */
PAR_EXTERN int par_mp_group_unreceived(par_mp_group *g, char *buf,
                                       size_t size);

/* In main: abort the group, SIGKILL every worker still running and reap
 * it. No-op in a worker and when no worker runs. */
PAR_EXTERN void par_mp_group_kill(par_mp_group *g);

/* Release G; G may be NULL. In main, workers still running are killed and
 * reaped first, so no zombie is left. In a worker, only this process's
 * mapping and memory are released. */
PAR_EXTERN void par_mp_group_destroy(par_mp_group *g);

#ifdef __cplusplus
}
#endif

#endif /* PAR_MP_H */
