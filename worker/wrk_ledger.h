/* wrk_ledger: the group's de-duplication state, partitioned like its
 * source topics: per partition number a compact table of the event ids
 * seen within worker.dedup_window, restored from the group's records in
 * leadsync.ledger when the partition is assigned, dropped when it is
 * revoked (docs/worker.md "State"). */
#ifndef WRK_LEDGER_H
#define WRK_LEDGER_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_config.h"
#include "ls_err.h"
#include "ls_metrics.h"
#include "wrk.h"

typedef struct wrk_ledger wrk_ledger;

/* What the state knows of an event (flags, or-ed). */
enum {
  WRK_SEEN_INTENT = 1, /* an engagement create was about to be sent */
  WRK_SEEN_SYNCED = 2, /* synced (a final ledger record) */
  WRK_SEEN_DONE = 4    /* filtered / DLQ'd by this process (not in Kafka) */
};

/* 8 days: longer than Smartlead's retries (hours), a consumer's
 * redelivery after a crash or rebalance (minutes), and a week's replay;
 * docs/worker.md "State" says why. */
#define WRK_DEDUP_WINDOW_S (8 * 86400L)

/* Bounds what librdkafka fetches ahead for the group consumer (unless
 * kafka.properties sets it): the worker's memory under a backlog is its
 * flush, not the backlog (docs/worker.md "State"). Fills out (n >= 13) with
 * "name", "value", ..., NULL for kq_consumer_opts.props; returns out. */
const char **wrk_ledger_prefetch_props(const ls_config *cfg, const char **out,
                                       size_t n);

/* Tables only (no Kafka), every partition restored: unit tests. */
wrk_ledger *wrk_ledger_new_local(void);
/* A group-less consumer on the group's ledger partitions, assigned as the
 * group consumer's partitions are (wrk_ledger_assign). group: the key
 * prefix of the group's records; metrics may be NULL. */
wrk_ledger *wrk_ledger_new(const ls_config *cfg, const char *group,
                           long window_s, ls_metrics *metrics, char *errstr,
                           size_t errlen);
void wrk_ledger_free(wrk_ledger *l);

/* The group consumer was assigned parts (after rd_kafka_assign or
 * incremental_assign): partition numbers not yet restored start their
 * restore. Nothing is paused here: a pause or resume issued while
 * librdkafka starts the partition's fetch (after the assignment's
 * committed offsets arrive, on its own thread) can make that start
 * outdated, and the partition is then never fetched (librdkafka issues
 * #2190, #5591). A record of such a partition that arrives before its
 * restore is done is held back by wrk_ledger_hold. */
void wrk_ledger_assign(wrk_ledger *l,
                       const rd_kafka_topic_partition_list_t *parts);
/* A record of topic/p at offset arrived while its number restores: its
 * fetch has started, so pausing it now is safe. Paused once, resumed by
 * wrk_ledger_poll when restored (or by wrk_ledger_release). SET_BACK: the
 * caller sets the partition back to offset (the lowest held so far);
 * ALREADY: it was set back at or before offset; FAILED: not paused
 * (logged), it is fetched on. */
typedef enum { WRK_HOLD_FAILED, WRK_HOLD_SET_BACK, WRK_HOLD_ALREADY } wrk_hold;
wrk_hold wrk_ledger_hold(wrk_ledger *l, rd_kafka_t *consumer, const char *topic,
                         int32_t p, int64_t offset);
/* From the rebalance callback, before the unassign: resumes the held
 * partitions among parts (NULL: all), so no pause outlives the
 * assignment and no resume races the fetch of a later one. */
void wrk_ledger_release(wrk_ledger *l, rd_kafka_t *consumer,
                        const rd_kafka_topic_partition_list_t *parts);
/* parts were revoked: a partition number no longer assigned through any
 * topic loses its state. Their held partitions were resumed and forgotten
 * by wrk_ledger_release, in the rebalance callback. */
void wrk_ledger_revoke(wrk_ledger *l,
                       const rd_kafka_topic_partition_list_t *parts);
/* From the main loop, every iteration: reads restore and tail records
 * (a bounded slice), resumes partitions whose state is restored, expires
 * entries older than the window, updates the state metrics. */
void wrk_ledger_poll(wrk_ledger *l, rd_kafka_t *consumer);
bool wrk_ledger_restored(const wrk_ledger *l, int32_t partition);
/* Partitions assigned and still restoring. */
int wrk_ledger_restoring(const wrk_ledger *l);

/* WRK_SEEN_* flags of an event of source partition `partition`. */
unsigned wrk_ledger_seen(const wrk_ledger *l, int32_t partition,
                         const char *event_id);
/* Adds flags for the event (the entry is dated now). */
void wrk_ledger_record(wrk_ledger *l, int32_t partition, const char *event_id,
                       unsigned flags);
/* An event first received before the window (received_us, wall clock):
 * the state may have forgotten it; it is searched before any create. */
bool wrk_ledger_beyond_window(const wrk_ledger *l, int64_t received_us);
/* wrk_ledger_record as of wall time wall_us (a restored record's time;
 * tests). */
void wrk_ledger_record_at(wrk_ledger *l, int32_t partition,
                          const char *event_id, unsigned flags,
                          int64_t wall_us);
/* One slice of the expiry sweep (wrk_ledger_poll runs one of about 2 ms
 * per loop turn, a round a minute): starts a round as of wall time now_us
 * unless one is under way, then sweeps for about budget_us (0: the rest
 * of the round). Entries recorded before the window's minute are
 * removed. true: the round is done. */
bool wrk_ledger_sweep_step(wrk_ledger *l, int64_t now_us, long budget_us);
/* Entries over all partitions (the leadsync_worker_ledger_events gauge). */
size_t wrk_ledger_size(const wrk_ledger *l);
/* Duplicates skipped, by cause (state, in_flush, search). */
void wrk_ledger_count_skip(wrk_ledger *l, const char *cause);
/* Declares the state metrics (at process start). */
void wrk_ledger_declare(ls_metrics *m);

/* wrk_ledger_emit and wrk_intent_emit (wrk_records.h) are defined in
 * wrk_ledger.c: the records go to the event's source partition number. */

#endif
