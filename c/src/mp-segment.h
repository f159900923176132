/* mp-segment.h — large values by value, as memory segments that receivers
 * map copy-on-write. This file is private.
 *
 * A process that sends a large numeric vector to processes of its forked
 * group writes the elements once into a segment of its own (a memfd) and
 * sends only the segment's identity; each receiver maps the segment
 * MAP_PRIVATE and makes its vector over the mapping. The receiver's
 * vector is then its own at the cost of a mapping: reading it reads the
 * sender's pages, and the first write to each page gives the receiver a
 * private copy of that page, so that nobody sees another process's
 * writes.
 *
 * A segment is one header page (seg_header in mp-segment.c) and then
 * the elements, page-aligned. The segment cannot shrink or grow
 * (F_SEAL_SHRINK | F_SEAL_GROW): a mapping never reaches past its end.
 * The sender writes the elements again only to reuse the segment for a
 * later message, which it does only once every receiver of the earlier
 * one has mapped it and no receiver maps it any more (each counts its
 * mapping in the header, and par__seg_unmap uncounts it): a receiver's
 * vector never changes under it. Reuse spares the sender the kernel's
 * allocation of fresh pages, which costs more than the copy.
 *
 * Lifetime. A receiver opens the sender's descriptor through
 * /proc/PID/fd/FD, so the sender keeps it open until every receiver has
 * opened it: each receiver counts itself in the header's OPENED, and the
 * sender keeps the segments whose count is complete for reuse (up to a
 * bound, closing the others) whenever it makes a new one
 * (par__seg_create), a worker waits for its counts to complete before it
 * exits (unless no process that could open them still runs its job), and
 * main closes all of its own once the run is over (par__seg_release_all),
 * so that no segment is ever reused across a fork. The memory lives as
 * long as a descriptor or a mapping of it does; nothing has a name in
 * the file system, so nothing outlives the processes, whichever of them
 * is killed when.
 */
#ifndef PAR_MP_SEGMENT_H
#define PAR_MP_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "par/common.h"

/* Vectors of at least this many bytes travel as segments. Below it, a
 * copy through the rings costs less than making and mapping a segment. */
#define PAR__SEG_MIN_BYTES ((size_t) 1 << 20)

/* Where a segment's elements start. */
#define PAR__SEG_DATA ((size_t) 4096)

/* What a receiver needs to find a segment: the sender's PID and
 * descriptor FD, the segment's inode number INO (so that a descriptor
 * reused for something else is never taken for the segment) and the
 * length LEN of its elements in bytes. */
typedef struct par__seg_id {
  int32_t pid;
  int32_t fd;
  uint64_t ino;
  uint64_t len;
  uint64_t gen; /* Which message of the segment: it may carry several. */
} par__seg_id;

/* Sender. Make a segment holding the LEN bytes at DATA (LEN > 0) and
 * describe it in *OUT. The segment belongs to the calling thread's
 * current batch until par__seg_commit or par__seg_abandon. Returns PAR_OK,
 * PAR_ENOMEM or PAR_ESYS (par__seg_error_detail says which call failed).
 * Closes, first, every earlier segment whose receivers have all opened
 * it. */
PAR_EXTERN int par__seg_create(const void *data, size_t len,
                               par__seg_id *out);

/* Sender. The calling thread's batch position: segments made after it
 * are the ones that par__seg_commit and par__seg_abandon act on. */
PAR_EXTERN size_t par__seg_mark(void);

/* Sender. The segments of the batch made since MARK have been sent, each
 * to READERS processes (READERS > 0): they stay open until that many
 * receivers have opened them. */
PAR_EXTERN void par__seg_commit(size_t mark, uint32_t readers);

/* Sender. The segments of the batch made since MARK were not sent (the
 * encoding or the send failed): close them. */
PAR_EXTERN void par__seg_abandon(size_t mark);

/* Close every segment this process still keeps open for receivers: once
 * a run is over, its receivers have opened what they will ever open. */
PAR_EXTERN void par__seg_release_all(void);

/* Close the segments every receiver has opened; return whether none is
 * left open for receivers. */
PAR_EXTERN int par__seg_drained(void);

/* The number of segments this process keeps open for receivers (tests). */
PAR_EXTERN size_t par__seg_pending(void);

/* Receiver. Map the segment ID copy-on-write and count this process as
 * one of its receivers; *DATA is the first element, which par__seg_unmap
 * releases. Returns PAR_OK, PAR_ENOENT (the sender has ended or closed the
 * segment), PAR_EMALFORMED (ID does not name a segment of that length) or
 * PAR_ESYS. */
PAR_EXTERN int par__seg_map(const par__seg_id *id, void **data);

/* Receiver. Unmap the segment whose elements par__seg_map put at DATA. */
PAR_EXTERN void par__seg_unmap(void *data);

/* A sentence on the last failure of this thread's calls above. */
PAR_EXTERN const char *par__seg_error_detail(void);

#endif /* PAR_MP_SEGMENT_H */
