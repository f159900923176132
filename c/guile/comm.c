/* comm.c — communicators as Guile foreign objects, and the primitives that
 * move Scheme values between processes.
 *
 * Values travel as CBOR (wire.h). A collective encodes on the processes
 * that send, calls the runtime (see call_blocking for how a blocking wait
 * coexists with the collector and with Ctrl-C), and decodes on the
 * processes that receive. The sending process never decodes its own value:
 * a root gets back the very object it passed in.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "glue.h"
#include "wire.h"

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

SCM
par_scm_wrap_comm(par_comm *comm, int owned)
{
  comm_box *box = scm_gc_malloc_pointerless(sizeof *box, "par-comm");

  box->comm = comm;
  box->owned = owned;
  return scm_make_foreign_object_1(comm_type, box);
}

par_comm *
par_scm_unwrap_comm(SCM obj, int pos, const char *subr)
{
  comm_box *box;

  scm_assert_foreign_object_type(comm_type, obj);
  box = scm_foreign_object_ref(obj, 0);
  if (box->comm == NULL) {
    par_scm_throw(subr, "communicator is closed", SCM_EOL);
  }
  return box->comm;
}

/* --- Blocking calls ------------------------------------------------------ */

/* Set while a call is blocked, so the interrupt check can see whether the
 * calling thread has asyncs (Ctrl-C) waiting to run. */
static int
pending_asyncs(void *data)
{
  scm_thread *thread = data;

  return thread->block_asyncs == 0 && !scm_is_null(thread->pending_asyncs);
}

static void
check_rc(par_comm *comm, int rc, const char *subr)
{
  if (rc == PAR_OK) {
    return;
  }
  if (rc == PAR_EINTR) {
    /* Run the pending asyncs: a SIGINT handler throws from here, which is
     * what returns the REPL to its prompt. If none throws, the operation
     * is still broken half way and must fail. */
    scm_async_tick();
  }
  par_scm_throw_code(subr, rc, par_comm_error_detail(comm));
}

struct blocking_call {
  int (*fn)(struct blocking_call *call);
  par_comm *comm;
  int root;
  const void *buf;
  size_t len;
  const size_t *counts_in;
  size_t *counts_out;
  void *recvbuf;
  size_t count;
  par_dtype type;
  par_reduce_op op;
  par_msg *msg;
  int rc_source;
  int rc;
};

/* Run CALL, which may block, and raise its error if it fails.
 *
 * The call stays in Guile mode. Leaving it with scm_without_guile costs a
 * signal-mask system call each way, more than a whole barrier between two
 * processes; and nothing needs it: the collector stops threads with
 * signals, which reach a thread blocked in the runtime as well (its waits
 * take a spurious wake-up in their stride), and Ctrl-C is seen through the
 * interrupt check. */
static void
call_blocking(struct blocking_call *call, const char *subr)
{
  par_comm_set_interrupt_check(call->comm, pending_asyncs,
                               SCM_I_THREAD_DATA(scm_current_thread()));
  call->rc = call->fn(call);
  par_comm_set_interrupt_check(call->comm, NULL, NULL);
  check_rc(call->comm, call->rc, subr);
}

static int
do_send(struct blocking_call *c)
{
  return par_comm_send(c->comm, c->root, c->buf, c->len);
}

static int
do_recv(struct blocking_call *c)
{
  return par_comm_recv(c->comm, c->root, c->msg);
}

static int
do_recv_any(struct blocking_call *c)
{
  return par_comm_recv_any(c->comm, c->root, &c->rc_source, c->msg);
}

static int
do_barrier(struct blocking_call *c)
{
  return par_comm_barrier(c->comm);
}

static int
do_bcast_bytes(struct blocking_call *c)
{
  return par_comm_bcast_bytes(c->comm, c->root, c->buf, c->len, c->msg);
}

static int
do_scatterv_bytes(struct blocking_call *c)
{
  return par_comm_scatterv_bytes(c->comm, c->root, c->buf, c->counts_in,
                                 c->msg);
}

static int
do_gatherv_bytes(struct blocking_call *c)
{
  return par_comm_gatherv_bytes(c->comm, c->root, c->buf, c->len, c->msg,
                                c->counts_out);
}

static int
do_allgatherv_bytes(struct blocking_call *c)
{
  return par_comm_allgatherv_bytes(c->comm, c->buf, c->len, c->msg,
                                   c->counts_out);
}

static int
do_reduce(struct blocking_call *c)
{
  return par_comm_reduce(c->comm, c->root, c->buf, c->recvbuf, c->count,
                         c->type, c->op);
}

static int
do_allreduce(struct blocking_call *c)
{
  return par_comm_allreduce(c->comm, c->buf, c->recvbuf, c->count, c->type,
                            c->op);
}

/* --- Unwind protection for C buffers ------------------------------------ */

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

static void
protect(par_wbuf *buf, par_msg *msg)
{
  if (buf != NULL) {
    scm_dynwind_unwind_handler(return_scratch, buf, SCM_F_WIND_EXPLICITLY);
  }
  if (msg != NULL) {
    scm_dynwind_unwind_handler(release_msg, msg, SCM_F_WIND_EXPLICITLY);
  }
}

/* Decode the COUNT consecutive values of a gathered block into a list. */
static SCM
decode_parts(const par_msg *msg, const size_t *counts, int n, int self,
             SCM own, const char *subr)
{
  SCM result = SCM_EOL;
  size_t offset = msg->len;

  for (int r = n - 1; r >= 0; r--) {
    offset -= counts[r];
    if (r == self) {
      result = scm_cons(own, result);
    } else {
      result = scm_cons(par_scm_decode((const char *) msg->data + offset,
                                       counts[r], subr),
                        result);
    }
  }
  return result;
}

static int
to_rank(par_comm *comm, SCM rank, int pos, const char *subr)
{
  int r;

  if (!scm_is_signed_integer(rank, 0, INT_MAX)) {
    scm_wrong_type_arg_msg(subr, pos, rank, "rank (a non-negative integer)");
  }
  r = scm_to_int(rank);
  if (r >= par_comm_size(comm)) {
    par_scm_throw(subr, "rank ~a is out of range: the group has ~a processes",
                  scm_list_2(rank, scm_from_int(par_comm_size(comm))));
  }
  return r;
}

/* --- Primitives --------------------------------------------------------- */

#define FUNC_NAME "%make-serial-comm"
static SCM
make_serial_comm(void)
{
  par_comm *comm;
  int rc = par_comm_serial_create(&comm);

  if (rc != PAR_OK) {
    par_scm_throw_code(FUNC_NAME, rc, NULL);
  }
  return par_scm_wrap_comm(comm, 1);
}
#undef FUNC_NAME

static SCM
comm_p(SCM obj)
{
  return scm_from_bool(SCM_IS_A_P(obj, comm_type));
}

static SCM
comm_rank(SCM comm)
{
  return scm_from_int(par_comm_rank(par_scm_unwrap_comm(comm, 1,
                                                        "%comm-rank")));
}

static SCM
comm_size(SCM comm)
{
  return scm_from_int(par_comm_size(par_scm_unwrap_comm(comm, 1,
                                                        "%comm-size")));
}

static SCM
comm_backend(SCM comm)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, "%comm-backend");

  return scm_from_utf8_symbol(par_comm_backend(c));
}

static SCM
comm_close_x(SCM comm)
{
  comm_box *box;

  scm_assert_foreign_object_type(comm_type, comm);
  box = scm_foreign_object_ref(comm, 0);
  if (box->owned) {
    par_comm_destroy(box->comm);
  }
  box->comm = NULL;
  return SCM_UNSPECIFIED;
}

/* End the whole group with CODE (MPI_Abort on MPI, where mpirun then
 * exits non-zero; the workers are stopped on multiprocessing). */
#define FUNC_NAME "%comm-abort"
static SCM
comm_abort(SCM comm, SCM code)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  int rc = par_comm_abort(c, scm_to_int(code));

  if (rc != PAR_OK) {
    par_scm_throw_code(FUNC_NAME, rc, par_comm_error_detail(c));
  }
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "%comm-set-timeout!"
static SCM
comm_set_timeout_x(SCM comm, SCM seconds)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);

  par_comm_set_timeout(c, scm_is_true(seconds) ? scm_to_double(seconds) : 0);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "send"
static SCM
comm_send(SCM comm, SCM value, SCM dest)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  int to = to_rank(c, dest, 3, FUNC_NAME);
  par_wbuf buf = take_scratch();
  struct blocking_call call = {.fn = do_send, .comm = c, .root = to};

  scm_dynwind_begin(0);
  protect(&buf, NULL);
  par_scm_encode(value, &buf, FUNC_NAME);
  call.buf = buf.data;
  call.len = buf.len;
  call_blocking(&call, FUNC_NAME);
  scm_dynwind_end();
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "receive"
static SCM
comm_recv(SCM comm, SCM source)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  int from = to_rank(c, source, 2, FUNC_NAME);
  par_msg msg = PAR_MSG_INIT;
  struct blocking_call call = {.fn = do_recv, .comm = c, .root = from,
                               .msg = &msg};
  SCM result;

  scm_dynwind_begin(0);
  protect(NULL, &msg);
  call_blocking(&call, FUNC_NAME);
  result = par_scm_decode_msg(&msg, FUNC_NAME);
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

/* The next message sent to this process by any rank, as (SOURCE .
 * VALUE); if BLOCK is #f and none is ready, #f at once. */
#define FUNC_NAME "receive-any"
static SCM
comm_recv_any(SCM comm, SCM block)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  par_msg msg = PAR_MSG_INIT;
  struct blocking_call call = {.fn = do_recv_any, .comm = c,
                               .root = scm_is_true(block), .msg = &msg};
  SCM result = SCM_BOOL_F;

  scm_dynwind_begin(0);
  protect(NULL, &msg);
  if (call.root) {
    call_blocking(&call, FUNC_NAME);
  } else {
    /* A look that does not wait: "nothing yet" is an answer, not an
     * error. */
    call.rc = do_recv_any(&call);
    if (call.rc != PAR_ENOENT) {
      check_rc(c, call.rc, FUNC_NAME);
    }
  }
  if (call.rc == PAR_OK) {
    result = scm_cons(scm_from_int(call.rc_source),
                      par_scm_decode_msg(&msg, FUNC_NAME));
  }
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

#define FUNC_NAME "barrier"
static SCM
comm_barrier(SCM comm)
{
  struct blocking_call call = {.fn = do_barrier};

  call.comm = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  call_blocking(&call, FUNC_NAME);
  return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

#define FUNC_NAME "broadcast"
static SCM
comm_bcast(SCM comm, SCM value, SCM root)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  int from = to_rank(c, root, 3, FUNC_NAME);
  int self = par_comm_rank(c);
  par_wbuf buf = take_scratch();
  par_msg msg = PAR_MSG_INIT;
  struct blocking_call call = {.fn = do_bcast_bytes, .comm = c, .root = from,
                               .msg = &msg};
  SCM result = value;

  scm_dynwind_begin(0);
  protect(&buf, &msg);
  if (self == from) {
    par_scm_encode(value, &buf, FUNC_NAME);
    call.buf = buf.data;
    call.len = buf.len;
  }
  call_blocking(&call, FUNC_NAME);
  if (self != from) {
    result = par_scm_decode_msg(&msg, FUNC_NAME);
  }
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

/* CHUNKS is, on ROOT, a list of exactly SIZE values: chunk I goes to rank
 * I. Elsewhere it is ignored. */
#define FUNC_NAME "scatter"
static SCM
comm_scatter(SCM comm, SCM chunks, SCM root)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  int from = to_rank(c, root, 3, FUNC_NAME);
  int self = par_comm_rank(c), size = par_comm_size(c);
  par_wbuf buf = take_scratch();
  par_msg msg = PAR_MSG_INIT;
  size_t *counts = NULL;
  struct blocking_call call = {.fn = do_scatterv_bytes, .comm = c,
                               .root = from, .msg = &msg};
  SCM own = SCM_BOOL_F, result;

  scm_dynwind_begin(0);
  protect(&buf, &msg);
  if (self == from) {
    SCM rest = chunks;

    if (scm_ilength(chunks) != size) {
      par_scm_throw(FUNC_NAME, "expected ~a chunks, got ~s",
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
    call.buf = buf.data;
    call.counts_in = counts;
  }
  call_blocking(&call, FUNC_NAME);
  result = self == from ? own : par_scm_decode_msg(&msg, FUNC_NAME);
  scm_dynwind_end();
  return result;
}
#undef FUNC_NAME

static SCM
gather_common(SCM comm, SCM value, SCM root, int all, const char *subr)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, subr);
  int to = all ? 0 : to_rank(c, root, 3, subr);
  int self = par_comm_rank(c), size = par_comm_size(c);
  par_wbuf buf = take_scratch();
  par_msg msg = PAR_MSG_INIT;
  size_t *counts = scm_gc_malloc_pointerless(sizeof *counts * (size_t) size,
                                             "gather counts");
  struct blocking_call call = {.fn = all ? do_allgatherv_bytes
                                         : do_gatherv_bytes,
                               .comm = c, .root = to, .msg = &msg,
                               .counts_out = counts};
  SCM result = SCM_BOOL_F;

  scm_dynwind_begin(0);
  protect(&buf, &msg);
  par_scm_encode(value, &buf, subr);
  call.buf = buf.data;
  call.len = buf.len;
  call_blocking(&call, subr);
  if (all || self == to) {
    result = decode_parts(&msg, counts, size, self, value, subr);
  }
  scm_dynwind_end();
  return result;
}

static SCM
comm_gather(SCM comm, SCM value, SCM root)
{
  return gather_common(comm, value, root, 0, "gather");
}

static SCM
comm_allgather(SCM comm, SCM value)
{
  return gather_common(comm, value, SCM_BOOL_F, 1, "allgather");
}

/* --- Typed reductions ---------------------------------------------------- */

/* The runtime's element type of a uniform vector, or -1. */
static int
uniform_dtype(scm_t_array_element_type type)
{
  switch (type) {
  case SCM_ARRAY_ELEMENT_TYPE_VU8:
  case SCM_ARRAY_ELEMENT_TYPE_U8:
    return PAR_U8;
  case SCM_ARRAY_ELEMENT_TYPE_S8:
    return PAR_S8;
  case SCM_ARRAY_ELEMENT_TYPE_U16:
    return PAR_U16;
  case SCM_ARRAY_ELEMENT_TYPE_S16:
    return PAR_S16;
  case SCM_ARRAY_ELEMENT_TYPE_U32:
    return PAR_U32;
  case SCM_ARRAY_ELEMENT_TYPE_S32:
    return PAR_S32;
  case SCM_ARRAY_ELEMENT_TYPE_U64:
    return PAR_U64;
  case SCM_ARRAY_ELEMENT_TYPE_S64:
    return PAR_S64;
  case SCM_ARRAY_ELEMENT_TYPE_F32:
    return PAR_F32;
  case SCM_ARRAY_ELEMENT_TYPE_F64:
    return PAR_F64;
  case SCM_ARRAY_ELEMENT_TYPE_C32:
    return PAR_C32;
  case SCM_ARRAY_ELEMENT_TYPE_C64:
    return PAR_C64;
  default:
    return -1;
  }
}

/* Take a handle on VEC, which must be a contiguous uniform numeric vector,
 * and return its element type; raise an error from SUBR otherwise. Inside
 * a dynwind, the handle is released however the extent is left. */
static par_dtype
uniform_handle(SCM vec, scm_t_array_handle *h, const char *subr)
{
  int dtype;

  scm_array_get_handle(vec, h);
  dtype = uniform_dtype(h->element_type);
  if (dtype < 0 || scm_array_handle_rank(h) != 1
      || scm_array_handle_dims(h)[0].inc != 1) {
    scm_array_handle_release(h);
    par_scm_throw(subr, "expected a uniform numeric vector, got ~s",
                  scm_list_1(vec));
  }
  scm_dynwind_unwind_handler((void (*)(void *)) scm_array_handle_release, h,
                             SCM_F_WIND_EXPLICITLY);
  return (par_dtype) dtype;
}

/* Reduce the uniform vector VEC element-wise with the operator named OP
 * (sum, prod, min, max). Returns a fresh vector of VEC's type on the
 * receiving processes and #f elsewhere. */
static SCM
reduce_common(SCM comm, SCM op, SCM vec, SCM root, int all, const char *subr)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, subr);
  int to = all ? 0 : to_rank(c, root, 4, subr);
  scm_t_array_handle in, out;
  struct blocking_call call = {.fn = all ? do_allreduce : do_reduce,
                               .comm = c, .root = to};
  SCM result = SCM_BOOL_F;
  char *name;

  name = scm_to_utf8_string(scm_symbol_to_string(op));
  if (par_reduce_op_from_name(name, &call.op) != PAR_OK) {
    free(name);
    par_scm_throw(subr, "unknown reduction operator ~s", scm_list_1(op));
  }
  free(name);
  scm_dynwind_begin(0);
  call.type = uniform_handle(vec, &in, subr);
  call.count = scm_c_array_length(vec);
  call.buf = scm_array_handle_uniform_elements(&in);
  if (all || par_comm_rank(c) == to) {
    result = scm_make_typed_array(scm_array_type(vec), SCM_UNSPECIFIED,
                                  scm_list_1(scm_from_size_t(call.count)));
    uniform_handle(result, &out, subr);
    call.recvbuf = scm_array_handle_uniform_writable_elements(&out);
  }
  call_blocking(&call, subr);
  scm_dynwind_end();
  scm_remember_upto_here_2(vec, result);
  return result;
}

static int
do_bcast_typed(struct blocking_call *c)
{
  return par_comm_bcast(c->comm, c->root, c->recvbuf, c->count, c->type);
}

/* Broadcast the elements of ROOT's uniform vector VEC into every other
 * process's VEC, in place: no encoding and no allocation. The vectors
 * must agree in element type and length (checked by the runtime). */
#define FUNC_NAME "broadcast!"
static SCM
comm_broadcast_uniform_x(SCM comm, SCM vec, SCM root)
{
  par_comm *c = par_scm_unwrap_comm(comm, 1, FUNC_NAME);
  struct blocking_call call = {.fn = do_bcast_typed, .comm = c};
  scm_t_array_handle h;

  call.root = to_rank(c, root, 3, FUNC_NAME);
  scm_dynwind_begin(0);
  call.type = uniform_handle(vec, &h, FUNC_NAME);
  call.count = scm_c_array_length(vec);
  call.recvbuf = scm_array_handle_uniform_writable_elements(&h);
  call_blocking(&call, FUNC_NAME);
  scm_dynwind_end();
  scm_remember_upto_here_1(vec);
  return vec;
}
#undef FUNC_NAME

static SCM
comm_reduce_uniform(SCM comm, SCM op, SCM vec, SCM root)
{
  return reduce_common(comm, op, vec, root, 0, "reduce");
}

static SCM
comm_allreduce_uniform(SCM comm, SCM op, SCM vec)
{
  return reduce_common(comm, op, vec, SCM_BOOL_F, 1, "allreduce");
}

static SCM
uniform_reducible_p(SCM obj)
{
  scm_t_array_handle h;
  int ok;

  if (!scm_is_bytevector(obj) && !scm_is_array(obj)) {
    return SCM_BOOL_F;
  }
  scm_array_get_handle(obj, &h);
  ok = uniform_dtype(h.element_type) >= 0
       && scm_array_handle_rank(&h) == 1
       && scm_array_handle_dims(&h)[0].inc == 1;
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
  scm_c_define_gsubr("%make-serial-comm", 0, 0, 0, make_serial_comm);
  scm_c_define_gsubr("%comm?", 1, 0, 0, comm_p);
  scm_c_define_gsubr("%comm-rank", 1, 0, 0, comm_rank);
  scm_c_define_gsubr("%comm-size", 1, 0, 0, comm_size);
  scm_c_define_gsubr("%comm-backend", 1, 0, 0, comm_backend);
  scm_c_define_gsubr("%comm-close!", 1, 0, 0, comm_close_x);
  scm_c_define_gsubr("%comm-set-timeout!", 2, 0, 0, comm_set_timeout_x);
  scm_c_define_gsubr("%comm-abort", 2, 0, 0, comm_abort);
  scm_c_define_gsubr("%comm-send", 3, 0, 0, comm_send);
  scm_c_define_gsubr("%comm-receive", 2, 0, 0, comm_recv);
  scm_c_define_gsubr("%comm-receive-any", 2, 0, 0, comm_recv_any);
  scm_c_define_gsubr("%comm-barrier", 1, 0, 0, comm_barrier);
  scm_c_define_gsubr("%comm-broadcast", 3, 0, 0, comm_bcast);
  scm_c_define_gsubr("%comm-scatter", 3, 0, 0, comm_scatter);
  scm_c_define_gsubr("%comm-gather", 3, 0, 0, comm_gather);
  scm_c_define_gsubr("%comm-allgather", 2, 0, 0, comm_allgather);
  scm_c_define_gsubr("%comm-broadcast-uniform!", 3, 0, 0,
                     comm_broadcast_uniform_x);
  scm_c_define_gsubr("%comm-reduce-uniform", 4, 0, 0, comm_reduce_uniform);
  scm_c_define_gsubr("%comm-allreduce-uniform", 3, 0, 0,
                     comm_allreduce_uniform);
  scm_c_define_gsubr("%uniform-reducible?", 1, 0, 0, uniform_reducible_p);
}
