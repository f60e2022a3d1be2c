/* kq: Kafka helpers shared by every process (config, topics, headers). */
#ifndef KQ_H
#define KQ_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"

/* A conf with bootstrap.servers and the config's passthrough properties set.
 * NULL with errstr when a property is rejected. */
rd_kafka_conf_t *kq_conf_new(const ls_config *cfg, char *errstr, size_t errlen);
/* The same for one kind of handle: properties that only the other kind
 * understands (session.timeout.ms for a producer, linger.ms for a consumer)
 * are left out instead of making librdkafka warn at every start. */
rd_kafka_conf_t *kq_conf_new_producer(const ls_config *cfg, char *errstr,
                                      size_t errlen);
rd_kafka_conf_t *kq_conf_new_consumer(const ls_config *cfg, char *errstr,
                                      size_t errlen);
/* rd_kafka_conf_set that fills errstr with the property name on failure. */
bool kq_set(rd_kafka_conf_t *conf, const char *name, const char *value,
            char *errstr, size_t errlen);
/* Applies the producer contract of docs/kafka-contract.md (idempotent,
 * acks=all, lz4, small linger) unless the config overrides linger/compression,
 * and message.max.bytes KQ_MESSAGE_MAX_BYTES unless the config sets it. */
bool kq_producer_defaults(rd_kafka_conf_t *conf, const ls_config *cfg,
                          char *errstr, size_t errlen);
/* Consumer defaults: manual offset store, earliest reset, no auto commit of
 * unstored offsets. */
bool kq_consumer_defaults(rd_kafka_conf_t *conf, const char *group_id,
                          char *errstr, size_t errlen);

/* Header value as a NUL-terminated copy in buf ("" when absent). */
const char *kq_header(const rd_kafka_message_t *m, const char *name, char *buf,
                      size_t buflen);

/* The producers' default message.max.bytes: the same 3 MiB as the topics'
 * max.message.bytes (deploy/k8s/kafka/topics.yaml; docs/kafka-contract.md,
 * Sizes). */
#define KQ_MESSAGE_MAX_BYTES LS_MESSAGE_MAX_BYTES /* ls_config_rules.h */

/* The fixed topic names (prefix applied where the design says so). */
#define KQ_TOPIC_LEAD_STATE "leadsync.lead_state"
#define KQ_TOPIC_HELD "leadsync.held"
#define KQ_TOPIC_DLQ "leadsync.dlq"
#define KQ_TOPIC_SYNC_LOG "leadsync.sync_log"
#define KQ_TOPIC_LEDGER "leadsync.ledger"
/* The filter's checkpoints, compacted, partitioned like leadsync.held
 * (docs/filter.md "Checkpoints"). */
#define KQ_TOPIC_FILTER_STATE "leadsync.filter_state"
/* Assurance progress, compacted, key tenant (docs/assurance.md). */
#define KQ_TOPIC_ASSURANCE "leadsync.assurance"
/* Sources (compacted, key source id) and the audit trail of operator
 * actions (replays, source changes); see docs/console.md. */
#define KQ_TOPIC_SOURCES "leadsync.sources"
#define KQ_TOPIC_AUDIT "leadsync.audit"
/* Fan-out (docs/fanout.md): per-endpoint DLQ and its replays. */
#define KQ_TOPIC_FANOUT_DLQ "leadsync.fanout_dlq"
#define KQ_TOPIC_FANOUT_REPLAY "leadsync.fanout_replay"

/* Every topic of docs/kafka-contract.md for a prefix, NULL-terminated; the
 * strings are owned by the returned array (free with kq_topics_free). */
char **kq_all_topics(const char *prefix);
void kq_topics_free(char **topics);

#endif
