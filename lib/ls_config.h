/* ls_config: the one JSON config of ingress, worker and CLI, loaded once. */
#ifndef LS_CONFIG_H
#define LS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_diag.h"
#include "ls_err.h"
#include "ls_schema.h"

typedef enum { LS_LEVEL_USER, LS_LEVEL_CLIENT, LS_LEVEL_CAMPAIGN } ls_level;

struct ls_tenant;

typedef struct {
  char *id;
  ls_level level;
  char *scope_id;          /* client or campaign id; NULL for user level */
  char token_sha256[65];   /* lower-case hex */
  bool has_secret;
  char secret_sha256[65];  /* SHA-256 of the expected body secret_key */
  double rate_per_s;       /* 0 = unlimited */
  double rate_burst;
  struct ls_tenant *tenant;
} ls_source;

typedef struct ls_tenant {
  char *id;
  ls_source *sources;
  size_t n_sources;
  char *hs_base_url;   /* resolved: base_url_env wins over base_url */
  char *hs_token;      /* resolved from token_env / token_file; may be NULL */
  char *hs_token_ref;  /* "env:NAME" or "file:PATH", for messages */
  char *hs_tier;
  int hs_per_10s;
  long hs_daily;
  bool has_filter;
  char **categories;   /* names (compare case-insensitively) or ids */
  size_t n_categories;
  bool update_only;    /* contact_mode == "update_only" */
  bool opens_as_notes;
  bool clicks_as_notes;
  const json_t *json;  /* the tenant object, for per-area options */
} ls_tenant;

/* The "ingress" section, typed, defaults applied (docs/configuration.md).
 * Ranges are the schema's: a value outside them never loads. */
typedef struct {
  const char *listen;             /* "0.0.0.0:8080"; --listen wins */
  long max_body_bytes;            /* -1: message.max.bytes minus 1 MiB */
  long kafka_timeout_ms;          /* 10000 */
  long max_connections;           /* 4096 */
  long connection_timeout_s;      /* 10 */
  long max_json_depth;            /* 64 */
  long drain_timeout_s;           /* 20 */
  long threads;                   /* 2 */
  long retry_after_s;             /* 5 */
  long header_timeout_ms;         /* 10000 */
  long request_timeout_ms;        /* 30000 */
  long max_connections_per_ip;    /* 256; 0 = unlimited */
  long max_body_bytes_in_flight;  /* 64 MiB */
} ls_ingress_conf;

/* worker.groups: a consumer group and the event types it syncs. */
typedef struct {
  const char *name;
  char *events; /* "A,B" (owned): the group's --events when not given */
} ls_worker_group;

/* worker.portal_share as an object: one group's share. */
typedef struct {
  const char *group;
  double share;
} ls_group_share;

/* The "worker" section, typed, defaults applied (docs/configuration.md). */
typedef struct {
  long batch_max;              /* 100: inputs per HubSpot batch call */
  long flush_max;              /* 10 x batch_max */
  long batch_linger_ms;        /* 200 */
  long max_in_flight;          /* 8 */
  double portal_share;         /* a number for every group; -1: not set */
  ls_group_share *shares;      /* by group name, when an object */
  size_t n_shares;
  ls_worker_group *groups;     /* declared groups, in config order */
  size_t n_groups;
  long ratelimit_reserve;      /* 0: the limiter's default */
  bool setup_on_start;         /* true */
  long max_retries;            /* 8 */
  long backoff_base_ms;        /* 200 */
  long backoff_max_ms;         /* 30000 */
  long http_timeout_ms;        /* 30000 */
  long max_response_bytes;     /* 8 MiB: HubSpot answer body ceiling */
  long search_settle_ms;       /* 1500 */
  long ratelimit_guard_ms;     /* 500 */
  long flush_timeout_ms;       /* 30000 */
  long ledger_load_timeout_ms; /* 60000 */
  long poison_attempts;        /* 5 */
  const char *listen;          /* "127.0.0.1:9102"; --listen wins */
  double held_max_age_days;    /* 30 */
  long held_max_age_s;         /* held_max_age_days in seconds unless set */
  long held_expiry_interval_ms; /* 60000 */
  long dlq_watch_interval_ms;  /* 60000 */
} ls_worker_conf;

typedef struct {
  char *path;
  json_t *root;
  char *bootstrap;           /* KAFKA_BOOTSTRAP_SERVERS env wins */
  char *topic_prefix;        /* "smartlead." */
  int partitions;
  const json_t *kafka_props; /* passthrough librdkafka properties */
  ls_tenant *tenants;
  size_t n_tenants;
  ls_ingress_conf ingress;
  ls_worker_conf worker;
} ls_config;

/* Loads, checks and resolves a config: the schema, then the semantic rules
 * (docs/configuration.md), every problem into d (appended; may be NULL).
 * LS_OK with *out set unless a problem is LS_DIAG_FATAL; problems of the
 * other severities do not stop a load. This is `leadsync config check`. */
ls_err ls_config_load_diags(const char *path, ls_config **out, ls_diags *d);
ls_err ls_config_load_text_diags(const char *text, const char *name,
                                 ls_config **out, ls_diags *d);
/* Same; on failure errstr reads "<name>: <json path>: <message>" for the
 * first fatal problem, and says how many more there are. */
ls_err ls_config_load(const char *path, ls_config **out, char *errstr,
                      size_t errlen);
/* Same, from a JSON text already in memory (tests). */
ls_err ls_config_load_text(const char *text, const char *name, ls_config **out,
                           char *errstr, size_t errlen);
/* The keys ls_config knows in a section ("ingress", "worker"), NULL-ended:
 * the schema lists the same ones (a unit test holds them together). */
const char *const *ls_config_section_keys(const char *section);
/* worker.groups' event types of a group ("A,B"), NULL if not declared. */
const char *ls_config_group_events(const ls_config *cfg, const char *group);
void ls_config_free(ls_config *cfg);

/* The source whose token hashes to token_sha256, compared in constant time
 * against every source; NULL when none matches. */
const ls_source *ls_config_find_source(const ls_config *cfg,
                                       const char *token_sha256);
const ls_tenant *ls_config_tenant(const ls_config *cfg, const char *id);

/* Convenience getters for optional scalars under a section ("ingress",
 * "worker") with defaults. */
long ls_config_int(const ls_config *cfg, const char *section, const char *key,
                   long dflt);
const char *ls_config_str(const ls_config *cfg, const char *section,
                          const char *key, const char *dflt);

const char *ls_level_name(ls_level l);

#endif
