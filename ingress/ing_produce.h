/* ing_produce: the Kafka edge of the ingress (producer, delivery reports). */
#ifndef ING_PRODUCE_H
#define ING_PRODUCE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"
#include "ls_err.h"
#include "ls_metrics.h"

/* One record to publish. The value is not copied unless copy is set: it
 * must stay valid until the delivery report for opaque arrives. */
typedef struct {
  const char *topic;
  const char *key;
  const void *value;
  size_t len;
  rd_kafka_headers_t *hdrs; /* always consumed by send, even on failure */
  bool copy;
  void *opaque; /* NULL: fire and forget (no report) */
} ing_msg;

/* The outcome of one record with a non-NULL opaque: LS_OK when the broker
 * acknowledged it (acks=all), LS_ERR_TOO_LARGE when it can never be stored
 * (over a size limit), LS_ERR_TIMEOUT or LS_ERR_KAFKA otherwise. */
typedef struct {
  void *opaque;
  ls_err err;
} ing_delivery;

/* Called from the poller thread with every report one rd_kafka_poll round
 * served (a produce response carries a whole batch), so the waiting
 * requests are completed together: one pass, one wake-up of the HTTP
 * threads per batch instead of one per record. */
typedef void (*ing_delivered_fn)(const ing_delivery *d, size_t n, void *ctx);

/* The seam between the HTTP side and Kafka: the real producer below, or a
 * scripted fake in tests. */
typedef struct ing_sink {
  ls_err (*send)(struct ing_sink *s, ing_msg *m);
  bool (*ready)(struct ing_sink *s);     /* Kafka reachable, metadata known */
  long (*queue_len)(struct ing_sink *s); /* records not yet acknowledged */
} ing_sink;

typedef struct ing_producer ing_producer;

/* Bytes of message.max.bytes kept for the record key, the headers the ingress
 * writes (under 1 KiB) and the ones a worker adds when it forwards the body
 * to leadsync.held or leadsync.dlq: a body may use the rest. */
#define ING_KAFKA_ROOM                                                         \
  LS_KAFKA_ROOM /* ls_config_rules.h: the loader checks it */

/* The producer's effective message.max.bytes for cfg (kafka.properties, else
 * KQ_MESSAGE_MAX_BYTES); -1 with errstr when the properties are rejected. */
long ing_producer_message_max(const ls_config *cfg, char *errstr,
                              size_t errlen);

/* A producer with the contract of docs/kafka-contract.md and a message timeout
 * of delivery_timeout_ms (unless kafka.properties sets message.timeout.ms).
 * Starts the poller thread that serves delivery reports. */
ing_producer *ing_producer_new(const ls_config *cfg, int delivery_timeout_ms,
                               ls_metrics *metrics, ing_delivered_fn cb,
                               void *cb_ctx, char *errstr, size_t errlen);
/* Fetches the metadata of every topic the ingress writes (so the first
 * requests do not stall) and starts the reachability probe. false when
 * Kafka did not answer within timeout_ms; call again to retry. */
bool ing_producer_warm_up(ing_producer *p, int timeout_ms);
ing_sink *ing_producer_sink(ing_producer *p);
/* True after a fatal producer error: the process should drain and exit. */
bool ing_producer_fatal(ing_producer *p);
/* Stops the poller and flushes outstanding records (their reports still
 * arrive through cb). Returns the number left undelivered. */
int ing_producer_flush(ing_producer *p, int timeout_ms);
void ing_producer_free(ing_producer *p);

#endif
