/* check_shm.c — Check suite "shm": arenas of shared objects.
 *
 * Every test runs in its own process (Check's fork mode), so each starts
 * with no arena and its timeout is a hard limit. The "core" case checks
 * the objects and the allocator in one process; "processes" forks: a child
 * borrows the arenas of a run or opens another process's arena through
 * /proc; in "deaths" a child dies (SIGKILL) holding a lock or half-way
 * through a journaled change, after which the parent must find the data
 * as it was.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parallelizer.h"
#include "par/shm.h"

#define MiB ((size_t) 1 << 20)

/* An offset inside any arena (its header). */
#define SHM_HEADER 64

static par_shm_arena *
make_arena(size_t capacity)
{
  par_shm_arena *a = NULL;

  ck_assert_msg(par_shm_arena_create(capacity, &a) == PAR_OK, "%s",
                par_shm_error_detail());
  return a;
}

static par_shm_stats
stats(par_shm_arena *a)
{
  par_shm_stats s;

  ck_assert_int_eq(par_shm_arena_stats(a, &s), PAR_OK);
  return s;
}

static par_shm_value
bytes(const char *text)
{
  par_shm_value v = {PAR_SHM_ENCODED, (void *) text, strlen(text), 0};

  return v;
}

static par_shm_value
object(par_shm_ref ref)
{
  par_shm_value v = {PAR_SHM_OBJECT, NULL, 0, ref};

  return v;
}

/* The bytes of dict D under KEY, as a string (a static buffer), or NULL. */
static const char *
lookup(par_shm_arena *a, par_shm_ref d, const char *key)
{
  static char buf[4096];
  par_shm_value v = PAR_SHM_VALUE_INIT;

  if (par_shm_dict_get(a, d, key, strlen(key), &v) != PAR_OK) {
    return NULL;
  }
  ck_assert_int_eq(v.kind, PAR_SHM_ENCODED);
  ck_assert_uint_lt(v.len, sizeof buf);
  memcpy(buf, v.bytes, v.len);
  buf[v.len] = '\0';
  par_shm_value_clear(a, &v);
  return buf;
}

static par_shm_ref
vector(par_shm_arena *a, par_dtype type, int64_t n)
{
  int64_t dims[2] = {0, n - 1};
  par_shm_ref v = 0;

  ck_assert_msg(par_shm_vector_new(a, type, 1, 1, dims, 1, &v) == PAR_OK, "%s",
                par_shm_error_detail());
  return v;
}

/* --- core ---------------------------------------------------------------- */

START_TEST(test_arena)
{
  par_shm_arena *a = make_arena(64 * MiB);
  par_shm_stats s = stats(a);

  ck_assert_uint_eq(par_shm_arena_capacity(a), 64 * MiB);
  ck_assert_uint_eq(s.capacity, 64 * MiB);
  ck_assert_uint_eq(s.live_objects, 0);
  ck_assert_int_eq(par_shm_arena_borrowed(a), 0);
  ck_assert_ptr_eq(par_shm_arena_containing((char *) par_shm_address(a, 0)
                                            + 100),
                   a);
  ck_assert_ptr_null(par_shm_arena_containing(&s));
  par_shm_arena_close(a);
}
END_TEST

START_TEST(test_default_capacity)
{
  setenv("PARALLELIZER_SHM_CAPACITY", "3M", 1);
  ck_assert_uint_eq(par_shm_default_capacity(), 3 * MiB);
  setenv("PARALLELIZER_SHM_CAPACITY", "nonsense", 1);
  ck_assert_uint_gt(par_shm_default_capacity(), 3 * MiB);
  unsetenv("PARALLELIZER_SHM_CAPACITY");
}
END_TEST

START_TEST(test_vector)
{
  par_shm_arena *a = make_arena(64 * MiB);
  int64_t dims[6] = {0, 9, 0, 4, 1, 5};
  par_shm_vector_info info;
  par_shm_kind kind;
  par_shm_ref v;
  double *d;

  ck_assert_int_eq(par_shm_vector_new(a, PAR_F64, 0, 3, dims, 1, &v), PAR_OK);
  ck_assert_int_eq(par_shm_check(a, v, par_shm_serial(a, v), &kind), PAR_OK);
  ck_assert_int_eq(kind, PAR_SHM_VECTOR);
  ck_assert_int_eq(par_shm_vector_info_of(a, v, &info), PAR_OK);
  ck_assert_uint_eq(info.count, 250);
  ck_assert_uint_eq(info.rank, 3);
  ck_assert_int_eq(info.dims[4], 1);
  ck_assert_uint_eq(info.nbytes, 2000);
  ck_assert_uint_eq((uintptr_t) info.data % 64, 0);
  d = info.data;
  for (int i = 0; i < 250; i++) {
    ck_assert(d[i] == 0.0);
  }
  ck_assert_uint_eq(stats(a).live_objects, 1);
  par_shm_release(a, v);
  ck_assert_uint_eq(stats(a).live_objects, 0);
  ck_assert_uint_eq(stats(a).live_bytes, 0);
  ck_assert_int_eq(par_shm_check(a, v, 0, &kind), PAR_ENOENT);
  /* Plain vectors have one dimension from 0; bad types are refused. */
  ck_assert_int_eq(par_shm_vector_new(a, PAR_F64, 1, 3, dims, 1, &v),
                   PAR_EINVAL);
  ck_assert_int_eq(par_shm_vector_new(a, 99, 0, 3, dims, 1, &v), PAR_EINVAL);
  par_shm_arena_close(a);
}
END_TEST

START_TEST(test_dict)
{
  par_shm_arena *a = make_arena(64 * MiB);
  par_shm_ref d;
  par_shm_value v;
  par_shm_item *items;
  size_t n;
  char key[32], value[64];
  static const char long_value[] = "a value longer than sixteen bytes";

  ck_assert_int_eq(par_shm_dict_new(a, &d), PAR_OK);
  ck_assert_ptr_null(lookup(a, d, "a"));
  v = bytes("one");
  ck_assert_int_eq(par_shm_dict_put(a, d, "a", 1, &v), PAR_OK);
  ck_assert_str_eq(lookup(a, d, "a"), "one");
  v = bytes(long_value);
  ck_assert_int_eq(par_shm_dict_put(a, d, "a", 1, &v), PAR_OK);
  ck_assert_str_eq(lookup(a, d, "a"), long_value);
  /* Many keys, long and short: the table is rebuilt several times. */
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, i % 2 ? "k%d" : "a much longer key %d", i);
    snprintf(value, sizeof value, "value %d", i * 7);
    v = bytes(value);
    ck_assert_int_eq(par_shm_dict_put(a, d, key, strlen(key), &v), PAR_OK);
  }
  ck_assert_int_eq(par_shm_dict_count(a, d, &n), PAR_OK);
  ck_assert_uint_eq(n, 1001);
  for (int i = 0; i < 1000; i += 3) {
    snprintf(key, sizeof key, i % 2 ? "k%d" : "a much longer key %d", i);
    ck_assert_int_eq(par_shm_dict_delete(a, d, key, strlen(key)), PAR_OK);
    ck_assert_int_eq(par_shm_dict_delete(a, d, key, strlen(key)),
                     PAR_ENOENT);
  }
  for (int i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, i % 2 ? "k%d" : "a much longer key %d", i);
    snprintf(value, sizeof value, "value %d", i * 7);
    if (i % 3 == 0) {
      ck_assert_ptr_null(lookup(a, d, key));
    } else {
      ck_assert_str_eq(lookup(a, d, key), value);
    }
  }
  ck_assert_int_eq(par_shm_dict_items(a, d, &items, &n), PAR_OK);
  ck_assert_uint_eq(n, 1 + 1000 - 334);
  par_shm_items_free(a, items, n);
  par_shm_release(a, d);
  ck_assert_uint_eq(stats(a).live_bytes, 0);
  par_shm_arena_close(a);
}
END_TEST

/* Objects held by entries live as long as an entry or a holder does. */
START_TEST(test_nesting)
{
  par_shm_arena *a = make_arena(64 * MiB);
  par_shm_ref outer, inner, vec, list;
  par_shm_value v, out = PAR_SHM_VALUE_INIT;
  par_shm_vector_info info;
  par_shm_kind kind;

  ck_assert_int_eq(par_shm_dict_new(a, &outer), PAR_OK);
  ck_assert_int_eq(par_shm_dict_new(a, &inner), PAR_OK);
  ck_assert_int_eq(par_shm_list_new(a, &list), PAR_OK);
  vec = vector(a, PAR_F64, 1000);
  v = object(vec);
  ck_assert_int_eq(par_shm_dict_put(a, inner, "v", 1, &v), PAR_OK);
  ck_assert_int_eq(par_shm_list_append(a, list, &v, NULL), PAR_OK);
  v = object(inner);
  ck_assert_int_eq(par_shm_dict_put(a, outer, "d", 1, &v), PAR_OK);
  v = object(list);
  ck_assert_int_eq(par_shm_dict_put(a, outer, "l", 1, &v), PAR_OK);
  par_shm_release(a, vec);
  par_shm_release(a, inner);
  par_shm_release(a, list);
  ck_assert_uint_eq(stats(a).live_objects, 4);
  /* Reading gives a held object, the same block. */
  ck_assert_int_eq(par_shm_dict_get(a, outer, "d", 1, &out), PAR_OK);
  ck_assert_int_eq(out.kind, PAR_SHM_OBJECT);
  ck_assert_uint_eq(out.ref, inner);
  par_shm_value_clear(a, &out);
  ck_assert_int_eq(par_shm_dict_get(a, inner, "v", 1, &out), PAR_OK);
  ck_assert_int_eq(par_shm_vector_info_of(a, out.ref, &info), PAR_OK);
  ((double *) info.data)[3] = 1.5;
  par_shm_value_clear(a, &out);
  /* Dropping the entry of the inner dict keeps the vector: the list
   * still has it. */
  ck_assert_int_eq(par_shm_dict_delete(a, outer, "d", 1), PAR_OK);
  ck_assert_int_eq(par_shm_check(a, inner, 0, &kind), PAR_ENOENT);
  ck_assert_int_eq(par_shm_check(a, vec, 0, &kind), PAR_OK);
  ck_assert_int_eq(par_shm_list_get(a, list, 0, &out), PAR_OK);
  ck_assert_int_eq(par_shm_vector_info_of(a, out.ref, &info), PAR_OK);
  ck_assert(((double *) info.data)[3] == 1.5);
  par_shm_value_clear(a, &out);
  ck_assert_int_eq(par_shm_list_get(a, list, 1, &out), PAR_ERANK);
  par_shm_release(a, outer);
  ck_assert_uint_eq(stats(a).live_objects, 0);
  ck_assert_uint_eq(stats(a).live_bytes, 0);
  par_shm_arena_close(a);
}
END_TEST

START_TEST(test_list)
{
  par_shm_arena *a = make_arena(64 * MiB);
  par_shm_ref l;
  par_shm_value v, out = PAR_SHM_VALUE_INIT;
  par_shm_item *items;
  size_t n, index;
  char text[32];

  ck_assert_int_eq(par_shm_list_new(a, &l), PAR_OK);
  for (int i = 0; i < 100; i++) {
    snprintf(text, sizeof text, i % 2 ? "%d" : "element number %d", i);
    v = bytes(text);
    ck_assert_int_eq(par_shm_list_append(a, l, &v, &index), PAR_OK);
    ck_assert_uint_eq(index, (size_t) i);
  }
  v = bytes("replaced, and long enough for a blob");
  ck_assert_int_eq(par_shm_list_set(a, l, 10, &v), PAR_OK);
  ck_assert_int_eq(par_shm_list_set(a, l, 100, &v), PAR_ERANK);
  ck_assert_int_eq(par_shm_list_length(a, l, &n), PAR_OK);
  ck_assert_uint_eq(n, 100);
  ck_assert_int_eq(par_shm_list_get(a, l, 10, &out), PAR_OK);
  ck_assert_uint_eq(out.len, strlen(v.bytes));
  par_shm_value_clear(a, &out);
  ck_assert_int_eq(par_shm_list_items(a, l, &items, &n), PAR_OK);
  ck_assert_uint_eq(n, 100);
  ck_assert_int_eq(memcmp(items[99].value.bytes, "99", 2), 0);
  par_shm_items_free(a, items, n);
  par_shm_release(a, l);
  ck_assert_uint_eq(stats(a).live_bytes, 0);
  par_shm_arena_close(a);
}
END_TEST

/* Random blocks of every size: none overlaps another, and all of the
 * memory comes back. */
START_TEST(test_allocator)
{
  enum { N = 400 };
  par_shm_arena *a = make_arena(256 * MiB);
  par_shm_ref d, refs[N] = {0};
  size_t sizes[N] = {0};
  unsigned seed = 12345;

  ck_assert_int_eq(par_shm_dict_new(a, &d), PAR_OK);
  for (int round = 0; round < 4000; round++) {
    int i = (int) (rand_r(&seed) % N);

    if (refs[i] != 0) {
      par_shm_vector_info info;
      unsigned char *p;

      ck_assert_int_eq(par_shm_vector_info_of(a, refs[i], &info), PAR_OK);
      p = info.data;
      for (size_t k = 0; k < sizes[i]; k += 97) {
        ck_assert_uint_eq(p[k], (unsigned char) i);
      }
      par_shm_release(a, refs[i]);
      refs[i] = 0;
    } else {
      par_shm_vector_info info;
      size_t n = rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 300000
                                        : rand_r(&seed) % 3000;

      refs[i] = vector(a, PAR_U8, (int64_t) n);
      sizes[i] = n;
      ck_assert_int_eq(par_shm_vector_info_of(a, refs[i], &info), PAR_OK);
      memset(info.data, i, n);
    }
  }
  for (int i = 0; i < N; i++) {
    if (refs[i] != 0) {
      par_shm_release(a, refs[i]);
    }
  }
  par_shm_release(a, d);
  ck_assert_uint_eq(stats(a).live_objects, 0);
  ck_assert_uint_eq(stats(a).live_bytes, 0);
  par_shm_arena_close(a);
}
END_TEST

/* A full arena says so, and works again once memory is freed; freed
 * memory beyond the warm limit is given back and reads as zeros. */
START_TEST(test_capacity)
{
  par_shm_arena *a = make_arena(2 * MiB);
  par_shm_ref refs[64];
  int n = 0, rc = PAR_OK;

  while (n < 64) {
    int64_t dims[2] = {0, 100 * 1024 - 1};

    rc = par_shm_vector_new(a, PAR_U8, 1, 1, dims, 1, &refs[n]);
    if (rc != PAR_OK) {
      break;
    }
    n++;
  }
  ck_assert_int_eq(rc, PAR_ENOMEM);
  ck_assert_ptr_nonnull(strstr(par_shm_error_detail(), "full"));
  ck_assert_int_gt(n, 10);
  par_shm_release(a, refs[0]);
  ck_assert_uint_gt(vector(a, PAR_U8, 1000), 0);
  par_shm_arena_close(a);

  a = make_arena(1024 * MiB);
  {
    par_shm_ref big[3];
    par_shm_vector_info info;

    for (int i = 0; i < 3; i++) {
      big[i] = vector(a, PAR_U8, 150 * (int64_t) MiB);
    }
    for (int i = 0; i < 3; i++) {
      par_shm_release(a, big[i]);
    }
    ck_assert_uint_ge(stats(a).free_bytes, 450 * MiB);
    big[0] = vector(a, PAR_U8, 300 * (int64_t) MiB);
    ck_assert_int_eq(par_shm_vector_info_of(a, big[0], &info), PAR_OK);
    for (size_t k = 0; k < info.nbytes; k += 10 * MiB + 1) {
      ck_assert_uint_eq(((unsigned char *) info.data)[k], 0);
    }
    par_shm_release(a, big[0]);
  }
  par_shm_arena_close(a);
}
END_TEST

/* An arena is idle, and can be closed, once the process holds nothing
 * in it: new objects count as held. */
START_TEST(test_idle)
{
  par_shm_arena *a;
  par_shm_ref anchor, v, d;
  void *where;

  ck_assert_int_eq(par_shm_home(&a), PAR_OK);
  anchor = vector(a, PAR_F64, 1);
  where = par_shm_address(a, anchor);
  v = vector(a, PAR_F64, 1000);
  ck_assert_int_eq(par_shm_dict_new(a, &d), PAR_OK);
  par_shm_arena_leave(a);
  ck_assert_int_eq(par_shm_release(a, v), 0);
  ck_assert_int_eq(par_shm_release(a, d), 0);
  ck_assert_int_eq(par_shm_close_unused(), 0);
  ck_assert_ptr_eq(par_shm_arena_containing(where), a);
  /* The last object gone, the arena goes. */
  ck_assert_int_ne(par_shm_release(a, anchor), 0);
  ck_assert_ptr_null(par_shm_arena_containing(where));
  /* An arena in use stays without objects, until it is left. */
  ck_assert_int_eq(par_shm_home(&a), PAR_OK);
  where = par_shm_address(a, SHM_HEADER);
  ck_assert_int_eq(par_shm_close_unused(), 0);
  ck_assert_ptr_eq(par_shm_arena_containing(where), a);
  par_shm_arena_leave(a);
  ck_assert_ptr_null(par_shm_arena_containing(where));
}
END_TEST

/* --- processes ----------------------------------------------------------- */

static int
wait_child(pid_t pid)
{
  int status = 0;

  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  return status;
}

/* A child borrows the arena during a run: what it makes and does not
 * store goes when the run ends; what it stores stays. */
START_TEST(test_borrowed_run)
{
  par_shm_arena *a;
  par_shm_ref d;
  pid_t pid;

  /* In use until the end, for stats. */
  ck_assert_int_eq(par_shm_home(&a), PAR_OK);
  ck_assert_int_eq(par_shm_dict_new(a, &d), PAR_OK);
  ck_assert_int_eq(par_shm_run_begin(), PAR_OK);
  ck_assert_uint_eq(stats(a).borrowers, 1);
  pid = fork();
  if (pid == 0) {
    par_shm_arena *h;
    par_shm_value v;
    par_shm_ref kept, lost;

    if (par_shm_home(&h) != PAR_OK || h != a || !par_shm_arena_borrowed(h)) {
      _exit(1);
    }
    kept = vector(h, PAR_F64, 10);
    lost = vector(h, PAR_F64, 10);
    v = object(kept);
    if (par_shm_dict_put(h, d, "kept", 4, &v) != PAR_OK) {
      _exit(2);
    }
    /* A borrower's release counts nothing. */
    par_shm_release(h, kept);
    par_shm_release(h, lost);
    par_shm_release(h, d);
    _exit(stats(h).zero_listed == 2 ? 0 : 3);
  }
  ck_assert_int_eq(wait_child(pid), 0);
  ck_assert_uint_eq(stats(a).live_objects, 3);
  par_shm_run_end();
  ck_assert_uint_eq(stats(a).borrowers, 0);
  ck_assert_uint_eq(stats(a).zero_listed, 0);
  ck_assert_uint_eq(stats(a).live_objects, 2);
  par_shm_release(a, d);
  ck_assert_uint_eq(stats(a).live_objects, 0);
  par_shm_arena_leave(a);
}
END_TEST

/* Objects a borrower made inside each other and dropped all go at the
 * end of the run, whatever the order they wait in. */
START_TEST(test_borrowed_nest)
{
  par_shm_arena *a;
  pid_t pid;

  /* The arena stays in use, for stats below. */
  ck_assert_int_eq(par_shm_home(&a), PAR_OK);
  ck_assert_int_eq(par_shm_run_begin(), PAR_OK);
  pid = fork();
  if (pid == 0) {
    par_shm_ref outer, inner, list, vec;
    par_shm_value v;

    vec = vector(a, PAR_F64, 100);
    if (par_shm_dict_new(a, &inner) != PAR_OK
        || par_shm_dict_new(a, &outer) != PAR_OK
        || par_shm_list_new(a, &list) != PAR_OK) {
      _exit(1);
    }
    v = object(vec);
    par_shm_dict_put(a, inner, "v", 1, &v);
    par_shm_list_append(a, list, &v, NULL);
    v = object(inner);
    par_shm_dict_put(a, outer, "i", 1, &v);
    v = object(list);
    par_shm_dict_put(a, outer, "l", 1, &v);
    _exit(stats(a).zero_listed == 4 ? 0 : 2);
  }
  ck_assert_int_eq(wait_child(pid), 0);
  ck_assert_uint_eq(stats(a).live_objects, 4);
  par_shm_run_end();
  ck_assert_uint_eq(stats(a).zero_listed, 0);
  ck_assert_uint_eq(stats(a).live_objects, 0);
  ck_assert_uint_eq(stats(a).live_bytes, 0);
}
END_TEST

/* A run begun with no arena makes a memfd that the first process to use
 * maps; the parent finds the objects of the child in it. */
START_TEST(test_run_home)
{
  par_shm_arena *a;
  par_shm_ref ref;
  int fds[2];
  pid_t pid;

  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(par_shm_run_begin(), PAR_OK);
  pid = fork();
  if (pid == 0) {
    par_shm_arena *h;
    par_shm_ref r;
    par_shm_vector_info info;

    if (par_shm_home(&h) != PAR_OK) {
      _exit(1);
    }
    r = vector(h, PAR_S32, 4);
    par_shm_vector_info_of(h, r, &info);
    ((int32_t *) info.data)[2] = 42;
    if (write(fds[1], &r, sizeof r) != sizeof r) {
      _exit(2);
    }
    _exit(0);
  }
  ck_assert_int_eq(read(fds[0], &ref, sizeof ref), (ssize_t) sizeof ref);
  ck_assert_int_eq(wait_child(pid), 0);
  ck_assert_int_eq(par_shm_home(&a), PAR_OK);
  ck_assert_uint_eq(stats(a).borrowers, 1);
  {
    par_shm_vector_info info;

    ck_assert_int_eq(par_shm_hold(a, ref), PAR_OK);
    ck_assert_int_eq(par_shm_vector_info_of(a, ref, &info), PAR_OK);
    ck_assert_int_eq(((int32_t *) info.data)[2], 42);
  }
  par_shm_arena_leave(a);
  par_shm_run_end();
  ck_assert_uint_eq(stats(a).live_objects, 1);
  /* Its last object given back, the arena goes. */
  {
    void *where = par_shm_address(a, ref);

    ck_assert_int_ne(par_shm_release(a, ref), 0);
    ck_assert_ptr_null(par_shm_arena_containing(where));
  }
}
END_TEST

/* A run that nobody shares anything in closes its memfd at the end. */
START_TEST(test_run_unused)
{
  par_shm_arena *a;

  ck_assert_int_eq(par_shm_run_begin(), PAR_OK);
  par_shm_run_end();
  ck_assert_int_eq(par_shm_close_unused(), 0);
  ck_assert_int_eq(par_shm_home(&a), PAR_OK);
  ck_assert_uint_eq(stats(a).borrowers, 0);
  par_shm_arena_leave(a);
}
END_TEST

/* An unrelated arena, found through the /proc entry of its process, stays
 * readable after that process is gone. */
START_TEST(test_attach)
{
  struct {
    uint64_t id;
    int fd;
    par_shm_ref ref;
  } handle;
  int fds[2], go[2];
  par_shm_arena *a;
  par_shm_vector_info info;
  pid_t pid;
  char c = 0;

  ck_assert_int_eq(pipe(fds), 0);
  ck_assert_int_eq(pipe(go), 0);
  pid = fork();
  if (pid == 0) {
    par_shm_arena *own;
    par_shm_vector_info vi;

    if (par_shm_arena_create(16 * MiB, &own) != PAR_OK) {
      _exit(1);
    }
    handle.id = par_shm_arena_id(own);
    handle.fd = par_shm_arena_fd(own);
    handle.ref = vector(own, PAR_F64, 8);
    par_shm_vector_info_of(own, handle.ref, &vi);
    ((double *) vi.data)[7] = 2.5;
    if (write(fds[1], &handle, sizeof handle) != sizeof handle
        || read(go[0], &c, 1) != 1) {
      _exit(2);
    }
    _exit(0);
  }
  ck_assert_int_eq(read(fds[0], &handle, sizeof handle),
                   (ssize_t) sizeof handle);
  ck_assert_msg(par_shm_arena_attach(handle.id, pid, handle.fd, &a) == PAR_OK,
                "%s", par_shm_error_detail());
  ck_assert_int_eq(par_shm_arena_borrowed(a), 0);
  ck_assert_int_eq(par_shm_hold(a, handle.ref), PAR_OK);
  par_shm_arena_leave(a);
  ck_assert_int_eq(write(go[1], &c, 1), 1);
  ck_assert_int_eq(wait_child(pid), 0);
  ck_assert_int_eq(par_shm_vector_info_of(a, handle.ref, &info), PAR_OK);
  ck_assert(((double *) info.data)[7] == 2.5);
  /* The process is gone: its arena cannot be found through it again. */
  ck_assert_int_eq(par_shm_arena_attach(handle.id + 1, pid, handle.fd, &a),
                   PAR_ENOENT);
}
END_TEST

/* A child killed while it holds a dict's lock: the parent takes the lock
 * and finds the dict as it was. */
START_TEST(test_kill_holding_lock)
{
  par_shm_arena *a = make_arena(64 * MiB);
  par_shm_ref d;
  par_shm_value v = bytes("before");
  int fds[2];
  pid_t pid;
  char c;

  ck_assert_int_eq(par_shm_dict_new(a, &d), PAR_OK);
  ck_assert_int_eq(par_shm_dict_put(a, d, "k", 1, &v), PAR_OK);
  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  if (pid == 0) {
    if (par_shm_lock(a, d, NULL, NULL) != PAR_OK
        || write(fds[1], "x", 1) != 1) {
      _exit(1);
    }
    for (;;) {
      pause();
    }
  }
  ck_assert_int_eq(read(fds[0], &c, 1), 1);
  kill(pid, SIGKILL);
  ck_assert(WIFSIGNALED(wait_child(pid)));
  ck_assert_int_eq(par_shm_lock(a, d, NULL, NULL), PAR_OK);
  ck_assert_str_eq(lookup(a, d, "k"), "before");
  par_shm_unlock(a, d);
  ck_assert_uint_eq(stats(a).recoveries, 1);
  v = bytes("after");
  ck_assert_int_eq(par_shm_dict_put(a, d, "k", 1, &v), PAR_OK);
  ck_assert_str_eq(lookup(a, d, "k"), "after");
  par_shm_arena_close(a);
}
END_TEST

/* A child killed at every journaled write of a put in turn: afterwards
 * the dict holds either the old entries or the new one complete, and the
 * allocator still hands out memory that nothing else uses. */
START_TEST(test_kill_mid_change)
{
  par_shm_arena *a = make_arena(64 * MiB);
  par_shm_ref d;
  char key[32];
  int completed = 0;

  ck_assert_int_eq(par_shm_dict_new(a, &d), PAR_OK);
  for (int i = 0; i < 6; i++) {
    par_shm_value v = bytes("a value long enough to need a blob");

    snprintf(key, sizeof key, "key %d", i);
    ck_assert_int_eq(par_shm_dict_put(a, d, key, strlen(key), &v), PAR_OK);
  }
  for (int n = 1; n < 200 && !completed; n++) {
    pid_t pid = fork();
    int status;

    if (pid == 0) {
      par_shm_value v = bytes("the new value, long enough for a blob too");
      par_shm_value w = bytes("replacement of key 3, which is long too");

      par_shm_test_crash_at(n);
      /* A new key (the table is rebuilt at the seventh entry) and a
       * replaced one. */
      par_shm_dict_put(a, d, "new key", 7, &v);
      par_shm_dict_put(a, d, "key 3", 5, &w);
      _exit(0);
    }
    status = wait_child(pid);
    completed = WIFEXITED(status);
    for (int i = 0; i < 6; i++) {
      const char *value;

      snprintf(key, sizeof key, "key %d", i);
      value = lookup(a, d, key);
      ck_assert_ptr_nonnull(value);
      if (i != 3) {
        ck_assert_str_eq(value, "a value long enough to need a blob");
      } else {
        ck_assert(strcmp(value, "a value long enough to need a blob") == 0
                  || strcmp(value, "replacement of key 3, which is long "
                                   "too") == 0);
      }
    }
    {
      const char *value = lookup(a, d, "new key");

      ck_assert(value == NULL
                || strcmp(value, "the new value, long enough for a blob "
                                 "too") == 0);
    }
    /* Fresh allocations do not overlap what is stored. */
    {
      par_shm_value big = bytes("a third value, to reuse freed memory..");

      ck_assert_int_eq(par_shm_dict_put(a, d, "probe", 5, &big), PAR_OK);
      ck_assert_int_eq(par_shm_dict_delete(a, d, "probe", 5), PAR_OK);
    }
    if (!completed) {
      ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
      /* Undo the child's change for the next round. */
      par_shm_dict_delete(a, d, "new key", 7);
      {
        par_shm_value v = bytes("a value long enough to need a blob");

        ck_assert_int_eq(par_shm_dict_put(a, d, "key 3", 5, &v), PAR_OK);
      }
    }
  }
  ck_assert(completed);
  ck_assert_uint_gt(stats(a).recoveries, 0);
  par_shm_arena_close(a);
}
END_TEST

static Suite *
shm_suite(void)
{
  Suite *s = suite_create("shm");
  TCase *core = tcase_create("core");
  TCase *processes = tcase_create("processes");
  TCase *deaths = tcase_create("deaths");

  tcase_set_timeout(core, 120);
  tcase_add_test(core, test_arena);
  tcase_add_test(core, test_default_capacity);
  tcase_add_test(core, test_vector);
  tcase_add_test(core, test_dict);
  tcase_add_test(core, test_nesting);
  tcase_add_test(core, test_list);
  tcase_add_test(core, test_allocator);
  tcase_add_test(core, test_capacity);
  tcase_add_test(core, test_idle);
  suite_add_tcase(s, core);

  tcase_set_timeout(processes, 120);
  tcase_add_test(processes, test_borrowed_run);
  tcase_add_test(processes, test_borrowed_nest);
  tcase_add_test(processes, test_run_home);
  tcase_add_test(processes, test_run_unused);
  tcase_add_test(processes, test_attach);
  suite_add_tcase(s, processes);

  /* Apart: the kernel's recovery of robust mutexes, which these rely on,
   * does not happen under valgrind. */
  tcase_set_timeout(deaths, 120);
  tcase_add_test(deaths, test_kill_holding_lock);
  tcase_add_test(deaths, test_kill_mid_change);
  suite_add_tcase(s, deaths);
  return s;
}

int
main(void)
{
  SRunner *sr = srunner_create(shm_suite());
  int failed;

  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
