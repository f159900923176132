/* wire-read.c — the heads of CBOR items, read from a message and checked.
 *
 * The decoder reads one item head at a time with libcbor's streaming
 * decoder, whose callbacks fill a struct head; libcbor's item tree is
 * never used, since one cbor_item_t per element would be far too slow for
 * long lists. Every head is checked against the bytes that remain, so
 * that no length read from a message is trusted before anything is
 * allocated for it. The values are built in wire-decode.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include <cbor.h>

#include "wire-internal.h"

/* --- libcbor's callbacks ------------------------------------------------- */

/* An integer or a tag: KIND and its value, whatever its width. */
#define ON_NUMBER(NAME, KIND, TYPE)                                         \
  static void NAME(void *c, TYPE v)                                         \
  {                                                                         \
    struct head *h = c;                                                     \
    h->kind = KIND;                                                         \
    h->u = v;                                                               \
  }

ON_NUMBER(on_uint8, H_UINT, uint8_t)
ON_NUMBER(on_uint16, H_UINT, uint16_t)
ON_NUMBER(on_uint32, H_UINT, uint32_t)
ON_NUMBER(on_uint64, H_UINT, uint64_t)
ON_NUMBER(on_negint8, H_NEGINT, uint8_t)
ON_NUMBER(on_negint16, H_NEGINT, uint16_t)
ON_NUMBER(on_negint32, H_NEGINT, uint32_t)
ON_NUMBER(on_negint64, H_NEGINT, uint64_t)
ON_NUMBER(on_tag, H_TAG, uint64_t)
ON_NUMBER(on_bool, H_BOOL, bool)

/* A string (its payload lies in the message) or a container (N elements
 * or entries). */
#define ON_STRING(NAME, KIND)                                               \
  static void NAME(void *c, cbor_data data, size_t n)                       \
  {                                                                         \
    struct head *h = c;                                                     \
    h->kind = KIND;                                                         \
    h->data = data;                                                         \
    h->n = n;                                                               \
  }
#define ON_CONTAINER(NAME, KIND)                                            \
  static void NAME(void *c, size_t n)                                       \
  {                                                                         \
    struct head *h = c;                                                     \
    h->kind = KIND;                                                         \
    h->n = n;                                                               \
  }

ON_STRING(on_bytes, H_BYTES)
ON_STRING(on_text, H_TEXT)
ON_CONTAINER(on_array, H_ARRAY)
ON_CONTAINER(on_map, H_MAP)

/* A flonum of any width. */
#define ON_FLOAT(NAME, TYPE)                                                \
  static void NAME(void *c, TYPE v)                                         \
  {                                                                         \
    struct head *h = c;                                                     \
    h->kind = H_FLOAT;                                                      \
    h->d = v;                                                               \
  }

ON_FLOAT(on_float, float)
ON_FLOAT(on_double, double)

/* An item with nothing but its kind. */
#define ON_SIMPLE(NAME, KIND)                                               \
  static void NAME(void *c)                                                 \
  {                                                                         \
    struct head *h = c;                                                     \
    h->kind = KIND;                                                         \
  }

ON_SIMPLE(on_indefinite, H_INDEFINITE)
ON_SIMPLE(on_break, H_BREAK)
ON_SIMPLE(on_null, H_NULL)
ON_SIMPLE(on_undefined, H_UNDEFINED)

static const struct cbor_callbacks head_callbacks = {
  .uint8 = on_uint8,
  .uint16 = on_uint16,
  .uint32 = on_uint32,
  .uint64 = on_uint64,
  .negint8 = on_negint8,
  .negint16 = on_negint16,
  .negint32 = on_negint32,
  .negint64 = on_negint64,
  .byte_string_start = on_indefinite,
  .byte_string = on_bytes,
  .string = on_text,
  .string_start = on_indefinite,
  .indef_array_start = on_indefinite,
  .array_start = on_array,
  .indef_map_start = on_indefinite,
  .map_start = on_map,
  .tag = on_tag,
  .float2 = on_float,
  .float4 = on_float,
  .float8 = on_double,
  .undefined = on_undefined,
  .null = on_null,
  .boolean = on_bool,
  .indef_break = on_break,
};

/* --- Heads --------------------------------------------------------------- */

void
par__wire_fail(struct dec *d, size_t at, const char *fmt, ...)
{
  char buf[256];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  par_scm_throw(d->who, PAR_EMALFORMED,
                "malformed message (byte ~a of ~a): ~a",
                scm_list_3(scm_from_size_t(at), scm_from_size_t(d->len),
                           scm_from_utf8_string(buf)));
}

size_t
par__wire_budget(size_t len)
{
  return par__wire_cost(len, PAR_WIRE_BUDGET_PER_BYTE, PAR_WIRE_BUDGET_BASE);
}

void
par__wire_over_budget(struct dec *d, size_t at, size_t cost)
{
  par_scm_throw(d->who, PAR_ETOOBIG,
                "cannot decode a message of ~a bytes within its bound of ~a "
                "bytes (~a per byte of the message plus ~a): the item at "
                "byte ~a needs ~a more, and ~a remain",
                scm_list_n(scm_from_size_t(d->len),
                           scm_from_size_t(par__wire_budget(d->len)),
                           scm_from_int(PAR_WIRE_BUDGET_PER_BYTE),
                           scm_from_size_t(PAR_WIRE_BUDGET_BASE),
                           scm_from_size_t(at), scm_from_size_t(cost),
                           scm_from_size_t(d->budget), SCM_UNDEFINED));
}

/* Raise the error for an item at D's position that does not fit in the
 * bytes that remain. libcbor's count of the bytes needed wraps around for
 * a string of nearly 2^64 bytes, so the sizes are read here. */
static void
fail_truncated(struct dec *d)
{
  const uint8_t *p = d->data + d->pos;
  size_t left = d->len - d->pos, size = 1;
  uint8_t major = p[0] >> 5, info = p[0] & 31;
  uint64_t n = info;

  if (info >= 24 && info <= 27) {
    size = (size_t) 1 + ((size_t) 1 << (info - 24));
  }
  if (size > left) {
    par__wire_fail(d, d->pos, "truncated: the head of the item needs %zu "
                   "bytes, %zu remain", size, left);
  }
  if (size > 1) {
    n = 0;
    for (size_t i = 1; i < size; i++) {
      n = (n << 8) | p[i];
    }
  }
  if (major == 2 || major == 3) {
    par__wire_fail(d, d->pos, "truncated: a %s string of %" PRIu64 " bytes "
                   "but only %zu bytes remain after its head",
                   major == 2 ? "byte" : "text", n, left - size);
  }
  par__wire_fail(d, d->pos, "truncated: the item needs more than the %zu "
                 "bytes that remain", left);
}

void
par__wire_read_head(struct dec *d, struct head *h)
{
  struct cbor_decoder_result r;

  h->at = d->pos;
  if (d->pos >= d->len) {
    par__wire_fail(d, d->pos, "truncated: another item was expected");
  }
  h->kind = H_NONE;
  r = cbor_stream_decode(d->data + d->pos, d->len - d->pos, &head_callbacks,
                         h);
  if (r.status == CBOR_DECODER_NEDATA) {
    fail_truncated(d);
  }
  if (r.status != CBOR_DECODER_FINISHED || r.read == 0) {
    par__wire_fail(d, d->pos,
                   "not a well-formed CBOR item (initial byte 0x%02x)",
                   d->data[d->pos]);
  }
  switch (h->kind) {
  case H_NONE:
    par__wire_fail(d, d->pos, "unsupported CBOR item (initial byte 0x%02x)",
                   d->data[d->pos]);
  case H_INDEFINITE:
  case H_BREAK:
    par__wire_fail(d, d->pos,
                   "indefinite-length items are not part of the format");
  default:
    break;
  }
  d->pos += r.read;
  /* Every element of an array takes at least one byte, and every entry
   * of a map two: a count beyond that is a lie, refused before anything
   * is allocated for it. */
  if (h->kind == H_ARRAY && h->n > d->len - d->pos) {
    par__wire_fail(d, h->at, "array of %zu elements but only %zu bytes "
                   "remain", h->n, d->len - d->pos);
  }
  if (h->kind == H_MAP && h->n > (d->len - d->pos) / 2) {
    par__wire_fail(d, h->at, "map of %zu entries but only %zu bytes remain",
                   h->n, d->len - d->pos);
  }
}

/* --- Text ---------------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool
valid_utf8(const uint8_t *s, size_t n)
{
  size_t i = 0;

  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) {
      i++;
    } else if (c >= 0xc2 && c <= 0xdf) {
      if (i + 1 >= n || (s[i + 1] & 0xc0) != 0x80) {
        return false;
      }
      i += 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      if (i + 2 >= n || (s[i + 1] & 0xc0) != 0x80
          || (s[i + 2] & 0xc0) != 0x80) {
        return false;
      }
      if ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] > 0x9f)) {
        return false;
      }
      i += 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
      if (i + 3 >= n || (s[i + 1] & 0xc0) != 0x80
          || (s[i + 2] & 0xc0) != 0x80 || (s[i + 3] & 0xc0) != 0x80) {
        return false;
      }
      if ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] > 0x8f)) {
        return false;
      }
      i += 4;
    } else {
      return false;
    }
  }
  return true;
}

void
par__wire_check_utf8(struct dec *d, const struct head *h)
{
  if (!valid_utf8(h->data, h->n)) {
    par__wire_fail(d, h->at, "text string of %zu bytes is not valid UTF-8",
                   h->n);
  }
}

void
par__wire_read_text(struct dec *d, struct head *h, const char *what)
{
  par__wire_read_head(d, h);
  if (h->kind != H_TEXT) {
    par__wire_fail(d, h->at, "%s must be a text string", what);
  }
  par__wire_check_utf8(d, h);
}

void
par__wire_expect_array(struct dec *d, size_t n, const char *what)
{
  struct head h;

  par__wire_read_head(d, &h);
  if (h.kind != H_ARRAY || h.n != n) {
    par__wire_fail(d, h.at, "%s", what);
  }
}
