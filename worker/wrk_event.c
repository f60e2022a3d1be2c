/* wrk_event: the outcome table, positions and the event's lifetime. */
#include "wrk_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_time.h"

static const struct {
  const char *name;
  bool final;
} outcomes[] = {
#define WRK_OUTCOME_ROW(id, name, final) {name, final},
    WRK_OUTCOMES(WRK_OUTCOME_ROW)
#undef WRK_OUTCOME_ROW
};

const char *wrk_outcome_name(wrk_outcome o) {
  return (size_t)o < WRK_OUTCOME__COUNT ? outcomes[o].name : "unknown";
}

bool wrk_outcome_final(wrk_outcome o) {
  return (size_t)o < WRK_OUTCOME__COUNT && outcomes[o].final;
}

void wrk_pos_of(wrk_pos *pos, const rd_kafka_message_t *m) {
  const char *t = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
  snprintf(pos->topic, sizeof pos->topic, "%s", t);
  pos->partition = m->partition;
  pos->offset = m->offset;
}

bool wrk_pos_same_partition(const wrk_pos *a, const wrk_pos *b) {
  return a->partition == b->partition && !strcmp(a->topic, b->topic);
}

bool wrk_pos_in(const wrk_pos *pos,
                const rd_kafka_topic_partition_list_t *parts) {
  if (!parts)
    return true;
  for (int i = 0; i < parts->cnt; i++)
    if (parts->elems[i].partition == pos->partition &&
        !strcmp(parts->elems[i].topic, pos->topic))
      return true;
  return false;
}

void wrk_event_fail(wrk_event *e, const char *reason, long status,
                    const char *category, const char *message) {
  e->outcome = WRK_DLQ;
  snprintf(e->reason, sizeof e->reason, "%s", reason);
  e->http_status = status;
  snprintf(e->hs_category, sizeof e->hs_category, "%s",
           category ? category : "");
  snprintf(e->hs_message, sizeof e->hs_message, "%s", message ? message : "");
  if (!e->first_failure_us)
    e->first_failure_us = ls_now_us();
}

void wrk_event_free(wrk_event *e) {
  if (!e)
    return;
  if (e->msg)
    rd_kafka_message_destroy(e->msg);
  json_decref(e->root);
  hs_mapped_clear(&e->map);
  free(e);
}
