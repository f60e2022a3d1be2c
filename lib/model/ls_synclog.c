/* ls_synclog: one builder for every sync_log record. */
#include "ls_synclog.h"

#include "ls_time.h"

static json_t *str_or_null(const char *s) {
  return (s && *s) ? json_string(s) : json_null();
}

json_t *ls_synclog_json(const ls_synclog *r) {
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  json_t *j = json_object();
  if (!j)
    return NULL;
  json_object_set_new(j, "event_id",
                      json_string(r->event_id ? r->event_id : ""));
  json_object_set_new(j, "tenant", str_or_null(r->tenant));
  json_object_set_new(j, "event_type",
                      json_string(r->event_type && r->event_type[0]
                                      ? r->event_type
                                      : "UNKNOWN"));
  json_object_set_new(j, "lead_email", str_or_null(r->lead_email));
  json_object_set_new(j, "campaign_id", str_or_null(r->campaign_id));
  json_object_set_new(j, "outcome", json_string(r->outcome));
  json_object_set_new(j, "reason", str_or_null(r->reason));
  json_object_set(j, "hubspot", r->hubspot ? r->hubspot : json_null());
  if (r->has_error)
    json_object_set_new(
        j, "error",
        json_pack("{s:o,s:o,s:o}", "http_status",
                  r->http_status ? json_integer(r->http_status) : json_null(),
                  "category", str_or_null(r->error_category), "message",
                  str_or_null(r->error_message)));
  else
    json_object_set_new(j, "error", json_null());
  json_object_set_new(j, "topic", json_string(r->topic ? r->topic : ""));
  json_object_set_new(j, "partition", json_integer(r->partition));
  json_object_set_new(j, "offset", json_integer(r->offset));
  json_object_set_new(j, "event_time", str_or_null(r->event_time));
  json_object_set_new(j, "logged_at", json_string(now));
  json_object_set_new(j, "latency_ms",
                      r->latency_ms >= 0 ? json_integer(r->latency_ms)
                                         : json_null());
  json_object_set_new(j, "group", json_string(r->group ? r->group : ""));
  json_object_set_new(j, "attempts", json_integer(r->attempts));
  /* What leadsync changed to make the event fit (docs/mapping.md). */
  if (r->truncated)
    json_object_set(j, "truncated", r->truncated);
  if (r->dropped)
    json_object_set(j, "dropped", r->dropped);
  /* Produced by the assurance role: the webhook never arrived. */
  if (r->backfilled)
    json_object_set_new(j, "backfilled", json_true());
  /* Fan-out outcomes (docs/kafka-contract.md): their endpoint. */
  if (r->endpoint)
    json_object_set_new(j, "endpoint", json_string(r->endpoint));
  return j;
}
