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
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parallelizer.h"

#include "mp-segment.h"

#define SEG_MAGIC UINT64_C(0x32304753524150) /* "PARSG02" */

/* Segments kept for reuse once their receivers have let them go: at most
 * this many bytes of them, and only for messages of at least half their
 * size. */
#define POOL_BYTES ((size_t) 64 << 20)

/* The header page, which every receiver maps shared (count_opened). SIZE
 * is the room for elements and never changes; LEN and GEN describe the
 * current message, and change only when the sender reuses the segment,
 * which it does only once OPENED has reached the number of receivers of
 * the message before and MAPPED is 0 (nobody maps it). A receiver counts
 * itself in MAPPED before OPENED, so that a sender that sees OPENED
 * complete sees its mapping too. */
typedef struct seg_header {
  uint64_t magic;
  uint64_t size;
  uint64_t len;
  uint64_t gen;
  _Atomic uint32_t opened; /* Receivers of this message that mapped it. */
  _Atomic uint32_t mapped; /* Receivers' mappings that are alive. */
} seg_header;

_Static_assert(sizeof(seg_header) <= PAR__SEG_DATA, "header page");

/* A segment this process made and keeps open. HEADER is the sender's
 * shared mapping of the header page; DATA its shared mapping of the
 * elements, made when the segment is first reused. */
typedef struct seg_entry {
  int fd;
  uint32_t readers; /* 0 while in a batch. */
  uint64_t ino;
  size_t size;
  seg_header *header;
  unsigned char *data;
} seg_entry;

typedef struct seg_list {
  seg_entry *v;
  size_t n, cap;
} seg_list;

/* Sent segments, waiting for their receivers or for reuse; any thread
 * may send. */
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

static void
entry_close(seg_entry *e)
{
  if (e->data != NULL) {
    munmap(e->data, e->size);
  }
  munmap(e->header, PAR__SEG_DATA);
  close(e->fd);
}

/* Whether every receiver of E's message has mapped it. */
static int
complete(const seg_entry *e)
{
  return atomic_load(&e->header->opened) >= e->readers;
}

/* Whether E can carry a new message: complete, and nobody maps it. */
static int
idle(const seg_entry *e)
{
  return complete(e) && atomic_load(&e->header->mapped) == 0;
}

/* Keep, of the pending segments whose receivers have all mapped them, the
 * most recent up to POOL_BYTES for reuse; close the others or, if ALL,
 * every pending segment. */
static void
sweep(int all)
{
  size_t kept = 0, pooled = 0;

  pthread_mutex_lock(&pending_mutex);
  for (size_t i = pending.n; i-- > 0;) {
    seg_entry *e = &pending.v[i];

    if (!all && complete(e) && pooled + e->size <= POOL_BYTES) {
      pooled += e->size;
    } else if (all || complete(e)) {
      entry_close(e);
      e->fd = -1;
    }
  }
  for (size_t i = 0; i < pending.n; i++) {
    if (pending.v[i].fd >= 0) {
      pending.v[kept++] = pending.v[i];
    }
  }
  pending.n = kept;
  pthread_mutex_unlock(&pending_mutex);
}

/* Take out of the pending list a segment that can carry a message of LEN
 * bytes, into *OUT; return whether there was one. */
static int
take_idle(size_t len, seg_entry *out)
{
  int found = 0;

  pthread_mutex_lock(&pending_mutex);
  for (size_t i = pending.n; i-- > 0;) {
    seg_entry *e = &pending.v[i];

    if (e->size >= len && e->size / 2 <= len && idle(e)) {
      *out = *e;
      memmove(e, e + 1, (pending.n - i - 1) * sizeof *e);
      pending.n--;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&pending_mutex);
  return found;
}

/* Reuse E for the LEN bytes at DATA: copy them in through the sender's
 * own mapping, whose pages stay mapped from one use to the next. */
static int
reuse(seg_entry *e, const void *data, size_t len, par__seg_id *out)
{
  seg_header *h = e->header;

  if (e->data == NULL) {
    void *p = mmap(NULL, e->size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, e->fd, (off_t) PAR__SEG_DATA);

    if (p == MAP_FAILED) {
      return fail(PAR_ESYS, "cannot map a memory segment: %s",
                  strerror(errno));
    }
    e->data = p;
  }
  memcpy(e->data, data, len);
  h->len = len;
  h->gen++;
  atomic_store(&h->opened, 0);
  e->readers = 0;
  if (list_push(&batch, *e) != PAR_OK) {
    entry_close(e);
    return fail(PAR_ENOMEM, "out of memory");
  }
  *out = (par__seg_id){(int32_t) getpid(), e->fd, e->ino, len, h->gen};
  return PAR_OK;
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
  seg_entry e = {-1, 0, 0, 0, NULL, NULL};
  struct stat st;
  int rc;

  if (len == 0 || len > (size_t) INT64_MAX - PAR__SEG_DATA) {
    return fail(PAR_EINVAL, "a segment of %zu bytes", len);
  }
  sweep(0);
  if (take_idle(len, &e)) {
    return reuse(&e, data, len, out);
  }
  e.fd = memfd_create("parallelizer-segment",
                      MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (e.fd < 0) {
    return fail(errno == EMFILE || errno == ENFILE ? PAR_ENOMEM : PAR_ESYS,
                "cannot make a memory segment: %s", strerror(errno));
  }
  memset(&h, 0, sizeof h); /* padding included: it is written out */
  h.magic = SEG_MAGIC;
  h.size = len;
  h.len = len;
  /* Written with pwrite, not through a mapping: the kernel allocates each
   * page as it copies into it, without a page fault per page. */
  rc = write_all(e.fd, &h, sizeof h, 0);
  if (rc == PAR_OK) {
    rc = write_all(e.fd, data, len, (off_t) PAR__SEG_DATA);
  }
  if (rc != PAR_OK) {
    rc = fail(rc, "cannot fill a memory segment of %zu bytes: %s", len,
              strerror(errno));
    close(e.fd);
    return rc;
  }
  /* Receivers map the whole segment: it must never shrink under them. */
  if (fcntl(e.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
          != 0
      || fstat(e.fd, &st) != 0) {
    rc = fail(PAR_ESYS, "cannot seal a memory segment: %s", strerror(errno));
    close(e.fd);
    return rc;
  }
  e.header = mmap(NULL, PAR__SEG_DATA, PROT_READ | PROT_WRITE, MAP_SHARED,
                  e.fd, 0);
  if (e.header == MAP_FAILED) {
    rc = fail(PAR_ESYS, "cannot map a memory segment's header: %s",
              strerror(errno));
    close(e.fd);
    return rc;
  }
  e.ino = (uint64_t) st.st_ino;
  e.size = len;
  if (list_push(&batch, e) != PAR_OK) {
    entry_close(&e);
    return fail(PAR_ENOMEM, "out of memory");
  }
  *out = (par__seg_id){(int32_t) getpid(), e.fd, e.ino, len, 0};
  return PAR_OK;
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
    entry_close(&batch.v[i]);
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
  int drained = 1;

  sweep(0);
  pthread_mutex_lock(&pending_mutex);
  for (size_t i = 0; i < pending.n; i++) {
    drained = drained && complete(&pending.v[i]);
  }
  pthread_mutex_unlock(&pending_mutex);
  return drained;
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

/* Whether process PID has ended: gone, or a zombie that its parent has
 * not reaped yet (a worker that died keeps its pid until the join). */
static bool
process_ended(int64_t pid)
{
  char path[64], buf[128];
  const char *state;
  ssize_t n;
  int fd;

  snprintf(path, sizeof path, "/proc/%" PRId64 "/stat", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return true;
  }
  n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) {
    return true;
  }
  buf[n] = '\0';
  /* "PID (COMM) STATE ...": COMM may hold spaces and parentheses. */
  state = strrchr(buf, ')');
  return state != NULL && state[1] == ' '
         && (state[2] == 'Z' || state[2] == 'X');
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
  atomic_fetch_add(&h->mapped, 1);
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
  int fd, seals, rc, err;

  if (id->pid <= 0 || id->fd < 0 || id->len == 0
      || id->len > (uint64_t) INT64_MAX - PAR__SEG_DATA) {
    return fail(PAR_EMALFORMED, "a memory segment's identity is malformed");
  }
  /* Another process's descriptor: allowed to processes of the same user,
   * as for ptrace's read access. */
  snprintf(path, sizeof path, "/proc/%d/fd/%d", (int) id->pid, (int) id->fd);
  fd = open(path, O_RDWR | O_CLOEXEC);
  err = errno;
  if (fd < 0 && err == ENOENT && process_ended(id->pid)) {
    /* The sender died between its send and this open: a peer that left,
     * which the backend reports as the dead process's failure. */
    return fail(PAR_EPEER, "cannot open the memory segment of process %d: "
                "the process has ended", (int) id->pid);
  }
  if (fd < 0) {
    return fail(PAR_ENOENT, "cannot open the memory segment of process %d "
                "(%s)", (int) id->pid, strerror(err));
  }
  seals = fcntl(fd, F_GET_SEALS);
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)
      || (uint64_t) st.st_ino != id->ino
      || (uint64_t) st.st_size < PAR__SEG_DATA + id->len
      || seals < 0 || !(seals & F_SEAL_SHRINK)) {
    rc = fail(PAR_EMALFORMED, "descriptor %d of process %d is not the "
              "memory segment of %" PRIu64 " bytes that was sent",
              (int) id->fd, (int) id->pid, id->len);
    goto out;
  }
  total = (size_t) st.st_size;
  base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (base == MAP_FAILED) {
    rc = fail(errno == ENOMEM ? PAR_ENOMEM : PAR_ESYS,
              "cannot map a memory segment of %" PRIu64 " bytes: %s",
              id->len, strerror(errno));
    goto out;
  }
  /* The message cannot change before this process has counted itself
   * among its receivers (see seg_header). */
  h = base;
  if (h->magic != SEG_MAGIC || h->size != total - PAR__SEG_DATA
      || h->len != id->len || h->gen != id->gen) {
    munmap(base, total);
    rc = fail(PAR_EMALFORMED, "descriptor %d of process %d is not the "
              "memory segment that was sent", (int) id->fd, (int) id->pid);
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
  seg_header *h = (seg_header *) base; /* the shared header page */
  size_t size = (size_t) h->size;

  /* The last access to the header: from here the sender may reuse the
   * segment. */
  atomic_fetch_sub(&h->mapped, 1);
  munmap(base, PAR__SEG_DATA + size);
}
