/* embed.c — a C program that embeds Guile and runs a parallel job in it.
 *
 * The program registers one of its functions as a C kernel, scale_by
 * (each element times a factor that the program keeps), starts Guile,
 * makes Parallelizer available to it with par_guile_init, and evaluates a
 * Scheme job on the multiprocessing backend: three processes (this one
 * and two forked copies of it) each run the kernel on their chunk of a
 * vector, through parallel-map. It prints
 *
 *   scale-by on 3 processes: #f64(0.0 2.5 5.0 7.5 10.0 12.5 15.0 17.5)
 *
 * Built against the source tree by `make examples`
 * (build/examples/embed/embed), or against an installation with
 *
 *   cc -o embed embed.c $(pkg-config --cflags --libs parallelizer-guile)
 *
 * Either runs as it is: par_guile_init finds the extension in the program
 * and the Scheme modules where the library was built or installed.
 */
#include <stdio.h>
#include <stdlib.h>

#include <libguile.h>
#include <parallelizer.h>

/* x * factor for each element, the factor being the user pointer given
 * at registration. */
static int
scale_by(par_kernel_args *a)
{
  double factor = *(const double *) a->user;
  const double *x = a->in[0].data;
  double *y = a->out->data;

  for (size_t i = 0; i < a->out->count; i++) {
    y[i] = factor * x[i];
  }
  return PAR_OK;
}

/* The Scheme side: a job that maps the program's kernel over a vector. An
 * error is printed, and makes the program exit with status 1. */
static const char job[] =
    "(use-modules (parallelizer) (srfi srfi-4))\n"
    "(catch #t\n"
    "  (lambda ()\n"
    "    (let* ((p (make-multiprocessing-parallelizer #:processes 3))\n"
    "           (result\n"
    "            (parallelizer-run p\n"
    "              (lambda* (#:key parallelizer)\n"
    "                (parallel-map parallelizer (kernel-ref \"scale-by\")\n"
    "                              (and (on-main? parallelizer)\n"
    "                                   (list->f64vector (iota 8)))\n"
    "                              #:vectorized? #t)))))\n"
    "      (format #t \"scale-by on ~a processes: ~a~%\"\n"
    "              (parallelizer-nprocs p) result)))\n"
    "  (lambda (key . args)\n"
    "    (print-exception (current-error-port) #f key args)\n"
    "    (exit 1)))\n";

static void *
run_job(void *data)
{
  par_guile_init();
  scm_c_eval_string(job);
  return NULL;
}

int
main(void)
{
  static double factor = 2.5;
  int rc = par_kernel_register("scale-by", scale_by, "f64 -> f64",
                               PAR_KERNEL_ELEMENTWISE, &factor);

  if (rc != PAR_OK) {
    fprintf(stderr, "embed: cannot register the kernel: %s\n",
            par_strerror(rc));
    return EXIT_FAILURE;
  }
  scm_with_guile(run_job, NULL);
  return EXIT_SUCCESS;
}
