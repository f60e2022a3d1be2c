/* wrk_event: one consumed record and everything learnt about it; the
 * outcome table (sync_log "outcome") and the DLQ reasons. */
#ifndef WRK_EVENT_H
#define WRK_EVENT_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "hs_map.h"
#include "ls_config.h"
#include "ls_event.h"
#include "wrk_out.h"

/* Every state of one event: id, sync_log name, final. Final states have
 * their offset stored once their outputs are acknowledged; PENDING (still
 * to sync) and DEFERRED (left in Kafka, read again) are not final. */
#define WRK_OUTCOMES(X)                                                        \
  X(PENDING, "pending", false)                                                 \
  X(SYNCED, "synced", true)                                                    \
  X(FILTERED, "filtered", true)                                                \
  X(HELD, "held", true)                                                        \
  X(DLQ, "dlq", true)                                                          \
  X(DUPLICATE, "duplicate", true)                                              \
  X(DEFERRED, "deferred", false)

typedef enum {
#define WRK_OUTCOME_ENUM(id, name, final) WRK_##id,
  WRK_OUTCOMES(WRK_OUTCOME_ENUM)
#undef WRK_OUTCOME_ENUM
      WRK_OUTCOME__COUNT
} wrk_outcome;

/* "synced", ...; "unknown" outside the table. */
const char *wrk_outcome_name(wrk_outcome o);
/* true for the states whose offset may be stored. */
bool wrk_outcome_final(wrk_outcome o);

/* ls_dlq_reason values (docs/kafka-contract.md). */
#define WRK_DLQ_VALIDATION "validation"
#define WRK_DLQ_AUTH "auth"
#define WRK_DLQ_NOT_FOUND "not_found"
#define WRK_DLQ_MAPPING "mapping"
#define WRK_DLQ_RETRIES "retries_exhausted"
#define WRK_DLQ_PERMANENT "permanent"
#define WRK_DLQ_POISON "poison"

/* Where a record sits in Kafka: what its offset store is keyed by. */
typedef struct wrk_pos {
  char topic[LS_TOPIC_MAX];
  int32_t partition;
  int64_t offset;
} wrk_pos;

/* Fills pos from a consumed message. */
void wrk_pos_of(wrk_pos *pos, const rd_kafka_message_t *m);
bool wrk_pos_same_partition(const wrk_pos *a, const wrk_pos *b);
/* pos's partition is one of parts (NULL: every partition). */
bool wrk_pos_in(const wrk_pos *pos,
                const rd_kafka_topic_partition_list_t *parts);

/* One consumed record and everything learnt about it. */
typedef struct wrk_event {
  rd_kafka_message_t *msg; /* owned until the batch is done; NULL in tests */
  wrk_pos pos;             /* valid when has_pos */
  bool has_pos;
  const ls_tenant *tenant; /* NULL when unknown */
  ls_event ev;
  json_t *root; /* parsed body */
  hs_mapped map;
  int64_t received_us; /* ingress receive time (latency) */
  bool suspect;        /* may have been applied before a crash */
  int64_t search_from; /* suspect: mono us its search may start (the
                          index may not show a create made just before) */
  /* outcome */
  wrk_outcome outcome;
  char reason[64]; /* sync_log reason / DLQ reason */
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

/* Sets a DLQ outcome. */
void wrk_event_fail(wrk_event *e, const char *reason, long status,
                    const char *category, const char *message);
void wrk_event_free(wrk_event *e);

#endif
