/* ing_produce: idempotent producer, poller thread, reachability probe. */
#include "ing_produce.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq.h"
#include "ls_array.h"
#include "ls_event.h"
#include "ls_log.h"

struct ing_producer {
  ing_sink sink; /* first member: the sink is the producer */
  rd_kafka_t *rk;
  rd_kafka_topic_t **topics; /* every topic we write, held for metadata */
  size_t n_topics;
  ls_metrics *metrics;
  ing_delivered_fn cb;
  void *cb_ctx;
  pthread_t poller, prober;
  bool poller_started, prober_started;
  atomic_bool stop_poller, stop_prober;
  atomic_bool reachable; /* last probe or delivery outcome */
  atomic_bool warmed;
  atomic_bool fatal;
  /* Reports of the current poll round (only the thread calling
   * rd_kafka_poll/flush touches it: the poller, or the caller of
   * ing_producer_flush once the poller stopped). */
  ing_delivery *pending;
  size_t n_pending, cap_pending;
};

/* Hands the round's reports to the callback in one call. */
static void deliver_pending(ing_producer *p) {
  if (p->n_pending) {
    p->cb(p->pending, p->n_pending, p->cb_ctx);
    p->n_pending = 0;
  }
}

static ls_err map_err(rd_kafka_resp_err_t err) {
  switch (err) {
  case RD_KAFKA_RESP_ERR_NO_ERROR:
    return LS_OK;
  case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
  case RD_KAFKA_RESP_ERR__TIMED_OUT:
    return LS_ERR_TIMEOUT;
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    /* Permanent: retrying the same body can never succeed (413). */
    return LS_ERR_TOO_LARGE;
  default:
    return LS_ERR_KAFKA;
  }
}

static bool is_connectivity_err(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR__TRANSPORT ||
         err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
         err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
         err == RD_KAFKA_RESP_ERR__TIMED_OUT;
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  ing_producer *p = opaque;
  ls_err e = map_err(m->err);
  if (m->err) {
    ls_warn("kafka delivery failed", "{s:s,s:s,s:i}", "topic",
            rd_kafka_topic_name(m->rkt), "error", rd_kafka_err2str(m->err),
            "code", (int)m->err);
    if (is_connectivity_err(m->err))
      atomic_store(&p->reachable, false);
  } else {
    atomic_store(&p->reachable, true);
  }
  if (!m->_private)
    return;
  if (!LS_ARRAY_GROW(p->pending, p->cap_pending, p->n_pending + 1)) {
    /* No room to collect: this one is completed on its own. */
    ing_delivery one = {m->_private, e};
    p->cb(&one, 1, p->cb_ctx);
    return;
  }
  p->pending[p->n_pending++] = (ing_delivery){m->_private, e};
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
  ing_producer *p = opaque;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    ls_error("kafka producer fatal error", "{s:s,s:s}", "error",
             rd_kafka_err2name(orig), "reason", buf);
    atomic_store(&p->fatal, true);
    atomic_store(&p->reachable, false);
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
    atomic_store(&p->reachable, false);
  ls_warn("kafka error", "{s:s,s:s}", "error",
          rd_kafka_err2name((rd_kafka_resp_err_t)err), "reason", reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
  (void)rk;
  ls_log(level <= 3   ? LS_LOG_ERROR
         : level <= 5 ? LS_LOG_WARN
                      : LS_LOG_DEBUG,
         "librdkafka", "{s:s,s:s}", "facility", fac, "message", buf);
}

static void *poller_main(void *arg) {
  ing_producer *p = arg;
  while (!atomic_load(&p->stop_poller)) {
    rd_kafka_poll(p->rk, 50);
    deliver_pending(p);
  }
  return NULL;
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Kafka is "reachable" when a broker answers a metadata request for one of
 * our topics; checked every second while the process runs. */
static bool probe(ing_producer *p, int timeout_ms) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(p->rk, 0, p->topics[0], &md, timeout_ms);
  bool ok = err == RD_KAFKA_RESP_ERR_NO_ERROR && md && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[0].partition_cnt > 0;
  if (md)
    rd_kafka_metadata_destroy(md);
  return ok;
}

static void *prober_main(void *arg) {
  ing_producer *p = arg;
  while (!atomic_load(&p->stop_prober)) {
    bool ok = probe(p, 1000);
    bool was = atomic_exchange(&p->reachable, ok);
    if (was != ok)
      ls_log(ok ? LS_LOG_INFO : LS_LOG_WARN,
             ok ? "kafka reachable" : "kafka unreachable", NULL);
    for (int i = 0; i < 10 && !atomic_load(&p->stop_prober); i++)
      nap_ms(100);
  }
  return NULL;
}

static ls_err sink_send(ing_sink *s, ing_msg *m) {
  ing_producer *p = (ing_producer *)s;
  if (atomic_load(&p->fatal)) {
    rd_kafka_headers_destroy(m->hdrs);
    return LS_ERR_KAFKA;
  }
  rd_kafka_resp_err_t err =
      rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(m->topic),
                        RD_KAFKA_V_KEY(m->key, m->key ? strlen(m->key) : 0),
                        RD_KAFKA_V_VALUE((void *)m->value, m->len),
                        RD_KAFKA_V_MSGFLAGS(m->copy ? RD_KAFKA_MSG_F_COPY : 0),
                        RD_KAFKA_V_HEADERS(m->hdrs),
                        RD_KAFKA_V_OPAQUE(m->opaque), RD_KAFKA_V_END);
  if (err) {
    rd_kafka_headers_destroy(m->hdrs);
    ls_warn("kafka produce refused", "{s:s,s:s,s:i}", "topic", m->topic,
            "error", rd_kafka_err2str(err), "bytes", (int)m->len);
    return map_err(err) == LS_ERR_TOO_LARGE ? LS_ERR_TOO_LARGE : LS_ERR_KAFKA;
  }
  return LS_OK;
}

static bool sink_ready(ing_sink *s) {
  ing_producer *p = (ing_producer *)s;
  return atomic_load(&p->warmed) && atomic_load(&p->reachable) &&
         !atomic_load(&p->fatal);
}

static long sink_queue_len(ing_sink *s) {
  return rd_kafka_outq_len(((ing_producer *)s)->rk);
}

long ing_producer_message_max(const ls_config *cfg, char *errstr,
                              size_t errlen) {
  rd_kafka_conf_t *conf = kq_conf_new_producer(cfg, errstr, errlen);
  long n = -1;
  if (conf && kq_producer_defaults(conf, cfg, errstr, errlen)) {
    char v[32];
    size_t vlen = sizeof v;
    if (rd_kafka_conf_get(conf, "message.max.bytes", v, &vlen) ==
        RD_KAFKA_CONF_OK)
      n = strtol(v, NULL, 10);
    else
      snprintf(errstr, errlen, "kafka property message.max.bytes unknown");
  }
  if (conf)
    rd_kafka_conf_destroy(conf);
  return n;
}

ing_producer *ing_producer_new(const ls_config *cfg, int delivery_timeout_ms,
                               ls_metrics *metrics, ing_delivered_fn cb,
                               void *cb_ctx, char *errstr, size_t errlen) {
  ing_producer *p = calloc(1, sizeof *p);
  rd_kafka_conf_t *conf = NULL;
  char **names = NULL;
  if (!p) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  p->sink.send = sink_send;
  p->sink.ready = sink_ready;
  p->sink.queue_len = sink_queue_len;
  p->metrics = metrics;
  p->cb = cb;
  p->cb_ctx = cb_ctx;
  conf = kq_conf_new_producer(cfg, errstr, errlen);
  if (!conf || !kq_producer_defaults(conf, cfg, errstr, errlen))
    goto fail;
  if (!json_object_get(cfg->kafka_props, "message.timeout.ms")) {
    char v[32];
    snprintf(v, sizeof v, "%d", delivery_timeout_ms);
    if (!kq_set(conf, "message.timeout.ms", v, errstr, errlen))
      goto fail;
  }
  rd_kafka_conf_set_opaque(conf, p);
  rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_log_cb(conf, on_log);
  char rkerr[512];
  p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof rkerr);
  if (!p->rk) {
    snprintf(errstr, errlen, "kafka producer: %s", rkerr);
    goto fail;
  }
  conf = NULL; /* owned by rk now */

  /* Handles for every smartlead.* topic we may write: their metadata is
   * fetched at warm-up instead of on the first request. */
  names = kq_all_topics(cfg->topic_prefix);
  size_t n = 0;
  for (char **t = names; t && *t; t++)
    n++;
  p->topics = calloc(n ? n : 1, sizeof *p->topics);
  if (!names || !p->topics) {
    snprintf(errstr, errlen, "out of memory");
    goto fail;
  }
  size_t plen = strlen(cfg->topic_prefix);
  for (char **t = names; *t; t++) {
    if (strncmp(*t, cfg->topic_prefix, plen) != 0)
      continue; /* leadsync.* topics belong to the workers */
    /* smartlead.unknown first: the probe asks for topics[0]. */
    size_t slot = p->n_topics++;
    if (!strcmp(*t + plen, "unknown") && slot) {
      p->topics[slot] = p->topics[0];
      slot = 0;
    }
    p->topics[slot] = rd_kafka_topic_new(p->rk, *t, NULL);
    if (!p->topics[slot]) {
      snprintf(errstr, errlen, "kafka topic %s: %s", *t,
               rd_kafka_err2str(rd_kafka_last_error()));
      goto fail;
    }
  }
  kq_topics_free(names);
  names = NULL;
  if (pthread_create(&p->poller, NULL, poller_main, p) != 0) {
    snprintf(errstr, errlen, "cannot start the kafka poller thread");
    goto fail;
  }
  p->poller_started = true;
  return p;
fail:
  if (conf)
    rd_kafka_conf_destroy(conf);
  kq_topics_free(names);
  ing_producer_free(p);
  return NULL;
}

bool ing_producer_warm_up(ing_producer *p, int timeout_ms) {
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms);
  size_t found = 0;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md) {
    for (size_t k = 0; k < p->n_topics; k++) {
      const char *name = rd_kafka_topic_name(p->topics[k]);
      for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, name) &&
            md->topics[i].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topics[i].partition_cnt > 0) {
          found++;
          break;
        }
    }
  }
  if (md)
    rd_kafka_metadata_destroy(md);
  if (err) {
    ls_warn("kafka metadata not available yet", "{s:s}", "error",
            rd_kafka_err2str(err));
    return false;
  }
  if (found < p->n_topics) {
    /* Topics may be created on first use (auto.create.topics): warn once
     * per attempt but do not block readiness on them. */
    ls_warn("some ingress topics are missing in kafka", "{s:i,s:i}", "expected",
            (int)p->n_topics, "found", (int)found);
  }
  /* Each handle's partitions are known now; ask once more per topic so a
   * cluster that answers "all topics" lazily has no excuse. */
  for (size_t k = 0; k < p->n_topics; k++) {
    md = NULL;
    if (rd_kafka_metadata(p->rk, 0, p->topics[k], &md, timeout_ms) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md)
      rd_kafka_metadata_destroy(md);
  }
  atomic_store(&p->reachable, true);
  atomic_store(&p->warmed, true);
  if (!p->prober_started &&
      pthread_create(&p->prober, NULL, prober_main, p) == 0)
    p->prober_started = true;
  return true;
}

ing_sink *ing_producer_sink(ing_producer *p) {
  return &p->sink;
}

bool ing_producer_fatal(ing_producer *p) {
  return atomic_load(&p->fatal);
}

int ing_producer_flush(ing_producer *p, int timeout_ms) {
  if (p->prober_started) {
    atomic_store(&p->stop_prober, true);
    pthread_join(p->prober, NULL);
    p->prober_started = false;
  }
  if (p->poller_started) {
    atomic_store(&p->stop_poller, true);
    pthread_join(p->poller, NULL);
    p->poller_started = false;
  }
  rd_kafka_flush(p->rk, timeout_ms);
  deliver_pending(p);
  int left = rd_kafka_outq_len(p->rk);
  if (left > 0) {
    /* Whatever is still queued will not be acknowledged: fail it so every
     * waiting request gets its 503 (the purge reports come through cb). */
    ls_warn("kafka flush timed out, purging", "{s:i}", "left", left);
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(p->rk, 1000);
    rd_kafka_poll(p->rk, 0);
    deliver_pending(p);
  }
  return left;
}

void ing_producer_free(ing_producer *p) {
  if (!p)
    return;
  if (p->rk)
    ing_producer_flush(p, 0);
  for (size_t k = 0; k < p->n_topics; k++)
    if (p->topics[k])
      rd_kafka_topic_destroy(p->topics[k]);
  free(p->topics);
  if (p->rk)
    rd_kafka_destroy(p->rk);
  deliver_pending(p);
  free(p->pending);
  free(p);
}
