/* shm-lock.c — robust process-shared locks, and the journals that make a
 * dead holder harmless.
 *
 * A process may die (SIGKILL, a crash) at any instant, holding a lock in
 * the middle of a change. The mutexes are robust, so the next process to
 * lock one is told (EOWNERDEAD); what it then needs is data as it was
 * before the unfinished change. Every word a locked change writes goes
 * through par__shm_jset, which first appends the word's offset and old
 * value to the lock's journal, and par__shm_commit empties the journal
 * once the change is complete. Recovery applies the journal backwards,
 * then marks the mutex consistent. The order of the stores, which the
 * fences below enforce, is what makes this exact: an entry is complete
 * before the count that covers it, and the count before the word changes.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm-internal.h"

/* --- Failure details ----------------------------------------------------- */

static __thread char detail[256];

const char *
par_shm_error_detail(void)
{
  return detail;
}

int
par__shm_fail(int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return code;
}

/* --- Fault injection ----------------------------------------------------- */

static int crash_at;
static int crash_count;

void
par_shm_test_crash_at(int n)
{
  crash_at = n;
  crash_count = 0;
}

void
par__shm_crash_point(void)
{
  if (crash_at > 0 && ++crash_count == crash_at) {
    raise(SIGKILL);
  }
}

/* --- Journals ------------------------------------------------------------ */

void
par__shm_jset(par_shm_arena *a, shm_lock *l, uint64_t *word, uint64_t value)
{
  shm_journal *j = &l->journal;
  uint64_t n = atomic_load_explicit(&j->count, memory_order_relaxed);

  if (n >= SHM_JOURNAL_MAX) {
    /* A change larger than the journal is a bug of this file's callers:
     * every operation is written to fit. */
    abort();
  }
  j->e[n].off = (uint64_t) ((char *) word - a->base);
  j->e[n].old = *word;
  atomic_store_explicit(&j->count, n + 1, memory_order_release);
  par__shm_crash_point();
  /* The count must be visible before the word changes. */
  atomic_thread_fence(memory_order_release);
  *(volatile uint64_t *) word = value;
}

void
par__shm_commit(shm_lock *l)
{
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&l->journal.count, 0, memory_order_release);
}

/* Undo the unfinished change of a holder that died. */
static void
undo(par_shm_arena *a, shm_lock *l)
{
  shm_journal *j = &l->journal;
  uint64_t n = atomic_load_explicit(&j->count, memory_order_acquire);

  if (n > SHM_JOURNAL_MAX) {
    n = SHM_JOURNAL_MAX;
  }
  while (n-- > 0) {
    uint64_t off = j->e[n].off;

    /* A word outside the arena cannot have been journaled; an entry that
     * says so was being written when its process died, and was never
     * counted. Skip it rather than trust it. */
    if (off % sizeof(uint64_t) == 0 && off < a->capacity) {
      *(uint64_t *) (a->base + off) = j->e[n].old;
    }
  }
  atomic_store_explicit(&j->count, 0, memory_order_release);
  atomic_fetch_add(&shm_hdr(a)->recoveries, 1);
}

/* --- Locks --------------------------------------------------------------- */

int
par__shm_lock_init(shm_lock *l, bool recursive)
{
  pthread_mutexattr_t attr;
  int err;

  memset(l, 0, sizeof *l);
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (recursive) {
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  }
  err = pthread_mutex_init(&l->mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (err != 0) {
    return par__shm_fail(PAR_ESYS, "cannot make a shared lock: %s",
                         strerror(err));
  }
  return PAR_OK;
}

/* The outcome ERR of a lock call: recover from a dead holder, or fail. */
static int
locked(par_shm_arena *a, shm_lock *l, int err)
{
  if (err == EOWNERDEAD) {
    undo(a, l);
    pthread_mutex_consistent(&l->mutex);
    return PAR_OK;
  }
  if (err == ENOTRECOVERABLE) {
    return par__shm_fail(PAR_ESYS, "a shared lock is unusable: a process "
                         "died while recovering it");
  }
  if (err != 0) {
    return par__shm_fail(PAR_ESYS, "cannot take a shared lock: %s",
                         strerror(err));
  }
  return PAR_OK;
}

int
par__shm_lock_take(par_shm_arena *a, shm_lock *l, int (*check)(void *),
                   void *data)
{
  int err;

  if (check == NULL) {
    return locked(a, l, pthread_mutex_lock(&l->mutex));
  }
  /* Waits are sliced so that the caller can be interrupted: a process
   * waiting for a lock that another process holds for long (a slow
   * update) must still answer Ctrl-C. */
  for (;;) {
    struct timespec until;

    err = pthread_mutex_trylock(&l->mutex);
    if (err != EBUSY) {
      return locked(a, l, err);
    }
    if (check(data)) {
      return par__shm_fail(PAR_EINTR, "interrupted while waiting for a "
                           "shared lock");
    }
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 20 * 1000 * 1000;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    err = pthread_mutex_clocklock(&l->mutex, CLOCK_MONOTONIC, &until);
    if (err != ETIMEDOUT) {
      return locked(a, l, err);
    }
  }
}

int
par__shm_lock_try(par_shm_arena *a, shm_lock *l)
{
  int err = pthread_mutex_trylock(&l->mutex);

  return err == EBUSY ? 1 : locked(a, l, err);
}

void
par__shm_lock_give(shm_lock *l)
{
  pthread_mutex_unlock(&l->mutex);
}
