/* mp-internal.h — the shared memory of a forked group. This file is private.
 *
 * One MAP_SHARED | MAP_ANONYMOUS mapping holds, page-aligned in order:
 *
 *   mp_ctl     the control block: abort flag, barrier, deadlock epoch,
 *              one mp_proc per rank (pid, exit report, what it waits on)
 *   mp_ring    NPROCS * NPROCS ring headers, index SRC * NPROCS + DST
 *   data       NPROCS * NPROCS rings of RING_BYTES, same index
 *   reports    NPROCS report slots of REPORT_BYTES
 *   bcast      one ring of BCAST_BYTES shared by the whole group
 *
 * The diagonal (SRC == DST) is never used; it only costs address space,
 * since untouched pages of an anonymous mapping take no memory.
 *
 * A ring is a byte stream with free-running 32-bit counters: TAIL counts
 * bytes written by the producer, HEAD bytes consumed; TAIL - HEAD (mod
 * 2^32) bytes are readable. Each counter is written by one process only
 * and sits on its own cache line. The counters double as futex words: a
 * consumer sleeps on TAIL, a producer on HEAD, after raising its SLEEPING
 * flag so that the other side knows to wake it.
 *
 * The broadcast ring has one producer at a time (the root of the current
 * broadcast, which claims it through WRITER) and every other process as a
 * consumer with its own head (mp_proc.bc_head): the root writes a payload
 * once, however many processes read it. Since collectives run in the same
 * order everywhere, the stream is one sequence of frames whose producer
 * changes from one broadcast to the next.
 *
 * The communicator of a group is made of four files: mp-comm.c (life
 * cycle, barrier, abort), mp-wait.c (waiting, and the liveness and
 * deadlock checks made while waiting), mp-ring.c (one cursor for every
 * end of every ring, and the pairwise channels) and mp-bcast.c (the
 * broadcast ring). Their shared state is at the end of this file.
 */
#ifndef PAR_MP_INTERNAL_H
#define PAR_MP_INTERNAL_H

#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "comm-internal.h"
#include "par/mp.h"

#define MP_CACHELINE 64
#define MP_DETAIL_MAX 256

/* Where the counters of every ring start: just below 2^32, so that every
 * group crosses the wrap of its 32-bit counters within its first 64 KiB
 * on each ring, where a slip in the modular arithmetic shows at once
 * rather than after 4 GiB. */
#define MP_RING_ORIGIN ((uint32_t) 0 - ((uint32_t) 1 << 16))

/* What a process waits on, published in its mp_proc for deadlock
 * detection (only once it goes to sleep, never while it spins). The four
 * kinds that wait at a ring (RECV, SEND, BC_RECV, BC_SEND) also name the
 * four ends of rings that mp-ring.c moves data through. */
enum mp_wait_kind {
  MP_WAIT_NONE = 0,
  MP_WAIT_RECV,    /* PEER's ring to us holds fewer than NEED bytes */
  MP_WAIT_SEND,    /* our ring to PEER has less than NEED bytes free */
  MP_WAIT_BARRIER, /* the barrier generation is still NEED */
  MP_WAIT_JOIN,    /* main waits for workers to exit */
  MP_WAIT_BC_RECV, /* the broadcast ring holds fewer than NEED bytes */
  MP_WAIT_BC_SEND, /* it has less than NEED bytes free */
  MP_WAIT_BC_CLAIM, /* another root still holds it */
  MP_WAIT_RECV_ANY  /* no peer's ring to us holds NEED bytes */
};

/* Exit state of a process, in mp_proc.exit_state. */
enum mp_exit_state {
  MP_RUNNING = 0,
  MP_REPORTED /* the report is written; the process is about to _exit */
};

typedef struct mp_proc {
  _Alignas(MP_CACHELINE) _Atomic int32_t pid;
  _Atomic uint32_t exit_state;
  int32_t report_status;
  uint32_t report_truncated;
  uint64_t report_len;
  /* Deadlock detection: WAIT_KIND is stored last on entry and first on
   * exit, and every change bumps mp_ctl.epoch. */
  _Atomic uint32_t wait_kind;
  _Atomic int32_t wait_peer;
  _Atomic uint32_t wait_need;
  _Atomic uint32_t wait_op;  /* the operation (par_opkind) being run */
  _Atomic uint32_t wait_seq; /* and its collective number */
  /* The collective number this process entered the barrier with. */
  uint32_t bar_seq;
  /* Bytes of the broadcast ring this process has consumed. */
  _Atomic uint32_t bc_head;
} mp_proc;

typedef struct mp_bcast {
  _Alignas(MP_CACHELINE) _Atomic uint32_t tail;
  _Atomic uint32_t writer; /* 0, or 1 + the rank of the root writing */
  _Atomic uint32_t claim_sleeping;
  _Atomic uint32_t cons_sleeping;
  /* Consumers bump it after moving their head when the root sleeps. */
  _Alignas(MP_CACHELINE) _Atomic uint32_t progress;
  _Atomic uint32_t prod_sleeping;
} mp_bcast;

typedef struct mp_ctl {
  uint32_t nprocs;
  uint32_t ring_bytes;
  uint64_t report_bytes;

  /* 0: running; 1: an abort is being recorded; 2: aborted, ABORT_DETAIL
   * is complete. Processes check it whenever they wake up. */
  _Alignas(MP_CACHELINE) _Atomic uint32_t aborted;
  int32_t abort_rank;
  int32_t abort_code;
  char abort_detail[MP_DETAIL_MAX];

  /* Sense-reversing barrier: arrivals count up to NPROCS, the last one
   * resets the count and bumps the generation, which is the futex word
   * the others sleep on. */
  _Alignas(MP_CACHELINE) _Atomic uint32_t bar_count;
  _Alignas(MP_CACHELINE) _Atomic uint32_t bar_gen;
  _Atomic uint32_t bar_sleepers;
  /* Set by the last arrival before it bumps the generation: 0, or 1 + the
   * rank whose collective number differed from the last arrival's. */
  uint32_t bar_result;

  /* Bumped by every change of a wait_kind and by every exit. */
  _Alignas(MP_CACHELINE) _Atomic uint32_t epoch;

  /* Bumped (and woken) by each worker that delivers its report, so that
   * join sleeps on it. */
  _Alignas(MP_CACHELINE) _Atomic uint32_t exits;
  /* Set once main has ended its job and joins: it decodes nothing more. */
  _Atomic uint32_t main_joined;

  mp_bcast bc;

  mp_proc procs[];
} mp_ctl;

/* The counters of a ring, each on its own cache line beside the flag of
 * whoever sleeps waiting for it to move: whoever moves a counter then
 * looks at that flag in the line it already holds. */
typedef struct mp_ring {
  _Alignas(MP_CACHELINE) _Atomic uint32_t tail;
  _Atomic uint32_t cons_sleeping;
  _Alignas(MP_CACHELINE) _Atomic uint32_t head;
  _Atomic uint32_t prod_sleeping;
} mp_ring;

/* Reaping state of a worker, kept by main only. */
typedef struct mp_child {
  pid_t pid;
  int reaped;    /* waitpid has collected it */
  int wstatus;   /* its wait status, once reaped */
  int stopped;   /* we killed it */
} mp_child;

struct par_mp_group {
  int nprocs;
  int rank;         /* this process's rank; 0 before the fork */
  int forked;       /* workers of the current fork may be running */
  pid_t main_pid;
  double timeout;
  size_t ring_bytes;
  size_t report_bytes;
  pid_t (*fork_fn)(void *data); /* fork(2) or the caller's own */
  void *fork_data;
  size_t bcast_bytes;

  void *base;       /* the mapping */
  size_t map_len;
  mp_ctl *ctl;
  mp_ring *rings;
  unsigned char *data;
  unsigned char *reports;
  unsigned char *bdata;

  mp_child *children; /* main: NPROCS entries, 0 unused */
  par_comm *comm;     /* this process's endpoint, NULL when none */
  char detail[MP_DETAIL_MAX];
};

static inline mp_ring *par__mp_ring(par_mp_group *g, int src, int dst)
{
  return &g->rings[(size_t)src * g->nprocs + dst];
}

static inline unsigned char *par__mp_ring_data(par_mp_group *g, int src,
                                               int dst)
{
  return g->data + ((size_t)src * g->nprocs + dst) * g->ring_bytes;
}

/* Futex helpers on a shared (not private) 32-bit word. */
int par__mp_futex_wait(_Atomic uint32_t *word, uint32_t expected,
                       double seconds);
void par__mp_futex_wake(_Atomic uint32_t *word, int count);

/* Record an abort of the group by RANK (first caller wins) and wake every
 * sleeper. DETAIL is a printf format. */
void par__mp_abort_group(par_mp_group *g, int rank, int code,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Wake every process sleeping on any futex of the group. */
void par__mp_wake_all(par_mp_group *g);

/* Main only: has worker RANK finished? Without reaping (WNOWAIT), so that
 * join still collects it. Returns 0 while it runs, 1 once it has exited,
 * with *SIGNO (0 or the killing signal) and *CODE (exit code). */
int par__mp_peek_child(par_mp_group *g, int rank, int *signo, int *code);

/* Describe how RANK ended, for error details: "rank 2 (pid 1234) was
 * killed by signal 9 (Killed)". KNOWN says whether SIGNO/CODE are valid
 * (main) or not (workers, who cannot wait for a sibling). */
void par__mp_describe_end(par_mp_group *g, int rank, int known, int signo,
                          int code, char *buf, size_t size);

/* Record a sentence for par_mp_group_error_detail and return CODE. */
int par__mp_group_fail(par_mp_group *g, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* PAR_OK if this process may WHAT ("fork the group") with G: only main
 * may, and, unless ANY_TIME, only when no worker of the last fork runs.
 * Otherwise PAR_EINVAL, with a sentence in G's detail (G NULL: none). */
int par__mp_group_check(par_mp_group *g, int any_time, const char *what);

/* The communicator of G for this process (rank G->rank), allocated before
 * the fork by main and adopted by each worker. */
int par__mp_comm_create(par_mp_group *g, par_comm **out);

/* Called by the communicator's destroy when it goes away first. */
void par__mp_group_forget_comm(par_mp_group *g, par_comm *comm);

/* Let the communicator of G know that this process is RANK (workers after
 * the fork). */
void par__mp_comm_adopt(par_comm *comm, int rank);

/* --- The communicator ---------------------------------------------------- */

/* One process's end of a ring: the counter it moves (the tail it writes,
 * or the head up to which it has read) and the other end's counter as it
 * last read it. Both count bytes and wrap at 2^32. */
typedef struct mp_cursor {
  uint32_t pos;
  uint32_t seen;
  int broken; /* a transfer stopped half-way: the stream is unusable */
} mp_cursor;

/* A process's state in the communicator of its group (COMM->impl). */
typedef struct mp_comm {
  par_mp_group *g;
  par_comm *comm;
  int rank;
  int size;
  double spin;        /* seconds a wait spins before it sleeps */
  mp_cursor *out;     /* SIZE cursors: our end of the ring rank -> peer */
  mp_cursor *in;      /* SIZE cursors: our end of the ring peer -> rank */
  mp_cursor bc;       /* our end of the broadcast ring */
  int last_any;       /* the peer recv_any served last */
  int *pidfds;        /* workers: a pidfd per sibling, -1 until opened */
  struct pollfd *pfds;
} mp_comm;

/* mp-wait.c: wait until process M's condition KIND on PEER with NEED (see
 * enum mp_wait_kind) holds. Spins for a while, then sleeps on the futex
 * word the other side changes, checking every few milliseconds the
 * interrupt check, the timeout, the group's abort flag, the liveness of
 * peers and whether the whole group is deadlocked, any of which ends the
 * wait with an error and a detail on M's communicator. Writes nothing to
 * shared memory but what it publishes for deadlock detection: the caller
 * changes the condition of others only after it returns, which is what
 * makes the detection sound. */
int par__mp_wait(mp_comm *m, int kind, int peer, uint32_t need);

/* mp-wait.c: wake whoever sleeps on WORD, if SLEEPERS says anyone does. */
void par__mp_wake_if_sleeping(_Atomic uint32_t *sleepers,
                              _Atomic uint32_t *word);

/* --- Ring arithmetic, inline for waits that spin on it ------------------ */

/* Whether end KIND (a ring kind of enum mp_wait_kind) writes its ring. */
static inline int
par__mp_is_producer(int kind)
{
  return kind == MP_WAIT_SEND || kind == MP_WAIT_BC_SEND;
}

/* The counter that end KIND of process WHO moves: a pairwise ring's tail
 * (towards PEER) or head (from PEER), the broadcast ring's tail, or WHO's
 * own head in it. */
static inline _Atomic uint32_t *
par__mp_own_counter(par_mp_group *g, int who, int kind, int peer)
{
  switch (kind) {
  case MP_WAIT_SEND:
    return &par__mp_ring(g, who, peer)->tail;
  case MP_WAIT_RECV:
    return &par__mp_ring(g, peer, who)->head;
  case MP_WAIT_BC_SEND:
    return &g->ctl->bc.tail;
  default:
    return &g->ctl->procs[who].bc_head;
  }
}

/* The counter of the end that end KIND of process WHO faces (acquire).
 * The broadcast root faces every consumer at once: its other end is the
 * head of the slowest of them, found from how far each is behind the tail
 * (the root keeps its own head at the tail, so it counts as caught up). */
static inline uint32_t
par__mp_other_counter(par_mp_group *g, int who, int kind, int peer)
{
  uint32_t tail, behind, most = 0;

  switch (kind) {
  case MP_WAIT_SEND:
    return atomic_load_explicit(&par__mp_ring(g, who, peer)->head,
                                memory_order_acquire);
  case MP_WAIT_RECV:
    return atomic_load_explicit(&par__mp_ring(g, peer, who)->tail,
                                memory_order_acquire);
  case MP_WAIT_BC_SEND:
    tail = atomic_load(&g->ctl->bc.tail);
    for (int q = 0; q < g->nprocs; q++) {
      behind = tail - atomic_load_explicit(&g->ctl->procs[q].bc_head,
                                           memory_order_acquire);
      most = behind > most ? behind : most;
    }
    return tail - most;
  default:
    return atomic_load_explicit(&g->ctl->bc.tail, memory_order_acquire);
  }
}

/* Room at an end whose own counter is MINE and whose other end's is
 * THEIRS, in a ring of SIZE bytes: free bytes for a producer (the tail is
 * MINE), readable ones for a consumer (the tail is THEIRS). */
static inline uint32_t
par__mp_room_between(int kind, uint32_t size, uint32_t mine,
                     uint32_t theirs)
{
  return par__mp_is_producer(kind) ? size - (mine - theirs) : theirs - mine;
}

static inline uint32_t
par__mp_ring_size(par_mp_group *g, int kind)
{
  return (uint32_t) (kind == MP_WAIT_BC_SEND || kind == MP_WAIT_BC_RECV
                         ? g->bcast_bytes
                         : g->ring_bytes);
}

/* The bytes of room that process WHO's end KIND of the ring it shares with
 * PEER has, read from shared memory: free bytes for a producer, readable
 * ones for a consumer. The counters are read one after the other, so when
 * another process than WHO asks, the answer is a snapshot that may already
 * be stale; the own counter is read first, so that for a consumer the tail
 * read after it is at least the head, and a snapshot never shows a
 * negative amount. */
static inline uint32_t
par__mp_room(par_mp_group *g, int who, int kind, int peer)
{
  uint32_t mine = atomic_load(par__mp_own_counter(g, who, kind, peer));

  return par__mp_room_between(kind, par__mp_ring_size(g, kind), mine,
                              par__mp_other_counter(g, who, kind, peer));
}

/* mp-ring.c: an end of a ring, open for one operation. */
typedef struct mp_end {
  int kind;            /* MP_WAIT_SEND, _RECV, _BC_SEND or _BC_RECV */
  int peer;            /* the other end's rank (the root, for BC_RECV) */
  mp_cursor *cur;      /* this process's cursor at this end */
  unsigned char *data; /* the ring's bytes */
  uint32_t size;       /* how many: a power of two */
  uint32_t shown;      /* the cursor's position as last published */
} mp_end;

/* Open M's end KIND of the ring shared with PEER (ignored for BC_SEND). */
void par__mp_end_open(mp_comm *m, mp_end *e, int kind, int peer);

/* Make what E has read or written visible to the other end of its ring,
 * if it has not been yet, and wake that end if it sleeps. */
void par__mp_end_publish(mp_comm *m, mp_end *e);

/* PAR_OK, or PAR_EABORTED with a detail if an earlier transfer stopped
 * half-way through E's stream, which is then unusable. */
int par__mp_end_usable(mp_comm *m, const mp_end *e);

/* Producer: write the frame HDR + LEN bytes of BUF at E. A frame that fits
 * in the ring is published at once; a larger one streams in pieces of a
 * quarter of the ring, so that the consumer copies one out while the next
 * goes in. A failure after some bytes went in breaks the stream. */
int par__mp_write_frame(mp_comm *m, mp_end *e, const par__hdr *hdr,
                        const void *buf, size_t len);

/* Consumer: read the next frame's header at E. The whole header is there
 * before any of it is consumed, so that a timeout or an interrupt while
 * waiting for it leaves the stream usable. The header counts as read for
 * the producer once the payload is read (par__mp_read, _read_payload) or
 * E is published. */
int par__mp_read_header(mp_comm *m, mp_end *e, par__hdr *hdr);

/* Consumer: read N bytes of payload into BUF (NULL drops them), and
 * publish what E has read. A failure breaks the stream. */
int par__mp_read(mp_comm *m, mp_end *e, void *buf, size_t n);

/* Consumer: read the payload of the frame whose header HDR was just read
 * into a new malloc'ed block that *OUT then owns. Without memory the
 * payload is read and dropped, so that the stream stays in step, and the
 * result is PAR_ENOMEM. */
int par__mp_read_payload(mp_comm *m, mp_end *e, const par__hdr *hdr,
                         par_msg *out);

/* mp-ring.c and mp-bcast.c: the slots of par__comm_ops they fill. */
int par__mp_send(par_comm *comm, int dest, const par__hdr *hdr,
                 const void *buf, size_t len);
int par__mp_recv(par_comm *comm, int source, par__hdr *hdr, par_msg *out);
int par__mp_recv_any(par_comm *comm, int block, int *source, par__hdr *hdr,
                     par_msg *out);
int par__mp_bcast_bytes(par_comm *comm, int root, const void *buf,
                        size_t len, par_msg *out);
int par__mp_bcast(par_comm *comm, int root, void *buf, size_t count,
                  par_dtype type);

#endif /* PAR_MP_INTERNAL_H */
