/* ing_variation: what the ingress counts about payload variation: schema
 * drift it let through and event types it does not know (docs/ingress.md
 * "Schema drift", "Unknown event types"). */
#ifndef ING_VARIATION_H
#define ING_VARIATION_H

#include "ing_route.h"
#include "ls_config.h"
#include "ls_metrics.h"

#define ING_M_DRIFT "leadsync_ingress_schema_drift_total"
#define ING_M_UNKNOWN "leadsync_ingress_unknown_events_total"

/* Declares both families at start (so /metrics shows them at 0). */
void ing_variation_declare(ls_metrics *m);
/* Counts a verdict's drift field and/or unknown type (src may be NULL). */
void ing_metrics_variation(ls_metrics *m, const ls_source *src,
                           const ing_verdict *v);

#endif
