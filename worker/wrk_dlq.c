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
#include "wrk_dlq.h"
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
static void copy_small(rd_kafka_headers_t *dst, const rd_kafka_headers_t *src,
                       const char *name) {
  const void *v;
  size_t n;
  char buf[256];
  if (!src || rd_kafka_header_get_last(src, name, &v, &n) || !v || !n)
    return;
  if (n >= sizeof buf)
    n = sizeof buf - 1;
  memcpy(buf, v, n);
  buf[n] = '\0';
  hdr(dst, name, buf);
}

bool wrk_dlq_build(const wrk_dlq_src *s, rd_kafka_headers_t **out,
                   char **stub_out, size_t *klen_out) {
  size_t klen = s->klen;
  size_t size = s->len + klen + headers_size(s->hdrs) + 2048;
  bool stub = s->force_stub || size + DLQ_OVERHEAD > (size_t)s->max_msg_bytes;
  rd_kafka_headers_t *h;
  *out = NULL;
  *stub_out = NULL;
  if (stub) {
    h = rd_kafka_headers_new(24);
    copy_small(h, s->hdrs, "ce_id");
    copy_small(h, s->hdrs, "ce_tenant");
    copy_small(h, s->hdrs, "ce_type");
    copy_small(h, s->hdrs, "ce_source");
    hdr(h, "ls_dlq_stub", "1");
    if (klen > 512)
      klen = 512;
  } else {
    h = s->hdrs ? rd_kafka_headers_copy(s->hdrs) : rd_kafka_headers_new(16);
  }
  char buf[64];
  hdr(h, "ls_dlq_reason",
      s->reason && *s->reason ? s->reason : WRK_DLQ_PERMANENT);
  snprintf(buf, sizeof buf, "%ld", s->http_status);
  hdr(h, "ls_dlq_http_status", s->http_status ? buf : "");
  hdr(h, "ls_dlq_hubspot_category", s->hs_category);
  hdr(h, "ls_dlq_hubspot_message", s->hs_message);
  snprintf(buf, sizeof buf, "%d", s->attempts);
  hdr(h, "ls_dlq_attempts", buf);
  ls_time_format_us(s->first_failure_us ? s->first_failure_us : ls_now_us(),
                    buf, sizeof buf);
  hdr(h, "ls_dlq_first_failure", buf);
  hdr(h, "ls_dlq_original_topic", s->topic);
  snprintf(buf, sizeof buf, "%d", (int)s->partition);
  hdr(h, "ls_dlq_original_partition", buf);
  snprintf(buf, sizeof buf, "%lld", (long long)s->offset);
  hdr(h, "ls_dlq_original_offset", buf);
  hdr(h, "ls_dlq_group", s->group);
  *klen_out = klen;
  if (!stub) {
    *out = h;
    return true;
  }
  snprintf(buf, sizeof buf, "%zu", s->len);
  hdr(h, "ls_dlq_original_size", buf);
  json_t *j = json_pack(
      "{s:b,s:s,s:s,s:i,s:I,s:I,s:s}", "stub", 1, "event_id",
      s->event_id ? s->event_id : "", "original_topic",
      s->topic ? s->topic : "", "original_partition", (int)s->partition,
      "original_offset", (json_int_t)s->offset, "original_size",
      (json_int_t)s->len, "why",
      s->force_stub ? "the full copy was refused" : "too large for the DLQ");
  char *v = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!v) {
    rd_kafka_headers_destroy(h);
    return false;
  }
  *out = h;
  *stub_out = v;
  return true;
}

void wrk_dlq_emit(wrk *w, struct wrk_out *o, wrk_event *e) {
  wrk_out_owner_set(o, &e->out);
  const rd_kafka_message_t *m = e->msg;
  rd_kafka_headers_t *orig = NULL;
  if (m)
    rd_kafka_message_headers(m, &orig);
  wrk_dlq_src s = {
      .topic = m ? rd_kafka_topic_name(m->rkt) : "",
      .partition = m ? m->partition : -1,
      .offset = m ? m->offset : -1,
      .key = m ? m->key : NULL,
      .klen = m ? m->key_len : 0,
      .value = m ? m->payload : NULL,
      .len = m ? m->len : 0,
      .hdrs = orig,
      .event_id = e->ev.event_id,
      .reason = e->reason,
      .http_status = e->http_status,
      .hs_category = e->hs_category,
      .hs_message = e->hs_message,
      .attempts = e->attempts,
      .first_failure_us = e->first_failure_us,
      .group = w->s.group,
      .force_stub = e->dlq_stub,
      .max_msg_bytes = w->s.max_msg_bytes,
  };
  if (!s.klen) {
    s.key = e->ev.key;
    s.klen = strlen(e->ev.key);
  }
  rd_kafka_headers_t *h;
  char *stub;
  size_t klen;
  if (!wrk_dlq_build(&s, &h, &stub, &klen)) {
    wrk_out_fail(o, "out of memory serialising a DLQ stub");
    return;
  }
  if (!stub) {
    wrk_out_produce(o, KQ_TOPIC_DLQ, s.key, klen, s.value, s.len, h);
    return;
  }
  wrk_out_produce(o, KQ_TOPIC_DLQ, s.key, klen, stub, strlen(stub), h);
  free(stub);
}
