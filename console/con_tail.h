/* con_tail: one Kafka consumer thread that keeps the read model current.
 * It assigns every partition of the topics the console shows (no consumer
 * group: each replica keeps its own cache), starting at the offsets the
 * database recorded, and applies records in batches. */
#ifndef CON_TAIL_H
#define CON_TAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "con_store.h"
#include "ls_config.h"
#include "ls_err.h"
#include "ls_metrics.h"

typedef struct con_tail con_tail;

/* store is owned by the tail thread from here on. */
ls_err con_tail_start(const ls_config *cfg, con_store *store,
                      ls_metrics *metrics, con_tail **out, char *errstr,
                      size_t len);
/* True once every partition was read up to the high watermark it had when
 * the tail started (the cache has caught up). */
bool con_tail_caught_up(con_tail *t);
/* Records applied since start. */
long long con_tail_applied(con_tail *t);
void con_tail_stop(con_tail *t);

#endif
