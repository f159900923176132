/* shm-internal.h — the layout of arenas and what the shm-*.c files share.
 * This file is private.
 *
 *   shm-arena.c  memfds, mappings, the registry of this process's arenas,
 *                runs, pins, and when arenas go
 *   shm-lock.c   robust process-shared locks and their undo journals
 *   shm-alloc.c  blocks: allocation, reference counts, the zero list
 *   shm-dict.c   dicts, shm-list.c lists, shm-cell.c what both store
 *
 * Everything in an arena is a 64-bit word at an offset from its start, so
 * that every process reads the same layout whatever the address of its
 * mapping; structures hold offsets, never pointers. Every word that a
 * locked operation changes is written through shm_jset, which first
 * records the old value in the lock's journal (see shm-lock.c).
 */
#ifndef PAR_SHM_INTERNAL_H
#define PAR_SHM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "par/shm.h"

#define SHM_MAGIC UINT64_C(0x3130306d68737270) /* "prshm001" */
#define SHM_ALIGN 64                /* blocks, and the data of vectors */
#define SHM_PAGE 4096
#define SHM_SMALL_MAX 4096          /* larger blocks are whole pages */
#define SHM_NCLASSES (SHM_SMALL_MAX / SHM_ALIGN)
#define SHM_JOURNAL_MAX 64
#define SHM_HEADER_SIZE (4 * SHM_PAGE)

/* Freed pages are given back to the system (punched out of the memfd) once
 * more than this many bytes of free blocks are still backed by memory;
 * below it, freed memory is kept ready for the next object. */
#define SHM_WARM_MAX ((uint64_t) 256 << 20)
/* Smaller free blocks are never punched: not worth a system call. */
#define SHM_PUNCH_MIN ((uint64_t) 1 << 20)

/* --- Locks and journals (shm-lock.c) ------------------------------------ */

/* Old values of the words written since the lock was taken, in order.
 * COUNT is published after the entry it covers is written and before the
 * word itself changes, so a process that dies at any instant leaves a
 * journal that undoes exactly its unfinished change. */
typedef struct shm_journal {
  _Atomic uint64_t count;
  uint64_t pad;
  struct {
    uint64_t off; /* of the word, from the arena's start */
    uint64_t old;
  } e[SHM_JOURNAL_MAX];
} shm_journal;

typedef struct shm_lock {
  pthread_mutex_t mutex;
  char pad[64 - sizeof(pthread_mutex_t) % 64];
  shm_journal journal;
} shm_lock;

/* --- The arena header, at offset 0 --------------------------------------- */

enum { SHM_STATE_FRESH = 0, SHM_STATE_INITIALIZING = 1, SHM_STATE_READY = 2 };

typedef struct shm_header {
  uint64_t magic;
  _Atomic uint64_t state; /* SHM_STATE_* */
  uint64_t id;            /* random: what handles name the arena by */
  uint64_t capacity;
  uint64_t seed;          /* of the hash function of dicts */
  uint64_t creator;       /* pid */
  uint64_t pad[2];
  shm_lock lock;          /* of everything below */
  uint64_t top;           /* bytes ever handed out, header included */
  uint64_t serial;        /* of the last block allocated */
  uint64_t borrowers;
  uint64_t zero_head;     /* zero list, linked through blocks' NEXT */
  uint64_t large_head;    /* free large blocks, in address order */
  uint64_t live_objects;
  uint64_t live_bytes;
  uint64_t free_bytes;
  uint64_t warm_bytes;    /* free bytes still backed by memory */
  uint64_t zero_listed;
  _Atomic uint64_t recoveries;
  uint64_t carve[SHM_NCLASSES];     /* next unused small block of a class */
  uint64_t carve_end[SHM_NCLASSES]; /* end of the page it is carved from */
  uint64_t small_head[SHM_NCLASSES];
} shm_header;

/* --- Blocks --------------------------------------------------------------- */

/* The kinds of objects are those of par_shm_kind (1 to 3). */
enum shm_block_kind {
  SHM_FREE = 0,
  SHM_VECTOR = PAR_SHM_VECTOR,
  SHM_DICT = PAR_SHM_DICT,
  SHM_LIST = PAR_SHM_LIST,
  SHM_BLOB = 4,  /* bytes of an encoded value */
  SHM_TABLE = 5, /* the slots of a dict */
  SHM_CELLS = 6  /* the cells of a list */
};

enum shm_block_flags {
  SHM_ZERO_LISTED = 1, /* on the zero list */
  SHM_COLD = 2         /* free, and its pages (but the first) punched */
};

/* Every block starts with this header; sizes are multiples of SHM_ALIGN,
 * and of SHM_PAGE above SHM_SMALL_MAX, where blocks start on a page. */
typedef struct shm_block {
  uint64_t size;   /* bytes, header included */
  uint64_t serial; /* non-zero while allocated */
  uint64_t kind;   /* enum shm_block_kind */
  uint64_t refs;   /* of objects: entries and owning processes */
  uint64_t flags;
  uint64_t next;   /* free list or zero list */
  uint64_t aux[2]; /* per kind: see below */
} shm_block;

/* A vector: the header, this description, then the elements at DATA from
 * the block's start, aligned to SHM_ALIGN. */
typedef struct shm_vector {
  uint64_t etype;
  uint64_t count;
  uint64_t plain;
  uint64_t rank;
  uint64_t data;
  uint64_t nbytes;
  uint64_t pad[2];
  int64_t dims[]; /* RANK pairs (lower, upper) */
} shm_vector;

/* What a dict entry or a list element holds. TAG's low byte is the kind,
 * its next byte the length of inline bytes. */
enum shm_cell_kind {
  SHM_CELL_EMPTY = 0,
  SHM_CELL_INLINE = 1, /* up to 16 bytes in A and B */
  SHM_CELL_BLOB = 2,   /* A: the blob block, B: its length */
  SHM_CELL_REF = 3     /* A: an object of the arena, which it holds */
};

#define SHM_INLINE_MAX 16

typedef struct shm_cell {
  uint64_t tag;
  uint64_t a;
  uint64_t b;
} shm_cell;

/* A slot of a dict's table. HASH is 0 for an empty slot, 1 for a deleted
 * one, and the key's hash with bit 1 set otherwise. */
typedef struct shm_slot {
  uint64_t hash;
  shm_cell key;
  shm_cell value;
  uint64_t pad;
} shm_slot;

typedef struct shm_dict {
  shm_lock lock;
  uint64_t count; /* entries */
  uint64_t used;  /* entries and deleted slots */
  uint64_t cap;   /* slots: a power of two */
  uint64_t table; /* the SHM_TABLE block; its slots follow its header */
} shm_dict;

typedef struct shm_list {
  shm_lock lock;
  uint64_t count;
  uint64_t cap;
  uint64_t cells; /* the SHM_CELLS block; its cells follow its header */
} shm_list;

/* --- The process's view of an arena (shm-arena.c) ------------------------ */

struct par_shm_arena {
  struct par_shm_arena *next; /* in the registry */
  uint64_t id;
  int fd;
  size_t capacity;
  char *base;         /* NULL until mapped */
  pid_t owner;        /* the process whose holds count; others borrow */
  size_t holders;     /* holds and uses of this process (under the
                       * registry lock) */
  int managed;        /* the registry's, closed once unused; an arena of
                       * par_shm_arena_create is its caller's */
  int runs;           /* runs of this process (and, once inherited, of
                       * its parents) that borrow it; the first process
                       * to map a memfd made for a run starts its
                       * borrowers count at this */
};

/* The pid of this process, kept up to date across forks. */
pid_t par__shm_pid(void);

/* Count one more hold of this process in A, without touching any object:
 * what a new object's first reference is. */
void par__shm_count_hold(par_shm_arena *a);

/* Map A if it is not yet (a memfd made for a run), initializing its header
 * if this process is the first to map it. */
int par__shm_map(par_shm_arena *a);

static inline shm_header *
shm_hdr(const par_shm_arena *a)
{
  return (shm_header *) a->base;
}

static inline void *
shm_at(const par_shm_arena *a, uint64_t off)
{
  return a->base + off;
}

static inline shm_block *
shm_block_at(const par_shm_arena *a, uint64_t off)
{
  return (shm_block *) (a->base + off);
}

static inline bool
shm_borrowed(const par_shm_arena *a)
{
  return a->owner != par__shm_pid();
}

/* Record the failure detail of the calling thread and return CODE. */
int par__shm_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* --- Locks (shm-lock.c) -------------------------------------------------- */

/* Initialize L, a robust process-shared mutex (recursive if RECURSIVE). */
int par__shm_lock_init(shm_lock *l, bool recursive);

/* Take L (in arena A), recovering it if its holder died. With CHECK, wait
 * in slices and give up with PAR_EINTR when CHECK says so. */
int par__shm_lock_take(par_shm_arena *a, shm_lock *l,
                       int (*check)(void *), void *data);
void par__shm_lock_give(shm_lock *l);

/* Take L if nobody holds it (recovering it if its holder died): PAR_OK,
 * or 1 if a live process holds it. */
int par__shm_lock_try(par_shm_arena *a, shm_lock *l);

/* Write VALUE to *WORD (in arena A) after recording its old value in L's
 * journal. */
void par__shm_jset(par_shm_arena *a, shm_lock *l, uint64_t *word,
                   uint64_t value);

/* Forget L's journal: the change is complete. Every locked operation ends
 * with a commit before it gives the lock or does something that could
 * fail. */
void par__shm_commit(shm_lock *l);

/* --- Blocks (shm-alloc.c) ------------------------------------------------ */

/* Allocate a block of KIND with PAYLOAD bytes after its header and write
 * its offset to *OUT. Objects (vectors, dicts, lists) start with one
 * reference for an owning process, and with none, on the zero list, for a
 * borrowing one. The header's other fields are zero, the payload is not
 * cleared. Takes the arena lock. */
int par__shm_alloc(par_shm_arena *a, uint64_t kind, uint64_t payload,
                   uint64_t *out);

/* The same, also telling whether the block's memory is known to hold
 * zeros (fresh or punched pages), which spares clearing it. */
int par__shm_alloc_zeroed(par_shm_arena *a, uint64_t kind, uint64_t payload,
                          uint64_t *out, bool *zeroed);

/* Free a block that is not an object (a blob, a table, cells). */
void par__shm_free(par_shm_arena *a, uint64_t off);

/* Add DELTA (1 or -1) to the references of object OFF; at zero, free it
 * (or list it on the zero list while the arena is borrowed). Takes the
 * arena lock, unless LOCKED. */
void par__shm_ref_add(par_shm_arena *a, uint64_t off, int delta,
                      bool locked);

/* The shm_lock of dict or list OFF. */
shm_lock *par__shm_object_lock(par_shm_arena *a, uint64_t off);

/* Free the zero-listed blocks whose count is still zero; the caller
 * holds the arena lock and the arena is no longer borrowed. */
void par__shm_flush_zero_list(par_shm_arena *a);

/* Whether OFF can be the start of a block of A (in range, aligned). */
bool par__shm_valid_offset(const par_shm_arena *a, uint64_t off);

/* --- Cells (shm-cell.c) -------------------------------------------------- */

/* Make C (a local copy, not yet stored) hold VALUE: inline bytes, a new
 * blob, or a new reference to an object of A. On failure nothing is
 * held. */
int par__shm_cell_make(par_shm_arena *a, const par_shm_value *value,
                       shm_cell *c);

/* Release what cell C holds (a blob, a reference). */
void par__shm_cell_release(par_shm_arena *a, const shm_cell *c);

/* Copy what C holds into OUT, as par_shm_value (bytes malloc'ed, objects
 * held). */
int par__shm_cell_read(par_shm_arena *a, const shm_cell *c,
                       par_shm_value *out);

/* Store cell C (made by par__shm_cell_make) into *DST under lock L. */
void par__shm_cell_store(par_shm_arena *a, shm_lock *l, shm_cell *dst,
                         const shm_cell *c);

/* The bytes of an inline or blob cell. */
const void *par__shm_cell_bytes(par_shm_arena *a, const shm_cell *c,
                                size_t *len);

/* Release everything a dict or list holds, when it is freed. */
void par__shm_dict_release_all(par_shm_arena *a, uint64_t off);
void par__shm_list_release_all(par_shm_arena *a, uint64_t off);

/* Fault injection (par_shm_test_crash_at). */
void par__shm_crash_point(void);

#endif /* PAR_SHM_INTERNAL_H */
