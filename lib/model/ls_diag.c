/* ls_diag: config diagnostics collected into one growable list. */
#include "ls_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_array.h"

void ls_diags_add(ls_diags *d, ls_diag_sev sev, const char *rule,
                  const char *path, const char *fmt, ...) {
  if (!LS_ARRAY_GROW(d->v, d->cap, d->n + 1))
    return; /* out of memory: the problem goes unreported, not the rest */
  ls_diag *g = &d->v[d->n++];
  g->sev = sev;
  snprintf(g->rule, sizeof g->rule, "%s", rule);
  snprintf(g->path, sizeof g->path, "%s", path);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->msg, sizeof g->msg, fmt, ap);
  va_end(ap);
}

size_t ls_diags_count(const ls_diags *d, ls_diag_sev sev) {
  size_t n = 0;
  for (size_t i = 0; i < d->n; i++)
    n += d->v[i].sev == sev;
  return n;
}

const ls_diag *ls_diags_first(const ls_diags *d, ls_diag_sev sev) {
  for (size_t i = 0; i < d->n; i++)
    if (d->v[i].sev == sev)
      return &d->v[i];
  return NULL;
}

const char *ls_diag_sev_name(ls_diag_sev sev) {
  return sev == LS_DIAG_WARNING ? "warning" : "error";
}

static int rank(ls_diag_sev s) {
  return s == LS_DIAG_WARNING ? 1 : 0;
}

void ls_diags_sort(ls_diags *d) {
  /* Insertion sort: stable, and lists are short. */
  for (size_t i = 1; i < d->n; i++) {
    ls_diag x = d->v[i];
    size_t j = i;
    while (j > 0) {
      const ls_diag *y = &d->v[j - 1];
      int c = rank(y->sev) - rank(x.sev);
      if (!c)
        c = strcmp(y->path, x.path);
      if (c <= 0)
        break;
      d->v[j] = d->v[j - 1];
      j--;
    }
    d->v[j] = x;
  }
}

void ls_diags_free(ls_diags *d) {
  free(d->v);
  d->v = NULL;
  d->n = d->cap = 0;
}
