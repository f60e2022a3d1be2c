/* kq_client: the one way leadsync makes a Kafka producer or consumer,
 * produces past a full local queue and learns what was delivered. */
#ifndef KQ_CLIENT_H
#define KQ_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"

/* Delivery reports counted, for producers whose caller waits for "every
 * record acknowledged" before it moves on (CLI, assurance back-fill). */
typedef struct {
  long acked;
  long failed;
  char first_error[256]; /* "topic: error" of the first failure */
} kq_delivery;

typedef void (*kq_dr_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m,
                         void *opaque);

typedef struct {
  /* Extra properties after the defaults, "name", "value", ..., NULL. */
  const char *const *props;
  /* The delivery report callback and its opaque (the handle's opaque); or
   * NULL with delivery set: the reports are counted there instead. */
  kq_dr_cb on_delivery;
  void *opaque;
  kq_delivery *delivery;
} kq_producer_opts;

/* A producer: the config's properties, the producer contract
 * (kq_producer_defaults), then o->props. NULL with errstr. o may be NULL. */
rd_kafka_t *kq_producer_new(const ls_config *cfg, const kq_producer_opts *o,
                            char *errstr, size_t errlen);

/* rd_kafka_producev copying key and value. A full local queue is waited
 * out (polling, so delivery reports run) for up to wait_ms, or without a
 * limit when wait_ms < 0, and until *stop is set when stop is not NULL. On
 * success hdrs belong to the message; on failure they are still the
 * caller's, as in librdkafka. Returns the last error (QUEUE_FULL when the
 * wait ran out). */
rd_kafka_resp_err_t kq_produce(rd_kafka_t *rk, const char *topic,
                               const void *key, size_t klen, const void *val,
                               size_t vlen, rd_kafka_headers_t *hdrs,
                               void *msg_opaque, int wait_ms,
                               const volatile sig_atomic_t *stop);
/* The same to a given partition (RD_KAFKA_PARTITION_UA: the
 * partitioner's choice), e.g. a changelog record on its source's number. */
rd_kafka_resp_err_t kq_produce_to(rd_kafka_t *rk, const char *topic,
                                  int32_t partition, const void *key,
                                  size_t klen, const void *val, size_t vlen,
                                  rd_kafka_headers_t *hdrs, void *msg_opaque,
                                  int wait_ms,
                                  const volatile sig_atomic_t *stop);

/* Waits up to timeout_ms for every queued record. True when all were
 * acknowledged (d may be NULL: only the queue is looked at); false with
 * errstr naming the failed or still queued records. */
bool kq_flush(rd_kafka_t *rk, const kq_delivery *d, int timeout_ms,
              char *errstr, size_t errlen);

typedef enum {
  /* A member of a group that stores offsets itself (kq_consumer_defaults:
   * no auto store, auto commit of what was stored, earliest). */
  KQ_GROUP_MEMBER,
  /* A reader that never commits or stores: it assigns partitions itself
   * or follows a topic, and each process keeps its own position. */
  KQ_READER,
} kq_consumer_kind;

typedef struct {
  kq_consumer_kind kind;
  const char *group_id;
  /* Extra properties after the defaults, "name", "value", ..., NULL. */
  const char *const *props;
  /* rd_kafka_conf_set_rebalance_cb; opaque becomes the handle's opaque. */
  void (*on_rebalance)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t *parts, void *opaque);
  void *opaque;
  /* rd_kafka_poll_set_consumer: the main queue (errors, logs) is served by
   * rd_kafka_consumer_poll. */
  bool poll_set_consumer;
} kq_consumer_opts;

/* A consumer: the config's properties, the defaults of o->kind, then
 * o->props. NULL with errstr naming the property or librdkafka's error. */
rd_kafka_t *kq_consumer_new(const ls_config *cfg, const kq_consumer_opts *o,
                            char *errstr, size_t errlen);

/* A consumer that follows topics through assign() and never commits
 * (each process keeps its own position): a KQ_READER of group
 * "<name>-<pid>" with short fetch waits. NULL with errstr. */
rd_kafka_t *kq_tailer_new(const ls_config *cfg, const char *name, char *errstr,
                          size_t errlen);

#endif
