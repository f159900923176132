/* init.c — entry point of the Guile extension and its error helpers. */
#include <stdlib.h>
#include <string.h>

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
  /* The code travels as data, (NAME), in the last argument. */
  SCM rest = scm_list_1(scm_from_utf8_symbol(par_err_name(code)));

  if (detail != NULL && detail[0] != '\0') {
    scm_error(par_scm_error_key, subr, "~a: ~a",
              scm_list_2(scm_from_utf8_string(par_strerror(code)),
                         scm_from_utf8_string(detail)),
              rest);
  }
  scm_error(par_scm_error_key, subr, "~a",
            scm_list_1(scm_from_utf8_string(par_strerror(code))), rest);
}

/* The description of the runtime error named NAME (a symbol such as
 * EPEER), so that Scheme code can recognise errors by what they say. */
static SCM
error_description(SCM name)
{
  char *wanted = scm_to_utf8_string(scm_symbol_to_string(name));

  for (int code = PAR_EINVAL; code < PAR__ERRNO_END; code++) {
    if (strcmp(par_err_name(code), wanted) == 0) {
      free(wanted);
      return scm_from_utf8_string(par_strerror(code));
    }
  }
  free(wanted);
  par_scm_throw("%error-description", "no runtime error is named ~s",
                scm_list_1(name));
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
  scm_c_define_gsubr("%error-description", 1, 0, 0, error_description);
  par_scm_init_wire();
  par_scm_init_comm();
  par_scm_init_mp();
}
