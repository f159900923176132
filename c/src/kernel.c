/* kernel.c — kernel signatures, the checks before a call, the registry,
 * and calling a kernel from C (par/kernel.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "par/kernel.h"

/* Write a sentence into DETAIL (SIZE bytes; DETAIL may be NULL) and return
 * CODE. */
static int fail(int code, char *detail, size_t size, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(int code, char *detail, size_t size, const char *format, ...)
{
  va_list ap;

  if (detail != NULL && size > 0) {
    va_start(ap, format);
    vsnprintf(detail, size, format, ap);
    va_end(ap);
  }
  return code;
}

/* --- Signatures ---------------------------------------------------------- */

/* Not a type word (any value that is no par_dtype and no PAR_KERNEL_*). */
#define NOT_A_TYPE (-100)

/* The code of the type word WORD (LEN bytes), or NOT_A_TYPE. AS_RESULT
 * allows "same". */
static int
type_word(const char *word, size_t len, bool as_result)
{
  static const struct {
    const char *word;
    int code;
  } words[] = {{"*", PAR_KERNEL_ANY},
               {"double", PAR_KERNEL_DOUBLE},
               {"int64", PAR_KERNEL_INT64},
               {"same", PAR_KERNEL_SAME}};
  char name[16];

  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    if (strlen(words[i].word) == len && memcmp(words[i].word, word, len) == 0
        && (as_result || words[i].code != PAR_KERNEL_SAME)) {
      return words[i].code;
    }
  }
  if (len < sizeof name) {
    par_dtype type;

    memcpy(name, word, len);
    name[len] = '\0';
    if (par_dtype_from_name(name, &type) == PAR_OK) {
      return (int) type;
    }
  }
  return NOT_A_TYPE;
}

static bool
is_separator(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == ',';
}

int
par_kernel_sig_parse(const char *text, par_kernel_sig *sig, char *detail,
                     size_t size)
{
  par_kernel_sig s = {0};
  bool arrow = false, have_result = false;
  const char *p = text;

  if (sig == NULL) {
    return fail(PAR_EINVAL, detail, size, "no signature to fill");
  }
  if (text == NULL) {
    s.nargs = -1;
    s.result = PAR_KERNEL_ANY;
    *sig = s;
    return PAR_OK;
  }
  while (*p != '\0') {
    const char *word;
    size_t len;
    int code;

    if (is_separator(*p)) {
      p++;
      continue;
    }
    if (p[0] == '-' && p[1] == '>') {
      if (arrow) {
        return fail(PAR_EINVAL, detail, size,
                    "signature \"%s\" has two arrows", text);
      }
      arrow = true;
      p += 2;
      continue;
    }
    word = p;
    while (*p != '\0' && !is_separator(*p) && !(p[0] == '-' && p[1] == '>')) {
      p++;
    }
    len = (size_t) (p - word);
    code = type_word(word, len, arrow);
    if (code == NOT_A_TYPE) {
      return fail(PAR_EINVAL, detail, size,
                  "signature \"%s\": unknown type \"%.*s\" (expected an "
                  "element type such as f64, *, double or int64%s)",
                  text, (int) len, word, arrow ? ", or same" : "");
    }
    if (arrow) {
      if (have_result) {
        return fail(PAR_EINVAL, detail, size,
                    "signature \"%s\" has more than one result", text);
      }
      s.result = code;
      have_result = true;
    } else {
      if (s.nargs == PAR_KERNEL_MAX_ARGS) {
        return fail(PAR_EINVAL, detail, size,
                    "signature \"%s\" has more than %d arguments", text,
                    PAR_KERNEL_MAX_ARGS);
      }
      s.args[s.nargs++] = code;
      if (code == PAR_KERNEL_DOUBLE || code == PAR_KERNEL_INT64) {
        s.nscalars++;
      } else {
        s.narrays++;
      }
    }
  }
  if (!have_result) {
    return fail(PAR_EINVAL, detail, size,
                "signature \"%s\" has no \"-> RESULT\"", text);
  }
  if (s.result == PAR_KERNEL_SAME && s.narrays == 0) {
    return fail(PAR_EINVAL, detail, size,
                "signature \"%s\": a result of the \"same\" type needs an "
                "array argument",
                text);
  }
  *sig = s;
  return PAR_OK;
}

static bool
is_array_code(int code)
{
  return code >= 0 || code == PAR_KERNEL_ANY || code == PAR_KERNEL_SAME;
}

int
par_kernel_def_check(const par_kernel_def *def, par_kernel_sig *sig,
                     char *detail, size_t size)
{
  par_kernel_sig s;
  unsigned known = PAR_KERNEL_ELEMENTWISE | PAR_KERNEL_REDUCTION;
  int rc;

  if (def == NULL) {
    return fail(PAR_EINVAL, detail, size, "no kernel description");
  }
  if (def->abi != PAR_KERNEL_ABI_VERSION) {
    return fail(PAR_EINVAL, detail, size,
                "the kernel was built for kernel ABI version %d, but this "
                "Parallelizer has version %d: rebuild it against this "
                "par/kernel.h",
                def->abi, PAR_KERNEL_ABI_VERSION);
  }
  if (def->name == NULL || def->name[0] == '\0') {
    return fail(PAR_EINVAL, detail, size, "the kernel has no name");
  }
  if (def->fn == NULL) {
    return fail(PAR_EINVAL, detail, size, "kernel %s has no function",
                def->name);
  }
  rc = par_kernel_sig_parse(def->signature, &s, detail, size);
  if (rc != PAR_OK) {
    return rc;
  }
  if ((def->flags & ~known) != 0) {
    return fail(PAR_EINVAL, detail, size, "kernel %s has unknown flags %#x",
                def->name, def->flags & ~known);
  }
  if ((def->flags & (PAR_KERNEL_ELEMENTWISE | PAR_KERNEL_REDUCTION))
      && s.nargs < 0) {
    return fail(PAR_EINVAL, detail, size,
                "kernel %s is element-wise or a reduction, so it needs a "
                "signature",
                def->name);
  }
  if ((def->flags & PAR_KERNEL_ELEMENTWISE)
      && (s.narrays == 0 || !is_array_code(s.result))) {
    return fail(PAR_EINVAL, detail, size,
                "kernel %s is element-wise, so it must take an array and "
                "make an array, but its signature is \"%s\"",
                def->name, def->signature);
  }
  if ((def->flags & PAR_KERNEL_REDUCTION)
      && !(s.nargs == 2 && s.narrays == 2 && s.args[0] == s.args[1]
           && (s.result == PAR_KERNEL_SAME
               || (s.args[0] >= 0 && s.result == s.args[0])))) {
    return fail(PAR_EINVAL, detail, size,
                "kernel %s is a reduction, so its signature must be \"T T "
                "-> T\" (or \"* * -> same\"), not \"%s\"",
                def->name, def->signature);
  }
  if (sig != NULL) {
    *sig = s;
  }
  return PAR_OK;
}

/* --- Checking a call ----------------------------------------------------- */

int
par_array_init(par_array *a, par_dtype type, int rank, const size_t *shape,
               void *data)
{
  size_t count = 1;

  if (a == NULL || (unsigned) type >= PAR_DTYPE_COUNT || rank < 0
      || rank > PAR_ARRAY_MAX_RANK || (rank > 0 && shape == NULL)) {
    return PAR_EINVAL;
  }
  memset(a, 0, sizeof *a);
  for (int k = 0; k < rank; k++) {
    if (shape[k] != 0 && count > SIZE_MAX / par_dtype_size(type) / shape[k]) {
      return PAR_EINVAL;
    }
    count *= shape[k];
    a->shape[k] = shape[k];
  }
  a->type = type;
  a->rank = rank;
  a->count = count;
  a->data = data;
  return PAR_OK;
}

/* "(3 4)": the shape of A, for messages. */
static const char *
shape_text(const par_array *a, char *buf, size_t size)
{
  size_t used = 0;

  used += (size_t) snprintf(buf, size, "(");
  for (int k = 0; k < a->rank && used < size; k++) {
    used += (size_t) snprintf(buf + used, size - used, "%s%zu",
                              k > 0 ? " " : "", a->shape[k]);
  }
  if (used < size) {
    snprintf(buf + used, size - used, ")");
  }
  return buf;
}

static bool
same_shape(const par_array *a, const par_array *b)
{
  if (a->rank != b->rank) {
    return false;
  }
  for (int k = 0; k < a->rank; k++) {
    if (a->shape[k] != b->shape[k]) {
      return false;
    }
  }
  return true;
}

int
par_kernel_plan(const par_kernel_sig *sig, unsigned flags,
                const par_array *in, size_t nin, const par_scalar *scalars,
                size_t nscalars, par_array *out, char *detail, size_t size)
{
  size_t k_array = 0, k_scalar = 0;
  /* A reduction's result has its inputs' shape too. */
  unsigned same_shapes = flags & (PAR_KERNEL_ELEMENTWISE | PAR_KERNEL_REDUCTION);
  int result;

  memset(out, 0, sizeof *out);
  out->rank = -1;
  out->type = PAR_DTYPE_COUNT;
  for (size_t i = 0; i < nin; i++) {
    if ((unsigned) in[i].type >= PAR_DTYPE_COUNT || in[i].rank < 0
        || in[i].rank > PAR_ARRAY_MAX_RANK) {
      return fail(PAR_EINVAL, detail, size, "array %zu is not valid", i + 1);
    }
  }
  if (sig->nargs < 0) {
    return PAR_OK;
  }
  if (nin != (size_t) sig->narrays || nscalars != (size_t) sig->nscalars) {
    return fail(PAR_EINVAL, detail, size,
                "expected %d argument%s (%d array%s and %d number%s), got "
                "%zu array%s and %zu number%s",
                sig->nargs, sig->nargs == 1 ? "" : "s", sig->narrays,
                sig->narrays == 1 ? "" : "s", sig->nscalars,
                sig->nscalars == 1 ? "" : "s", nin, nin == 1 ? "" : "s",
                nscalars, nscalars == 1 ? "" : "s");
  }
  for (int j = 0; j < sig->nargs; j++) {
    int code = sig->args[j];

    if (code == PAR_KERNEL_DOUBLE || code == PAR_KERNEL_INT64) {
      const par_scalar *s = &scalars[k_scalar++];

      if (code == PAR_KERNEL_INT64 && s->type != PAR_S64) {
        return fail(PAR_ETYPE, detail, size,
                    "argument %d must be an exact integer (int64), got a "
                    "real number",
                    j + 1);
      }
      continue;
    }
    if (code >= 0 && in[k_array].type != (par_dtype) code) {
      return fail(PAR_ETYPE, detail, size,
                  "argument %d must be an array of %s, got an array of %s",
                  j + 1, par_dtype_name((par_dtype) code),
                  par_dtype_name(in[k_array].type));
    }
    if (same_shapes && k_array > 0 && !same_shape(&in[k_array], &in[0])) {
      char a[96], b[96];

      return fail(PAR_ESIZE, detail, size,
                  "the kernel is %s, but argument %d has shape %s and the "
                  "first array %s",
                  (flags & PAR_KERNEL_ELEMENTWISE) ? "element-wise"
                                                   : "a reduction",
                  j + 1, shape_text(&in[k_array], a, sizeof a),
                  shape_text(&in[0], b, sizeof b));
    }
    if ((flags & PAR_KERNEL_REDUCTION) && k_array > 0
        && in[k_array].type != in[0].type) {
      return fail(PAR_ETYPE, detail, size,
                  "the kernel is a reduction, but its arrays are of %s and "
                  "%s",
                  par_dtype_name(in[0].type),
                  par_dtype_name(in[k_array].type));
    }
    k_array++;
  }
  result = sig->result;
  if (result == PAR_KERNEL_SAME) {
    result = (int) in[0].type;
  }
  if (result == PAR_KERNEL_DOUBLE || result == PAR_KERNEL_INT64) {
    par_array_init(out, result == PAR_KERNEL_DOUBLE ? PAR_F64 : PAR_S64, 0,
                   NULL, NULL);
  } else if (same_shapes) {
    par_array_init(out, (par_dtype) result, in[0].rank, in[0].shape, NULL);
  } else {
    out->type = result >= 0 ? (par_dtype) result : PAR_DTYPE_COUNT;
  }
  return PAR_OK;
}

/* --- The registry -------------------------------------------------------- */

/* Registered kernels, newest first. An entry is never freed: whoever
 * looked one up may keep using it after a newer kernel of the same name
 * replaces it. */
typedef struct entry {
  par_kernel_def def;
  struct entry *next;
} entry;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static entry *registry;

static char *
copy_string(const char *s, bool *failed)
{
  char *copy;

  if (s == NULL) {
    return NULL;
  }
  copy = strdup(s);
  if (copy == NULL) {
    *failed = true;
  }
  return copy;
}

static bool
same_string(const char *a, const char *b)
{
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether the newest kernel registered under DEF's name is DEF already,
 * as when a library is loaded again: then nothing is registered, and
 * whoever looks the name up gets the same description as before. */
static bool
registered_already(const par_kernel_def *def)
{
  for (entry *e = registry; e != NULL; e = e->next) {
    if (strcmp(e->def.name, def->name) == 0) {
      return e->def.fn == def->fn && e->def.flags == def->flags
             && e->def.user == def->user
             && same_string(e->def.signature, def->signature)
             && same_string(e->def.doc, def->doc);
    }
  }
  return false;
}

int
par_kernel_register_def(const par_kernel_def *def)
{
  entry *e;
  bool failed = false, again;
  int rc = par_kernel_def_check(def, NULL, NULL, 0);

  if (rc != PAR_OK) {
    return rc;
  }
  pthread_mutex_lock(&registry_lock);
  again = registered_already(def);
  pthread_mutex_unlock(&registry_lock);
  if (again) {
    return PAR_OK;
  }
  e = malloc(sizeof *e);
  if (e == NULL) {
    return PAR_ENOMEM;
  }
  e->def = *def;
  e->def.name = copy_string(def->name, &failed);
  e->def.signature = copy_string(def->signature, &failed);
  e->def.doc = copy_string(def->doc, &failed);
  if (failed) {
    free((char *) e->def.name);
    free((char *) e->def.signature);
    free((char *) e->def.doc);
    free(e);
    return PAR_ENOMEM;
  }
  pthread_mutex_lock(&registry_lock);
  e->next = registry;
  registry = e;
  pthread_mutex_unlock(&registry_lock);
  return PAR_OK;
}

int
par_kernel_register(const char *name, par_kernel_fn *fn,
                    const char *signature, unsigned flags, void *user)
{
  par_kernel_def def = {PAR_KERNEL_ABI_VERSION, name, fn, signature, flags,
                        user, NULL};

  return par_kernel_register_def(&def);
}

int
par_kernel_lookup(const char *name, const par_kernel_def **out)
{
  int rc = PAR_ENOENT;

  if (name == NULL || out == NULL) {
    return PAR_EINVAL;
  }
  pthread_mutex_lock(&registry_lock);
  for (entry *e = registry; e != NULL; e = e->next) {
    if (strcmp(e->def.name, name) == 0) {
      *out = &e->def;
      rc = PAR_OK;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return rc;
}

/* --- Calling ------------------------------------------------------------- */

/* The allocator of par_kernel_call: malloc'ed memory. */
static int
malloc_alloc(par_kernel_args *args, par_dtype type, int rank,
             const size_t *shape)
{
  par_array a;
  int rc = par_kernel_alloc_prepare(args, type, rank, shape, &a);

  if (rc != PAR_OK) {
    return rc;
  }
  a.data = malloc(a.count > 0 ? a.count * par_dtype_size(type) : 1);
  if (a.data == NULL) {
    return par_kernel_error(args, PAR_ENOMEM,
                            "cannot allocate %zu elements of %s", a.count,
                            par_dtype_name(type));
  }
  *args->out = a;
  return PAR_OK;
}

int
par_kernel_alloc_prepare(par_kernel_args *args, par_dtype type, int rank,
                         const size_t *shape, par_array *a)
{
  /* Until the result is made, OUT holds the plan: rank -1 and the type
   * the signature expects (PAR_DTYPE_COUNT for any). */
  par_dtype expected = args->out->type;

  if (args->out->data != NULL || args->out->rank >= 0) {
    return par_kernel_error(args, PAR_EINVAL,
                            "par_kernel_alloc: the result exists already");
  }
  if ((unsigned) type >= PAR_DTYPE_COUNT) {
    return par_kernel_error(args, PAR_EINVAL,
                            "par_kernel_alloc: invalid element type %d",
                            (int) type);
  }
  if (expected != PAR_DTYPE_COUNT && type != expected) {
    return par_kernel_error(args, PAR_ETYPE,
                            "par_kernel_alloc: the signature's result is an "
                            "array of %s, not of %s",
                            par_dtype_name(expected), par_dtype_name(type));
  }
  if (par_array_init(a, type, rank, shape, NULL) != PAR_OK) {
    return par_kernel_error(args, PAR_EINVAL,
                            "par_kernel_alloc: rank %d is out of range 0 to "
                            "%d, or the array is too large",
                            rank, PAR_ARRAY_MAX_RANK);
  }
  return PAR_OK;
}

int
par_kernel_invoke(const par_kernel_def *def, const par_array *in,
                  size_t nin, const par_scalar *scalars, size_t nscalars,
                  par_array *out, par_kernel_alloc_fn *alloc, void *impl,
                  char *detail, size_t size)
{
  par_kernel_args args;
  int rc;

  memset(&args, 0, sizeof args);
  args.abi = PAR_KERNEL_ABI_VERSION;
  args.nin = nin;
  args.in = in;
  args.nscalars = nscalars;
  args.scalars = scalars;
  args.out = out;
  args.user = def->user;
  args.alloc_ = alloc;
  args.impl_ = impl;
  rc = def->fn(&args);
  if (rc != PAR_OK) {
    args.message[sizeof args.message - 1] = '\0';
    if (args.message[0] != '\0') {
      fail(rc, detail, size, "%s", args.message);
    } else {
      fail(rc, detail, size, "kernel %s failed: %s", def->name,
           par_strerror(rc));
    }
  }
  return rc;
}

int
par_kernel_call(const par_kernel_def *def, const par_array *in, size_t nin,
                const par_scalar *scalars, size_t nscalars, par_array *out,
                char *detail, size_t size)
{
  par_kernel_sig sig;
  par_array plan;
  int rc;

  if (out == NULL || (nin > 0 && in == NULL)
      || (nscalars > 0 && scalars == NULL)) {
    return fail(PAR_EINVAL, detail, size, "missing arguments");
  }
  rc = par_kernel_def_check(def, &sig, detail, size);
  if (rc == PAR_OK) {
    rc = par_kernel_plan(&sig, def->flags, in, nin, scalars, nscalars, &plan,
                         detail, size);
  }
  if (rc != PAR_OK) {
    return rc;
  }
  if (plan.rank >= 0) {
    plan.data =
        malloc(plan.count > 0 ? plan.count * par_dtype_size(plan.type) : 1);
    if (plan.data == NULL) {
      return fail(PAR_ENOMEM, detail, size, "cannot allocate the result");
    }
  }
  rc = par_kernel_invoke(def, in, nin, scalars, nscalars, &plan,
                         malloc_alloc, NULL, detail, size);
  if (rc != PAR_OK) {
    free(plan.data);
    return rc;
  }
  *out = plan;
  return PAR_OK;
}
