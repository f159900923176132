/* init.c — entry point of the Guile extension and the errors it raises. */
#include <stdlib.h>
#include <string.h>

#include "glue.h"

/* The key of every error the extension raises. */
static SCM error_key;

void
par_scm_throw(const char *who, int code, const char *message, SCM irritants)
{
  scm_error(error_key, who, message, irritants,
            scm_list_1(scm_from_utf8_symbol(par_err_name(code))));
}

void
par_scm_throw_failure(const char *who, int rc, const char *detail)
{
  /* The description becomes part of a format string: any tilde in it
   * must stand for itself. */
  const char *description = par_strerror(rc);
  size_t n = strlen(description), used = 0;
  char message[256];

  if (rc == PAR_EINTR) {
    /* Run the pending asyncs: a SIGINT handler throws from here, which is
     * what returns the REPL to its prompt. If none throws, the operation
     * is still broken half way and must fail. */
    scm_async_tick();
  }
  for (size_t i = 0; i < n && used < sizeof message - 8; i++) {
    if (description[i] == '~') {
      message[used++] = '~';
    }
    message[used++] = description[i];
  }
  message[used] = '\0';
  if (detail != NULL && detail[0] != '\0') {
    strcpy(message + used, ": ~a");
    par_scm_throw(who, rc, message,
                  scm_list_1(scm_from_utf8_string(detail)));
  }
  par_scm_throw(who, rc, message, SCM_EOL);
}

void *
par_scm_foreign_ref(SCM type, SCM obj, const char *what, const char *who)
{
  if (!SCM_IS_A_P(obj, type)) {
    par_scm_throw(who, PAR_EINVAL, "expected ~a, got ~s",
                  scm_list_2(scm_from_utf8_string(what), obj));
  }
  return scm_foreign_object_ref(obj, 0);
}

/* Called by load-extension, with the current module being
 * (parallelizer primitives). Loading the module twice must not define the
 * primitives twice in some other module, hence the guard. */
PAR_EXTERN void par_scm_init(void);

void
par_scm_init(void)
{
  static int initialized;

  if (initialized) {
    return;
  }
  initialized = 1;
  error_key = scm_permanent_object(scm_from_utf8_symbol("parallelizer-error"));
  par_scm_init_element_types();
  par_scm_init_wire();
  par_scm_init_comm();
  par_scm_init_mp();
  par_scm_init_kernel();
  par_scm_init_kernel_cache();
  par_scm_init_kernel_comm();
  par_scm_init_shared();
}
