/* large-alloc.h — blocks of memory for large messages. This file is
 * private.
 *
 * A large message's payload, a received vector or a gathered result is
 * usually written once into memory that nothing touched before, and every
 * fresh page costs a page fault: on a virtual machine several microseconds
 * each, so that receiving 40 MB into a new malloc block takes longer
 * than copying it many times over. par__malloc_large hands out blocks that
 * the kernel backs with transparent huge pages where it allows them (one
 * fault per 2 MiB instead of 512), and that free(3) releases like any
 * other: a caller that used malloc changes nothing else.
 */
#ifndef PAR_LARGE_ALLOC_H
#define PAR_LARGE_ALLOC_H

#include <stddef.h>

#include "par/common.h"

/* Blocks of at least this many bytes are aligned and advised as below;
 * smaller ones are plain malloc blocks. */
#define PAR__LARGE_BYTES ((size_t) 2 << 20)

/* A block of N bytes (N > 0) that free(3) releases, or NULL without
 * memory. From PAR__LARGE_BYTES on, it starts on a 2 MiB boundary and
 * spans whole 2 MiB units, advised MADV_HUGEPAGE, so that its first
 * touches fault in huge pages where transparent huge pages are enabled
 * for advised memory ("madvise" or "always" in
 * /sys/kernel/mm/transparent_hugepage/enabled); elsewhere the advice is
 * ignored and it is an ordinary block. */
PAR_EXTERN void *par__malloc_large(size_t n);

#endif /* PAR_LARGE_ALLOC_H */
