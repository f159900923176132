/* shared-wire.c — shared objects in the wire format: handles.
 *
 * A shared object travels as a handle, never as its contents: project tag
 * 59206 (PTAG_SHARED) around
 *
 *   [kind, arena, pid, fd, block, serial, ...]
 *
 * KIND is 1 for a vector or array, 2 for a dict, 3 for a list; ARENA the
 * arena's identity (a random 64-bit number); PID and FD a process that
 * maps the arena and its descriptor of it, through which a process that
 * does not map it yet opens it (/proc/PID/fd/FD); BLOCK the object's
 * offset in the arena and SERIAL its serial number, which tells a live
 * object from a freed one. A vector adds
 *
 *   type, byte-offset, count, view
 *
 * TYPE its element type as text ("f64"), BYTE-OFFSET and COUNT which part
 * of the block the bytevector covers (all of it), VIEW null for the
 * vector itself or [base, [[lower, upper, increment]...]] for an array
 * over it. doc/wire-format.texi is the specification.
 *
 * Everything a handle says is checked before it is used: a malformed or
 * forged handle is an error, never a view of memory outside the object.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbor.h>

#include "shared-internal.h"

/* --- Encoding ------------------------------------------------------------ */

/* Append N bytes to OUT, growing it as wire-encode.c does. */
static void
append(par_wbuf *out, const uint8_t *data, size_t n, const char *who)
{
  if (out->cap - out->len < n) {
    size_t cap = out->cap < 256 ? 256 : out->cap;
    uint8_t *p;

    while (cap - out->len < n) {
      cap *= 2;
    }
    p = realloc(out->data, cap);
    if (p == NULL) {
      par_scm_throw(who, PAR_ENOMEM, "out of memory while encoding a "
                    "shared object", SCM_EOL);
    }
    out->data = p;
    out->cap = cap;
  }
  memcpy(out->data + out->len, data, n);
  out->len += n;
}

/* A handle is built in a local buffer first; rank is bounded by what
 * arrays may have (see below). */
typedef struct hbuf {
  uint8_t data[64 * 1024];
  size_t len;
} hbuf;

static void
put_uint(hbuf *b, uint64_t v)
{
  b->len += cbor_encode_uint(v, b->data + b->len, 9);
}

static void
put_int(hbuf *b, int64_t v)
{
  if (v >= 0) {
    put_uint(b, (uint64_t) v);
  } else {
    b->len += cbor_encode_negint((uint64_t) (-1 - v), b->data + b->len, 9);
  }
}

static void
put_array(hbuf *b, size_t n)
{
  b->len += cbor_encode_array_start(n, b->data + b->len, 9);
}

#define MAX_RANK 1024

bool
par__wire_encode_shared_object(SCM x, par_wbuf *out, const char *who)
{
  par_scm_shared sh;
  hbuf *b;
  SCM root = x;

  if (SCM_IMP(x) || !par__shared_of(x, &sh)) {
    return false;
  }
  if (par__shared_by_value) {
    /* Stored inside a dict or list: the contents. A vector or an array
     * is encoded as any other; a dict or list through its copy. */
    if (sh.kind == PAR_SHM_VECTOR) {
      return false;
    }
    par_scm_encode(par__shared_unshare(x), out, who);
    return true;
  }
  b = malloc(sizeof *b);
  if (b == NULL) {
    par_scm_throw(who, PAR_ENOMEM, "out of memory while encoding a shared "
                  "object", SCM_EOL);
  }
  b->len = 0;
  b->len += cbor_encode_tag(PTAG_SHARED, b->data, 9);
  put_array(b, sh.kind == PAR_SHM_VECTOR ? 10 : 6);
  put_uint(b, (uint64_t) sh.kind);
  put_uint(b, par_shm_arena_id(sh.arena));
  put_uint(b, (uint64_t) getpid());
  put_uint(b, (uint64_t) par_shm_arena_fd(sh.arena));
  put_uint(b, sh.ref);
  put_uint(b, par_shm_serial(sh.arena, sh.ref));
  if (sh.kind == PAR_SHM_VECTOR) {
    par_shm_vector_info info;

    if (!scm_is_bytevector(x)) {
      root = scm_shared_array_root(x);
    }
    par_shm_vector_info_of(sh.arena, sh.ref, &info);
    b->len += cbor_encode_string_start(
        strlen(par_scm_etype_of(SCM_BYTEVECTOR_ELEMENT_TYPE(root))->name),
        b->data + b->len, 9);
    {
      const char *name =
          par_scm_etype_of(SCM_BYTEVECTOR_ELEMENT_TYPE(root))->name;

      memcpy(b->data + b->len, name, strlen(name));
      b->len += strlen(name);
    }
    put_uint(b, (uint64_t) ((char *) SCM_BYTEVECTOR_CONTENTS(root)
                            - (char *) info.data));
    put_uint(b, info.count);
    if (scm_is_bytevector(x)) {
      b->len += cbor_encode_null(b->data + b->len, 9);
    } else {
      scm_t_array_handle h;
      size_t rank;

      scm_array_get_handle(x, &h);
      rank = scm_array_handle_rank(&h);
      if (rank > MAX_RANK) {
        scm_array_handle_release(&h);
        free(b);
        par_scm_throw(who, PAR_EINVAL, "cannot send a shared array of rank "
                      "~a", scm_list_1(scm_from_size_t(rank)));
      }
      put_array(b, 2);
      put_uint(b, (uint64_t) h.base);
      put_array(b, rank);
      for (size_t k = 0; k < rank; k++) {
        scm_t_array_dim *d = &scm_array_handle_dims(&h)[k];

        put_array(b, 3);
        put_int(b, d->lbnd);
        put_int(b, d->ubnd);
        put_int(b, d->inc);
      }
      scm_array_handle_release(&h);
    }
  }
  /* A process that does not borrow the receiver's arenas keeps the object
   * until the end of the run, so that it is still there when the
   * receiver opens it. value->cbor makes bytes for the user to keep: no
   * run ends them. */
  if (par__shared_pinning() && strcmp(who, "value->cbor") != 0
      && !par_shm_arena_borrowed(sh.arena)) {
    par_shm_pin(sh.arena, sh.ref);
  }
  scm_dynwind_begin(0);
  scm_dynwind_free(b);
  append(out, b->data, b->len, who);
  scm_dynwind_end();
  scm_remember_upto_here_1(x);
  return true;
}

/* --- Decoding ------------------------------------------------------------ */

static uint64_t
read_uint(struct dec *d, const char *what)
{
  struct head h;

  par__wire_read_head(d, &h);
  if (h.kind != H_UINT) {
    par__wire_fail(d, h.at, "%s of a shared-object handle must be an "
                   "unsigned integer", what);
  }
  return h.u;
}

static int64_t
read_int(struct dec *d, const char *what)
{
  struct head h;

  par__wire_read_head(d, &h);
  if (h.kind == H_UINT && h.u <= (uint64_t) INT64_MAX) {
    return (int64_t) h.u;
  }
  if (h.kind == H_NEGINT && h.u <= (uint64_t) INT64_MAX) {
    return -1 - (int64_t) h.u;
  }
  par__wire_fail(d, h.at, "%s of a shared-object handle must be an "
                 "integer of 64 bits", what);
}

/* Check that the elements the view [BASE, DIMS] reaches lie within
 * COUNT elements. */
static bool
view_in_bounds(int64_t base, size_t rank, const int64_t *dims, size_t count)
{
  __int128 lo = base, hi = base;

  for (size_t k = 0; k < rank; k++) {
    __int128 len = (__int128) dims[3 * k + 1] - dims[3 * k] + 1;
    __int128 span = (len - 1) * dims[3 * k + 2];

    if (len < 0) {
      return false;
    }
    if (len == 0) {
      return base >= 0 && (uint64_t) base <= count;
    }
    if (span < 0) {
      lo += span;
    } else {
      hi += span;
    }
  }
  return lo >= 0 && hi < (__int128) count;
}

/* Whether the view [BASE, DIMS] is vector INFO's own value. */
static bool
canonical_view(int64_t base, size_t rank, const int64_t *dims,
               const par_shm_vector_info *info)
{
  int64_t inc = 1;

  if (info->plain || base != 0 || rank != info->rank) {
    return false;
  }
  for (size_t k = rank; k-- > 0;) {
    if (dims[3 * k] != info->dims[2 * k]
        || dims[3 * k + 1] != info->dims[2 * k + 1]
        || (dims[3 * k + 2] != inc && dims[3 * k + 1] > dims[3 * k])) {
      return false;
    }
    inc *= dims[3 * k + 1] - dims[3 * k] + 1;
  }
  return true;
}

/* What the handle of a vector adds. */
typedef struct vector_part {
  struct head type; /* text */
  uint64_t offset, count;
  bool view;        /* an array over the vector, not the vector */
  int64_t base;
  size_t rank;
  int64_t *dims;    /* RANK triples lower, upper, increment */
  size_t at;        /* of the view, for errors */
} vector_part;

static void
read_vector_part(struct dec *d, vector_part *v)
{
  struct head h;

  par__wire_read_text(d, &v->type, "the element type of a shared vector");
  v->offset = read_uint(d, "the offset");
  v->count = read_uint(d, "the length");
  par__wire_read_head(d, &h);
  v->at = h.at;
  v->view = h.kind != H_NULL;
  if (!v->view) {
    return;
  }
  if (h.kind != H_ARRAY || h.n != 2) {
    par__wire_fail(d, h.at, "the view of a shared array must be [base, "
                   "dimensions]");
  }
  v->base = read_int(d, "the base of a view");
  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY || h.n > MAX_RANK) {
    par__wire_fail(d, h.at, "the dimensions of a shared array's view must "
                   "be an array of at most %d", MAX_RANK);
  }
  v->rank = h.n;
  v->dims = scm_gc_malloc_pointerless(sizeof *v->dims * (3 * v->rank + 1),
                                      "view");
  for (size_t k = 0; k < v->rank; k++) {
    par__wire_expect_array(d, 3, "a dimension of a view must be [lower, "
                           "upper, increment]");
    v->dims[3 * k] = read_int(d, "a lower bound");
    v->dims[3 * k + 1] = read_int(d, "an upper bound");
    v->dims[3 * k + 2] = read_int(d, "an increment");
  }
}

/* Why V cannot be a view of vector REF of A, or NULL if it can. */
static const char *
check_vector_part(par_shm_arena *a, par_shm_ref ref, const vector_part *v)
{
  par_shm_vector_info info;
  const char *type = "vu8";

  par_shm_vector_info_of(a, ref, &info);
  if (info.etype != PAR_SHM_BYTES) {
    type = par_dtype_name((par_dtype) info.etype);
  }
  if (v->type.n != strlen(type) || memcmp(v->type.data, type, v->type.n)) {
    return "the handle says another element type than the vector's";
  }
  if (v->offset != 0 || v->count != info.count) {
    return "the handle names a part of a vector, not all of it";
  }
  if (!v->view && !info.plain) {
    return "the handle of a shared array needs a view";
  }
  if (v->view && !view_in_bounds(v->base, v->rank, v->dims, info.count)) {
    return "the view of a shared array reaches outside its elements";
  }
  return NULL;
}

SCM
par__wire_decode_shared(struct dec *d, size_t at)
{
  struct head h;
  uint64_t kind, id, pid, fd, ref, serial;
  vector_part v = {{H_NONE, 0, 0, NULL, 0, 0}, 0, 0, false, 0, 0, NULL, 0};
  par_shm_vector_info info;
  par_shm_kind found;
  par_shm_arena *a;
  const char *why;
  int rc;

  /* The whole handle is read before anything is done with it: an error
   * in it then leaves nothing held. */
  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY || (h.n != 6 && h.n != 10)) {
    par__wire_fail(d, h.at, "a shared-object handle must be an array of 6 "
                   "or 10 items");
  }
  kind = read_uint(d, "the kind");
  id = read_uint(d, "the arena");
  pid = read_uint(d, "the process");
  fd = read_uint(d, "the descriptor");
  ref = read_uint(d, "the block");
  serial = read_uint(d, "the serial number");
  if (kind < PAR_SHM_VECTOR || kind > PAR_SHM_LIST
      || (kind == PAR_SHM_VECTOR) != (h.n == 10) || pid > INT32_MAX
      || fd > INT32_MAX) {
    par__wire_fail(d, at, "malformed shared-object handle");
  }
  if (kind == PAR_SHM_VECTOR) {
    read_vector_part(d, &v);
  }
  rc = par_shm_arena_attach(id, (pid_t) pid, (int) fd, &a);
  if (rc != PAR_OK) {
    par_scm_throw_failure(d->who, rc, par_shm_error_detail());
  }
  /* The arena stays mapped until it is left, which must be once the
   * object is held. */
  rc = par_shm_check(a, ref, serial, &found);
  if (rc == PAR_OK && found != (par_shm_kind) kind) {
    rc = PAR_EMALFORMED;
  }
  why = rc == PAR_OK && kind == PAR_SHM_VECTOR
            ? check_vector_part(a, ref, &v)
            : NULL;
  if (rc == PAR_OK && why == NULL) {
    par_shm_hold(a, ref);
  }
  par_shm_arena_leave(a);
  if (rc == PAR_EMALFORMED) {
    par__wire_fail(d, at, "a shared-object handle names no object of its "
                   "arena");
  }
  if (rc != PAR_OK) {
    par_scm_throw_failure(d->who, rc, par_shm_error_detail());
  }
  if (why != NULL) {
    par__wire_fail(d, v.at, "%s", why);
  }
  if (kind != PAR_SHM_VECTOR || !v.view) {
    return par__shared_value(a, ref, (par_shm_kind) kind);
  }
  par_shm_vector_info_of(a, ref, &info);
  if (canonical_view(v.base, v.rank, v.dims, &info)) {
    return par__shared_value(a, ref, PAR_SHM_VECTOR);
  }
  return par__shared_strided_view(a, ref, v.base, v.rank, v.dims);
}
