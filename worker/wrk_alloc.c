/* wrk_alloc: glibc allocator bounds and release (see wrk_alloc.h). */
#include "wrk_alloc.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

void wrk_alloc_bounds(void) {
  const char *t = getenv("GLIBC_TUNABLES");
  if (t && strstr(t, "glibc.malloc."))
    return;
  /* A fixed threshold also stops glibc from raising it to the largest
   * block freed so far (up to 32 MiB), which is what kept 4 MiB fetch
   * responses in the heaps. */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_ARENA_MAX, 2);
}

void wrk_alloc_release(void) {
  malloc_trim(0);
}
