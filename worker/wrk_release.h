/* wrk_release: the category filter's Kafka side (hold, pass, release). */
#ifndef WRK_RELEASE_H
#define WRK_RELEASE_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"
#include "ls_metrics.h"

/* Headers of the filter path (docs/filter.md). */
#define WRK_H_FILTER "ls_filter"           /* "passed": decided, sync it */
#define WRK_H_RELEASED "ls_released"       /* "1": it had been held */
#define WRK_H_ORIG_TOPIC "ls_original_topic"
#define WRK_H_MARKER "ls_marker"           /* "done": ids no longer held */

/* True when a worker group must hand this record to the filter instead of
 * syncing it: the tenant has a filter and nobody has decided yet. */
bool wrk_release_needs_filter(const ls_tenant *t,
                              const rd_kafka_message_t *m);

/* The headers a record carries on its way to leadsync.held: its own,
 * plus ls_original_topic (the caller owns the returned list). */
rd_kafka_headers_t *wrk_release_forward_headers(const rd_kafka_message_t *m);

typedef struct {
  const ls_config *cfg;
  const char *group;        /* consumer group id, e.g. "leadsync-filter" */
  ls_metrics *metrics;
  volatile sig_atomic_t *stop;
  void (*on_ready)(void *arg);
  void *ready_arg;
  long max_age_s;           /* held events held longer than this expire */
  long expiry_every_ms;     /* how often expiry runs */
  int poison_after;         /* failed attempts before the DLQ (poison) */
  long max_msg_bytes;       /* the producer's message.max.bytes */
} wrk_release_opts;

/* Runs the filter role until *stop: consumes leadsync.held in its own
 * consumer group, rebuilds per-partition state on assignment, and passes,
 * holds, releases or expires records. Returns 0 on a clean stop. */
int wrk_release_run(const wrk_release_opts *o, char *errstr, size_t errlen);

#endif
