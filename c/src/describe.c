/* describe.c — how the runtime's messages name operations and amounts.
 *
 * Every error detail that names an operation ("gather (collective #2)"),
 * an amount of data ("3 f64 elements") or two processes that are not in
 * step ("rank 1 is in gather (collective #2) but rank 0 sent scatter
 * (collective #2)") is written by the functions here, whichever backend
 * found the problem, so that the same situation reads the same
 * everywhere. The operation names are those of the Scheme procedures.
 */
#include <stdio.h>

#include "comm-internal.h"

const char *
par_opkind_name(par_opkind kind)
{
  switch (kind) {
#define PAR__OPKIND_NAME(name, str)                                         \
  case PAR_OPKIND_##name:                                                   \
    return str;
    PAR_OPKIND_MAP(PAR__OPKIND_NAME)
#undef PAR__OPKIND_NAME
  default:
    return "unknown";
  }
}

/* " rank 3", " any rank" or "" for the peer of a send or receive. */
static void
describe_peer(int peer, char *buf, size_t size)
{
  if (peer >= 0) {
    snprintf(buf, size, " rank %d", peer);
  } else if (peer == PAR__PEER_ANY) {
    snprintf(buf, size, " any rank");
  } else {
    buf[0] = '\0';
  }
}

const char *
par__op_describe(const par__op *op, char *buf, size_t size)
{
  char peer[32];

  if (op->kind == PAR__OPKIND_RECV) {
    describe_peer(op->peer, peer, sizeof peer);
    snprintf(buf, size, "receive-from%s", peer);
  } else if (op->kind == PAR_OPKIND_SEND && op->seq > 0) {
    snprintf(buf, size, "a message (%s #%u)",
             par_opkind_name(PAR_OPKIND_SEND), op->seq);
  } else if (op->kind == PAR_OPKIND_SEND) {
    describe_peer(op->peer, peer, sizeof peer);
    snprintf(buf, size, "%s%s", par_opkind_name(PAR_OPKIND_SEND), peer);
  } else {
    snprintf(buf, size, "%s (collective #%u)",
             par_opkind_name((par_opkind) op->kind), op->seq);
  }
  return buf;
}

const char *
par__type_describe(uint32_t type, char *buf, size_t size)
{
  if (type == PAR__BYTES) {
    snprintf(buf, size, "bytes");
  } else if (type < PAR_DTYPE_COUNT) {
    snprintf(buf, size, "%s elements", par_dtype_name((par_dtype) type));
  } else {
    snprintf(buf, size, "elements of unknown type %u", type);
  }
  return buf;
}

#define KIND_TEXT_UINT "unsigned integers"
#define KIND_TEXT_SINT "signed integers"
#define KIND_TEXT_FLOAT "real numbers"
#define KIND_TEXT_COMPLEX "complex numbers"

const char *
par__kind_describe(par_dtype type)
{
  switch (type) {
#define PAR__DTYPE_KIND(NAME, name, ctype, n, KIND, tag, mpi)               \
  case PAR_##NAME:                                                          \
    return KIND_TEXT_##KIND;
    PAR_DTYPE_MAP(PAR__DTYPE_KIND)
#undef PAR__DTYPE_KIND
  default:
    return "elements of an unknown type";
  }
}

const char *
par__amount_describe(uint64_t bytes, uint32_t type, char *buf, size_t size)
{
  size_t esize = type < PAR_DTYPE_COUNT ? par_dtype_size((par_dtype) type)
                                        : 1;
  char what[48];

  par__type_describe(type, what, sizeof what);
  if (type == PAR__BYTES || (type < PAR_DTYPE_COUNT && bytes % esize == 0)) {
    snprintf(buf, size, "%llu %s", (unsigned long long) (bytes / esize),
             what);
  } else {
    snprintf(buf, size, "%llu bytes of %s", (unsigned long long) bytes,
             what);
  }
  return buf;
}

/* Append " WORD" to TEXT, of which USED of SIZE bytes are in use, unless
 * WORD is NULL; return the new length, at most SIZE - 1. */
static size_t
append(char *text, size_t size, size_t used, const char *word)
{
  if (word != NULL && used < size) {
    used += (size_t) snprintf(text + used, size - used, " %s", word);
  }
  return used < size ? used : size - 1;
}

int
par__comm_mismatch(par_comm *comm, int code, const par__op *mine,
                   const char *mine_extra, int peer, const char *verb,
                   const par__op *theirs, const char *theirs_extra)
{
  char text[sizeof comm->detail], op[64], who[32];
  size_t n;

  /* Short enough to fit whatever the numbers are. */
  n = (size_t) snprintf(text, sizeof text, "rank %d is in %s", comm->rank,
                        par__op_describe(mine, op, sizeof op));
  n = append(text, sizeof text, n, mine_extra);
  snprintf(who, sizeof who, "but rank %d", peer);
  n = append(text, sizeof text, n, who);
  n = append(text, sizeof text, n, verb);
  if (theirs != NULL) {
    n = append(text, sizeof text, n,
               par__op_describe(theirs, op, sizeof op));
  }
  append(text, sizeof text, n, theirs_extra);
  return par__comm_fail(comm, code, "%s", text);
}
