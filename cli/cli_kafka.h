/* cli_kafka: reading topic ranges by assignment, producing with delivery
 * accounting, and the header rewrite of replays, for the CLI. */
#ifndef CLI_KAFKA_H
#define CLI_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kq_client.h"
#include "ls_config.h"
#include "ls_err.h"
#include "ls_event.h"

#define CLI_NO_TIME INT64_MIN
#define CLI_FOLLOW INT64_MAX /* range end: keep reading new records */

typedef struct {
  char topic[LS_TOPIC_MAX];
  int32_t partition;
  int64_t low, high; /* watermarks when planned */
  int64_t committed; /* the group's committed offset, -1 if none */
  int64_t start;     /* first offset to read */
  int64_t end;       /* read while offset < end (CLI_FOLLOW: no end) */
  bool done;
} cli_range;

typedef struct {
  cli_range *v;
  size_t n, cap;
  int64_t since_ms, until_ms; /* record timestamp window, CLI_NO_TIME */
  bool times_supported;       /* the cluster answers offsets_for_times */
} cli_ranges;

/* Delivery reports counted (kq_client's). */
typedef kq_delivery cli_delivery;

/* A consumer for assign()-style reads. group_id NULL: a throwaway group.
 * Nothing is committed unless the caller commits. */
rd_kafka_t *cli_kafka_consumer(const ls_config *cfg, const char *group_id,
                               char *errstr, size_t len);
/* The end of a read: frees the ranges (when given), closes the consumer
 * (leaving its group) and destroys it. NULL-safe. */
void cli_kafka_done(rd_kafka_t *rk, cli_ranges *r);
/* The idempotent producer of the contract; dr counts delivery reports. */
rd_kafka_t *cli_kafka_producer(const ls_config *cfg, cli_delivery *dr,
                               char *errstr, size_t len);

/* Plans one range per partition of each topic: [start, end) from the low
 * and high watermarks, narrowed by a timestamp window through
 * rd_kafka_offsets_for_times (since_ms/until_ms, CLI_NO_TIME for none).
 * Clusters that do not answer timestamp lookups (librdkafka's mock) get
 * the whole partition, and the reader filters by record timestamp.
 * group_id set: also fetch its committed offsets and start there.
 * LS_ERR_KAFKA with errstr when the cluster or a topic is unreachable. */
ls_err cli_kafka_plan(rd_kafka_t *rk, const char *const *topics,
                      size_t n_topics, int64_t since_ms, int64_t until_ms,
                      bool from_committed, int timeout_ms, cli_ranges *out,
                      char *errstr, size_t len);
void cli_ranges_free(cli_ranges *r);
/* Fills each range's committed offset for the handle's group.id. */
ls_err cli_kafka_committed(rd_kafka_t *rk, cli_ranges *r, int timeout_ms,
                           char *errstr, size_t len);
/* Commits next-offsets (topic, partition, offset) for the handle's group,
 * synchronously. */
ls_err cli_kafka_commit(rd_kafka_t *rk,
                        const rd_kafka_topic_partition_list_t *offsets,
                        char *errstr, size_t len);

/* Called for each record inside the ranges and the time window, in
 * partition order; a non-zero return stops the read. */
typedef int (*cli_record_fn)(const rd_kafka_message_t *m, cli_range *range,
                             void *opaque);

/* Reads every planned range to its end. LS_ERR_TIMEOUT when no record
 * arrived for idle_ms while ranges remain, or when deadline_us (a
 * ls_mono_us() instant, 0 for none) passes. */
ls_err cli_kafka_read(rd_kafka_t *rk, cli_ranges *r, cli_record_fn fn,
                      void *opaque, int idle_ms, int64_t deadline_us,
                      char *errstr, size_t len);

/* Produces one record (payload and key copied); hdrs is owned by the call
 * whatever the outcome. Waits out a full local queue. */
ls_err cli_kafka_produce(rd_kafka_t *producer, const char *topic,
                         const void *key, size_t key_len, const void *value,
                         size_t value_len, rd_kafka_headers_t *hdrs,
                         char *errstr, size_t len);

/* Waits for every outstanding delivery (at most timeout_ms); false when a
 * delivery failed or some are still pending. */
bool cli_kafka_flush(rd_kafka_t *producer, const cli_delivery *dr,
                     int timeout_ms, char *errstr, size_t len);

/* The headers for re-publishing a record: the original ones without the
 * DLQ's ls_dlq_* annotations and without an older ls_attempt/ls_replay,
 * plus ls_replay=<kind> and ls_attempt (previous + 1 when bump_attempt,
 * else kept as it was). */
rd_kafka_headers_t *cli_replay_headers(const rd_kafka_message_t *m,
                                       const char *kind, bool bump_attempt);

/* Header value (kq_header) and the parts of a lead key
 * "tenant:campaign:email" ("-" parts come back as ""). */
const char *cli_header(const rd_kafka_message_t *m, const char *name, char *buf,
                       size_t len);
void cli_key_parts(const rd_kafka_message_t *m, char *tenant, size_t tl,
                   char *campaign, size_t cl, char *email, size_t el);

#endif
