/* large-alloc.c — blocks of memory for large messages (see large-alloc.h).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* Whether at least 7/8 of the huge page at P is resident: only such
 * ranges are collapsed, so that a sparse mapping (a thread's stack, a
 * heap section the collector has given back) is not filled in. */
static int
mostly_resident(void *p)
{
  unsigned char vec[HUGE_PAGE / 4096];
  size_t resident = 0;

  if (mincore(p, HUGE_PAGE, vec) != 0) {
    return 0;
  }
  for (size_t i = 0; i < sizeof vec; i++) {
    resident += vec[i] & 1;
  }
  return resident >= sizeof vec / 8 * 7;
}

void
par__collapse_anon(void)
{
  FILE *maps = fopen("/proc/self/maps", "re");
  char line[512];

  if (maps == NULL) {
    return;
  }
  while (fgets(line, sizeof line, maps) != NULL) {
    uintptr_t start, end, offset;
    char perms[8], path[256] = "";
    unsigned long inode;

    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %" SCNxPTR
               " %*s %lu %255s", &start, &end, perms, &offset, &inode,
               path) < 5) {
      continue;
    }
    /* Private, writable, anonymous: the collector's heap, malloc's
     * arenas. */
    if (strcmp(perms, "rw-p") != 0 || inode != 0
        || (path[0] != '\0' && strcmp(path, "[heap]") != 0)) {
      continue;
    }
    start = (start + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    end = end / HUGE_PAGE * HUGE_PAGE;
    for (uintptr_t p = start; p < end; p += HUGE_PAGE) {
      /* Advice only: where the kernel declines (no transparent huge
       * pages, no memory to compact), the range stays as it was. */
      if (mostly_resident((void *) p)) {
        (void) madvise((void *) p, HUGE_PAGE, MADV_HUGEPAGE);
        (void) madvise((void *) p, HUGE_PAGE, MADV_COLLAPSE);
      }
    }
  }
  fclose(maps);
}
