/* as_known: the event ids and leads leadsync already holds for a tenant in
 * the look-back window, read from its own smartlead.* topics. */
#include "as.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_event.h"
#include "ls_log.h"
#include "ls_time.h"

struct as_known {
  unsigned char (*slots)[16];
  unsigned char *used;
  size_t cap, count, max;
  json_t *leads;
};

as_known *as_known_new(size_t max_ids) {
  as_known *k = calloc(1, sizeof *k);
  if (!k)
    return NULL;
  k->max = max_ids ? max_ids : 2000000;
  k->cap = 4096;
  k->slots = calloc(k->cap, 16);
  k->used = calloc(k->cap, 1);
  k->leads = json_object();
  return k;
}

void as_known_free(as_known *k) {
  if (!k)
    return;
  free(k->slots);
  free(k->used);
  json_decref(k->leads);
  free(k);
}

static bool to_bin(const char *hex, unsigned char out[16]) {
  for (int i = 0; i < 16; i++) {
    unsigned v = 0;
    for (int j = 0; j < 2; j++) {
      char c = hex[i * 2 + j];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= (unsigned)(c - 'a' + 10);
      else
        return false;
    }
    out[i] = (unsigned char)v;
  }
  return true;
}

static size_t slot_of(const as_known *k, const unsigned char id[16]) {
  size_t h;
  memcpy(&h, id, sizeof h);
  size_t i = h & (k->cap - 1);
  while (k->used[i] && memcmp(k->slots[i], id, 16))
    i = (i + 1) & (k->cap - 1);
  return i;
}

bool as_known_has(const as_known *k, const char *event_id) {
  unsigned char id[16];
  if (strlen(event_id) != 32 || !to_bin(event_id, id))
    return false;
  return k->used[slot_of(k, id)];
}

static bool grow(as_known *k) {
  size_t ncap = k->cap * 2;
  unsigned char(*ns)[16] = calloc(ncap, 16);
  unsigned char *nu = calloc(ncap, 1);
  if (!ns || !nu) {
    free(ns);
    free(nu);
    return false;
  }
  as_known old = *k;
  k->slots = ns;
  k->used = nu;
  k->cap = ncap;
  for (size_t i = 0; i < old.cap; i++) {
    if (old.used[i]) {
      size_t j = slot_of(k, old.slots[i]);
      memcpy(k->slots[j], old.slots[i], 16);
      k->used[j] = 1;
    }
  }
  free(old.slots);
  free(old.used);
  return true;
}

bool as_known_add(as_known *k, const char *event_id) {
  unsigned char id[16];
  if (strlen(event_id) != 32 || !to_bin(event_id, id))
    return true;
  size_t i = slot_of(k, id);
  if (k->used[i])
    return true;
  if (k->count >= k->max)
    return false;
  if ((k->count + 1) * 2 > k->cap) {
    if (!grow(k))
      return false;
    i = slot_of(k, id);
  }
  memcpy(k->slots[i], id, 16);
  k->used[i] = 1;
  k->count++;
  return true;
}

size_t as_known_count(const as_known *k) {
  return k->count;
}
json_t *as_known_leads(as_known *k) {
  return k->leads;
}

/* Types the API can report, hence the topics worth reading. */
static const ls_event_type backfillable[] = {LS_EV_EMAIL_SENT,
                                             LS_EV_EMAIL_OPEN,
                                             LS_EV_EMAIL_LINK_CLICK,
                                             LS_EV_EMAIL_REPLY,
                                             LS_EV_EMAIL_BOUNCE,
                                             LS_EV_LEAD_UNSUBSCRIBED,
                                             LS_EV_LEAD_CATEGORY_UPDATED,
                                             LS_EV_FIRST_EMAIL_SENT};
#define N_BF (sizeof backfillable / sizeof backfillable[0])

static void note_lead(as_known *k, const rd_kafka_message_t *m, size_t tlen) {
  const char *key = m->key;
  size_t kl = m->key_len;
  /* tenant:campaign:email */
  const char *c = key + tlen + 1;
  const char *end = key + kl;
  const char *c2 = memchr(c, ':', (size_t)(end - c));
  if (!c2 || c2 == c || (c2 - c == 1 && *c == '-') || end - c2 < 2)
    return;
  char lk[400];
  snprintf(lk, sizeof lk, "%.*s\x1f%.*s", (int)(c2 - c), c, (int)(end - c2 - 1),
           c2 + 1);
  json_t *root = json_loadb(m->payload, m->len, 0, NULL);
  json_t *lead = json_object_get(k->leads, lk);
  if (!lead) {
    lead = json_pack("{s:s,s:s,s:I}", "lead_id", "", "cat_id", "", "cat_us",
                     (json_int_t)0);
    json_object_set_new(k->leads, lk, lead);
  }
  if (!json_is_object(root)) {
    json_decref(root);
    return;
  }
  char id[32];
  const json_t *lid = json_object_get(root, "sl_email_lead_id");
  if (!lid || json_is_null(lid))
    lid = json_object_get(root, "lead_id");
  ls_json_id(lid, id, sizeof id);
  if (id[0])
    json_object_set_new(lead, "lead_id", json_string(id));
  const char *et = json_string_value(json_object_get(root, "event_type"));
  if (et && !strcmp(et, "LEAD_CATEGORY_UPDATED")) {
    const json_t *nv =
        json_object_get(json_object_get(root, "lead_category"), "new_id");
    if (!nv || json_is_null(nv))
      nv = json_object_get(root, "lead_category_id");
    char cat[32];
    ls_json_id(nv, cat, sizeof cat);
    int64_t us = 0;
    const char *ts =
        json_string_value(json_object_get(root, "event_timestamp"));
    if (ts)
      ls_time_parse(ts, &us);
    if (cat[0] && us >= json_integer_value(json_object_get(lead, "cat_us"))) {
      json_object_set_new(lead, "cat_id", json_string(cat));
      json_object_set_new(lead, "cat_us", json_integer(us));
    }
  }
  json_decref(root);
}

int as_known_load(as_known *k, const ls_config *cfg, const char *tenant,
                  int64_t since_us, char *err, size_t errlen) {
  kq_consumer_opts o = {.kind = KQ_READER,
                        .group_id = "leadsync-assurance-scan"};
  rd_kafka_t *c = kq_consumer_new(cfg, &o, err, errlen);
  if (!c)
    return -1;
  rd_kafka_topic_partition_list_t *q = rd_kafka_topic_partition_list_new(64);
  char topics[N_BF][LS_TOPIC_MAX];
  for (size_t i = 0; i < N_BF; i++) {
    snprintf(topics[i], sizeof topics[i], "%s%s", cfg->topic_prefix,
             ls_event_type_slug(backfillable[i]));
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, topics[i], NULL);
    if (rd_kafka_metadata(c, 0, rkt, &md, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1) {
      for (int p = 0; p < md->topics[0].partition_cnt; p++)
        rd_kafka_topic_partition_list_add(q, topics[i], p)->offset =
            since_us / 1000;
    }
    if (md)
      rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
  }
  int rc = -1;
  if (rd_kafka_offsets_for_times(c, q, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(err, errlen, "kafka offsets_for_times failed");
    goto out;
  }
  /* High watermarks as of now: records after them belong to the next run. */
  int64_t *high = calloc((size_t)q->cnt + 1, sizeof *high);
  int pending = 0;
  for (int i = 0; i < q->cnt; i++) {
    rd_kafka_topic_partition_t *tp = &q->elems[i];
    int64_t lo = 0, hi = 0;
    rd_kafka_query_watermark_offsets(c, tp->topic, tp->partition, &lo, &hi,
                                     10000);
    high[i] = hi;
    /* -1 is "no record at or after the time" on a real broker, and what
     * the dev broker answers to any time: read from the start then, and
     * let the record timestamps decide. */
    if (tp->offset < 0)
      tp->offset = lo;
    if (tp->offset < lo)
      tp->offset = lo;
    if (tp->offset < hi)
      pending++;
    else
      high[i] = -1; /* nothing to read there */
  }
  rd_kafka_assign(c, q);
  size_t tlen = strlen(tenant);
  int64_t deadline = ls_mono_us() + 120 * 1000000LL;
  bool full_warned = false;
  while (pending > 0 && ls_mono_us() < deadline) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
    if (!m)
      continue;
    if (m->err) {
      rd_kafka_message_destroy(m);
      continue;
    }
    const char *tn = rd_kafka_topic_name(m->rkt);
    for (int i = 0; i < q->cnt; i++) {
      if (q->elems[i].partition == m->partition &&
          !strcmp(q->elems[i].topic, tn)) {
        if (m->offset + 1 >= high[i] && high[i] >= 0) {
          pending--;
          high[i] = -1; /* done */
        }
        break;
      }
    }
    rd_kafka_timestamp_type_t tst;
    int64_t ts_ms = rd_kafka_message_timestamp(m, &tst);
    if (ts_ms >= 0 && ts_ms * 1000 < since_us) {
      rd_kafka_message_destroy(m);
      continue;
    }
    if (m->key && m->key_len > tlen && !memcmp(m->key, tenant, tlen) &&
        ((const char *)m->key)[tlen] == ':') {
      char id[64];
      kq_header(m, "ce_id", id, sizeof id);
      if (id[0] && !as_known_add(k, id) && !full_warned) {
        ls_warn("known-id table full; later back-fills may repeat (the "
                "ledger absorbs them)",
                "{s:s,s:I}", "tenant", tenant, "max_ids", (json_int_t)k->max);
        full_warned = true;
      }
      note_lead(k, m, tlen);
    }
    rd_kafka_message_destroy(m);
  }
  free(high);
  if (pending > 0) {
    snprintf(err, errlen, "timed out reading the look-back window");
    goto out;
  }
  rc = 0;
out:
  rd_kafka_topic_partition_list_destroy(q);
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return rc;
}
