/* con_store: the console's read model, an SQLite cache of what Kafka holds
 * (events and their steps, DLQ, quarantine, sources, per-source counts).
 * Kafka is the truth: the database can be deleted and rebuilt at any time,
 * and it records the next offset of every partition it applied. */
#ifndef CON_STORE_H
#define CON_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_err.h"

typedef struct con_store con_store;

/* One Kafka record as the store sees it (headers already looked up by the
 * caller; absent ones are ""). */
typedef struct {
  const char *topic;
  int32_t partition;
  int64_t offset;
  int64_t ts_ms; /* record timestamp */
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
  const char *(*header)(void *opaque, const char *name);
  void *opaque;
} con_record;

/* Opens (creating) the database at path; rebuild deletes it first.
 * A database of an older layout is rebuilt too. */
ls_err con_store_open(const char *path, bool rebuild, con_store **out,
                      char *errstr, size_t len);
/* A second, read-only handle on the same file (one per request thread). */
ls_err con_store_open_reader(const char *path, con_store **out, char *errstr,
                             size_t len);
void con_store_close(con_store *s);

/* Writes are grouped: begin, apply any number of records, commit. The
 * offsets applied are stored in the same transaction. */
ls_err con_store_begin(con_store *s);
ls_err con_store_apply(con_store *s, const con_record *r, const char *prefix);
ls_err con_store_commit(con_store *s);

/* Next offset to read for a partition, -1 when none stored. */
int64_t con_store_offset(con_store *s, const char *topic, int32_t partition);

/* Queries; each returns a new JSON value or NULL with errstr. */
typedef struct {
  const char *email, *tenant, *type, *outcome, *event_id, *cursor;
  int64_t since_ms, until_ms; /* 0: open */
  int limit;
} con_query;

json_t *con_store_events(con_store *s, const con_query *q, char *errstr,
                         size_t len);
/* NULL and errstr "" when the event is unknown. */
json_t *con_store_event(con_store *s, const char *event_id, char *errstr,
                        size_t len);
/* kind "dlq" or "quarantine"; state "pending", "replayed" or "all". */
json_t *con_store_parked(con_store *s, const char *kind, const char *state,
                         const con_query *q, char *errstr, size_t len);
/* One parked record by its coordinates; NULL when unknown. */
json_t *con_store_parked_one(con_store *s, const char *kind, int32_t partition,
                             int64_t offset);
/* Per-source activity: last received and counts per type since since_ms. */
json_t *con_store_source_stats(con_store *s, int64_t since_ms);
/* Sources recorded from leadsync.sources ({id: record}). */
json_t *con_store_sources(con_store *s);
/* Outcome and 429 counts per tenant since since_ms. */
json_t *con_store_tenant_stats(con_store *s, int64_t since_ms);
/* The assurance role's latest progress record per tenant (array). */
json_t *con_store_assurance(con_store *s);
long long con_store_count(con_store *s, const char *table);

#endif
