/* ls_array: the doubling behind LS_ARRAY_GROW. */
#include "ls_array.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool ls_array_grow(void *pv, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return true;
  size_t nc = *cap ? *cap : 16;
  while (nc < need) {
    if (nc > SIZE_MAX / 2)
      return false;
    nc *= 2;
  }
  if (elem && nc > SIZE_MAX / elem)
    return false;
  /* pv is the address of some T *: read and write it as bytes, so the
   * pointer keeps its own type (no T ** -> void ** aliasing). */
  void *old;
  memcpy(&old, pv, sizeof old);
  void *grown = realloc(old, nc * elem);
  if (!grown)
    return false;
  memcpy(pv, &grown, sizeof grown);
  *cap = nc;
  return true;
}
