/* wire.c — the wire format's registry, looked-up values and primitives.
 *
 * The codec itself is in wire-encode.c (values to CBOR) and in
 * wire-read.c, wire-decode.c and wire-decode-array.c (CBOR to values); see
 * wire-internal.h. This file holds what they share at run time and the
 * primitives of (parallelizer wire). doc/wire-format.texi is the
 * specification.
 */
#include <stdlib.h>
#include <string.h>

#include "wire-internal.h"

/* --- Values looked up once ----------------------------------------------- */

/* Described in wire-internal.h; set once by par_scm_init_wire. */
SCM par__wire_exception_p;
SCM par__wire_exception_description;
SCM par__wire_make_exception;
SCM par__wire_record_p;
SCM par__wire_record_type_name;
SCM par__wire_records_by_name;
SCM par__wire_names_by_record;
SCM par__wire_hooks;
SCM par__wire_absent;

/* --- Hooks and registry -------------------------------------------------- */

void
par_scm_wire_set_parallelizer_hooks(SCM rtd, SCM thunk)
{
  SCM_SIMPLE_VECTOR_SET(par__wire_hooks, 0, rtd);
  SCM_SIMPLE_VECTOR_SET(par__wire_hooks, 1, thunk);
}

/* --- Primitives ---------------------------------------------------------- */

static void
free_wbuf(void *buf)
{
  par_wbuf_free(buf);
}

/* (%value->cbor VALUE) -> a bytevector holding the CBOR encoding of
 * VALUE. For value->cbor. */
static SCM
prim_value_to_cbor(SCM value)
#define FUNC_NAME "value->cbor"
{
  par_wbuf buf = PAR_WBUF_INIT;
  SCM result;

  scm_dynwind_begin(0);
  scm_dynwind_unwind_handler(free_wbuf, &buf, 0);
  par_scm_encode(value, &buf, FUNC_NAME);
  scm_dynwind_end();
  if (buf.len >= TAKE_THRESHOLD) {
    SCM pointer = scm_from_pointer(buf.data, free);
    result = scm_pointer_to_bytevector(pointer, scm_from_size_t(buf.len),
                                       SCM_INUM0,
                                       par_scm_etype_bytevector()->symbol);
    scm_gc_register_allocation(buf.len);
  } else {
    result = scm_c_make_bytevector(buf.len);
    memcpy(SCM_BYTEVECTOR_CONTENTS(result), buf.data, buf.len);
    par_wbuf_free(&buf);
  }
  return result;
}
#undef FUNC_NAME

/* (%cbor->value BYTEVECTOR) -> the value encoded by BYTEVECTOR, which must
 * hold exactly one CBOR item. For cbor->value; a BYTEVECTOR of another
 * type is a wrong-type-arg error, as for Guile's own bytevector
 * procedures. */
static SCM
prim_cbor_to_value(SCM bv)
#define FUNC_NAME "cbor->value"
{
  SCM value;

  SCM_VALIDATE_BYTEVECTOR(1, bv);
  value = par_scm_decode(SCM_BYTEVECTOR_CONTENTS(bv),
                         SCM_BYTEVECTOR_LENGTH(bv), FUNC_NAME);
  scm_remember_upto_here_1(bv);
  return value;
}
#undef FUNC_NAME

/* (%wire-register-record-type! RTD NAME): let records of type RTD travel
 * under NAME (a string), replacing any earlier binding of RTD or NAME. */
static SCM
prim_wire_register_record_type_x(SCM rtd, SCM name)
#define FUNC_NAME "register-wire-record-type!"
{
  SCM old;

  SCM_VALIDATE_STRUCT(1, rtd);
  SCM_VALIDATE_STRING(2, name);
  /* One name per type and one type per name: a re-registration replaces
   * the earlier binding in both directions. */
  old = scm_hash_ref(par__wire_records_by_name, name, SCM_BOOL_F);
  if (scm_is_true(old)) {
    scm_hashq_remove_x(par__wire_names_by_record, old);
  }
  old = scm_hashq_ref(par__wire_names_by_record, rtd, SCM_BOOL_F);
  if (scm_is_true(old)) {
    scm_hash_remove_x(par__wire_records_by_name, old);
  }
  scm_hash_set_x(par__wire_records_by_name, name, rtd);
  scm_hashq_set_x(par__wire_names_by_record, rtd, name);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%wire-set-parallelizer-hooks! RTD THUNK): see
 * par_scm_wire_set_parallelizer_hooks. */
static SCM
prim_wire_set_parallelizer_hooks_x(SCM rtd, SCM thunk)
#define FUNC_NAME "%wire-set-parallelizer-hooks!"
{
  SCM_VALIDATE_STRUCT(1, rtd);
  SCM_VALIDATE_PROC(2, thunk);
  par_scm_wire_set_parallelizer_hooks(rtd, thunk);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%wire-max-depth) -> the deepest nesting the codec writes and reads. */
static SCM
prim_wire_max_depth(void)
{
  return scm_from_int(PAR_WIRE_MAX_DEPTH);
}

/* Turns any exception into (kind . args), the way `catch' would see it.
 * Exceptions raised without a kind (raise-exception of a compound
 * condition) become a misc-error carrying their message and irritants. */
static const char exception_description_code[] =
  "(lambda (exn)"
  "  (let ((kind (exception-kind exn)))"
  "    (if (not (eq? kind '%exception))"
  "        (cons kind (exception-args exn))"
  "        (let* ((ref (lambda (name) (module-ref (resolve-interface"
  "                                                '(ice-9 exceptions))"
  "                                               name)))"
  "               (msg (if ((ref 'exception-with-message?) exn)"
  "                        ((ref 'exception-message) exn)"
  "                        \"unknown error\"))"
  "               (irritants (if ((ref 'exception-with-irritants?) exn)"
  "                              ((ref 'exception-irritants) exn)"
  "                              '()))"
  "               (irritants (if (list? irritants) irritants"
  "                              (list irritants)))"
  "               (origin (if ((ref 'exception-with-origin?) exn)"
  "                           ((ref 'exception-origin) exn)"
  "                           #f)))"
  "          (list 'misc-error origin"
  "                (apply string-append \"~A\""
  "                       (map (lambda (x) \" ~S\") irritants))"
  "                (cons msg irritants) #f)))))";

void
par_scm_init_wire(void)
{
  par__wire_init_symbols();
  par__wire_init_decode();
  /* make-exception-from-throw is replaced when (ice-9 exceptions) loads;
   * load it now so that decoded errors get the full condition objects. */
  scm_c_resolve_module("ice-9 exceptions");
  par__wire_exception_p = scm_permanent_object(
      scm_c_public_lookup("guile", "exception?"));
  par__wire_make_exception = scm_permanent_object(
      scm_c_public_lookup("guile", "make-exception-from-throw"));
  par__wire_record_p = scm_permanent_object(scm_c_public_lookup("guile",
                                                          "record?"));
  par__wire_record_type_name = scm_permanent_object(
      scm_c_public_lookup("guile", "record-type-name"));
  /* Read and evaluated, not eval-string'ed: eval-string would load the
   * whole compiler into every process that loads the extension. */
  par__wire_exception_description = scm_permanent_object(
      scm_eval(scm_c_read_string(exception_description_code),
               scm_c_resolve_module("guile")));
  par__wire_records_by_name = scm_permanent_object(scm_c_make_hash_table(31));
  par__wire_names_by_record = scm_permanent_object(scm_c_make_hash_table(31));
  par__wire_hooks = scm_permanent_object(scm_c_make_vector(2, SCM_BOOL_F));
  par__wire_absent = scm_permanent_object(scm_cons(SCM_BOOL_F, SCM_EOL));

  scm_c_define_gsubr("%value->cbor", 1, 0, 0, prim_value_to_cbor);
  scm_c_define_gsubr("%cbor->value", 1, 0, 0, prim_cbor_to_value);
  scm_c_define_gsubr("%wire-register-record-type!", 2, 0, 0,
                     prim_wire_register_record_type_x);
  scm_c_define_gsubr("%wire-set-parallelizer-hooks!", 2, 0, 0,
                     prim_wire_set_parallelizer_hooks_x);
  scm_c_define_gsubr("%wire-max-depth", 0, 0, 0, prim_wire_max_depth);
}
