/* cli_quarantine: the one way a quarantined record goes back to its event
 * topic, shared by `leadsync quarantine replay` and the console. */
#ifndef CLI_QUARANTINE_H
#define CLI_QUARANTINE_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "ing_route.h"
#include "ls_config.h"

/* Re-validates a smartlead.quarantine record with today's schemas and
 * routing (ing_route). When it passes: true, v->ev names the topic and key,
 * and *hdrs (when hdrs is not NULL) receives the headers to publish it with
 * (the original ones, ce_id/ce_type/ce_time as derived now,
 * ls_replay=quarantine, no ls_quarantine_*). Otherwise false and v->detail
 * says why. */
bool cli_quarantine_requeue(const ing_schemas *sch, const ls_config *cfg,
                            const rd_kafka_message_t *m, ing_verdict *v,
                            rd_kafka_headers_t **hdrs);

#endif
