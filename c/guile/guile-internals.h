/* guile-internals.h — every use of libguile's internals in the extension.
 * This file is private.
 *
 * Guile's public API cannot do the three things below, or not fast enough,
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

#endif /* PAR_GUILE_INTERNALS_H */
