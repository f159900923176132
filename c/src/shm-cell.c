/* shm-cell.c — what a dict entry or a list element holds: a few bytes
 * inline, a blob of bytes, or a reference to an object of the same arena.
 *
 * A cell is made (its blob allocated, its reference counted) before it is
 * stored, and what a replaced cell held is released after the change that
 * replaced it is committed: a process that dies in between leaves at worst
 * a blob or a count that nothing will release, never a cell that points
 * to freed memory.
 */
#include <stdlib.h>
#include <string.h>

#include "shm-internal.h"

int
par__shm_cell_make(par_shm_arena *a, const par_shm_value *value,
                   shm_cell *c)
{
  par_shm_kind kind;
  uint64_t off;
  int rc;

  memset(c, 0, sizeof *c);
  switch (value->kind) {
  case PAR_SHM_ENCODED:
    if (value->len <= SHM_INLINE_MAX) {
      c->tag = SHM_CELL_INLINE | (uint64_t) value->len << 8;
      if (value->len > 0) {
        memcpy(&c->a, value->bytes, value->len);
      }
      return PAR_OK;
    }
    rc = par__shm_alloc(a, SHM_BLOB, value->len, &off);
    if (rc != PAR_OK) {
      return rc;
    }
    memcpy(shm_block_at(a, off) + 1, value->bytes, value->len);
    c->tag = SHM_CELL_BLOB;
    c->a = off;
    c->b = value->len;
    return PAR_OK;
  case PAR_SHM_OBJECT:
    rc = par_shm_check(a, value->ref, 0, &kind);
    if (rc != PAR_OK) {
      return rc;
    }
    par__shm_ref_add(a, value->ref, 1, false);
    c->tag = SHM_CELL_REF;
    c->a = value->ref;
    return PAR_OK;
  default:
    return par__shm_fail(PAR_EINVAL, "a shared dict or list cannot hold "
                         "a value of kind %d", (int) value->kind);
  }
}

void
par__shm_cell_release(par_shm_arena *a, const shm_cell *c)
{
  switch (c->tag & 0xff) {
  case SHM_CELL_BLOB:
    par__shm_free(a, c->a);
    break;
  case SHM_CELL_REF:
    par__shm_ref_add(a, c->a, -1, false);
    break;
  default:
    break;
  }
}

const void *
par__shm_cell_bytes(par_shm_arena *a, const shm_cell *c, size_t *len)
{
  switch (c->tag & 0xff) {
  case SHM_CELL_INLINE:
    *len = (size_t) (c->tag >> 8 & 0xff);
    return &c->a;
  case SHM_CELL_BLOB:
    *len = (size_t) c->b;
    return shm_block_at(a, c->a) + 1;
  default:
    *len = 0;
    return NULL;
  }
}

int
par__shm_cell_read(par_shm_arena *a, const shm_cell *c, par_shm_value *out)
{
  const void *bytes;
  size_t len;

  *out = (par_shm_value) PAR_SHM_VALUE_INIT;
  if ((c->tag & 0xff) == SHM_CELL_REF) {
    int rc = par_shm_hold(a, c->a);

    if (rc != PAR_OK) {
      return rc;
    }
    out->kind = PAR_SHM_OBJECT;
    out->ref = c->a;
    return PAR_OK;
  }
  bytes = par__shm_cell_bytes(a, c, &len);
  if (bytes == NULL) {
    return par__shm_fail(PAR_EMALFORMED, "an empty cell has no value");
  }
  out->bytes = malloc(len > 0 ? len : 1);
  if (out->bytes == NULL) {
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  memcpy(out->bytes, bytes, len);
  out->len = len;
  out->kind = PAR_SHM_ENCODED;
  return PAR_OK;
}

void
par__shm_cell_store(par_shm_arena *a, shm_lock *l, shm_cell *dst,
                    const shm_cell *c)
{
  par__shm_jset(a, l, &dst->a, c->a);
  par__shm_jset(a, l, &dst->b, c->b);
  par__shm_jset(a, l, &dst->tag, c->tag);
}

void
par_shm_value_clear(par_shm_arena *a, par_shm_value *v)
{
  if (v == NULL) {
    return;
  }
  free(v->bytes);
  if (v->kind == PAR_SHM_OBJECT && v->ref != 0) {
    par_shm_release(a, v->ref);
  }
  *v = (par_shm_value) PAR_SHM_VALUE_INIT;
}

void
par_shm_items_free(par_shm_arena *a, par_shm_item *items, size_t n)
{
  if (items == NULL) {
    return;
  }
  for (size_t i = 0; i < n; i++) {
    par_shm_value_clear(a, &items[i].key);
    par_shm_value_clear(a, &items[i].value);
  }
  free(items);
}

int
par_shm_lock(par_shm_arena *a, par_shm_ref obj, int (*check)(void *),
             void *data)
{
  shm_lock *l = par__shm_object_lock(a, obj);

  if (l == NULL) {
    return par__shm_fail(PAR_EINVAL, "only dicts and lists have locks");
  }
  return par__shm_lock_take(a, l, check, data);
}

void
par_shm_unlock(par_shm_arena *a, par_shm_ref obj)
{
  shm_lock *l = par__shm_object_lock(a, obj);

  if (l != NULL) {
    par__shm_lock_give(l);
  }
}
