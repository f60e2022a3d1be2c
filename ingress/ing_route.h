/* ing_route: one webhook body through parse, checks and routing (no I/O). */
#ifndef ING_ROUTE_H
#define ING_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "ing_mask.h"
#include "ls_config.h"
#include "ls_err.h"
#include "ls_event.h"
#include "ls_schema.h"

/* One schema per known Smartlead event type, loaded once at start. */
typedef struct ing_schemas ing_schemas;

/* Loads <dir>/<EVENT_TYPE>.schema.json for every known type; NULL with
 * errstr naming the file when one is missing or unusable. */
ing_schemas *ing_schemas_load(const char *dir, char *errstr, size_t errlen);
void ing_schemas_free(ing_schemas *s);
/* NULL for LS_EV_UNKNOWN. */
const ls_schema *ing_schemas_get(const ing_schemas *s, ls_event_type t);

/* What to do with one body. */
typedef struct {
  ls_err err;          /* LS_OK: publish to ev.topic */
  bool quarantine;     /* a validation failure: copy the body to quarantine */
  bool have_event;     /* ev is filled (always on LS_OK) */
  bool scope_mismatch; /* client_id/campaign_id contradict the source scope */
  char drift[64];      /* non-empty: accepted although the schema failed at
                          this top-level field (leadsync_ingress_schema_drift_total)
                        */
  ls_event ev;
  char detail[300]; /* names the problem; never holds a secret */
  /* Where the body's secret_key values are, found by the same pass
   * (ing_mask_apply masks from it; not complete when the body did not
   * parse). */
  ing_mask_spans secrets;
} ing_verdict;

/* Checks a body that arrived on src's URL: UTF-8 and nesting depth, JSON,
 * object, secret_key, event_type, schema; then derives the event identity
 * and the scope check. Never fails hard: the verdict says what happened. */
void ing_route(const ing_schemas *schemas, const ls_source *src,
               const char *topic_prefix, int max_depth, const char *body,
               size_t len, ing_verdict *out);

/* The quarantine reason header value for a rejected verdict. */
const char *ing_quarantine_reason(ls_err e);

/* Scans bytes for valid UTF-8 and the JSON nesting depth outside strings.
 * LS_OK, LS_ERR_BAD_UTF8 or LS_ERR_TOO_DEEP. */
ls_err ing_scan(const char *p, size_t len, int max_depth, size_t *bad_at);

#endif
