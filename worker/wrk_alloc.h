/* wrk_alloc: the worker's use of glibc's allocator, in one place: bounds
 * set at start, and the freed pages given back after a flush or a
 * restore. docs/worker.md "State" (bounded allocator). */
#ifndef WRK_ALLOC_H
#define WRK_ALLOC_H

/* Bounds glibc's allocator for the worker (call first thing in main, before
 * any thread starts): at most 2 arenas instead of 8 per core (librdkafka's
 * broker threads each kept an arena of freed fetch buffers), and blocks of
 * 128 KiB and more mmap()ed, so a fetch response or a flush buffer goes
 * back to the system when freed instead of staying in a heap. Skipped when
 * GLIBC_TUNABLES sets malloc tunables (an operator's choice wins). */
void wrk_alloc_bounds(void);
/* Gives pages freed in the middle of the heaps back to the system (a
 * finished flush frees thousands of events at once; a restore its fetch
 * buffers): only malloc_trim does that. */
void wrk_alloc_release(void);

#endif
