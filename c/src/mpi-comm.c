/* mpi-comm.c — the MPI backend: process-wide state and life cycle.
 *
 * MPI is initialised once per process, at MPI_THREAD_SERIALIZED, and only
 * the thread that initialised it calls MPI: a communicator destroyed on
 * another thread (a finalizer) is left, with its sends in flight, for that
 * thread to free at its next MPI call. Each communicator works on its own
 * duplicate of an MPI communicator; subgroups are made with
 * MPI_Comm_create after the processes agree on them. Frames are in
 * mpi-frame.c, the agreement in mpi-agree.c, the collectives in
 * mpi-coll.c.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi-internal.h"

/* --- Process-wide state -------------------------------------------------- */

/* Guards the fields below that other threads touch: the initialisation
 * and the list of communicators destroyed off the MPI thread. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static int initialised_by_us;
static int have_mpi_thread;
static pthread_t mpi_thread;
static pid_t mpi_pid;

/* Communicators destroyed on another thread, to be freed by the MPI
 * thread (MPI is not called from finalizer threads). */
typedef struct orphan {
  struct orphan *next;
  MPI_Comm comm;
  par__mpi_pending *pending;
} orphan;

static orphan *orphans;
static atomic_int have_orphans;

/* Sends still in flight from communicators already destroyed. Touched on
 * the MPI thread only. */
static par__mpi_pending *abandoned;

/* Every communicator not yet destroyed, so that the others hear of this
 * process's exit on each (par__mpi_tell_exit). Guarded by STATE_LOCK. */
static par__mpi *live;

/* When this library initialised MPI: a duplicate of MPI_COMM_WORLD of its
 * own, on which the processes agree before they make a communicator over
 * the whole job (see par_comm_mpi_create) and when they exit (see
 * finalize_at_exit), so that neither waits forever for a process that has
 * left, nor polls a core while it waits. NULL otherwise. */
static par_comm *control;

static _Atomic size_t split_threshold = PAR_MPI_SPLIT_DEFAULT;

void
par_mpi_set_split_threshold(size_t bytes)
{
  if (bytes == 0) {
    bytes = PAR_MPI_SPLIT_DEFAULT;
  } else if (bytes > PAR_MPI_SPLIT_MAX) {
    bytes = PAR_MPI_SPLIT_MAX;
  }
  atomic_store(&split_threshold, bytes);
}

size_t
par_mpi_split_threshold(void)
{
  return atomic_load(&split_threshold);
}

size_t
par__mpi_split(void)
{
  return atomic_load(&split_threshold);
}

static int
mpi_alive(void)
{
  int init = 0, fini = 0;

  MPI_Initialized(&init);
  MPI_Finalized(&fini);
  return init && !fini;
}

static int
on_mpi_thread(void)
{
  return have_mpi_thread && pthread_equal(pthread_self(), mpi_thread)
         && getpid() == mpi_pid;
}

static void reap_orphans(void);
static int wrap(MPI_Comm c, int listed, uint64_t uid, par_comm **out);

/* The agreement on CONTROL as this process exits: it returns once every
 * process exits too. One that waits in another agreement on CONTROL (it
 * is making a communicator) fails instead, and so does this one, which
 * then tells the others that it has exited, so that their own agreements
 * at exit do not wait for it. */
static void
leave_control(void)
{
  if (control == NULL) {
    return;
  }
  if (par_comm_mpi_finish(control) != PAR_OK) {
    par__mpi_tell_exit(control);
  }
  if (on_mpi_thread()) {
    par_comm_destroy(control);
  }
  control = NULL;
}

static void
finalize_at_exit(void)
{
  /* A forked child that calls exit must not finalise its parent's MPI. */
  if (getpid() != mpi_pid || !mpi_alive()) {
    return;
  }
  /* Communicators destroyed off the MPI thread since its last operation
   * are freed now, or MPI_Finalize would leave them allocated. */
  if (on_mpi_thread()) {
    reap_orphans();
  }
  /* Whoever still waits for this process on a communicator must hear
   * that it is leaving, or wait forever (MPI_Finalize does not tell). */
  pthread_mutex_lock(&state_lock);
  for (par__mpi *impl = live; impl != NULL; impl = impl->next) {
    par__mpi_tell_exit(impl->owner);
  }
  pthread_mutex_unlock(&state_lock);
  /* MPI_Finalize waits for every process as well, but polls a core while
   * it does; the agreement sleeps. */
  leave_control();
  MPI_Finalize();
}

int
par_mpi_init(void)
{
  MPI_Comm c = MPI_COMM_NULL;
  int init = 0, fini = 0, rc = PAR_OK;

  pthread_mutex_lock(&state_lock);
  MPI_Finalized(&fini);
  if (fini) {
    rc = PAR_EMPI;
    goto out;
  }
  MPI_Initialized(&init);
  if (!init) {
    int provided;

    /* SERIALIZED rather than FUNNELED: a Guile program may well talk to
     * MPI from a thread other than the first, one at a time. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided)
        != MPI_SUCCESS) {
      rc = PAR_EMPI;
      goto out;
    }
    initialised_by_us = 1;
    /* Every process is in MPI_Init: the duplicate is made at once. */
    if (MPI_Comm_dup(MPI_COMM_WORLD, &c) != MPI_SUCCESS) {
      c = MPI_COMM_NULL;
    }
  }
  if (!have_mpi_thread) {
    mpi_thread = pthread_self();
    mpi_pid = getpid();
    have_mpi_thread = 1;
    if (initialised_by_us && atexit(finalize_at_exit) != 0) {
      rc = PAR_ENOMEM;
    }
  }
out:
  pthread_mutex_unlock(&state_lock);
  /* Without the control communicator, communicators over the whole job
   * are made after a plain barrier, and exit is MPI_Finalize's. */
  if (c != MPI_COMM_NULL && wrap(c, 0, 1, &control) != PAR_OK) {
    MPI_Comm_free(&c);
  }
  return rc;
}

int
par__mpi_fail(par_comm *comm, int err, const char *call)
{
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;

  if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) {
    len = 0;
  }
  text[len] = '\0';
  return par__comm_fail(comm, PAR_EMPI, "%s failed on rank %d: %s", call,
                        comm->rank, len > 0 ? text : "unknown MPI error");
}

/* On the MPI thread: free the communicators destroyed on other threads,
 * and keep their sends in flight in ABANDONED until they complete. */
static void
reap_orphans(void)
{
  orphan *list;

  pthread_mutex_lock(&state_lock);
  list = orphans;
  orphans = NULL;
  atomic_store(&have_orphans, 0);
  pthread_mutex_unlock(&state_lock);
  while (list != NULL) {
    orphan *next = list->next;

    par__mpi_pending_move(&abandoned, list->pending);
    MPI_Comm_free(&list->comm);
    free(list);
    list = next;
  }
}

void
par__mpi_progress(par_comm *comm)
{
  par__mpi *impl = par__mpi_impl(comm);

  if (atomic_load_explicit(&have_orphans, memory_order_relaxed)
      && on_mpi_thread()) {
    reap_orphans();
  }
  if (abandoned != NULL) {
    par__mpi_pending_reap(&abandoned);
  }
  if (impl->pending != NULL) {
    par__mpi_pending_reap(&impl->pending);
  }
}

/* --- Life cycle ---------------------------------------------------------- */

static int
mpi_abort(par_comm *comm, int code)
{
  int rc = MPI_Abort(par__mpi_impl(comm)->comm, code);

  return par__mpi_fail(comm, rc, "MPI_Abort");
}

static void
impl_free(par__mpi *impl)
{
  free(impl->xbuf);
  free(impl->all);
  free(impl->heard);
  free(impl->has_heard);
  free(impl->world);
  free(impl);
}

MPI_Comm
par__mpi_notice_comm(void)
{
  return control != NULL ? par__mpi_impl(control)->comm : MPI_COMM_NULL;
}

int
par__mpi_file_notice(const par__mpi_notice *n, int source,
                     const par__mpi *target)
{
  par__mpi *found = NULL;

  pthread_mutex_lock(&state_lock);
  if (control != NULL && n->uid == par__mpi_impl(control)->uid) {
    found = par__mpi_impl(control);
  }
  for (par__mpi *impl = live; impl != NULL && found == NULL;
       impl = impl->next) {
    if (impl->uid == n->uid) {
      found = impl;
    }
  }
  /* A notice about a communicator not made yet, or destroyed already, is
   * dropped: its sender sends it again while it waits. */
  for (int r = 0; found != NULL && r < found->owner->size; r++) {
    if (found->world[r] == source) {
      found->heard[r] = *n;
      found->has_heard[r] = 1;
      break;
    }
  }
  pthread_mutex_unlock(&state_lock);
  return found != NULL && found == target;
}

/* The uid of a communicator made by the collective number SEQ of the one
 * of uid PARENT: the same on every process that makes it. */
static uint64_t
child_uid(uint64_t parent, uint32_t seq)
{
  uint64_t h = (parent ^ (0x9e3779b97f4a7c15ull * (seq + 1)))
               * 0xbf58476d1ce4e5b9ull;

  h ^= h >> 31;
  return h != 0 ? h : 1;
}

/* Take IMPL off the list of live communicators. */
static void
unlist(par__mpi *impl)
{
  pthread_mutex_lock(&state_lock);
  if (impl->prev != NULL) {
    impl->prev->next = impl->next;
  } else if (live == impl) {
    live = impl->next;
  }
  if (impl->next != NULL) {
    impl->next->prev = impl->prev;
  }
  pthread_mutex_unlock(&state_lock);
}

/* Free COMM's MPI communicator now if this is the MPI thread of a live
 * MPI, leave it to that thread otherwise, and free the memory either way.
 * Sends still in flight go on (their blocks are freed when they end). */
static void
mpi_destroy(par_comm *comm)
{
  par__mpi *impl = par__mpi_impl(comm);

  unlist(impl);
  if (getpid() != mpi_pid || !mpi_alive()) {
    /* MPI is gone (or belongs to our parent): only memory is left. */
    par__mpi_pending_free(impl->pending);
  } else if (on_mpi_thread()) {
    par__mpi_pending_reap(&impl->pending);
    par__mpi_pending_move(&abandoned, impl->pending);
    MPI_Comm_free(&impl->comm);
  } else {
    orphan *o = malloc(sizeof *o);

    /* Without memory for the note the MPI communicator leaks; that is
     * still better than calling MPI from a finalizer thread. */
    if (o != NULL) {
      o->comm = impl->comm;
      o->pending = impl->pending;
      pthread_mutex_lock(&state_lock);
      o->next = orphans;
      orphans = o;
      atomic_store(&have_orphans, 1);
      pthread_mutex_unlock(&state_lock);
    }
  }
  impl_free(impl);
}

/* Wrap MPI communicator C, which the result then owns, in a par_comm,
 * LISTED among the live communicators or not, with UID (0: no notices
 * about it). */
static int
wrap(MPI_Comm c, int listed, uint64_t uid, par_comm **out)
{
  par__mpi *impl;
  int rank, size, rc;

  MPI_Group group = MPI_GROUP_NULL, world = MPI_GROUP_NULL;
  int *ranks = NULL;

  rc = MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Comm_rank(c, &rank);
  }
  if (rc == MPI_SUCCESS) {
    rc = MPI_Comm_size(c, &size);
  }
  if (rc != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  impl = calloc(1, sizeof *impl);
  if (impl == NULL) {
    return PAR_ENOMEM;
  }
  impl->comm = c;
  impl->all = malloc((size_t) size * sizeof *impl->all);
  impl->heard = calloc((size_t) size, sizeof *impl->heard);
  impl->has_heard = calloc((size_t) size, 1);
  impl->world = malloc((size_t) size * sizeof *impl->world);
  ranks = malloc((size_t) size * sizeof *ranks);
  if (impl->all == NULL || impl->heard == NULL || impl->has_heard == NULL
      || impl->world == NULL || ranks == NULL) {
    rc = PAR_ENOMEM;
    goto fail;
  }
  /* Notices are addressed by rank in MPI_COMM_WORLD. */
  for (int r = 0; r < size; r++) {
    ranks[r] = r;
  }
  rc = MPI_Comm_group(c, &group);
  if (rc == MPI_SUCCESS) {
    rc = MPI_Comm_group(MPI_COMM_WORLD, &world);
  }
  if (rc == MPI_SUCCESS) {
    rc = MPI_Group_translate_ranks(group, size, ranks, world, impl->world);
  }
  if (group != MPI_GROUP_NULL) {
    MPI_Group_free(&group);
  }
  if (world != MPI_GROUP_NULL) {
    MPI_Group_free(&world);
  }
  free(ranks);
  ranks = NULL;
  if (rc != MPI_SUCCESS) {
    rc = PAR_EMPI;
    goto fail;
  }
  rc = par__comm_new(&par__mpi_ops, rank, size, impl, out);
  if (rc != PAR_OK) {
    goto fail;
  }
  impl->owner = *out;
  impl->uid = uid;
  if (listed) {
    pthread_mutex_lock(&state_lock);
    impl->next = live;
    if (live != NULL) {
      live->prev = impl;
    }
    live = impl;
    pthread_mutex_unlock(&state_lock);
  }
  return PAR_OK;
fail:
  free(ranks);
  impl_free(impl);
  return rc;
}

/* Wait until every process of BASE is here, without polling a core flat
 * out as MPI_Comm_dup would for as long as the last one takes to come (it
 * may compute for minutes before it first uses MPI). Over the whole job,
 * the processes agree on the control communicator, which also fails when
 * one has exited instead; over another communicator, a barrier does. */
static int
meet(MPI_Comm base)
{
  MPI_Request req;
  double start = 0;
  int done = 0;

  if (base == MPI_COMM_WORLD && control != NULL) {
    par__mpi_chdr h = {.op = PAR_OPKIND_CONTROL, .root = -1,
                       .type = PAR__BYTES};

    control->coll_seq++;
    control->cur_op = PAR_OPKIND_CONTROL;
    control->cur_seq = control->coll_seq;
    return par__mpi_begin(control, &h, 0);
  }
  if (MPI_Ibarrier(base, &req) != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  for (unsigned iter = 1;; iter++) {
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      return PAR_EMPI;
    }
    if (done) {
      return PAR_OK;
    }
    par__mpi_pace(iter, &start);
  }
}

int
par_comm_mpi_create(MPI_Comm base, par_comm **out)
{
  MPI_Comm dup;
  uint64_t uid = 0;
  int rc;

  if (out == NULL || base == MPI_COMM_NULL) {
    return PAR_EINVAL;
  }
  rc = par_mpi_init();
  if (rc != PAR_OK) {
    return rc;
  }
  if (have_orphans && on_mpi_thread()) {
    reap_orphans();
  }
  rc = meet(base);
  if (rc != PAR_OK) {
    return rc;
  }
  /* Over the whole job, the processes have just agreed on the control
   * communicator: its collective number names the new one alike on all. */
  if (base == MPI_COMM_WORLD && control != NULL) {
    uid = child_uid(par__mpi_impl(control)->uid, control->coll_seq);
  }
  if (MPI_Comm_dup(base, &dup) != MPI_SUCCESS) {
    return PAR_EMPI;
  }
  rc = wrap(dup, 1, uid, out);
  if (rc != PAR_OK) {
    MPI_Comm_free(&dup);
  }
  return rc;
}

int
par_comm_mpi_world(par_comm **out)
{
  return par_comm_mpi_create(MPI_COMM_WORLD, out);
}

MPI_Comm
par_comm_mpi_handle(const par_comm *comm)
{
  if (comm == NULL || comm->ops != &par__mpi_ops) {
    return MPI_COMM_NULL;
  }
  return ((const par__mpi *) comm->impl)->comm;
}

/* PAR_OK if RANKS lists N distinct ranks of PARENT (N >= 1); otherwise
 * PAR_EINVAL with a detail naming the first bad one. */
static int
check_ranks(par_comm *parent, const int *ranks, int n)
{
  char *seen;

  if (n < 1 || ranks == NULL) {
    return par__comm_fail(parent, PAR_EINVAL, "a group needs a rank or more");
  }
  seen = calloc((size_t) parent->size, 1);
  if (seen == NULL) {
    return par__comm_fail(parent, PAR_ENOMEM,
                          "rank %d has no memory to check a list of ranks",
                          parent->rank);
  }
  for (int i = 0; i < n; i++) {
    if (ranks[i] < 0 || ranks[i] >= parent->size || seen[ranks[i]]) {
      int bad = ranks[i];

      free(seen);
      if (bad < 0 || bad >= parent->size) {
        return par__comm_fail(parent, PAR_EINVAL,
                              "rank %d is not in 0..%d", bad,
                              parent->size - 1);
      }
      return par__comm_fail(parent, PAR_EINVAL,
                            "rank %d is listed twice for the group", bad);
    }
    seen[ranks[i]] = 1;
  }
  free(seen);
  return PAR_OK;
}

/* Count a new subgroup of PARENT as a collective of PARENT, and make sure
 * every process lists the same N RANKS before MPI_Comm_create, which would
 * hang on a process that is elsewhere. */
static int
agree_on_ranks(par_comm *parent, const int *ranks, int n)
{
  par__mpi *impl = par__mpi_impl(parent);
  par__mpi_chdr mine = {
      .op = PAR_OPKIND_CONTROL,
      .root = -1,
      .type = PAR__BYTES,
      .count = n > 0 ? (uint64_t) n : 0,
      .digest = n > 0 && ranks != NULL ? par__mpi_digest_ranks(ranks, n) : 0,
  };
  int rc;

  parent->coll_seq++;
  parent->detail[0] = '\0';
  rc = par__mpi_begin(parent, &mine, 0);
  for (int r = 0; r < parent->size && rc == PAR_OK; r++) {
    const par__mpi_chdr *h = &impl->all[r];
    par__op op = {mine.op, mine.seq, PAR__PEER_NONE};
    char x[64], y[64];

    snprintf(x, sizeof x, "listing %llu ranks for a new group",
             (unsigned long long) mine.count);
    if (h->count != mine.count) {
      snprintf(y, sizeof y, "listing %llu", (unsigned long long) h->count);
      rc = par__comm_mismatch(parent, PAR_ESIZE, &op, x, r, NULL, NULL, y);
    } else if (h->digest != mine.digest) {
      rc = par__comm_mismatch(parent, PAR_EMISMATCH, &op, x, r, NULL, NULL,
                              "listing other ranks");
    }
  }
  return rc;
}

int
par_comm_mpi_subgroup(par_comm *parent, const int *ranks, int n,
                      par_comm **out)
{
  par__mpi *impl;
  MPI_Group whole = MPI_GROUP_NULL, part = MPI_GROUP_NULL;
  MPI_Comm c = MPI_COMM_NULL;
  par_comm *sub;
  int rc;

  if (parent == NULL) {
    return PAR_EINVAL;
  }
  if (out == NULL) {
    return par__comm_fail(parent, PAR_EINVAL,
                          "nowhere to put the communicator of a subgroup");
  }
  if (parent->ops != &par__mpi_ops) {
    return par__comm_fail(parent, PAR_EINVAL,
                          "a %s communicator has no MPI subgroups",
                          parent->ops->backend);
  }
  impl = par__mpi_impl(parent);
  rc = agree_on_ranks(parent, ranks, n);
  if (rc != PAR_OK) {
    return rc;
  }
  rc = check_ranks(parent, ranks, n);
  if (rc != PAR_OK) {
    return rc;
  }
  rc = MPI_Comm_group(impl->comm, &whole);
  if (rc != MPI_SUCCESS) {
    return par__mpi_fail(parent, rc, "MPI_Comm_group");
  }
  rc = MPI_Group_incl(whole, n, ranks, &part);
  if (rc != MPI_SUCCESS) {
    rc = par__mpi_fail(parent, rc, "MPI_Group_incl");
    goto done;
  }
  rc = MPI_Comm_create(impl->comm, part, &c);
  if (rc != MPI_SUCCESS) {
    rc = par__mpi_fail(parent, rc, "MPI_Comm_create");
    goto done;
  }
  if (c == MPI_COMM_NULL) {
    *out = NULL;
    rc = PAR_OK;
    goto done;
  }
  rc = wrap(c, 1, impl->uid != 0 ? child_uid(impl->uid, parent->coll_seq)
                                  : 0,
            &sub);
  if (rc != PAR_OK) {
    MPI_Comm_free(&c);
    rc = par__comm_fail(parent, rc, "cannot set up the new group");
    goto done;
  }
  sub->timeout = parent->timeout;
  sub->interrupt = parent->interrupt;
  sub->interrupt_data = parent->interrupt_data;
  *out = sub;
done:
  if (part != MPI_GROUP_NULL) {
    MPI_Group_free(&part);
  }
  MPI_Group_free(&whole);
  return rc;
}

const par__comm_ops par__mpi_ops = {
    .backend = "mpi",
    .send = par__mpi_send,
    .recv = par__mpi_recv,
    .recv_any = par__mpi_recv_any,
    .barrier = par__mpi_barrier,
    .bcast_bytes = par__mpi_bcast_bytes,
    .scatterv_bytes = par__mpi_scatterv_bytes,
    .gatherv_bytes = par__mpi_gatherv_bytes,
    .allgatherv_bytes = par__mpi_allgatherv_bytes,
    .bcast = par__mpi_bcast,
    .scatterv = par__mpi_scatterv,
    .gatherv = par__mpi_gatherv,
    .allgatherv = par__mpi_allgatherv,
    .reduce = par__mpi_reduce,
    .allreduce = par__mpi_allreduce,
    .abort = mpi_abort,
    .destroy = mpi_destroy,
};

