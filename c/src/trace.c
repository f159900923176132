/* trace.c — recording what a communicator's operations did (par/trace.h).
 *
 * A trace is a growing array of events plus the operation in progress. The
 * entry points of the operations (coll.c, comm.c) call par__trace_begin
 * and par__trace_end through the macros of comm-internal.h, only while a
 * trace is being recorded; the multiprocessing waits add their time with
 * par__trace_wait. An operation that runs another public operation inside
 * itself (a backend may build one from others) is recorded once, as the
 * outer one: DEPTH counts how deep the current operation is.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm-internal.h"

double
par_trace_now(void)
{
  return par__now();
}

const char *
par_trace_kind_name(int kind)
{
  if (kind == PAR_TRACE_RECV) {
    return "receive-from";
  }
  return par_opkind_name((par_opkind) kind);
}

int
par_comm_trace_start(par_comm *comm)
{
  par__trace *t = comm->trace != NULL ? comm->trace : comm->trace_kept;

  if (t == NULL) {
    t = calloc(1, sizeof *t);
    if (t == NULL) {
      return PAR_ENOMEM;
    }
  }
  t->n = 0;
  t->depth = 0;
  comm->trace_kept = NULL;
  comm->trace = t;
  return PAR_OK;
}

void
par_comm_trace_stop(par_comm *comm)
{
  if (comm->trace != NULL) {
    comm->trace_kept = comm->trace;
    comm->trace = NULL;
  }
}

size_t
par_comm_trace_events(const par_comm *comm, const par_trace_event **events)
{
  const par__trace *t = comm->trace != NULL ? comm->trace : comm->trace_kept;

  *events = t != NULL && t->n > 0 ? t->events : NULL;
  return t != NULL ? t->n : 0;
}

/* Called by par_comm_destroy. */
void
par__trace_free(par_comm *comm)
{
  par__trace *t = comm->trace != NULL ? comm->trace : comm->trace_kept;

  if (t != NULL) {
    free(t->events);
    free(t);
  }
  comm->trace = NULL;
  comm->trace_kept = NULL;
}

void
par__trace_begin(par_comm *comm, uint32_t kind, int peer)
{
  par__trace *t = comm->trace;

  if (t->depth++ > 0) {
    return;
  }
  memset(&t->cur, 0, sizeof t->cur);
  t->cur.kind = (int) kind;
  t->cur.peer = peer;
  /* Collectives are numbered as they begin; sends and receives are not
   * collectives, and the number they would show is the last one's. */
  t->cur.seq = kind == PAR_OPKIND_SEND || kind == PAR__OPKIND_RECV
                   ? 0
                   : comm->coll_seq;
  t->cur.start = par__now();
}

int
par__trace_end(par_comm *comm, int rc, uint64_t bytes)
{
  par__trace *t = comm->trace;

  if (t->depth == 0 || --t->depth > 0) {
    return rc;
  }
  t->cur.end = par__now();
  t->cur.rc = rc;
  t->cur.bytes = bytes;
  if (t->n == t->cap) {
    size_t cap = t->cap != 0 ? 2 * t->cap : 256;
    par_trace_event *events = realloc(t->events, cap * sizeof *events);

    if (events == NULL) {
      /* Out of memory: this event is lost, the operation is not. */
      return rc;
    }
    t->events = events;
    t->cap = cap;
  }
  t->events[t->n++] = t->cur;
  return rc;
}

void
par__trace_wait(par_comm *comm, double seconds)
{
  if (comm->trace->depth > 0) {
    comm->trace->cur.wait += seconds;
  }
}
