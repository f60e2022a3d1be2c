/* ing_arena: a per-thread bump arena behind jansson's allocator. */
#include "ing_arena.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define ING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ING_ASAN 1
#endif
#endif
#ifdef ING_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* 64 KiB: the largest shared sample projects into about 6 KiB. */
#define ARENA_SIZE (64u * 1024u)

typedef struct {
  char *base, *cur, *end;
  bool on;
} arena;

static _Thread_local arena t_arena;
static pthread_key_t arena_key; /* frees a thread's arena when it ends */
static bool arena_key_ok;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void *arena_malloc(size_t n) {
  arena *a = &t_arena;
  if (a->on) {
    size_t need = (n + 15) & ~(size_t)15;
    if (need >= n && (size_t)(a->end - a->cur) >= need) {
      void *p = a->cur;
      a->cur += need;
      UNPOISON(p, n);
      return p;
    }
  }
  return malloc(n);
}

bool ing_arena_owns(const void *p) {
  const arena *a = &t_arena;
  return a->base && (const char *)p >= a->base && (const char *)p < a->end;
}

static void arena_free(void *p) {
  if (!p || ing_arena_owns(p))
    return; /* the arena is emptied as a whole by the next begin */
  free(p);
}

void ing_arena_free(void *p) {
  arena_free(p);
}

static void arena_release(void *base) {
  if (base) {
    UNPOISON(base, ARENA_SIZE);
    free(base);
  }
}

static void install(void) {
  arena_key_ok = pthread_key_create(&arena_key, arena_release) == 0;
  if (arena_key_ok)
    json_set_alloc_funcs(arena_malloc, arena_free);
}

void ing_arena_install(void) {
  pthread_once(&install_once, install);
}

bool ing_arena_begin(void) {
  arena *a = &t_arena;
  if (!arena_key_ok)
    return false;
  if (!a->base) {
    char *b = malloc(ARENA_SIZE);
    if (!b)
      return false;
    if (pthread_setspecific(arena_key, b) != 0) {
      free(b);
      return false;
    }
    a->base = b;
    a->end = b + ARENA_SIZE;
  }
  a->cur = a->base;
  POISON(a->base, ARENA_SIZE);
  a->on = true;
  return true;
}

void ing_arena_end(void) {
  t_arena.on = false;
}
