/* wrk_consumer: the group consumer: subscription, rebalances, offsets
 * stored only for events in a final state, consumer lag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_log.h"
#include "ls_time.h"
#include "wrk.h"
#include "wrk_fault.h"
#include "wrk_ledger.h"

static void tp_key(const char *topic, int32_t p, char *out, size_t n) {
  snprintf(out, n, "%s/%d", topic, (int)p);
}

/* Partitions of every subscribed topic (the group's whole work); 0 when
 * the metadata cannot be read. */
static int total_partitions(wrk *w, rd_kafka_t *rk) {
  const struct rd_kafka_metadata *md = NULL;
  if (rd_kafka_metadata(rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  int total = 0;
  for (size_t i = 0; i < w->s.n_types; i++) {
    char t[LS_TOPIC_MAX];
    snprintf(t, sizeof t, "%s%s", w->cfg->topic_prefix,
             ls_event_type_slug(w->s.types[i]));
    for (int k = 0; k < md->topic_cnt; k++)
      if (!strcmp(md->topics[k].topic, t) && !md->topics[k].err)
        total += md->topics[k].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return total;
}

void wrk_consumer_set_share(wrk *w, rd_kafka_t *rk, int owned) {
  int total = owned > 0 ? total_partitions(w, rk) : 0;
  if (owned > 0 && total <= 0) {
    /* No metadata: the configured count, never below what we own. */
    total = w->cfg->partitions * (int)w->s.n_types;
    if (total < owned)
      total = owned;
  }
  double share =
      total > 0 ? w->s.portal_share * (double)owned / (double)total : 0.0;
  if (share > w->s.portal_share)
    share = w->s.portal_share;
  int64_t now = ls_mono_us();
  for (size_t i = 0; i < w->cfg->n_tenants; i++) {
    bool seen = false;
    for (size_t k = 0; k < i; k++)
      seen |= w->targets[k].lim == w->targets[i].lim;
    if (!seen && w->targets[i].lim)
      hs_limiter_set_share(w->targets[i].lim, share, now);
  }
  ls_info("rate-limit share", "{s:s,s:f,s:i,s:i}", "group", w->s.group, "share",
          share, "partitions", owned, "of", total);
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  wrk *w = opaque;
  char key[LS_TOPIC_MAX + 16];
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++) {
      tp_key(parts->elems[i].topic, parts->elems[i].partition, key, sizeof key);
      json_object_del(w->stuck, key);
    }
    ls_info("partitions assigned", "{s:s,s:i}", "group", w->s.group,
            "count", parts->cnt);
    rd_kafka_assign(rk, parts);
    /* The previous owners' ledger records first: partitions whose state
     * is not restored yet stay paused until it is (wrk_ledger_poll). */
    if (w->ledger)
      wrk_ledger_assign(w->ledger, rk, parts);
    wrk_consumer_set_share(w, rk, parts->cnt);
    return;
  }
  /* Revoked: events consumed but not yet synced are dropped without
   * storing their offsets (the next owner reads them again), and what is
   * stored is committed before the partitions go. A flush in progress
   * (this runs inside its limiter wait) is aborted instead: it sends
   * nothing more and stores nothing (wrk_batch_flush). */
  if (w->flushing) {
    w->flush_abort = 1;
    w->revoked_in_flush = true;
  } else if (w->batch) {
    wrk_batch_abandon(w->batch);
  }
  for (size_t i = 0; i < w->n_stash; i++)
    rd_kafka_message_destroy(w->stash[i]);
  w->n_stash = 0;
  rd_kafka_resp_err_t cerr = rd_kafka_commit(rk, NULL, 0);
  if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
    ls_warn("commit on revoke failed", "{s:s}", "error",
            rd_kafka_err2str(cerr));
  json_object_clear(w->stuck);
  json_object_clear(w->poison);
  wrk_consumer_set_share(w, rk, 0);
  if (w->ledger)
    wrk_ledger_revoke(w->ledger, parts);
  ls_info("partitions revoked", "{s:s,s:i}", "group", w->s.group, "count",
          parts->cnt);
  rd_kafka_assign(rk, NULL);
}

rd_kafka_t *wrk_consumer_new(wrk *w, char *errstr, size_t errlen) {
  rd_kafka_conf_t *conf = kq_conf_new_consumer(w->cfg, errstr, errlen);
  rd_kafka_t *rk = NULL;
  rd_kafka_topic_partition_list_t *topics = NULL;
  if (!conf)
    return NULL;
  if (!kq_consumer_defaults(conf, w->s.group_id, errstr, errlen) ||
      !wrk_ledger_bound_prefetch(conf, w->cfg, errstr, errlen))
    goto fail;
  rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
  rd_kafka_conf_set_opaque(conf, w);
  char rkerr[512];
  rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, rkerr, sizeof rkerr);
  if (!rk) {
    snprintf(errstr, errlen, "consumer: %s", rkerr);
    goto fail;
  }
  conf = NULL;
  rd_kafka_poll_set_consumer(rk);
  topics = rd_kafka_topic_partition_list_new((int)w->s.n_types);
  for (size_t i = 0; i < w->s.n_types; i++) {
    char t[LS_TOPIC_MAX];
    snprintf(t, sizeof t, "%s%s", w->cfg->topic_prefix,
             ls_event_type_slug(w->s.types[i]));
    rd_kafka_topic_partition_list_add(topics, t, RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    snprintf(errstr, errlen, "subscribe: %s", rd_kafka_err2str(err));
    goto fail;
  }
  return rk;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  if (rk)
    rd_kafka_destroy(rk);
  return NULL;
}

void wrk_consumer_service(void *arg) {
  wrk *w = arg;
  if (!w->consumer)
    return;
  /* Bounded: librdkafka keeps fetching ahead anyway; past the bound the
   * records stay in its queue (and a rebalance waits for the flush). */
  size_t bound = (size_t)w->s.flush_max * 4;
  while (w->n_stash < bound) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 0);
    if (!m)
      return;
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        ls_warn("consumer error", "{s:s}", "error", rd_kafka_message_errstr(m));
      rd_kafka_message_destroy(m);
      continue;
    }
    if (w->n_stash == w->cap_stash) {
      size_t nc = w->cap_stash ? w->cap_stash * 2 : 256;
      rd_kafka_message_t **nv =
          wrk_fault("alloc_stash") ? NULL : realloc(w->stash, nc * sizeof *nv);
      if (!nv) {
        /* Its partition stops here and is read again from it. */
        wrk_consumer_block(w, m, "out of memory stashing a record");
        rd_kafka_message_destroy(m);
        return;
      }
      w->stash = nv;
      w->cap_stash = nc;
    }
    w->stash[w->n_stash++] = m;
  }
}

void wrk_consumer_unstash(wrk *w) {
  /* In order, and no more than one flush's worth at a time. */
  size_t k = 0;
  while (k < w->n_stash && !wrk_batch_due(w->batch, ls_mono_us()))
    wrk_batch_add(w->batch, w->stash[k++]);
  memmove(w->stash, w->stash + k, (w->n_stash - k) * sizeof *w->stash);
  w->n_stash -= k;
}

/* Marks "topic/partition" stuck at offset (the lowest wins); tenant is the
 * tenant index whose daily block holds it, or -1 (seek back at once). */
static void mark_stuck(wrk *w, const char *key, int64_t offset, int tenant,
                       int64_t since_us) {
  json_t *cur = json_object_get(w->stuck, key);
  if (cur && json_integer_value(json_object_get(cur, "offset")) <= offset)
    return;
  if (json_object_set_new(w->stuck, key,
                          json_pack("{s:I,s:i,s:I}", "offset",
                                    (json_int_t)offset, "tenant", tenant,
                                    "since_us", (json_int_t)since_us)))
    /* Cannot even remember it: stop storing anything, the process is
     * out of memory; the next owner reads from the committed offset. */
    *w->stop = 1;
}

void wrk_consumer_store(wrk *w, wrk_event **evs, size_t n) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
  char key[LS_TOPIC_MAX + 16];
  for (size_t i = 0; i < n; i++) {
    const rd_kafka_message_t *m = evs[i]->msg;
    if (!m)
      continue;
    const char *topic = rd_kafka_topic_name(m->rkt);
    tp_key(topic, m->partition, key, sizeof key);
    if (evs[i]->outcome == WRK_DEFERRED || evs[i]->outcome == WRK_PENDING) {
      /* Left in Kafka: nothing after it in this partition may be stored
       * until it is read again. */
      int ti = evs[i]->tenant && !evs[i]->failed
                   ? (int)(evs[i]->tenant - w->cfg->tenants)
                   : -1;
      mark_stuck(w, key, m->offset, ti, evs[i]->received_us);
      continue;
    }
    /* A partition left behind stores nothing until it was read again from
     * its lowest unfinished offset (mark_stuck keeps the lowest: a record
     * dropped from the stash may be newer than events of the same
     * partition still finishing in this flush). */
    if (json_object_get(w->stuck, key))
      continue;
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_find(l, topic, m->partition);
    if (!tp)
      tp = rd_kafka_topic_partition_list_add(l, topic, m->partition);
    if (m->offset + 1 > tp->offset)
      tp->offset = m->offset + 1;
  }
  if (l->cnt) {
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(w->consumer, l);
    if (err)
      ls_warn("offset store failed", "{s:s}", "error", rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(l);
}

static void poison_key(const rd_kafka_message_t *m, char *out, size_t n) {
  snprintf(out, n, "%s/%d/%lld", rd_kafka_topic_name(m->rkt), (int)m->partition,
           (long long)m->offset);
}

void wrk_poison_note(wrk *w, const rd_kafka_message_t *m, const char *error,
                     bool dlq_failed) {
  char key[LS_TOPIC_MAX + 48];
  if (!w->poison)
    return;
  poison_key(m, key, sizeof key);
  json_t *cur = json_object_get(w->poison, key);
  json_int_t n = json_integer_value(json_object_get(cur, "n")) + 1;
  dlq_failed |= json_is_true(json_object_get(cur, "dlq_failed"));
  json_object_set_new(w->poison, key,
                      json_pack("{s:I,s:s,s:b}", "n", n, "error",
                                error && *error ? error : "failed",
                                "dlq_failed", dlq_failed));
}

bool wrk_poison_check(wrk *w, wrk_event *e) {
  char key[LS_TOPIC_MAX + 48];
  if (!w->poison || !json_object_size(w->poison) || !e->msg)
    return false;
  poison_key(e->msg, key, sizeof key);
  json_t *cur = json_object_get(w->poison, key);
  json_int_t n = json_integer_value(json_object_get(cur, "n"));
  if (!cur || n < w->s.poison_after)
    return false;
  char msg[300];
  snprintf(msg, sizeof msg, "gave up after %d failed attempts: %s", (int)n,
           json_string_value(json_object_get(cur, "error")));
  wrk_event_fail(e, WRK_DLQ_POISON, 0, "POISON", msg);
  e->attempts = (int)n;
  /* Its DLQ copy failed already (one more read after poisoning): write
   * the stub, which always fits. */
  e->dlq_stub = json_is_true(json_object_get(cur, "dlq_failed"));
  return true;
}

void wrk_poison_clear(wrk *w, const rd_kafka_message_t *m) {
  char key[LS_TOPIC_MAX + 48];
  if (!w->poison || !json_object_size(w->poison) || !m)
    return;
  poison_key(m, key, sizeof key);
  json_object_del(w->poison, key);
}

void wrk_consumer_block(wrk *w, const rd_kafka_message_t *m, const char *why) {
  char key[LS_TOPIC_MAX + 16];
  wrk_poison_note(w, m, why, false);
  tp_key(rd_kafka_topic_name(m->rkt), m->partition, key, sizeof key);
  ls_error("record not handled; its partition stops here until it is read "
           "again",
           "{s:s,s:s,s:I}", "why", why, "partition", key,
           "offset", (json_int_t)m->offset);
  mark_stuck(w, key, m->offset, -1, 0);
}

/* Drops stashed records of one partition (read before its seek-back). */
static void unstash_partition(wrk *w, const char *topic, int32_t p) {
  size_t k = 0;
  for (size_t i = 0; i < w->n_stash; i++) {
    rd_kafka_message_t *m = w->stash[i];
    if (m->partition == p && !strcmp(rd_kafka_topic_name(m->rkt), topic))
      rd_kafka_message_destroy(m);
    else
      w->stash[k++] = m;
  }
  w->n_stash = k;
}

void wrk_consumer_unstick(wrk *w) {
  const char *key;
  json_t *v, *tmp;
  int64_t now = ls_mono_us();
  /* Events of the batch read before a seek would be stored past the
   * deferred ones: seek only between flushes. */
  if (w->batch && wrk_batch_len(w->batch))
    return;
  json_object_foreach_safe(w->stuck, tmp, key, v) {
    int ti = (int)json_integer_value(json_object_get(v, "tenant"));
    if ((size_t)ti < w->cfg->n_tenants &&
        hs_limiter_daily_blocked(w->targets[ti].lim, now, NULL))
      continue;
    char topic[LS_TOPIC_MAX];
    const char *slash = strrchr(key, '/');
    if (!slash)
      continue;
    snprintf(topic, sizeof topic, "%.*s", (int)(slash - key), key);
    int32_t p = (int32_t)strtol(slash + 1, NULL, 10);
    int64_t off = json_integer_value(json_object_get(v, "offset"));
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = off;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(w->consumer, l, 2000);
    if (!err && l->elems[0].err)
      err = rd_kafka_error_new(l->elems[0].err, "%s",
                               rd_kafka_err2str(l->elems[0].err));
    rd_kafka_topic_partition_list_destroy(l);
    if (err || wrk_fault("seek")) {
      /* Still stuck: nothing past the offset is stored; tried again at
       * the next chores. */
      ls_warn("seek back failed", "{s:s,s:s}", "partition", key, "error",
              err ? rd_kafka_error_string(err) : "injected");
      if (err)
        rd_kafka_error_destroy(err);
      continue;
    }
    ls_info("reading deferred events again", "{s:s,s:I}", "partition", key,
            "offset", (json_int_t)off);
    unstash_partition(w, topic, p);
    json_object_del(w->stuck, key);
  }
}

void wrk_consumer_close(wrk *w) {
  for (size_t i = 0; i < w->n_stash; i++)
    rd_kafka_message_destroy(w->stash[i]);
  w->n_stash = 0;
  free(w->stash);
  w->stash = NULL;
  if (!w->consumer)
    return;
  rd_kafka_resp_err_t err = rd_kafka_commit(w->consumer, NULL, 0);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
    ls_warn("final commit failed", "{s:s}", "error", rd_kafka_err2str(err));
  rd_kafka_consumer_close(w->consumer);
  rd_kafka_destroy(w->consumer);
  w->consumer = NULL;
}
