/* wrk: shared types of leadsync-worker (Kafka -> filter -> HubSpot). */
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
#include "wrk_out.h"

/* Final states of one event (sync_log "outcome"), plus the two that are
 * not final: still to sync, and deferred (left in Kafka). */
typedef enum {
  WRK_PENDING,
  WRK_SYNCED,
  WRK_FILTERED,
  WRK_HELD,
  WRK_DLQ,
  WRK_DUPLICATE,
  WRK_DEFERRED
} wrk_outcome;

const char *wrk_outcome_name(wrk_outcome o);

/* ls_dlq_reason values (docs/kafka-contract.md). */
#define WRK_DLQ_VALIDATION "validation"
#define WRK_DLQ_AUTH "auth"
#define WRK_DLQ_NOT_FOUND "not_found"
#define WRK_DLQ_MAPPING "mapping"
#define WRK_DLQ_RETRIES "retries_exhausted"
#define WRK_DLQ_PERMANENT "permanent"
#define WRK_DLQ_POISON "poison"

/* One consumed record and everything learnt about it. */
typedef struct wrk_event {
  rd_kafka_message_t *msg; /* owned until the batch is done */
  const ls_tenant *tenant; /* NULL when unknown */
  ls_event ev;
  json_t *root;            /* parsed body */
  hs_mapped map;
  int64_t received_us;     /* ingress receive time (latency) */
  bool suspect;            /* may have been applied before a crash */
  /* outcome */
  wrk_outcome outcome;
  char reason[64];         /* sync_log reason / DLQ reason */
  long http_status;
  char hs_category[64];
  char hs_message[512];
  int attempts;
  int64_t first_failure_us;
  char contact_id[32];
  char eng_id[32];
  wrk_out_owner out; /* its outputs: failed -> not final */
  bool failed;       /* left behind by a failure (counts to poison) */
  bool dlq_stub;     /* its DLQ copy failed before: a stub instead */
} wrk_event;

/* Worker settings from the "worker" config section and the flags. */
typedef struct {
  const char *group;       /* --group */
  char group_id[160];      /* leadsync-<group> */
  ls_event_type *types;    /* --events */
  size_t n_types;
  int batch_max;           /* inputs per HubSpot batch call, <= 100 */
  int flush_max;           /* events waiting for HubSpot per flush */
  long linger_ms;
  double portal_share;     /* this group's share of every portal */
  bool setup_on_start;
  long search_settle_ms;   /* index lag to wait before a search */
  long guard_ms;           /* limiter guard */
  long flush_timeout_ms;   /* producing outcomes before giving up */
  long ledger_load_timeout_ms;
  int poison_after;   /* failed attempts before DLQ reason poison */
  long max_msg_bytes; /* the producer's message.max.bytes */
  hs_policy pol;
} wrk_settings;

struct wrk_ledger;
struct wrk_out;
struct wrk_filter;

/* The process: config, Kafka handles, HubSpot client, metrics. */
typedef struct wrk {
  ls_config *cfg;
  wrk_settings s;
  rd_kafka_t *consumer;
  struct wrk_out *out;
  struct wrk_ledger *ledger; /* de-duplication state (wrk_ledger.h) */
  struct wrk_batch *batch;
  struct wrk_filter *filter;
  hs_transport *tp;
  hs_limiters *limiters;
  hs_target *targets;      /* one per tenant, same order as cfg->tenants */
  ls_metrics *metrics;
  volatile sig_atomic_t *stop;
  volatile int ready;
  json_t *stuck;           /* "topic/partition" -> first deferred offset */
  json_t *poison;   /* "topic/partition/offset" -> {n, error} */
  json_t *ft_carry;        /* first-touch properties waiting (wrk_sync.c) */
  json_t *setup_skipped;   /* tenant id -> {object: [property]} setup could
                              not create: never written */
  /* A flush keeps serving the consumer group while it waits for the
   * limiter (wrk_consumer_service): records polled meanwhile wait in the
   * stash, and a revoke aborts the flush instead of freeing it. */
  bool flushing;
  volatile sig_atomic_t flush_abort;
  bool revoked_in_flush;
  rd_kafka_message_t **stash;
  size_t n_stash, cap_stash;
  int64_t ft_since_us;     /* mono time the oldest of them arrived */
} wrk;

/* wrk_consumer.c */
rd_kafka_t *wrk_consumer_new(wrk *w, char *errstr, size_t errlen);
/* Stores offsets of the done prefix of events (offset order per
 * partition); deferred events stop their partition from advancing. */
void wrk_consumer_store(wrk *w, wrk_event **evs, size_t n);
/* Seeks partitions whose deferred events can go again (daily reset, or
 * at once for a record left behind by a failure). Call only between
 * flushes, with the batch empty: records of a partition read before its
 * seek are dropped from the stash, never stored. */
void wrk_consumer_unstick(wrk *w);
/* A record that could not be handled (out of memory, output refused):
 * nothing at or after its offset in its partition is stored until the
 * partition was read again from it. */
void wrk_consumer_block(wrk *w, const rd_kafka_message_t *m, const char *why);
void wrk_consumer_close(wrk *w);
/* hs_policy.idle during a flush: serves rebalances, stashes records. */
void wrk_consumer_service(void *w);
/* Hands the stashed records to the batch (after a flush). */
void wrk_consumer_unstash(wrk *w);
/* Sets this process's share of every portal's rate limit: the group's
 * share times the fraction of the group's partitions it owns. */
void wrk_consumer_set_share(wrk *w, rd_kafka_t *rk, int owned);

/* wrk_batch.c: intake and batching. */
typedef struct wrk_batch wrk_batch;
wrk_batch *wrk_batch_new(wrk *w);
void wrk_batch_free(wrk_batch *b);
/* Takes a consumed message (ownership) and classifies it. */
void wrk_batch_add(wrk_batch *b, rd_kafka_message_t *m);
bool wrk_batch_due(const wrk_batch *b, int64_t now_us);
/* Microseconds until the linger deadline (or a default when empty). */
int64_t wrk_batch_wait_us(const wrk_batch *b, int64_t now_us);
size_t wrk_batch_len(const wrk_batch *b);
/* Syncs, emits outcomes, waits for the acks, stores offsets. */
void wrk_batch_flush(wrk_batch *b);
/* Drops every event (shutdown, revoke) without storing offsets. */
void wrk_batch_abandon(wrk_batch *b);
void wrk_event_free(wrk_event *e);

/* wrk_sync.c: the HubSpot side of a flush. */
void wrk_sync(wrk *w, wrk_event **evs, size_t n);
/* First-touch properties of new contacts ride the next upsert; these send
 * them on their own when none came within the linger. */
bool wrk_sync_carry_due(const wrk *w, int64_t now_us);
void wrk_sync_carry(wrk *w);

/* Poison records (wrk_consumer.c): a record left behind by a failure is
 * counted; after worker.poison_attempts it goes to the DLQ (reason
 * poison) on its next read, so its partition moves on. */
void wrk_poison_note(wrk *w, const rd_kafka_message_t *m, const char *error,
                     bool dlq_failed);
/* true when the record had its attempts: e gets a DLQ outcome. */
bool wrk_poison_check(wrk *w, wrk_event *e);
void wrk_poison_clear(wrk *w, const rd_kafka_message_t *m);

/* Sets a DLQ outcome. */
void wrk_event_fail(wrk_event *e, const char *reason, long status,
                    const char *category, const char *message);

#endif
