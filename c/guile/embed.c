/* embed.c — par_guile_init: Parallelizer inside a C program that embeds
 * Guile.
 *
 * The modules load the extension with (load-extension
 * "libguile-parallelizer" "par_scm_init"), which in a plain guile finds
 * the library on GUILE_EXTENSIONS_PATH or in Guile's extension directory.
 * A program linked with this library registers the extension instead
 * (scm_c_register_extension), so that load-extension calls it without
 * looking for a file. The MPI extension, a library of its own that only
 * MPI programs load, is registered when the program links it too, and is
 * otherwise loaded on demand from beside this library.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "glue.h"

/* The directories of an installation's modules and compiled modules,
 * made by the Makefile from GUILE_SITE_DIR and GUILE_CCACHE_DIR. */
#ifndef PAR_GUILE_SITE_DIR
#define PAR_GUILE_SITE_DIR "/usr/local/share/guile/site/3.0"
#endif
#ifndef PAR_GUILE_CCACHE_DIR
#define PAR_GUILE_CCACHE_DIR "/usr/local/lib/guile/3.0/site-ccache"
#endif

/* The entry points of the two extensions (init.c, mpi.c). */
void par_scm_init(void);

#define STR_(x) #x
#define STR(x) STR_(x)
#define MPI_EXTENSION                                                       \
  "libguile-parallelizer-mpi.so." STR(PAR_VERSION_MAJOR)

/* The file of the MPI extension beside this library, when it exists. */
static char mpi_extension[PATH_MAX];

static void
init_extension(void *data)
{
  par_scm_init();
}

static void
init_linked_mpi_extension(void *init)
{
  ((void (*)(void)) init)();
}

/* Load the MPI extension from beside this library and initialize it, as
 * load-extension would, with its symbols global, as Open MPI's plugins
 * expect of the library that loads them. */
static void
init_mpi_extension_beside(void *data)
{
  void *lib = dlopen(mpi_extension, RTLD_NOW | RTLD_GLOBAL);
  void (*init)(void);

  if (lib == NULL) {
    par_scm_throw("make-mpi-parallelizer", PAR_ENOENT, "cannot load ~a: ~a",
                  scm_list_2(scm_from_utf8_string(mpi_extension),
                             scm_from_utf8_string(dlerror())));
  }
  init = (void (*)(void)) dlsym(lib, "par_scm_init_mpi");
  if (init == NULL) {
    par_scm_throw("make-mpi-parallelizer", PAR_ENOENT,
                  "~a has no par_scm_init_mpi",
                  scm_list_1(scm_from_utf8_string(mpi_extension)));
  }
  init();
}

/* The directory of this library, in DIR (PATH_MAX bytes), or 0. */
static int
library_directory(char *dir)
{
  Dl_info info;
  char *slash;

  if (dladdr((void *) par_guile_init, &info) == 0 || info.dli_fname == NULL
      || realpath(info.dli_fname, dir) == NULL
      || (slash = strrchr(dir, '/')) == NULL) {
    return 0;
  }
  *slash = '\0';
  return 1;
}

/* Append DIR to the list in the variable NAME of (guile), unless it is
 * in it already or does not exist. */
static void
append_path(const char *name, const char *dir)
{
  SCM var = scm_c_public_lookup("guile", name);
  SCM entry = scm_from_utf8_string(dir);

  if (access(dir, R_OK) != 0
      || scm_is_true(scm_member(entry, scm_variable_ref(var)))) {
    return;
  }
  scm_variable_set_x(var, scm_append(scm_list_2(scm_variable_ref(var),
                                                scm_list_1(entry))));
}

void
par_guile_init(void)
{
  static int done;
  char dir[PATH_MAX], path[PATH_MAX + 32];
  void *linked;

  if (done) {
    return;
  }
  done = 1;
  scm_c_register_extension("libguile-parallelizer", "par_scm_init",
                           init_extension, NULL);

  linked = dlsym(RTLD_DEFAULT, "par_scm_init_mpi");
  if (linked != NULL) {
    scm_c_register_extension("libguile-parallelizer-mpi",
                             "par_scm_init_mpi", init_linked_mpi_extension,
                             linked);
  } else if (library_directory(dir)
             && (size_t) snprintf(mpi_extension, sizeof mpi_extension,
                                  "%s/%s", dir, MPI_EXTENSION)
                    < sizeof mpi_extension
             && access(mpi_extension, R_OK) == 0) {
    scm_c_register_extension("libguile-parallelizer-mpi",
                             "par_scm_init_mpi", init_mpi_extension_beside,
                             NULL);
  }

  /* The modules: those of the source tree when this library is the one
   * built in it (SOURCE/build/lib), and those of the installation. Both
   * go after whatever the program's environment put first. */
  if (library_directory(dir)) {
    snprintf(path, sizeof path, "%s/../../scheme/parallelizer.scm", dir);
    if (access(path, R_OK) == 0) {
      char real[PATH_MAX];

      snprintf(path, sizeof path, "%s/../../scheme", dir);
      if (realpath(path, real) != NULL) {
        append_path("%load-path", real);
      }
      snprintf(path, sizeof path, "%s/../go", dir);
      if (realpath(path, real) != NULL) {
        append_path("%load-compiled-path", real);
      }
    }
  }
  append_path("%load-path", PAR_GUILE_SITE_DIR);
  append_path("%load-compiled-path", PAR_GUILE_CCACHE_DIR);
}
