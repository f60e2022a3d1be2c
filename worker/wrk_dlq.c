/* wrk_dlq: copies an event that cannot be synced to leadsync.dlq, with
 * the original headers and the ls_dlq_* headers that say why. */
#include <stdio.h>
#include <string.h>

#include "kq.h"
#include "ls_time.h"
#include "wrk_records.h"

static void hdr(rd_kafka_headers_t *h, const char *name, const char *v) {
  rd_kafka_header_add(h, name, -1, v ? v : "", -1);
}

void wrk_dlq_emit(wrk *w, struct wrk_out *o, const wrk_event *e) {
  const rd_kafka_message_t *m = e->msg;
  rd_kafka_headers_t *orig = NULL;
  rd_kafka_headers_t *h = NULL;
  if (m && rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      orig)
    h = rd_kafka_headers_copy(orig);
  else
    h = rd_kafka_headers_new(16);
  char buf[64];
  hdr(h, "ls_dlq_reason", e->reason[0] ? e->reason : WRK_DLQ_PERMANENT);
  snprintf(buf, sizeof buf, "%ld", e->http_status);
  hdr(h, "ls_dlq_http_status", e->http_status ? buf : "");
  hdr(h, "ls_dlq_hubspot_category", e->hs_category);
  hdr(h, "ls_dlq_hubspot_message", e->hs_message);
  snprintf(buf, sizeof buf, "%d", e->attempts);
  hdr(h, "ls_dlq_attempts", buf);
  ls_time_format_us(e->first_failure_us ? e->first_failure_us : ls_now_us(),
                    buf, sizeof buf);
  hdr(h, "ls_dlq_first_failure", buf);
  hdr(h, "ls_dlq_original_topic", m ? rd_kafka_topic_name(m->rkt) : "");
  snprintf(buf, sizeof buf, "%d", m ? (int)m->partition : -1);
  hdr(h, "ls_dlq_original_partition", buf);
  snprintf(buf, sizeof buf, "%lld", m ? (long long)m->offset : -1LL);
  hdr(h, "ls_dlq_original_offset", buf);
  hdr(h, "ls_dlq_group", w->s.group);
  const void *key = m ? m->key : NULL;
  size_t klen = m ? m->key_len : 0;
  if (!klen) {
    key = e->ev.key;
    klen = strlen(e->ev.key);
  }
  wrk_out_produce(o, KQ_TOPIC_DLQ, key, klen, m ? m->payload : NULL,
                  m ? m->len : 0, h);
}
