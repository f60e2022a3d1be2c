/* wrk_records: the worker's output records (docs/kafka-contract.md):
 * sync_log outcomes, ledger entries and DLQ copies. */
#ifndef WRK_RECORDS_H
#define WRK_RECORDS_H

#include <jansson.h>

#include "wrk.h"
#include "wrk_event.h"
#include "wrk_out.h"

/* The sync_log value of one event (schemas/sync-log.schema.json). */
json_t *wrk_synclog_json(const wrk *w, const wrk_event *e);
void wrk_synclog_emit(wrk *w, struct wrk_out *o, wrk_event *e);
/* The ledger value: {"event_id","tenant","event_type","contact_id",
 * "objects":[{"type","id"}],"at"}. */
json_t *wrk_ledger_json(const wrk_event *e);
void wrk_ledger_emit(wrk *w, struct wrk_out *o, wrk_event *e);
/* {"state":"intent"}: written and acknowledged before an engagement
 * create is sent, so a crash between create and ledger is detectable. */
void wrk_intent_emit(wrk *w, struct wrk_out *o, wrk_event *e);
/* The original record with the ls_dlq_* headers added. */
void wrk_dlq_emit(wrk *w, struct wrk_out *o, wrk_event *e);

#endif
