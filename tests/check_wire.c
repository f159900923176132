/* check_wire.c — Check suite for the wire format (c/guile/wire*.c).
 *
 * "core": every supported type round-trips from C with its exact type and
 * shape; unsendable values are refused with their position. "limits":
 * hand-built malformed messages, the depth bound, long lists and a fuzz
 * loop of truncations and bit flips that must never crash.
 *
 * Guile is initialized once and the tests run in this process (CK_NOFORK):
 * a forked child of a Guile process with its finalizer thread is not a
 * safe place to run the collector.
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "glue.h"
#include "wire.h"

void par_scm_init(void);

static SCM
ev(const char *expr)
{
  return scm_c_eval_string(expr);
}

static SCM
shape(SCM array)
{
  return scm_call_1(ev("array-shape"), array);
}

/* The outcome of a call made under a catch-all. */
struct attempt {
  const void *data;
  size_t len;
  SCM in;
  par_wbuf *buf;
  SCM value;
  SCM key;
  SCM rest; /* REST of a parallelizer-error: the list of its code */
  char message[1024];
};

static SCM
decode_body(void *p)
{
  struct attempt *a = p;
  a->value = par_scm_decode(a->data, a->len, "check_wire");
  return SCM_BOOL_T;
}

static SCM
encode_body(void *p)
{
  struct attempt *a = p;
  par_scm_encode(a->in, a->buf, "check_wire");
  return SCM_BOOL_T;
}

static SCM
catch_handler(void *p, SCM key, SCM args)
{
  struct attempt *a = p;
  SCM text;
  char *s;

  a->key = key;
  a->message[0] = '\0';
  a->rest = scm_ilength(args) == 4 ? scm_cadddr(args) : SCM_BOOL_F;
  /* parallelizer-error args: (who message irritants rest). */
  if (scm_ilength(args) >= 3 && scm_is_string(scm_cadr(args))) {
    text = scm_simple_format(SCM_BOOL_F, scm_cadr(args), scm_caddr(args));
    s = scm_to_utf8_string(text);
    strncpy(a->message, s, sizeof a->message - 1);
    a->message[sizeof a->message - 1] = '\0';
    free(s);
  }
  return SCM_BOOL_F;
}

static struct attempt
try_decode(const void *data, size_t len)
{
  struct attempt a;

  memset(&a, 0, sizeof a);
  a.data = data;
  a.len = len;
  a.key = SCM_BOOL_F;
  a.value = SCM_BOOL_F;
  a.rest = SCM_BOOL_F;
  scm_c_catch(SCM_BOOL_T, decode_body, &a, catch_handler, &a, NULL, NULL);
  return a;
}

static struct attempt
try_encode(SCM value, par_wbuf *buf)
{
  struct attempt a;

  memset(&a, 0, sizeof a);
  a.in = value;
  a.buf = buf;
  a.key = SCM_BOOL_F;
  a.value = SCM_BOOL_F;
  a.rest = SCM_BOOL_F;
  scm_c_catch(SCM_BOOL_T, encode_body, &a, catch_handler, &a, NULL, NULL);
  return a;
}

static bool
is_wire_error(const struct attempt *a)
{
  return scm_is_eq(a->key, scm_from_utf8_symbol("parallelizer-error"));
}

/* Whether A failed with a parallelizer-error whose REST is (CODE). */
static bool
has_code(const struct attempt *a, const char *code)
{
  return is_wire_error(a)
         && scm_is_true(scm_equal_p(a->rest,
                                    scm_list_1(scm_from_utf8_symbol(code))));
}

/* Encode and decode VALUE; fail the test on any error. */
static SCM
round_trip(SCM value)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a = try_encode(value, &buf);
  struct attempt b;

  ck_assert_msg(scm_is_false(a.key), "encoding failed: %s", a.message);
  b = try_decode(buf.data, buf.len);
  par_wbuf_free(&buf);
  ck_assert_msg(scm_is_false(b.key), "decoding failed: %s", b.message);
  return b.value;
}

/* Expressions whose values must come back equal?, with the same array
 * type and the same shape. */
static const char *const zoo[] = {
  "0", "1", "-1", "23", "24", "-24", "-25", "255", "256", "65536",
  "most-positive-fixnum", "most-negative-fixnum",
  "(+ most-positive-fixnum 1)", "(- most-negative-fixnum 1)",
  "(expt 2 63)", "(- (expt 2 63))", "(- (expt 2 64) 1)", "(expt 2 64)",
  "(- (expt 2 64))", "(- -1 (expt 2 64))", "(expt 7 200)", "(- (expt 7 200))",
  "1/3", "-22/7", "(/ (expt 2 100) 3)", "(/ 1 (- (expt 3 90)))",
  "0.0", "-0.0", "1.5", "1e300", "4.9e-324", "+inf.0", "-inf.0",
  "(/ 1.0 3)", "1+2i", "-0.5-1e10i", "(make-rectangular 1.0 0.0)",
  "#t", "#f", "#\\a", "#\\nul", "#\\x10FFFF", "#\\x3bb",
  "\"\"", "\"hello\"", "\"h\\u00e9llo w\\u00f6rld \\u2603 \\U01f600\"",
  "(make-string 1000 #\\z)",
  "'sym", "(string->symbol \"with space\")", "(string->symbol \"\")",
  "(string->symbol \"\\x3bb;\")", "#:key",
  "(symbol->keyword (string->symbol \"odd key\"))", "'()", "'(1 2 3)",
  "'(1 (2 (3 (4))) #(5 6))",
  "'(1 . 2)", "'(1 2 . 3)", "'(a . #(1))", "'((a . 1) (b . 2))",
  "#()", "#(1 \"two\" three #(4))", "(make-vector 3 '(x))",
  "#vu8()", "#vu8(0 1 255)",
  "#u8(1 2 3)", "#s8(-128 0 127)", "#u16(0 65535)", "#s16(-32768 32767)",
  "#u32(0 4294967295)", "#s32(-2147483648 2147483647)",
  "#u64(0 18446744073709551615)",
  "#s64(-9223372036854775808 9223372036854775807)",
  "#f32(1.5 -0.0 +inf.0)", "#f64(1.5 -0.0 +inf.0 1e-310)",
  "#c32(1+2i 3-4i)", "#c64(1+2i -0.0+1e300i)", "(make-f64vector 0)",
  "(make-c64vector 0)",
  "#2((1 2) (3 4))", "#2f64((1 2 3) (4 5 6))",
  "#3u8(((1 2) (3 4)) ((5 6) (7 8)))",
  "#2c32((1+i 2) (3 4))", "#2vu8((1 2) (3 4))", "(make-array 'x)",
  "(make-typed-array 'f64 0.0 0 3)", "(make-typed-array 's16 7 2 0)",
  "#1@1(a b c)", "#1f64@-3(1 2)", "#2@1@-1((a b) (c d))",
  "#2u32@5@5((1 2) (3 4))", "#1c64@2(1+i)",
  "(make-typed-array 'f32 1.0 '(1 2) '(-1 0))",
  "(if #f #f)", "the-eof-object",
  "(list 1 2.5 \"three\" 'four #:five #\\6 #(7) #u8(8) '(9 . 10))",
  NULL
};

START_TEST(test_zoo_round_trips)
{
  size_t i;

  for (i = 0; zoo[i] != NULL; i++) {
    SCM v = ev(zoo[i]);
    SCM r = round_trip(v);
    ck_assert_msg(scm_is_true(scm_equal_p(v, r)), "%s did not round-trip",
                  zoo[i]);
    if (scm_is_array(v)) {
      ck_assert_msg(scm_is_eq(scm_array_type(v), scm_array_type(r)),
                    "%s changed array type", zoo[i]);
      ck_assert_msg(scm_is_true(scm_equal_p(shape(v),
                                            shape(r))),
                    "%s changed shape", zoo[i]);
    }
  }
}
END_TEST

START_TEST(test_exact_types)
{
  /* equal? treats #u8 and #vu8 alike and 1 and 1.0 apart; the finer
   * distinctions are checked here. */
  SCM r = round_trip(ev("#vu8(1 2)"));
  ck_assert(scm_is_eq(scm_array_type(r), scm_from_utf8_symbol("vu8")));
  r = round_trip(ev("#u8(1 2)"));
  ck_assert(scm_is_eq(scm_array_type(r), scm_from_utf8_symbol("u8")));
  r = round_trip(ev("+nan.0"));
  ck_assert(scm_is_true(scm_nan_p(r)));
  r = round_trip(ev("-0.0"));
  ck_assert(scm_is_true(scm_eqv_p(r, ev("-0.0"))));
  r = round_trip(ev("(expt 2 62)"));
  ck_assert(scm_is_true(scm_exact_p(r)));
  r = round_trip(ev("2.0"));
  ck_assert(scm_is_true(scm_inexact_p(r)));
  r = round_trip(ev("(make-rectangular 1.0 0.0)"));
  ck_assert(scm_is_false(scm_real_p(r)));
  r = round_trip(ev("(make-shared-array #(0 1 2 3 4 5) (lambda (i) "
                    "(list (* 2 i))) 3)"));
  ck_assert(scm_is_true(scm_equal_p(r, ev("#(0 2 4)"))));
  r = round_trip(ev("(transpose-array #2((1 2 3) (4 5 6)) 1 0)"));
  ck_assert(scm_is_true(scm_equal_p(r, ev("#2((1 4) (2 5) (3 6))"))));
  r = round_trip(ev("(transpose-array #2f64((1 2 3) (4 5 6)) 1 0)"));
  ck_assert(scm_is_true(scm_equal_p(r, ev("#2f64((1 4) (2 5) (3 6))"))));
  r = round_trip(ev("(make-shared-array #2s32((1 2 3) (4 5 6)) "
                    "(lambda (i j) (list j (- 1 i))) '(-1 1) 2)"));
  ck_assert(scm_is_true(scm_equal_p(
      r, ev("(make-shared-array #2s32((1 2 3) (4 5 6)) "
            "(lambda (i j) (list j (- 1 i))) '(-1 1) 2)"))));
  ck_assert(scm_is_true(scm_equal_p(shape(r),
                                    ev("'((-1 1) (0 1))"))));
}
END_TEST

START_TEST(test_hash_tables)
{
  SCM t = ev("(let ((t (make-hash-table))) (hash-set! t \"a\" 1) "
             "(hash-set! t 'b '(2 3)) (hash-set! t 4.5 #(x)) t)");
  SCM r = round_trip(t);
  SCM check = ev("(lambda (a b) (and (= (hash-count (const #t) a) "
                 "(hash-count (const #t) b)) (hash-fold (lambda (k v ok) "
                 "(and ok (equal? v (hash-ref b k)))) #t a)))");
  ck_assert(scm_is_true(scm_hash_table_p(r)));
  ck_assert(scm_is_true(scm_call_2(check, t, r)));
  ck_assert(scm_is_true(scm_call_2(check, r, t)));
  r = round_trip(ev("(make-hash-table)"));
  ck_assert(scm_is_true(scm_hash_table_p(r)));
  t = ev("(let ((t (make-weak-value-hash-table))) (hash-set! t 1 'x) t)");
  r = round_trip(t);
  ck_assert(scm_is_true(scm_weak_value_hash_table_p(r)));
  ck_assert(scm_is_eq(scm_hash_ref(r, scm_from_int(1), SCM_BOOL_F),
                      scm_from_utf8_symbol("x")));
  r = round_trip(ev("(make-weak-key-hash-table)"));
  ck_assert(scm_is_true(scm_weak_key_hash_table_p(r)));
  r = round_trip(ev("(make-doubly-weak-hash-table)"));
  ck_assert(scm_is_true(scm_doubly_weak_hash_table_p(r)));
}
END_TEST

START_TEST(test_records_errors_hooks)
{
  SCM v, r;

  ev("(define-record-type <point> (make-point x y) point? (x point-x) "
     "(y point-y))");
  ev("(%wire-register-record-type! <point> \"point\")");
  v = ev("(make-point 1 (list 2 \"three\"))");
  r = round_trip(v);
  ck_assert(scm_is_true(scm_equal_p(v, r)));
  ck_assert(scm_is_true(scm_call_1(ev("point?"), r)));

  v = ev("(make-exception-from-throw 'misc-error "
         "'(\"proc\" \"bad ~a\" (42) #f))");
  r = round_trip(v);
  ck_assert(scm_is_true(scm_equal_p(v, r)));
  ck_assert(scm_is_true(scm_call_1(ev("exception?"), r)));
  ck_assert(scm_is_eq(scm_call_1(ev("exception-kind"), r),
                      scm_from_utf8_symbol("misc-error")));

  /* A procedure among an error's arguments goes as its printed form. */
  v = ev("(make-exception-from-throw 'wrong-type-arg (list \"car\" "
         "\"Wrong type: ~S\" (list car) (list car)))");
  r = round_trip(v);
  ck_assert(scm_is_true(scm_string_p(
      scm_car(scm_caddr(scm_call_1(ev("exception-args"), r))))));

  ev("(define-record-type <par> (make-par id) par? (id par-id))");
  ev("(%wire-set-parallelizer-hooks! <par> (lambda () 'current))");
  r = round_trip(ev("(list 1 (make-par 7))"));
  ck_assert(scm_is_true(scm_equal_p(r, ev("'(1 current)"))));
}
END_TEST

static void
expect_unsendable(const char *expr, const char *needle)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a = try_encode(ev(expr), &buf);

  par_wbuf_free(&buf);
  ck_assert_msg(is_wire_error(&a), "%s was encoded", expr);
  ck_assert_msg(strstr(a.message, needle) != NULL,
                "%s: message \"%s\" lacks \"%s\"", expr, a.message, needle);
}

START_TEST(test_unsendable)
{
  expect_unsendable("car", "a procedure, found at the value itself");
  expect_unsendable("(list 1 2 3 (vector 'a car))",
                    "element 1 of a vector inside element 3 of a list");
  expect_unsendable("(list (current-output-port))", "a port");
  expect_unsendable("(vector %null-pointer)", "a foreign pointer");
  expect_unsendable("(begin (define-record-type <secret> (make-secret) "
                    "secret?) (list (make-secret)))", "not registered");
  expect_unsendable("(let ((l (list 1 2 3))) (set-cdr! (cddr l) l) l)",
                    "circular");
  expect_unsendable("(let ((t (make-hash-table))) (hash-set! t 'k car) t)",
                    "the value of entry 0 of a hash table");
  expect_unsendable("(cons 1 car)", "the tail of an improper list");
  expect_unsendable("(make-bitvector 3 #f)", "bitvector");
  expect_unsendable("(make-typed-array 'a #\\x 2 2)", "characters or bits");
  expect_unsendable("(let ((v (vector 1))) (vector-set! v 0 v) v)",
                    "deeper than");
}
END_TEST

START_TEST(test_wbuf)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a;

  par_wbuf_free(NULL);
  par_wbuf_free(&buf);
  a = try_encode(ev("'(1 2)"), &buf);
  ck_assert(scm_is_false(a.key));
  a = try_encode(ev("3"), &buf);
  ck_assert(scm_is_false(a.key));
  /* Appending: two items back to back. */
  ck_assert_uint_eq(buf.len, 4);
  ck_assert_int_eq(buf.data[0], 0x82);
  ck_assert_int_eq(buf.data[3], 0x03);
  par_wbuf_free(&buf);
  ck_assert_ptr_null(buf.data);
  ck_assert_uint_eq(buf.len, 0);
}
END_TEST

/* --- limits ------------------------------------------------------------- */

/* Encode EXPR, which must be refused with the error CODE and a message
 * that contains NEEDLE. */
static void
expect_encode_refused(const char *expr, const char *code, const char *needle)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a = try_encode(ev(expr), &buf);

  ck_assert_msg(is_wire_error(&a), "%s was encoded (%zu bytes)", expr,
                buf.len);
  par_wbuf_free(&buf);
  ck_assert_msg(has_code(&a, code), "%s: not refused with %s: %s", expr,
                code, a.message);
  ck_assert_msg(strstr(a.message, needle) != NULL,
                "%s: message \"%s\" lacks \"%s\"", expr, a.message, needle);
}

START_TEST(test_encode_sizes)
{
  /* Shared arrays over one element whose size in bytes, or whose number
   * of elements, does not fit a size_t: refused before anything is
   * written, not a write past the buffer or a short message. */
  expect_encode_refused("(make-shared-array (f64vector 1.0) "
                        "(lambda (i) '(0)) (expt 2 61))",
                        "ETOOBIG", "(2305843009213693952)");
  expect_encode_refused("(make-shared-array (f64vector 1.0) "
                        "(lambda (i j) '(0)) (expt 2 31) (expt 2 30))",
                        "ETOOBIG", "more bytes than a message can hold");
  expect_encode_refused("(make-shared-array (f64vector 1.0) "
                        "(lambda (i j) '(0)) (expt 2 32) (expt 2 32))",
                        "ETOOBIG", "more elements than a message can hold");
  expect_encode_refused("(make-shared-array (vector 1) "
                        "(lambda (i j) '(0)) (expt 2 32) (expt 2 32))",
                        "ETOOBIG", "more elements than a message can hold");
  expect_encode_refused("(list 1 (make-shared-array (s16vector 1) "
                        "(lambda (i j k) '(0)) (expt 2 21) (expt 2 21) "
                        "(expt 2 21)))",
                        "ETOOBIG", "element 1 of a list");
  /* Too many elements to hold even at one byte each: memory is refused
   * at once rather than after filling it. */
  expect_encode_refused("(make-shared-array (vector 1) "
                        "(lambda (i j) '(0)) (expt 2 31) (expt 2 30))",
                        "ENOMEM", "out of memory");
  /* An empty array is empty whatever its other dimensions. */
  ck_assert(scm_is_true(scm_equal_p(
      round_trip(ev("(make-shared-array (f64vector 1.0) "
                    "(lambda (i j) '(0)) 0 (expt 2 40))")),
      ev("(make-typed-array 'f64 0.0 0 (expt 2 40))"))));
}
END_TEST

/* A message of a CBOR array of N items, each the ITEM_LEN bytes at ITEM;
 * *LEN gets its length. The caller frees it. */
static uint8_t *
array_of(size_t n, const void *item, size_t item_len, size_t *len)
{
  uint8_t *msg = malloc(9 + n * item_len), *p = msg;

  *p++ = 0x9b;
  for (int shift = 56; shift >= 0; shift -= 8) {
    *p++ = (uint8_t) ((uint64_t) n >> shift);
  }
  for (size_t i = 0; i < n; i++) {
    memcpy(p, item, item_len);
    p += item_len;
  }
  *len = (size_t) (p - msg);
  return msg;
}

/* A map of N entries whose keys all have one hash value in Guile: lists
 * of LEN zeros and then the entry's number, which Guile's hash function
 * does not reach. */
static uint8_t *
colliding_map(size_t n, size_t len, size_t *msg_len)
{
  uint8_t *msg = malloc(16 + n * (len + 8)), *p = msg;

  *p++ = 0xba; /* map, 32-bit count */
  for (int shift = 24; shift >= 0; shift -= 8) {
    *p++ = (uint8_t) (n >> shift);
  }
  for (size_t i = 0; i < n; i++) {
    *p++ = 0x98; /* array, 8-bit count */
    *p++ = (uint8_t) (len + 1);
    memset(p, 0, len);
    p += len;
    *p++ = 0x19; /* uint16 */
    *p++ = (uint8_t) (i >> 8);
    *p++ = (uint8_t) i;
    *p++ = 0xf5; /* the value: true */
  }
  *msg_len = (size_t) (p - msg);
  return msg;
}

START_TEST(test_budget)
{
  /* Tag 40 of shape (2^62-1, 0): 15 bytes, no element, and array->list
   * of it would make 2^62-1 empty lists. */
  static const uint8_t rows_of_nothing[] = {
    0xd8, 0x28, 0x82, 0x82, 0x1b, 0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0x00, 0x80};
  /* Shape (5, 0) and (0, 2^61): cheap to walk, accepted. */
  static const uint8_t few_rows[] = {0xd8, 0x28, 0x82, 0x82, 0x05, 0x00,
                                     0x80};
  static const uint8_t no_rows[] = {
    0xd8, 0x28, 0x82, 0x82, 0x00, 0x1b, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x80};
  static const uint8_t weak_empty[] = {0xd9, 0xe7, 0x48, 0x82, 0x01, 0xa0};
  struct attempt a;
  uint8_t *msg, zero = 0, empty_map = 0xa0;
  size_t len;

  ck_assert_uint_eq(sizeof rows_of_nothing, 15);
  a = try_decode(rows_of_nothing, sizeof rows_of_nothing);
  ck_assert_msg(has_code(&a, "ETOOBIG"), "(2^62-1, 0): %s", a.message);
  a = try_decode(few_rows, sizeof few_rows);
  ck_assert_msg(scm_is_false(a.key), "(5, 0): %s", a.message);
  ck_assert(scm_is_true(scm_equal_p(scm_call_1(ev("array-dimensions"),
                                               a.value),
                                    ev("'(5 0)"))));
  a = try_decode(no_rows, sizeof no_rows);
  ck_assert_msg(scm_is_false(a.key), "(0, 2^61): %s", a.message);

  /* A million empty maps (1 MB) would take 350 MB of hash tables: refused
   * once the budget of 64 MB + 16 MiB is spent. Weak tables too. */
  msg = array_of(1000000, &empty_map, 1, &len);
  a = try_decode(msg, len);
  ck_assert_msg(has_code(&a, "ETOOBIG"), "empty maps: %s", a.message);
  ck_assert_msg(strstr(a.message, "within its bound of 80777792 bytes")
                    != NULL,
                "%s", a.message);
  free(msg);
  msg = array_of(200000, weak_empty, sizeof weak_empty, &len);
  a = try_decode(msg, len);
  ck_assert_msg(has_code(&a, "ETOOBIG"), "empty weak tables: %s",
                a.message);
  free(msg);

  /* What stays within the bound decodes: a million small integers. */
  msg = array_of(1000000, &zero, 1, &len);
  a = try_decode(msg, len);
  ck_assert_msg(scm_is_false(a.key), "integers: %s", a.message);
  free(msg);

  /* Keys that all have one hash value: 3,000 of them cost 4.5 million
   * comparisons of lists of 40 zeros; refused once the comparisons cost
   * more than the bound. */
  msg = colliding_map(3000, 40, &len);
  a = try_decode(msg, len);
  ck_assert_msg(has_code(&a, "ETOOBIG"), "colliding keys: %s", a.message);
  ck_assert_msg(strstr(a.message, "fall together in the hash table")
                    != NULL,
                "%s", a.message);
  free(msg);
  /* The same keys in a weak table, whose buckets the decoder cannot see:
   * it counts the keys of each hash value itself. */
  msg = colliding_map(3000, 40, &len);
  msg = realloc(msg, len + 5);
  memmove(msg + 5, msg, len);
  memcpy(msg, "\xd9\xe7\x48\x82\x01", 5);
  a = try_decode(msg, len + 5);
  ck_assert_msg(has_code(&a, "ETOOBIG"), "colliding weak keys: %s",
                a.message);
  free(msg);
  /* A few hundred of them are within the bound. */
  msg = colliding_map(300, 40, &len);
  a = try_decode(msg, len);
  ck_assert_msg(scm_is_false(a.key), "300 colliding keys: %s", a.message);
  ck_assert_int_eq(scm_to_int(scm_call_2(ev("hash-count"), ev("(const #t)"),
                                         a.value)),
                   300);
  free(msg);
}
END_TEST

static size_t unhex(const char *hex, uint8_t *out, size_t cap);

/* MSG copied to the very end of a page that a page nobody may read
 * follows: a decoder that reads one byte too far faults. The caller
 * unmaps the two pages at *BASE. */
static const uint8_t *
before_guard_page(const void *msg, size_t len, void **base)
{
  size_t page = (size_t) sysconf(_SC_PAGESIZE);
  uint8_t *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  ck_assert(p != MAP_FAILED);
  ck_assert_int_eq(mprotect(p + page, page, PROT_NONE), 0);
  memcpy(p + page - len, msg, len);
  *base = p;
  return p + page - len;
}

struct guarded {
  const uint8_t *msg;
  size_t len;
  struct attempt result;
};

static void *
decode_in_guile(void *p)
{
  struct guarded *g = p;

  g->result = try_decode(g->msg, g->len);
  return NULL;
}

static void *
decode_thread(void *p)
{
  return scm_with_guile(decode_in_guile, p);
}

START_TEST(test_reads_within_message)
{
  /* Messages that end with an item of no content: nothing past the last
   * byte is read (Guile's hash of a symbol's name reads up to three bytes
   * of an empty name). Each is decoded in a thread of its own, which the
   * codec's cache of symbols does not serve: the name goes to Guile. */
  static const struct {
    const char *what;
    const char *hex;
  } cases[] = {
    {"empty symbol", "d82760"},
    {"empty keyword", "d9e74160"},
    {"list ending with an empty symbol", "82 01 d82760"},
    {"empty text", "60"},
    {"empty byte string", "40"},
    {"empty typed array", "d85640"},
    {"record of an empty name", "d81b8160"},
    {NULL, NULL},
  };
  size_t page = (size_t) sysconf(_SC_PAGESIZE);

  for (size_t i = 0; cases[i].what != NULL; i++) {
    uint8_t bytes[16];
    size_t n = unhex(cases[i].hex, bytes, sizeof bytes);
    void *base;
    struct guarded g = {before_guard_page(bytes, n, &base), n, {0}};
    pthread_t thread;

    ck_assert_int_eq(pthread_create(&thread, NULL, decode_thread, &g), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_msg(scm_is_false(g.result.key) || is_wire_error(&g.result),
                  "%s: %s", cases[i].what, g.result.message);
    munmap(base, 2 * page);
  }
}
END_TEST

START_TEST(test_rank_limit)
{
  /* The encoder and the decoder agree on the largest rank, 64: an array
   * of rank 65 is refused by the one and not accepted by the other. */
  SCM ones64 = ev("(make-list 64 1)");
  SCM r = round_trip(scm_apply_2(ev("make-typed-array"),
                                 scm_from_utf8_symbol("u8"),
                                 scm_from_int(7), ones64));
  uint8_t msg[96], *p = msg;
  struct attempt a;

  ck_assert_int_eq(scm_to_int(scm_call_1(ev("array-rank"), r)), 64);
  expect_encode_refused("(apply make-typed-array 'u8 7 (make-list 65 1))",
                        "EINVAL", "rank 65");
  expect_encode_refused("(apply make-array 'x (make-list 65 1))", "EINVAL",
                        "rank 65");
  /* Tag 40: [[1 x 65], h'07'] */
  *p++ = 0xd8;
  *p++ = 0x28;
  *p++ = 0x82;
  *p++ = 0x98;
  *p++ = 65;
  for (int k = 0; k < 65; k++) {
    *p++ = 0x01;
  }
  *p++ = 0x41;
  *p++ = 0x07;
  a = try_decode(msg, (size_t) (p - msg));
  ck_assert_msg(has_code(&a, "EMALFORMED"), "rank 65 decoded: %s",
                a.message);
  ck_assert_msg(strstr(a.message, "rank 65") != NULL, "%s", a.message);
}
END_TEST


struct bad {
  const char *what;
  const char *bytes;    /* Hex. */
  const char *needle;   /* Expected in the message. */
};

static const struct bad malformed[] = {
  {"empty", "", "empty"},
  {"truncated array", "830102", "array of 3 elements"},
  {"truncated uint16", "1901", "truncated"},
  {"truncated uint64", "1b0000", "truncated"},
  {"truncated text", "6568656c", "truncated"},
  {"huge byte string", "5bfffffffffffffff0", "truncated"},
  /* The length of the string is read, not libcbor's count of the bytes
   * needed, which wraps around near 2^64. */
  {"2^64-1 byte string", "5bffffffffffffffff010203040506070809",
   "byte string of 18446744073709551615 bytes but only 9 bytes remain"},
  {"2^64-1 byte string, nothing after", "5bffffffffffffffff",
   "byte string of 18446744073709551615 bytes but only 0 bytes remain"},
  {"text string longer than the rest", "7b00000000000000050102",
   "text string of 5 bytes but only 2 bytes remain"},
  {"truncated string head", "5bffffff", "head of the item needs 9 bytes, "
   "4 remain"},
  {"huge array count", "9bffffffffffffffff00", "elements but only"},
  {"map count lie", "a501", "map of 5 entries"},
  {"trailing garbage", "0102", "trailing garbage"},
  {"indefinite array", "9f01ff", "indefinite"},
  {"indefinite text", "7f6161ff", "indefinite"},
  {"lone break", "ff", "indefinite"},
  {"reserved initial byte", "1c", "not a well-formed"},
  {"bad utf-8", "62c328", "UTF-8"},
  {"overlong utf-8", "62c080", "UTF-8"},
  {"surrogate utf-8", "63eda080", "UTF-8"},
  {"above U+10FFFF", "64f4900000", "UTF-8"},
  {"bignum on text", "c26161", "byte string"},
  {"symbol on integer", "d82701", "text string"},
  {"symbol bad utf-8", "d82761ff", "UTF-8"},
  {"odd typed array", "d85643000000", "whole number"},
  {"typed array on text", "d8566100", "byte string"},
  {"float16 array", "d8544200", "not supported"},
  {"reserved tag 76", "d84c4100", "not supported"},
  {"complex vector of ints", "d9e749d8404100", "float32"},
  {"complex vector odd", "d9e749d8554400000000", "whole number"},
  {"unknown tag", "d9ffff00", "unknown tag"},
  {"unknown project tag", "d9e74f00", "unknown tag"},
  {"rational zero denominator", "d81e820100", "positive"},
  {"rational float", "d81e82f93c0001", "integer numerator"},
  {"rational shape", "d81e8101", "[numerator, denominator]"},
  {"complex of text", "d9a7f8826161f93c00", "real numbers"},
  {"surrogate char", "d9e74019d800", "scalar"},
  {"char too big", "d9e7401a00110000", "scalar"},
  {"keyword on int", "d9e74101", "text string"},
  {"vector on map", "d9e742a0", "must be an array"},
  {"improper of one", "d9e7438101", "two or more"},
  {"eof not null", "d9e74401", "must be null"},
  {"shared handle", "d9e746f6", "array of 6 or 10 items"},
  {"error shape", "d9e7478101", "[kind, arguments]"},
  {"error kind", "d9e747820180", "[symbol, list]"},
  {"weak kind", "d9e7488207a0", "weakness"},
  {"weak no map", "d9e748820180", "hold a map"},
  {"ndarray shape", "d8288102", "[dimensions, elements]"},
  {"ndarray count", "d82882820202830102 03", "holds"},
  {"ndarray typed count", "d82882820202d84043000000", "holds"},
  {"ndarray dims not array", "d828820280", "must be an array"},
  {"ndarray dim text", "d82882816100 80", "unsigned integer"},
  {"ndarray huge dims", "d82882821b3fffffffffffffff1b3fffffffffffffff80",
   "overflow"},
  {"ndarray elements map", "d8288281 00a0", "array or a typed array"},
  {"lower bounds shape", "d9e74a81 80", "[bounds, array]"},
  {"lower bounds rank", "d9e74a82820000d9e7428100", "one-dimensional"},
  {"lower bounds on int", "d9e74a82810001", "apply to an array"},
  {"lower bound huge", "d9e74a82811b7fffffffffffffffd9e7428100",
   "within"},
  {"record unknown", "d81b82636e6f7401", "no record type"},
  {"record name int", "d81b820101", "text string"},
  {"record empty", "d81b80", "[type name, fields...]"},
  {"simple value", "f0", "not a well-formed"},
  /* RFC 8949 5.6: a map's keys are distinct; a repeated one is refused
   * rather than one of its values kept. */
  {"duplicate key", "a2010201 03", "repeats the key 1"},
  {"duplicate text key", "a3616101616202616103", "entry 2 of the map"},
  {"duplicate key, equal? only", "a2820102 f5 820102 f4",
   "repeats the key (1 2)"},
  {"duplicate key in a weak table", "d9e7488201a2010201 03",
   "repeats the key 1"},
  {NULL, NULL, NULL}
};

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
  size_t n = 0;

  while (*hex != '\0' && n < cap) {
    unsigned v;
    if (*hex == ' ') {
      hex++;
      continue;
    }
    sscanf(hex, "%2x", &v);
    out[n++] = (uint8_t) v;
    hex += 2;
  }
  return n;
}

START_TEST(test_malformed)
{
  uint8_t bytes[256];
  size_t i, n;

  for (i = 0; malformed[i].what != NULL; i++) {
    struct attempt a;
    n = unhex(malformed[i].bytes, bytes, sizeof bytes);
    a = try_decode(bytes, n);
    ck_assert_msg(is_wire_error(&a), "%s: decoded without error",
                  malformed[i].what);
    ck_assert_msg(strstr(a.message, malformed[i].needle) != NULL,
                  "%s: message \"%s\" lacks \"%s\"", malformed[i].what,
                  a.message, malformed[i].needle);
    /* A record type this process lacks is not the message's fault. */
    ck_assert_msg(has_code(&a, strcmp(malformed[i].what, "record unknown")
                                       == 0 ? "ENOENT" : "EMALFORMED"),
                  "%s: not the expected error code", malformed[i].what);
  }
}
END_TEST

/* One typed array of one element of NAME (complex if COMPLEX), tagged TAG,
 * whose bytes are 1, 2, 3...: it must decode into a vector of NAME whose
 * bytes are those, reversed within each part when SWAP. */
static void
expect_typed_array(const char *name, bool complex, uint64_t tag,
                   size_t unit, size_t size, bool swap)
{
  uint8_t msg[64], *p = msg;
  struct attempt a;
  const uint8_t *bytes;

  if (complex) {
    *p++ = 0xd9; /* the complex-vector tag, 59209 */
    *p++ = 0xe7;
    *p++ = 0x49;
  }
  *p++ = 0xd8;
  *p++ = (uint8_t) tag;
  *p++ = (uint8_t) (0x40 | size);
  for (size_t i = 0; i < size; i++) {
    *p++ = (uint8_t) (i + 1);
  }
  a = try_decode(msg, (size_t) (p - msg));
  ck_assert_msg(scm_is_false(a.key), "%s, tag %d: %s", name, (int) tag,
                a.message);
  ck_assert_msg(scm_is_eq(scm_array_type(a.value),
                          scm_from_utf8_symbol(name)),
                "tag %d did not give a %s vector", (int) tag, name);
  bytes = (const uint8_t *) SCM_BYTEVECTOR_CONTENTS(a.value);
  for (size_t i = 0; i < size; i++) {
    size_t from = swap ? i - i % unit + (unit - 1 - i % unit) : i;
    ck_assert_msg(bytes[i] == from + 1, "%s, tag %d: byte %zu is %d",
                  name, (int) tag, i, bytes[i]);
  }
}

START_TEST(test_element_types)
{
  /* Every line of the runtime's table of element types is a vector type
   * that travels under its RFC 8746 tag, in either byte order, and has
   * its size. */
#define IS_COMPLEX_UINT false
#define IS_COMPLEX_SINT false
#define IS_COMPLEX_FLOAT false
#define IS_COMPLEX_COMPLEX true
#define CHECK_TYPE(NAME, name, ctype, n, kind, tag, mpi)                    \
  expect_typed_array(#name, IS_COMPLEX_##kind, tag, sizeof(ctype),         \
                     sizeof(ctype) * (n), false);                           \
  if (sizeof(ctype) > 1) {                                                  \
    expect_typed_array(#name, IS_COMPLEX_##kind, (tag) & ~4, sizeof(ctype), \
                       sizeof(ctype) * (n), true);                          \
  }                                                                         \
  ck_assert_int_eq(scm_to_int(scm_call_1(ev("%element-size"),               \
                                         scm_from_utf8_symbol(#name))),     \
                   (int) (sizeof(ctype) * (n)));
  PAR_DTYPE_MAP(CHECK_TYPE)
#undef CHECK_TYPE
  ck_assert_int_eq(scm_to_int(scm_call_1(ev("%element-size"),
                                         scm_from_utf8_symbol("vu8"))),
                   1);
}
END_TEST

START_TEST(test_error_codes)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a = try_encode(ev("(list 1 car)"), &buf);
  SCM e, r;

  par_wbuf_free(&buf);
  ck_assert(has_code(&a, "EINVAL"));
  /* An error with a code keeps it when it travels. */
  e = ev("(make-exception-from-throw 'parallelizer-error "
         "'(\"barrier\" \"gone: ~a\" (\"rank 1\") (EPEER)))");
  r = round_trip(e);
  ck_assert(scm_is_true(scm_equal_p(scm_call_1(ev("exception-args"), r),
                                    scm_call_1(ev("exception-args"), e))));
}
END_TEST

START_TEST(test_big_endian_typed_arrays)
{
  /* Tag 82 (float64, big endian) and 65 (uint16, big endian) decode into
   * native vectors. */
  uint8_t f64be[] = {0xd8, 0x52, 0x48, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
  uint8_t u16be[] = {0xd8, 0x41, 0x44, 0x01, 0x02, 0xff, 0xfe};
  uint8_t clamped[] = {0xd8, 0x44, 0x42, 0x07, 0x08};
  struct attempt a = try_decode(f64be, sizeof f64be);

  ck_assert(scm_is_false(a.key));
  ck_assert(scm_is_true(scm_equal_p(a.value, ev("#f64(1.5)"))));
  a = try_decode(u16be, sizeof u16be);
  ck_assert(scm_is_false(a.key));
  ck_assert(scm_is_true(scm_equal_p(a.value, ev("#u16(258 65534)"))));
  a = try_decode(clamped, sizeof clamped);
  ck_assert(scm_is_false(a.key));
  ck_assert(scm_is_true(scm_equal_p(a.value, ev("#u8(7 8)"))));
}
END_TEST

static SCM
nested(int depth)
{
  SCM v = SCM_EOL;
  int i;

  for (i = 0; i < depth; i++) {
    v = scm_list_1(v);
  }
  return v;
}

START_TEST(test_depth)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a;
  uint8_t *deep;
  size_t i, n = PAR_WIRE_MAX_DEPTH + 10;
  SCM v = nested(PAR_WIRE_MAX_DEPTH - 1);

  ck_assert(scm_is_true(scm_equal_p(round_trip(v), v)));
  a = try_encode(nested(PAR_WIRE_MAX_DEPTH + 5), &buf);
  par_wbuf_free(&buf);
  ck_assert(is_wire_error(&a));
  ck_assert_msg(strstr(a.message, "deeper than") != NULL, "%s", a.message);

  /* Hand-built: arrays of one element, nested beyond the bound. */
  deep = malloc(n + 1);
  for (i = 0; i < n; i++) {
    deep[i] = 0x81;
  }
  deep[n] = 0x80;
  a = try_decode(deep, n + 1);
  ck_assert(is_wire_error(&a));
  ck_assert_msg(strstr(a.message, "nested deeper") != NULL, "%s", a.message);
  free(deep);
  /* Tags count too: vectors of one element, each a tag and an array. */
  deep = malloc(4 * n + 1);
  for (i = 0; i < n; i++) {
    memcpy(deep + 4 * i, "\xd9\xe7\x42\x81", 4);
  }
  deep[4 * n] = 0x00;
  a = try_decode(deep, 4 * n + 1);
  ck_assert(is_wire_error(&a));
  ck_assert_msg(strstr(a.message, "nested deeper") != NULL, "%s", a.message);
  free(deep);
}
END_TEST

START_TEST(test_long_list)
{
  SCM v = ev("(iota 100000)");
  SCM r = round_trip(v);
  ck_assert(scm_is_true(scm_equal_p(v, r)));
  v = ev("(append (iota 100000) 'tail)");
  r = round_trip(v);
  ck_assert(scm_is_true(scm_equal_p(v, r)));
  v = ev("(make-f64vector 1000000 0.25)");
  r = round_trip(v);
  ck_assert(scm_is_true(scm_equal_p(v, r)));
  ck_assert(scm_is_true(scm_call_1(ev("f64vector?"), r)));
}
END_TEST

/* A value with a bit of everything, for the fuzz loop. */
static const char fuzz_zoo[] =
  "(list 1 -2 (expt 3 50) 1/7 2.5 1+i #t #f #\\x \"text\" 'sym #:kw '() "
  "'(1 . 2) #(1 2) #vu8(1 2 3) #u16(1 2) #f64(1.5) #c32(1+i) "
  "#2((1 2) (3 4)) #2s8((1 2)) #1@1(a) "
  "(let ((t (make-hash-table))) (hash-set! t \"k\" '(v)) t) "
  "(if #f #f) the-eof-object "
  "(make-exception-from-throw 'foo '(1 \"x\")) "
  "(make-point 3 4))";

START_TEST(test_fuzz)
{
  par_wbuf buf = PAR_WBUF_INIT;
  struct attempt a;
  uint8_t *copy;
  size_t i, errors = 0, oks = 0;

  ev("(define-record-type <point> (make-point x y) point? (x point-x) "
     "(y point-y))");
  ev("(%wire-register-record-type! <point> \"point\")");
  a = try_encode(ev(fuzz_zoo), &buf);
  ck_assert_msg(scm_is_false(a.key), "%s", a.message);
  copy = malloc(buf.len);

  /* CBOR is prefix-free: no strict prefix of an item is an item. */
  for (i = 0; i < buf.len; i++) {
    a = try_decode(buf.data, i);
    ck_assert_msg(is_wire_error(&a), "prefix of %zu bytes decoded", i);
  }
  srand(20240601);
  for (i = 0; i < 20000; i++) {
    size_t len = buf.len, flips = 1 + (size_t) rand() % 3, k;
    memcpy(copy, buf.data, buf.len);
    for (k = 0; k < flips; k++) {
      size_t at = (size_t) rand() % buf.len;
      copy[at] ^= (uint8_t) (1u << (rand() % 8));
    }
    if (rand() % 4 == 0) {
      len = (size_t) rand() % buf.len;
    }
    a = try_decode(copy, len);
    if (scm_is_false(a.key)) {
      oks++;
    } else {
      ck_assert_msg(is_wire_error(&a), "iteration %zu: key is not "
                    "parallelizer-error", i);
      errors++;
    }
  }
  ck_assert_uint_gt(errors, 0);
  free(copy);
  par_wbuf_free(&buf);
}
END_TEST

static Suite *
wire_suite(void)
{
  Suite *s = suite_create("wire");
  TCase *core = tcase_create("core");
  TCase *limits = tcase_create("limits");

  tcase_add_test(core, test_zoo_round_trips);
  tcase_add_test(core, test_exact_types);
  tcase_add_test(core, test_hash_tables);
  tcase_add_test(core, test_records_errors_hooks);
  tcase_add_test(core, test_unsendable);
  tcase_add_test(core, test_wbuf);
  tcase_add_test(core, test_element_types);
  tcase_add_test(core, test_error_codes);
  tcase_set_timeout(core, 60);
  suite_add_tcase(s, core);

  tcase_add_test(limits, test_malformed);
  tcase_add_test(limits, test_encode_sizes);
  tcase_add_test(limits, test_rank_limit);
  tcase_add_test(limits, test_budget);
  tcase_add_test(limits, test_reads_within_message);
  tcase_add_test(limits, test_big_endian_typed_arrays);
  tcase_add_test(limits, test_depth);
  tcase_add_test(limits, test_long_list);
  tcase_add_test(limits, test_fuzz);
  tcase_set_timeout(limits, 120);
  suite_add_tcase(s, limits);
  return s;
}

int
main(void)
{
  SRunner *runner;
  int failed;

  scm_init_guile();
  par_scm_init();
  scm_c_eval_string("(use-modules (srfi srfi-4) (srfi srfi-4 gnu) "
                    "(srfi srfi-9) (ice-9 exceptions) (system foreign))");
  runner = srunner_create(wire_suite());
  srunner_set_fork_status(runner, CK_NOFORK);
  srunner_run_all(runner, CK_NORMAL);
  failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
