/* shm-dict.c — dicts: hash tables with open addressing in an arena.
 *
 * Keys are byte strings (encoded values) compared byte for byte, hashed
 * with FNV-1a under the arena's seed. The table is an array of 64-byte
 * slots probed linearly; a deleted entry leaves a marker until the table
 * is next rebuilt, which happens when entries and markers fill three
 * quarters of it. Every operation holds the dict's lock; its writes are
 * journaled (see shm-lock.c), so that the entry a dying process was
 * changing is found as it was.
 */
#include <stdlib.h>
#include <string.h>

#include "shm-internal.h"

static shm_dict *
dict_at(par_shm_arena *a, par_shm_ref ref)
{
  shm_block *b = shm_block_at(a, ref);

  return b->kind == SHM_DICT ? (shm_dict *) (b + 1) : NULL;
}

static shm_slot *
slots_of(par_shm_arena *a, const shm_dict *d)
{
  return (shm_slot *) (shm_block_at(a, d->table) + 1);
}

static uint64_t
hash_key(par_shm_arena *a, const void *key, size_t len)
{
  const unsigned char *p = key;
  uint64_t h = UINT64_C(0xcbf29ce484222325) ^ shm_hdr(a)->seed;

  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= UINT64_C(0x100000001b3);
  }
  h ^= h >> 29;
  return h | 2; /* 0 and 1 mark empty and deleted slots. */
}

static bool
key_equal(par_shm_arena *a, const shm_cell *c, const void *key, size_t len)
{
  size_t n;
  const void *bytes = par__shm_cell_bytes(a, c, &n);

  return bytes != NULL && n == len && memcmp(bytes, key, len) == 0;
}

/* The slot of KEY, or -1; *FREE is where it would go (-1 if no slot is
 * free, which a table that is rebuilt in time never is). */
static int64_t
find(par_shm_arena *a, const shm_dict *d, const void *key, size_t len,
     uint64_t hash, int64_t *free_slot)
{
  shm_slot *slots;
  uint64_t mask = d->cap - 1, i;

  *free_slot = -1;
  if (d->cap == 0) {
    return -1;
  }
  slots = slots_of(a, d);
  i = hash & mask;
  for (uint64_t probes = 0; probes < d->cap; probes++, i = (i + 1) & mask) {
    if (slots[i].hash == 0) {
      if (*free_slot < 0) {
        *free_slot = (int64_t) i;
      }
      return -1;
    }
    if (slots[i].hash == 1) {
      if (*free_slot < 0) {
        *free_slot = (int64_t) i;
      }
    } else if (slots[i].hash == hash && key_equal(a, &slots[i].key, key,
                                                  len)) {
      return (int64_t) i;
    }
  }
  return -1;
}

/* Rebuild D's table with room for one more entry; the entries keep their
 * cells (nothing is counted again). */
static int
rebuild(par_shm_arena *a, shm_dict *d)
{
  uint64_t cap = d->cap < 8 ? 8 : d->cap, old = d->table, off;
  shm_slot *from, *to;
  int rc;

  while ((d->count + 1) * 2 > cap) {
    cap *= 2;
  }
  rc = par__shm_alloc(a, SHM_TABLE, cap * sizeof(shm_slot), &off);
  if (rc != PAR_OK) {
    return rc;
  }
  /* The new table is nobody's until it is published below. */
  to = (shm_slot *) (shm_block_at(a, off) + 1);
  memset(to, 0, cap * sizeof(shm_slot));
  if (old != 0) {
    from = slots_of(a, d);
    for (uint64_t i = 0; i < d->cap; i++) {
      if (from[i].hash > 1) {
        uint64_t j = from[i].hash & (cap - 1);

        while (to[j].hash != 0) {
          j = (j + 1) & (cap - 1);
        }
        to[j] = from[i];
      }
    }
  }
  par__shm_jset(a, &d->lock, &d->table, off);
  par__shm_jset(a, &d->lock, &d->cap, cap);
  par__shm_jset(a, &d->lock, &d->used, d->count);
  par__shm_commit(&d->lock);
  par__shm_free(a, old);
  return PAR_OK;
}

int
par_shm_dict_new(par_shm_arena *a, par_shm_ref *out)
{
  uint64_t off;
  shm_dict *d;
  int rc = par__shm_alloc(a, SHM_DICT, sizeof(shm_dict), &off);

  if (rc != PAR_OK) {
    return rc;
  }
  d = (shm_dict *) (shm_block_at(a, off) + 1);
  rc = par__shm_lock_init(&d->lock, true);
  if (rc != PAR_OK) {
    par_shm_release(a, off);
    return rc;
  }
  d->count = d->used = d->cap = d->table = 0;
  *out = off;
  return PAR_OK;
}

/* Take the lock of dict REF, or fail. */
static int
take(par_shm_arena *a, par_shm_ref ref, shm_dict **d)
{
  *d = dict_at(a, ref);
  if (*d == NULL) {
    return par__shm_fail(PAR_EINVAL, "the shared object is not a dict");
  }
  return par__shm_lock_take(a, &(*d)->lock, NULL, NULL);
}

int
par_shm_dict_get(par_shm_arena *a, par_shm_ref dict, const void *key,
                 size_t keylen, par_shm_value *out)
{
  shm_dict *d;
  int64_t i, free_slot;
  int rc = take(a, dict, &d);

  if (rc != PAR_OK) {
    return rc;
  }
  i = find(a, d, key, keylen, hash_key(a, key, keylen), &free_slot);
  rc = i < 0 ? PAR_ENOENT
             : par__shm_cell_read(a, &slots_of(a, d)[i].value, out);
  par__shm_lock_give(&d->lock);
  return rc;
}

int
par_shm_dict_put(par_shm_arena *a, par_shm_ref dict, const void *key,
                 size_t keylen, const par_shm_value *value)
{
  shm_dict *d;
  shm_cell cell, key_cell, old;
  shm_slot *slot;
  uint64_t hash = hash_key(a, key, keylen);
  int64_t i, free_slot;
  par_shm_value key_value = {PAR_SHM_ENCODED, (void *) key, keylen, 0};
  int rc = take(a, dict, &d);

  if (rc != PAR_OK) {
    return rc;
  }
  rc = par__shm_cell_make(a, value, &cell);
  if (rc != PAR_OK) {
    goto out;
  }
  i = find(a, d, key, keylen, hash, &free_slot);
  if (i >= 0) {
    slot = &slots_of(a, d)[i];
    old = slot->value;
    par__shm_cell_store(a, &d->lock, &slot->value, &cell);
    par__shm_commit(&d->lock);
    par__shm_cell_release(a, &old);
    goto out;
  }
  if ((d->used + 1) * 4 > d->cap * 3) {
    rc = rebuild(a, d);
    if (rc != PAR_OK) {
      goto undo_cell;
    }
    find(a, d, key, keylen, hash, &free_slot);
  }
  rc = par__shm_cell_make(a, &key_value, &key_cell);
  if (rc != PAR_OK) {
    goto undo_cell;
  }
  slot = &slots_of(a, d)[free_slot];
  if (slot->hash == 0) {
    par__shm_jset(a, &d->lock, &d->used, d->used + 1);
  }
  par__shm_cell_store(a, &d->lock, &slot->key, &key_cell);
  par__shm_cell_store(a, &d->lock, &slot->value, &cell);
  par__shm_jset(a, &d->lock, &slot->hash, hash);
  par__shm_jset(a, &d->lock, &d->count, d->count + 1);
  par__shm_commit(&d->lock);
  goto out;

undo_cell:
  par__shm_cell_release(a, &cell);
out:
  par__shm_lock_give(&d->lock);
  return rc;
}

int
par_shm_dict_delete(par_shm_arena *a, par_shm_ref dict, const void *key,
                    size_t keylen)
{
  shm_dict *d;
  shm_slot *slot;
  shm_cell key_cell, value_cell;
  int64_t i, free_slot;
  int rc = take(a, dict, &d);

  if (rc != PAR_OK) {
    return rc;
  }
  i = find(a, d, key, keylen, hash_key(a, key, keylen), &free_slot);
  if (i < 0) {
    par__shm_lock_give(&d->lock);
    return PAR_ENOENT;
  }
  slot = &slots_of(a, d)[i];
  key_cell = slot->key;
  value_cell = slot->value;
  par__shm_jset(a, &d->lock, &slot->hash, 1);
  par__shm_jset(a, &d->lock, &d->count, d->count - 1);
  par__shm_commit(&d->lock);
  par__shm_cell_release(a, &key_cell);
  par__shm_cell_release(a, &value_cell);
  par__shm_lock_give(&d->lock);
  return PAR_OK;
}

int
par_shm_dict_count(par_shm_arena *a, par_shm_ref dict, size_t *out)
{
  shm_dict *d;
  int rc = take(a, dict, &d);

  if (rc != PAR_OK) {
    return rc;
  }
  *out = (size_t) d->count;
  par__shm_lock_give(&d->lock);
  return PAR_OK;
}

int
par_shm_dict_items(par_shm_arena *a, par_shm_ref dict, par_shm_item **out,
                   size_t *n)
{
  shm_dict *d;
  par_shm_item *items;
  size_t k = 0;
  int rc = take(a, dict, &d);

  if (rc != PAR_OK) {
    return rc;
  }
  items = calloc(d->count > 0 ? d->count : 1, sizeof *items);
  if (items == NULL) {
    par__shm_lock_give(&d->lock);
    return par__shm_fail(PAR_ENOMEM, "out of memory");
  }
  for (uint64_t i = 0; i < d->cap && k < d->count; i++) {
    shm_slot *slot = &slots_of(a, d)[i];

    if (slot->hash <= 1) {
      continue;
    }
    rc = par__shm_cell_read(a, &slot->key, &items[k].key);
    if (rc == PAR_OK) {
      rc = par__shm_cell_read(a, &slot->value, &items[k].value);
    }
    k++;
    if (rc != PAR_OK) {
      par__shm_lock_give(&d->lock);
      par_shm_items_free(a, items, k);
      return rc;
    }
  }
  par__shm_lock_give(&d->lock);
  *out = items;
  *n = k;
  return PAR_OK;
}
