/* ls_array: growing a plain C array (T *v; size_t n, cap) by doubling. One
 * helper instead of a realloc loop in every module. */
#ifndef LS_ARRAY_H
#define LS_ARRAY_H

#include <stdbool.h>
#include <stddef.h>

/* Makes v (any T *, may be NULL) hold at least need elements, doubling cap
 * from a first size of 16. True when it does; false when memory ran out
 * or the size would overflow, and then v and cap are unchanged, so the
 * elements already there stay valid. New elements are not initialised.
 *
 *   if (!LS_ARRAY_GROW(a->v, a->cap, a->n + 1))
 *     return LS_ERR_NOMEM;
 *   a->v[a->n++] = e;
 */
#define LS_ARRAY_GROW(v, cap, need)                                            \
  ((size_t)(need) <= (cap) ||                                                  \
   ls_array_grow((void *)&(v), &(cap), (size_t)(need), sizeof *(v)))

/* The slow path of LS_ARRAY_GROW. pv points at the T * to resize. */
bool ls_array_grow(void *pv, size_t *cap, size_t need, size_t elem)
    __attribute__((warn_unused_result));

#endif
