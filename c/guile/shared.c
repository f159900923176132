/* shared.c — shared objects as Scheme values, and the primitives of
 * (parallelizer shared) that make them and that bracket runs.
 *
 * The runtime (par/shm.h) keeps objects in arenas of shared memory; this
 * file gives each object one Scheme value per process: a bytevector over
 * the elements of a vector (an array over it for a multi-dimensional
 * one), a record for a dict or a list. A weak table maps each object's
 * address to that value while it lives, so that reading the same object
 * twice gives the same (eq?) value and one hold.
 *
 * shared-store.c is how values go into dicts and lists and come out,
 * shared-containers.c the primitives over dicts and lists, shared-wire.c
 * how shared objects travel as handles.
 */
#include <stdlib.h>
#include <string.h>

#include "guile-internals.h"
#include "shared-internal.h"

/* #(DICT-RTD LIST-RTD MAKE-ARRAY-VIEW MAKE-STRIDED-VIEW UNSHARE), set by
 * the (parallelizer shared) module through %shared-set-types!. */
static SCM hooks;
#define DICT_RTD SCM_SIMPLE_VECTOR_REF(hooks, 0)
#define LIST_RTD SCM_SIMPLE_VECTOR_REF(hooks, 1)
#define MAKE_ARRAY_VIEW SCM_SIMPLE_VECTOR_REF(hooks, 2)
#define MAKE_STRIDED_VIEW SCM_SIMPLE_VECTOR_REF(hooks, 3)
#define UNSHARE SCM_SIMPLE_VECTOR_REF(hooks, 4)

/* Block address (shifted) -> the Scheme value of the object; made with
 * the first object, since a weak table has Guile run its finalization
 * thread after every collection, which a process that shares nothing
 * need not. */
static SCM cache = SCM_BOOL_F;

/* The Guile element type of each runtime element type. */
static const par_scm_etype *etypes[PAR_SHM_BYTES + 1];

__thread int par__shared_by_value;

/* What the MPI extension found: 0 not an MPI job, 1 all ranks on one
 * node, 2 on several. */
static int node_mode, node_size, job_size;

void
par_scm_shared_set_node_mode(int mode, int size_here, int size_all)
{
  node_mode = mode;
  node_size = size_here;
  job_size = size_all;
}

bool
par__shared_pinning(void)
{
  return node_mode == 1;
}

void
par__shared_fail(const char *who, int rc)
{
  par_scm_throw_failure(who, rc, par_shm_error_detail());
}

void
par__shared_require_types(const char *who)
{
  if (scm_is_false(DICT_RTD)) {
    par_scm_throw(who, PAR_ENOENT, "the (parallelizer shared) module is not "
                  "loaded in this process", SCM_EOL);
  }
}

int
par__shared_etype(const par_scm_etype *t)
{
  return t == par_scm_etype_bytevector() ? PAR_SHM_BYTES : (int) t->dtype;
}
/* --- Scheme values of objects -------------------------------------------- */

/* The finalizer of the pointer object that holds an object for this
 * process: give the hold back. ADDR is the object's block. When that was
 * the process's last hold in the arena, the runtime unmaps the arena. */
static void
release_holder(void *addr)
{
  par_shm_arena *a = par_shm_arena_containing(addr);

  if (a != NULL) {
    par_shm_release(a, par_shm_ref_at(a, addr));
  }
}

/* A pointer object that carries this process's hold on REF. A process
 * that borrows the arena counts nothing, and needs no finalizer. */
static SCM
holder(par_shm_arena *a, par_shm_ref ref)
{
  return scm_from_pointer(par_shm_address(a, ref),
                          par_shm_arena_borrowed(a) ? NULL : release_holder);
}

static SCM
cache_key(par_shm_arena *a, par_shm_ref ref)
{
  return scm_from_uintptr_t((uintptr_t) par_shm_address(a, ref) >> 6);
}

/* The bytevector over the elements of vector REF, whose hold HOLDER
 * carries. */
static SCM
vector_bytevector(par_shm_arena *a, par_shm_ref ref, SCM h)
{
  par_shm_vector_info info;

  par_shm_vector_info_of(a, ref, &info);
  return scm_pointer_to_bytevector(
      h, scm_from_size_t(info.count),
      scm_from_size_t((size_t) ((char *) info.data
                                - (char *) par_shm_address(a, ref))),
      etypes[info.etype]->symbol);
}

static SCM
vector_value(par_shm_arena *a, par_shm_ref ref, SCM h)
{
  par_shm_vector_info info;
  SCM bv = vector_bytevector(a, ref, h), bounds = SCM_EOL;

  par_shm_vector_info_of(a, ref, &info);
  if (info.plain) {
    return bv;
  }
  for (size_t k = info.rank; k-- > 0;) {
    bounds = scm_cons(scm_list_2(scm_from_int64(info.dims[2 * k]),
                                 scm_from_int64(info.dims[2 * k + 1])),
                      bounds);
  }
  return scm_call_2(MAKE_ARRAY_VIEW, bv, bounds);
}

SCM
par__shared_array_view(SCM v, SCM bounds)
{
  return scm_call_2(MAKE_ARRAY_VIEW, v, bounds);
}

SCM
par__shared_value(par_shm_arena *a, par_shm_ref ref, par_shm_kind kind)
{
  SCM key = cache_key(a, ref);
  SCM value, h;

  if (scm_is_false(cache)) {
    cache = scm_permanent_object(
        scm_make_weak_value_hash_table(scm_from_int(64)));
  }
  value = scm_hashv_ref(cache, key, SCM_BOOL_F);

  if (scm_is_true(value)) {
    par_shm_release(a, ref);
    return value;
  }
  /* From here on the hold is the pointer object's, whatever happens. */
  h = holder(a, ref);
  switch (kind) {
  case PAR_SHM_VECTOR:
    value = vector_value(a, ref, h);
    break;
  case PAR_SHM_DICT:
    value = scm_make_struct_no_tail(DICT_RTD, scm_list_1(h));
    break;
  case PAR_SHM_LIST:
    value = scm_make_struct_no_tail(LIST_RTD, scm_list_1(h));
    break;
  default:
    abort();
  }
  scm_hashv_set_x(cache, key, value);
  return value;
}

SCM
par__shared_strided_view(par_shm_arena *a, par_shm_ref ref, int64_t base,
                         size_t rank, const int64_t *dims)
{
  SCM bv = vector_bytevector(a, ref, holder(a, ref)), list = SCM_EOL;

  for (size_t k = rank; k-- > 0;) {
    list = scm_cons(scm_list_3(scm_from_int64(dims[3 * k]),
                               scm_from_int64(dims[3 * k + 1]),
                               scm_from_int64(dims[3 * k + 2])),
                    list);
  }
  return scm_call_3(MAKE_STRIDED_VIEW, bv, scm_from_int64(base), list);
}

SCM
par__shared_unshare(SCM x)
{
  return scm_call_1(UNSHARE, x);
}

/* --- Which values are shared --------------------------------------------- */

/* The vector whose block is the parent of bytevector BV, if any. */
static bool
vector_of(SCM bv, par_scm_shared *out)
{
  SCM parent = SCM_BYTEVECTOR_PARENT(bv);
  par_shm_vector_info info;
  par_shm_arena *a;
  par_shm_kind kind;
  par_shm_ref ref;
  void *addr;

  if (!SCM_POINTER_P(parent)) {
    return false;
  }
  addr = SCM_POINTER_VALUE(parent);
  a = par_shm_arena_containing(addr);
  if (a == NULL) {
    return false;
  }
  ref = par_shm_ref_at(a, addr);
  if (par_shm_check(a, ref, 0, &kind) != PAR_OK || kind != PAR_SHM_VECTOR
      || par_shm_vector_info_of(a, ref, &info) != PAR_OK
      || (void *) SCM_BYTEVECTOR_CONTENTS(bv) != info.data
      || SCM_BYTEVECTOR_LENGTH(bv) != info.nbytes) {
    return false;
  }
  out->arena = a;
  out->ref = ref;
  out->kind = PAR_SHM_VECTOR;
  return true;
}

bool
par__shared_of(SCM x, par_scm_shared *out)
{
  /* The encoder asks this of every bytevector, vector, struct, hash table
   * and array it meets: the kinds that cannot be shared go first. */
  if (SCM_IMP(x) || scm_is_vector(x)) {
    return false;
  }
  if (scm_is_bytevector(x)) {
    return vector_of(x, out);
  }
  if (SCM_STRUCTP(x)) {
    SCM vtable = SCM_STRUCT_VTABLE(x);
    void *addr;

    if (scm_is_eq(vtable, DICT_RTD)) {
      out->kind = PAR_SHM_DICT;
    } else if (scm_is_eq(vtable, LIST_RTD)) {
      out->kind = PAR_SHM_LIST;
    } else {
      return false;
    }
    addr = SCM_POINTER_VALUE(scm_struct_ref(x, SCM_INUM0));
    out->arena = par_shm_arena_containing(addr);
    if (out->arena == NULL) {
      return false;
    }
    out->ref = par_shm_ref_at(out->arena, addr);
    return true;
  }
  /* An array object (a view, a shape) over a bytevector: Guile's tc7 of
   * arrays, as the public SCM_I_ARRAYP tests it. */
  if (SCM_HAS_TYP7(x, scm_tc7_array)) {
    SCM root = scm_shared_array_root(x);

    return scm_is_bytevector(root) && vector_of(root, out);
  }
  return false;
}

/* Whether X, over vector SH, is the value the object itself has: its
 * whole bytevector for a plain vector, an array of its shape over all of
 * it otherwise. */
bool
par__shared_whole_view(SCM x, const par_scm_shared *sh)
{
  par_shm_vector_info info;
  scm_t_array_handle h;
  bool whole = true;
  ssize_t inc = 1;

  par_shm_vector_info_of(sh->arena, sh->ref, &info);
  if (scm_is_bytevector(x)) {
    return info.plain != 0;
  }
  if (info.plain) {
    return false;
  }
  scm_array_get_handle(x, &h);
  if (h.base != 0 || scm_array_handle_rank(&h) != info.rank) {
    whole = false;
  }
  for (size_t k = info.rank; whole && k-- > 0;) {
    scm_t_array_dim *d = &scm_array_handle_dims(&h)[k];

    whole = d->lbnd == info.dims[2 * k] && d->ubnd == info.dims[2 * k + 1]
            && (d->inc == inc || d->ubnd <= d->lbnd);
    inc *= d->ubnd - d->lbnd + 1;
  }
  scm_array_handle_release(&h);
  return whole;
}

/* The element type of X if it is a numeric vector or array; NULL
 * otherwise. */
const par_scm_etype *
par__shared_numeric_etype(SCM x)
{
  scm_t_array_handle h;
  const par_scm_etype *t;

  if (SCM_IMP(x) || scm_is_string(x) || !scm_is_array(x)) {
    return NULL;
  }
  scm_array_get_handle(x, &h);
  t = par_scm_etype_of(h.element_type);
  scm_array_handle_release(&h);
  return t;
}
/* --- Primitives: making -------------------------------------------------- */

/* (%shared-set-types! DICT-RTD LIST-RTD MAKE-ARRAY-VIEW MAKE-STRIDED-VIEW
 * UNSHARE): the records of shared dicts and lists, (MAKE-ARRAY-VIEW
 * BYTEVECTOR BOUNDS) -> the row-major array of those bounds over it,
 * (MAKE-STRIDED-VIEW BYTEVECTOR BASE DIMS) -> the array over it whose
 * dimensions are DIMS, (lower upper increment) triples, from element BASE,
 * and (UNSHARE OBJ). */
static SCM
prim_shared_set_types_x(SCM dict, SCM list, SCM array_view,
                        SCM strided_view, SCM unshare)
{
  SCM_SIMPLE_VECTOR_SET(hooks, 0, dict);
  SCM_SIMPLE_VECTOR_SET(hooks, 1, list);
  SCM_SIMPLE_VECTOR_SET(hooks, 2, array_view);
  SCM_SIMPLE_VECTOR_SET(hooks, 3, strided_view);
  SCM_SIMPLE_VECTOR_SET(hooks, 4, unshare);
  return SCM_UNSPECIFIED;
}

/* (%share OBJ) -> OBJ if it is shared already, else a new shared object
 * in this process's arena holding what OBJ holds: a dict for a hash table,
 * a list for a list, a vector or array of the same type and shape for a
 * numeric vector or array. */
static SCM
prim_share(SCM obj)
#define FUNC_NAME "share"
{
  par_scm_shared sh;
  par_shm_arena *a;
  int rc;

  par__shared_require_types(FUNC_NAME);
  if (par__shared_of(obj, &sh)) {
    return obj;
  }
  if (par__shared_numeric_etype(obj) == NULL
      && scm_is_false(scm_hash_table_p(obj))
      && scm_ilength(obj) < 0) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL, "cannot share ~s: share takes a "
                  "hash table, a list, or a numeric vector or array (a "
                  "bytevector, an SRFI-4 vector, a typed array)",
                  scm_list_1(obj));
  }
  rc = par_shm_home(&a);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_dynwind_begin(0);
  scm_dynwind_unwind_handler((void (*)(void *)) par_shm_arena_leave, a,
                             SCM_F_WIND_EXPLICITLY);
  obj = par__shared_into(a, obj, FUNC_NAME, 0);
  scm_dynwind_end();
  return obj;
}
#undef FUNC_NAME

/* (%make-shared-vector WHO TYPE BOUNDS PLAIN?) -> a new shared vector (if
 * PLAIN?) or array of element type TYPE (a symbol: vu8, u8, ..., f64, c64)
 * and BOUNDS, a list of (lower upper) pairs, its elements zero. Errors
 * name WHO, a symbol. */
static SCM
prim_make_shared_vector(SCM who_symbol, SCM type, SCM bounds, SCM plain)
{
  char *who = scm_to_utf8_string(scm_symbol_to_string(who_symbol));
  long rank = scm_ilength(bounds);
  int64_t *dims;
  int etype = -1, rc;
  par_shm_arena *a;
  par_shm_ref ref;
  SCM value;

  scm_dynwind_begin(0);
  scm_dynwind_free(who);
  par__shared_require_types(who);
  for (int i = 0; i <= PAR_SHM_BYTES; i++) {
    if (scm_is_eq(type, etypes[i]->symbol)) {
      etype = i;
    }
  }
  if (etype < 0) {
    par_scm_throw(who, PAR_EINVAL, "unknown element type ~s: expected one "
                  "of vu8 u8 s8 u16 s16 u32 s32 u64 s64 f32 f64 c32 c64",
                  scm_list_1(type));
  }
  if (rank < 0) {
    par_scm_throw(who, PAR_EINVAL, "expected a list of bounds, got ~s",
                  scm_list_1(bounds));
  }
  dims = scm_gc_malloc_pointerless(sizeof *dims * (size_t) (2 * rank + 1),
                                   "bounds");
  for (long k = 0; k < rank; k++, bounds = SCM_CDR(bounds)) {
    SCM b = SCM_CAR(bounds);

    if (scm_ilength(b) != 2 || !scm_is_signed_integer(SCM_CAR(b), INT64_MIN,
                                                      INT64_MAX)
        || !scm_is_signed_integer(SCM_CADR(b), INT64_MIN, INT64_MAX)) {
      par_scm_throw(who, PAR_EINVAL, "a bound must be a length or a list "
                    "(lower upper) of integers, got ~s", scm_list_1(b));
    }
    dims[2 * k] = scm_to_int64(SCM_CAR(b));
    dims[2 * k + 1] = scm_to_int64(SCM_CADR(b));
  }
  rc = par_shm_home(&a);
  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  scm_dynwind_unwind_handler((void (*)(void *)) par_shm_arena_leave, a,
                             SCM_F_WIND_EXPLICITLY);
  rc = par_shm_vector_new(a, etype, scm_is_true(plain), (size_t) rank, dims,
                          1, &ref);
  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  value = par__shared_value(a, ref, PAR_SHM_VECTOR);
  scm_dynwind_end();
  return value;
}

/* (%shared? OBJ) -> #t if OBJ is a shared dict, list, vector or array. */
static SCM
prim_shared_p(SCM obj)
{
  par_scm_shared sh;

  return scm_from_bool(par__shared_of(obj, &sh));
}

/* (%shared-vector-copy V) -> an ordinary vector or array of V's element
 * type and shape holding a copy of its elements. */
static SCM
prim_shared_vector_copy(SCM v)
{
  SCM copy = scm_is_bytevector(v)
                 ? scm_make_typed_array(scm_array_type(v), SCM_UNSPECIFIED,
                                        scm_list_1(scm_array_length(v)))
                 : scm_make_typed_array(scm_array_type(v), SCM_UNSPECIFIED,
                                        scm_array_dimensions(v));
  scm_t_array_handle from, to;
  bool contiguous = true;
  ssize_t inc = 1;
  size_t count = 1;

  scm_array_get_handle(v, &from);
  for (size_t k = scm_array_handle_rank(&from); k-- > 0;) {
    scm_t_array_dim *d = &scm_array_handle_dims(&from)[k];
    ssize_t len = d->ubnd >= d->lbnd ? d->ubnd - d->lbnd + 1 : 0;

    if (len > 1 && d->inc != inc) {
      contiguous = false;
    }
    inc *= len;
    count *= (size_t) len;
  }
  if (contiguous && par_scm_etype_of(from.element_type) != NULL) {
    size_t size = par_scm_etype_of(from.element_type)->size;

    scm_array_get_handle(copy, &to);
    if (count > 0) {
      memcpy(scm_array_handle_uniform_writable_elements(&to),
             scm_array_handle_uniform_elements(&from), count * size);
    }
    scm_array_handle_release(&to);
    scm_array_handle_release(&from);
  } else {
    scm_array_handle_release(&from);
    scm_array_copy_x(v, copy);
  }
  scm_remember_upto_here_1(v);
  return copy;
}
/* --- Primitives: runs and the life of arenas ----------------------------- */

/* (%shared-run-begin): before a run forks its workers (see
 * par_shm_run_begin). Refused while this thread holds the lock of a dict
 * or a list: the workers could wait for it for ever. */
static SCM
prim_shared_run_begin(void)
#define FUNC_NAME "parallelizer-run"
{
  int rc;

  if (par__shared_locks_held() > 0) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL, "cannot start a run inside "
                  "shared-dict-update!, which holds the lock of a shared "
                  "dict", SCM_EOL);
  }
  rc = par_shm_run_begin();
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%shared-run-end): once the workers of the run are gone. */
static SCM
prim_shared_run_end(void)
{
  par_shm_run_end();
  return SCM_UNSPECIFIED;
}

/* (%shared-node-mode) -> (MODE NODE-SIZE JOB-SIZE): MODE is none (not an
 * MPI job), one-node or many-nodes; NODE-SIZE of the JOB-SIZE ranks share
 * this process's node. */
static SCM
prim_shared_node_mode(void)
{
  static const char *const names[] = {"none", "one-node", "many-nodes"};

  return scm_list_3(scm_from_utf8_symbol(names[node_mode]),
                    scm_from_int(node_size), scm_from_int(job_size));
}

/* (%shared-statistics OBJ) -> an alist of figures of the arena of shared
 * object OBJ (see par_shm_stats). */
static SCM
prim_shared_statistics(SCM obj)
#define FUNC_NAME "%shared-statistics"
{
  par_scm_shared sh;
  par_shm_stats s;
  int rc;

  if (!par__shared_of(obj, &sh)) {
    par_scm_throw(FUNC_NAME, PAR_EINVAL, "expected a shared object, got ~s",
                  scm_list_1(obj));
  }
  rc = par_shm_arena_stats(sh.arena, &s);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  return scm_list_n(
      scm_cons(scm_from_utf8_symbol("capacity"), scm_from_size_t(s.capacity)),
      scm_cons(scm_from_utf8_symbol("used"), scm_from_size_t(s.used)),
      scm_cons(scm_from_utf8_symbol("live-objects"),
               scm_from_size_t(s.live_objects)),
      scm_cons(scm_from_utf8_symbol("live-bytes"),
               scm_from_size_t(s.live_bytes)),
      scm_cons(scm_from_utf8_symbol("free-bytes"),
               scm_from_size_t(s.free_bytes)),
      scm_cons(scm_from_utf8_symbol("borrowers"),
               scm_from_size_t(s.borrowers)),
      scm_cons(scm_from_utf8_symbol("zero-listed"),
               scm_from_size_t(s.zero_listed)),
      scm_cons(scm_from_utf8_symbol("recoveries"),
               scm_from_size_t(s.recoveries)),
      scm_cons(scm_from_utf8_symbol("borrowed?"),
               scm_from_bool(par_shm_arena_borrowed(sh.arena))),
      SCM_UNDEFINED);
}
#undef FUNC_NAME

/* (%shared-inject-crash! N): for tests, this process kills itself at its
 * Nth journaled write from now (0 disarms); see par_shm_test_crash_at. */
static SCM
prim_shared_inject_crash_x(SCM n)
{
  par_shm_test_crash_at(scm_to_int(n));
  return SCM_UNSPECIFIED;
}

void
par_scm_init_shared(void)
{
  hooks = scm_permanent_object(scm_c_make_vector(5, SCM_BOOL_F));
  for (int s = 0; s <= SCM_ARRAY_ELEMENT_TYPE_LAST; s++) {
    const par_scm_etype *t = par_scm_etype_of((scm_t_array_element_type) s);

    if (t != NULL) {
      etypes[par__shared_etype(t)] = t;
    }
  }
  scm_c_define_gsubr("%shared-set-types!", 5, 0, 0, prim_shared_set_types_x);
  scm_c_define_gsubr("%share", 1, 0, 0, prim_share);
  scm_c_define_gsubr("%make-shared-vector", 4, 0, 0,
                     prim_make_shared_vector);
  scm_c_define_gsubr("%shared?", 1, 0, 0, prim_shared_p);
  scm_c_define_gsubr("%shared-vector-copy", 1, 0, 0,
                     prim_shared_vector_copy);
  par_scm_init_shared_containers();
  scm_c_define_gsubr("%shared-run-begin", 0, 0, 0, prim_shared_run_begin);
  scm_c_define_gsubr("%shared-run-end", 0, 0, 0, prim_shared_run_end);
  scm_c_define_gsubr("%shared-node-mode", 0, 0, 0, prim_shared_node_mode);
  scm_c_define_gsubr("%shared-statistics", 1, 0, 0, prim_shared_statistics);
  scm_c_define_gsubr("%shared-inject-crash!", 1, 0, 0,
                     prim_shared_inject_crash_x);
}
