/* shared-store.c — how Scheme values go into shared dicts and lists and
 * come out of them.
 *
 * Storing a value puts a reference in the entry when the value is a
 * shared object of the same arena, a new shared copy when it is a numeric
 * vector or array or a hash table (from another arena too), and its wire
 * encoding otherwise; shared objects inside an encoded value are encoded
 * by value (par__shared_by_value), since a handle in stored bytes would
 * keep nothing alive. share makes its objects the same way, recursively.
 */
#include <stdlib.h>
#include <string.h>

#include "guile-internals.h"
#include "shared-internal.h"

/* --- Making shared objects ----------------------------------------------- */

/* A new shared vector in A with the type, shape and elements of X, a
 * numeric vector or array. */
static SCM
vector_into(par_shm_arena *a, SCM x, const char *who)
{
  scm_t_array_handle h;
  const par_scm_etype *t;
  size_t rank;
  int64_t *dims;
  bool contiguous = true;
  ssize_t inc = 1;
  par_shm_vector_info info;
  par_shm_ref ref;
  SCM value;
  int rc;

  scm_array_get_handle(x, &h);
  t = par_scm_etype_of(h.element_type);
  rank = scm_array_handle_rank(&h);
  dims = malloc((2 * rank + 1) * sizeof *dims);
  if (dims == NULL) {
    scm_array_handle_release(&h);
    par_scm_throw(who, PAR_ENOMEM, "out of memory", SCM_EOL);
  }
  for (size_t k = rank; k-- > 0;) {
    scm_t_array_dim *d = &scm_array_handle_dims(&h)[k];

    dims[2 * k] = d->lbnd;
    dims[2 * k + 1] = d->ubnd;
    if (d->ubnd > d->lbnd && d->inc != inc) {
      contiguous = false;
    }
    inc *= d->ubnd >= d->lbnd ? d->ubnd - d->lbnd + 1 : 0;
  }
  rc = par_shm_vector_new(a, par__shared_etype(t), scm_is_bytevector(x),
                          rank, dims, !contiguous, &ref);
  free(dims);
  if (rc != PAR_OK) {
    scm_array_handle_release(&h);
    par__shared_fail(who, rc);
  }
  value = par__shared_value(a, ref, PAR_SHM_VECTOR);
  par_shm_vector_info_of(a, ref, &info);
  if (contiguous) {
    if (info.nbytes > 0) {
      memcpy(info.data, scm_array_handle_uniform_elements(&h), info.nbytes);
    }
    scm_array_handle_release(&h);
  } else {
    scm_array_handle_release(&h);
    scm_array_copy_x(x, value);
  }
  scm_remember_upto_here_1(x);
  return value;
}

static void
free_staged(void *data)
{
  par_wbuf_free(&((par_scm_staged *) data)->buf);
}

static void
free_wbuf(void *data)
{
  par_wbuf_free(data);
}

static void
by_value_done(void *data)
{
  par__shared_by_value--;
}

/* Append the encoding of X to BUF, with the shared objects inside X
 * encoded by value. */
void
par__shared_encode_by_value(SCM x, par_wbuf *buf, const char *who)
{
  scm_dynwind_begin(0);
  par__shared_by_value++;
  scm_dynwind_unwind_handler(by_value_done, NULL, SCM_F_WIND_EXPLICITLY);
  par_scm_encode(x, buf, who);
  scm_dynwind_end();
}

/* Make S ready to store X in arena A (see the commentary at the top).
 * Inside a dynwind, which frees what S owns when it ends. */
void
par__shared_stage(par_shm_arena *a, SCM x, par_scm_staged *s,
                  const char *who, int depth)
{
  par_scm_shared sh;

  s->value = (par_shm_value) PAR_SHM_VALUE_INIT;
  s->buf = (par_wbuf) PAR_WBUF_INIT;
  s->keep = SCM_BOOL_F;
  scm_dynwind_unwind_handler(free_staged, s, SCM_F_WIND_EXPLICITLY);
  if (par__shared_of(x, &sh)) {
    s->keep = sh.arena == a && (sh.kind != PAR_SHM_VECTOR
                                || par__shared_whole_view(x, &sh))
                  ? x
                  : par__shared_into(a, x, who, depth);
  } else if (scm_is_true(scm_hash_table_p(x))
             || par__shared_numeric_etype(x) != NULL) {
    s->keep = par__shared_into(a, x, who, depth);
  } else {
    par__shared_encode_by_value(x, &s->buf, who);
    s->value.kind = PAR_SHM_ENCODED;
    s->value.bytes = s->buf.data;
    s->value.len = s->buf.len;
    return;
  }
  par__shared_of(s->keep, &sh);
  s->value.kind = PAR_SHM_OBJECT;
  s->value.ref = sh.ref;
}

static SCM
collect_entry(void *closure, SCM key, SCM value, SCM result)
{
  return scm_cons(scm_cons(key, value), result);
}

static void
put_entry(par_shm_arena *a, par_shm_ref dict, SCM key, SCM value,
          const char *who, int depth)
{
  par_wbuf k = PAR_WBUF_INIT;
  par_scm_staged s;
  int rc;

  scm_dynwind_begin(0);
  scm_dynwind_unwind_handler(free_wbuf, &k, SCM_F_WIND_EXPLICITLY);
  par__shared_encode_by_value(key, &k, who);
  par__shared_stage(a, value, &s, who, depth);
  rc = par_shm_dict_put(a, dict, k.data, k.len, &s.value);
  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  scm_remember_upto_here_1(s.keep);
  scm_dynwind_end();
}

static void
append_element(par_shm_arena *a, par_shm_ref list, SCM value,
               const char *who, int depth)
{
  par_scm_staged s;
  int rc;

  scm_dynwind_begin(0);
  par__shared_stage(a, value, &s, who, depth);
  rc = par_shm_list_append(a, list, &s.value, NULL);
  if (rc != PAR_OK) {
    par__shared_fail(who, rc);
  }
  scm_remember_upto_here_1(s.keep);
  scm_dynwind_end();
}

SCM
par__shared_into(par_shm_arena *a, SCM x, const char *who, int depth)
{
  par_scm_shared sh;
  par_shm_ref ref;
  SCM value;
  int rc;

  if (depth > PAR_WIRE_MAX_DEPTH) {
    par_scm_throw(who, PAR_EINVAL, "cannot share a value nested deeper "
                  "than ~a levels (is it circular?)",
                  scm_list_1(scm_from_int(PAR_WIRE_MAX_DEPTH)));
  }
  if (par__shared_of(x, &sh)) {
    if (sh.kind == PAR_SHM_VECTOR) {
      return vector_into(a, x, who);
    }
    x = par__shared_unshare(x);
  }
  if (par__shared_numeric_etype(x) != NULL) {
    return vector_into(a, x, who);
  }
  if (scm_is_true(scm_hash_table_p(x))) {
    SCM entries = scm_internal_hash_fold(collect_entry, NULL, SCM_EOL, x);

    rc = par_shm_dict_new(a, &ref);
    if (rc != PAR_OK) {
      par__shared_fail(who, rc);
    }
    value = par__shared_value(a, ref, PAR_SHM_DICT);
    for (entries = scm_reverse_x(entries, SCM_EOL); scm_is_pair(entries);
         entries = SCM_CDR(entries)) {
      put_entry(a, ref, SCM_CAAR(entries), SCM_CDAR(entries), who,
                depth + 1);
    }
    return value;
  }
  if (scm_ilength(x) >= 0) {
    rc = par_shm_list_new(a, &ref);
    if (rc != PAR_OK) {
      par__shared_fail(who, rc);
    }
    value = par__shared_value(a, ref, PAR_SHM_LIST);
    for (; scm_is_pair(x); x = SCM_CDR(x)) {
      append_element(a, ref, SCM_CAR(x), who, depth + 1);
    }
    return value;
  }
  par_scm_throw(who, PAR_EINVAL, "cannot share ~s: share takes a hash "
                "table, a list, or a numeric vector or array (a bytevector, "
                "an SRFI-4 vector, a typed array)", scm_list_1(x));
}

/* (KEY encoded by value, into K, which a dynwind frees.) */
void
par__shared_encode_key(SCM key, par_wbuf *k, const char *who)
{
  *k = (par_wbuf) PAR_WBUF_INIT;
  scm_dynwind_unwind_handler(free_wbuf, k, SCM_F_WIND_EXPLICITLY);
  par__shared_encode_by_value(key, k, who);
}

/* --- Reading values out -------------------------------------------------- */

/* The Scheme value of V, read from arena A; V is emptied, whatever
 * happens. */
SCM
par__shared_read(par_shm_arena *a, par_shm_value *v, const char *who)
{
  void *bytes = v->bytes;
  size_t len = v->len;
  SCM value;

  if (v->kind == PAR_SHM_OBJECT) {
    par_shm_kind kind;
    par_shm_ref ref = v->ref;

    *v = (par_shm_value) PAR_SHM_VALUE_INIT;
    if (par_shm_check(a, ref, 0, &kind) != PAR_OK) {
      abort(); /* Held, hence alive. */
    }
    return par__shared_value(a, ref, kind);
  }
  *v = (par_shm_value) PAR_SHM_VALUE_INIT;
  scm_dynwind_begin(0);
  scm_dynwind_free(bytes);
  value = par_scm_decode(bytes, len, who);
  scm_dynwind_end();
  return value;
}

static void
free_items(void *data)
{
  par_scm_items *it = data;

  par_shm_items_free(it->arena, it->items, it->n);
}

/* The items of IT as a list of (KEY . VALUE), or of values when not
 * KEYED. Inside a dynwind, which frees the items when it ends. */
SCM
par__shared_items_list(par_scm_items *it, bool keyed, const char *who)
{
  SCM result = SCM_EOL;

  scm_dynwind_unwind_handler(free_items, it, SCM_F_WIND_EXPLICITLY);
  for (size_t i = it->n; i-- > 0;) {
    SCM value = par__shared_read(it->arena, &it->items[i].value, who);

    result = scm_cons(keyed ? scm_cons(par__shared_read(it->arena,
                                                &it->items[i].key, who),
                                       value)
                            : value,
                      result);
  }
  return result;
}
