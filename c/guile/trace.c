/* trace.c — the traces of communicators (par/trace.h) as Scheme data.
 *
 * (parallelizer trace) starts a trace on the communicator of each process
 * of a run, reads its events when the job ends and writes them out; this
 * file only switches tracing on and off and turns the events into
 * vectors.
 */
#include "par/trace.h"

#include "glue.h"

/* (%comm-trace-start! COMM): record COMM's operations from now on,
 * forgetting any recorded before. */
static SCM
prim_comm_trace_start_x(SCM comm)
#define FUNC_NAME "parallelizer-run"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int rc = par_comm_trace_start(c);

  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, "while starting a trace");
  }
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%comm-trace-stop! COMM): stop recording; the events stay readable. */
static SCM
prim_comm_trace_stop_x(SCM comm)
{
  par_comm_trace_stop(par_scm_unwrap_comm(comm, "parallelizer-run"));
  return SCM_UNSPECIFIED;
}

/* (%comm-trace-events COMM) -> the events recorded on COMM, in order, each
 * a vector #(KIND PEER SEQ ERROR BYTES START END WAIT): KIND the
 * operation's name ("broadcast", "receive-from"), PEER the root or the
 * other rank (-1: none, -2: any), SEQ the collective's number (0 for
 * messages), ERROR #f or the code it failed with (a symbol), BYTES the
 * payload, START and END the times in seconds of CLOCK_MONOTONIC, and
 * WAIT the seconds spent waiting for peers. */
static SCM
prim_comm_trace_events(SCM comm)
{
  const par_trace_event *events;
  size_t n = par_comm_trace_events(par_scm_unwrap_comm(comm,
                                                       "parallelizer-run"),
                                   &events);
  SCM result = SCM_EOL;

  for (size_t i = n; i-- > 0;) {
    const par_trace_event *e = &events[i];
    SCM v = scm_c_make_vector(8, SCM_BOOL_F);

    SCM_SIMPLE_VECTOR_SET(v, 0,
                          scm_from_utf8_string(par_trace_kind_name(e->kind)));
    SCM_SIMPLE_VECTOR_SET(v, 1, scm_from_int(e->peer));
    SCM_SIMPLE_VECTOR_SET(v, 2, scm_from_uint32(e->seq));
    SCM_SIMPLE_VECTOR_SET(v, 3,
                          e->rc == PAR_OK
                              ? SCM_BOOL_F
                              : scm_from_utf8_symbol(par_err_name(e->rc)));
    SCM_SIMPLE_VECTOR_SET(v, 4, scm_from_uint64(e->bytes));
    SCM_SIMPLE_VECTOR_SET(v, 5, scm_from_double(e->start));
    SCM_SIMPLE_VECTOR_SET(v, 6, scm_from_double(e->end));
    SCM_SIMPLE_VECTOR_SET(v, 7, scm_from_double(e->wait));
    result = scm_cons(v, result);
  }
  return result;
}

/* (%trace-clock) -> the seconds of the clock of the events. */
static SCM
prim_trace_clock(void)
{
  return scm_from_double(par_trace_now());
}

void
par_scm_init_trace(void)
{
  scm_c_define_gsubr("%comm-trace-start!", 1, 0, 0, prim_comm_trace_start_x);
  scm_c_define_gsubr("%comm-trace-stop!", 1, 0, 0, prim_comm_trace_stop_x);
  scm_c_define_gsubr("%comm-trace-events", 1, 0, 0, prim_comm_trace_events);
  scm_c_define_gsubr("%trace-clock", 0, 0, 0, prim_trace_clock);
}
