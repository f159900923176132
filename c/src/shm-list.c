/* shm-list.c — lists: growable arrays of cells in an arena.
 *
 * The cells live in a block of their own that is replaced by one twice
 * as large when full. Every operation holds the list's lock and journals
 * its writes (see shm-lock.c).
 */
#include <stdlib.h>
#include <string.h>

#include "shm-internal.h"

static shm_list *
list_at(par_shm_arena *a, par_shm_ref ref)
{
  shm_block *b = shm_block_at(a, ref);

  return b->kind == SHM_LIST ? (shm_list *) (b + 1) : NULL;
}

static shm_cell *
cells_of(par_shm_arena *a, const shm_list *l)
{
  return (shm_cell *) (shm_block_at(a, l->cells) + 1);
}

static int
take(par_shm_arena *a, par_shm_ref ref, shm_list **l)
{
  *l = list_at(a, ref);
  if (*l == NULL) {
    return par__shm_fail(PAR_EINVAL, "the shared object is not a list");
  }
  return par__shm_lock_take(a, &(*l)->lock, NULL, NULL);
}

int
par_shm_list_new(par_shm_arena *a, par_shm_ref *out)
{
  uint64_t off;
  shm_list *l;
  int rc = par__shm_alloc(a, SHM_LIST, sizeof(shm_list), &off);

  if (rc != PAR_OK) {
    return rc;
  }
  l = (shm_list *) (shm_block_at(a, off) + 1);
  rc = par__shm_lock_init(&l->lock, true);
  if (rc != PAR_OK) {
    par_shm_release(a, off);
    return rc;
  }
  l->count = l->cap = l->cells = 0;
  *out = off;
  return PAR_OK;
}

static int
out_of_range(size_t i, const shm_list *l)
{
  return par__shm_fail(PAR_ERANK, "index %zu is out of range for a shared "
                       "list of %llu elements", i,
                       (unsigned long long) l->count);
}

int
par_shm_list_get(par_shm_arena *a, par_shm_ref list, size_t i,
                 par_shm_value *out)
{
  shm_list *l;
  int rc = take(a, list, &l);

  if (rc != PAR_OK) {
    return rc;
  }
  rc = i < l->count ? par__shm_cell_read(a, &cells_of(a, l)[i], out)
                    : out_of_range(i, l);
  par__shm_lock_give(&l->lock);
  return rc;
}

int
par_shm_list_set(par_shm_arena *a, par_shm_ref list, size_t i,
                 const par_shm_value *value)
{
  shm_list *l;
  shm_cell cell, old;
  int rc = take(a, list, &l);

  if (rc != PAR_OK) {
    return rc;
  }
  if (i >= l->count) {
    rc = out_of_range(i, l);
    goto out;
  }
  rc = par__shm_cell_make(a, value, &cell);
  if (rc != PAR_OK) {
    goto out;
  }
  old = cells_of(a, l)[i];
  par__shm_cell_store(a, &l->lock, &cells_of(a, l)[i], &cell);
  par__shm_commit(&l->lock);
  par__shm_cell_release(a, &old);
out:
  par__shm_lock_give(&l->lock);
  return rc;
}

/* Replace L's cells by a block twice as large. */
static int
grow(par_shm_arena *a, shm_list *l)
{
  uint64_t cap = l->cap < 8 ? 8 : 2 * l->cap, old = l->cells, off;
  int rc = par__shm_alloc(a, SHM_CELLS, cap * sizeof(shm_cell), &off);

  if (rc != PAR_OK) {
    return rc;
  }
  if (l->count > 0) {
    memcpy(shm_block_at(a, off) + 1, cells_of(a, l),
           l->count * sizeof(shm_cell));
  }
  par__shm_jset(a, &l->lock, &l->cells, off);
  par__shm_jset(a, &l->lock, &l->cap, cap);
  par__shm_commit(&l->lock);
  par__shm_free(a, old);
  return PAR_OK;
}

int
par_shm_list_append(par_shm_arena *a, par_shm_ref list,
                    const par_shm_value *value, size_t *index)
{
  shm_list *l;
  shm_cell cell;
  int rc = take(a, list, &l);

  if (rc != PAR_OK) {
    return rc;
  }
  rc = par__shm_cell_make(a, value, &cell);
  if (rc != PAR_OK) {
    goto out;
  }
  if (l->count == l->cap) {
    rc = grow(a, l);
    if (rc != PAR_OK) {
      par__shm_cell_release(a, &cell);
      goto out;
    }
  }
  par__shm_cell_store(a, &l->lock, &cells_of(a, l)[l->count], &cell);
  par__shm_jset(a, &l->lock, &l->count, l->count + 1);
  par__shm_commit(&l->lock);
  if (index != NULL) {
    *index = (size_t) l->count - 1;
  }
out:
  par__shm_lock_give(&l->lock);
  return rc;
}

int
par_shm_list_length(par_shm_arena *a, par_shm_ref list, size_t *out)
{
  shm_list *l;
  int rc = take(a, list, &l);

  if (rc != PAR_OK) {
    return rc;
  }
  *out = (size_t) l->count;
  par__shm_lock_give(&l->lock);
  return PAR_OK;
}

int
par_shm_list_items(par_shm_arena *a, par_shm_ref list, par_shm_item **out,
                   size_t *n)
{
  shm_list *l;
  par_shm_item *items;
  size_t k;
  int rc = take(a, list, &l);

  if (rc != PAR_OK) {
    return rc;
  }
  items = calloc(l->count > 0 ? l->count : 1, sizeof *items);
  if (items == NULL) {
    par__shm_lock_give(&l->lock);
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  for (k = 0; k < l->count; k++) {
    rc = par__shm_cell_read(a, &cells_of(a, l)[k], &items[k].value);
    if (rc != PAR_OK) {
      par__shm_lock_give(&l->lock);
      par_shm_items_free(a, items, k + 1);
      return rc;
    }
  }
  par__shm_lock_give(&l->lock);
  *out = items;
  *n = k;
  return PAR_OK;
}
