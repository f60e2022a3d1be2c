/* wrk_synclog: sync_log outcome records and ledger entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_time.h"
#include "wrk_records.h"

static json_t *str_or_null(const char *s) {
  return (s && *s) ? json_string(s) : json_null();
}

static json_t *objects_of(const wrk_event *e) {
  json_t *objs = json_array();
  if (e->eng_id[0])
    json_array_append_new(
        objs, json_pack("{s:s,s:s}", "type", hs_eng_object(e->map.eng), "id",
                        e->eng_id));
  return objs;
}

json_t *wrk_synclog_json(const wrk *w, const wrk_event *e) {
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  json_t *j = json_object();
  json_object_set_new(j, "event_id", json_string(e->ev.event_id));
  json_object_set_new(j, "tenant",
                      str_or_null(e->tenant ? e->tenant->id : NULL));
  json_object_set_new(j, "event_type", json_string(e->ev.type_name[0]
                                                       ? e->ev.type_name
                                                       : "UNKNOWN"));
  json_object_set_new(j, "lead_email", str_or_null(e->ev.lead_email));
  json_object_set_new(j, "campaign_id", str_or_null(e->ev.campaign_id));
  json_object_set_new(j, "outcome", json_string(wrk_outcome_name(e->outcome)));
  json_object_set_new(j, "reason", str_or_null(e->reason));
  if (e->contact_id[0] || e->eng_id[0])
    json_object_set_new(j, "hubspot",
                        json_pack("{s:o,s:o}", "contact_id",
                                  str_or_null(e->contact_id), "objects",
                                  objects_of(e)));
  else
    json_object_set_new(j, "hubspot", json_null());
  if (e->outcome == WRK_DLQ || e->http_status)
    json_object_set_new(
        j, "error",
        json_pack("{s:o,s:o,s:o}", "http_status",
                  e->http_status ? json_integer(e->http_status) : json_null(),
                  "category", str_or_null(e->hs_category), "message",
                  str_or_null(e->hs_message)));
  else
    json_object_set_new(j, "error", json_null());
  const rd_kafka_message_t *m = e->msg;
  json_object_set_new(j, "topic",
                      json_string(m ? rd_kafka_topic_name(m->rkt) : ""));
  json_object_set_new(j, "partition", json_integer(m ? m->partition : -1));
  json_object_set_new(j, "offset", json_integer(m ? m->offset : -1));
  json_object_set_new(j, "event_time", str_or_null(e->ev.event_time));
  json_object_set_new(j, "logged_at", json_string(now));
  if (e->received_us > 0)
    json_object_set_new(j, "latency_ms",
                        json_integer((ls_now_us() - e->received_us) / 1000));
  else
    json_object_set_new(j, "latency_ms", json_null());
  json_object_set_new(j, "group", json_string(w->s.group));
  json_object_set_new(j, "attempts", json_integer(e->attempts));
  /* What leadsync changed to make the event fit (docs/mapping.md): bodies
   * cut to HubSpot's limit, values HubSpot rejected and were left out. */
  if (e->map.truncated)
    json_object_set(j, "truncated", e->map.truncated);
  if (e->map.dropped)
    json_object_set(j, "dropped", e->map.dropped);
  /* Produced by the assurance role: the webhook never arrived. */
  char bf[8];
  if (m && kq_header(m, "ls_backfill", bf, sizeof bf)[0] == '1')
    json_object_set_new(j, "backfilled", json_true());
  return j;
}

void wrk_synclog_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  json_t *j = wrk_synclog_json(w, e);
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s) {
    wrk_out_fail(o, "out of memory serialising a record");
    return;
  }
  const char *key = e->ev.key[0] ? e->ev.key : e->ev.event_id;
  wrk_out_produce(o, KQ_TOPIC_SYNC_LOG, key, strlen(key), s, strlen(s), NULL);
  free(s);
}

json_t *wrk_ledger_json(const wrk_event *e) {
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  return json_pack("{s:s,s:o,s:s,s:s,s:o,s:o,s:s}", "event_id",
                   e->ev.event_id, "tenant",
                   str_or_null(e->tenant ? e->tenant->id : NULL), "event_type",
                   e->ev.type_name, "state", "synced", "contact_id",
                   str_or_null(e->contact_id), "objects", objects_of(e), "at",
                   now);
}

void wrk_ledger_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  json_t *j = wrk_ledger_json(e);
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s) {
    wrk_out_fail(o, "out of memory serialising a record");
    return;
  }
  wrk_out_produce(o, KQ_TOPIC_LEDGER, e->ev.event_id, strlen(e->ev.event_id),
                  s, strlen(s), NULL);
  free(s);
}

void wrk_intent_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  json_t *j = json_pack("{s:s,s:o,s:s,s:s,s:o,s:[],s:s}", "event_id",
                        e->ev.event_id, "tenant",
                        str_or_null(e->tenant ? e->tenant->id : NULL),
                        "event_type", e->ev.type_name, "state", "intent",
                        "contact_id", str_or_null(e->contact_id), "objects",
                        "at", now);
  char *s = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!s) {
    wrk_out_fail(o, "out of memory serialising a record");
    return;
  }
  wrk_out_produce(o, KQ_TOPIC_LEDGER, e->ev.event_id, strlen(e->ev.event_id),
                  s, strlen(s), NULL);
  free(s);
}
