/* mp.c — forked groups of workers (par/mp.h) as Guile objects.
 *
 * The Scheme side, (parallelizer backend multiprocessing), drives the life
 * of a run: create or reuse a group, fork, run the job, let each worker
 * exit with its report, join. This file only wraps the runtime and turns
 * the workers' statuses into Scheme data; and it forks the main process
 * of a background run (parallelizer-start), with the primitives that stop
 * and reap it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "par/mp.h"

#include <gc/gc.h>

#include "glue.h"
#include "large-alloc.h"
#include "mp-segment.h"

static SCM group_type;

static void
finalize_group(SCM obj)
{
  par_mp_group *g = scm_foreign_object_ref(obj, 0);

  /* Local only: unmaps, and in the main process kills and reaps workers
   * that are somehow still running, so that a lost group cannot leave a
   * process behind. */
  par_mp_group_destroy(g);
}

/* The group inside OBJ, or NULL if it has been closed; raises an EINVAL
 * error from WHO if OBJ is not a group. */
static par_mp_group *
group_or_null(SCM obj, const char *who)
{
  return par_scm_foreign_ref(group_type, obj, "a process group", who);
}

static par_mp_group *
unwrap_group(SCM obj, const char *who)
{
  par_mp_group *g = group_or_null(obj, who);

  if (g == NULL) {
    par_scm_throw(who, PAR_EINVAL, "the process group is closed", SCM_EOL);
  }
  return g;
}

static SCM
fork_body(void *data)
{
  return scm_fork();
}

static SCM
fork_failed(void *data, SCM key, SCM args)
{
  errno = EAGAIN;
  return scm_from_int(-1);
}

/* Workers are forked by Guile's own primitive-fork, which stops the
 * finalization thread first: a thread that disappears in the child while
 * holding a lock would otherwise leave the child stuck. */
static pid_t
guile_fork(void *data)
{
  return (pid_t) scm_to_int(
      scm_internal_catch(SCM_BOOL_T, fork_body, NULL, fork_failed, NULL));
}

/* How long a fork waits for other threads to leave Guile's list of
 * threads, and how long it naps between looks. */
#define ENDING_WAIT 0.5
#define ENDING_NAP_NS 100000

static void *
nap(void *data)
{
  struct timespec ts = {0, ENDING_NAP_NS};

  (void) data;
  nanosleep(&ts, NULL);
  return NULL;
}

static double
seconds_since(const struct timespec *start)
{
  struct timespec now;

  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - start->tv_sec)
         + 1e-9 * (double) (now.tv_nsec - start->tv_nsec);
}

/* The number of Guile threads other than this one that can still run.
 *
 * A thread stays in scm_all_threads until it has unregistered itself,
 * which it does after its thunk has returned, and after join-thread has
 * returned in the thread that joined it (join-thread waits for the
 * thunk's values, not for the thread's end; thread-exited? turns true
 * only as it unregisters). Such a thread runs no more Scheme, but it
 * holds Guile's locks while it leaves, and primitive-fork counts it too
 * (and warns). So the fork waits, up to ENDING_WAIT, for the other
 * threads to leave the list; a thread that is still there then is
 * counted as one that runs. */
static int
other_threads(void)
{
  struct timespec start;

  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    SCM self = scm_current_thread(), all = scm_all_threads();
    int others = 0;

    for (; scm_is_pair(all); all = SCM_CDR(all)) {
      others += !scm_is_eq(SCM_CAR(all), self);
    }
    if (others == 0 || seconds_since(&start) >= ENDING_WAIT) {
      return others;
    }
    /* Out of Guile mode: the leaving thread may need the collector. */
    scm_without_guile(nap, NULL);
  }
}

/* (%mp-group-create NPROCS TIMEOUT) -> a group of NPROCS processes (this
 * one and NPROCS-1 workers, not forked yet) whose waits time out after
 * TIMEOUT seconds, or never if TIMEOUT is #f. */
static SCM
prim_mp_group_create(SCM nprocs, SCM timeout)
#define FUNC_NAME "make-multiprocessing-parallelizer"
{
  par_mp_options opts = {0};
  par_mp_group *g;
  int rc;

  opts.nprocs = scm_to_int(nprocs);
  opts.timeout = scm_is_true(timeout) ? scm_to_double(timeout) : 0;
  opts.fork = guile_fork;
  rc = par_mp_group_create(&opts, &g);
  if (rc != PAR_OK) {
    /* The runtime says only which of its checks failed: say for what. */
    char detail[160];
    int n = snprintf(detail, sizeof detail,
                     "while making a group of %d processes", opts.nprocs);

    if (opts.timeout != 0 && n > 0 && (size_t) n < sizeof detail) {
      n += snprintf(detail + n, sizeof detail - (size_t) n,
                    " with a timeout of %g s", opts.timeout);
    }
    if (rc == PAR_ESYS && n > 0 && (size_t) n < sizeof detail) {
      snprintf(detail + n, sizeof detail - (size_t) n, ": %s",
               strerror(errno));
    }
    par_scm_throw_failure(FUNC_NAME, rc, detail);
  }
  return scm_make_foreign_object_1(group_type, g);
}
#undef FUNC_NAME

/* (%mp-group-close! GROUP): release GROUP now, stopping any worker still
 * running. Closing twice is allowed. */
static SCM
prim_mp_group_close_x(SCM group)
{
  par_mp_group *g = group_or_null(group, "%mp-group-close!");

  scm_foreign_object_set_x(group, 0, NULL);
  par_mp_group_destroy(g);
  return SCM_UNSPECIFIED;
}

/* (%mp-group-size GROUP) -> the number of processes of GROUP. */
static SCM
prim_mp_group_size(SCM group)
{
  return scm_from_int(par_mp_group_size(unwrap_group(group,
                                                     "parallelizer-nprocs")));
}

/* Stop Guile's finalization thread for a fork and make sure no other
 * Guile thread runs, raising an error from WHO if one does. Returns what
 * scm_set_automatic_finalization_enabled needs to restore after the fork.
 *
 * A forked process gets only the forking thread: any other thread's locks
 * would stay locked for ever in the child. Guile's own finalization thread
 * is stopped for the fork and restarted after; any other thread is the
 * user's, and makes the fork unsafe. */
static int
prepare_fork(const char *who)
{
  int finalizing = scm_set_automatic_finalization_enabled(0);
  int threads = other_threads();

  if (threads > 0) {
    scm_set_automatic_finalization_enabled(finalizing);
    par_scm_throw(who, PAR_EFORK,
                  "cannot fork workers while other Guile threads run "
                  "(~a of them; futures and par-map leave threads behind "
                  "too): the workers would inherit their locks but not "
                  "the threads",
                  scm_list_1(scm_from_int(threads)));
  }
  return finalizing;
}

/* Before a fork: once the collector's heap has grown by HEAP_STEP since
 * the last look, put it in huge pages (par__collapse_anon), so that each
 * fork, each worker's exit and the parent's writes after it cost an entry
 * per 2 MiB instead of one per 4 KiB. Looking costs a read of
 * /proc/self/maps; a heap that does not grow is not looked at again. */
#define HEAP_STEP ((size_t) 8 << 20)

static void
prepare_heap(void)
{
  static size_t seen;
  size_t heap = GC_get_heap_size();

  if (heap >= seen + HEAP_STEP) {
    par__collapse_anon();
    seen = heap;
  }
}

/* (%mp-group-fork GROUP) -> this process's rank, in every process: 0 in
 * the caller, 1..NPROCS-1 in the workers forked for the run. */
static SCM
prim_mp_group_fork(SCM group)
#define FUNC_NAME "parallelizer-run"
{
  par_mp_group *g = unwrap_group(group, FUNC_NAME);
  int rank, rc, finalizing;

  finalizing = prepare_fork(FUNC_NAME);
  prepare_heap();
  rc = par_mp_group_fork(g, &rank);
  scm_set_automatic_finalization_enabled(finalizing);
  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, par_mp_group_error_detail(g));
  }
  return scm_from_int(rank);
}
#undef FUNC_NAME

/* (%mp-group-comm GROUP) -> this process's communicator in the group. The
 * group owns it: the Scheme object must be closed (%comm-close!) when the
 * run ends. */
static SCM
prim_mp_group_comm(SCM group)
#define FUNC_NAME "parallelizer-run"
{
  par_comm *comm = par_mp_group_comm(unwrap_group(group, FUNC_NAME));

  if (comm == NULL) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL, "the group has not been forked",
                  SCM_EOL);
  }
  return par_scm_wrap_comm(comm, 0);
}
#undef FUNC_NAME

/* (%mp-worker-exit GROUP STATUS REPORT): in a worker, deliver STATUS (0
 * for success) and REPORT (a bytevector, or #f for none) to the main
 * process, and exit. REPORT is opaque here: the Scheme backend makes it
 * and reads it. */
static SCM
prim_mp_worker_exit(SCM group, SCM status, SCM report)
{
  par_mp_group *g = unwrap_group(group, "parallelizer-run");
  const void *data = NULL;
  size_t len = 0;

  if (scm_is_bytevector(report)) {
    data = SCM_BYTEVECTOR_CONTENTS(report);
    len = SCM_BYTEVECTOR_LENGTH(report);
  }
  par_mp_worker_exit(g, scm_to_int(status), data, len);
}

struct join_call {
  par_mp_group *g;
  par_mp_worker_status *statuses;
  size_t n;
  int rc;
};

static void *
run_join(void *data)
{
  struct join_call *call = data;

  call->rc = par_mp_group_join(call->g, call->statuses, call->n);
  return NULL;
}

/* The statuses of a join as Scheme data; see %mp-group-join. */
static SCM
statuses_to_list(const par_mp_worker_status *statuses, size_t n)
{
  SCM result = SCM_EOL;

  for (size_t i = n; i-- > 0;) {
    const par_mp_worker_status *st = &statuses[i];
    SCM report = SCM_BOOL_F;

    if (st->report != NULL && st->report_len > 0 && !st->report_truncated) {
      report = scm_c_make_bytevector(st->report_len);
      memcpy(SCM_BYTEVECTOR_CONTENTS(report), st->report, st->report_len);
    }
    result = scm_cons(scm_list_5(scm_from_int(st->rank),
                                 scm_from_int((int) st->pid),
                                 scm_from_utf8_symbol(
                                     par_mp_state_name(st->state)),
                                 scm_from_int(st->code), report),
                      result);
  }
  return result;
}

/* (%mp-group-join GROUP COMM) -> in main, once every worker has ended, a
 * list with one entry per worker, (RANK PID STATE CODE REPORT): STATE is a
 * symbol (ok, failed, exited, signaled, stopped), CODE the reported
 * status, exit code or signal, and REPORT what the worker passed to
 * %mp-worker-exit (a bytevector) or #f. A failed worker is not an error
 * here: the caller decides what to raise. A timeout or an interrupt is.
 * The wait honours the timeout and the interrupt check of the group's
 * communicator, which COMM (the object of %mp-group-comm, or #f) wraps. */
static SCM
prim_mp_group_join(SCM group, SCM comm)
#define FUNC_NAME "parallelizer-run"
{
  par_mp_group *g = unwrap_group(group, FUNC_NAME);
  size_t n = (size_t) (par_mp_group_size(g) - 1);
  struct join_call call = {g, NULL, n, PAR_OK};

  if (scm_is_true(comm)) {
    par_scm_unwrap_comm(comm, FUNC_NAME);
  }
  call.statuses = scm_gc_malloc_pointerless(
      sizeof *call.statuses * (n > 0 ? n : 1), "worker statuses");
  /* Out of Guile mode: the wait may be long, and a collection must not
   * wait for it. */
  scm_without_guile(run_join, &call);
  /* The workers are gone: none will open a segment this process sent. */
  par__seg_release_all();
  if (call.rc != PAR_OK && call.rc != PAR_EPEER) {
    /* The run itself failed (timed out, or was interrupted while the main
     * process waited for the workers). */
    par_scm_throw_failure(FUNC_NAME, call.rc, par_mp_group_error_detail(g));
  }
  return statuses_to_list(call.statuses, n);
}
#undef FUNC_NAME

/* (%mp-group-kill GROUP): in main, stop every worker still running. */
static SCM
prim_mp_group_kill(SCM group)
{
  par_mp_group_kill(unwrap_group(group, "parallelizer-run"));
  return SCM_UNSPECIFIED;
}

/* (%mp-group-unreceived GROUP) -> in main, after a successful join, a
 * sentence naming the messages left unreceived at the end of the run, or
 * #f when there are none. */
static SCM
prim_mp_group_unreceived(SCM group)
{
  char detail[512];
  int n = par_mp_group_unreceived(unwrap_group(group, "parallelizer-run"),
                                  detail, sizeof detail);

  return n > 0 ? scm_from_utf8_string(detail) : SCM_BOOL_F;
}

/* (%mp-group-detail GROUP) -> a sentence about the first failure the last
 * join found, or "". */
static SCM
prim_mp_group_detail(SCM group)
{
  return scm_from_utf8_string(
      par_mp_group_error_detail(unwrap_group(group, "parallelizer-run")));
}

/* --- Background runs ------------------------------------------------------
 *
 * A background run (parallelizer-start) is a whole run in a child of the
 * caller: the child forks the run's workers as any main process does, and
 * the caller only waits. The child leads a process group of its own, which
 * its workers join, so that the run is one unit to stop, and Ctrl-C typed
 * at the terminal, which reaches the terminal's foreground group, does not
 * reach it. */

/* (%background-fork) -> 0 in the child, the child's pid in the caller. The
 * child leads a new process group, dies with the caller's thread
 * (PR_SET_PDEATHSIG) and reads its standard input from /dev/null: a
 * process outside the terminal's foreground group that reads the terminal
 * is stopped. */
static SCM
prim_background_fork(void)
#define FUNC_NAME "parallelizer-start"
{
  pid_t parent = getpid(), pid;
  int finalizing, err;

  finalizing = prepare_fork(FUNC_NAME);
  fflush(NULL);
  pid = guile_fork(NULL);
  err = errno;
  if (pid == 0) {
    int fd;

    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) {
      _exit(127);
    }
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      dup2(fd, 0);
      if (fd != 0) {
        close(fd);
      }
    }
  } else if (pid > 0) {
    /* In both processes, so that the group exists before either goes on:
     * the caller may stop the group at once. */
    setpgid(pid, pid);
  }
  scm_set_automatic_finalization_enabled(finalizing);
  if (pid < 0) {
    errno = err;
    par_scm_throw(FUNC_NAME, PAR_EFORK, "cannot fork the run's main "
                  "process: ~a", scm_list_1(scm_from_utf8_string(
                                     strerror(err))));
  }
  return scm_from_int((int) pid);
}
#undef FUNC_NAME

/* (%background-ended? PID) -> #t once the child PID has ended (it is not
 * reaped: %background-reap does that). */
static SCM
prim_background_ended_p(SCM pid)
{
  siginfo_t si;

  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t) scm_to_int(pid), &si,
             WEXITED | WNOHANG | WNOWAIT) != 0) {
    /* ECHILD: already reaped, so ended. */
    return SCM_BOOL_T;
  }
  return scm_from_bool(si.si_pid != 0);
}

struct reap_call {
  pid_t pid;
  int kill_first;
  int status;
  int known;
};

static void *
run_reap(void *data)
{
  struct reap_call *call = data;
  pid_t r;

  /* The group first, while its leader is unreaped, so that its number
   * cannot name another group yet: whatever is left of the run (workers
   * of a main process that died without stopping them, which this
   * process, a subreaper while background runs live, adopts). When the
   * main process ended normally, it has stopped and reaped its workers
   * and nothing is left to kill. */
  if (call->kill_first) {
    kill(call->pid, SIGKILL);
  }
  kill(-call->pid, SIGKILL);
  do {
    r = waitpid(call->pid, &call->status, 0);
  } while (r < 0 && errno == EINTR);
  call->known = r == call->pid;
  do {
    r = waitpid(-call->pid, NULL, 0);
  } while (r > 0 || (r < 0 && errno == EINTR));
  return NULL;
}

/* (%background-reap PID KILL?) -> how the run's main process PID ended,
 * (exited CODE) or (signaled SIGNAL), or #f if it was reaped elsewhere.
 * If KILL?, it is killed first, if it has not ended; in any case, every
 * process left in its group is killed and reaped, so that nothing of the
 * run survives. Waits, out of Guile mode, until all are reaped. */
static SCM
prim_background_reap(SCM pid, SCM kill_p)
{
  struct reap_call call = {(pid_t) scm_to_int(pid), scm_is_true(kill_p), 0,
                           0};

  scm_without_guile(run_reap, &call);
  if (!call.known) {
    return SCM_BOOL_F;
  }
  if (WIFSIGNALED(call.status)) {
    return scm_list_2(scm_from_utf8_symbol("signaled"),
                      scm_from_int(WTERMSIG(call.status)));
  }
  return scm_list_2(scm_from_utf8_symbol("exited"),
                    scm_from_int(WEXITSTATUS(call.status)));
}

/* (%set-child-subreaper! ON?) -> whether this process was a subreaper
 * before. A subreaper adopts the orphans among its descendants: the
 * workers of a background run whose main process died are then its
 * children, which %background-reap can reap. */
static SCM
prim_set_child_subreaper_x(SCM on)
{
  int was = 0;

  prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0);
  prctl(PR_SET_CHILD_SUBREAPER, scm_is_true(on) ? 1 : 0, 0, 0, 0);
  return scm_from_bool(was != 0);
}

void
par_scm_init_mp(void)
{
  group_type = scm_make_foreign_object_type(
      scm_from_utf8_symbol("par-mp-group"),
      scm_list_1(scm_from_utf8_symbol("group")), finalize_group);
  scm_c_define_gsubr("%mp-group-create", 2, 0, 0, prim_mp_group_create);
  scm_c_define_gsubr("%mp-group-close!", 1, 0, 0, prim_mp_group_close_x);
  scm_c_define_gsubr("%mp-group-size", 1, 0, 0, prim_mp_group_size);
  scm_c_define_gsubr("%mp-group-fork", 1, 0, 0, prim_mp_group_fork);
  scm_c_define_gsubr("%mp-group-comm", 1, 0, 0, prim_mp_group_comm);
  scm_c_define_gsubr("%mp-worker-exit", 3, 0, 0, prim_mp_worker_exit);
  scm_c_define_gsubr("%mp-group-join", 2, 0, 0, prim_mp_group_join);
  scm_c_define_gsubr("%mp-group-kill", 1, 0, 0, prim_mp_group_kill);
  scm_c_define_gsubr("%mp-group-unreceived", 1, 0, 0,
                     prim_mp_group_unreceived);
  scm_c_define_gsubr("%mp-group-detail", 1, 0, 0, prim_mp_group_detail);
  scm_c_define_gsubr("%background-fork", 0, 0, 0, prim_background_fork);
  scm_c_define_gsubr("%background-ended?", 1, 0, 0,
                     prim_background_ended_p);
  scm_c_define_gsubr("%background-reap", 2, 0, 0, prim_background_reap);
  scm_c_define_gsubr("%set-child-subreaper!", 1, 0, 0,
                     prim_set_child_subreaper_x);
}
