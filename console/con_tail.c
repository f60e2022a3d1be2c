/* con_tail: the read model's Kafka consumer (see con_tail.h). */
#include "con_tail.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_log.h"
#include "ls_time.h"

#define HDR_SLOTS 24
#define HDR_MAX 1024

struct con_tail {
  const ls_config *cfg;
  con_store *store;
  ls_metrics *metrics;
  rd_kafka_t *rk;
  char **topics;
  /* Partitions assigned so far, and the high watermarks to catch up to. */
  rd_kafka_topic_partition_list_t *assigned;
  rd_kafka_topic_partition_list_t *target;
  pthread_t thread;
  atomic_bool stop, caught_up;
  atomic_llong applied;
};

/* Header lookups for one record: each distinct name is copied once. */
typedef struct {
  const rd_kafka_message_t *m;
  int n;
  char name[HDR_SLOTS][48];
  char val[HDR_SLOTS][HDR_MAX];
} hdr_cache;

static const char *hdr_get(void *opaque, const char *name) {
  hdr_cache *c = opaque;
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->name[i], name))
      return c->val[i];
  if (c->n == HDR_SLOTS)
    return "";
  int i = c->n++;
  snprintf(c->name[i], sizeof c->name[i], "%s", name);
  return kq_header(c->m, name, c->val[i], sizeof c->val[i]);
}

/* The topics the console reads: the smartlead.* ones (events, quarantine,
 * unknown), held, DLQ, sync log, and the console's own audit and sources. */
static char **console_topics(const char *prefix) {
  char **all = kq_all_topics(prefix);
  if (!all)
    return NULL;
  size_t n = 0;
  for (char **p = all; *p; p++)
    n++;
  char **out = calloc(n + 3, sizeof *out);
  size_t k = 0;
  for (char **p = all; *p; p++) {
    if (!strcmp(*p, KQ_TOPIC_LEAD_STATE) || !strcmp(*p, KQ_TOPIC_LEDGER) ||
        !strcmp(*p, KQ_TOPIC_FILTER_STATE) ||
        !strncmp(*p, "leadsync.fanout", 15) || !strcmp(*p, KQ_TOPIC_AUDIT) ||
        !strcmp(*p, KQ_TOPIC_SOURCES)) {
      free(*p);
      continue;
    }
    out[k++] = *p;
  }
  out[k++] = strdup(KQ_TOPIC_AUDIT);
  out[k++] = strdup(KQ_TOPIC_SOURCES);
  out[k] = NULL;
  free(all);
  return out;
}

static bool is_assigned(con_tail *t, const char *topic, int32_t p) {
  return t->assigned &&
         rd_kafka_topic_partition_list_find(t->assigned, topic, p) != NULL;
}

/* Adds partitions that appeared since the last look (topics created after
 * the console started, or more partitions). */
static void assign_new(con_tail *t) {
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(t->rk, 1, NULL, &md, 5000) !=
      RD_KAFKA_RESP_ERR_NO_ERROR)
    return;
  bool changed = false;
  for (char **tp = t->topics; *tp; tp++) {
    for (int i = 0; i < md->topic_cnt; i++) {
      const struct rd_kafka_metadata_topic *mt = &md->topics[i];
      if (strcmp(mt->topic, *tp) || mt->err)
        continue;
      for (int k = 0; k < mt->partition_cnt; k++) {
        int32_t p = mt->partitions[k].id;
        if (is_assigned(t, *tp, p))
          continue;
        int64_t next = con_store_offset(t->store, *tp, p);
        rd_kafka_topic_partition_list_add(t->assigned, *tp, p)->offset =
            next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(t->rk, *tp, p, &lo, &hi, 5000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi > (next > lo ? next : lo))
          rd_kafka_topic_partition_list_add(t->target, *tp, p)->offset = hi;
        changed = true;
      }
    }
  }
  rd_kafka_metadata_destroy(md);
  if (changed) {
    rd_kafka_resp_err_t err = rd_kafka_assign(t->rk, t->assigned);
    if (err)
      ls_warn("assign failed", "{s:s}", "error", rd_kafka_err2str(err));
  }
}

static void note_progress(con_tail *t, const rd_kafka_message_t *m) {
  if (atomic_load(&t->caught_up))
    return;
  const char *topic = rd_kafka_topic_name(m->rkt);
  for (int i = 0; i < t->target->cnt; i++) {
    rd_kafka_topic_partition_t *e = &t->target->elems[i];
    if (e->partition == m->partition && !strcmp(e->topic, topic) &&
        m->offset + 1 >= e->offset) {
      rd_kafka_topic_partition_list_del_by_idx(t->target, i);
      break;
    }
  }
}

static void *run(void *arg) {
  con_tail *t = arg;
  hdr_cache *hc = malloc(sizeof *hc);
  int64_t next_meta = 0;
  while (!atomic_load(&t->stop)) {
    int64_t now = ls_mono_us();
    if (now >= next_meta) {
      assign_new(t);
      next_meta = now + 10000000;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(t->rk, 100);
    if (!m) {
      if (t->target->cnt == 0)
        atomic_store(&t->caught_up, true);
      continue;
    }
    int n = 0;
    bool in_tx = con_store_begin(t->store) == LS_OK;
    int64_t until = ls_mono_us() + 200000;
    while (m) {
      if (!m->err) {
        hc->m = m;
        hc->n = 0;
        con_record r = {.topic = rd_kafka_topic_name(m->rkt),
                        .partition = m->partition,
                        .offset = m->offset,
                        .ts_ms = rd_kafka_message_timestamp(m, NULL),
                        .key = m->key,
                        .key_len = m->key_len,
                        .value = m->payload,
                        .value_len = m->len,
                        .header = hdr_get,
                        .opaque = hc};
        if (r.ts_ms < 0)
          r.ts_ms = ls_now_us() / 1000;
        if (con_store_apply(t->store, &r, t->cfg->topic_prefix) != LS_OK)
          ls_warn("read model: record not applied", "{s:s,s:i,s:I}", "topic",
                  r.topic, "partition", (int)r.partition, "offset",
                  (json_int_t)r.offset);
        note_progress(t, m);
        n++;
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        ls_warn("read model: consumer error", "{s:s}", "error",
                rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
      if (n >= 2000 || ls_mono_us() >= until)
        break;
      m = rd_kafka_consumer_poll(t->rk, 0);
    }
    if (in_tx && con_store_commit(t->store) != LS_OK)
      ls_error("read model: commit failed", NULL);
    atomic_fetch_add(&t->applied, n);
    if (t->metrics)
      ls_metrics_inc(t->metrics, "leadsync_console_records_applied_total",
                     "Kafka records applied to the read model", NULL, n);
    if (t->target->cnt == 0)
      atomic_store(&t->caught_up, true);
  }
  free(hc);
  return NULL;
}

ls_err con_tail_start(const ls_config *cfg, con_store *store,
                      ls_metrics *metrics, con_tail **out, char *errstr,
                      size_t len) {
  *out = NULL;
  con_tail *t = calloc(1, sizeof *t);
  if (!t) {
    con_store_close(store);
    snprintf(errstr, len, "out of memory");
    return LS_ERR_INTERNAL;
  }
  t->cfg = cfg;
  t->store = store;
  t->metrics = metrics;
  t->topics = console_topics(cfg->topic_prefix);
  t->assigned = rd_kafka_topic_partition_list_new(64);
  t->target = rd_kafka_topic_partition_list_new(64);
  t->rk = kq_tailer_new(cfg, "leadsync-console", errstr, len);
  if (!t->rk)
    goto fail;
  if (pthread_create(&t->thread, NULL, run, t) != 0) {
    snprintf(errstr, len, "cannot start the read model thread");
    goto fail;
  }
  *out = t;
  return LS_OK;
fail:
  if (t->rk)
    rd_kafka_destroy(t->rk);
  con_store_close(t->store);
  kq_topics_free(t->topics);
  rd_kafka_topic_partition_list_destroy(t->assigned);
  rd_kafka_topic_partition_list_destroy(t->target);
  free(t);
  return LS_ERR_KAFKA;
}

bool con_tail_caught_up(con_tail *t) {
  return atomic_load(&t->caught_up);
}

long long con_tail_applied(con_tail *t) {
  return atomic_load(&t->applied);
}

void con_tail_stop(con_tail *t) {
  if (!t)
    return;
  atomic_store(&t->stop, true);
  pthread_join(t->thread, NULL);
  rd_kafka_consumer_close(t->rk);
  rd_kafka_destroy(t->rk);
  con_store_close(t->store);
  kq_topics_free(t->topics);
  rd_kafka_topic_partition_list_destroy(t->assigned);
  rd_kafka_topic_partition_list_destroy(t->target);
  free(t);
}
