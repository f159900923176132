/* par/trace.h — a record of the operations a communicator runs.
 *
 * While tracing is on for a communicator, every operation it runs (a
 * collective, a send, a receive) leaves one event: what it was, the other
 * rank or the root, how many bytes this process moved, when it started
 * and ended, how much of that time it spent waiting for its peers, and
 * how it ended. Each process records its own operations; putting the
 * processes' records side by side (on one clock: CLOCK_MONOTONIC is the
 * same for every process of a machine) shows where a run spent its time.
 * The Scheme layer writes them as Chrome trace-event JSON.
 *
 * Tracing off costs one predictable branch per operation. Waiting time is
 * measured by the backends that can tell it (multiprocessing: the time a
 * process spins or sleeps for a peer); elsewhere it is 0.
 *
 *   par_comm_trace_start(comm);
 *   ... operations ...
 *   const par_trace_event *ev;
 *   size_t n = par_comm_trace_events(comm, &ev);
 *   par_comm_trace_stop(comm);
 *
 * Ownership: the events belong to the communicator; they stay valid until
 * the next operation, par_comm_trace_start or par_comm_destroy.
 */
#ifndef PAR_TRACE_H
#define PAR_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kind of an event that is a receive (par_comm_recv, par_comm_recv_any):
 * the other kinds are par_opkind values. */
#define PAR_TRACE_RECV ((int) PAR_OPKIND_COUNT)

/* The peer of an event with none (a barrier), and of a receive from any
 * rank. */
#define PAR_TRACE_NO_PEER (-1)
#define PAR_TRACE_ANY_PEER (-2)

typedef struct par_trace_event {
  int kind;       /* a par_opkind, or PAR_TRACE_RECV */
  int peer;       /* the root of a collective, the other rank of a send or
                   * receive (for a receive from any rank, the rank it
                   * came from, or PAR_TRACE_ANY_PEER if none came), or
                   * PAR_TRACE_NO_PEER */
  uint32_t seq;   /* the collective's number on the communicator; 0 for
                   * sends and receives */
  int rc;         /* PAR_OK, or the error the operation failed with */
  uint64_t bytes; /* payload bytes this process sent or received: the
                   * message of a send, receive or broadcast; all chunks
                   * on the root of a scatter or gather, its own chunk
                   * elsewhere; all of them for an allgather; the vector
                   * of a reduction; 0 for a barrier */
  double start;   /* CLOCK_MONOTONIC seconds */
  double end;
  double wait;    /* seconds of [start, end] spent waiting for peers */
} par_trace_event;

/* Start recording COMM's operations, forgetting any recorded before.
 * PAR_OK, or PAR_ENOMEM. */
PAR_EXTERN int par_comm_trace_start(par_comm *comm);

/* Stop recording; the events recorded so far stay readable. No-op if
 * tracing is off. */
PAR_EXTERN void par_comm_trace_stop(par_comm *comm);

/* The events recorded on COMM, in the order the operations ended, through
 * *EVENTS (NULL when there are none); returns their number. */
PAR_EXTERN size_t par_comm_trace_events(const par_comm *comm,
                                        const par_trace_event **events);

/* The name of an event's KIND: a par_opkind's ("broadcast"), or
 * "receive-from" for PAR_TRACE_RECV. */
PAR_EXTERN const char *par_trace_kind_name(int kind);

/* Seconds of CLOCK_MONOTONIC, the clock of the events. */
PAR_EXTERN double par_trace_now(void);

#ifdef __cplusplus
}
#endif

#endif /* PAR_TRACE_H */
