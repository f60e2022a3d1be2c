/* fl_release: the category filter role's Kafka side (hold, pass, release)
 * on leadsync.held, one decision per lead (docs/filter.md). */
#ifndef FL_RELEASE_H
#define FL_RELEASE_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"
#include "ls_metrics.h"

typedef struct {
  const ls_config *cfg;
  const char *group; /* consumer group id, e.g. "leadsync-filter" */
  ls_metrics *metrics;
  volatile sig_atomic_t *stop;
  void (*on_ready)(void *arg);
  void *ready_arg;
  long max_age_s;       /* held events held longer than this expire */
  long expiry_every_ms; /* how often expiry runs */
  int poison_after;     /* failed attempts before the DLQ (poison) */
  long max_msg_bytes;   /* the producer's message.max.bytes */
  /* Checkpoints (docs/filter.md): a partition is snapshotted once the
   * bytes of the leadsync.held records since its last snapshot reach both
   * this floor and the last snapshot's bytes. */
  long snapshot_bytes;
} fl_release_opts;

/* Runs the filter role until *stop: consumes leadsync.held in its own
 * consumer group, rebuilds per-partition state on assignment, and passes,
 * holds, releases or expires records. Returns 0 on a clean stop. */
int fl_release_run(const fl_release_opts *o, char *errstr, size_t errlen);

#endif
