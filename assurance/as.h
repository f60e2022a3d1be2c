/* leadsync-assurance: finds the Smartlead events leadsync never received and
 * back-fills them (docs/assurance.md). */
#ifndef AS_H
#define AS_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_config.h"
#include "ls_metrics.h"

#define AS_TOPIC_PROGRESS "leadsync.assurance"

/* Metric families (declared at start, so /metrics shows them at once). */
#define AS_M_BACKFILLED "leadsync_assurance_backfilled_total"
#define AS_H_BACKFILLED                                                        \
  "Events back-filled from the Smartlead API (a webhook never arrived)"
#define AS_M_API_CALLS "leadsync_assurance_api_calls_total"
#define AS_H_API_CALLS "Smartlead API calls made by the assurance role"
#define AS_M_API_429 "leadsync_assurance_api_429_total"
#define AS_H_API_429 "429 answers from the Smartlead API"
#define AS_M_RUNS "leadsync_assurance_runs_total"
#define AS_H_RUNS "Assurance runs by result"
#define AS_M_LAG "leadsync_assurance_last_run_lag_seconds"
#define AS_H_LAG                                                               \
  "Seconds since the start of the last completed assurance run (what it "      \
  "covered ends there)"
#define AS_M_LAST_BF "leadsync_assurance_last_run_backfilled"
#define AS_H_LAST_BF "Events back-filled by the last run"
#define AS_M_LAST_CALLS "leadsync_assurance_last_run_api_calls"
#define AS_H_LAST_CALLS "Smartlead API calls made by the last run"
#define AS_GROUP "leadsync-assurance"

/* -- per-tenant settings (tenant.smartlead in the config) ---------------- */
typedef struct {
  const ls_tenant *tenant;
  char base_url[512];
  char *api_key;     /* NULL: the tenant is not assured */
  char key_ref[300]; /* "env:NAME" / "file:PATH" for messages */
  int budget;        /* API calls per window, shared by the tenant */
  int window_ms;
  int64_t schedule_us; /* between runs */
  int64_t lookback_us; /* default look-back of a run */
  json_t *include;     /* campaign ids (strings), or NULL for all */
  json_t *exclude;
} as_tenant;

/* -- the Smartlead API client with the tenant's shared budget ------------ */
typedef struct as_api as_api;
as_api *as_api_new(const as_tenant *t, ls_metrics *m);
void as_api_free(as_api *a);
/* GET base+path (path may carry a query; api_key is appended). Honours the
 * budget, retries 429 (Retry-After, else one window) and 5xx/transport
 * errors with backoff up to max_wait_ms in total. *out is the parsed body
 * (status 200) or NULL. Returns the final HTTP status (0 = transport). */
int as_api_get(as_api *a, const char *path, json_t **out, int max_wait_ms,
               volatile int *stop);
long as_api_calls(const as_api *a);
long as_api_429s(const as_api *a);

/* -- what leadsync already has: event ids and leads in the window -------- */
typedef struct as_known as_known;
as_known *as_known_new(size_t max_ids);
void as_known_free(as_known *k);
bool as_known_has(const as_known *k, const char *event_id);
/* false when the table is full (max_ids): ids beyond it are not remembered
 * and a back-fill may then be produced twice (the ledger absorbs it). */
bool as_known_add(as_known *k, const char *event_id);
size_t as_known_count(const as_known *k);
/* Leads seen in the window: "campaign_id\x1femail" -> {lead_id, cat_id,
 * cat_us} (lead_id/cat_id "" when unknown). */
json_t *as_known_leads(as_known *k);
/* Reads the tenant's records of the back-fillable smartlead.* topics from
 * since_us to the end as of now. */
int as_known_load(as_known *k, const ls_config *cfg, const char *tenant,
                  int64_t since_us, char *err, size_t errlen);

/* -- back-fill bodies (webhook-shaped, from API rows) -------------------- */
typedef struct {
  const char *campaign_id; /* decimal */
  const char *campaign_name;
  const char *campaign_status;
  const json_t *client_id; /* may be NULL */
  const char *lead_id;     /* decimal, may be "" */
  const char *lead_map_id; /* may be "" */
  const char *lead_email;
  const char *lead_first, *lead_last;
} as_lead_ctx;

/* One statistics row (one sent email) -> SENT, OPEN, CLICK, BOUNCE bodies
 * appended to out. */
void as_bodies_from_stats_row(const as_lead_ctx *l, const json_t *row,
                              json_t *out);
/* One message-history entry of type REPLY (sent = the SENT entry or stats
 * row of the same stats_id, may be NULL) -> an EMAIL_REPLY body. */
json_t *as_body_reply(const as_lead_ctx *l, const json_t *entry);
json_t *as_body_sent_from_history(const as_lead_ctx *l, const json_t *entry);
json_t *as_body_unsubscribed(const as_lead_ctx *l, const char *time);
json_t *as_body_category(const as_lead_ctx *l, const char *old_id,
                         const char *old_name, int64_t new_id,
                         const char *new_name, const char *time);

/* -- one run --------------------------------------------------------------- */
typedef struct {
  const ls_config *cfg;
  rd_kafka_t *producer;
  ls_metrics *metrics;
  volatile int *stop;
  size_t max_known_ids;
  const char *role_name; /* for ce_source */
} as_env;

typedef struct {
  long backfilled, api_calls, api_429s, leads, campaigns, candidates;
  long known_ids;
  bool completed;
} as_result;

/* Runs (or resumes, when progress says so) one assurance pass for a tenant
 * over [since_us, now]. progress: the tenant's last progress record or NULL. */
int as_run_tenant(as_env *env, const as_tenant *t, int64_t since_us,
                  const json_t *progress, const char *run_id, as_result *res,
                  char *err, size_t errlen);

/* Progress records: produced to AS_TOPIC_PROGRESS partition 0, key tenant. */
int as_progress_put(rd_kafka_t *p, const char *tenant, json_t *value);

/* Tenant settings from the config (tenant.smartlead); false on a bad value. */
bool as_tenant_load(const ls_tenant *t, as_tenant *out, char *err,
                    size_t errlen);
void as_tenant_free(as_tenant *t);
/* "15m", "2d", "6h", "90s" or a plain number of seconds. */
bool as_parse_duration(const char *s, int64_t *us);

#endif
