/* large-alloc.c — blocks of memory for large messages (see large-alloc.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "large-alloc.h"

#define HUGE_PAGE ((size_t) 2 << 20)

void *
par__malloc_large(size_t n)
{
  void *p;
  size_t span;

  if (n < PAR__LARGE_BYTES) {
    return malloc(n);
  }
  /* Whole huge pages from a huge-page boundary: a block that started or
   * ended inside one would fault its partial huge pages in 4 KiB at a
   * time, up to a thousand faults for a few bytes of the block. glibc
   * serves a block this large from a mapping of its own, so the rounding
   * costs address space, not memory. */
  if (n > SIZE_MAX - HUGE_PAGE) {
    return NULL;
  }
  span = (n + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  if (posix_memalign(&p, HUGE_PAGE, span) != 0) {
    return NULL;
  }
  /* Advice only: where the kernel declines, the block works the same. */
  (void) madvise(p, span, MADV_HUGEPAGE);
  return p;
}
