/* ls_config: the one JSON config of ingress, worker and CLI, loaded once. */
#ifndef LS_CONFIG_H
#define LS_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ls_config_rules.h"
#include "ls_diag.h"
#include "ls_err.h"
#include "ls_schema.h"

typedef enum { LS_LEVEL_USER, LS_LEVEL_CLIENT, LS_LEVEL_CAMPAIGN } ls_level;

struct ls_tenant;

typedef struct {
  char *id;
  ls_level level;
  char *scope_id;        /* client or campaign id; NULL for user level */
  char token_sha256[65]; /* lower-case hex */
  bool has_secret;
  char secret_sha256[65]; /* SHA-256 of the expected body secret_key */
  double rate_per_s;      /* 0 = unlimited */
  double rate_burst;
  struct ls_tenant *tenant;
} ls_source;

typedef struct ls_tenant {
  char *id;
  ls_source *sources;
  size_t n_sources;
  char *hs_base_url;  /* resolved: base_url_env wins over base_url */
  char *hs_token;     /* resolved from token_env / token_file; may be NULL */
  char *hs_token_ref; /* "env:NAME" or "file:PATH", for messages */
  char *hs_tier;
  int hs_per_10s;
  long hs_daily;
  bool has_filter;
  char **categories; /* names (compare case-insensitively) or ids */
  size_t n_categories;
  bool update_only; /* contact_mode == "update_only" */
  bool opens_as_notes;
  bool clicks_as_notes;
  const json_t *json; /* the tenant object, for per-area options */
} ls_tenant;

typedef struct {
  char *path;
  json_t *root;
  char *bootstrap;    /* KAFKA_BOOTSTRAP_SERVERS env wins */
  char *topic_prefix; /* "smartlead." */
  int partitions;
  const json_t *kafka_props; /* passthrough librdkafka properties */
  ls_tenant *tenants;
  size_t n_tenants;
  ls_ingress_conf ingress;
  ls_worker_conf worker;
  ls_fanout_conf fanout;
  ls_diags problems; /* the ones that did not stop the load */
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
/* Logs each problem that did not stop the load (errors this environment
 * cannot resolve, warnings) as a warning with its path and rule: a daemon
 * calls it once at start. */
void ls_config_log_problems(const ls_config *cfg);
/* worker.groups' event types of a group ("A,B"), NULL if not declared. */
const char *ls_config_group_events(const ls_config *cfg, const char *group);
void ls_config_free(ls_config *cfg);

/* The source whose token hashes to token_sha256, compared in constant time
 * against every source; NULL when none matches. */
const ls_source *ls_config_find_source(const ls_config *cfg,
                                       const char *token_sha256);
const ls_tenant *ls_config_tenant(const ls_config *cfg, const char *id);

const char *ls_level_name(ls_level l);

#endif
