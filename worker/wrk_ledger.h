/* wrk_ledger: the set of events already synced, loaded from the compacted
 * leadsync.ledger topic at start and tailed while running. */
#ifndef WRK_LEDGER_H
#define WRK_LEDGER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config.h"
#include "ls_err.h"
#include "wrk.h"

typedef struct wrk_ledger wrk_ledger;

/* A set only (no Kafka): unit tests and the CLI. */
wrk_ledger *wrk_ledger_new_local(void);
/* Opens a group-less consumer on every ledger partition. */
wrk_ledger *wrk_ledger_new(const ls_config *cfg, const wrk_settings *s,
                           char *errstr, size_t errlen);
void wrk_ledger_free(wrk_ledger *l);
/* Reads the topic up to the high watermarks seen at call time (the last
 * record per key wins; every record of a key means the same thing). */
ls_err wrk_ledger_load(wrk_ledger *l, long timeout_ms,
                       volatile sig_atomic_t *stop, char *errstr,
                       size_t errlen);
/* Reads what was written up to now (the high watermarks at the call):
 * after an assign, so the events of partitions another replica owned
 * before are known as synced (or intended) before they are read again. */
ls_err wrk_ledger_catch_up(wrk_ledger *l, long timeout_ms,
                           volatile sig_atomic_t *stop, char *errstr,
                           size_t errlen);
/* Picks up records other replicas wrote since (non-blocking). */
void wrk_ledger_poll(wrk_ledger *l);
bool wrk_ledger_has(const wrk_ledger *l, const char *event_id);
void wrk_ledger_add(wrk_ledger *l, const char *event_id);
/* Intents: an engagement create was about to be sent for the event (the
 * record {"state":"intent"} precedes the create). An event with an intent
 * and no final record may exist in HubSpot already: search before create. */
bool wrk_ledger_has_intent(const wrk_ledger *l, const char *event_id);
void wrk_ledger_add_intent(wrk_ledger *l, const char *event_id);
size_t wrk_ledger_size(const wrk_ledger *l);

#endif
