/* ls_diag: a list of config diagnostics, each with a JSON path, a rule name
 * and a message, so one pass can report every problem it finds. */
#ifndef LS_DIAG_H
#define LS_DIAG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
  /* The config is wrong: every process refuses it at start. */
  LS_DIAG_FATAL,
  /* Wrong for one process only, or something it names cannot be found
   * here (a token variable unset, a token file unreadable, no HubSpot
   * settings, a body that cannot fit a Kafka message): `leadsync config
   * check` fails; the daemons load it, and the one that needs it refuses
   * it itself (the ingress: body sizes) or copes (the worker sends that
   * tenant's events to the DLQ). */
  LS_DIAG_ERROR,
  /* Works, but probably not as meant. */
  LS_DIAG_WARNING,
} ls_diag_sev;

typedef struct {
  ls_diag_sev sev;
  char rule[48];  /* stable name: "unknown_key", "portal_share_sum", ... */
  char path[256]; /* "$.worker.batch_max"; "$" for the whole file */
  char msg[512];  /* never quotes a secret */
} ls_diag;

typedef struct {
  ls_diag *v;
  size_t n, cap;
} ls_diags;

void ls_diags_add(ls_diags *d, ls_diag_sev sev, const char *rule,
                  const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Problems of that severity. */
size_t ls_diags_count(const ls_diags *d, ls_diag_sev sev);
/* The first problem of that severity, NULL when none. */
const ls_diag *ls_diags_first(const ls_diags *d, ls_diag_sev sev);
/* "error" (fatal and error) or "warning". */
const char *ls_diag_sev_name(ls_diag_sev sev);
/* Sorted: fatal and errors first, then by path, then rule (stable). */
void ls_diags_sort(ls_diags *d);
void ls_diags_free(ls_diags *d);

#endif
