/* shared-containers.c — the primitives of (parallelizer shared) over
 * shared dicts and lists.
 *
 * Every primitive holds the container's lock for the whole operation,
 * taken with a wait that Ctrl-C interrupts and given back however the
 * primitive ends; values go in and come out as shared-store.c says.
 */
#include "guile-internals.h"
#include "shared-internal.h"

/* Locks of dicts and lists held by this thread: a run must not fork with
 * one held, or its workers would wait for a lock that nobody gives. */
static __thread int locks_held;

int
par__shared_locks_held(void)
{
  return locks_held;
}

/* --- Locks --------------------------------------------------------------- */

/* The dict or list (KIND) that X must be, or an error from WHO. */
static void
unwrap(SCM x, par_shm_kind kind, par_scm_shared *sh, const char *who)
{
  par__shared_require_types(who);
  if (!par__shared_of(x, sh) || sh->kind != kind) {
    par_scm_throw(who, PAR_EINVAL, "expected a shared ~a, got ~s",
                  scm_list_2(scm_from_utf8_string(kind == PAR_SHM_DICT
                                                  ? "dict" : "list"),
                             x));
  }
}

/* Take the lock of SH, waiting in a way that Ctrl-C interrupts. */
static void
take_lock(par_scm_shared *sh, const char *who)
{
  int rc = par_shm_lock(sh->arena, sh->ref, par_scm_asyncs_pending, NULL);

  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  locks_held++;
}

static void
give_lock(void *data)
{
  par_scm_shared *sh = data;

  par_shm_unlock(sh->arena, sh->ref);
  locks_held--;
}

/* --- Primitives: dicts --------------------------------------------------- */

/* (%shared-dict-ref D KEY DEFAULT) -> the value of KEY in D, or DEFAULT. */
static SCM
prim_shared_dict_ref(SCM d, SCM key, SCM dflt)
#define FUNC_NAME "shared-dict-ref"
{
  par_scm_shared sh;
  par_wbuf k;
  par_shm_value v = PAR_SHM_VALUE_INIT;
  SCM result = dflt;
  int rc;

  unwrap(d, PAR_SHM_DICT, &sh, FUNC_NAME);
  scm_dynwind_begin(0);
  par__shared_encode_key(key, &k, FUNC_NAME);
  take_lock(&sh, FUNC_NAME);
  rc = par_shm_dict_get(sh.arena, sh.ref, k.data, k.len, &v);
  give_lock(&sh);
  if (rc == PAR_OK) {
    result = par__shared_read(sh.arena, &v, FUNC_NAME);
  } else if (rc != PAR_ENOENT) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_dynwind_end();
  scm_remember_upto_here_1(d);
  return result;
}
#undef FUNC_NAME

/* (%shared-dict-set! D KEY VALUE): store VALUE under KEY. */
static SCM
prim_shared_dict_set_x(SCM d, SCM key, SCM value)
#define FUNC_NAME "shared-dict-set!"
{
  par_scm_shared sh;
  par_wbuf k;
  par_scm_staged s;
  int rc;

  unwrap(d, PAR_SHM_DICT, &sh, FUNC_NAME);
  scm_dynwind_begin(0);
  par__shared_encode_key(key, &k, FUNC_NAME);
  par__shared_stage(sh.arena, value, &s, FUNC_NAME, 0);
  take_lock(&sh, FUNC_NAME);
  rc = par_shm_dict_put(sh.arena, sh.ref, k.data, k.len, &s.value);
  give_lock(&sh);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_remember_upto_here_2(d, s.keep);
  scm_dynwind_end();
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%shared-dict-delete! D KEY) -> #t if KEY was in D, which it is no
 * more; #f if it was not. */
static SCM
prim_shared_dict_delete_x(SCM d, SCM key)
#define FUNC_NAME "shared-dict-delete!"
{
  par_scm_shared sh;
  par_wbuf k;
  int rc;

  unwrap(d, PAR_SHM_DICT, &sh, FUNC_NAME);
  scm_dynwind_begin(0);
  par__shared_encode_key(key, &k, FUNC_NAME);
  take_lock(&sh, FUNC_NAME);
  rc = par_shm_dict_delete(sh.arena, sh.ref, k.data, k.len);
  give_lock(&sh);
  if (rc != PAR_OK && rc != PAR_ENOENT) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_dynwind_end();
  scm_remember_upto_here_1(d);
  return scm_from_bool(rc == PAR_OK);
}
#undef FUNC_NAME

/* (%shared-dict-update! D KEY PROC DEFAULT) -> the new value of KEY,
 * (PROC OLD), OLD being its value or DEFAULT; D stays locked meanwhile,
 * so no other process changes it in between. */
static SCM
prim_shared_dict_update_x(SCM d, SCM key, SCM proc, SCM dflt)
#define FUNC_NAME "shared-dict-update!"
{
  par_scm_shared sh;
  par_wbuf k;
  par_shm_value v = PAR_SHM_VALUE_INIT;
  par_scm_staged s;
  SCM old = dflt, new;
  int rc;

  unwrap(d, PAR_SHM_DICT, &sh, FUNC_NAME);
  scm_dynwind_begin(0);
  par__shared_encode_key(key, &k, FUNC_NAME);
  take_lock(&sh, FUNC_NAME);
  scm_dynwind_unwind_handler(give_lock, &sh, SCM_F_WIND_EXPLICITLY);
  rc = par_shm_dict_get(sh.arena, sh.ref, k.data, k.len, &v);
  if (rc == PAR_OK) {
    old = par__shared_read(sh.arena, &v, FUNC_NAME);
  } else if (rc != PAR_ENOENT) {
    par__shared_fail(FUNC_NAME, rc);
  }
  new = scm_call_1(proc, old);
  par__shared_stage(sh.arena, new, &s, FUNC_NAME, 0);
  rc = par_shm_dict_put(sh.arena, sh.ref, k.data, k.len, &s.value);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_remember_upto_here_2(d, s.keep);
  scm_dynwind_end();
  return new;
}
#undef FUNC_NAME

/* The size of container X of KIND, as SIZE_OF (the runtime's count or
 * length) says. */
static SCM
size_of(SCM x, par_shm_kind kind,
        int (*size_fn)(par_shm_arena *, par_shm_ref, size_t *),
        const char *who)
{
  par_scm_shared sh;
  size_t n = 0;
  int rc;

  unwrap(x, kind, &sh, who);
  take_lock(&sh, who);
  rc = size_fn(sh.arena, sh.ref, &n);
  give_lock(&sh);
  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  scm_remember_upto_here_1(x);
  return scm_from_size_t(n);
}

/* The contents of container X of KIND, as ITEMS_FN (the runtime's dict or
 * list items) reads them at one instant: a list of (KEY . VALUE) if
 * KEYED, of values otherwise. */
static SCM
contents_of(SCM x, par_shm_kind kind,
            int (*items_fn)(par_shm_arena *, par_shm_ref, par_shm_item **,
                            size_t *),
            bool keyed, const char *who)
{
  par_scm_shared sh;
  par_scm_items it = {NULL, NULL, 0};
  SCM result;
  int rc;

  unwrap(x, kind, &sh, who);
  it.arena = sh.arena;
  take_lock(&sh, who);
  rc = items_fn(sh.arena, sh.ref, &it.items, &it.n);
  give_lock(&sh);
  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  scm_dynwind_begin(0);
  result = par__shared_items_list(&it, keyed, who);
  scm_dynwind_end();
  scm_remember_upto_here_1(x);
  return result;
}

/* (%shared-dict-count D) -> the number of entries of D. */
static SCM
prim_shared_dict_count(SCM d)
{
  return size_of(d, PAR_SHM_DICT, par_shm_dict_count, "shared-dict-count");
}

/* (%shared-dict-items D) -> the entries of D as a list of (KEY . VALUE),
 * taken at one instant. */
static SCM
prim_shared_dict_items(SCM d)
{
  return contents_of(d, PAR_SHM_DICT, par_shm_dict_items, true,
                     "shared-dict->alist");
}

/* --- Primitives: lists --------------------------------------------------- */

static size_t
to_index(SCM i, const char *who)
{
  if (!scm_is_unsigned_integer(i, 0, SIZE_MAX)) {
    par_scm_throw(who, PAR_EINVAL, "expected an index (a non-negative "
                  "exact integer), got ~s", scm_list_1(i));
  }
  return scm_to_size_t(i);
}

/* (%shared-list-ref L I) -> element I of L. */
static SCM
prim_shared_list_ref(SCM l, SCM i)
#define FUNC_NAME "shared-list-ref"
{
  par_scm_shared sh;
  par_shm_value v = PAR_SHM_VALUE_INIT;
  size_t index = to_index(i, FUNC_NAME);
  SCM result;
  int rc;

  unwrap(l, PAR_SHM_LIST, &sh, FUNC_NAME);
  take_lock(&sh, FUNC_NAME);
  rc = par_shm_list_get(sh.arena, sh.ref, index, &v);
  give_lock(&sh);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  result = par__shared_read(sh.arena, &v, FUNC_NAME);
  scm_remember_upto_here_1(l);
  return result;
}
#undef FUNC_NAME

/* (%shared-list-set! L I VALUE): store VALUE as element I of L. */
static SCM
prim_shared_list_set_x(SCM l, SCM i, SCM value)
#define FUNC_NAME "shared-list-set!"
{
  par_scm_shared sh;
  size_t index = to_index(i, FUNC_NAME);
  par_scm_staged s;
  int rc;

  unwrap(l, PAR_SHM_LIST, &sh, FUNC_NAME);
  scm_dynwind_begin(0);
  par__shared_stage(sh.arena, value, &s, FUNC_NAME, 0);
  take_lock(&sh, FUNC_NAME);
  rc = par_shm_list_set(sh.arena, sh.ref, index, &s.value);
  give_lock(&sh);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_remember_upto_here_2(l, s.keep);
  scm_dynwind_end();
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%shared-list-append! L VALUE) -> the index of VALUE, added at the end
 * of L. */
static SCM
prim_shared_list_append_x(SCM l, SCM value)
#define FUNC_NAME "shared-list-append!"
{
  par_scm_shared sh;
  par_scm_staged s;
  size_t index = 0;
  int rc;

  unwrap(l, PAR_SHM_LIST, &sh, FUNC_NAME);
  scm_dynwind_begin(0);
  par__shared_stage(sh.arena, value, &s, FUNC_NAME, 0);
  take_lock(&sh, FUNC_NAME);
  rc = par_shm_list_append(sh.arena, sh.ref, &s.value, &index);
  give_lock(&sh);
  if (rc != PAR_OK) {
    par__shared_fail(FUNC_NAME, rc);
  }
  scm_remember_upto_here_2(l, s.keep);
  scm_dynwind_end();
  return scm_from_size_t(index);
}
#undef FUNC_NAME

/* (%shared-list-length L) -> the number of elements of L. */
static SCM
prim_shared_list_length(SCM l)
{
  return size_of(l, PAR_SHM_LIST, par_shm_list_length,
                 "shared-list-length");
}

/* (%shared-list-items L) -> the elements of L as a list, taken at one
 * instant. */
static SCM
prim_shared_list_items(SCM l)
{
  return contents_of(l, PAR_SHM_LIST, par_shm_list_items, false,
                     "shared-list->list");
}

void
par_scm_init_shared_containers(void)
{
  scm_c_define_gsubr("%shared-dict-ref", 3, 0, 0, prim_shared_dict_ref);
  scm_c_define_gsubr("%shared-dict-set!", 3, 0, 0, prim_shared_dict_set_x);
  scm_c_define_gsubr("%shared-dict-delete!", 2, 0, 0,
                     prim_shared_dict_delete_x);
  scm_c_define_gsubr("%shared-dict-update!", 4, 0, 0,
                     prim_shared_dict_update_x);
  scm_c_define_gsubr("%shared-dict-count", 1, 0, 0, prim_shared_dict_count);
  scm_c_define_gsubr("%shared-dict-items", 1, 0, 0, prim_shared_dict_items);
  scm_c_define_gsubr("%shared-list-ref", 2, 0, 0, prim_shared_list_ref);
  scm_c_define_gsubr("%shared-list-set!", 3, 0, 0, prim_shared_list_set_x);
  scm_c_define_gsubr("%shared-list-append!", 2, 0, 0,
                     prim_shared_list_append_x);
  scm_c_define_gsubr("%shared-list-length", 1, 0, 0,
                     prim_shared_list_length);
  scm_c_define_gsubr("%shared-list-items", 1, 0, 0, prim_shared_list_items);
}
