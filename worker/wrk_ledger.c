/* wrk_ledger: event ids already synced (an open-addressing hash set of
 * 128-bit ids) fed from leadsync.ledger. */
#include "wrk_ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_hash.h"
#include "ls_log.h"
#include "ls_time.h"

typedef struct {
  uint64_t a, b; /* a == 0 && b == 0 marks an empty slot */
} lid;

typedef struct {
  lid *slots;
  size_t cap, n;
} idset;

struct wrk_ledger {
  idset done, intents;
  rd_kafka_t *rk;
  const wrk_settings *s;
  int32_t nparts;
  int64_t *pos; /* next offset to read, per partition */
};

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* 32 hex digits as two words; anything else through SHA-256 first. */
static lid to_lid(const char *id) {
  lid k = {0, 0};
  char hex[65];
  const char *src = id;
  if (strlen(id) != 32) {
    ls_sha256_hex(id, strlen(id), hex);
    src = hex;
  }
  for (int i = 0; i < 32; i++) {
    int v = hexval(src[i]);
    if (v < 0) {
      ls_sha256_hex(id, strlen(id), hex);
      return to_lid(hex[0] ? hex + 32 : "0");
    }
    if (i < 16)
      k.a = (k.a << 4) | (uint64_t)v;
    else
      k.b = (k.b << 4) | (uint64_t)v;
  }
  if (!k.a && !k.b)
    k.b = 1;
  return k;
}

static size_t slot_of(const idset *l, lid k) {
  return (size_t)((k.a ^ (k.b * 0x9e3779b97f4a7c15u)) & (l->cap - 1));
}

static bool grow(idset *l) {
  size_t ncap = l->cap ? l->cap * 2 : 1024;
  lid *ns = calloc(ncap, sizeof *ns);
  if (!ns)
    return false;
  lid *old = l->slots;
  size_t ocap = l->cap;
  l->slots = ns;
  l->cap = ncap;
  for (size_t i = 0; i < ocap; i++) {
    if (!old[i].a && !old[i].b)
      continue;
    size_t j = slot_of(l, old[i]);
    while (l->slots[j].a || l->slots[j].b)
      j = (j + 1) & (l->cap - 1);
    l->slots[j] = old[i];
  }
  free(old);
  return true;
}

static void set_add(idset *l, const char *event_id) {
  if ((l->n + 1) * 10 >= l->cap * 7 && !grow(l))
    return;
  lid k = to_lid(event_id);
  size_t j = slot_of(l, k);
  while (l->slots[j].a || l->slots[j].b) {
    if (l->slots[j].a == k.a && l->slots[j].b == k.b)
      return;
    j = (j + 1) & (l->cap - 1);
  }
  l->slots[j] = k;
  l->n++;
}

static bool set_has(const idset *l, const char *event_id) {
  if (!l->cap)
    return false;
  lid k = to_lid(event_id);
  size_t j = slot_of(l, k);
  while (l->slots[j].a || l->slots[j].b) {
    if (l->slots[j].a == k.a && l->slots[j].b == k.b)
      return true;
    j = (j + 1) & (l->cap - 1);
  }
  return false;
}

size_t wrk_ledger_size(const wrk_ledger *l) { return l->done.n; }

void wrk_ledger_add(wrk_ledger *l, const char *event_id) {
  set_add(&l->done, event_id);
}

bool wrk_ledger_has(const wrk_ledger *l, const char *event_id) {
  return set_has(&l->done, event_id);
}

void wrk_ledger_add_intent(wrk_ledger *l, const char *event_id) {
  set_add(&l->intents, event_id);
}

bool wrk_ledger_has_intent(const wrk_ledger *l, const char *event_id) {
  return set_has(&l->intents, event_id);
}

wrk_ledger *wrk_ledger_new_local(void) {
  wrk_ledger *l = calloc(1, sizeof *l);
  if (l && (!grow(&l->done) || !grow(&l->intents))) {
    free(l->done.slots);
    free(l);
    return NULL;
  }
  return l;
}

static bool wanted_type(const wrk_settings *s, const char *type) {
  if (!s || !type)
    return true;
  ls_event_type t = ls_event_type_from_name(type);
  for (size_t i = 0; i < s->n_types; i++)
    if (s->types[i] == t)
      return true;
  return false;
}

static void take(wrk_ledger *l, const rd_kafka_message_t *m) {
  if (m->err || !m->payload)
    return;
  json_t *j = json_loadb(m->payload, m->len, 0, NULL);
  const char *id = json_string_value(json_object_get(j, "event_id"));
  const char *type = json_string_value(json_object_get(j, "event_type"));
  const char *state = json_string_value(json_object_get(j, "state"));
  if (id && wanted_type(l->s, type)) {
    if (state && !strcmp(state, "intent"))
      wrk_ledger_add_intent(l, id);
    else
      wrk_ledger_add(l, id);
  }
  json_decref(j);
}

/* One record of the tail: its id, and where the partition stands. */
static void take_msg(wrk_ledger *l, const rd_kafka_message_t *m) {
  if (!m->err && m->partition >= 0 && m->partition < l->nparts) {
    take(l, m);
    l->pos[m->partition] = m->offset + 1;
  } else if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
             m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
    ls_warn("ledger partition truncated", "{s:i}", "partition",
            (int)m->partition);
  }
}

wrk_ledger *wrk_ledger_new(const ls_config *cfg, const wrk_settings *s,
                           char *errstr, size_t errlen) {
  wrk_ledger *l = wrk_ledger_new_local();
  rd_kafka_conf_t *conf = NULL;
  rd_kafka_topic_partition_list_t *tp = NULL;
  const struct rd_kafka_metadata *md = NULL;
  if (!l) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  l->s = s;
  conf = kq_conf_new_consumer(cfg, errstr, errlen);
  if (!conf)
    goto fail;
  char gid[200];
  snprintf(gid, sizeof gid, "%s-ledger", s->group_id);
  if (!kq_set(conf, "group.id", gid, errstr, errlen) ||
      !kq_set(conf, "enable.auto.commit", "false", errstr, errlen) ||
      !kq_set(conf, "enable.partition.eof", "false", errstr, errlen))
    goto fail;
  char rkerr[512];
  l->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof rkerr);
  if (!l->rk) {
    snprintf(errstr, errlen, "ledger consumer: %s", rkerr);
    goto fail;
  }
  conf = NULL;
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(l->rk, KQ_TOPIC_LEDGER, NULL);
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int tries = 0; tries < 50; tries++) {
    err = rd_kafka_metadata(l->rk, 0, rkt, &md, 5000);
    if (!err && md->topic_cnt == 1 && !md->topics[0].err &&
        md->topics[0].partition_cnt > 0)
      break;
    if (md) {
      rd_kafka_metadata_destroy(md);
      md = NULL;
    }
  }
  rd_kafka_topic_destroy(rkt);
  if (!md) {
    snprintf(errstr, errlen, "ledger topic %s: no metadata (%s)",
             KQ_TOPIC_LEDGER, rd_kafka_err2str(err));
    goto fail;
  }
  l->nparts = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);
  l->pos = calloc((size_t)l->nparts, sizeof *l->pos);
  if (!l->pos) {
    snprintf(errstr, errlen, "out of memory");
    goto fail;
  }
  tp = rd_kafka_topic_partition_list_new(l->nparts);
  for (int32_t p = 0; p < l->nparts; p++)
    rd_kafka_topic_partition_list_add(tp, KQ_TOPIC_LEDGER, p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  err = rd_kafka_assign(l->rk, tp);
  rd_kafka_topic_partition_list_destroy(tp);
  if (err) {
    snprintf(errstr, errlen, "ledger assign: %s", rd_kafka_err2str(err));
    goto fail;
  }
  return l;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  wrk_ledger_free(l);
  return NULL;
}

/* Reads until every partition reached the high watermark it had when
 * called. */
static ls_err catch_up(wrk_ledger *l, long timeout_ms,
                       volatile sig_atomic_t *stop, char *errstr,
                       size_t errlen) {
  int64_t *high = calloc((size_t)l->nparts, sizeof *high);
  ls_err e = LS_OK;
  int64_t t0 = ls_mono_us();
  if (!high) {
    snprintf(errstr, errlen, "out of memory");
    return LS_ERR_NOMEM;
  }
  for (int32_t p = 0; p < l->nparts; p++) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
        l->rk, KQ_TOPIC_LEDGER, p, &lo, &hi, 5000);
    if (err) {
      snprintf(errstr, errlen, "ledger watermarks of partition %d: %s", p,
               rd_kafka_err2str(err));
      e = LS_ERR_KAFKA;
      goto out;
    }
    high[p] = hi;
    if (l->pos[p] < lo)
      l->pos[p] = lo;
  }
  for (;;) {
    bool done = true;
    for (int32_t p = 0; p < l->nparts; p++)
      if (l->pos[p] < high[p])
        done = false;
    if (done)
      break;
    if ((stop && *stop) || ls_mono_us() - t0 > timeout_ms * 1000) {
      snprintf(errstr, errlen, "ledger not read within %ld ms", timeout_ms);
      e = LS_ERR_TIMEOUT;
      goto out;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, 100);
    if (!m)
      continue;
    take_msg(l, m);
    rd_kafka_message_destroy(m);
  }
out:
  free(high);
  return e;
}

ls_err wrk_ledger_load(wrk_ledger *l, long timeout_ms,
                       volatile sig_atomic_t *stop, char *errstr,
                       size_t errlen) {
  int64_t t0 = ls_mono_us();
  ls_err e = catch_up(l, timeout_ms, stop, errstr, errlen);
  if (e == LS_OK)
    ls_info("ledger loaded", "{s:i,s:i,s:i}", "events", (int)l->done.n,
            "intents", (int)l->intents.n, "ms",
            (int)((ls_mono_us() - t0) / 1000));
  return e;
}

ls_err wrk_ledger_catch_up(wrk_ledger *l, long timeout_ms,
                           volatile sig_atomic_t *stop, char *errstr,
                           size_t errlen) {
  if (!l->rk)
    return LS_OK;
  return catch_up(l, timeout_ms, stop, errstr, errlen);
}

void wrk_ledger_poll(wrk_ledger *l) {
  if (!l->rk)
    return;
  /* Keep up with every replica's records (thousands per second at full
   * rate), within a bounded slice of the loop. */
  int64_t until = ls_mono_us() + 50000;
  for (int i = 0; i < 50000 && ls_mono_us() < until; i++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(l->rk, 0);
    if (!m)
      return;
    take_msg(l, m);
    rd_kafka_message_destroy(m);
  }
}

void wrk_ledger_free(wrk_ledger *l) {
  if (!l)
    return;
  if (l->rk) {
    rd_kafka_consumer_close(l->rk);
    rd_kafka_destroy(l->rk);
  }
  free(l->done.slots);
  free(l->intents.slots);
  free(l->pos);
  free(l);
}
