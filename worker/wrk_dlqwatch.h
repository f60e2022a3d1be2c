/* wrk_dlqwatch: what waits in leadsync.dlq, for the operator's gauges: the
 * records past the committed offset of the replay group
 * (leadsync-dlq-replay; `leadsync dlq replay` commits it), their count and
 * the age of the oldest per tenant. Runs in its own thread in the filter
 * role, so a slow scan never holds up hold and release. */
#ifndef WRK_DLQWATCH_H
#define WRK_DLQWATCH_H

#include <signal.h>

#include "ls_config.h"
#include "ls_metrics.h"

typedef struct wrk_dlqwatch wrk_dlqwatch;

/* Declares the families and starts the thread (every interval_ms, first
 * scan right away). NULL when the thread could not start (logged). */
wrk_dlqwatch *wrk_dlqwatch_start(const ls_config *cfg, ls_metrics *m,
                                 long interval_ms);
/* Stops the thread and frees everything. */
void wrk_dlqwatch_stop(wrk_dlqwatch *d);

#endif
