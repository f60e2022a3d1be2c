/* fl_release: hold and release on leadsync.held, one decision per lead. */
#include "fl_release.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_obs.h"
#include "kq.h"
#include "ls_event.h"
#include "ls_filter.h"
#include "ls_log.h"
#include "ls_mask.h"
#include "ls_synclog.h"
#include "ls_time.h"
#include "wrk_dlq.h"
#include "wrk_fault.h"
#include "wrk_filter.h"
#include "wrk_obs.h"

#define MAX_PARTS 1024

/* A held record, kept whole so it can be re-published byte for byte. */
typedef struct {
  char *topic;
  char *key;
  size_t keylen;
  char *value;
  size_t len;
  rd_kafka_headers_t *hdrs;
} held_rec;

typedef struct {
  const fl_release_opts *o;
  rd_kafka_t *consumer;
  rd_kafka_t *producer;
  ls_filter *parts[MAX_PARTS];
  int64_t pending[MAX_PARTS]; /* next offset to store once flushed, or -1 */
  /* Where a partition restarts from: the committed offset at assignment,
   * then every offset stored (-1: the beginning). */
  int64_t stored[MAX_PARTS];
  /* A partition whose state is not trusted (its rebuild failed, or an
   * output of one of its records was refused): its records are neither
   * applied nor stored until it is rebuilt and read again from stored. */
  bool failed[MAX_PARTS];
  bool bad[MAX_PARTS]; /* an output of this flush was refused */
  /* The lowest offset whose own output was refused in this flush (-1:
   * none known) and why: the record that counts toward poison. */
  int64_t bad_off[MAX_PARTS];
  char bad_err[MAX_PARTS][160];
  /* Poison (docs/filter.md): the record of each partition that failed,
   * how often in a row, its last error, and whether its DLQ copy was
   * refused too (then a stub). */
  int64_t poison_off[MAX_PARTS];
  int poison_n[MAX_PARTS];
  char poison_err[MAX_PARTS][160];
  bool poison_dlq_failed[MAX_PARTS];
  bool poisoning;      /* applying a poisoned record: releases go to DLQ */
  int32_t cur;         /* partition whose record is being applied, or -1 */
  int64_t cur_off;     /* offset of that record, or -1 (e.g. expiry) */
  size_t unflushed;
  char cat_topic[LS_TOPIC_MAX];
  char errstr[LS_ERRSTR_SIZE];
  int64_t next_held_gauges; /* mono us: per-tenant held gauges due */
} rel;

static void held_free(void *p) {
  held_rec *h = p;
  if (!h)
    return;
  free(h->topic);
  free(h->key);
  free(h->value);
  if (h->hdrs)
    rd_kafka_headers_destroy(h->hdrs);
  free(h);
}

/* -- outputs --------------------------------------------------------- */

/* The partition an output is for fails when the output is refused; the
 * record that caused it (offset off, -1 unknown) counts toward poison. */
static void record_bad(rel *r, int32_t p, int64_t off, const char *why) {
  if (p < 0 || p >= MAX_PARTS)
    return;
  r->bad[p] = true;
  if (off >= 0 && (r->bad_off[p] < 0 || off < r->bad_off[p])) {
    r->bad_off[p] = off;
    snprintf(r->bad_err[p], sizeof r->bad_err[p], "%s", why);
  }
}

static void mark_bad(rel *r, int32_t p) {
  record_bad(r, p, p == r->cur ? r->cur_off : -1, "out of memory");
}

/* A produce's opaque: the held partition and offset it is for. */
_Static_assert(sizeof(intptr_t) >= 8, "the opaque packs an offset");
#define OPAQUE_PART_BITS 11 /* MAX_PARTS + 1 fits */
static void *opaque_of(const rel *r) {
  return (void *)(((intptr_t)(r->cur_off + 1) << OPAQUE_PART_BITS) |
                  (intptr_t)(r->cur + 1));
}

/* Delivery reports: every output is checked (message.timeout.ms=0 retries
 * temporary errors forever; what is reported failed is refused for good). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  (void)rk;
  if (!m->err)
    return;
  rel *r = opaque;
  intptr_t v = (intptr_t)m->_private;
  int32_t p = (int32_t)(v & ((1 << OPAQUE_PART_BITS) - 1)) - 1;
  int64_t off = (int64_t)(v >> OPAQUE_PART_BITS) - 1;
  ls_error("filter: output not delivered", "{s:s,s:s,s:i,s:I}", "topic",
           rd_kafka_topic_name(m->rkt), "error", rd_kafka_err2str(m->err),
           "held_partition", (int)p, "held_offset", (json_int_t)off);
  record_bad(r, p, off, rd_kafka_err2str(m->err));
}

/* Produces one record, waiting while the local queue is full; takes the
 * headers (always a list: librdkafka's varargs cannot skip one). */
static void produce_raw(rel *r, const char *topic, int32_t partition,
                        const void *key, size_t klen, void *val, size_t vlen,
                        int msgflags, rd_kafka_headers_t *h) {
  if (!h)
    h = rd_kafka_headers_new(0);
  rd_kafka_resp_err_t err;
  for (;;) {
    err = wrk_fault("filter_produce")
              ? RD_KAFKA_RESP_ERR__FAIL
              : rd_kafka_producev(
                    r->producer, RD_KAFKA_V_TOPIC(topic),
                    RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, klen),
                    RD_KAFKA_V_VALUE(val, vlen), RD_KAFKA_V_MSGFLAGS(msgflags),
                    RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(opaque_of(r)),
                    RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      break;
    rd_kafka_poll(r->producer, 100);
  }
  if (err) {
    record_bad(r, r->cur, r->cur_off, rd_kafka_err2str(err));
    ls_error("filter: produce failed", "{s:s,s:s}", "topic", topic, "error",
             rd_kafka_err2str(err));
    rd_kafka_headers_destroy(h);
    if (msgflags & RD_KAFKA_MSG_F_FREE)
      free(val);
  }
  r->unflushed++;
}

static void produce_json(rel *r, const char *topic, int32_t partition,
                         const char *key, json_t *value,
                         rd_kafka_headers_t *h) {
  char *s = value ? json_dumps(value, JSON_COMPACT) : NULL;
  json_decref(value);
  if (!s) {
    mark_bad(r, r->cur); /* out of memory: the record is applied again */
    if (h)
      rd_kafka_headers_destroy(h);
    return;
  }
  produce_raw(r, topic, partition, key, strlen(key), s, strlen(s),
              RD_KAFKA_MSG_F_FREE, h);
}

/* One sync_log record (the shared builder, ls_synclog) from the held
 * record's headers and its lead key; err_msg (may be NULL) and attempts
 * for the poison outcome (dlq). */
static void sync_log_ex(rel *r, const char *outcome, const char *reason,
                        const rd_kafka_headers_t *h, const char *key,
                        int32_t partition, int64_t offset, const char *topic,
                        const char *err_category, const char *err_msg,
                        int attempts) {
  char tenant[LS_TENANT_MAX] = "", id[64] = "", type[LS_TOPIC_MAX] = "",
       etime[48] = "";
  const void *v;
  size_t n;
#define GETH(name, buf)                                                      \
  if (h && !rd_kafka_header_get_last(h, name, &v, &n) && v) {                \
    if (n >= sizeof buf)                                                     \
      n = sizeof buf - 1;                                                    \
    memcpy(buf, v, n);                                                       \
    buf[n] = '\0';                                                           \
  }
  GETH("ce_tenant", tenant);
  GETH("ce_id", id);
  GETH("ce_type", type);
  GETH("ce_time", etime);
#undef GETH
  const char *et = strncmp(type, "ai.smartlead.", 13) ? type : type + 13;
  char upper[LS_TOPIC_MAX];
  size_t i = 0;
  for (; et[i] && i < sizeof upper - 1; i++)
    upper[i] = (char)(et[i] >= 'a' && et[i] <= 'z' ? et[i] - 32 : et[i]);
  upper[i] = '\0';
  /* The lead key is tenant:campaign:email; split it back. */
  const char *c1 = strchr(key, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  char campaign[40] = "";
  if (c1 && c2 && (size_t)(c2 - c1 - 1) < sizeof campaign) {
    memcpy(campaign, c1 + 1, (size_t)(c2 - c1 - 1));
    campaign[c2 - c1 - 1] = '\0';
  }
  const char *email = c2 ? c2 + 1 : "";
  ls_synclog rec = {
      .event_id = id,
      .tenant = tenant,
      .event_type = upper,
      .lead_email = strcmp(email, "-") ? email : NULL,
      .campaign_id = strcmp(campaign, "-") ? campaign : NULL,
      .outcome = outcome,
      .reason = reason,
      .has_error = err_category != NULL,
      .error_category = err_category,
      .error_message = err_msg,
      .topic = topic,
      .partition = partition,
      .offset = offset,
      .event_time = etime,
      .latency_ms = -1,
      .group = r->o->group,
      .attempts = attempts,
  };
  produce_json(r, KQ_TOPIC_SYNC_LOG, RD_KAFKA_PARTITION_UA, key,
               ls_synclog_json(&rec), NULL);
  ls_metrics_inc(r->o->metrics, "leadsync_filter_outcomes_total",
                 "Filter outcomes by kind",
                 outcome[0] == 'h'   ? "outcome=\"held\""
                 : outcome[0] == 'r' ? "outcome=\"released\""
                 : outcome[0] == 'd' ? "outcome=\"poison\""
                                     : "outcome=\"expired\"",
                 1);
}

static void sync_log(rel *r, const char *outcome, const char *reason,
                     const rd_kafka_headers_t *h, const char *key,
                     int32_t partition, int64_t offset, const char *topic) {
  sync_log_ex(r, outcome, reason, h, key, partition, offset, topic, NULL, NULL,
              1);
}

/* Re-publishes a record to the topic it came from, marked as decided. */
static void publish(rel *r, const char *topic, const char *key, size_t keylen,
                    const void *value, size_t len,
                    const rd_kafka_headers_t *src, bool released) {
  rd_kafka_headers_t *h = src ? rd_kafka_headers_copy(src)
                              : rd_kafka_headers_new(4);
  rd_kafka_header_remove(h, WRK_H_ORIG_TOPIC);
  rd_kafka_header_remove(h, WRK_H_FILTER);
  rd_kafka_header_add(h, WRK_H_FILTER, -1, "passed", -1);
  if (released) {
    rd_kafka_header_remove(h, WRK_H_RELEASED);
    rd_kafka_header_add(h, WRK_H_RELEASED, -1, "1", -1);
  }
  const void *id;
  size_t idlen;
  char idbuf[96];
  if (src && !rd_kafka_header_get_last(src, "ce_id", &id, &idlen) && id &&
      idlen < sizeof idbuf) {
    memcpy(idbuf, id, idlen);
    idbuf[idlen] = '\0';
    if (wrk_fault_for("filter_publish", idbuf)) {
      record_bad(r, r->cur, r->cur_off, "Local: Failed (injected)");
      rd_kafka_headers_destroy(h);
      r->unflushed++;
      return;
    }
  }
  produce_raw(r, topic, RD_KAFKA_PARTITION_UA, key, keylen, (void *)value,
              len, RD_KAFKA_MSG_F_COPY, h);
}

static void done_marker(rel *r, int32_t partition, const char *key,
                        json_t *ids, const char *reason) {
  rd_kafka_headers_t *h = rd_kafka_headers_new(2);
  rd_kafka_header_add(h, WRK_H_MARKER, -1, "done", -1);
  produce_json(r, KQ_TOPIC_HELD, partition, key,
               json_pack("{s:o,s:s}", "event_ids", ids, "reason", reason), h);
}

/* Writes one record that leadsync.held partition p holds at offset off to
 * the DLQ with reason poison (a stub when too large, or when its full copy
 * was refused before), through the worker's DLQ builder. */
static void poison_dlq(rel *r, int32_t p, int64_t off, const char *event_id,
                       const void *key, size_t klen, const void *value,
                       size_t len, const rd_kafka_headers_t *hdrs,
                       const char *msg, const char *keystr,
                       const char *orig_topic) {
  wrk_dlq_src s = {
      .topic = KQ_TOPIC_HELD,
      .partition = p,
      .offset = off,
      .key = key,
      .klen = klen,
      .value = value,
      .len = len,
      .hdrs = hdrs,
      .event_id = event_id,
      .reason = "poison",
      .hs_category = "POISON",
      .hs_message = msg,
      .attempts = r->poison_n[p],
      .group = r->o->group,
      .force_stub = r->poison_dlq_failed[p],
      .max_msg_bytes = r->o->max_msg_bytes,
  };
  rd_kafka_headers_t *h;
  char *stub;
  size_t kl;
  if (!wrk_dlq_build(&s, &h, &stub, &kl)) {
    mark_bad(r, p); /* out of memory: tried again on the next read */
    return;
  }
  if (stub)
    produce_raw(r, KQ_TOPIC_DLQ, RD_KAFKA_PARTITION_UA, key, kl, stub,
                strlen(stub), RD_KAFKA_MSG_F_FREE, h);
  else
    produce_raw(r, KQ_TOPIC_DLQ, RD_KAFKA_PARTITION_UA, key, kl, (void *)value,
                len, RD_KAFKA_MSG_F_COPY, h);
  /* The sync_log says so too (outcome dlq, reason poison). */
  sync_log_ex(r, "dlq", "poison", hdrs, keystr, p, off, orig_topic, "POISON",
              msg, r->poison_n[p]);
}

/* -- decisions ------------------------------------------------------- */

static held_rec *held_from(const rd_kafka_message_t *m) {
  held_rec *h = calloc(1, sizeof *h);
  char topic[LS_TOPIC_MAX];
  if (!h)
    return NULL;
  kq_header(m, WRK_H_ORIG_TOPIC, topic, sizeof topic);
  h->topic = strdup(topic);
  h->key = malloc(m->key_len + 1);
  h->value = malloc(m->len + 1);
  if (!h->topic || !h->key || !h->value) {
    held_free(h);
    return NULL;
  }
  memcpy(h->key, m->key, m->key_len);
  h->key[m->key_len] = '\0';
  h->keylen = m->key_len;
  if (m->len)
    memcpy(h->value, m->payload, m->len);
  h->len = m->len;
  rd_kafka_headers_t *src = NULL;
  if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR && src)
    h->hdrs = rd_kafka_headers_copy(src);
  return h;
}

/* When the record reached leadsync.held (its Kafka timestamp): the clock
 * that expiry runs on. Smartlead's event times can be far in the past. */
static int64_t held_time_of(const rd_kafka_message_t *m) {
  rd_kafka_timestamp_type_t tt;
  int64_t ms = rd_kafka_message_timestamp(m, &tt);
  return ms > 0 ? ms * 1000 : ls_now_us();
}

/* The event's own time orders releases; without one, the hold time. */
static int64_t event_time_of(const rd_kafka_message_t *m) {
  char t[48];
  int64_t us;
  if (ls_time_parse(kq_header(m, "ce_time", t, sizeof t), &us))
    return us;
  return held_time_of(m);
}

static void state_snapshot(rel *r, int32_t p, const char *key,
                           const char *tenant, const char *cid,
                           const char *cname, bool allowed, int64_t offset,
                           const rd_kafka_message_t *m) {
  char id[64], etime[48], now[40];
  kq_header(m, "ce_id", id, sizeof id);
  kq_header(m, "ce_time", etime, sizeof etime);
  ls_time_format_ms(ls_now_us(), now, sizeof now);
  produce_json(r, KQ_TOPIC_LEAD_STATE, p, key,
               json_pack("{s:s,s:s,s:s?,s:s?,s:b,s:I,s:s,s:s?,s:s}",
                         "lead_key", key, "tenant", tenant, "category_id",
                         cid[0] ? cid : NULL, "category_name",
                         cname[0] ? cname : NULL, "allowed", allowed,
                         "held_offset", (json_int_t)offset, "event_id", id,
                         "event_time", etime[0] ? etime : NULL, "updated_at",
                         now),
               NULL);
}

/* Releases every held record of the lead (event-time order), then a done
 * marker lists them. */
static void release_held(rel *r, int32_t p, ls_filter *f, const char *key,
                         const char *reason, bool live) {
  ls_held_item *items;
  size_t n = ls_filter_take(f, key, &items);
  json_t *ids = live ? json_array() : NULL;
  for (size_t i = 0; i < n; i++) {
    held_rec *h = items[i].payload;
    if (!live && r->poisoning && h) {
      /* Released by a poisoned category change: they go to the DLQ with
       * it, so a rebuild (which releases them again) loses nothing. */
      char msg[300];
      snprintf(msg, sizeof msg, "released by a poisoned record: %s",
               r->poison_err[p]);
      poison_dlq(r, p, items[i].offset, items[i].event_id, h->key, h->keylen,
                 h->value, h->len, h->hdrs, msg, h->key, h->topic);
    }
    if (live && h) {
      publish(r, h->topic, h->key, h->keylen, h->value, h->len, h->hdrs,
              true);
      sync_log(r, "released", reason, h->hdrs, key, p, items[i].offset,
               h->topic);
      json_array_append_new(ids, json_string(items[i].event_id));
    }
    ls_filter_item_free(f, &items[i]);
  }
  free(items);
  if (live && n)
    done_marker(r, p, key, ids, "released");
  else
    json_decref(ids);
}

/* "tenant:campaign:email" -> "tenant:-:email" (the key of the lead's
 * events that carry no campaign, e.g. UNTRACKED_REPLIES); false when the
 * key has no campaign already or no email. */
static bool campaignless_key(const char *key, char *out, size_t outlen) {
  const char *c1 = strchr(key, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2 || !c2[1] || !strcmp(c2 + 1, "-") ||
      (c2 - c1 == 2 && c1[1] == '-'))
    return false;
  int w = snprintf(out, outlen, "%.*s:-:%s", (int)(c1 - key), key, c2 + 1);
  return w > 0 && (size_t)w < outlen;
}

/* The any-campaign rule (docs/filter.md): a category decision of
 * tenant:C:email is also told to tenant:-:email, which lives in another
 * partition, through a "category" marker on leadsync.held. */
static void tell_campaignless(rel *r, const rd_kafka_message_t *m,
                              const char *key, bool allowed,
                              const char *cname) {
  char k2[LS_KEY_MAX];
  if (!campaignless_key(key, k2, sizeof k2))
    return;
  rd_kafka_headers_t *h = rd_kafka_headers_new(4);
  rd_kafka_header_add(h, WRK_H_MARKER, -1, "category", -1);
  char v[64];
  if (kq_header(m, "ce_id", v, sizeof v)[0])
    rd_kafka_header_add(h, "ce_id", -1, v, -1);
  if (kq_header(m, "ce_tenant", v, sizeof v)[0])
    rd_kafka_header_add(h, "ce_tenant", -1, v, -1);
  produce_json(r, KQ_TOPIC_HELD, RD_KAFKA_PARTITION_UA, k2,
               json_pack("{s:b,s:s,s:s}", "allowed", allowed, "category",
                         cname, "from_key", key),
               h);
}

/* Applies one leadsync.held record. live=false replays history to rebuild
 * memory and has no side effects; live=true also publishes and logs. */
static void apply(rel *r, const rd_kafka_message_t *m, bool live) {
  int32_t p = m->partition;
  if (p < 0 || p >= MAX_PARTS)
    return; /* never assigned (rebalance_cb) */
  ls_filter *f = r->parts[p];
  char key[LS_KEY_MAX], marker[16], tenant_id[LS_TENANT_MAX],
      topic[LS_TOPIC_MAX], id[64];
  if (!f || !m->key || m->key_len >= sizeof key)
    return;
  memcpy(key, m->key, m->key_len);
  key[m->key_len] = '\0';
  rd_kafka_headers_t *hdrs = NULL;
  rd_kafka_message_headers(m, &hdrs);

  if (!strcmp(kq_header(m, WRK_H_MARKER, marker, sizeof marker),
              "category")) {
    /* The lead's address was decided in some campaign: a campaign-less
     * key is allowed once any campaign allows it, and a later denial in
     * another campaign does not hold it again. */
    json_t *v = json_loadb(m->payload, m->len, 0, NULL);
    bool allowed = json_is_true(json_object_get(v, "allowed"));
    const char *cname = json_string_value(json_object_get(v, "category"));
    char reason[160];
    snprintf(reason, sizeof reason, "%s (any campaign)",
             cname && *cname ? cname : "allowed");
    if (allowed) {
      ls_filter_set_state(f, key, LS_CAT_ALLOWED, m->offset);
      release_held(r, p, f, key, reason, live);
    } else if (ls_filter_state(f, key, NULL) != LS_CAT_ALLOWED) {
      ls_filter_set_state(f, key, LS_CAT_DENIED, m->offset);
    }
    json_decref(v);
    return;
  }
  if (marker[0]) {
    /* Our own note that these ids are no longer held. */
    json_t *v = json_loadb(m->payload, m->len, 0, NULL);
    json_t *ids = json_object_get(v, "event_ids");
    size_t i;
    json_t *e;
    json_array_foreach(ids, i, e) if (json_is_string(e))
        ls_filter_forget(f, key, json_string_value(e));
    json_decref(v);
    return;
  }
  kq_header(m, "ce_tenant", tenant_id, sizeof tenant_id);
  kq_header(m, WRK_H_ORIG_TOPIC, topic, sizeof topic);
  kq_header(m, "ce_id", id, sizeof id);
  const ls_tenant *t = ls_config_tenant(r->o->cfg, tenant_id);
  if (!topic[0] || !id[0]) {
    if (live) {
      char masked[LS_KEY_MAX + 32];
      ls_mask_pii(key, masked, sizeof masked);
      ls_warn("filter: record without ls_original_topic or ce_id ignored",
              "{s:s,s:i,s:I}", "key", masked, "partition", (int)p, "offset",
              (json_int_t)m->offset);
    }
    return;
  }
  if (!t || !t->has_filter) {
    /* The filter was removed from the config: everything passes. */
    if (live)
      publish(r, topic, m->key, m->key_len, m->payload, m->len, hdrs, false);
    return;
  }
  if (!strcmp(topic, r->cat_topic)) {
    json_t *root = json_loadb(m->payload, m->len, 0, NULL);
    char cid[64], cname[128];
    ls_event_category(root, cid, sizeof cid, cname, sizeof cname);
    json_decref(root);
    bool allowed = ls_tenant_allows(t, cid, cname);
    ls_filter_set_state(f, key, allowed ? LS_CAT_ALLOWED : LS_CAT_DENIED,
                        m->offset);
    if (live) {
      state_snapshot(r, p, key, tenant_id, cid, cname, allowed, m->offset, m);
      tell_campaignless(r, m, key, allowed, cname);
    }
    if (!allowed) {
      held_rec *h = held_from(m);
      if (!h)
        mark_bad(r, p); /* out of memory: applied again after a rebuild */
      if (h && ls_filter_hold(f, key, id, event_time_of(m), held_time_of(m),
                                m->offset, h) &&
          live)
        sync_log(r, "held", "category not allowed", hdrs, key, p, m->offset,
                 topic);
      return;
    }
    release_held(r, p, f, key, cid[0] || cname[0] ? cname : NULL, live);
    if (live)
      publish(r, topic, m->key, m->key_len, m->payload, m->len, hdrs, false);
    return;
  }
  if (ls_filter_state(f, key, NULL) == LS_CAT_ALLOWED) {
    if (live)
      publish(r, topic, m->key, m->key_len, m->payload, m->len, hdrs, false);
    return;
  }
  held_rec *h = held_from(m);
  if (!h)
    mark_bad(r, p);
  if (h && ls_filter_hold(f, key, id, event_time_of(m), held_time_of(m),
                                m->offset, h) && live)
    sync_log(r, "held",
             ls_filter_state(f, key, NULL) == LS_CAT_DENIED
                 ? "category not allowed"
                 : "no category yet",
             hdrs, key, p, m->offset, topic);
}

/* A record whose outputs were refused poison_after times in a row: it
 * goes to the DLQ (reason poison) instead of being applied live, and its
 * offset is stored once that copy is acknowledged. Its effect on the
 * lead's state is kept exactly as a rebuild would replay it, so the state
 * never depends on when the filter restarted; events a poisoned category
 * change would have released go to the DLQ with it (release_held). */
static void poison(rel *r, const rd_kafka_message_t *m) {
  int32_t p = m->partition;
  char msg[300], id[64], topic[LS_TOPIC_MAX], key[LS_KEY_MAX];
  snprintf(msg, sizeof msg, "gave up after %d failed attempts: %s",
           r->poison_n[p], r->poison_err[p]);
  kq_header(m, "ce_id", id, sizeof id);
  kq_header(m, WRK_H_ORIG_TOPIC, topic, sizeof topic);
  snprintf(key, sizeof key, "%.*s",
           (int)(m->key_len < sizeof key ? m->key_len : sizeof key - 1),
           m->key ? (const char *)m->key : "");
  rd_kafka_headers_t *hdrs = NULL;
  rd_kafka_message_headers(m, &hdrs);
  ls_error("filter: poison record to the DLQ; the partition moves on",
           "{s:i,s:I,s:i,s:b,s:s}", "partition", (int)p, "offset",
           (json_int_t)m->offset, "attempts", r->poison_n[p], "stub",
           r->poison_dlq_failed[p], "error", r->poison_err[p]);
  poison_dlq(r, p, m->offset, id, m->key, m->key_len, m->payload, m->len, hdrs,
             msg, key, topic[0] ? topic : KQ_TOPIC_HELD);
  r->poisoning = true;
  apply(r, m, false);
  r->poisoning = false;
}

/* -- durability ------------------------------------------------------ */

/* Stores the pending offsets: call only once their outputs are acked.
 * A partition with a refused output (bad) stores nothing and is rebuilt
 * and read again from its last stored offset (recover). */
static void store_pending(rel *r) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  for (int p = 0; p < MAX_PARTS; p++) {
    if (r->bad[p]) {
      r->bad[p] = false;
      r->pending[p] = -1;
      if (r->bad_off[p] >= 0) {
        if (r->poison_off[p] == r->bad_off[p]) {
          r->poison_n[p]++;
        } else {
          r->poison_off[p] = r->bad_off[p];
          r->poison_n[p] = 1;
          r->poison_dlq_failed[p] = false;
        }
        /* Failed once more after it was poisoned: its DLQ copy was
         * refused, the next attempt writes the stub. */
        if (r->poison_n[p] > r->o->poison_after)
          r->poison_dlq_failed[p] = true;
        else
          snprintf(r->poison_err[p], sizeof r->poison_err[p], "%s",
                   r->bad_err[p]);
        r->bad_off[p] = -1;
      }
      if (r->parts[p] && !r->failed[p]) {
        ls_error("filter: an output was refused; the partition is rebuilt "
                 "and read again from its last stored offset",
                 "{s:i,s:I,s:I,s:i,s:i}", "partition", p, "offset",
                 (json_int_t)r->stored[p], "failed_offset",
                 (json_int_t)r->poison_off[p], "attempts", r->poison_n[p],
                 "poison_after", r->o->poison_after);
        r->failed[p] = true;
      }
      continue;
    }
    if (r->pending[p] > r->poison_off[p] && r->poison_off[p] >= 0 &&
        !r->failed[p]) {
      r->poison_off[p] = -1; /* stored past it: done with it */
      r->poison_n[p] = 0;
      r->poison_dlq_failed[p] = false;
    }
    if (r->pending[p] < 0)
      continue;
    if (!r->failed[p]) {
      rd_kafka_topic_partition_list_add(l, KQ_TOPIC_HELD, p)->offset =
          r->pending[p];
      r->stored[p] = r->pending[p];
    }
    r->pending[p] = -1;
  }
  if (l->cnt) {
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(r->consumer, l);
    if (err)
      ls_warn("filter: offset store failed", "{s:s}", "error",
              rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(l);
}

/* Waits until everything produced so far is acknowledged or refused (the
 * idempotent producer retries forever: message.timeout.ms=0), then stores
 * the offsets of the records that caused it. false when stopping first. */
static bool flush_and_store(rel *r) {
  while (rd_kafka_outq_len(r->producer) > 0) {
    if (*r->o->stop)
      return false;
    rd_kafka_flush(r->producer, 500);
  }
  rd_kafka_poll(r->producer, 0); /* the last delivery reports */
  r->unflushed = 0;
  store_pending(r);
  return true;
}

static void expire(rel *r) {
  int64_t cutoff = ls_now_us() - (int64_t)r->o->max_age_s * 1000000;
  for (int p = 0; p < MAX_PARTS; p++) {
    if (!r->parts[p] || r->failed[p])
      continue;
    r->cur = p;
    ls_held_item *items;
    char **keys;
    size_t n = ls_filter_take_expired(r->parts[p], cutoff, &items, &keys);
    for (size_t i = 0; i < n; i++) {
      held_rec *h = items[i].payload;
      if (h)
        sync_log(r, "expired", "held longer than held_max_age_days", h->hdrs,
                 keys[i], p, items[i].offset, h->topic);
      done_marker(r, p, keys[i], json_pack("[s]", items[i].event_id),
                  "expired");
      ls_filter_item_free(r->parts[p], &items[i]);
      free(keys[i]);
    }
    free(items);
    free(keys);
    if (n)
      ls_info("filter: held events expired", "{s:i,s:i}", "partition", p,
              "count", (int)n);
  }
  r->cur = -1;
}

/* -- rebuild --------------------------------------------------------- */

/* Reads [from, to) of one partition with a group-less consumer, calling fn
 * on each record. */
static bool read_range(rel *r, const char *topic, int32_t p, int64_t from,
                       int64_t to,
                       void (*fn)(rel *, const rd_kafka_message_t *, void *),
                       void *arg) {
  if (from >= to)
    return true;
  char err[LS_ERRSTR_SIZE];
  rd_kafka_conf_t *conf = kq_conf_new_consumer(r->o->cfg, err, sizeof err);
  if (!conf || !kq_set(conf, "group.id", "leadsync-filter-rebuild", err,
                       sizeof err) ||
      !kq_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
      !kq_set(conf, "log_level", "3", err, sizeof err)) {
    if (conf)
      rd_kafka_conf_destroy(conf);
    snprintf(r->errstr, sizeof r->errstr, "rebuild: %.400s", err);
    return false;
  }
  rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!c) {
    snprintf(r->errstr, sizeof r->errstr, "rebuild: %.400s", err);
    return false;
  }
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, p)->offset = from;
  rd_kafka_assign(c, l);
  rd_kafka_topic_partition_list_destroy(l);
  bool ok = true;
  int64_t next = from;
  int64_t deadline = ls_mono_us() + 120 * 1000000LL;
  while (next < to) {
    if (*r->o->stop || ls_mono_us() > deadline) {
      ok = false;
      snprintf(r->errstr, sizeof r->errstr,
               "rebuild of %s [%d] stopped at offset %lld of %lld", topic,
               (int)p, (long long)next, (long long)to);
      break;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
    if (!m)
      continue;
    if (!m->err) {
      if (m->offset < to)
        fn(r, m, arg);
      next = m->offset + 1;
    } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      next = to; /* nothing more to read */
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return ok;
}

typedef struct {
  ls_filter *snap;
  char **keys;
  size_t n, cap;
} snap_arg;

static bool grow_keys(snap_arg *a) {
  size_t nc = a->cap ? a->cap * 2 : 64;
  char **p = realloc(a->keys, nc * sizeof *p);
  if (!p)
    return false;
  a->keys = p;
  a->cap = nc;
  return true;
}

/* One leadsync.lead_state record: the lead's latest decision and the held
 * offset of the record that made it. */
static void snap_fn(rel *r, const rd_kafka_message_t *m, void *arg) {
  (void)r;
  snap_arg *a = arg;
  if (!m->key || m->key_len >= LS_KEY_MAX)
    return;
  json_t *v = json_loadb(m->payload, m->len, 0, NULL);
  const json_t *off = json_object_get(v, "held_offset");
  char *key = malloc(m->key_len + 1);
  if (!key || !json_is_integer(off) || (a->n == a->cap && !grow_keys(a))) {
    free(key);
    json_decref(v);
    return;
  }
  memcpy(key, m->key, m->key_len);
  key[m->key_len] = '\0';
  ls_filter_set_state(a->snap, key,
                      json_is_true(json_object_get(v, "allowed"))
                          ? LS_CAT_ALLOWED
                          : LS_CAT_DENIED,
                      json_integer_value(off));
  a->keys[a->n++] = key;
  json_decref(v);
}

static void replay_fn(rel *r, const rd_kafka_message_t *m, void *arg) {
  (void)arg;
  apply(r, m, false);
}

/* Copies snapshot states whose deciding record is gone from leadsync.held
 * (retention), so replay starts from what was decided before it. */
static void seed_from_snapshot(ls_filter *dst, ls_filter *snap,
                               int64_t held_low, const char *const *keys,
                               size_t n) {
  for (size_t i = 0; i < n; i++) {
    int64_t at;
    ls_cat_state st = ls_filter_state(snap, keys[i], &at);
    if (at >= 0 && at < held_low)
      ls_filter_set_state(dst, keys[i], st, at);
  }
}

static bool rebuild(rel *r, int32_t p, int64_t committed) {
  int64_t lo = 0, hi = 0, slo = 0, shi = 0;
  if (wrk_fault("rebuild")) {
    snprintf(r->errstr, sizeof r->errstr,
             "rebuild: injected failure of partition %d", (int)p);
    return false;
  }
  if (rd_kafka_query_watermark_offsets(r->consumer, KQ_TOPIC_HELD, p, &lo, &hi,
                                       10000) ||
      rd_kafka_query_watermark_offsets(r->consumer, KQ_TOPIC_LEAD_STATE, p,
                                       &slo, &shi, 10000)) {
    snprintf(r->errstr, sizeof r->errstr,
             "rebuild: cannot read watermarks of partition %d", (int)p);
    return false;
  }
  ls_filter_free(r->parts[p]);
  r->parts[p] = ls_filter_new(held_free);
  snap_arg sa = {ls_filter_new(NULL), NULL, 0, 0};
  bool ok = sa.snap && read_range(r, KQ_TOPIC_LEAD_STATE, p, slo, shi, snap_fn,
                                  &sa);
  if (ok)
    seed_from_snapshot(r->parts[p], sa.snap, lo, (const char *const *)sa.keys,
                       sa.n);
  for (size_t i = 0; i < sa.n; i++)
    free(sa.keys[i]);
  free(sa.keys);
  ls_filter_free(sa.snap);
  int64_t upto = committed >= 0 ? committed : lo;
  r->bad[p] = false;
  if (ok)
    ok = read_range(r, KQ_TOPIC_HELD, p, lo, upto, replay_fn, NULL);
  if (ok && (r->bad[p] || !r->parts[p])) {
    ok = false; /* out of memory while replaying */
    snprintf(r->errstr, sizeof r->errstr,
             "rebuild of partition %d ran out of memory", (int)p);
  }
  r->bad[p] = false;
  r->bad_off[p] = -1;
  ls_info("filter: partition rebuilt", "{s:i,s:I,s:I,s:i,s:i,s:b}",
          "partition", (int)p, "replayed_to", (json_int_t)upto, "state_records",
          (json_int_t)(shi - slo), "leads", (int)ls_filter_leads(r->parts[p]),
          "held", (int)ls_filter_held(r->parts[p]), "ok", ok);
  return ok;
}

/* Rebuilds failed partitions and seeks them back to where they restart
 * (records read meanwhile were dropped, never stored). */
static void recover(rel *r) {
  for (int p = 0; p < MAX_PARTS; p++) {
    if (!r->failed[p] || *r->o->stop)
      continue;
    if (!rebuild(r, p, r->stored[p])) {
      ls_error("filter: rebuild failed; the partition waits (nothing of it "
               "is applied or stored)",
               "{s:i,s:s}", "partition", p, "error", r->errstr);
      continue;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, KQ_TOPIC_HELD, p)->offset =
        r->stored[p] >= 0 ? r->stored[p] : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(r->consumer, l, 5000);
    if (!err && l->elems[0].err)
      err = rd_kafka_error_new(l->elems[0].err, "%s",
                               rd_kafka_err2str(l->elems[0].err));
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
      ls_error("filter: seek after rebuild failed; the partition waits",
               "{s:i,s:s}", "partition", p, "error",
               rd_kafka_error_string(err));
      rd_kafka_error_destroy(err);
      continue;
    }
    r->failed[p] = false;
    ls_info("filter: partition recovered", "{s:i,s:I}", "partition", p,
            "offset", (json_int_t)r->stored[p]);
  }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
  rel *r = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_committed(rk, parts, 10000);
    rd_kafka_topic_partition_list_t *mine =
        rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
      int32_t p = parts->elems[i].partition;
      if (p < 0 || p >= MAX_PARTS) {
        /* Not taken: it stays in Kafka for a build with more room. */
        ls_error("filter: partition beyond MAX_PARTS not consumed",
                 "{s:i,s:i}", "partition", (int)p, "max", MAX_PARTS);
        continue;
      }
      int64_t c = parts->elems[i].offset;
      r->stored[p] = c >= 0 ? c : -1;
      r->pending[p] = -1;
      r->bad[p] = false;
      r->failed[p] = false;
      r->bad_off[p] = r->poison_off[p] = -1;
      r->poison_n[p] = 0;
      r->poison_dlq_failed[p] = false;
      if (!rebuild(r, p, c >= 0 ? c : -1)) {
        /* Assigned, but its records are dropped unread until recover()
         * rebuilds it: partial state never decides or stores. */
        ls_error("filter: rebuild failed; the partition waits", "{s:i,s:s}",
                 "partition", (int)p, "error", r->errstr);
        r->failed[p] = true;
      }
      rd_kafka_topic_partition_list_add(mine, parts->elems[i].topic, p)
          ->offset = c >= 0 ? c : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, mine);
    rd_kafka_topic_partition_list_destroy(mine);
  } else {
    flush_and_store(r);
    rd_kafka_commit(rk, NULL, 0);
    for (int i = 0; i < parts->cnt; i++) {
      int32_t p = parts->elems[i].partition;
      if (p >= 0 && p < MAX_PARTS) {
        ls_filter_free(r->parts[p]);
        r->parts[p] = NULL;
        r->pending[p] = -1;
        r->failed[p] = false;
        r->bad[p] = false;
        r->bad_off[p] = r->poison_off[p] = -1;
        r->poison_n[p] = 0;
      }
    }
    rd_kafka_assign(rk, NULL);
  }
}

/* -- run ------------------------------------------------------------- */

static void update_gauges(rel *r) {
  size_t leads = 0, held = 0;
  for (int p = 0; p < MAX_PARTS; p++)
    if (r->parts[p]) {
      leads += ls_filter_leads(r->parts[p]);
      held += ls_filter_held(r->parts[p]);
    }
  ls_metrics_set(r->o->metrics, "leadsync_filter_leads",
                 "Leads with filter state in memory", NULL, (double)leads);
  ls_metrics_set(r->o->metrics, "leadsync_filter_held",
                 "Events held in memory", NULL, (double)held);
  /* Per-tenant counts and ages walk every held event: every 5 s. */
  int64_t now = ls_mono_us();
  if (now >= r->next_held_gauges) {
    fl_obs_held(r->o->metrics, r->o->cfg, r->parts, MAX_PARTS,
                r->o->max_age_s);
    wrk_obs_lag(r->o->metrics, r->consumer, "filter");
    r->next_held_gauges = now + 5000000;
  }
}

int fl_release_run(const fl_release_opts *o, char *errstr, size_t errlen) {
  int rc = 1;
  rel *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(errstr, errlen, "out of memory");
    return 1;
  }
  r->o = o;
  r->cur = -1;
  r->cur_off = -1;
  for (int p = 0; p < MAX_PARTS; p++) {
    r->pending[p] = r->stored[p] = -1;
    r->bad_off[p] = r->poison_off[p] = -1;
  }
  snprintf(r->cat_topic, sizeof r->cat_topic, "%slead_category_updated",
           o->cfg->topic_prefix);

  rd_kafka_conf_t *pc = kq_conf_new_producer(o->cfg, errstr, errlen);
  if (!pc || !kq_producer_defaults(pc, o->cfg, errstr, errlen) ||
      !kq_set(pc, "message.timeout.ms", "0", errstr, errlen)) {
    if (pc)
      rd_kafka_conf_destroy(pc);
    goto out;
  }
  rd_kafka_conf_set_dr_msg_cb(pc, on_delivery);
  rd_kafka_conf_set_opaque(pc, r);
  char rkerr[256];
  r->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, rkerr, sizeof rkerr);
  if (!r->producer) {
    snprintf(errstr, errlen, "filter producer: %s", rkerr);
    goto out;
  }
  rd_kafka_conf_t *cc = kq_conf_new_consumer(o->cfg, errstr, errlen);
  if (!cc || !kq_consumer_defaults(cc, o->group, errstr, errlen)) {
    if (cc)
      rd_kafka_conf_destroy(cc);
    goto out;
  }
  rd_kafka_conf_set_rebalance_cb(cc, rebalance_cb);
  rd_kafka_conf_set_opaque(cc, r);
  r->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, rkerr, sizeof rkerr);
  if (!r->consumer) {
    snprintf(errstr, errlen, "filter consumer: %s", rkerr);
    goto out;
  }
  rd_kafka_poll_set_consumer(r->consumer);
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, KQ_TOPIC_HELD, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(r->consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (err) {
    snprintf(errstr, errlen, "subscribe %s: %s", KQ_TOPIC_HELD,
             rd_kafka_err2str(err));
    goto out;
  }
  ls_info("filter role started", "{s:s,s:i}", "group", o->group,
          "max_age_s", (int)o->max_age_s);
  if (o->on_ready)
    o->on_ready(o->ready_arg);
  int64_t next_expiry = ls_mono_us() + o->expiry_every_ms * 1000;
  int64_t next_recover = 0;
  while (!*o->stop) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 100);
    if (m) {
      int32_t p = m->partition;
      if (!m->err && p >= 0 && p < MAX_PARTS && r->failed[p]) {
        /* Not trusted until rebuilt: read again after recover(). */
      } else if (!m->err && p >= 0 && p < MAX_PARTS) {
        r->cur = p;
        r->cur_off = m->offset;
        wrk_obs_consumed(m);
        if (r->poison_off[p] == m->offset &&
            r->poison_n[p] >= r->o->poison_after)
          poison(r, m);
        else
          apply(r, m, true);
        r->cur = -1;
        r->cur_off = -1;
        r->pending[p] = m->offset + 1;
        r->unflushed++;
      } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ls_warn("filter: consumer error", "{s:s}", "error",
                rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      if (r->unflushed < 500)
        continue; /* keep reading; flush when idle or every 500 records */
    }
    if (r->unflushed && !flush_and_store(r))
      break;
    if (ls_mono_us() >= next_recover) {
      recover(r);
      next_recover = ls_mono_us() + 1000000;
    }
    if (ls_mono_us() >= next_expiry) {
      expire(r);
      next_expiry = ls_mono_us() + o->expiry_every_ms * 1000;
    }
    rd_kafka_poll(r->producer, 0);
    update_gauges(r);
  }
  rc = 0;
  /* Stop: what is acknowledged gets its offsets stored; the rest is read
   * again by whoever owns the partition next. */
  if (r->unflushed) {
    rd_kafka_flush(r->producer, 5000);
    if (rd_kafka_outq_len(r->producer) == 0)
      store_pending(r);
  }
  ls_info("filter role stopping", NULL);
out:
  if (r->consumer) {
    rd_kafka_consumer_close(r->consumer);
    rd_kafka_destroy(r->consumer);
  }
  if (r->producer) {
    rd_kafka_flush(r->producer, 5000);
    rd_kafka_destroy(r->producer);
  }
  for (int p = 0; p < MAX_PARTS; p++)
    ls_filter_free(r->parts[p]);
  free(r);
  return rc;
}
