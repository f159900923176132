/* comm.c — communicators as Guile foreign objects, and the primitives that
 * move Scheme values between processes.
 *
 * Values travel as CBOR (wire.h). A collective encodes on the processes
 * that send, calls the runtime, and decodes on the processes that receive.
 * The sending process never decodes its own value: a root gets back the
 * very object it passed in.
 *
 * Blocking calls stay in Guile mode. Leaving it with scm_without_guile
 * costs a signal-mask system call each way, more than a whole barrier
 * between two processes; and nothing needs it: the collector stops threads
 * with signals, which reach a thread blocked in the runtime as well (its
 * waits take a spurious wake-up in their stride), and Ctrl-C is seen
 * through the communicator's interrupt check, installed once when the
 * communicator is wrapped (par_scm_wrap_comm).
 */
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "guile-internals.h"
#include "mp-segment.h"
#include "wire-internal.h"

static SCM comm_type;

/* A communicator object owns its par_comm unless OWNED is 0 (a backend
 * such as the multiprocessing group keeps the endpoint and frees it). */
typedef struct comm_box {
  par_comm *comm;
  int owned;
} comm_box;

static void
finalize_comm(SCM obj)
{
  comm_box *box = scm_foreign_object_ref(obj, 0);

  /* par_comm_destroy is local: no message is exchanged, so running it from
   * the collector is safe. */
  if (box != NULL && box->owned) {
    par_comm_destroy(box->comm);
  }
}

/* The interrupt check is par_scm_asyncs_pending, which looks at the
 * asyncs of the thread that waits, whichever it is, not of the thread that
 * wrapped COMM: a communicator made on one thread and used on another is
 * interrupted by what is queued for the thread it blocks, as Guile's own
 * blocking primitives are. A Ctrl-C handler that targets another thread
 * therefore does not stop this wait; the communicator's timeout still
 * does. Installing the check once, here, costs nothing between calls: the
 * runtime consults it only while it waits. */
SCM
par_scm_wrap_comm(par_comm *comm, int owned)
{
  comm_box *box = scm_gc_malloc_pointerless(sizeof *box, "par-comm");

  box->comm = comm;
  box->owned = owned;
  par_comm_set_interrupt_check(comm, par_scm_asyncs_pending, NULL);
  return scm_make_foreign_object_1(comm_type, box);
}

static comm_box *
unwrap_box(SCM obj, const char *who)
{
  return par_scm_foreign_ref(comm_type, obj, "a communicator", who);
}

par_comm *
par_scm_unwrap_comm(SCM obj, const char *who)
{
  comm_box *box = unwrap_box(obj, who);

  if (box->comm == NULL) {
    par_scm_throw(who, PAR_EINVAL, "the communicator is closed", SCM_EOL);
  }
  return box->comm;
}

/* Raise RC, unless it is PAR_OK, with what COMM says of it. */
static void
check(par_comm *comm, int rc, const char *who)
{
  if (rc != PAR_OK) {
    par_scm_throw_failure(who, rc, par_comm_error_detail(comm));
  }
}

/* RANK as a rank of COMM. */
static int
to_rank(par_comm *comm, SCM rank, const char *who)
{
  int size = par_comm_size(comm);

  if (!scm_is_exact_integer(rank)) {
    par_scm_throw(who, PAR_EINVAL, "expected a rank (an exact integer), "
                  "got ~s", scm_list_1(rank));
  }
  if (!scm_is_signed_integer(rank, 0, size - 1)) {
    par_scm_throw(who, PAR_ERANK,
                  "rank ~a is out of range: the group has ~a processes",
                  scm_list_2(rank, scm_from_int(size)));
  }
  return scm_to_int(rank);
}

/* --- Buffers released however a primitive ends --------------------------- */

/* Each thread keeps the buffer of its last encoding for the next one, up
 * to SCRATCH_MAX bytes: large messages then reuse memory that is already
 * mapped, instead of faulting in fresh pages every time. */
#define SCRATCH_MAX ((size_t) 64 << 20)

static __thread par_wbuf scratch = PAR_WBUF_INIT;

static par_wbuf
take_scratch(void)
{
  par_wbuf buf = scratch;

  scratch = (par_wbuf) PAR_WBUF_INIT;
  buf.len = 0;
  return buf;
}

static void
return_scratch(void *data)
{
  par_wbuf *buf = data;

  if (scratch.data == NULL && buf->cap <= SCRATCH_MAX) {
    scratch = *buf;
    *buf = (par_wbuf) PAR_WBUF_INIT;
  } else {
    par_wbuf_free(buf);
  }
}

static void
release_msg(void *data)
{
  par_msg_release(data);
}

/* Inside a dynwind: give BUF back to the scratch slot and release MSG
 * (either may be NULL) when the extent is left, normally or not. */
static void
release_on_exit(par_wbuf *buf, par_msg *msg)
{
  if (buf != NULL) {
    scm_dynwind_unwind_handler(return_scratch, buf, SCM_F_WIND_EXPLICITLY);
  }
  if (msg != NULL) {
    scm_dynwind_unwind_handler(release_msg, msg, SCM_F_WIND_EXPLICITLY);
  }
}

/* --- Large vectors as memory segments ------------------------------------ */

/* Between the processes of a forked group, a large numeric vector sent by
 * value travels as a memory segment that each receiver maps
 * copy-on-write (mp-segment.h). A primitive that moves values opens a
 * segment scope: while it lasts, the encoder makes segments of large
 * vectors and the decoder accepts them; once the message is sent, the
 * primitive commits the scope's segments with the number of processes
 * that will map each; a scope left otherwise (an error) closes the
 * segments it made. */
typedef struct seg_scope {
  int prev;
  size_t mark;
} seg_scope;

static void
segments_end(void *data)
{
  seg_scope *s = data;

  par__seg_abandon(s->mark);
  par__wire_segments = s->prev;
}

/* Inside a dynwind: open a segment scope in S for a message of COMM. */
static void
segments_begin(par_comm *c, seg_scope *s)
{
  s->prev = par__wire_segments;
  s->mark = par__seg_mark();
  par__wire_segments = strcmp(par_comm_backend(c), "multiprocessing") == 0;
  scm_dynwind_unwind_handler(segments_end, s, SCM_F_WIND_EXPLICITLY);
}

/* The segments of scope S have been sent, each to READERS processes. */
static void
segments_sent(seg_scope *s, int readers)
{
  if (readers > 0) {
    par__seg_commit(s->mark, (uint32_t) readers);
  }
}

/* The description of a contiguous one-dimensional uniform numeric vector
 * behind H; NULL for anything else. */
static const par_scm_etype *
contiguous_etype(scm_t_array_handle *h)
{
  if (scm_array_handle_rank(h) != 1 || scm_array_handle_dims(h)[0].inc != 1) {
    return NULL;
  }
  return par_scm_etype_of(h->element_type);
}

/* Take a handle on VEC, which must be a contiguous uniform numeric vector,
 * and return its element type; raise an error from WHO otherwise. Inside a
 * dynwind, the handle is released however the extent is left. */
static par_dtype
uniform_handle(SCM vec, scm_t_array_handle *h, const char *who)
{
  const par_scm_etype *type;

  if (!scm_is_array(vec)) {
    par_scm_throw(who, PAR_ETYPE, "expected a uniform numeric vector, "
                  "got ~s", scm_list_1(vec));
  }
  scm_array_get_handle(vec, h);
  type = contiguous_etype(h);
  if (type == NULL) {
    scm_array_handle_release(h);
    par_scm_throw(who, PAR_ETYPE, "expected a uniform numeric vector, "
                  "got ~s", scm_list_1(vec));
  }
  scm_dynwind_unwind_handler((void (*)(void *)) scm_array_handle_release, h,
                             SCM_F_WIND_EXPLICITLY);
  return type->dtype;
}

/* --- Communicator objects ------------------------------------------------ */

/* (%make-serial-comm) -> a communicator of one process. */
static SCM
prim_make_serial_comm(void)
#define FUNC_NAME "make-serial-parallelizer"
{
  par_comm *comm;
  int rc = par_comm_serial_create(&comm);

  if (rc != PAR_OK) {
    par_scm_throw_failure(FUNC_NAME, rc, "while making its communicator");
  }
  return par_scm_wrap_comm(comm, 1);
}
#undef FUNC_NAME

/* (%comm? OBJ) -> #t if OBJ is a communicator, open or closed. */
static SCM
prim_comm_p(SCM obj)
{
  return scm_from_bool(SCM_IS_A_P(obj, comm_type));
}

/* (%comm-rank COMM) -> this process's rank in COMM. */
static SCM
prim_comm_rank(SCM comm)
{
  return scm_from_int(par_comm_rank(par_scm_unwrap_comm(comm,
                                                        "parallelizer-id")));
}

/* (%comm-size COMM) -> the number of processes of COMM. */
static SCM
prim_comm_size(SCM comm)
{
  return scm_from_int(
      par_comm_size(par_scm_unwrap_comm(comm, "parallelizer-nprocs")));
}

/* (%comm-backend COMM) -> serial, multiprocessing or mpi. */
static SCM
prim_comm_backend(SCM comm)
{
  par_comm *c = par_scm_unwrap_comm(comm, "%comm-backend");

  return scm_from_utf8_symbol(par_comm_backend(c));
}

/* (%comm-close! COMM): release COMM now (if the object owns it); any later
 * use of the object is an error. Closing twice is allowed. */
static SCM
prim_comm_close_x(SCM comm)
{
  comm_box *box = unwrap_box(comm, "%comm-close!");

  if (box->owned) {
    par_comm_destroy(box->comm);
  }
  box->comm = NULL;
  return SCM_UNSPECIFIED;
}

/* (%comm-abort COMM CODE): end the whole group with the exit code CODE
 * (MPI_Abort on MPI, where mpirun then exits non-zero; the workers are
 * stopped on multiprocessing). */
static SCM
prim_comm_abort(SCM comm, SCM code)
#define FUNC_NAME "parallelizer-run"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);

  check(c, par_comm_abort(c, scm_to_int(code)), FUNC_NAME);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%comm-set-timeout! COMM SECONDS): every later wait on COMM fails after
 * SECONDS (a real number), or never times out if SECONDS is #f. */
static SCM
prim_comm_set_timeout_x(SCM comm, SCM seconds)
{
  par_comm *c = par_scm_unwrap_comm(comm, "parallelizer-run");

  par_comm_set_timeout(c, scm_is_true(seconds) ? scm_to_double(seconds) : 0);
  return SCM_UNSPECIFIED;
}

/* --- Point to point ------------------------------------------------------ */

/* (%comm-send COMM VALUE DEST): send VALUE to rank DEST of COMM. It may
 * return before DEST receives. */
static SCM
prim_comm_send(SCM comm, SCM value, SCM dest)
#define FUNC_NAME "send-to"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int to = to_rank(c, dest, FUNC_NAME);
  par_wbuf buf = take_scratch();
  seg_scope seg;

  scm_dynwind_begin(0);
  release_on_exit(&buf, NULL);
  segments_begin(c, &seg);
  par_scm_encode(value, &buf, FUNC_NAME);
  check(c, par_comm_send(c, to, buf.data, buf.len), FUNC_NAME);
  segments_sent(&seg, 1);
  scm_dynwind_end();
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%comm-receive COMM SOURCE) -> the next value that rank SOURCE of COMM
 * sent to this process. */
static SCM
prim_comm_receive(SCM comm, SCM source)
#define FUNC_NAME "receive-from"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int from = to_rank(c, source, FUNC_NAME);
  par_msg msg = PAR_MSG_INIT;
  seg_scope seg;
  SCM result;

  scm_dynwind_begin(0);
  release_on_exit(NULL, &msg);
  segments_begin(c, &seg);
  check(c, par_comm_recv(c, from, &msg), FUNC_NAME);
  result = par_scm_decode_msg(&msg, FUNC_NAME);
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

/* (%comm-receive-any COMM BLOCK) -> (SOURCE . VALUE), the next message sent
 * to this process by any rank; if BLOCK is #f and none is ready, #f at
 * once. Parallel-map's dynamic scheduling listens with it. */
static SCM
prim_comm_receive_any(SCM comm, SCM block)
#define FUNC_NAME "parallel-map"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  par_msg msg = PAR_MSG_INIT;
  int source, rc;
  SCM result = SCM_BOOL_F;
  seg_scope seg;

  scm_dynwind_begin(0);
  release_on_exit(NULL, &msg);
  segments_begin(c, &seg);
  rc = par_comm_recv_any(c, scm_is_true(block), &source, &msg);
  /* For a look that does not wait, "nothing yet" is an answer. */
  if (rc != PAR_ENOENT || scm_is_true(block)) {
    check(c, rc, FUNC_NAME);
    result = scm_cons(scm_from_int(source),
                      par_scm_decode_msg(&msg, FUNC_NAME));
  }
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

/* --- Collectives of values ----------------------------------------------- */

/* (%comm-barrier COMM): wait until every process of COMM is here. */
static SCM
prim_comm_barrier(SCM comm)
#define FUNC_NAME "barrier"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);

  check(c, par_comm_barrier(c), FUNC_NAME);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

/* (%comm-broadcast COMM VALUE ROOT) -> ROOT's VALUE, on every process of
 * COMM (on ROOT, VALUE itself). */
static SCM
prim_comm_broadcast(SCM comm, SCM value, SCM root)
#define FUNC_NAME "broadcast"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int from = to_rank(c, root, FUNC_NAME);
  par_wbuf buf = take_scratch();
  par_msg msg = PAR_MSG_INIT;
  SCM result = value;
  seg_scope seg;

  scm_dynwind_begin(0);
  release_on_exit(&buf, &msg);
  segments_begin(c, &seg);
  if (par_comm_rank(c) == from) {
    par_scm_encode(value, &buf, FUNC_NAME);
  }
  check(c, par_comm_bcast_bytes(c, from, buf.data, buf.len, &msg),
        FUNC_NAME);
  segments_sent(&seg, par_comm_size(c) - 1);
  if (par_comm_rank(c) != from) {
    result = par_scm_decode_msg(&msg, FUNC_NAME);
  }
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

/* (%comm-scatter COMM CHUNKS ROOT) -> this process's chunk. CHUNKS is, on
 * ROOT, a list of exactly one value per process of COMM, in rank order;
 * elsewhere it is ignored. */
static SCM
prim_comm_scatter(SCM comm, SCM chunks, SCM root)
#define FUNC_NAME "scatter"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int from = to_rank(c, root, FUNC_NAME);
  int self = par_comm_rank(c), size = par_comm_size(c);
  par_wbuf buf = take_scratch();
  par_msg msg = PAR_MSG_INIT;
  size_t *counts = NULL;
  SCM own = SCM_BOOL_F, result;
  seg_scope seg;

  scm_dynwind_begin(0);
  release_on_exit(&buf, &msg);
  segments_begin(c, &seg);
  if (self == from) {
    SCM rest = chunks;

    if (scm_ilength(chunks) != size) {
      par_scm_throw(FUNC_NAME, PAR_EINVAL, "expected ~a chunks, got ~s",
                    scm_list_2(scm_from_int(size), chunks));
    }
    counts = scm_gc_malloc_pointerless(sizeof *counts * (size_t) size,
                                       "scatter counts");
    for (int r = 0; r < size; r++, rest = scm_cdr(rest)) {
      size_t before = buf.len;

      if (r == self) {
        own = scm_car(rest);
      } else {
        par_scm_encode(scm_car(rest), &buf, FUNC_NAME);
      }
      counts[r] = buf.len - before;
    }
  }
  check(c, par_comm_scatterv_bytes(c, from, buf.data, counts, &msg),
        FUNC_NAME);
  segments_sent(&seg, 1);
  result = self == from ? own : par_scm_decode_msg(&msg, FUNC_NAME);
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

/* The list of the values gathered in MSG, COUNTS[R] bytes from rank R, in
 * rank order; rank SELF's is OWN, which was not decoded. */
static SCM
decode_parts(const par_msg *msg, const size_t *counts, int n, int self,
             SCM own, const char *who)
{
  SCM result = SCM_EOL;
  size_t offset = msg->len;

  for (int r = n - 1; r >= 0; r--) {
    offset -= counts[r];
    if (r == self) {
      result = scm_cons(own, result);
    } else {
      result = scm_cons(par_scm_decode((const char *) msg->data + offset,
                                       counts[r], who),
                        result);
    }
  }
  return result;
}

/* Every process's VALUE, in rank order, on ROOT (#f elsewhere) or, if
 * ALL, on every process. */
static SCM
gather(SCM comm, SCM value, SCM root, bool all, const char *who)
{
  par_comm *c = par_scm_unwrap_comm(comm, who);
  int to = all ? 0 : to_rank(c, root, who);
  int self = par_comm_rank(c), size = par_comm_size(c);
  par_wbuf buf = take_scratch();
  par_msg msg = PAR_MSG_INIT;
  size_t *counts = scm_gc_malloc_pointerless(sizeof *counts * (size_t) size,
                                             "gather counts");
  SCM result = SCM_BOOL_F;
  seg_scope seg;
  int rc;

  scm_dynwind_begin(0);
  release_on_exit(&buf, &msg);
  segments_begin(c, &seg);
  if (!all && self == to) {
    /* The root's own value is never decoded: no segment for it. */
    int on = par__wire_segments;

    par__wire_segments = 0;
    par_scm_encode(value, &buf, who);
    par__wire_segments = on;
  } else {
    par_scm_encode(value, &buf, who);
  }
  if (all) {
    rc = par_comm_allgatherv_bytes(c, buf.data, buf.len, &msg, counts);
  } else {
    rc = par_comm_gatherv_bytes(c, to, buf.data, buf.len, &msg, counts);
  }
  check(c, rc, who);
  /* What the root (or, if ALL, each process) gathers of its own value is
   * never decoded. */
  segments_sent(&seg, all ? size - 1 : self == to ? 0 : 1);
  if (all || self == to) {
    result = decode_parts(&msg, counts, size, self, value, who);
  }
  scm_dynwind_end();
  return result;
}

/* (%comm-gather COMM VALUE ROOT) -> on ROOT the list of every process's
 * VALUE in rank order; #f elsewhere. */
static SCM
prim_comm_gather(SCM comm, SCM value, SCM root)
{
  return gather(comm, value, root, false, "gather");
}

/* (%comm-allgather COMM VALUE) -> on every process, the list of every
 * process's VALUE in rank order. */
static SCM
prim_comm_allgather(SCM comm, SCM value)
{
  return gather(comm, value, SCM_BOOL_F, true, "allgather");
}

/* --- Collectives of uniform vectors -------------------------------------- */

/* (%comm-broadcast-uniform! COMM VEC ROOT) -> VEC, into which ROOT's VEC
 * has been copied, in place: no encoding and no allocation. The vectors
 * must agree in element type and length (checked by the runtime). */
static SCM
prim_comm_broadcast_uniform_x(SCM comm, SCM vec, SCM root)
#define FUNC_NAME "broadcast!"
{
  par_comm *c = par_scm_unwrap_comm(comm, FUNC_NAME);
  int from = to_rank(c, root, FUNC_NAME);
  scm_t_array_handle h;
  par_dtype type;

  scm_dynwind_begin(0);
  type = uniform_handle(vec, &h, FUNC_NAME);
  check(c,
        par_comm_bcast(c, from, scm_array_handle_uniform_writable_elements(&h),
                       scm_c_array_length(vec), type),
        FUNC_NAME);
  scm_dynwind_end();
  scm_remember_upto_here_1(vec);
  return vec;
}
#undef FUNC_NAME

/* The uniform vector VEC reduced element-wise with the operator named OP
 * (sum, prod, min, max): a fresh vector of VEC's type on ROOT (#f
 * elsewhere) or, if ALL, on every process. */
static SCM
reduce(SCM comm, SCM op, SCM vec, SCM root, bool all, const char *who)
{
  par_comm *c = par_scm_unwrap_comm(comm, who);
  int to = all ? 0 : to_rank(c, root, who);
  scm_t_array_handle in, out;
  par_reduce_op rop;
  par_dtype type;
  size_t count;
  void *recvbuf = NULL;
  SCM result = SCM_BOOL_F;
  char *name;
  int rc;

  name = scm_is_symbol(op) ? scm_to_utf8_string(scm_symbol_to_string(op))
                           : NULL;
  rc = par_reduce_op_from_name(name, &rop);
  free(name);
  if (rc != PAR_OK) {
    par_scm_throw(who, PAR_EINVAL, "unknown reduction operator ~s",
                  scm_list_1(op));
  }
  scm_dynwind_begin(0);
  type = uniform_handle(vec, &in, who);
  count = scm_c_array_length(vec);
  if (all || par_comm_rank(c) == to) {
    result = scm_make_typed_array(scm_array_type(vec), SCM_UNSPECIFIED,
                                  scm_list_1(scm_from_size_t(count)));
    uniform_handle(result, &out, who);
    recvbuf = scm_array_handle_uniform_writable_elements(&out);
  }
  if (all) {
    rc = par_comm_allreduce(c, scm_array_handle_uniform_elements(&in),
                            recvbuf, count, type, rop);
  } else {
    rc = par_comm_reduce(c, to, scm_array_handle_uniform_elements(&in),
                         recvbuf, count, type, rop);
  }
  check(c, rc, who);
  scm_dynwind_end();
  scm_remember_upto_here_2(vec, result);
  return result;
}

/* (%comm-reduce-uniform COMM OP VEC ROOT) -> on ROOT, a fresh vector of
 * VEC's type holding every process's VEC combined element-wise with OP
 * (sum, prod, min or max) in rank order; #f elsewhere. */
static SCM
prim_comm_reduce_uniform(SCM comm, SCM op, SCM vec, SCM root)
{
  return reduce(comm, op, vec, root, false, "reduce-to-root");
}

/* (%comm-allreduce-uniform COMM OP VEC) -> like %comm-reduce-uniform, on
 * every process. */
static SCM
prim_comm_allreduce_uniform(SCM comm, SCM op, SCM vec)
{
  return reduce(comm, op, vec, SCM_BOOL_F, true, "allreduce");
}

/* (%uniform-reducible? OBJ) -> #t if OBJ is a uniform numeric vector that
 * the two primitives above accept: a bytevector, or a contiguous SRFI-4
 * vector or rank-1 typed array. */
static SCM
prim_uniform_reducible_p(SCM obj)
{
  scm_t_array_handle h;
  bool ok;

  if (!scm_is_bytevector(obj) && !scm_is_array(obj)) {
    return SCM_BOOL_F;
  }
  scm_array_get_handle(obj, &h);
  ok = contiguous_etype(&h) != NULL;
  scm_array_handle_release(&h);
  return scm_from_bool(ok);
}

void
par_scm_init_comm(void)
{
  comm_type = scm_make_foreign_object_type(
      scm_from_utf8_symbol("par-comm"),
      scm_list_1(scm_from_utf8_symbol("box")), finalize_comm);
  scm_c_define("%comm-type", comm_type);
  scm_c_define_gsubr("%make-serial-comm", 0, 0, 0, prim_make_serial_comm);
  scm_c_define_gsubr("%comm?", 1, 0, 0, prim_comm_p);
  scm_c_define_gsubr("%comm-rank", 1, 0, 0, prim_comm_rank);
  scm_c_define_gsubr("%comm-size", 1, 0, 0, prim_comm_size);
  scm_c_define_gsubr("%comm-backend", 1, 0, 0, prim_comm_backend);
  scm_c_define_gsubr("%comm-close!", 1, 0, 0, prim_comm_close_x);
  scm_c_define_gsubr("%comm-abort", 2, 0, 0, prim_comm_abort);
  scm_c_define_gsubr("%comm-set-timeout!", 2, 0, 0, prim_comm_set_timeout_x);
  scm_c_define_gsubr("%comm-send", 3, 0, 0, prim_comm_send);
  scm_c_define_gsubr("%comm-receive", 2, 0, 0, prim_comm_receive);
  scm_c_define_gsubr("%comm-receive-any", 2, 0, 0, prim_comm_receive_any);
  scm_c_define_gsubr("%comm-barrier", 1, 0, 0, prim_comm_barrier);
  scm_c_define_gsubr("%comm-broadcast", 3, 0, 0, prim_comm_broadcast);
  scm_c_define_gsubr("%comm-scatter", 3, 0, 0, prim_comm_scatter);
  scm_c_define_gsubr("%comm-gather", 3, 0, 0, prim_comm_gather);
  scm_c_define_gsubr("%comm-allgather", 2, 0, 0, prim_comm_allgather);
  scm_c_define_gsubr("%comm-broadcast-uniform!", 3, 0, 0,
                     prim_comm_broadcast_uniform_x);
  scm_c_define_gsubr("%comm-reduce-uniform", 4, 0, 0,
                     prim_comm_reduce_uniform);
  scm_c_define_gsubr("%comm-allreduce-uniform", 3, 0, 0,
                     prim_comm_allreduce_uniform);
  scm_c_define_gsubr("%uniform-reducible?", 1, 0, 0,
                     prim_uniform_reducible_p);
}
