/* ls_synclog: the leadsync.sync_log record (docs/kafka-contract.md,
 * schemas/sync-log.schema.json), built in one place for the sync worker
 * the filter role and the fan-out. */
#ifndef LS_SYNCLOG_H
#define LS_SYNCLOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* One outcome. Strings may be NULL ("" too, except event_id) for JSON
 * null; json_t members are borrowed (NULL: null, or left out when
 * optional). */
typedef struct {
  const char *event_id; /* 32 hex digits, or "" when unknown */
  const char *tenant;
  const char *event_type; /* "EMAIL_SENT"; NULL or "": "UNKNOWN" */
  const char *lead_email;
  const char *campaign_id;
  const char *outcome; /* synced, held, released, expired, dlq, ... */
  const char *reason;
  json_t *hubspot;  /* {"contact_id","objects"} or NULL */
  bool has_error;   /* error: {http_status, category, message} */
  long http_status; /* 0: null */
  const char *error_category;
  const char *error_message;
  const char *topic; /* where the event was read */
  int32_t partition;
  int64_t offset;
  const char *event_time;
  int64_t latency_ms; /* < 0: null */
  const char *group;
  int attempts;
  json_t *truncated;    /* optional: left out when NULL */
  json_t *dropped;      /* optional */
  bool backfilled;      /* optional: "backfilled": true */
  const char *endpoint; /* optional: fan-out records, the endpoint id */
} ls_synclog;

/* The record as JSON; logged_at is now, in microseconds
 * ("2025-03-28T09:35:01.123456Z", like event_time). NULL when out of
 * memory. */
json_t *ls_synclog_json(const ls_synclog *r);

#endif
