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
 */
#ifndef PAR_MP_INTERNAL_H
#define PAR_MP_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "comm-internal.h"
#include "par/mp.h"

#define MP_CACHELINE 64
#define MP_DETAIL_MAX 256

/* What a process waits on, published in its mp_proc for deadlock
 * detection (only once it goes to sleep, never while it spins). */
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

  mp_bcast bc;

  mp_proc procs[];
} mp_ctl;

typedef struct mp_ring {
  _Alignas(MP_CACHELINE) _Atomic uint32_t tail;
  _Atomic uint32_t prod_sleeping;
  _Alignas(MP_CACHELINE) _Atomic uint32_t head;
  _Atomic uint32_t cons_sleeping;
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

/* The communicator of G for this process (rank G->rank), allocated before
 * the fork by main and adopted by each worker. */
int par__mp_comm_create(par_mp_group *g, par_comm **out);

/* Called by the communicator's destroy when it goes away first. */
void par__mp_group_forget_comm(par_mp_group *g, par_comm *comm);

/* Let the communicator of G know that this process is RANK (workers after
 * the fork). */
void par__mp_comm_adopt(par_comm *comm, int rank);

#endif /* PAR_MP_INTERNAL_H */
