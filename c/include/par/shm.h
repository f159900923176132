/* par/shm.h — shared memory: arenas of objects that processes map.
 *
 * An arena is one memfd (memfd_create: it has no name in any file system,
 * so nothing is ever left in /dev/shm) mapped by every process that uses
 * it. Its size is fixed and sealed when it is made (the capacity), but its
 * pages exist only once they are written, so a large capacity costs
 * address space, not memory. Inside, a robust, journaled allocator hands
 * out blocks addressed by their offset (a par_shm_ref), which means the
 * same thing in every process whatever address the arena is mapped at.
 *
 * Blocks are the objects: numeric vectors and arrays (whose elements any
 * process reads and writes in place), dicts (hash tables whose keys and
 * values are bytes or other objects of the same arena) and lists. Every
 * object has a reference count in its header: one reference per entry of
 * a dict or list that holds it, and one per process that holds it
 * (par_shm_hold). An object whose count falls to zero is freed, with what
 * it holds.
 *
 * Processes. The process that makes or opens an arena owns its mapping:
 * its holds are counted. A process forked from it inherits the mapping
 * and borrows it: its holds are not counted, and it relies instead on the
 * arena's borrowers count, which the parent raises for the duration of a
 * run (par_shm_run_begin, par_shm_run_end): while it is non-zero, nothing
 * of the arena is freed; objects whose count falls to zero wait on the
 * arena's zero list, and the last run to end frees those still unused. So
 * a forked worker may use whatever it inherited or received, and may die
 * at any point, without leaking or freeing anything. Another process finds
 * an arena through the file descriptor of a process that maps it
 * (/proc/PID/fd/N, allowed between processes of the same user).
 *
 * Locks. The allocator and every dict and list have a process-shared,
 * robust mutex, and every change made under one is journaled (an undo log
 * of the words written, kept beside the mutex): when a process dies
 * holding a lock, the next process to take it undoes the unfinished change
 * and carries on, so the data is as it was before that change. Memory that
 * the dead process had allocated but not yet stored anywhere is lost until
 * the arena itself goes.
 *
 * Threads: every function may be called from any thread (the finalizers
 * of a garbage collector, say). Errors: PAR_OK or a negative code;
 * par_shm_error_detail says more about the last failure of the calling
 * thread. Ownership is said function by function.
 */
#ifndef PAR_SHM_H
#define PAR_SHM_H

#include <sys/types.h>

#include "common.h"
#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct par_shm_arena par_shm_arena;

/* An object: the offset of its block in its arena; 0 is no object. */
typedef uint64_t par_shm_ref;

/* A sentence about the last failure of a par_shm_ function in the calling
 * thread ("the arena of 1073741824 bytes is full: 4096 more bytes are
 * needed"); "" if none. Valid until the thread's next call. */
PAR_EXTERN const char *par_shm_error_detail(void);

/* --- Arenas -------------------------------------------------------------- */

/* The capacity of the arenas this process makes: the environment variable
 * PARALLELIZER_SHM_CAPACITY (bytes, with an optional K, M, G or T suffix)
 * if set, else the machine's physical memory; in both cases at most a
 * quarter of RLIMIT_AS when that is limited, and at least 1 MiB. */
PAR_EXTERN size_t par_shm_default_capacity(void);

/* Make a new arena of CAPACITY bytes (0: the default) and map it; this
 * process owns it. The caller owns *OUT until par_shm_arena_close. Errors:
 * PAR_ESYS (memfd_create, mmap: the detail says which), PAR_ENOMEM. */
PAR_EXTERN int par_shm_arena_create(size_t capacity, par_shm_arena **out);

/* The arena whose identity is ID: this process's mapping of it if it has
 * one, else a new mapping opened through /proc/PID/fd/FD, a descriptor of
 * process PID that refers to it. *OUT belongs to the registry of this
 * process, which closes it once this process holds nothing in it (see
 * par_shm_release); it is in use, and stays mapped, until the caller
 * calls par_shm_arena_leave(*OUT), once it holds what it needs of it.
 * Errors: PAR_ENOENT (PID is gone, its descriptor FD is closed or is not
 * that arena: the process is on another machine or has let the arena
 * go), PAR_ESYS. */
PAR_EXTERN int par_shm_arena_attach(uint64_t id, pid_t pid, int fd,
                                    par_shm_arena **out);

/* Unmap A, an arena of par_shm_arena_create, and close its descriptor; A
 * may be NULL. Only this process's mapping goes: the memory lives on while
 * any other process maps it. Every object of A this process holds must
 * have been released. */
PAR_EXTERN void par_shm_arena_close(par_shm_arena *a);

/* The arena that new objects of this process go into: the one inherited
 * from the process that forked this one, or one made on first use, which
 * belongs to the registry as those of par_shm_arena_attach do. It is in
 * use until par_shm_arena_leave. */
PAR_EXTERN int par_shm_home(par_shm_arena **out);

/* The caller of par_shm_home or par_shm_arena_attach no longer uses A
 * (but for the objects it holds). */
PAR_EXTERN void par_shm_arena_leave(par_shm_arena *a);

/* The arena of this process whose mapping contains ADDR, or NULL. */
PAR_EXTERN par_shm_arena *par_shm_arena_containing(const void *addr);

PAR_EXTERN uint64_t par_shm_arena_id(const par_shm_arena *a);
PAR_EXTERN int par_shm_arena_fd(const par_shm_arena *a);
PAR_EXTERN size_t par_shm_arena_capacity(const par_shm_arena *a);

/* Non-zero if this process borrows A (it inherited the mapping from the
 * process that owns it) rather than owning it. */
PAR_EXTERN int par_shm_arena_borrowed(const par_shm_arena *a);

typedef struct par_shm_stats {
  size_t capacity;     /* bytes of the arena */
  size_t used;         /* bytes ever handed out (the high-water mark) */
  size_t live_objects; /* vectors, dicts and lists allocated */
  size_t live_bytes;   /* bytes in allocated blocks, of every kind */
  size_t free_bytes;   /* bytes in free blocks below the high-water mark */
  size_t borrowers;    /* runs in progress that borrow the arena */
  size_t zero_listed;  /* objects waiting for those runs to end */
  size_t recoveries;   /* locks recovered from a process that died */
} par_shm_stats;

/* Figures of A, read under its lock. */
PAR_EXTERN int par_shm_arena_stats(par_shm_arena *a, par_shm_stats *out);

/* --- Runs and the life of mappings ------------------------------------- */

/* Called by a process before it forks workers that will borrow its
 * arenas: raises the borrowers count of every arena it maps and makes sure
 * it has a home arena for the workers to share (a memfd, mapped only when
 * a process first uses it). Runs nest. */
PAR_EXTERN int par_shm_run_begin(void);

/* Called once the workers of the innermost run are gone: lowers what
 * par_shm_run_begin raised, frees what waited for it, and closes the home
 * arena made for the run if no process of it used it. */
PAR_EXTERN void par_shm_run_end(void);

/* Hold REF for this process until par_shm_unpin_all: what a process does
 * with the objects it sends to processes that do not borrow its arenas,
 * so that they outlive the message. */
PAR_EXTERN int par_shm_pin(par_shm_arena *a, par_shm_ref ref);
PAR_EXTERN void par_shm_unpin_all(void);

/* Close the arenas of the registry that this process neither holds
 * anything in, nor uses, nor runs workers on. par_shm_release and
 * par_shm_run_end do so as soon as an arena is in that state; this
 * returns the number of arenas closed now, which is 0 but after errors. */
PAR_EXTERN int par_shm_close_unused(void);

/* --- Objects ------------------------------------------------------------- */

typedef enum par_shm_kind {
  PAR_SHM_VECTOR = 1,
  PAR_SHM_DICT = 2,
  PAR_SHM_LIST = 3
} par_shm_kind;

/* Check that REF is an object of A whose serial number is SERIAL (SERIAL
 * 0: any) and write its kind. PAR_ENOENT if REF is no longer that object
 * (it was freed), PAR_EMALFORMED if REF is not an object at all. */
PAR_EXTERN int par_shm_check(par_shm_arena *a, par_shm_ref ref,
                             uint64_t serial, par_shm_kind *kind);

/* The serial number of object REF: unique in its arena for its life. */
PAR_EXTERN uint64_t par_shm_serial(par_shm_arena *a, par_shm_ref ref);

/* Count one more (hold) or one less (release) holder of REF in this
 * process. In a process that borrows A, both only keep the process's own
 * tally. Releasing the last reference frees the object. par_shm_release
 * returns non-zero when it gave back the last hold of this process on
 * anything of A; an arena of the registry is then closed, unless a run
 * of this process borrows it (it is then closed at the run's end). */
PAR_EXTERN int par_shm_hold(par_shm_arena *a, par_shm_ref ref);
PAR_EXTERN int par_shm_release(par_shm_arena *a, par_shm_ref ref);

/* The address of REF's block in this process, and back. */
PAR_EXTERN void *par_shm_address(par_shm_arena *a, par_shm_ref ref);
PAR_EXTERN par_shm_ref par_shm_ref_at(par_shm_arena *a, const void *addr);

/* --- Vectors ------------------------------------------------------------- */

/* Element types are par_dtype values, plus PAR_SHM_BYTES for the bytes of
 * a bytevector. */
#define PAR_SHM_BYTES ((int) PAR_DTYPE_COUNT)

typedef struct par_shm_vector_info {
  int etype;            /* a par_dtype or PAR_SHM_BYTES */
  size_t count;         /* elements */
  int plain;            /* a vector, not an array object */
  size_t rank;          /* dimensions (1 for a plain vector) */
  const int64_t *dims;  /* RANK pairs (lower bound, upper bound) */
  void *data;           /* the elements, in this process */
  size_t nbytes;        /* COUNT times the element size */
} par_shm_vector_info;

/* A new vector of RANK dimensions DIMS (pairs of inclusive bounds, as
 * Guile's arrays have; PLAIN for a vector, which has one dimension from
 * 0). Its elements are zero if CLEAR; otherwise the caller is to write
 * every one. The caller holds it. Errors: PAR_EINVAL, PAR_ENOMEM (the
 * arena is full; see the detail). */
PAR_EXTERN int par_shm_vector_new(par_shm_arena *a, int etype, int plain,
                                  size_t rank, const int64_t *dims,
                                  int clear, par_shm_ref *out);

/* The description of vector REF; its pointers live as long as it does. */
PAR_EXTERN int par_shm_vector_info_of(par_shm_arena *a, par_shm_ref ref,
                                      par_shm_vector_info *out);

/* --- Values of dicts and lists ------------------------------------------ */

/* A value stored in a dict or a list: bytes (an encoded value, such as
 * the wire format's) or an object of the same arena. */
typedef enum par_shm_value_kind {
  PAR_SHM_NONE = 0,
  PAR_SHM_ENCODED = 1,
  PAR_SHM_OBJECT = 2
} par_shm_value_kind;

typedef struct par_shm_value {
  par_shm_value_kind kind;
  void *bytes;         /* ENCODED: LEN bytes */
  size_t len;
  par_shm_ref ref;     /* OBJECT */
} par_shm_value;

#define PAR_SHM_VALUE_INIT {PAR_SHM_NONE, NULL, 0, 0}

/* Values are read out as copies: the bytes malloc'ed, the object held
 * for the caller. par_shm_value_clear frees the bytes, releases the
 * object and resets V; V may be NULL. */
PAR_EXTERN void par_shm_value_clear(par_shm_arena *a, par_shm_value *v);

/* A key and its value, as par_shm_dict_items returns them. */
typedef struct par_shm_item {
  par_shm_value key;
  par_shm_value value;
} par_shm_item;

/* Clear the N items of ITEMS and free the array. */
PAR_EXTERN void par_shm_items_free(par_shm_arena *a, par_shm_item *items,
                                   size_t n);

/* --- Dicts --------------------------------------------------------------- */

/* A new empty dict, held by the caller. */
PAR_EXTERN int par_shm_dict_new(par_shm_arena *a, par_shm_ref *out);

/* Keys are bytes compared byte for byte. get copies the value of KEY into
 * *OUT (PAR_ENOENT if absent); put stores a copy of VALUE (holding an
 * object value) in place of any earlier one; delete removes KEY
 * (PAR_ENOENT if absent). */
PAR_EXTERN int par_shm_dict_get(par_shm_arena *a, par_shm_ref dict,
                                const void *key, size_t keylen,
                                par_shm_value *out);
PAR_EXTERN int par_shm_dict_put(par_shm_arena *a, par_shm_ref dict,
                                const void *key, size_t keylen,
                                const par_shm_value *value);
PAR_EXTERN int par_shm_dict_delete(par_shm_arena *a, par_shm_ref dict,
                                   const void *key, size_t keylen);
PAR_EXTERN int par_shm_dict_count(par_shm_arena *a, par_shm_ref dict,
                                  size_t *out);

/* Copies of every entry, in the dict's order, taken under its lock: a
 * malloc'ed array of *N items that the caller frees with
 * par_shm_items_free. */
PAR_EXTERN int par_shm_dict_items(par_shm_arena *a, par_shm_ref dict,
                                  par_shm_item **out, size_t *n);

/* --- Lists --------------------------------------------------------------- */

PAR_EXTERN int par_shm_list_new(par_shm_arena *a, par_shm_ref *out);

/* Element I (from 0): PAR_ERANK when out of range. */
PAR_EXTERN int par_shm_list_get(par_shm_arena *a, par_shm_ref list,
                                size_t i, par_shm_value *out);
PAR_EXTERN int par_shm_list_set(par_shm_arena *a, par_shm_ref list,
                                size_t i, const par_shm_value *value);

/* Add VALUE at the end; *INDEX (may be NULL) is its position. */
PAR_EXTERN int par_shm_list_append(par_shm_arena *a, par_shm_ref list,
                                   const par_shm_value *value,
                                   size_t *index);
PAR_EXTERN int par_shm_list_length(par_shm_arena *a, par_shm_ref list,
                                   size_t *out);

/* Copies of every element (the KEY of each item is empty). */
PAR_EXTERN int par_shm_list_items(par_shm_arena *a, par_shm_ref list,
                                  par_shm_item **out, size_t *n);

/* --- Read-modify-write --------------------------------------------------- */

/* Take the lock of dict or list OBJ for a sequence of operations that
 * must see no other process's change in between; the lock is recursive,
 * so the operations above may be called while it is held. While waiting,
 * CHECK(DATA) is called every few milliseconds (CHECK may be NULL): a
 * non-zero return gives up with PAR_EINTR. A lock whose holder died is
 * recovered as described above. */
PAR_EXTERN int par_shm_lock(par_shm_arena *a, par_shm_ref obj,
                            int (*check)(void *data), void *data);
PAR_EXTERN void par_shm_unlock(par_shm_arena *a, par_shm_ref obj);

/* Fault injection, for tests of recovery: the calling process kills
 * itself with SIGKILL at the Nth journaled write (from 1) under a lock
 * after this call; 0 disarms. */
PAR_EXTERN void par_shm_test_crash_at(int n);

#ifdef __cplusplus
}
#endif

#endif /* PAR_SHM_H */
