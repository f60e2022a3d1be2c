/* wrk_obs: the worker's metric families, declared at start, and the gauges
 * that need a look around every few seconds: consumer lag in records and
 * seconds, what is left of each portal's HubSpot budget, the age of the
 * oldest deferred event per tenant. The filter role's families are in
 * filter/fl_obs.h; it uses the lag gauges below too. */
#ifndef WRK_OBS_H
#define WRK_OBS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "ls_config.h"
#include "ls_metrics.h"

struct wrk;

/* Declares the sync role's families. */
void wrk_obs_declare(ls_metrics *m);
/* Remembers the timestamp of a consumed record (lag in seconds). */
void wrk_obs_consumed(const rd_kafka_message_t *m);
/* Lag in records and seconds of the partitions rk owns, labelled group. */
void wrk_obs_lag(ls_metrics *m, rd_kafka_t *rk, const char *group);
/* Lag, budgets, deferred ages; every few seconds from the main loop. */
void wrk_obs_tick(struct wrk *w);

#endif
