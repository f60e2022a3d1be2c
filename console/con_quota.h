/* con_quota: what each HubSpot portal has left. A background thread asks
 * every portal of the config for one cheap read a minute and keeps the
 * X-HubSpot-RateLimit-* headers of the answer (10 s window, daily
 * remaining); the read model adds the 429s the workers logged. */
#ifndef CON_QUOTA_H
#define CON_QUOTA_H

#include <jansson.h>

#include "ls_config.h"

typedef struct con_quota con_quota;

/* interval_s <= 0: never probe (the API then shows the configured limits
 * only). */
con_quota *con_quota_start(const ls_config *cfg, int interval_s);
/* {tenant: {"window_max","window_remaining","daily_max","daily_remaining",
 * "observed_at","http_status"}} of the last probe per tenant. */
json_t *con_quota_snapshot(con_quota *q);
void con_quota_stop(con_quota *q);

#endif
