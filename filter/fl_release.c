/* fl_release: hold and release on leadsync.held, one decision per lead. */
#include "fl_release.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_obs.h"
#include "fl_readback.h"
#include "fl_snap.h"
#include "fl_state.h"
#include "kq.h"
#include "kq_client.h"
#include "ls_array.h"
#include "ls_event.h"
#include "ls_category.h"
#include "ls_log.h"
#include "ls_mask.h"
#include "ls_synclog.h"
#include "ls_time.h"
#include "wrk_dlq.h"
#include "wrk_fault.h"
#include "wrk_filter.h"
#include "wrk_obs.h"

#define MAX_PARTS 1024
/* A partition whose state changed is snapshotted at least this often. */
#define FL_SNAPSHOT_MAX_AGE_US (24 * 3600 * 1000000LL)

/* An output planned while a batch of records is applied. Outputs are
 * produced at once, except behind a release in the same batch: a release
 * must first read its held records back from leadsync.held, which is done
 * for the whole batch in one pass per partition (fl_reader_get), so what
 * follows a release waits in the plan and keeps its order. */
typedef enum { OP_RECORD, OP_RELEASE } op_kind;
typedef enum { REL_LIVE, REL_POISON, REL_EXPIRE } rel_mode;

/* A read-back record with its event time, for the release order. */
typedef struct {
  int64_t t, off;
  rd_kafka_message_t *m;
} timed;

typedef struct {
  op_kind kind;
  int32_t cur;     /* the held partition and offset that caused it */
  int64_t cur_off; /* (-1: none, e.g. expiry) */
  /* OP_RECORD: a record ready to produce (all owned). */
  char *topic;
  int32_t partition;
  void *key;
  size_t klen;
  void *val;
  size_t vlen;
  rd_kafka_headers_t *h;
  /* OP_RELEASE: the held records of one lead (or expired ones of many)
   * to read back and re-publish (live), send to the DLQ (poison) or log
   * as expired. lead_key is NULL for expiry (each record has its key). */
  rel_mode mode;
  char *lead_key;
  char *reason;
  fl_item *items;
  size_t n;
  rd_kafka_message_t **recs; /* read back, items[i] -> recs[i] or NULL */
  timed *order;              /* recs in release order (release_order) */
  size_t norder;
} op;

typedef struct {
  op *v;
  size_t n, cap;
  size_t releases; /* OP_RELEASE ops in v */
  bool running;    /* producing the plan: outputs go straight out */
} plan;

typedef struct {
  const fl_release_opts *o;
  rd_kafka_t *consumer;
  rd_kafka_t *producer;
  fl_reader *reader; /* reads held records back, and restores */
  fl_state *parts[MAX_PARTS];
  fl_obs_restore restore[MAX_PARTS]; /* what the last restore read */
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
  bool poisoning;  /* applying a poisoned record: releases go to DLQ */
  int32_t cur;     /* partition whose record is being applied, or -1 */
  int64_t cur_off; /* offset of that record, or -1 (e.g. expiry) */
  size_t unflushed;
  char cat_topic[LS_TOPIC_MAX];
  char errstr[LS_ERRSTR_SIZE];
  int64_t next_held_gauges; /* mono us: per-tenant held gauges due */
  plan plan;
  /* Checkpoints (docs/filter.md): each partition's newest snapshot, and
   * the held offset a restore would replay from now (the snapshot's, or
   * where the last restore from history began). */
  fl_snap_info snap[MAX_PARTS];
  int64_t replay_from[MAX_PARTS];
  fl_snap_dr snap_dr;            /* delivery reports of snapshot records */
  int64_t snap_retry[MAX_PARTS]; /* mono us: a failed snapshot waits */
  int64_t tail_bytes[MAX_PARTS]; /* bytes of the records since it */
  /* Stopping with records applied whose offsets were not stored: the
   * state is ahead of the stored offsets, no snapshot may be taken. */
  bool state_ahead;
} rel;

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
  rel *r = opaque;
  if (m->_private == &r->snap_dr) {
    fl_snap_on_delivery(&r->snap_dr, m);
    return;
  }
  if (!m->err)
    return;
  intptr_t v = (intptr_t)m->_private;
  int32_t p = (int32_t)(v & ((1 << OPAQUE_PART_BITS) - 1)) - 1;
  int64_t off = (int64_t)(v >> OPAQUE_PART_BITS) - 1;
  ls_error("filter: output not delivered", "{s:s,s:s,s:i,s:I}", "topic",
           rd_kafka_topic_name(m->rkt), "error", rd_kafka_err2str(m->err),
           "held_partition", (int)p, "held_offset", (json_int_t)off);
  record_bad(r, p, off, rd_kafka_err2str(m->err));
}

/* -- the plan -------------------------------------------------------- */

static op *plan_add(rel *r) {
  plan *pl = &r->plan;
  if (!LS_ARRAY_GROW(pl->v, pl->cap, pl->n + 1))
    return NULL;
  op *o = &pl->v[pl->n++];
  memset(o, 0, sizeof *o);
  o->cur = r->cur;
  o->cur_off = r->cur_off;
  return o;
}

static void op_free(op *o) {
  free(o->topic);
  free(o->key);
  free(o->val);
  if (o->h)
    rd_kafka_headers_destroy(o->h);
  free(o->lead_key);
  free(o->reason);
  free(o->recs); /* borrowed records: plan_run destroys them */
  free(o->order);
  free(o->items);
}

/* Plans the release of held records (takes items). false when out of
 * memory (items freed). */
static bool plan_release(rel *r, rel_mode mode, const char *lead_key,
                         const char *reason, fl_item *items, size_t n) {
  op *o = plan_add(r);
  if (!o) {
    free(items);
    return false;
  }
  o->kind = OP_RELEASE;
  o->mode = mode;
  o->items = items;
  o->n = n;
  o->lead_key = lead_key ? strdup(lead_key) : NULL;
  o->reason = reason ? strdup(reason) : NULL;
  r->plan.releases++;
  r->unflushed += n; /* read back at the batch's end: keep batches small */
  if ((lead_key && !o->lead_key) || (reason && !o->reason))
    return false; /* freed with the plan */
  return true;
}

/* Keeps an output behind a planned release (takes val and h). */
static bool plan_record(rel *r, const char *topic, int32_t partition,
                        const void *key, size_t klen, void *val, size_t vlen,
                        rd_kafka_headers_t *h) {
  op *o = plan_add(r);
  if (!o) {
    free(val);
    rd_kafka_headers_destroy(h);
    return false;
  }
  o->kind = OP_RECORD;
  o->topic = strdup(topic);
  o->partition = partition;
  o->key = malloc(klen ? klen : 1);
  if (o->key && klen)
    memcpy(o->key, key, klen);
  o->klen = klen;
  o->val = val;
  o->vlen = vlen;
  o->h = h;
  return o->topic && o->key;
}

/* Produces one record, waiting while the local queue is full; takes the
 * headers (always a list: librdkafka's varargs cannot skip one). Behind a
 * planned release it waits in the plan instead. */
static void produce_raw(rel *r, const char *topic, int32_t partition,
                        const void *key, size_t klen, void *val, size_t vlen,
                        int msgflags, rd_kafka_headers_t *h) {
  if (!h)
    h = rd_kafka_headers_new(0);
  if (r->plan.releases && !r->plan.running) {
    void *v = val;
    if (!(msgflags & RD_KAFKA_MSG_F_FREE)) {
      v = malloc(vlen ? vlen : 1);
      if (v && vlen)
        memcpy(v, val, vlen);
    }
    if (!v) {
      rd_kafka_headers_destroy(h);
      mark_bad(r, r->cur);
    } else if (!plan_record(r, topic, partition, key, klen, v, vlen, h)) {
      mark_bad(r, r->cur); /* out of memory: the record is applied again */
    }
    r->unflushed++;
    return;
  }
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
#define GETH(name, buf)                                                        \
  if (h && !rd_kafka_header_get_last(h, name, &v, &n) && v) {                  \
    if (n >= sizeof buf)                                                       \
      n = sizeof buf - 1;                                                      \
    memcpy(buf, v, n);                                                         \
    buf[n] = '\0';                                                             \
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
  rd_kafka_headers_t *h =
      src ? rd_kafka_headers_copy(src) : rd_kafka_headers_new(4);
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
  produce_raw(r, topic, RD_KAFKA_PARTITION_UA, key, keylen, (void *)value, len,
              RD_KAFKA_MSG_F_COPY, h);
}

static void done_marker(rel *r, int32_t partition, const char *key, json_t *ids,
                        const char *reason) {
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

/* The config's index of the tenant a lead key starts with (metrics). */
static uint16_t tenant_index(const ls_config *cfg, const char *key) {
  const char *colon = strchr(key, ':');
  size_t len = colon ? (size_t)(colon - key) : strlen(key);
  for (size_t i = 0; i < cfg->n_tenants && i < FL_TENANT_NONE; i++) {
    const char *id = cfg->tenants[i].id;
    if (strlen(id) == len && !strncmp(id, key, len))
      return (uint16_t)i;
  }
  return FL_TENANT_NONE;
}

static void state_snapshot(rel *r, int32_t p, const char *key,
                           const char *tenant, const char *cid,
                           const char *cname, bool allowed, int64_t offset,
                           const rd_kafka_message_t *m) {
  char id[64], etime[48], now[40];
  kq_header(m, "ce_id", id, sizeof id);
  kq_header(m, "ce_time", etime, sizeof etime);
  ls_time_format_ms(ls_now_us(), now, sizeof now);
  produce_json(
      r, KQ_TOPIC_LEAD_STATE, p, key,
      json_pack("{s:s,s:s,s:s?,s:s?,s:b,s:I,s:s,s:s?,s:s}", "lead_key", key,
                "tenant", tenant, "category_id", cid[0] ? cid : NULL,
                "category_name", cname[0] ? cname : NULL, "allowed", allowed,
                "held_offset", (json_int_t)offset, "event_id", id, "event_time",
                etime[0] ? etime : NULL, "updated_at", now),
      NULL);
}

/* Releases every held record of the lead: live, they are read back and
 * re-published at the batch's end (the plan); applied by a poisoned
 * record, they go to the DLQ with it, so a rebuild (which releases them
 * again) loses nothing; replayed, they are only dropped from the state. */
static void release_held(rel *r, int32_t p, fl_state *f, const char *key,
                         fl_lead lead, const char *reason, bool live) {
  fl_item *items;
  size_t n;
  if (!fl_state_take(f, lead, &items, &n)) {
    mark_bad(r, p); /* out of memory: applied again after a rebuild */
    return;
  }
  if (!n)
    return;
  if (!live && !r->poisoning) {
    free(items);
    return;
  }
  char msg[300];
  if (!live)
    snprintf(msg, sizeof msg, "released by a poisoned record: %s",
             r->poison_err[p]);
  if (!plan_release(r, live ? REL_LIVE : REL_POISON, key, live ? reason : msg,
                    items, n))
    mark_bad(r, p);
}

/* "tenant:campaign:email" -> "tenant:-:email" (the key of the lead's
 * events that carry no campaign, e.g. UNTRACKED_REPLIES); false when the
 * key has no campaign already or no email. */
static bool campaignless_key(const char *key, char *out, size_t outlen) {
  const char *c1 = strchr(key, ':');
  const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
  if (!c2 || !c2[1] || !strcmp(c2 + 1, "-") || (c2 - c1 == 2 && c1[1] == '-'))
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
               json_pack("{s:b,s:s,s:s}", "allowed", allowed, "category", cname,
                         "from_key", key),
               h);
}

/* Holds the record m of the lead: only its offset, its event id's hash
 * and when it was held; the record stays in leadsync.held. */
static void hold(rel *r, fl_state *f, fl_lead lead, uint16_t tenant,
                 const char *id, const rd_kafka_message_t *m, bool live,
                 const char *key, const char *reason, const char *topic) {
  rd_kafka_headers_t *hdrs = NULL;
  switch (fl_state_hold(f, lead, tenant, fl_evid_of(id), m->offset,
                        held_time_of(m))) {
  case FL_HELD:
    if (live) {
      rd_kafka_message_headers(m, &hdrs);
      sync_log(r, "held", reason, hdrs, key, m->partition, m->offset, topic);
    }
    break;
  case FL_DUPLICATE:
    break; /* the same event is held already */
  case FL_NOMEM:
    mark_bad(r, m->partition); /* applied again after a rebuild */
    break;
  }
}

/* Applies one leadsync.held record. live=false replays history to rebuild
 * memory and has no side effects; live=true also publishes and logs. */
static void apply(rel *r, const rd_kafka_message_t *m, bool live) {
  int32_t p = m->partition;
  if (p < 0 || p >= MAX_PARTS)
    return; /* never assigned (rebalance_cb) */
  fl_state *f = r->parts[p];
  char key[LS_KEY_MAX], marker[16], tenant_id[LS_TENANT_MAX],
      topic[LS_TOPIC_MAX], id[64];
  if (!f || !m->key || m->key_len >= sizeof key)
    return;
  memcpy(key, m->key, m->key_len);
  key[m->key_len] = '\0';
  fl_lead lead = fl_lead_of(key);
  uint16_t ti = tenant_index(r->o->cfg, key);
  rd_kafka_headers_t *hdrs = NULL;
  rd_kafka_message_headers(m, &hdrs);

  if (!strcmp(kq_header(m, WRK_H_MARKER, marker, sizeof marker), "category")) {
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
      if (!fl_state_set_cat(f, lead, ti, FL_CAT_ALLOWED, m->offset))
        mark_bad(r, p);
      release_held(r, p, f, key, lead, reason, live);
    } else if (fl_state_cat(f, lead, NULL) != FL_CAT_ALLOWED) {
      if (!fl_state_set_cat(f, lead, ti, FL_CAT_DENIED, m->offset))
        mark_bad(r, p);
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
        fl_state_forget(f, lead, fl_evid_of(json_string_value(e)));
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
    if (!fl_state_set_cat(f, lead, ti, allowed ? FL_CAT_ALLOWED : FL_CAT_DENIED,
                          m->offset))
      mark_bad(r, p);
    if (live) {
      state_snapshot(r, p, key, tenant_id, cid, cname, allowed, m->offset, m);
      tell_campaignless(r, m, key, allowed, cname);
    }
    if (!allowed) {
      hold(r, f, lead, ti, id, m, live, key, "category not allowed", topic);
      return;
    }
    release_held(r, p, f, key, lead, cid[0] || cname[0] ? cname : NULL, live);
    if (live)
      publish(r, topic, m->key, m->key_len, m->payload, m->len, hdrs, false);
    return;
  }
  fl_cat c = fl_state_cat(f, lead, NULL);
  if (c == FL_CAT_ALLOWED) {
    if (live)
      publish(r, topic, m->key, m->key_len, m->payload, m->len, hdrs, false);
    return;
  }
  hold(r, f, lead, ti, id, m, live, key,
       c == FL_CAT_DENIED ? "category not allowed" : "no category yet", topic);
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

/* -- the plan, produced ---------------------------------------------- */

/* A held record that Kafka no longer has (leadsync.held's retention was
 * shorter than the hold): it cannot be released, and says so. */
static void gone(rel *r, int32_t p, const char *lead_key, int64_t offset) {
  ls_error("filter: a held record is gone from leadsync.held before its "
           "release (its retention must exceed held_max_age_days)",
           "{s:i,s:I}", "partition", (int)p, "offset", (json_int_t)offset);
  sync_log(r, "expired", "gone from leadsync.held (retention) while held", NULL,
           lead_key ? lead_key : "", p, offset, KQ_TOPIC_HELD);
}

static int by_time(const void *a, const void *b) {
  const timed *x = a, *y = b;
  if (x->t != y->t)
    return x->t < y->t ? -1 : 1;
  return x->off < y->off ? -1 : x->off > y->off;
}

/* The records of a planned release that Kafka still has, in event-time
 * order (then offset), sorted once per op (its sync_log records and its
 * re-publication both follow it); false when out of memory. */
static bool release_order(op *o) {
  if (o->order)
    return true;
  o->norder = 0;
  o->order = malloc((o->n ? o->n : 1) * sizeof *o->order);
  if (!o->order)
    return false;
  for (size_t i = 0; i < o->n; i++)
    if (o->recs[i])
      o->order[o->norder++] =
          (timed){event_time_of(o->recs[i]), o->recs[i]->offset, o->recs[i]};
  qsort(o->order, o->norder, sizeof *o->order, by_time);
  return true;
}

/* The "released" sync_log records of a planned live release. */
static void log_released(rel *r, op *o) {
  if (!release_order(o)) {
    mark_bad(r, o->cur);
    return;
  }
  for (size_t i = 0; i < o->norder; i++) {
    rd_kafka_message_t *m = o->order[i].m;
    char topic[LS_TOPIC_MAX];
    kq_header(m, WRK_H_ORIG_TOPIC, topic, sizeof topic);
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_message_headers(m, &hdrs);
    sync_log(r, "released", o->reason, hdrs, o->lead_key, o->cur, m->offset,
             topic);
  }
}

/* One planned release, its records read back. Its "released" sync_log
 * records went out before (plan_log_first). */
static void run_release(rel *r, op *o) {
  int32_t p = o->cur;
  if (o->mode == REL_EXPIRE) {
    for (size_t i = 0; i < o->n; i++) {
      rd_kafka_message_t *m = o->recs[i];
      if (!m) {
        gone(r, p, NULL, o->items[i].offset);
        continue;
      }
      char key[LS_KEY_MAX], topic[LS_TOPIC_MAX], id[64];
      snprintf(key, sizeof key, "%.*s",
               (int)(m->key_len < sizeof key ? m->key_len : sizeof key - 1),
               m->key ? (const char *)m->key : "");
      kq_header(m, WRK_H_ORIG_TOPIC, topic, sizeof topic);
      kq_header(m, "ce_id", id, sizeof id);
      rd_kafka_headers_t *hdrs = NULL;
      rd_kafka_message_headers(m, &hdrs);
      sync_log(r, "expired", "held longer than held_max_age_days", hdrs, key, p,
               m->offset, topic);
      done_marker(r, p, key, json_pack("[s]", id), "expired");
    }
    return;
  }
  for (size_t i = 0; i < o->n; i++)
    if (!o->recs[i])
      gone(r, p, o->lead_key, o->items[i].offset);
  if (!release_order(o)) {
    mark_bad(r, p);
    return;
  }
  json_t *ids = json_array();
  for (size_t i = 0; i < o->norder; i++) {
    rd_kafka_message_t *m = o->order[i].m;
    char topic[LS_TOPIC_MAX], id[64];
    kq_header(m, WRK_H_ORIG_TOPIC, topic, sizeof topic);
    kq_header(m, "ce_id", id, sizeof id);
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_message_headers(m, &hdrs);
    if (o->mode == REL_POISON) {
      poison_dlq(r, p, m->offset, id, m->key, m->key_len, m->payload, m->len,
                 hdrs, o->reason, o->lead_key, topic);
      continue;
    }
    publish(r, topic, m->key, m->key_len, m->payload, m->len, hdrs, true);
    json_array_append_new(ids, json_string(id));
  }
  if (json_array_size(ids))
    done_marker(r, p, o->lead_key, ids, "released");
  else
    json_decref(ids);
}

/* Waits until everything produced so far is acknowledged or refused (the
 * idempotent producer retries forever: message.timeout.ms=0); false when
 * stopping first. */
static bool await_outputs(rel *r) {
  while (rd_kafka_outq_len(r->producer) > 0) {
    if (*r->o->stop)
      return false;
    rd_kafka_flush(r->producer, 500);
  }
  return true;
}

/* A released event's "released" must come before the worker's outcome of
 * it ("synced", ...) on the lead's sync_log partition, for every reader
 * (the console keeps an event's latest record as its outcome). The worker
 * can only write that outcome once the event is re-published, and two
 * topics' records are not ordered by the producer: so the plan's sync_log
 * records (in plan order: a "held" planned before a release of the same
 * event stays before it) go out first and are acknowledged before any
 * event is re-published. One more round trip per plan that releases (a
 * stop during it lets the plan go on as before: ordered at best then). */
static void plan_log_first(rel *r, const bool *skip) {
  plan *pl = &r->plan;
  bool any = false;
  for (size_t i = 0; i < pl->n; i++) {
    op *o = &pl->v[i];
    if (o->cur >= 0 && o->cur < MAX_PARTS && skip[o->cur])
      continue; /* dropped with its partition (plan_run) */
    r->cur = o->cur;
    r->cur_off = o->cur_off;
    if (o->kind == OP_RECORD && o->topic && o->key &&
        !strcmp(o->topic, KQ_TOPIC_SYNC_LOG)) {
      produce_raw(r, o->topic, o->partition, o->key, o->klen, o->val, o->vlen,
                  RD_KAFKA_MSG_F_FREE, o->h);
      o->val = NULL; /* taken */
      o->h = NULL;
      free(o->topic);
      o->topic = NULL; /* not produced again */
    } else if (o->kind == OP_RELEASE && o->mode == REL_LIVE) {
      log_released(r, o);
      any = true;
    }
  }
  if (any)
    await_outputs(r);
}

static int by_value(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Reads back the records of every planned release of partition p in one
 * pass. false when the read failed: the partition is rebuilt and read
 * again (record_bad), like a refused output. */
static bool plan_read(rel *r, int32_t p, rd_kafka_message_t ***got,
                      int64_t **offs_out, size_t *n_out) {
  plan *pl = &r->plan;
  size_t n = 0;
  int64_t first_off = -1;
  for (size_t i = 0; i < pl->n; i++)
    if (pl->v[i].kind == OP_RELEASE && pl->v[i].cur == p) {
      n += pl->v[i].n;
      if (first_off < 0)
        first_off = pl->v[i].cur_off;
    }
  int64_t *offs = malloc((n ? n : 1) * sizeof *offs);
  rd_kafka_message_t **msgs = calloc(n ? n : 1, sizeof *msgs);
  *got = msgs;
  *offs_out = offs;
  *n_out = 0;
  if (!offs || !msgs) {
    record_bad(r, p, first_off, "out of memory");
    return false;
  }
  size_t k = 0;
  for (size_t i = 0; i < pl->n; i++)
    if (pl->v[i].kind == OP_RELEASE && pl->v[i].cur == p)
      for (size_t j = 0; j < pl->v[i].n; j++)
        offs[k++] = pl->v[i].items[j].offset;
  qsort(offs, k, sizeof *offs, by_value);
  size_t u = 0;
  for (size_t i = 0; i < k; i++)
    if (!u || offs[u - 1] != offs[i])
      offs[u++] = offs[i];
  *n_out = u;
  char err[LS_ERRSTR_SIZE];
  if (!fl_reader_get(r->reader, KQ_TOPIC_HELD, p, offs, u, msgs, err,
                     sizeof err)) {
    ls_error("filter: reading held records back failed; the partition is "
             "rebuilt and read again",
             "{s:i,s:s}", "partition", (int)p, "error", err);
    char why[sizeof r->bad_err[0]];
    snprintf(why, sizeof why, "read back: %.140s", err);
    record_bad(r, p, first_off, why);
    return false;
  }
  for (size_t i = 0; i < pl->n; i++) {
    op *o = &pl->v[i];
    if (o->kind != OP_RELEASE || o->cur != p)
      continue;
    o->recs = calloc(o->n ? o->n : 1, sizeof *o->recs);
    if (!o->recs) {
      record_bad(r, p, first_off, "out of memory");
      return false;
    }
    for (size_t j = 0; j < o->n; j++) {
      int64_t *at =
          bsearch(&o->items[j].offset, offs, u, sizeof *offs, by_value);
      /* Borrowed: the messages are destroyed with msgs, after the run. */
      o->recs[j] = at ? msgs[at - offs] : NULL;
    }
  }
  return true;
}

/* Stopping with a plan not produced: its partitions store nothing more
 * (whoever owns them next applies those records again). */
static void plan_drop(rel *r) {
  for (size_t i = 0; i < r->plan.n; i++) {
    op *o = &r->plan.v[i];
    if (o->cur >= 0 && o->cur < MAX_PARTS)
      r->pending[o->cur] = -1;
    op_free(o);
  }
  r->plan.n = 0;
  r->plan.releases = 0;
}

/* Produces the plan in order: the records of its releases read back per
 * partition first. Outputs of a partition whose read failed are dropped:
 * that partition is rebuilt and its records applied again. */
static void plan_run(rel *r) {
  plan *pl = &r->plan;
  if (!pl->n)
    return;
  bool *skip = calloc(MAX_PARTS, sizeof *skip);
  rd_kafka_message_t **msgs[MAX_PARTS] = {0};
  int64_t *offs[MAX_PARTS] = {0};
  size_t nmsgs[MAX_PARTS] = {0};
  bool *seen = calloc(MAX_PARTS, sizeof *seen);
  for (size_t i = 0; skip && seen && i < pl->n; i++) {
    int32_t p = pl->v[i].cur;
    if (pl->v[i].kind != OP_RELEASE || p < 0 || p >= MAX_PARTS || seen[p])
      continue;
    seen[p] = true;
    if (r->failed[p] || !plan_read(r, p, &msgs[p], &offs[p], &nmsgs[p]))
      skip[p] = true;
  }
  pl->running = true;
  if (skip && seen)
    plan_log_first(r, skip);
  for (size_t i = 0; i < pl->n; i++) {
    op *o = &pl->v[i];
    r->cur = o->cur;
    r->cur_off = o->cur_off;
    bool drop =
        !skip || !seen || (o->cur >= 0 && o->cur < MAX_PARTS && skip[o->cur]);
    if (drop && o->cur >= 0)
      record_bad(r, o->cur, -1, "out of memory");
    if (drop) {
      /* nothing */
    } else if (o->kind == OP_RECORD) {
      if (o->topic && o->key) {
        produce_raw(r, o->topic, o->partition, o->key, o->klen, o->val, o->vlen,
                    RD_KAFKA_MSG_F_FREE, o->h);
        o->val = NULL; /* taken */
        o->h = NULL;
      }
    } else {
      run_release(r, o);
    }
    op_free(o);
  }
  pl->running = false;
  r->cur = -1;
  r->cur_off = -1;
  pl->n = 0;
  pl->releases = 0;
  for (int p = 0; p < MAX_PARTS; p++) {
    for (size_t i = 0; msgs[p] && i < nmsgs[p]; i++)
      if (msgs[p][i])
        rd_kafka_message_destroy(msgs[p][i]);
    free(msgs[p]);
    free(offs[p]);
  }
  free(skip);
  free(seen);
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

/* Produces the plan, waits for its outputs (await_outputs), then stores
 * the offsets of the records that caused them. false when stopping first. */
static bool flush_and_store(rel *r) {
  plan_run(r);
  if (!await_outputs(r))
    return false;
  rd_kafka_poll(r->producer, 0); /* the last delivery reports */
  r->unflushed = 0;
  store_pending(r);
  return true;
}

/* Held records held longer than max_age_s expire: planned like a
 * release (read back for their sync_log record and done marker). */
static void expire(rel *r) {
  int64_t cutoff = ls_now_us() - (int64_t)r->o->max_age_s * 1000000;
  for (int p = 0; p < MAX_PARTS; p++) {
    if (!r->parts[p] || r->failed[p])
      continue;
    r->cur = p;
    fl_item *items;
    size_t n = fl_state_take_expired(r->parts[p], cutoff, &items);
    if (n && !plan_release(r, REL_EXPIRE, NULL,
                           "held longer than held_max_age_days", items, n))
      mark_bad(r, p);
    if (n)
      ls_info("filter: held events expired", "{s:i,s:i}", "partition", p,
              "count", (int)n);
  }
  r->cur = -1;
}

/* -- restore --------------------------------------------------------- */

typedef struct {
  rel *r;
  fl_state *snap;
} snap_arg;

/* One leadsync.lead_state record: the lead's latest decision and the held
 * offset of the record that made it. */
static void snap_fn(const rd_kafka_message_t *m, void *arg) {
  snap_arg *a = arg;
  char key[LS_KEY_MAX];
  if (!m->key || m->key_len >= sizeof key)
    return;
  memcpy(key, m->key, m->key_len);
  key[m->key_len] = '\0';
  json_t *v = json_loadb(m->payload, m->len, 0, NULL);
  const json_t *off = json_object_get(v, "held_offset");
  if (json_is_integer(off) &&
      !fl_state_set_cat(
          a->snap, fl_lead_of(key), tenant_index(a->r->o->cfg, key),
          json_is_true(json_object_get(v, "allowed")) ? FL_CAT_ALLOWED
                                                      : FL_CAT_DENIED,
          json_integer_value(off)))
    a->r->bad[m->partition] = true; /* out of memory: the restore fails */
  json_decref(v);
}

typedef struct {
  rel *r;
  size_t n;
  int64_t bytes;
} replay_arg;

static void replay_fn(const rd_kafka_message_t *m, void *arg) {
  replay_arg *a = arg;
  a->n++;
  a->bytes += (int64_t)(m->len + m->key_len);
  apply(a->r, m, false);
}

typedef struct {
  rel *r;
  fl_state *dst;
  int64_t held_low;
  int32_t p;
} seed_arg;

/* Copies a snapshot state whose deciding record is gone from
 * leadsync.held (retention), so replay starts from what was decided
 * before it. */
static void seed_fn(fl_lead lead, uint16_t tenant, fl_cat c, int64_t at,
                    void *ud) {
  seed_arg *a = ud;
  if (at >= 0 && at < a->held_low &&
      !fl_state_set_cat(a->dst, lead, tenant, c, at))
    a->r->bad[a->p] = true;
}

/* Restores partition p's state (docs/filter.md "Restarts and
 * rebalances"): the newest snapshot of leadsync.filter_state, then a
 * replay of leadsync.held from the snapshot's offset up to the committed
 * one; without a usable snapshot, the leadsync.lead_state categories and
 * a replay of leadsync.held from its beginning (history). *resume is where
 * consumption goes on: the committed offset, or the snapshot's when that
 * is ahead (everything before it was decided and acknowledged before the
 * snapshot was written); -1: the beginning. Only offsets are kept: the
 * replay holds no record. */
static bool rebuild(rel *r, int32_t p, int64_t committed, int64_t *resume) {
  int64_t lo = 0, hi = 0, slo = 0, shi = 0, t0 = ls_mono_us();
  char err[LS_ERRSTR_SIZE] = "";
  *resume = committed;
  if (wrk_fault("rebuild")) {
    snprintf(r->errstr, sizeof r->errstr,
             "rebuild: injected failure of partition %d", (int)p);
    return false;
  }
  ls_info("filter: restoring partition", "{s:i,s:I}", "partition", (int)p,
          "committed", (json_int_t)committed);
  /* Tests: a slow restore, to be killed in the middle of it. */
  while (!*r->o->stop && wrk_fault("filter_restore_stall"))
    rd_kafka_poll(r->producer, 100);
  if (!fl_reader_watermarks(r->reader, KQ_TOPIC_HELD, p, &lo, &hi, err,
                            sizeof err)) {
    snprintf(r->errstr, sizeof r->errstr, "rebuild: %.400s", err);
    return false;
  }
  fl_state_free(r->parts[p]);
  r->parts[p] = NULL;
  r->bad[p] = false;
  fl_obs_restore rs = {0};
  fl_state *st = NULL;
  fl_snap_info si;
  fl_snap_result sr = fl_snap_load(r->reader, r->o->cfg, r->o->group, p, &st,
                                   &si, err, sizeof err);
  rs.snapshot_records = si.records;
  if (sr == FL_SNAP_ERROR) {
    snprintf(r->errstr, sizeof r->errstr,
             "rebuild of partition %d: reading its snapshot: %.400s", (int)p,
             err);
    return false;
  }
  if (sr == FL_SNAP_LOADED && si.held_offset > hi) {
    /* Newer than leadsync.held itself: not this topic's state. */
    fl_state_free(st);
    st = NULL;
    sr = FL_SNAP_NONE;
    snprintf(err, sizeof err,
             "snapshot at held offset %lld beyond the end %lld",
             (long long)si.held_offset, (long long)hi);
  }
  int64_t from, upto;
  if (sr == FL_SNAP_LOADED) {
    r->snap[p] = si;
    from = si.held_offset;
    upto = committed > from ? committed : from;
    *resume = upto;
    rs.snapshot_bytes = si.bytes;
  } else {
    ls_info("filter: no usable snapshot; restoring from leadsync.held's "
            "history",
            "{s:i,s:s}", "partition", (int)p, "reason", err);
    st = fl_state_new();
    r->snap[p] = (fl_snap_info){.held_offset = -1, .end_offset = -1};
    from = lo;
    upto = committed >= 0 ? committed : lo;
  }
  r->parts[p] = st;
  bool ok = st != NULL;
  /* Categories whose deciding record is gone from leadsync.held
   * (retention) and the replay cannot see: from leadsync.lead_state. */
  if (ok && (sr != FL_SNAP_LOADED || from < lo)) {
    snap_arg sa = {r, fl_state_new()};
    ok = sa.snap &&
         fl_reader_watermarks(r->reader, KQ_TOPIC_LEAD_STATE, p, &slo, &shi,
                              err, sizeof err) &&
         fl_reader_range(r->reader, KQ_TOPIC_LEAD_STATE, p, slo, shi, snap_fn,
                         &sa, err, sizeof err);
    if (ok) {
      seed_arg ga = {r, st, lo, p};
      fl_state_foreach_lead(sa.snap, seed_fn, &ga);
    }
    fl_state_free(sa.snap);
    rs.lead_state_records = (size_t)(shi - slo);
  }
  if (from < lo)
    from = lo; /* the rest is gone (retention) */
  r->replay_from[p] = from;
  replay_arg ra = {r, 0, 0};
  if (ok && upto > from)
    ok = fl_reader_range(r->reader, KQ_TOPIC_HELD, p, from, upto, replay_fn,
                         &ra, err, sizeof err);
  rs.held_records = ra.n;
  r->tail_bytes[p] = ra.bytes;
  rs.tail_records = upto - from;
  if (!ok)
    snprintf(r->errstr, sizeof r->errstr, "rebuild of partition %d: %.400s",
             (int)p, err);
  if (ok && (r->bad[p] || !r->parts[p])) {
    ok = false; /* out of memory while replaying */
    snprintf(r->errstr, sizeof r->errstr,
             "rebuild of partition %d ran out of memory", (int)p);
  }
  r->bad[p] = false;
  r->bad_off[p] = -1;
  rs.seconds = (double)(ls_mono_us() - t0) / 1e6;
  r->restore[p] = rs;
  ls_info(
      "filter: partition restored",
      "{s:i,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:f,s:b}", "partition",
      (int)p, "from", sr == FL_SNAP_LOADED ? "snapshot" : "history",
      "snapshot_at", (json_int_t)(sr == FL_SNAP_LOADED ? si.held_offset : -1),
      "replayed_to", (json_int_t)upto, "snapshot_records",
      (json_int_t)rs.snapshot_records, "held_records",
      (json_int_t)rs.held_records, "state_records",
      (json_int_t)rs.lead_state_records, "held_history", (json_int_t)(hi - lo),
      "leads", r->parts[p] ? (int)fl_state_leads(r->parts[p]) : 0, "held",
      r->parts[p] ? (int)fl_state_held(r->parts[p]) : 0, "state_bytes",
      r->parts[p] ? (int)fl_state_bytes(r->parts[p]) : 0, "seconds", rs.seconds,
      "ok", ok);
  return ok;
}

/* -- checkpoints ------------------------------------------------------ */

/* Whether partition p's state is due for a snapshot (docs/filter.md
 * "Checkpoints"): only when it is exactly the state of its stored offset
 * (nothing applied and not yet stored), and when the bytes of the
 * records a restore would replay (the tail) reach both the floor and the
 * last snapshot's bytes (so a restore reads at most about twice the
 * state's bytes plus the floor, and snapshots write at most about as
 * many bytes as the filter consumes); leaving the partition, when the
 * tail reaches the floor or a quarter of the state; else once a day
 * while anything changed. */
static bool snapshot_due(rel *r, int p, bool leaving) {
  fl_state *f = r->parts[p];
  if (!f || r->failed[p] || r->bad[p] || r->pending[p] >= 0 ||
      r->stored[p] < 0 || r->state_ahead)
    return false;
  int64_t tail = r->stored[p] - r->replay_from[p];
  if (tail <= 0 || (!leaving && ls_mono_us() < r->snap_retry[p]))
    return false;
  int64_t bytes = r->tail_bytes[p], last = (int64_t)r->snap[p].bytes;
  if (bytes >= r->o->snapshot_bytes && bytes >= last)
    return true;
  if (leaving)
    return bytes >= r->o->snapshot_bytes ||
           bytes * 4 >= (int64_t)fl_state_encoded_bytes(f);
  return ls_now_us() - r->snap[p].written_us > FL_SNAPSHOT_MAX_AGE_US;
}

static void write_snapshot(rel *r, int p, int64_t deadline_us,
                           volatile sig_atomic_t *stop) {
  char err[LS_ERRSTR_SIZE];
  int64_t t0 = ls_mono_us();
  bool ok = fl_snap_write(r->producer, &r->snap_dr, r->o->cfg, r->o->group, p,
                          r->parts[p], r->stored[p], &r->snap[p], deadline_us,
                          stop, err, sizeof err);
  ls_metrics_inc(r->o->metrics, "leadsync_filter_snapshots_total",
                 "Snapshots of the filter state written, by result",
                 ok ? "result=\"ok\"" : "result=\"failed\"", 1);
  if (!ok) {
    ls_warn("filter: snapshot not written; the previous one stays", "{s:i,s:s}",
            "partition", p, "error", err);
    r->snap_retry[p] = ls_mono_us() + 60000000;
    return;
  }
  r->replay_from[p] = r->stored[p];
  r->restore[p].tail_records = 0;
  r->tail_bytes[p] = 0;
  r->restore[p].snapshot_bytes = r->snap[p].bytes;
  ls_info("filter: snapshot written", "{s:i,s:I,s:i,s:i,s:i,s:I,s:f}",
          "partition", p, "held_offset", (json_int_t)r->stored[p], "leads",
          (int)fl_state_leads(r->parts[p]), "held",
          (int)fl_state_held(r->parts[p]), "chunks", (int)r->snap[p].chunks,
          "bytes", (json_int_t)r->snap[p].bytes, "seconds",
          (double)(ls_mono_us() - t0) / 1e6);
}

/* Writes the snapshots that are due (only: NULL every partition, else
 * those marked), with nothing else in flight. */
static void snapshots(rel *r, const bool *only, bool leaving,
                      int64_t deadline_us, volatile sig_atomic_t *stop) {
  if (r->unflushed || r->plan.n)
    return;
  for (int p = 0; p < MAX_PARTS; p++)
    if ((!only || only[p]) && snapshot_due(r, p, leaving))
      write_snapshot(r, p, deadline_us, stop);
}

/* Rebuilds failed partitions and seeks them back to where they restart
 * (records read meanwhile were dropped, never stored). */
static void recover(rel *r) {
  for (int p = 0; p < MAX_PARTS; p++) {
    if (!r->failed[p] || *r->o->stop)
      continue;
    int64_t resume;
    if (!rebuild(r, p, r->stored[p], &resume)) {
      ls_error("filter: rebuild failed; the partition waits (nothing of it "
               "is applied or stored)",
               "{s:i,s:s}", "partition", p, "error", r->errstr);
      continue;
    }
    r->stored[p] = resume;
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
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  rel *r = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_resp_err_t cerr = rd_kafka_committed(rk, parts, 10000);
    if (cerr)
      ls_warn("filter: committed offsets not read; the partitions restart "
              "from their beginning",
              "{s:s}", "error", rd_kafka_err2str(cerr));
    rd_kafka_topic_partition_list_t *mine =
        rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
      int32_t p = parts->elems[i].partition;
      if (p < 0 || p >= MAX_PARTS) {
        /* Not taken: it stays in Kafka for a build with more room. */
        ls_error("filter: partition beyond MAX_PARTS not consumed", "{s:i,s:i}",
                 "partition", (int)p, "max", MAX_PARTS);
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
      r->snap_retry[p] = 0;
      int64_t resume;
      if (!rebuild(r, p, c >= 0 ? c : -1, &resume)) {
        /* Assigned, but its records are dropped unread until recover()
         * rebuilds it: partial state never decides or stores. */
        ls_error("filter: rebuild failed; the partition waits", "{s:i,s:s}",
                 "partition", (int)p, "error", r->errstr);
        r->failed[p] = true;
      } else if (resume > c) {
        /* The snapshot is ahead of the committed offset: what lies
         * between was decided and acknowledged before it was written. */
        r->stored[p] = resume;
        c = resume;
      }
      rd_kafka_topic_partition_list_add(mine, parts->elems[i].topic, p)
          ->offset = c >= 0 ? c : RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, mine);
    rd_kafka_topic_partition_list_destroy(mine);
  } else {
    /* Leaving the partitions: snapshots first where the tail is worth it,
     * so whoever gets them next (often this process again, the eager
     * protocol revokes everything) restores the state, not its history. */
    if (flush_and_store(r)) {
      bool *leaving = calloc(MAX_PARTS, sizeof *leaving);
      for (int i = 0; leaving && i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 &&
            parts->elems[i].partition < MAX_PARTS)
          leaving[parts->elems[i].partition] = true;
      if (leaving)
        snapshots(r, leaving, true, ls_mono_us() + 10000000, NULL);
      free(leaving);
    }
    rd_kafka_commit(rk, NULL, 0);
    for (int i = 0; i < parts->cnt; i++) {
      int32_t p = parts->elems[i].partition;
      if (p >= 0 && p < MAX_PARTS) {
        fl_state_free(r->parts[p]); /* revoked: its state goes */
        r->parts[p] = NULL;
        fl_obs_partition_drop(r->o->metrics, p);
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
      leads += fl_state_leads(r->parts[p]);
      held += fl_state_held(r->parts[p]);
    }
  ls_metrics_set(r->o->metrics, "leadsync_filter_leads", NULL, NULL,
                 (double)leads);
  ls_metrics_set(r->o->metrics, "leadsync_filter_held", NULL, NULL,
                 (double)held);
  /* Per-partition state, per-tenant counts and ages walk every held
   * event: every 5 s. */
  int64_t now = ls_mono_us();
  if (now >= r->next_held_gauges) {
    for (int p = 0; p < MAX_PARTS; p++)
      if (r->parts[p]) {
        r->restore[p].tail_records = r->stored[p] - r->replay_from[p];
        fl_obs_partition(r->o->metrics, p, r->parts[p], &r->restore[p]);
      }
    fl_obs_held(r->o->metrics, r->o->cfg, r->parts, MAX_PARTS, r->o->max_age_s);
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
    r->snap[p] = (fl_snap_info){.held_offset = -1, .end_offset = -1};
  }
  snprintf(r->cat_topic, sizeof r->cat_topic, "%slead_category_updated",
           o->cfg->topic_prefix);

  /* message.timeout.ms=0: temporary errors are retried forever; what is
   * reported failed is refused for good (on_delivery). */
  static const char *const pprops[] = {"message.timeout.ms", "0", NULL};
  kq_producer_opts po = {
      .props = pprops, .on_delivery = on_delivery, .opaque = r};
  r->producer = kq_producer_new(o->cfg, &po, errstr, errlen);
  if (!r->producer)
    goto out;
  {
    /* The producer learns a topic's metadata on its first record: about
     * a second in which the loop would wait. Snapshots go to a topic
     * nothing else here writes; learn it now. */
    rd_kafka_topic_t *t =
        rd_kafka_topic_new(r->producer, KQ_TOPIC_FILTER_STATE, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (t && !rd_kafka_metadata(r->producer, 0, t, &md, 5000))
      rd_kafka_metadata_destroy(md);
    if (t)
      rd_kafka_topic_destroy(t);
  }
  r->reader = fl_reader_new(o->cfg, o->max_msg_bytes, o->stop, errstr, errlen);
  if (!r->reader)
    goto out;
  /* A bounded prefetch: the filter's memory is its state, not a fetch
   * queue of records it reads at its own pace anyway. */
  static const char *const cprops[] = {"queued.max.messages.kbytes", "2048",
                                       "queued.min.messages", "1000", NULL};
  kq_consumer_opts co = {.kind = KQ_GROUP_MEMBER,
                         .group_id = o->group,
                         .props = cprops,
                         .on_rebalance = rebalance_cb,
                         .opaque = r,
                         .poll_set_consumer = true};
  r->consumer = kq_consumer_new(o->cfg, &co, errstr, errlen);
  if (!r->consumer)
    goto out;
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, KQ_TOPIC_HELD, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(r->consumer, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (err) {
    snprintf(errstr, errlen, "subscribe %s: %s", KQ_TOPIC_HELD,
             rd_kafka_err2str(err));
    goto out;
  }
  ls_info("filter role started", "{s:s,s:i}", "group", o->group, "max_age_s",
          (int)o->max_age_s);
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
        r->tail_bytes[p] += (int64_t)(m->len + m->key_len);
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
    snapshots(r, NULL, false, ls_mono_us() + 60000000, o->stop);
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
  r->state_ahead = r->plan.n > 0;
  plan_drop(r);
  if (r->unflushed) {
    rd_kafka_flush(r->producer, 5000);
    if (rd_kafka_outq_len(r->producer) == 0)
      store_pending(r);
    else
      r->state_ahead = true;
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
    fl_state_free(r->parts[p]);
  plan_drop(r);
  fl_reader_free(r->reader);
  free(r->plan.v);
  free(r);
  return rc;
}
