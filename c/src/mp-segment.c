/* mp-segment.c — large values as memory segments (see mp-segment.h).
 *
 * The sender fills a segment with pwrite rather than through a mapping:
 * the kernel then allocates each page as it copies into it, without a
 * page fault per page, and the sender never maps the elements at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parallelizer.h"

#include "mp-segment.h"

#define SEG_MAGIC UINT64_C(0x31304753524150) /* "PARSG01" */

/* The header page. LEN repeats the identity's, so that par__seg_unmap
 * knows how much to unmap from the mapping alone. */
typedef struct seg_header {
  uint64_t magic;
  uint64_t len;
  _Atomic uint32_t opened; /* Receivers that have mapped the segment. */
} seg_header;

_Static_assert(sizeof(seg_header) <= PAR__SEG_DATA, "header page");

/* A segment this process made and keeps open. */
typedef struct seg_entry {
  int fd;
  uint32_t readers; /* 0 while in a batch. */
} seg_entry;

typedef struct seg_list {
  seg_entry *v;
  size_t n, cap;
} seg_list;

/* Sent segments, waiting for their receivers; any thread may send. */
static seg_list pending;
static pthread_mutex_t pending_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Segments made by this thread's current encoding, not yet sent. */
static __thread seg_list batch;

static __thread char detail[256];

static int
fail(int rc, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  return rc;
}

const char *
par__seg_error_detail(void)
{
  return detail;
}

static int
list_push(seg_list *l, seg_entry e)
{
  if (l->n == l->cap) {
    size_t cap = l->cap == 0 ? 8 : 2 * l->cap;
    seg_entry *v = realloc(l->v, cap * sizeof *v);

    if (v == NULL) {
      return PAR_ENOMEM;
    }
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = e;
  return PAR_OK;
}

/* Whether every receiver of E has opened it. A segment whose header
 * cannot be read is done with too: nobody can open it any more. */
static int
complete(const seg_entry *e)
{
  uint32_t opened = 0;

  if (pread(e->fd, &opened, sizeof opened,
            offsetof(seg_header, opened)) != (ssize_t) sizeof opened) {
    return 1;
  }
  return opened >= e->readers;
}

/* Close the pending segments that every receiver has opened or, if ALL,
 * every pending segment. */
static void
sweep(int all)
{
  size_t kept = 0;

  pthread_mutex_lock(&pending_mutex);
  for (size_t i = 0; i < pending.n; i++) {
    if (all || complete(&pending.v[i])) {
      close(pending.v[i].fd);
    } else {
      pending.v[kept++] = pending.v[i];
    }
  }
  pending.n = kept;
  pthread_mutex_unlock(&pending_mutex);
}

/* Write LEN bytes of DATA at OFFSET of FD, however many calls it takes. */
static int
write_all(int fd, const void *data, size_t len, off_t offset)
{
  const char *p = data;

  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, offset);

    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return n < 0 && errno == ENOSPC ? PAR_ENOMEM : PAR_ESYS;
    }
    p += n;
    len -= (size_t) n;
    offset += n;
  }
  return PAR_OK;
}

int
par__seg_create(const void *data, size_t len, par__seg_id *out)
{
  seg_header h;
  struct stat st;
  int fd, rc;

  memset(&h, 0, sizeof h); /* padding included: it is written out */
  h.magic = SEG_MAGIC;
  h.len = len;

  if (len == 0 || len > (size_t) INT64_MAX - PAR__SEG_DATA) {
    return fail(PAR_EINVAL, "a segment of %zu bytes", len);
  }
  sweep(0);
  fd = memfd_create("parallelizer-segment", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    return fail(errno == EMFILE || errno == ENFILE ? PAR_ENOMEM : PAR_ESYS,
                "cannot make a memory segment: %s", strerror(errno));
  }
  rc = write_all(fd, &h, sizeof h, 0);
  if (rc == PAR_OK) {
    rc = write_all(fd, data, len, (off_t) PAR__SEG_DATA);
  }
  if (rc != PAR_OK) {
    rc = fail(rc, "cannot fill a memory segment of %zu bytes: %s", len,
              strerror(errno));
    goto fail;
  }
  /* Receivers map the whole segment: it must never shrink under them. */
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0
      || fstat(fd, &st) != 0) {
    rc = fail(PAR_ESYS, "cannot seal a memory segment: %s", strerror(errno));
    goto fail;
  }
  if (list_push(&batch, (seg_entry){fd, 0}) != PAR_OK) {
    rc = fail(PAR_ENOMEM, "out of memory");
    goto fail;
  }
  *out = (par__seg_id){(int32_t) getpid(), fd, (uint64_t) st.st_ino, len};
  return PAR_OK;

fail:
  close(fd);
  return rc;
}

size_t
par__seg_mark(void)
{
  return batch.n;
}

void
par__seg_commit(size_t mark, uint32_t readers)
{
  pthread_mutex_lock(&pending_mutex);
  for (size_t i = mark; i < batch.n; i++) {
    batch.v[i].readers = readers;
    if (list_push(&pending, batch.v[i]) != PAR_OK) {
      /* Without room to remember it, the segment stays open until the
       * process ends: memory held longer, never a receiver that cannot
       * open what it was sent. */
      continue;
    }
  }
  pthread_mutex_unlock(&pending_mutex);
  batch.n = mark;
}

void
par__seg_abandon(size_t mark)
{
  for (size_t i = mark; i < batch.n; i++) {
    close(batch.v[i].fd);
  }
  batch.n = mark;
}

void
par__seg_release_all(void)
{
  sweep(1);
}

int
par__seg_drained(void)
{
  size_t n;

  sweep(0);
  pthread_mutex_lock(&pending_mutex);
  n = pending.n;
  pthread_mutex_unlock(&pending_mutex);
  return n == 0;
}

size_t
par__seg_pending(void)
{
  size_t n;

  pthread_mutex_lock(&pending_mutex);
  n = pending.n;
  pthread_mutex_unlock(&pending_mutex);
  return n;
}

/* Count this process among the receivers of the segment open as FD and
 * mapped privately at BASE: the header page of the mapping is replaced by
 * a shared mapping of it, which the receiver's count must reach and which
 * par__seg_unmap releases with the rest. */
static int
count_opened(int fd, void *base)
{
  seg_header *h = mmap(base, PAR__SEG_DATA, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, fd, 0);

  if (h == MAP_FAILED) {
    return fail(PAR_ESYS, "cannot map a memory segment's header: %s",
                strerror(errno));
  }
  atomic_fetch_add(&h->opened, 1);
  return PAR_OK;
}

int
par__seg_map(const par__seg_id *id, void **data)
{
  char path[64];
  struct stat st;
  const seg_header *h;
  size_t total;
  void *base;
  int fd, seals, rc;

  if (id->pid <= 0 || id->fd < 0 || id->len == 0
      || id->len > (uint64_t) INT64_MAX - PAR__SEG_DATA) {
    return fail(PAR_EMALFORMED, "a memory segment's identity is malformed");
  }
  total = PAR__SEG_DATA + (size_t) id->len;
  /* Another process's descriptor: allowed to processes of the same user,
   * as for ptrace's read access. */
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) id->pid, (int) id->fd);
  fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return fail(PAR_ENOENT, "cannot open the memory segment of process %d "
                "(%s): the process has ended", (int) id->pid,
                strerror(errno));
  }
  seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
      || (uint64_t) st.st_ino != id->ino || (uint64_t) st.st_size != total
      || seals < 0 || !(seals & F_SEAL_SHRINK)) {
    rc = fail(PAR_EMALFORMED, "descriptor %d of process %d is not the "
              "memory segment of %" PRIu64 " bytes that was sent",
              (int) id->fd, (int) id->pid, id->len);
    goto out;
  }
  base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (base == MAP_FAILED) {
    rc = fail(errno == ENOMEM ? PAR_ENOMEM : PAR_ESYS,
              "cannot map a memory segment of %" PRIu64 " bytes: %s",
              id->len, strerror(errno));
    goto out;
  }
  h = base;
  if (h->magic != SEG_MAGIC || h->len != id->len) {
    munmap(base, total);
    rc = fail(PAR_EMALFORMED, "descriptor %d of process %d is not a memory "
              "segment", (int) id->fd, (int) id->pid);
    goto out;
  }
  rc = count_opened(fd, base);
  if (rc != PAR_OK) {
    munmap(base, total);
    goto out;
  }
  *data = (char *) base + PAR__SEG_DATA;

out:
  close(fd);
  return rc;
}

void
par__seg_unmap(void *data)
{
  char *base = (char *) data - PAR__SEG_DATA;
  const seg_header *h = (const seg_header *) base;

  munmap(base, PAR__SEG_DATA + (size_t) h->len);
}
