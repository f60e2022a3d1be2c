/* wrk_batch: intake of consumed records (tenant, event id, ledger, filter
 * seam, mapping) and the flush in three visible steps: sync (HubSpot),
 * emit (outputs queued), settle (outputs acknowledged; the plan of
 * offsets to store). It never calls the consumer. */
#ifndef WRK_BATCH_H
#define WRK_BATCH_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wrk_event.h"
#include "wrk_plan.h"

struct wrk;
typedef struct wrk_batch wrk_batch;

wrk_batch *wrk_batch_new(struct wrk *w);
void wrk_batch_free(wrk_batch *b);
/* Takes a consumed message (ownership) and classifies it. A record that
 * cannot be taken in (out of memory) goes to plan as unfinished: its
 * partition stops there until it is read again. */
void wrk_batch_add(wrk_batch *b, rd_kafka_message_t *m, wrk_plan *plan);
/* Takes an event built by the caller (tests; ownership); intake as for a
 * record, with e->msg possibly NULL. */
void wrk_batch_add_event(wrk_batch *b, wrk_event *e);
/* Takes a record while the previous flush waits (docs/worker.md "The
 * overlap"): intake as wrk_batch_add, but false, leaving m to the
 * caller, when it cannot be taken now (its partition's state is not
 * restored, out of memory). */
bool wrk_batch_take(wrk_batch *b, rd_kafka_message_t *m);
/* Holds a flush's worth of events (the size bounds, not the linger). */
bool wrk_batch_full(const wrk_batch *b);
/* Before a batch taken in during the previous flush is sent: the ledger
 * is asked again for every event waiting for HubSpot (or filtered), so
 * what that flush synced, DLQ'd or put an intent on record for is a
 * duplicate or a suspect here, as if it had been taken in after it. */
void wrk_batch_recheck(wrk_batch *b);
/* Drops the events of at's partition at or past at->offset (it will be
 * read again from there); call with no output queued. Returns how many. */
size_t wrk_batch_drop_from(wrk_batch *b, const wrk_pos *at);
/* to follows from as the batch the loop fills: its linger starts now,
 * and the intake phase is timed from the end of from's last flush. */
void wrk_batch_handover(wrk_batch *from, wrk_batch *to);
bool wrk_batch_due(const wrk_batch *b, int64_t now_us);
/* Microseconds until the linger deadline (or a default when empty). */
int64_t wrk_batch_wait_us(const wrk_batch *b, int64_t now_us);
size_t wrk_batch_len(const wrk_batch *b);
wrk_event *wrk_batch_event(const wrk_batch *b, size_t i);
/* The HubSpot side of a flush (wrk_sync), or the carried first-touch
 * properties when they are due and nothing waits. It stops sending when
 * the policy's abort flag rises (a revoke; wrk_consumer_arm lowers it). */
void wrk_batch_sync(wrk_batch *b);
/* Queues every event's outputs (sync_log, ledger, DLQ copy). */
void wrk_batch_emit(wrk_batch *b);
/* Waits for the outputs, decides which events are final, adds them to
 * plan (unfinished ones too) and empties the batch. revoked: partitions
 * were revoked during the flush (failures are not counted as poison; the
 * loop drops those partitions from plan). */
void wrk_batch_settle(wrk_batch *b, bool revoked, wrk_plan *plan);
/* Drops every event (shutdown, revoke) without outputs: all go to plan
 * as unfinished (plan may be NULL). */
void wrk_batch_abandon(wrk_batch *b, wrk_plan *plan);

#endif
