/* hs_account: the portal's time zone from account-info (hs_account.h). */
#include "hs_account.h"

#include <stdio.h>
#include <string.h>

bool hs_account_time_zone(hs_transport *tp, const hs_target *tgt,
                          const hs_policy *pol, char *tz, size_t tzlen,
                          int64_t *offset_ms, char *errstr, size_t errlen) {
  hs_req *r =
      hs_req_new(tgt, "GET", "/account-info/v3/details", "account_info", NULL);
  if (!r) {
    snprintf(errstr, errlen, "out of memory");
    return false;
  }
  hs_run1(tp, r, pol);
  bool ok = false;
  if (r->state == HS_R_DONE && r->cls == HS_C_OK) {
    json_t *b = hs_req_json(r);
    const json_t *off = json_object_get(b, "utcOffsetMilliseconds");
    const char *name = json_string_value(json_object_get(b, "timeZone"));
    /* A real offset is within a day (UTC-12 .. UTC+14). */
    if (json_is_integer(off) && json_integer_value(off) > -86400000 &&
        json_integer_value(off) < 86400000) {
      *offset_ms = (int64_t)json_integer_value(off);
      snprintf(tz, tzlen, "%s", name ? name : "");
      ok = true;
    } else {
      snprintf(errstr, errlen,
               "account-info answer has no "
               "utcOffsetMilliseconds");
    }
    json_decref(b);
  } else {
    hs_req_describe(r, errstr, errlen);
  }
  hs_req_free(r);
  return ok;
}
