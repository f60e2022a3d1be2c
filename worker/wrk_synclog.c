/* wrk_synclog: sync_log outcome records and ledger entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_json.h"
#include "ls_synclog.h"
#include "ls_time.h"
#include "wrk_records.h"

static json_t *str_or_null(const char *s) {
  return (s && *s) ? json_string(s) : json_null();
}

static json_t *objects_of(const wrk_event *e) {
  json_t *objs = json_array();
  if (e->eng_id[0])
    json_array_append_new(objs, json_pack("{s:s,s:s}", "type",
                                          hs_eng_object(e->map.eng), "id",
                                          e->eng_id));
  return objs;
}

json_t *wrk_synclog_json(const wrk *w, const wrk_event *e) {
  const rd_kafka_message_t *m = e->msg;
  char bf[8];
  json_t *hubspot = NULL;
  if (e->contact_id[0] || e->eng_id[0])
    hubspot = json_pack("{s:o,s:o}", "contact_id", str_or_null(e->contact_id),
                        "objects", objects_of(e));
  ls_synclog r = {
      .event_id = e->ev.event_id,
      .tenant = e->tenant ? e->tenant->id : NULL,
      .event_type = e->ev.type_name,
      .lead_email = e->ev.lead_email,
      .campaign_id = e->ev.campaign_id,
      .outcome = wrk_outcome_name(e->outcome),
      .reason = e->reason,
      .hubspot = hubspot,
      .has_error = e->outcome == WRK_DLQ || e->http_status,
      .http_status = e->http_status,
      .error_category = e->hs_category,
      .error_message = e->hs_message,
      .topic = m ? rd_kafka_topic_name(m->rkt) : "",
      .partition = m ? m->partition : -1,
      .offset = m ? m->offset : -1,
      .event_time = e->ev.event_time,
      .latency_ms =
          e->received_us > 0 ? (ls_now_us() - e->received_us) / 1000 : -1,
      .group = w->s.group,
      .attempts = e->attempts,
      .truncated = e->map.truncated,
      .dropped = e->map.dropped,
      .backfilled = m && kq_header(m, "ls_backfill", bf, sizeof bf)[0] == '1',
  };
  json_t *j = ls_synclog_json(&r);
  json_decref(hubspot);
  return j;
}

void wrk_synclog_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  json_t *j = wrk_synclog_json(w, e);
  size_t n = 0;
  char *s = ls_json_dumps(j, &n);
  json_decref(j);
  if (!s) {
    wrk_out_fail(o, "out of memory serialising a record");
    return;
  }
  const char *key = e->ev.key[0] ? e->ev.key : e->ev.event_id;
  wrk_out_produce(o, KQ_TOPIC_SYNC_LOG, key, strlen(key), s, n, NULL);
  free(s);
}

json_t *wrk_ledger_json(const wrk_event *e) {
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  return json_pack("{s:s,s:o,s:s,s:s,s:o,s:o,s:s}", "event_id", e->ev.event_id,
                   "tenant", str_or_null(e->tenant ? e->tenant->id : NULL),
                   "event_type", e->ev.type_name, "state", "synced",
                   "contact_id", str_or_null(e->contact_id), "objects",
                   objects_of(e), "at", now);
}

/* wrk_ledger_emit and wrk_intent_emit: wrk_ledger.c (the records go to
 * the event's source partition number, keyed by group). */
