/* wrk_out: the worker's producer (sync_log, ledger, DLQ) with delivery
 * tracking: offsets are stored only after every output of a batch is
 * acknowledged. */
#ifndef WRK_OUT_H
#define WRK_OUT_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"

typedef struct wrk_out wrk_out;

/* What an output belongs to (an event): when any of its records is not
 * acknowledged (refused, too large, out of memory, timed out), failed is
 * set and error says why; the event is then not final and its offset is
 * not stored (wrk_consumer_store). */
typedef struct wrk_out_owner {
  bool failed;
  char error[160];
} wrk_out_owner;

wrk_out *wrk_out_new(const ls_config *cfg, char *errstr, size_t errlen);
/* Without Kafka (unit tests): every record is acknowledged at once unless
 * a fault seam (wrk_fault.h, produce_<topic>) refuses it. */
wrk_out *wrk_out_new_sink(void);
/* Records handed to Kafka (or the sink) so far. */
size_t wrk_out_produced(const wrk_out *o);
void wrk_out_free(wrk_out *o);
/* Records produced from now on belong to owner (NULL: none). */
void wrk_out_owner_set(wrk_out *o, wrk_out_owner *owner);
/* Forgets the owner of every queued record (the owners are freed). */
void wrk_out_disown(wrk_out *o);
/* Marks the current owner failed without producing (e.g. a record that
 * could not be serialised). */
void wrk_out_fail(wrk_out *o, const char *why);
/* Queues one record (copies key and value; takes hdrs, may be NULL). */
void wrk_out_produce(wrk_out *o, const char *topic, const void *key,
                     size_t klen, const void *val, size_t vlen,
                     rd_kafka_headers_t *hdrs);
/* The same to a given partition (the ledger: its source's number). */
void wrk_out_produce_to(wrk_out *o, const char *topic, int32_t partition,
                        const void *key, size_t klen, const void *val,
                        size_t vlen, rd_kafka_headers_t *hdrs);
/* Waits until every record queued since the last wait is acknowledged,
 * producing failed ones again (a record refused for good, e.g. too large,
 * is not retried). false when any record is not acknowledged: its owner
 * is marked failed, the others' owners are final. A record still in
 * flight at the deadline outlives the wait, owned by nobody, until its
 * delivery report comes (wrk_out_unsettled); the wait does not block on
 * it. */
bool wrk_out_wait(wrk_out *o, long timeout_ms, volatile sig_atomic_t *stop);
/* Records queued and not yet acknowledged. */
size_t wrk_out_pending(const wrk_out *o);
/* Records a wait gave up on whose delivery report has not come yet (kept
 * for it; their owners were failed). Serves the reports that are due. */
size_t wrk_out_unsettled(wrk_out *o);

#endif
