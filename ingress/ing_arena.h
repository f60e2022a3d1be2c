/* ing_arena: jansson's allocations during one route come from a bump
 * arena of the calling thread instead of malloc, and their frees cost
 * nothing. A projected body is ~50 members, each one to three jansson
 * allocations, all freed together when the route drops its tree.
 *
 * Rules: between ing_arena_begin and ing_arena_end on a thread, every
 * jansson value made there must be released by json_decref (and every
 * string jansson hands out, such as json_dumps's, by ing_arena_free or
 * jansson's own free function, never by free()) before ing_arena_end, and
 * none may be handed to another thread. Outside that window jansson
 * allocates with malloc as usual; an allocation beyond the arena's size
 * falls back to malloc too. Under AddressSanitizer the unused part of the
 * arena is poisoned, so a value used after its route is still caught. */
#ifndef ING_ARENA_H
#define ING_ARENA_H

#include <stdbool.h>
#include <stddef.h>

/* Installs the allocator into jansson; call once before any thread uses
 * jansson (ing_schemas_load does). Idempotent. */
void ing_arena_install(void);
/* This thread's allocations go to its arena (emptied first); false when
 * the arena is not installed or has no memory (then malloc is used). */
bool ing_arena_begin(void);
/* Back to malloc. */
void ing_arena_end(void);
/* Frees what jansson allocated (arena or malloc). */
void ing_arena_free(void *p);
/* Whether p lies in this thread's arena (tests). */
bool ing_arena_owns(const void *p);

#endif
