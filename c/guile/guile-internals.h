/* guile-internals.h — every use of libguile's internals in the extension.
 * This file is private.
 *
 * Guile's public API cannot do the things below, or not fast enough,
 * so the extension reaches into libguile here and nowhere else. They are
 * written against Guile 3.0 (checked with 3.0.8). Each says what a Guile
 * upgrade could break and how it would show; when a new Guile moves these
 * names, this is the one file to fix.
 *
 * Everything else the extension uses is public API, macros included
 * (SCM_BYTEVECTOR_CONTENTS, SCM_STRUCT_VTABLE, the fields of
 * scm_t_array_handle...). The functions are static inline because two of
 * them run once per element of a message.
 */
#ifndef PAR_GUILE_INTERNALS_H
#define PAR_GUILE_INTERNALS_H

#include <stdbool.h>
#include <stdint.h>

#include <libguile.h>
#include <libguile/gc-inline.h>

/* --- The calling thread's state ------------------------------------------ */

/* The calling thread's scm_thread, which the two uses below read. The
 * handle of a thread is a SMOB whose data is that structure; Guile has no
 * public accessor for it. The calling thread must be known to Guile (any
 * thread that runs Scheme code is), in Guile mode or not. */
static inline scm_thread *
par_scm_this_thread(void)
{
  return SCM_I_THREAD_DATA(scm_current_thread());
}

/* --- Ctrl-C during a wait in the runtime --------------------------------- */

/* Non-zero when the calling thread has asyncs to run (a Ctrl-C handler,
 * system-async-mark, cancel-thread) and does not block them. It has the
 * signature of par_comm_set_interrupt_check's callback, and DATA is
 * unused: the thread is the one that waits, looked up at each call.
 *
 * Why: a wait in the runtime calls this every few milliseconds, possibly
 * outside Guile mode (par_mp_group_join runs in scm_without_guile), where
 * running the asyncs (scm_async_tick) is not allowed and would throw
 * across the runtime's C frames anyway. We only ask whether there is
 * something to run; the wait then fails with PAR_EINTR and the glue runs
 * the asyncs once back in Guile mode. Guile's own waits read the same two
 * fields of its thread structure (see SCM_TICK and scm_i_prepare_to_wait
 * in libguile/async.c).
 *
 * On an upgrade: a renamed field breaks the build here; a changed meaning
 * (pending_asyncs no longer a list, say) would leave Ctrl-C unable to
 * interrupt a collective, which tests/mp-interrupt.sh shows. */
static inline int
par_scm_asyncs_pending(void *data)
{
  scm_thread *thread = par_scm_this_thread();

  (void) data;
  return thread->block_asyncs == 0 && !scm_is_null(thread->pending_asyncs);
}

/* --- Pairs from the thread's own free list ------------------------------- */

/* (cons CAR CDR), allocated from THREAD's free list (THREAD being
 * par_scm_this_thread() of the calling thread, looked up once per message).
 *
 * Why: decoding a list makes one pair per element, and scm_cons goes
 * through the collector's general allocator, which costs more than
 * decoding the element; this is the allocation Guile's own compiled code
 * uses (gc-inline.h, installed with Guile's headers but not part of its
 * documented API).
 *
 * On an upgrade: if gc-inline.h goes (as a new collector could make it),
 * replace the body by scm_cons (CAR, CDR): correct, and only slower. */
static inline SCM
par_scm_inline_cons(scm_thread *thread, SCM car, SCM cdr)
{
  return scm_inline_cons(thread, car, cdr);
}

/* --- Fixnums ------------------------------------------------------------- */

/* True when X is a fixnum, and then *VALUE is its value.
 *
 * Why: small integers are most of the numbers a message carries, and the
 * public test (scm_is_signed_integer, then scm_to_int64) dispatches on the
 * number's type twice per element. SCM_I_INUMP and SCM_I_INUM are macros
 * of Guile's public headers but named as internal; they follow Guile's tag
 * layout, so recompiling against a new Guile adapts them, and a removal
 * breaks the build here. */
static inline bool
par_scm_fixnum(SCM x, int64_t *value)
{
  if (!SCM_I_INUMP(x)) {
    return false;
  }
  *value = (int64_t) SCM_I_INUM(x);
  return true;
}

/* The fixnum of VALUE, which the caller has checked lies within the
 * fixnum range (PAR_WIRE_FIXNUM_MAX and its negative): SCM_I_MAKINUM,
 * with the same caveats as par_scm_fixnum above. scm_from_int64 calls a
 * function that checks the range again, which costs as much as the rest
 * of decoding a small integer. */
static inline SCM
par_scm_from_fixnum(int64_t value)
{
  return SCM_I_MAKINUM((scm_t_signed_bits) value);
}

/* --- Flonums from the thread's own free list ----------------------------- */

/* The flonum VALUE, allocated from THREAD's free list as
 * par_scm_inline_cons allocates pairs.
 *
 * Why: scm_from_double goes through the collector's general allocator for
 * its 16 bytes, which costs several times the rest of decoding a flonum.
 * The layout (a tc16 word, then the double) is the public scm_t_double of
 * numbers.h; the allocation is gc-inline.h's, as for pairs.
 *
 * On an upgrade: if gc-inline.h goes, replace the body by scm_from_double
 * (VALUE). */
static inline SCM
par_scm_inline_flonum(scm_thread *thread, double value)
{
  scm_t_double *z =
      scm_inline_gc_malloc_pointerless(thread, sizeof(scm_t_double));

  z->type = SCM_PACK(scm_tc16_real);
  z->real = value;
  return SCM_PACK_POINTER(z);
}

/* --- The characters of a narrow string ----------------------------------- */

/* If STR is a string whose characters are stored one byte each (Latin-1,
 * as Guile stores every string that needs nothing wider) in a buffer of
 * its own, return a pointer to them and set *LEN to their number;
 * otherwise (a wide string, a shared substring, anything unexpected)
 * return NULL, and the caller takes the public road (scm_to_utf8_stringn,
 * which mallocs a copy).
 *
 * Why: a list of short strings is encoded a string at a time, and the
 * malloc and free of scm_to_utf8_stringn cost more than the rest of
 * encoding a short string. scm_i_string_chars is exported (SCM_API) but
 * raises on a wide string, and the test for one (scm_i_is_narrow_string)
 * is not exported; so this reads the flag itself: a string is a double
 * cell whose second word is its stringbuf, and the stringbuf's first word
 * carries SCM_I_STRINGBUF_F_WIDE (strings.h). Mutation-sharing substrings,
 * whose second word is another string, are left to the public road.
 *
 * On an upgrade: every word read is checked for the tag it must have, so
 * a changed layout falls back to the public road (slower, still correct)
 * unless a new layout happens to put other data where these tags were;
 * tests/wire.scm's strings (narrow, wide, shared substrings) show it. */
static inline const char *
par_scm_narrow_chars(SCM str, size_t *len)
{
  SCM buf;

  if (SCM_IMP(str) || (SCM_CELL_TYPE(str) != scm_tc7_string
                       && SCM_CELL_TYPE(str) != scm_tc7_ro_string)) {
    return NULL;
  }
  buf = SCM_CELL_OBJECT_1(str);
  if (SCM_IMP(buf) || SCM_TYP7(buf) != scm_tc7_stringbuf
      || (SCM_CELL_WORD_0(buf) & SCM_I_STRINGBUF_F_WIDE) != 0) {
    return NULL;
  }
  *len = scm_c_string_length(str);
  return scm_i_string_chars(str);
}

#endif /* PAR_GUILE_INTERNALS_H */
