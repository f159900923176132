/* shm-arena.c — arenas as this process sees them: the memfds, their
 * mappings, the registry of them, runs, pins, and when arenas go.
 *
 * The registry is process-local: one par_shm_arena per arena this process
 * has (mapped, or a memfd made for a run and not mapped yet), under one
 * mutex. A forked process inherits the registry with the mappings; the
 * OWNER field, a pid, then tells it that it borrows them. The arenas of
 * the registry (MANAGED: those this process shares into or has opened)
 * are closed as soon as the process neither holds anything in them, nor
 * uses them (between par_shm_home or par_shm_arena_attach and
 * par_shm_arena_leave), nor runs workers that borrow them.
 *
 * Lock order: the registry mutex before any arena lock. The finalizers of
 * a collector call par_shm_release, which takes the registry mutex and,
 * after giving it back, the arena lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "shm-internal.h"

_Static_assert(sizeof(shm_header) <= SHM_HEADER_SIZE,
               "the arena header must fit its pages");
_Static_assert(sizeof(shm_block) == SHM_ALIGN, "block headers are 64 bytes");
_Static_assert(sizeof(shm_slot) == 64, "dict slots are 64 bytes");
_Static_assert((int) SHM_BLOB > (int) PAR_SHM_LIST
                   && (int) SHM_BLOB > (int) PAR_SHM_DICT
                   && (int) SHM_BLOB > (int) PAR_SHM_VECTOR,
               "blocks of other kinds than objects have kinds of their own");

/* The name memfds show in /proc/PID/maps ("/memfd:parallelizer-shm"). */
#define MEMFD_NAME "parallelizer-shm"

static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static par_shm_arena *registry;
static par_shm_arena *home;

/* Runs in progress in this process, innermost first. Each knows the
 * arenas it borrows: every arena of the registry when it began. */
typedef struct run {
  struct run *up;
  par_shm_arena **arenas;
  size_t n;
  par_shm_arena *made; /* the home memfd made for this run, or NULL */
} run;

static run *runs;

/* Objects this process holds for messages in flight. */
typedef struct pin {
  par_shm_arena *arena;
  par_shm_ref ref;
} pin;

static pin *pins;
static size_t npins, pins_cap;

/* --- This process -------------------------------------------------------- */

static pid_t this_pid;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
after_fork_in_child(void)
{
  this_pid = getpid();
  /* The child has only the thread that forked; no other can hold the
   * mutex any more, whatever it held in the parent. */
  pthread_mutex_init(&registry_mutex, NULL);
}

static void
init_once(void)
{
  this_pid = getpid();
  pthread_atfork(NULL, NULL, after_fork_in_child);
}

pid_t
par__shm_pid(void)
{
  pthread_once(&once, init_once);
  return this_pid;
}

/* --- Capacity ------------------------------------------------------------ */

/* BYTES with an optional K, M, G or T suffix; 0 if TEXT is not that. */
static size_t
parse_size(const char *text)
{
  char *end;
  unsigned long long n;
  int shift = 0;

  errno = 0;
  n = strtoull(text, &end, 10);
  if (errno != 0 || end == text) {
    return 0;
  }
  switch (*end) {
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  case 't': case 'T': shift = 40; end++; break;
  default: break;
  }
  if (*end != '\0' || n > (SIZE_MAX >> shift)) {
    return 0;
  }
  return (size_t) n << shift;
}

size_t
par_shm_default_capacity(void)
{
  const char *env = getenv("PARALLELIZER_SHM_CAPACITY");
  size_t cap = 0;
  struct rlimit rl;

  if (env != NULL) {
    cap = parse_size(env);
  }
  if (cap == 0) {
    long pages = sysconf(_SC_PHYS_PAGES);
    long size = sysconf(_SC_PAGESIZE);

    cap = pages > 0 && size > 0 ? (size_t) pages * (size_t) size
                                : (size_t) 1 << 30;
  }
  /* The whole capacity is reserved as address space in every process
   * that maps the arena: leave room for everything else. */
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
      && cap > rl.rlim_cur / 4) {
    cap = rl.rlim_cur / 4;
  }
  if (cap < ((size_t) 1 << 20)) {
    cap = (size_t) 1 << 20;
  }
  return (cap + SHM_PAGE - 1) / SHM_PAGE * SHM_PAGE;
}

/* --- Making and mapping -------------------------------------------------- */

static uint64_t
random64(void)
{
  uint64_t x = 0;

  if (getrandom(&x, sizeof x, 0) != (ssize_t) sizeof x) {
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    x = (uint64_t) t.tv_nsec * UINT64_C(0x9e3779b97f4a7c15)
        ^ (uint64_t) getpid() << 32 ^ (uint64_t) t.tv_sec;
  }
  return x != 0 ? x : 1;
}

/* A new memfd of CAPACITY bytes: readable by this user only, its size
 * sealed so that no process can make the others' mappings fault. */
static int
make_memfd(size_t capacity, int *out)
{
  int fd = memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);

  if (fd < 0) {
    return par__shm_fail(PAR_ESYS, "memfd_create: %s", strerror(errno));
  }
  if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t) capacity) != 0) {
    int err = errno;

    close(fd);
    return par__shm_fail(PAR_ESYS, "cannot size a shared arena of %zu "
                         "bytes: %s", capacity, strerror(err));
  }
  fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  *out = fd;
  return PAR_OK;
}

static par_shm_arena *
new_entry(uint64_t id, int fd, size_t capacity, pid_t owner)
{
  par_shm_arena *a = calloc(1, sizeof *a);

  if (a == NULL) {
    return NULL;
  }
  a->id = id;
  a->fd = fd;
  a->capacity = capacity;
  a->owner = owner;
  a->next = registry;
  registry = a;
  return a;
}

static void
unlink_entry(par_shm_arena *a)
{
  for (par_shm_arena **p = &registry; *p != NULL; p = &(*p)->next) {
    if (*p == a) {
      *p = a->next;
      break;
    }
  }
  if (home == a) {
    home = NULL;
  }
}

/* Write a fresh header into A's first pages. */
static int
init_header(par_shm_arena *a)
{
  shm_header *h = shm_hdr(a);
  int rc;

  h->magic = SHM_MAGIC;
  h->id = a->id;
  h->capacity = a->capacity;
  h->seed = random64();
  h->creator = (uint64_t) par__shm_pid();
  rc = par__shm_lock_init(&h->lock, false);
  if (rc != PAR_OK) {
    return rc;
  }
  h->top = SHM_HEADER_SIZE;
  h->borrowers = (uint64_t) a->runs;
  return PAR_OK;
}

int
par__shm_map(par_shm_arena *a)
{
  shm_header *h;
  uint64_t state = SHM_STATE_FRESH;
  void *base;
  int rc;

  if (a->base != NULL) {
    return PAR_OK;
  }
  base = mmap(NULL, a->capacity, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_NORESERVE, a->fd, 0);
  if (base == MAP_FAILED) {
    return par__shm_fail(PAR_ESYS, "cannot map a shared arena of %zu "
                         "bytes: %s", a->capacity, strerror(errno));
  }
  a->base = base;
  h = shm_hdr(a);
  /* A memfd made for a run starts as zeros; the first process to map it,
   * whichever it is, writes the header, and the others wait for it. */
  if (atomic_compare_exchange_strong(&h->state, &state,
                                     SHM_STATE_INITIALIZING)) {
    rc = init_header(a);
    if (rc != PAR_OK) {
      goto fail;
    }
    atomic_store_explicit(&h->state, SHM_STATE_READY, memory_order_release);
  } else {
    for (int i = 0; atomic_load_explicit(&h->state, memory_order_acquire)
                    != SHM_STATE_READY; i++) {
      struct timespec pause = {0, 100000};

      if (i > 100000) { /* 10 s: the first mapper died half way. */
        rc = par__shm_fail(PAR_ESYS, "a shared arena was never "
                           "initialized: the process that began died");
        goto fail;
      }
      nanosleep(&pause, NULL);
    }
  }
  if (h->magic != SHM_MAGIC || h->id != a->id
      || h->capacity != a->capacity) {
    rc = par__shm_fail(PAR_ENOENT, "the memory found is not the expected "
                       "shared arena");
    goto fail;
  }
  return PAR_OK;

fail:
  munmap(a->base, a->capacity);
  a->base = NULL;
  return rc;
}

int
par_shm_arena_create(size_t capacity, par_shm_arena **out)
{
  par_shm_arena *a;
  int fd, rc;

  if (capacity == 0) {
    capacity = par_shm_default_capacity();
  }
  capacity = (capacity + SHM_PAGE - 1) / SHM_PAGE * SHM_PAGE;
  if (capacity < SHM_HEADER_SIZE + SHM_PAGE) {
    return par__shm_fail(PAR_EINVAL, "a shared arena needs at least %d "
                         "bytes", SHM_HEADER_SIZE + SHM_PAGE);
  }
  rc = make_memfd(capacity, &fd);
  if (rc != PAR_OK) {
    return rc;
  }
  pthread_mutex_lock(&registry_mutex);
  a = new_entry(random64(), fd, capacity, par__shm_pid());
  if (a == NULL) {
    pthread_mutex_unlock(&registry_mutex);
    close(fd);
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  rc = par__shm_map(a);
  if (rc != PAR_OK) {
    unlink_entry(a);
    pthread_mutex_unlock(&registry_mutex);
    close(fd);
    free(a);
    return rc;
  }
  pthread_mutex_unlock(&registry_mutex);
  *out = a;
  return PAR_OK;
}

static par_shm_arena *
find_locked(uint64_t id)
{
  for (par_shm_arena *a = registry; a != NULL; a = a->next) {
    if (a->id == id) {
      return a;
    }
  }
  return NULL;
}

int
par_shm_arena_attach(uint64_t id, pid_t pid, int fd, par_shm_arena **out)
{
  char path[64];
  struct stat st;
  par_shm_arena *a;
  int own, rc;

  pthread_mutex_lock(&registry_mutex);
  a = find_locked(id);
  if (a != NULL) {
    rc = par__shm_map(a);
    if (rc == PAR_OK) {
      a->holders++; /* in use, until par_shm_arena_leave */
      *out = a;
    }
    pthread_mutex_unlock(&registry_mutex);
    return rc;
  }
  /* Another process's descriptor: allowed to processes of the same user,
   * as for ptrace's read access. */
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) pid, fd);
  own = open(path, O_RDWR | O_CLOEXEC);
  if (own < 0) {
    int err = errno;

    pthread_mutex_unlock(&registry_mutex);
    return par__shm_fail(PAR_ENOENT, "cannot open the shared arena of "
                         "process %d (%s): the process has ended or let "
                         "the arena go, or it runs on another machine",
                         (int) pid, strerror(err));
  }
  if (fstat(own, &st) != 0 || !S_ISREG(st.st_mode)
      || st.st_size < SHM_HEADER_SIZE) {
    pthread_mutex_unlock(&registry_mutex);
    close(own);
    return par__shm_fail(PAR_ENOENT, "descriptor %d of process %d is not "
                         "a shared arena", fd, (int) pid);
  }
  a = new_entry(id, own, (size_t) st.st_size, par__shm_pid());
  if (a == NULL) {
    pthread_mutex_unlock(&registry_mutex);
    close(own);
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  rc = par__shm_map(a);
  if (rc != PAR_OK) {
    unlink_entry(a);
    pthread_mutex_unlock(&registry_mutex);
    close(own);
    free(a);
    return rc;
  }
  a->managed = 1;
  a->holders = 1; /* in use, until par_shm_arena_leave */
  pthread_mutex_unlock(&registry_mutex);
  *out = a;
  return PAR_OK;
}

static void
close_locked(par_shm_arena *a)
{
  unlink_entry(a);
  if (a->base != NULL) {
    munmap(a->base, a->capacity);
  }
  close(a->fd);
  free(a);
}

/* Close A if it is the registry's and nothing of this process uses it:
 * no hold, no use, no run. The registry mutex is held. */
static void
close_if_unused_locked(par_shm_arena *a)
{
  if (a->managed && a->holders == 0 && a->runs == 0 && !shm_borrowed(a)) {
    close_locked(a);
  }
}

void
par_shm_arena_close(par_shm_arena *a)
{
  if (a == NULL) {
    return;
  }
  pthread_mutex_lock(&registry_mutex);
  close_locked(a);
  pthread_mutex_unlock(&registry_mutex);
}

int
par_shm_home(par_shm_arena **out)
{
  par_shm_arena *a;
  int rc;

  pthread_mutex_lock(&registry_mutex);
  if (home == NULL) {
    int fd;
    size_t capacity = par_shm_default_capacity();

    rc = make_memfd(capacity, &fd);
    if (rc != PAR_OK) {
      pthread_mutex_unlock(&registry_mutex);
      return rc;
    }
    home = new_entry(random64(), fd, capacity, par__shm_pid());
    if (home == NULL) {
      pthread_mutex_unlock(&registry_mutex);
      close(fd);
      return par__shm_fail(PAR_ENOMEM, "out of memory");
    }
    home->managed = 1;
  }
  a = home;
  rc = par__shm_map(a);
  if (rc != PAR_OK) {
    if (a->holders == 0 && a->runs == 0) {
      close_locked(a);
    }
    pthread_mutex_unlock(&registry_mutex);
    return rc;
  }
  a->holders++; /* in use, until par_shm_arena_leave */
  pthread_mutex_unlock(&registry_mutex);
  *out = a;
  return PAR_OK;
}

void
par_shm_arena_leave(par_shm_arena *a)
{
  pthread_mutex_lock(&registry_mutex);
  if (a->holders > 0) {
    a->holders--;
  }
  close_if_unused_locked(a);
  pthread_mutex_unlock(&registry_mutex);
}

par_shm_arena *
par_shm_arena_containing(const void *addr)
{
  const char *p = addr;
  par_shm_arena *found = NULL;

  pthread_mutex_lock(&registry_mutex);
  for (par_shm_arena *a = registry; a != NULL; a = a->next) {
    if (a->base != NULL && p >= a->base && p < a->base + a->capacity) {
      found = a;
      break;
    }
  }
  pthread_mutex_unlock(&registry_mutex);
  return found;
}

uint64_t
par_shm_arena_id(const par_shm_arena *a)
{
  return a->id;
}

int
par_shm_arena_fd(const par_shm_arena *a)
{
  return a->fd;
}

size_t
par_shm_arena_capacity(const par_shm_arena *a)
{
  return a->capacity;
}

int
par_shm_arena_borrowed(const par_shm_arena *a)
{
  return shm_borrowed(a);
}

int
par_shm_arena_stats(par_shm_arena *a, par_shm_stats *out)
{
  shm_header *h;
  int rc = par__shm_map(a);

  if (rc != PAR_OK) {
    return rc;
  }
  h = shm_hdr(a);
  rc = par__shm_lock_take(a, &h->lock, NULL, NULL);
  if (rc != PAR_OK) {
    return rc;
  }
  out->capacity = h->capacity;
  out->used = h->top;
  out->live_objects = h->live_objects;
  out->live_bytes = h->live_bytes;
  out->free_bytes = h->free_bytes;
  out->borrowers = h->borrowers;
  out->zero_listed = h->zero_listed;
  out->recoveries = atomic_load(&h->recoveries);
  par__shm_lock_give(&h->lock);
  return PAR_OK;
}

/* --- Runs ---------------------------------------------------------------- */

/* Add DELTA to the borrowers of mapped arena A; the last run to end frees
 * what waited for it. */
static void
add_borrowers(par_shm_arena *a, int delta)
{
  shm_header *h = shm_hdr(a);

  if (par__shm_lock_take(a, &h->lock, NULL, NULL) != PAR_OK) {
    return;
  }
  if (delta > 0 || h->borrowers > 0) {
    par__shm_jset(a, &h->lock, &h->borrowers, h->borrowers + delta);
  }
  par__shm_commit(&h->lock);
  if (h->borrowers == 0) {
    par__shm_flush_zero_list(a);
  }
  par__shm_lock_give(&h->lock);
}

int
par_shm_run_begin(void)
{
  run *r = calloc(1, sizeof *r);
  size_t n = 1;

  if (r == NULL) {
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  pthread_mutex_lock(&registry_mutex);
  if (home == NULL) {
    /* The workers need an arena they all have, to share what they make
     * with each other and with this process: a memfd, which the first
     * process to use maps. Mapping it here would cost every run the
     * faults of its first pages, shared or not. */
    int fd;
    size_t capacity = par_shm_default_capacity();

    if (make_memfd(capacity, &fd) == PAR_OK) {
      home = new_entry(random64(), fd, capacity, par__shm_pid());
      if (home == NULL) {
        close(fd);
      } else {
        home->managed = 1;
      }
      r->made = home;
    }
  }
  for (par_shm_arena *a = registry; a != NULL; a = a->next) {
    n++;
  }
  r->arenas = calloc(n, sizeof *r->arenas);
  if (r->arenas == NULL) {
    pthread_mutex_unlock(&registry_mutex);
    free(r);
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  for (par_shm_arena *a = registry; a != NULL; a = a->next) {
    a->runs++;
    r->arenas[r->n++] = a;
    if (a->base != NULL) {
      add_borrowers(a, 1);
    }
  }
  r->up = runs;
  runs = r;
  pthread_mutex_unlock(&registry_mutex);
  return PAR_OK;
}

void
par_shm_run_end(void)
{
  run *r;

  pthread_mutex_lock(&registry_mutex);
  r = runs;
  if (r == NULL) {
    pthread_mutex_unlock(&registry_mutex);
    return;
  }
  runs = r->up;
  for (size_t i = 0; i < r->n; i++) {
    par_shm_arena *a = r->arenas[i];

    a->runs--;
    /* An arena first mapped during the run started its borrowers count at
     * RUNS, this run included. A memfd made for the run that this process
     * never mapped is closed: the workers are gone, and whatever they
     * made in it, nobody here received. So is an arena that this process
     * no longer uses. */
    if (a->base != NULL) {
      add_borrowers(a, -1);
      close_if_unused_locked(a);
    } else if (a == r->made && a->runs == 0) {
      close_locked(a);
    }
  }
  pthread_mutex_unlock(&registry_mutex);
  free(r->arenas);
  free(r);
}

/* --- Holds, pins, and unused arenas -------------------------------------- */

void
par__shm_count_hold(par_shm_arena *a)
{
  pthread_mutex_lock(&registry_mutex);
  a->holders++;
  pthread_mutex_unlock(&registry_mutex);
}

int
par_shm_hold(par_shm_arena *a, par_shm_ref ref)
{
  par__shm_count_hold(a);
  if (!shm_borrowed(a)) {
    par__shm_ref_add(a, ref, 1, false);
  }
  return PAR_OK;
}

int
par_shm_release(par_shm_arena *a, par_shm_ref ref)
{
  int last;

  if (!shm_borrowed(a)) {
    par__shm_ref_add(a, ref, -1, false);
  }
  pthread_mutex_lock(&registry_mutex);
  if (a->holders > 0) {
    a->holders--;
  }
  last = a->holders == 0 && !shm_borrowed(a);
  /* The last object of this process in A is gone: nothing of this process
   * refers to A's memory any more, so it can go too (the kernel frees it
   * when no process maps it). */
  close_if_unused_locked(a);
  pthread_mutex_unlock(&registry_mutex);
  return last;
}

int
par_shm_pin(par_shm_arena *a, par_shm_ref ref)
{
  pthread_mutex_lock(&registry_mutex);
  if (npins == pins_cap) {
    size_t cap = pins_cap == 0 ? 16 : 2 * pins_cap;
    pin *p = realloc(pins, cap * sizeof *p);

    if (p == NULL) {
      pthread_mutex_unlock(&registry_mutex);
      return par__shm_fail(PAR_ENOMEM, "out of memory");
    }
    pins = p;
    pins_cap = cap;
  }
  pins[npins].arena = a;
  pins[npins].ref = ref;
  npins++;
  pthread_mutex_unlock(&registry_mutex);
  return par_shm_hold(a, ref);
}

void
par_shm_unpin_all(void)
{
  pin *list;
  size_t n;

  pthread_mutex_lock(&registry_mutex);
  list = pins;
  n = npins;
  pins = NULL;
  npins = pins_cap = 0;
  pthread_mutex_unlock(&registry_mutex);
  for (size_t i = 0; i < n; i++) {
    par_shm_release(list[i].arena, list[i].ref);
  }
  free(list);
}

int
par_shm_close_unused(void)
{
  int closed = 0;

  pthread_mutex_lock(&registry_mutex);
  for (par_shm_arena *a = registry, *next; a != NULL; a = next) {
    next = a->next;
    if (a->managed && a->holders == 0 && a->runs == 0 && !shm_borrowed(a)) {
      close_locked(a);
      closed++;
    }
  }
  pthread_mutex_unlock(&registry_mutex);
  return closed;
}
