/* wrk_dlq: copies an event that cannot be synced to leadsync.dlq, with
 * the original headers and the ls_dlq_* headers that say why. A record too
 * large for the DLQ (or whose copy was refused before) is written as a
 * stub: the ls_dlq_* headers, ls_dlq_stub=1, the original size and the
 * CloudEvents id, tenant and type, with a small JSON body naming the
 * original topic, partition and offset; so nothing disappears without a
 * trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_time.h"
#include "wrk_records.h"

/* Room librdkafka needs besides key, value and headers (record overhead). */
#define DLQ_OVERHEAD 1024

static void hdr(rd_kafka_headers_t *h, const char *name, const char *v) {
  rd_kafka_header_add(h, name, -1, v ? v : "", -1);
}

static size_t headers_size(const rd_kafka_headers_t *h) {
  size_t total = 0, sz;
  const char *name;
  const void *val;
  for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &val, &sz); i++)
    total += strlen(name) + sz + 8;
  return total;
}

/* Copies the few small headers a stub keeps. */
static void copy_small(rd_kafka_headers_t *dst, const rd_kafka_message_t *m,
                       const char *name) {
  char v[256];
  if (m && kq_header(m, name, v, sizeof v)[0])
    hdr(dst, name, v);
}

void wrk_dlq_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  const rd_kafka_message_t *m = e->msg;
  rd_kafka_headers_t *orig = NULL;
  rd_kafka_headers_t *h = NULL;
  const void *key = m ? m->key : NULL;
  size_t klen = m ? m->key_len : 0;
  if (!klen) {
    key = e->ev.key;
    klen = strlen(e->ev.key);
  }
  if (m)
    rd_kafka_message_headers(m, &orig);
  size_t size = (m ? m->len : 0) + klen + headers_size(orig) + 2048;
  bool stub = e->dlq_stub || size + DLQ_OVERHEAD > (size_t)w->s.max_msg_bytes;
  if (stub) {
    h = rd_kafka_headers_new(24);
    copy_small(h, m, "ce_id");
    copy_small(h, m, "ce_tenant");
    copy_small(h, m, "ce_type");
    copy_small(h, m, "ce_source");
    hdr(h, "ls_dlq_stub", "1");
    if (klen > 512)
      klen = 512;
  } else {
    h = orig ? rd_kafka_headers_copy(orig) : rd_kafka_headers_new(16);
  }
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
  if (!stub) {
    wrk_out_produce(o, KQ_TOPIC_DLQ, key, klen, m ? m->payload : NULL,
                    m ? m->len : 0, h);
    return;
  }
  snprintf(buf, sizeof buf, "%zu", m ? m->len : 0);
  hdr(h, "ls_dlq_original_size", buf);
  json_t *j = json_pack(
      "{s:b,s:s,s:s,s:i,s:I,s:I,s:s}", "stub", 1, "event_id", e->ev.event_id,
      "original_topic", m ? rd_kafka_topic_name(m->rkt) : "",
      "original_partition", m ? (int)m->partition : -1, "original_offset",
      (json_int_t)(m ? m->offset : -1), "original_size",
      (json_int_t)(m ? m->len : 0), "why",
      e->dlq_stub ? "the full copy was refused" : "too large for the DLQ");
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) {
    rd_kafka_headers_destroy(h);
    wrk_out_fail(o, "out of memory serialising a DLQ stub");
    return;
  }
  wrk_out_produce(o, KQ_TOPIC_DLQ, key, klen, s, strlen(s), h);
  free(s);
}
