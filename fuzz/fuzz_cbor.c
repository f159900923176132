/* fuzz_cbor.c — libFuzzer target: the wire decoder on any bytes.
 *
 * Each input is handed to par_scm_decode, the C entry of cbor->value and
 * of every receive, inside a catch. What must hold:
 *
 * - nothing crashes, overflows, reads out of bounds or invokes undefined
 *   behaviour (the target is built with ASan and UBSan);
 * - a refusal is a parallelizer-error with a code of the wire format
 *   (EMALFORMED, ETOOBIG, ENOENT, ENOMEM); any other error is a defect;
 * - a value that decodes can be sent again: it encodes without error, and
 *   the encoding decodes (or exceeds its own bound, when the value was
 *   cheap in the input's longer form) into the same value: the same
 *   types, shapes and contents, hash tables compared by their entries
 *   (weak ones only by kind, since the collector may empty them).
 *
 * A violation aborts, which libFuzzer reports with the input. Guile is
 * initialised once, with a registered record type and a parallelizer
 * hook so that those tags decode too.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "wire.h"

void par_scm_init(void);

struct call {
  const uint8_t *data;
  size_t len;
  SCM value;
  par_wbuf *out;
  SCM key;
  SCM code;
};

static SCM
decode_body(void *p)
{
  struct call *c = p;

  c->value = par_scm_decode(c->data, c->len, "fuzz");
  return SCM_BOOL_T;
}

static SCM
encode_body(void *p)
{
  struct call *c = p;

  par_scm_encode(c->value, c->out, "fuzz");
  return SCM_BOOL_T;
}

static SCM
handler(void *p, SCM key, SCM args)
{
  struct call *c = p;

  c->key = key;
  /* parallelizer-error: (WHO MESSAGE IRRITANTS (CODE)). */
  c->code = scm_ilength(args) == 4 && scm_is_pair(scm_cadddr(args))
                ? scm_car(scm_cadddr(args))
                : SCM_BOOL_F;
  return SCM_BOOL_F;
}

/* Report what went wrong with KEY and CODE, then abort. */
static void
defect(const char *what, const struct call *c)
{
  char *key = scm_to_utf8_string(scm_object_to_string(c->key,
                                                      SCM_UNDEFINED));
  char *code = scm_to_utf8_string(scm_object_to_string(c->code,
                                                       SCM_UNDEFINED));

  fprintf(stderr, "fuzz_cbor: %s (key %s, code %s)\n", what, key, code);
  abort();
}

static bool
code_is(SCM code, const char *name)
{
  return scm_is_eq(code, scm_from_utf8_symbol(name));
}

static bool
wire_refusal(const struct call *c)
{
  return scm_is_eq(c->key, scm_from_utf8_symbol("parallelizer-error"))
         && (code_is(c->code, "EMALFORMED") || code_is(c->code, "ETOOBIG")
             || code_is(c->code, "ENOENT") || code_is(c->code, "ENOMEM"));
}

static bool
try(scm_t_catch_body body, struct call *c)
{
  c->key = SCM_BOOL_F;
  c->code = SCM_BOOL_F;
  scm_c_catch(SCM_BOOL_T, body, c, handler, c, NULL, NULL);
  return scm_is_false(c->key);
}

/* (same? A B): whether A and B are the same value for the wire format.
 * equal? compares hash tables by identity and ignores the type of
 * uniform arrays; this compares tables by their entries (a key that
 * equal? cannot find, such as a table used as a key, is skipped) and
 * arrays by type and shape too. */
static const char same_code[] =
    "(lambda ()"
    "  (define (same? a b)"
    "    (cond"
    "     ((hash-table? a)"
    "      (and (hash-table? b)"
    "           (eq? (weak-key-hash-table? a) (weak-key-hash-table? b))"
    "           (eq? (weak-value-hash-table? a) (weak-value-hash-table? b))"
    "           (eq? (doubly-weak-hash-table? a)"
    "                (doubly-weak-hash-table? b))"
    "           (or (weak-key-hash-table? a) (weak-value-hash-table? a)"
    "               (doubly-weak-hash-table? a)"
    "               (and (= (hash-count (const #t) a)"
    "                       (hash-count (const #t) b))"
    "                    (hash-fold (lambda (k v ok)"
    "                                 (and ok"
    "                                      (let ((h (hash-get-handle b k)))"
    "                                        (or (not h) (same? v (cdr h))))))"
    "                               #t a)))))"
    "     ((pair? a) (and (pair? b) (same? (car a) (car b))"
    "                     (same? (cdr a) (cdr b))))"
    "     ((vector? a) (and (vector? b) (same? (vector->list a)"
    "                                          (vector->list b))))"
    "     ((and (array? a) (not (string? a)))"
    "      (and (array? b) (not (string? b))"
    "           (eq? (array-type a) (array-type b))"
    "           (equal? (array-shape a) (array-shape b))"
    "           (if (eq? (array-type a) #t)"
    "               (same? (array->list a) (array->list b))"
    "               (equal? a b))))"
    "     ((record? a)"
    "      (let ((rtd (record-type-descriptor a)))"
    "        (and (record? b) (eq? rtd (record-type-descriptor b))"
    "             (same? (map (lambda (f) ((record-accessor rtd f) a))"
    "                         (record-type-fields rtd))"
    "                    (map (lambda (f) ((record-accessor rtd f) b))"
    "                         (record-type-fields rtd))))))"
    "     ((and (number? a) (inexact? a)) (eqv? a b))"
    "     (else (equal? a b))))"
    "  same?)";

static SCM same_p;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  scm_init_guile();
  par_scm_init();
  scm_c_eval_string(
      "(use-modules (srfi srfi-9))"
      "(define-record-type <zoo-point> (make-zoo-point x y) zoo-point?"
      "  (x zoo-point-x) (y zoo-point-y))"
      "(%wire-register-record-type! <zoo-point> \"zoo-point\")"
      "(define-record-type <fuzz-parallelizer> (make-fuzz-parallelizer)"
      "  fuzz-parallelizer?)"
      "(%wire-set-parallelizer-hooks! <fuzz-parallelizer>"
      "  (lambda () 'the-receivers-parallelizer))");
  same_p = scm_permanent_object(
      scm_call_0(scm_c_eval_string(same_code)));
  return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  par_wbuf encoded = PAR_WBUF_INIT;
  struct call c = {data, len, SCM_BOOL_F, &encoded, SCM_BOOL_F, SCM_BOOL_F};
  struct call again;

  if (!try(decode_body, &c)) {
    if (!wire_refusal(&c)) {
      defect("the decoder raised an error that is not a refusal", &c);
    }
    return 0;
  }
  if (!try(encode_body, &c)) {
    defect("a decoded value does not encode", &c);
  }
  again = (struct call){encoded.data, encoded.len, SCM_BOOL_F, NULL,
                        SCM_BOOL_F, SCM_BOOL_F};
  if (!try(decode_body, &again)) {
    if (!code_is(again.code, "ETOOBIG")) {
      defect("the encoding of a decoded value does not decode", &again);
    }
  } else if (scm_is_false(scm_call_2(same_p, c.value, again.value))) {
    defect("a decoded value changes when it is sent again", &again);
  }
  par_wbuf_free(&encoded);
  return 0;
}
