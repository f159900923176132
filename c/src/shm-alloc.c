/* shm-alloc.c — blocks of an arena: allocation, reference counts, freeing
 * and the zero list.
 *
 * Blocks of up to SHM_SMALL_MAX bytes come in size classes of SHM_ALIGN
 * bytes, carved from pages and kept on one free list per class. Larger
 * blocks are whole pages, taken first-fit from a free list kept in
 * address order and coalesced on free, or from the top of the arena.
 * Freed large blocks stay backed by memory, ready for the next object,
 * until SHM_WARM_MAX bytes are; beyond that their pages are punched out of
 * the memfd, which gives them back to the system. Every write to the
 * allocator's structures, block headers included, is journaled under the
 * arena lock (shm-lock.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "shm-internal.h"

static inline uint64_t
round_up(uint64_t n, uint64_t to)
{
  return (n + to - 1) / to * to;
}

static inline bool
is_object(uint64_t kind)
{
  return kind == SHM_VECTOR || kind == SHM_DICT || kind == SHM_LIST;
}

bool
par__shm_valid_offset(const par_shm_arena *a, uint64_t off)
{
  return off >= SHM_HEADER_SIZE && off % SHM_ALIGN == 0
         && off <= a->capacity - sizeof(shm_block);
}

#define SET(a, word, value) par__shm_jset((a), &shm_hdr(a)->lock, &(word), \
                                          (value))

/* --- Taking memory -------------------------------------------------------- */

/* Take SIZE bytes (a multiple of SHM_PAGE) from the large free list or the
 * top. *ZEROED tells whether the memory is known to hold zeros. 0 when
 * the arena is full. */
static uint64_t
take_large(par_shm_arena *a, uint64_t size, bool *zeroed)
{
  shm_header *h = shm_hdr(a);
  uint64_t *link = &h->large_head;

  for (uint64_t off = *link; off != 0;) {
    shm_block *b = shm_block_at(a, off);

    if (b->size >= size) {
      bool cold = (b->flags & SHM_COLD) != 0;

      if (!cold) {
        SET(a, h->warm_bytes, h->warm_bytes - size);
      }
      SET(a, h->free_bytes, h->free_bytes - size);
      if (b->size == size) {
        SET(a, *link, b->next);
        /* A cold block keeps its first page, where its header was. */
        *zeroed = false;
        return off;
      }
      /* Take the tail: the block stays where it is in the list, only
       * shorter. The tail of a cold block is punched, hence zero. */
      SET(a, b->size, b->size - size);
      *zeroed = cold;
      return off + b->size;
    }
    link = &b->next;
    off = *link;
  }
  if (size > a->capacity - h->top) {
    return 0;
  }
  *zeroed = true;
  SET(a, h->top, h->top + size);
  return h->top - size;
}

static uint64_t
take(par_shm_arena *a, uint64_t size, bool *zeroed)
{
  shm_header *h = shm_hdr(a);
  uint64_t c, off;

  if (size > SHM_SMALL_MAX) {
    return take_large(a, size, zeroed);
  }
  c = size / SHM_ALIGN - 1;
  *zeroed = false;
  if (h->small_head[c] != 0) {
    off = h->small_head[c];
    SET(a, h->small_head[c], shm_block_at(a, off)->next);
    return off;
  }
  if (h->carve[c] == 0 || h->carve_end[c] - h->carve[c] < size) {
    bool page_zeroed;
    uint64_t page = take_large(a, SHM_PAGE, &page_zeroed);

    if (page == 0) {
      return 0;
    }
    SET(a, h->carve[c], page);
    SET(a, h->carve_end[c], page + SHM_PAGE);
  }
  off = h->carve[c];
  SET(a, h->carve[c], off + size);
  return off;
}

int
par__shm_alloc_zeroed(par_shm_arena *a, uint64_t kind, uint64_t payload,
                      uint64_t *out, bool *zeroed)
{
  shm_header *h = shm_hdr(a);
  uint64_t size, off;
  shm_block *b;
  bool borrowed = shm_borrowed(a);
  int rc;

  if (payload > a->capacity) {
    return par__shm_fail(PAR_ENOMEM, "the shared arena of %zu bytes "
                         "cannot hold an object of %llu bytes",
                         a->capacity, (unsigned long long) payload);
  }
  size = round_up(sizeof(shm_block) + payload, SHM_ALIGN);
  if (size > SHM_SMALL_MAX) {
    size = round_up(size, SHM_PAGE);
  }
  rc = par__shm_lock_take(a, &h->lock, NULL, NULL);
  if (rc != PAR_OK) {
    return rc;
  }
  off = take(a, size, zeroed);
  if (off == 0) {
    uint64_t top = h->top;

    par__shm_commit(&h->lock);
    par__shm_lock_give(&h->lock);
    return par__shm_fail(PAR_ENOMEM, "the shared arena is full: it holds "
                         "%llu of its %zu bytes and cannot find %llu more "
                         "(set PARALLELIZER_SHM_CAPACITY for larger "
                         "arenas)",
                         (unsigned long long) (top - h->free_bytes),
                         a->capacity, (unsigned long long) size);
  }
  b = shm_block_at(a, off);
  SET(a, b->size, size);
  SET(a, h->serial, h->serial + 1);
  SET(a, b->serial, h->serial);
  SET(a, b->kind, kind);
  SET(a, b->flags, 0);
  SET(a, b->next, 0);
  SET(a, b->aux[0], 0);
  SET(a, b->aux[1], 0);
  SET(a, h->live_bytes, h->live_bytes + size);
  if (is_object(kind)) {
    SET(a, h->live_objects, h->live_objects + 1);
    if (borrowed) {
      /* A process that borrows the arena counts no references: what it
       * makes waits on the zero list for the end of the run, unless
       * something stores it meanwhile. */
      SET(a, b->refs, 0);
      SET(a, b->flags, SHM_ZERO_LISTED);
      SET(a, b->next, h->zero_head);
      SET(a, h->zero_head, off);
      SET(a, h->zero_listed, h->zero_listed + 1);
    } else {
      SET(a, b->refs, 1);
    }
  } else {
    SET(a, b->refs, 0);
  }
  par__shm_commit(&h->lock);
  par__shm_lock_give(&h->lock);
  if (is_object(kind)) {
    /* The caller holds it, as after par_shm_hold. */
    par__shm_count_hold(a);
  }
  *out = off;
  return PAR_OK;
}

int
par__shm_alloc(par_shm_arena *a, uint64_t kind, uint64_t payload,
               uint64_t *out)
{
  bool zeroed;

  return par__shm_alloc_zeroed(a, kind, payload, out, &zeroed);
}

/* --- Giving memory back -------------------------------------------------- */

/* Punch the pages of free block OFF of SIZE bytes but its first one. */
static void
punch(par_shm_arena *a, uint64_t off, uint64_t size)
{
  fallocate(a->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
            (off_t) (off + SHM_PAGE), (off_t) (size - SHM_PAGE));
}

/* Free large block OFF of SIZE bytes into the address-ordered list,
 * merging it with free neighbours. */
static void
free_large(par_shm_arena *a, uint64_t off, uint64_t size)
{
  shm_header *h = shm_hdr(a);
  uint64_t prev = 0, next = h->large_head, flags = 0;
  shm_block *b = shm_block_at(a, off);

  while (next != 0 && next < off) {
    prev = next;
    next = shm_block_at(a, next)->next;
  }
  SET(a, h->free_bytes, h->free_bytes + size);
  if (size >= SHM_PUNCH_MIN && h->warm_bytes + size > SHM_WARM_MAX) {
    punch(a, off, size);
    flags = SHM_COLD;
  } else {
    SET(a, h->warm_bytes, h->warm_bytes + size);
  }
  SET(a, b->flags, flags);
  /* Merge with the next free block; the result is warm if either part
   * is, and a cold part then counts as warm (it may be punched again). */
  if (next != 0 && off + size == next) {
    shm_block *n = shm_block_at(a, next);

    if ((n->flags & SHM_COLD) != (flags & SHM_COLD)) {
      SET(a, h->warm_bytes, h->warm_bytes
                            + ((flags & SHM_COLD) ? size : n->size));
      SET(a, b->flags, 0);
    }
    SET(a, b->size, size + n->size);
    SET(a, b->next, n->next);
  } else {
    SET(a, b->size, size);
    SET(a, b->next, next);
  }
  if (prev != 0 && prev + shm_block_at(a, prev)->size == off) {
    shm_block *p = shm_block_at(a, prev);

    if ((p->flags & SHM_COLD) != (b->flags & SHM_COLD)) {
      SET(a, h->warm_bytes, h->warm_bytes
                            + ((p->flags & SHM_COLD) ? p->size : b->size));
      SET(a, p->flags, 0);
    }
    SET(a, p->size, p->size + b->size);
    SET(a, p->next, b->next);
  } else if (prev != 0) {
    SET(a, shm_block_at(a, prev)->next, off);
  } else {
    SET(a, h->large_head, off);
  }
}

/* Free block OFF; the arena lock is held, and the caller commits. */
static void
free_locked(par_shm_arena *a, uint64_t off)
{
  shm_header *h = shm_hdr(a);
  shm_block *b = shm_block_at(a, off);
  uint64_t size = b->size;

  SET(a, h->live_bytes, h->live_bytes - size);
  if (is_object(b->kind)) {
    SET(a, h->live_objects, h->live_objects - 1);
  }
  SET(a, b->serial, 0);
  SET(a, b->kind, SHM_FREE);
  SET(a, b->refs, 0);
  if (size > SHM_SMALL_MAX) {
    free_large(a, off, size);
  } else {
    uint64_t c = size / SHM_ALIGN - 1;

    SET(a, b->flags, 0);
    SET(a, b->next, h->small_head[c]);
    SET(a, h->small_head[c], off);
  }
}

void
par__shm_free(par_shm_arena *a, uint64_t off)
{
  shm_header *h = shm_hdr(a);

  if (off == 0 || par__shm_lock_take(a, &h->lock, NULL, NULL) != PAR_OK) {
    return;
  }
  free_locked(a, off);
  par__shm_commit(&h->lock);
  par__shm_lock_give(&h->lock);
}

/* --- Objects whose last reference goes ----------------------------------- */

/* Objects to free, a process-local stack: freeing a dict releases what it
 * holds, which may free more, and nesting must not grow the C stack. */
typedef struct worklist {
  uint64_t *off;
  size_t n, cap;
} worklist;

static void
push(worklist *w, uint64_t off)
{
  if (w->n == w->cap) {
    size_t cap = w->cap == 0 ? 16 : 2 * w->cap;
    uint64_t *p = realloc(w->off, cap * sizeof *p);

    if (p == NULL) {
      return; /* Out of memory: the object stays, unreachable. */
    }
    w->off = p;
    w->cap = cap;
  }
  w->off[w->n++] = off;
}

/* Called for every cell of an object being freed. */
static void
release_cell(par_shm_arena *a, const shm_cell *c, worklist *w)
{
  shm_header *h = shm_hdr(a);

  switch (c->tag & 0xff) {
  case SHM_CELL_BLOB:
    free_locked(a, c->a);
    par__shm_commit(&h->lock);
    break;
  case SHM_CELL_REF: {
    shm_block *b = shm_block_at(a, c->a);

    if (b->refs > 0) {
      SET(a, b->refs, b->refs - 1);
      par__shm_commit(&h->lock);
      /* One on the zero list is freed when the list is flushed, which is
       * where this runs from if it does: freeing it here would leave the
       * list pointing into freed memory. */
      if (b->refs == 0 && !(b->flags & SHM_ZERO_LISTED)) {
        push(w, c->a);
      }
    }
    break;
  }
  default:
    break;
  }
}

/* Make a dead holder's half-done change to the container whose lock is L
 * undone before the container's contents are read one last time. False
 * if a live process holds L (only a bug elsewhere could make one) or the
 * lock cannot be recovered: the contents are then left alone. */
static bool
settle(par_shm_arena *a, shm_lock *l)
{
  if (par__shm_lock_try(a, l) != PAR_OK) {
    return false;
  }
  par__shm_lock_give(l);
  return true;
}

/* Free object OFF, whose count is zero, and whatever only it held. */
static void
free_object(par_shm_arena *a, uint64_t off)
{
  shm_header *h = shm_hdr(a);
  worklist w = {NULL, 0, 0};

  push(&w, off);
  while (w.n > 0) {
    uint64_t o = w.off[--w.n];
    shm_block *b = shm_block_at(a, o);

    if (b->kind == SHM_DICT) {
      shm_dict *d = (shm_dict *) (b + 1);

      if (!settle(a, &d->lock)) {
        continue;
      }
      if (d->table != 0) {
        shm_slot *slots = (shm_slot *) (shm_block_at(a, d->table) + 1);

        for (uint64_t i = 0; i < d->cap; i++) {
          if (slots[i].hash > 1) {
            release_cell(a, &slots[i].key, &w);
            release_cell(a, &slots[i].value, &w);
          }
        }
        free_locked(a, d->table);
      }
    } else if (b->kind == SHM_LIST) {
      shm_list *l = (shm_list *) (b + 1);

      if (!settle(a, &l->lock)) {
        continue;
      }
      if (l->cells != 0) {
        shm_cell *cells = (shm_cell *) (shm_block_at(a, l->cells) + 1);

        for (uint64_t i = 0; i < l->count; i++) {
          release_cell(a, &cells[i], &w);
        }
        free_locked(a, l->cells);
      }
    }
    free_locked(a, o);
    par__shm_commit(&h->lock);
  }
  free(w.off);
}

void
par__shm_ref_add(par_shm_arena *a, uint64_t off, int delta, bool locked)
{
  shm_header *h = shm_hdr(a);
  shm_block *b = shm_block_at(a, off);

  if (!locked && par__shm_lock_take(a, &h->lock, NULL, NULL) != PAR_OK) {
    return;
  }
  /* A reference to anything but a live object is a bug of the caller;
   * leave the arena alone rather than make it worse. */
  if (b->serial != 0 && is_object(b->kind)
      && (delta > 0 || b->refs > 0)) {
    SET(a, b->refs, b->refs + (uint64_t) (int64_t) delta);
    if (b->refs == 0) {
      if (h->borrowers > 0) {
        /* A borrowing process may still use it, uncounted. */
        if (!(b->flags & SHM_ZERO_LISTED)) {
          SET(a, b->flags, b->flags | SHM_ZERO_LISTED);
          SET(a, b->next, h->zero_head);
          SET(a, h->zero_head, off);
          SET(a, h->zero_listed, h->zero_listed + 1);
        }
        par__shm_commit(&h->lock);
      } else if (!(b->flags & SHM_ZERO_LISTED)) {
        par__shm_commit(&h->lock);
        free_object(a, off);
      }
    }
  }
  par__shm_commit(&h->lock);
  if (!locked) {
    par__shm_lock_give(&h->lock);
  }
}

void
par__shm_flush_zero_list(par_shm_arena *a)
{
  shm_header *h = shm_hdr(a);

  while (h->zero_head != 0) {
    uint64_t off = h->zero_head;
    shm_block *b = shm_block_at(a, off);

    SET(a, h->zero_head, b->next);
    SET(a, b->next, 0);
    SET(a, b->flags, b->flags & ~(uint64_t) SHM_ZERO_LISTED);
    SET(a, h->zero_listed, h->zero_listed - 1);
    par__shm_commit(&h->lock);
    if (b->refs == 0) {
      free_object(a, off);
    }
  }
}

/* --- The public face of blocks ------------------------------------------- */

int
par_shm_check(par_shm_arena *a, par_shm_ref ref, uint64_t serial,
              par_shm_kind *kind)
{
  shm_header *h;
  shm_block *b;
  int rc = par__shm_map(a);

  if (rc != PAR_OK) {
    return rc;
  }
  if (!par__shm_valid_offset(a, ref)) {
    return par__shm_fail(PAR_EMALFORMED, "offset %llu is not a block of "
                         "the shared arena", (unsigned long long) ref);
  }
  h = shm_hdr(a);
  rc = par__shm_lock_take(a, &h->lock, NULL, NULL);
  if (rc != PAR_OK) {
    return rc;
  }
  b = shm_block_at(a, ref);
  if (b->serial == 0 || (serial != 0 && b->serial != serial)
      || !is_object(b->kind)
      || (b->refs == 0 && !(b->flags & SHM_ZERO_LISTED))) {
    rc = par__shm_fail(PAR_ENOENT, "the shared object no longer exists: "
                       "it was freed once no process held it");
  } else {
    *kind = (par_shm_kind) b->kind;
  }
  par__shm_lock_give(&h->lock);
  return rc;
}

uint64_t
par_shm_serial(par_shm_arena *a, par_shm_ref ref)
{
  return shm_block_at(a, ref)->serial;
}

void *
par_shm_address(par_shm_arena *a, par_shm_ref ref)
{
  return shm_at(a, ref);
}

par_shm_ref
par_shm_ref_at(par_shm_arena *a, const void *addr)
{
  return (par_shm_ref) ((const char *) addr - a->base);
}

shm_lock *
par__shm_object_lock(par_shm_arena *a, uint64_t off)
{
  shm_block *b = shm_block_at(a, off);

  if (b->kind == SHM_DICT) {
    return &((shm_dict *) (b + 1))->lock;
  }
  if (b->kind == SHM_LIST) {
    return &((shm_list *) (b + 1))->lock;
  }
  return NULL;
}

/* --- Vectors ------------------------------------------------------------- */

static size_t
element_size(int etype)
{
  return etype == PAR_SHM_BYTES ? 1 : par_dtype_size((par_dtype) etype);
}

int
par_shm_vector_new(par_shm_arena *a, int etype, int plain, size_t rank,
                   const int64_t *dims, int clear, par_shm_ref *out)
{
  size_t size = (unsigned) etype <= PAR_SHM_BYTES ? element_size(etype) : 0;
  uint64_t count = 1, meta, data, nbytes, off;
  shm_vector *v;
  bool zeroed;
  int rc;

  if (size == 0) {
    return par__shm_fail(PAR_EINVAL, "element type %d is not one of a "
                         "numeric vector", etype);
  }
  if (rank > 1024 || (plain && (rank != 1 || dims[0] != 0))) {
    return par__shm_fail(PAR_EINVAL, "a shared vector cannot have %zu "
                         "dimensions", rank);
  }
  for (size_t k = 0; k < rank; k++) {
    int64_t len = dims[2 * k + 1] - dims[2 * k] + 1;

    if (dims[2 * k + 1] < dims[2 * k] - 1 || len < 0) {
      return par__shm_fail(PAR_EINVAL, "dimension %zu has bounds %lld and "
                           "%lld", k, (long long) dims[2 * k],
                           (long long) dims[2 * k + 1]);
    }
    if (len > 0 && count > UINT64_MAX / (uint64_t) len) {
      return par__shm_fail(PAR_ENOMEM, "a shared array of that shape is "
                           "too large");
    }
    count *= (uint64_t) len;
  }
  if (count > (UINT64_MAX >> 8) / size) {
    return par__shm_fail(PAR_ENOMEM, "a shared array of that shape is too "
                         "large");
  }
  nbytes = count * size;
  meta = sizeof(shm_vector) + 2 * sizeof(int64_t) * rank;
  data = round_up(sizeof(shm_block) + meta, SHM_ALIGN);
  rc = par__shm_alloc_zeroed(a, SHM_VECTOR, data - sizeof(shm_block) + nbytes,
                             &off, &zeroed);
  if (rc != PAR_OK) {
    return rc;
  }
  /* The block is nobody's yet: no journal needed to describe it. */
  v = (shm_vector *) (shm_block_at(a, off) + 1);
  v->etype = (uint64_t) etype;
  v->count = count;
  v->plain = plain != 0;
  v->rank = rank;
  v->data = data;
  v->nbytes = nbytes;
  memcpy(v->dims, dims, 2 * sizeof(int64_t) * rank);
  if (clear && !zeroed && nbytes > 0) {
    memset((char *) shm_block_at(a, off) + data, 0, nbytes);
  }
  *out = off;
  return PAR_OK;
}

int
par_shm_vector_info_of(par_shm_arena *a, par_shm_ref ref,
                       par_shm_vector_info *out)
{
  shm_block *b = shm_block_at(a, ref);
  shm_vector *v = (shm_vector *) (b + 1);

  if (b->kind != SHM_VECTOR) {
    return par__shm_fail(PAR_EINVAL, "the shared object is not a vector");
  }
  out->etype = (int) v->etype;
  out->count = v->count;
  out->plain = (int) v->plain;
  out->rank = v->rank;
  out->dims = v->dims;
  out->data = (char *) b + v->data;
  out->nbytes = v->nbytes;
  return PAR_OK;
}
