/* kernel.c — C kernels as Scheme procedures: loading them from shared
 * libraries, finding registered ones, and calling them on uniform arrays
 * and numbers (par/kernel.h).
 *
 * A kernel object of this file (a foreign object, "par-kernel") holds the
 * kernel's registered description and its parsed signature; the module
 * (parallelizer kernels) wraps it in the applicable struct users see. A
 * call converts each argument in place, without copying: a uniform array
 * (SRFI-4 vector, bytevector, typed array) becomes a par_array over its
 * own storage, which is read through a held array handle, and a number a
 * par_scalar. Only an array that is not contiguous in row-major order is
 * copied first. The result is made as a Guile array, so the kernel writes
 * straight into the object the call returns.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "kernel-internal.h"

static SCM kernel_type;

/* What a kernel object holds. The description lives in the registry and
 * is never freed, so the box holds no reference that the collector must
 * follow. */
typedef struct kernel_box {
  const par_kernel_def *def;
  par_kernel_sig sig;
} kernel_box;

static SCM
wrap_kernel(const par_kernel_def *def, const char *who)
{
  kernel_box *box = scm_gc_malloc_pointerless(sizeof *box, "par-kernel");
  char detail[256];
  int rc;

  box->def = def;
  rc = par_kernel_def_check(def, &box->sig, detail, sizeof detail);
  if (rc != PAR_OK) {
    par_scm_throw(who, rc, "~a", scm_list_1(scm_from_utf8_string(detail)));
  }
  return scm_make_foreign_object_1(kernel_type, box);
}

const par_kernel_def *
par_scm_kernel_def(SCM kernel, const char *who, const par_kernel_sig **sig)
{
  kernel_box *box =
      par_scm_foreign_ref(kernel_type, kernel, "a kernel", who);

  if (sig != NULL) {
    *sig = &box->sig;
  }
  return box->def;
}

/* --- Arguments ----------------------------------------------------------- */

static void
release_handle(void *h)
{
  scm_array_handle_release(h);
}

/* Whether the array behind H is contiguous in row-major order. */
static bool
row_major(scm_t_array_handle *h)
{
  size_t rank = scm_array_handle_rank(h);
  const scm_t_array_dim *dims = scm_array_handle_dims(h);
  ssize_t inc = 1;

  for (size_t k = rank; k-- > 0;) {
    ssize_t len = dims[k].ubnd - dims[k].lbnd + 1;

    if (len > 1 && dims[k].inc != inc) {
      return false;
    }
    inc *= len > 0 ? len : 1;
  }
  return true;
}

/* A fresh contiguous copy of the array X behind H, with X's bounds. */
static SCM
contiguous_copy(SCM x, scm_t_array_handle *h, const par_scm_etype *type)
{
  const scm_t_array_dim *dims = scm_array_handle_dims(h);
  SCM bounds = SCM_EOL, copy;

  for (size_t k = scm_array_handle_rank(h); k-- > 0;) {
    bounds = scm_cons(scm_list_2(scm_from_ssize_t(dims[k].lbnd),
                                 scm_from_ssize_t(dims[k].ubnd)),
                      bounds);
  }
  copy = scm_make_typed_array(type->symbol, SCM_UNSPECIFIED, bounds);
  scm_array_copy_x(x, copy);
  return copy;
}

int
par_scm_kernel_array(SCM x, par_array *a, scm_t_array_handle *h, SCM *keep)
{
  const par_scm_etype *type;
  const scm_t_array_dim *dims;
  size_t rank;

  if (!scm_is_array(x)) {
    return -1;
  }
  scm_array_get_handle(x, h);
  type = par_scm_etype_of(h->element_type);
  rank = scm_array_handle_rank(h);
  if (type == NULL || rank > PAR_ARRAY_MAX_RANK) {
    scm_array_handle_release(h);
    return -1;
  }
  if (!row_major(h)) {
    SCM copy = contiguous_copy(x, h, type);

    scm_array_handle_release(h);
    x = copy;
    scm_array_get_handle(x, h);
  }
  *keep = x;
  scm_dynwind_unwind_handler(release_handle, h, SCM_F_WIND_EXPLICITLY);
  dims = scm_array_handle_dims(h);
  memset(a, 0, sizeof *a);
  a->type = type->dtype;
  a->rank = (int) rank;
  a->count = 1;
  for (size_t k = 0; k < rank; k++) {
    ssize_t len = dims[k].ubnd - dims[k].lbnd + 1;

    a->shape[k] = len > 0 ? (size_t) len : 0;
    a->count *= a->shape[k];
  }
  a->data = (void *) scm_array_handle_uniform_elements(h);
  return 0;
}

/* Set *S to the number X. Returns 0, or -1 if X is not a real number. An
 * exact integer beyond 64 bits is a real number (F64). */
static int
to_scalar(SCM x, par_scalar *s)
{
  if (scm_is_exact_integer(x) && scm_is_signed_integer(x, INT64_MIN,
                                                        INT64_MAX)) {
    s->type = PAR_S64;
    s->i = scm_to_int64(x);
    s->f = (double) s->i;
    return 0;
  }
  if (scm_is_real(x)) {
    double f = scm_to_double(x);

    s->type = PAR_F64;
    s->f = f;
    s->i = f >= 9.2233720368547758e18    ? INT64_MAX
           : f <= -9.2233720368547758e18 ? INT64_MIN
           : f != f                      ? 0
                                         : (int64_t) f;
    return 0;
  }
  return -1;
}

/* How a signature's argument code reads: "an array of f64", "a number". */
static SCM
expected_text(int code)
{
  switch (code) {
  case PAR_KERNEL_ANY:
    return scm_from_utf8_string("a uniform numeric array");
  case PAR_KERNEL_DOUBLE:
    return scm_from_utf8_string("a real number");
  case PAR_KERNEL_INT64:
    return scm_from_utf8_string("an exact integer");
  default:
    return scm_string_append(
        scm_list_2(scm_from_utf8_string("an array of "),
                   scm_from_utf8_string(par_dtype_name((par_dtype) code))));
  }
}

void
par_scm_kernel_args(const char *who, const par_kernel_sig *sig,
                    const char *signature, SCM args, par_scm_kernel_call *c)
{
  long n = scm_ilength(args);

  c->nin = 0;
  c->nscalars = 0;
  if (n < 0 || (sig->nargs >= 0 && n != sig->nargs)
      || n > PAR_KERNEL_MAX_ARGS) {
    if (sig->nargs < 0) {
      par_scm_throw(who, PAR_EINVAL,
                    "a kernel takes at most ~a arguments, got ~a",
                    scm_list_2(scm_from_int(PAR_KERNEL_MAX_ARGS),
                               scm_from_long(n)));
    }
    par_scm_throw(who, PAR_EINVAL, "expected ~a argument~a (~a), got ~a",
                  scm_list_4(scm_from_int(sig->nargs),
                             scm_from_utf8_string(sig->nargs == 1 ? ""
                                                                  : "s"),
                             scm_from_utf8_string(signature),
                             scm_from_long(n)));
  }
  for (long j = 0; j < n; j++, args = SCM_CDR(args)) {
    SCM x = SCM_CAR(args);
    bool number;
    int code, rc;

    /* What argument J must be: the signature says, or, for the signature
     * that accepts anything, the argument itself. */
    if (sig->nargs >= 0) {
      code = sig->args[j];
      number = code == PAR_KERNEL_DOUBLE || code == PAR_KERNEL_INT64;
    } else {
      number = scm_is_number(x);
      code = number ? PAR_KERNEL_DOUBLE : PAR_KERNEL_ANY;
    }
    if (number) {
      rc = to_scalar(x, &c->scalars[c->nscalars++]);
    } else {
      rc = par_scm_kernel_array(x, &c->in[c->nin], &c->handles[c->nin],
                                &c->keep[c->nin]);
      c->nin++;
    }
    if (rc != 0) {
      par_scm_throw(who, PAR_ETYPE, "argument ~a must be ~a, got ~s",
                    scm_list_3(scm_from_long(j + 1), expected_text(code),
                               x));
    }
  }
}

/* --- Results ------------------------------------------------------------- */

/* The Guile array type symbol of TYPE. */
static SCM
type_symbol(par_dtype type)
{
  return scm_from_utf8_symbol(par_dtype_name(type));
}

SCM
par_scm_kernel_result(const par_array *plan, scm_t_array_handle *h,
                      par_array *out)
{
  SCM dims = SCM_EOL, result;

  for (int k = plan->rank; k-- > 0;) {
    dims = scm_cons(scm_from_size_t(plan->shape[k]), dims);
  }
  result = scm_make_typed_array(type_symbol(plan->type), SCM_UNSPECIFIED,
                                dims);
  scm_array_get_handle(result, h);
  scm_dynwind_unwind_handler(release_handle, h, SCM_F_WIND_EXPLICITLY);
  *out = *plan;
  out->data = scm_array_handle_uniform_writable_elements(h);
  return result;
}

/* What the allocator of a call from Scheme keeps: the array it made. */
typedef struct made {
  SCM result;
  scm_t_array_handle handle;
  bool have;
} made;

static int
scheme_alloc(par_kernel_args *args, par_dtype type, int rank,
             const size_t *shape)
{
  made *m = args->impl_;
  par_array a;
  int rc = par_kernel_alloc_prepare(args, type, rank, shape, &a);

  if (rc != PAR_OK) {
    return rc;
  }
  m->result = par_scm_kernel_result(&a, &m->handle, args->out);
  m->have = true;
  return PAR_OK;
}

/* Raise the failure RC of the kernel DEF, whose message is DETAIL. A code
 * outside par/error.h's list is reported as EINVAL, with its number. */
void
par_scm_kernel_failed(const char *who, int rc, const char *detail)
{
  SCM text = scm_from_utf8_string(detail);

  if (rc > PAR__ERRNO_FIRST && rc < PAR__ERRNO_END) {
    par_scm_throw(who, rc, "~a", scm_list_1(text));
  }
  par_scm_throw(who, PAR_EINVAL, "the kernel failed with code ~a: ~a",
                scm_list_2(scm_from_int(rc), text));
}

/* --- Primitives ---------------------------------------------------------- */

/* (%kernel-apply KERNEL ARGS) -> the result of KERNEL called on the list
 * ARGS: a fresh array, a number, or the unspecified value. */
static SCM
prim_kernel_apply(SCM kernel, SCM args)
{
  const par_kernel_sig *sig;
  const par_kernel_def *def = par_scm_kernel_def(kernel, "%kernel-apply",
                                                 &sig);
  const char *who = def->name;
  par_scm_kernel_call c;
  par_array plan;
  made m = {SCM_UNSPECIFIED, {0}, false};
  union {
    double f;
    int64_t i;
  } number;
  char detail[PAR_KERNEL_MESSAGE_MAX + 64];
  SCM result = SCM_UNSPECIFIED;
  int rc;

  scm_dynwind_begin(0);
  par_scm_kernel_args(who, sig, def->signature ? def->signature : "any",
                      args, &c);
  rc = par_kernel_plan(sig, def->flags, c.in, c.nin, c.scalars, c.nscalars,
                       &plan, detail, sizeof detail);
  if (rc != PAR_OK) {
    par_scm_throw(who, rc, "~a", scm_list_1(scm_from_utf8_string(detail)));
  }
  if (plan.rank == 0 && (sig->result == PAR_KERNEL_DOUBLE
                         || sig->result == PAR_KERNEL_INT64)) {
    plan.data = &number;
  } else if (plan.rank >= 0) {
    result = par_scm_kernel_result(&plan, &m.handle, &plan);
  }
  rc = par_kernel_invoke(def, c.in, c.nin, c.scalars, c.nscalars, &plan,
                         scheme_alloc, &m, detail, sizeof detail);
  if (rc != PAR_OK) {
    par_scm_kernel_failed(who, rc, detail);
  }
  if (plan.data == &number) {
    result = sig->result == PAR_KERNEL_DOUBLE ? scm_from_double(number.f)
                                              : scm_from_int64(number.i);
  } else if (m.have) {
    result = m.result;
  }
  scm_dynwind_end();
  scm_remember_upto_here_1(args);
  return result;
}

/* (%kernel-load LIBRARY NAME) -> the kernel NAME (a string) exported by
 * the shared library LIBRARY (a file name, as dlopen takes it) with
 * PAR_KERNEL_EXPORT. The library stays loaded; the kernel is registered
 * under its name. */
static SCM
prim_kernel_load(SCM library, SCM name)
#define FUNC_NAME "load-kernel"
{
  char *path, *cname, *symbol;
  const par_kernel_def *def, *registered;
  void *lib;
  char detail[256];
  int rc;

  SCM_VALIDATE_STRING(1, library);
  SCM_VALIDATE_STRING(2, name);
  scm_dynwind_begin(0);
  path = scm_to_utf8_string(library);
  scm_dynwind_free(path);
  cname = scm_to_utf8_string(name);
  scm_dynwind_free(cname);
  symbol = scm_malloc(strlen(cname) + sizeof "__par_kernel");
  scm_dynwind_free(symbol);
  strcpy(symbol, cname);
  strcat(symbol, "__par_kernel");

  /* RTLD_LOCAL: the library's symbols serve the library alone, so two
   * libraries with kernels of the same name never see each other's. */
  lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    par_scm_throw(FUNC_NAME, PAR_ENOENT, "cannot load ~s: ~a",
                  scm_list_2(library, scm_from_utf8_string(dlerror())));
  }
  def = dlsym(lib, symbol);
  if (def == NULL) {
    int plain = dlsym(lib, cname) != NULL;

    dlclose(lib);
    if (plain) {
      par_scm_throw(FUNC_NAME, PAR_EINVAL,
                    "~a in ~s is not a kernel: export it with "
                    "PAR_KERNEL_EXPORT (par/kernel.h)",
                    scm_list_2(name, library));
    }
    par_scm_throw(FUNC_NAME, PAR_ENOENT, "~s has no kernel named ~a",
                  scm_list_2(library, name));
  }
  rc = par_kernel_def_check(def, NULL, detail, sizeof detail);
  if (rc != PAR_OK) {
    dlclose(lib);
    par_scm_throw(FUNC_NAME, rc, "~a in ~s: ~a",
                  scm_list_3(name, library, scm_from_utf8_string(detail)));
  }
  /* The library stays loaded for good: its kernel may be called as long
   * as the process lives. */
  rc = par_kernel_register_def(def);
  if (rc == PAR_OK) {
    rc = par_kernel_lookup(def->name, &registered);
  }
  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, "while registering the kernel");
  }
  scm_dynwind_end();
  return wrap_kernel(registered, FUNC_NAME);
}
#undef FUNC_NAME

/* (%kernel-lookup NAME) -> the kernel registered under NAME (a string),
 * or #f. */
static SCM
prim_kernel_lookup(SCM name)
#define FUNC_NAME "kernel-ref"
{
  const par_kernel_def *def;
  char *cname;
  int rc;

  SCM_VALIDATE_STRING(1, name);
  cname = scm_to_utf8_string(name);
  rc = par_kernel_lookup(cname, &def);
  free(cname);
  return rc == PAR_OK ? wrap_kernel(def, FUNC_NAME) : SCM_BOOL_F;
}
#undef FUNC_NAME

/* (%kernel-info KERNEL) -> (NAME SIGNATURE DOC FLAGS ID): the kernel's
 * name, signature (#f: any arguments), documentation (#f if none), flags
 * (a list of the symbols elementwise and reduction) and an integer that
 * identifies its registered description. */
static SCM
prim_kernel_info(SCM kernel)
{
  const par_kernel_def *def = par_scm_kernel_def(kernel, "%kernel-info",
                                                 NULL);
  SCM flags = SCM_EOL;

  if (def->flags & PAR_KERNEL_REDUCTION) {
    flags = scm_cons(scm_from_utf8_symbol("reduction"), flags);
  }
  if (def->flags & PAR_KERNEL_ELEMENTWISE) {
    flags = scm_cons(scm_from_utf8_symbol("elementwise"), flags);
  }
  return scm_list_5(
      scm_from_utf8_string(def->name),
      def->signature ? scm_from_utf8_string(def->signature) : SCM_BOOL_F,
      def->doc ? scm_from_utf8_string(def->doc) : SCM_BOOL_F, flags,
      scm_from_uintptr_t((uintptr_t) def));
}

/* (%kernel-result-type KERNEL TYPE) -> the element type (a symbol) of the
 * array that the element-wise KERNEL makes from arrays of TYPE, or #f if
 * KERNEL is not element-wise or does not take arrays of TYPE first. */
static SCM
prim_kernel_result_type(SCM kernel, SCM type)
{
  const par_kernel_sig *sig;
  const par_kernel_def *def = par_scm_kernel_def(kernel,
                                                 "%kernel-result-type", &sig);
  char *name = scm_is_symbol(type)
                   ? scm_to_utf8_string(scm_symbol_to_string(type))
                   : NULL;
  par_dtype t;
  int rc = par_dtype_from_name(name, &t), first = -1;

  free(name);
  if (rc != PAR_OK || !(def->flags & PAR_KERNEL_ELEMENTWISE)) {
    return SCM_BOOL_F;
  }
  for (int j = 0; j < sig->nargs && first < 0; j++) {
    if (sig->args[j] != PAR_KERNEL_DOUBLE && sig->args[j] != PAR_KERNEL_INT64) {
      first = sig->args[j];
    }
  }
  if (first >= 0 && first != (int) t) {
    return SCM_BOOL_F;
  }
  return type_symbol(sig->result == PAR_KERNEL_SAME ? t
                                                    : (par_dtype) sig->result);
}

void
par_scm_init_kernel(void)
{
  kernel_type = scm_make_foreign_object_type(
      scm_from_utf8_symbol("par-kernel"),
      scm_list_1(scm_from_utf8_symbol("box")), NULL);
  scm_c_define_gsubr("%kernel-apply", 2, 0, 0, prim_kernel_apply);
  scm_c_define_gsubr("%kernel-load", 2, 0, 0, prim_kernel_load);
  scm_c_define_gsubr("%kernel-lookup", 1, 0, 0, prim_kernel_lookup);
  scm_c_define_gsubr("%kernel-info", 1, 0, 0, prim_kernel_info);
  scm_c_define_gsubr("%kernel-result-type", 2, 0, 0,
                     prim_kernel_result_type);
}
