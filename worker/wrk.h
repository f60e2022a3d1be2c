/* wrk: the leadsync-worker process (Kafka -> filter -> HubSpot): settings,
 * handles and state, one struct passed to every module. Each concern has
 * its own header: wrk_event.h (one record and its outcome), wrk_consumer.h,
 * wrk_batch.h, wrk_sync.h, wrk_out.h / wrk_records.h (outputs),
 * wrk_plan.h (offsets to store), wrk_poison.h. This header includes none
 * of them (the modules include it): their state is reached through
 * pointers, so no include cycle runs through the process struct. */
#ifndef WRK_H
#define WRK_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs_client.h"
#include "hs_map.h"
#include "ls_config.h"
#include "ls_event.h"
#include "ls_metrics.h"

/* Worker settings from the "worker" config section and the flags. */
typedef struct {
  const char *group;    /* --group */
  char group_id[160];   /* leadsync-<group> */
  ls_event_type *types; /* --events */
  size_t n_types;
  int batch_max; /* inputs per HubSpot batch call, <= 100 */
  int flush_max; /* events waiting for HubSpot per flush */
  long linger_ms;
  double portal_share; /* this group's share of every portal */
  bool setup_on_start;
  long search_settle_ms; /* index lag to wait before a search */
  long guard_ms;         /* limiter guard */
  long flush_timeout_ms; /* producing outcomes before giving up */
  int poison_after;      /* failed attempts before DLQ reason poison */
  long max_msg_bytes;    /* the producer's message.max.bytes */
  hs_policy pol;
} wrk_settings;

struct wrk_batch;
struct wrk_carry;
struct wrk_consumer;
struct wrk_filter;
struct wrk_ledger;
struct wrk_out;
struct wrk_poison;

/* The process: config, Kafka handles, HubSpot client, metrics, state. */
typedef struct wrk {
  ls_config *cfg;
  wrk_settings s;
  struct wrk_consumer *cons; /* the group consumer and its partitions */
  struct wrk_out *out;
  struct wrk_ledger *ledger; /* de-duplication state (wrk_ledger.h) */
  struct wrk_batch *batch;
  struct wrk_batch *next; /* the next flush's records, taken in while a
                             flush waits (main.c, docs/worker.md) */
  struct wrk_filter *filter;
  hs_transport *tp;
  hs_limiters *limiters;
  hs_target *targets; /* one per tenant, same order as cfg->tenants */
  ls_metrics *metrics;
  volatile sig_atomic_t *stop;
  volatile int ready;
  struct wrk_poison *poison; /* failed attempts per record */
  struct wrk_carry *carry;   /* first-touch properties waiting (wrk_sync) */
  json_t *setup_skipped;     /* tenant id -> {object: [property]} setup could
                                not create: never written */
} wrk;

#endif
