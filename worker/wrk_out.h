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

wrk_out *wrk_out_new(const ls_config *cfg, char *errstr, size_t errlen);
void wrk_out_free(wrk_out *o);
/* Queues one record (copies key and value; takes hdrs, may be NULL). */
void wrk_out_produce(wrk_out *o, const char *topic, const void *key,
                     size_t klen, const void *val, size_t vlen,
                     rd_kafka_headers_t *hdrs);
/* Waits until every record queued since the last wait is acknowledged,
 * producing failed ones again. false when timeout_ms passed or stop was
 * set first (the caller must not store offsets then). */
bool wrk_out_wait(wrk_out *o, long timeout_ms, volatile sig_atomic_t *stop);
/* Records queued and not yet acknowledged. */
size_t wrk_out_pending(const wrk_out *o);

#endif
