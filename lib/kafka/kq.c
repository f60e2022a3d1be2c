/* kq: Kafka configuration, topic list and header helpers. */
#include "kq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_event.h"

bool kq_set(rd_kafka_conf_t *conf, const char *name, const char *value,
            char *errstr, size_t errlen) {
  char rkerr[256];
  if (rd_kafka_conf_set(conf, name, value, rkerr, sizeof rkerr) !=
      RD_KAFKA_CONF_OK) {
    snprintf(errstr, errlen, "kafka property %s: %s", name, rkerr);
    return false;
  }
  return true;
}

enum kq_kind { KQ_ANY, KQ_PRODUCER, KQ_CONSUMER };

/* librdkafka's consumer-only and producer-only properties (CONFIGURATION.md,
 * column C/P), the ones a config is likely to carry. */
static const char *const consumer_only[] = {"group.id",
                                            "group.instance.id",
                                            "partition.assignment.strategy",
                                            "session.timeout.ms",
                                            "heartbeat.interval.ms",
                                            "group.protocol.type",
                                            "coordinator.query.interval.ms",
                                            "max.poll.interval.ms",
                                            "enable.auto.commit",
                                            "auto.commit.interval.ms",
                                            "enable.auto.offset.store",
                                            "queued.min.messages",
                                            "queued.max.messages.kbytes",
                                            "fetch.wait.max.ms",
                                            "fetch.message.max.bytes",
                                            "max.partition.fetch.bytes",
                                            "fetch.max.bytes",
                                            "fetch.min.bytes",
                                            "fetch.error.backoff.ms",
                                            "isolation.level",
                                            "enable.partition.eof",
                                            "check.crcs",
                                            "auto.offset.reset",
                                            NULL};
static const char *const producer_only[] = {"transactional.id",
                                            "transaction.timeout.ms",
                                            "enable.idempotence",
                                            "enable.gapless.guarantee",
                                            "queue.buffering.max.messages",
                                            "queue.buffering.max.kbytes",
                                            "queue.buffering.max.ms",
                                            "linger.ms",
                                            "message.send.max.retries",
                                            "retries",
                                            "compression.codec",
                                            "compression.type",
                                            "compression.level",
                                            "batch.num.messages",
                                            "batch.size",
                                            "delivery.report.only.error",
                                            "request.required.acks",
                                            "acks",
                                            "request.timeout.ms",
                                            "message.timeout.ms",
                                            "delivery.timeout.ms",
                                            "partitioner",
                                            "sticky.partitioning.linger.ms",
                                            NULL};

static bool listed(const char *const *list, const char *name) {
  for (; *list; list++)
    if (!strcmp(*list, name))
      return true;
  return false;
}

static rd_kafka_conf_t *conf_new(const ls_config *cfg, enum kq_kind kind,
                                 char *errstr, size_t errlen) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (!kq_set(conf, "bootstrap.servers", cfg->bootstrap, errstr, errlen))
    goto fail;
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)cfg->kafka_props, k, v) {
    char val[64];
    const char *s = json_string_value(v);
    if (!s) {
      if (json_is_integer(v))
        snprintf(val, sizeof val, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
      else if (json_is_boolean(v))
        snprintf(val, sizeof val, "%s", json_is_true(v) ? "true" : "false");
      else {
        snprintf(errstr, errlen, "kafka property %s: value must be a string",
                 k);
        goto fail;
      }
      s = val;
    }
    if ((kind == KQ_PRODUCER && listed(consumer_only, k)) ||
        (kind == KQ_CONSUMER && listed(producer_only, k)))
      continue;
    if (!kq_set(conf, k, s, errstr, errlen))
      goto fail;
  }
  return conf;
fail:
  rd_kafka_conf_destroy(conf);
  return NULL;
}

rd_kafka_conf_t *kq_conf_new(const ls_config *cfg, char *errstr,
                             size_t errlen) {
  return conf_new(cfg, KQ_ANY, errstr, errlen);
}

rd_kafka_conf_t *kq_conf_new_producer(const ls_config *cfg, char *errstr,
                                      size_t errlen) {
  return conf_new(cfg, KQ_PRODUCER, errstr, errlen);
}

rd_kafka_conf_t *kq_conf_new_consumer(const ls_config *cfg, char *errstr,
                                      size_t errlen) {
  return conf_new(cfg, KQ_CONSUMER, errstr, errlen);
}

static bool has_prop(const ls_config *cfg, const char *name) {
  return json_object_get(cfg->kafka_props, name) != NULL;
}

bool kq_producer_defaults(rd_kafka_conf_t *conf, const ls_config *cfg,
                          char *errstr, size_t errlen) {
  if (!kq_set(conf, "enable.idempotence", "true", errstr, errlen) ||
      !kq_set(conf, "acks", "all", errstr, errlen))
    return false;
  if (!has_prop(cfg, "linger.ms") &&
      !kq_set(conf, "linger.ms", "1", errstr, errlen))
    return false;
  if (!has_prop(cfg, "compression.type") &&
      !kq_set(conf, "compression.type", "lz4", errstr, errlen))
    return false;
  if (!has_prop(cfg, "message.max.bytes")) {
    char v[32];
    snprintf(v, sizeof v, "%d", KQ_MESSAGE_MAX_BYTES);
    if (!kq_set(conf, "message.max.bytes", v, errstr, errlen))
      return false;
  }
  return true;
}

bool kq_consumer_defaults(rd_kafka_conf_t *conf, const char *group_id,
                          char *errstr, size_t errlen) {
  return kq_set(conf, "group.id", group_id, errstr, errlen) &&
         kq_set(conf, "enable.auto.offset.store", "false", errstr, errlen) &&
         kq_set(conf, "enable.auto.commit", "true", errstr, errlen) &&
         kq_set(conf, "auto.offset.reset", "earliest", errstr, errlen) &&
         kq_set(conf, "enable.partition.eof", "false", errstr, errlen);
}

const char *kq_header(const rd_kafka_message_t *m, const char *name, char *buf,
                      size_t buflen) {
  rd_kafka_headers_t *hdrs = NULL;
  const void *val = NULL;
  size_t size = 0;
  buf[0] = '\0';
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return buf;
  if (rd_kafka_header_get_last(hdrs, name, &val, &size) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      !val)
    return buf;
  if (size >= buflen)
    size = buflen - 1;
  memcpy(buf, val, size);
  buf[size] = '\0';
  return buf;
}

char **kq_all_topics(const char *prefix) {
  static const char *const fixed[] = {"quarantine", NULL};
  static const char *const internal[] = {
      KQ_TOPIC_LEAD_STATE,    KQ_TOPIC_HELD,         KQ_TOPIC_DLQ,
      KQ_TOPIC_SYNC_LOG,      KQ_TOPIC_LEDGER,       KQ_TOPIC_FANOUT_DLQ,
      KQ_TOPIC_FANOUT_REPLAY, KQ_TOPIC_SOURCES,      KQ_TOPIC_AUDIT,
      KQ_TOPIC_ASSURANCE,     KQ_TOPIC_FILTER_STATE, NULL};
  size_t n = LS_EV__COUNT + 1 + 11 + 1;
  char **out = calloc(n, sizeof *out);
  if (!out)
    return NULL;
  size_t i = 0;
  for (int t = 0; t < LS_EV__COUNT; t++) {
    size_t len =
        strlen(prefix) + strlen(ls_event_type_slug((ls_event_type)t)) + 1;
    out[i] = malloc(len);
    if (out[i])
      snprintf(out[i], len, "%s%s", prefix,
               ls_event_type_slug((ls_event_type)t));
    i++;
  }
  for (int k = 0; fixed[k]; k++) {
    size_t len = strlen(prefix) + strlen(fixed[k]) + 1;
    out[i] = malloc(len);
    if (out[i])
      snprintf(out[i], len, "%s%s", prefix, fixed[k]);
    i++;
  }
  for (int k = 0; internal[k]; k++)
    out[i++] = strdup(internal[k]);
  out[i] = NULL;
  return out;
}

void kq_topics_free(char **topics) {
  if (!topics)
    return;
  for (char **p = topics; *p; p++)
    free(*p);
  free(topics);
}
