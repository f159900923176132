/* init.c — entry point of the Guile extension and its error helpers. */
#include "glue.h"

SCM par_scm_error_key;

void
par_scm_throw(const char *subr, const char *message, SCM args)
{
  scm_error(par_scm_error_key, subr, message, args, SCM_BOOL_F);
}

void
par_scm_throw_code(const char *subr, int code, const char *detail)
{
  if (detail != NULL && detail[0] != '\0') {
    par_scm_throw(subr, "~a: ~a",
                  scm_list_2(scm_from_utf8_string(par_strerror(code)),
                             scm_from_utf8_string(detail)));
  }
  par_scm_throw(subr, "~a", scm_list_1(scm_from_utf8_string(par_strerror(code))));
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
  par_scm_error_key =
      scm_permanent_object(scm_from_utf8_symbol("parallelizer-error"));
  par_scm_init_wire();
  par_scm_init_comm();
}
