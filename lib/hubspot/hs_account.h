/* hs_account: the portal facts leadsync needs from HubSpot's account-info
 * API: the time zone the daily limit resets in (docs/hubspot-client.md). */
#ifndef HS_ACCOUNT_H
#define HS_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_client.h"

/* GET /account-info/v3/details: timeZone and utcOffsetMilliseconds (the
 * offset now; documented since 2019 for /integrations/v1/me and required
 * in the v3 schema). false with errstr (status, category, message; never
 * the token) when the call fails or the answer has no offset. */
bool hs_account_time_zone(hs_transport *tp, const hs_target *tgt,
                          const hs_policy *pol, char *tz, size_t tzlen,
                          int64_t *offset_ms, char *errstr, size_t errlen);

#endif
