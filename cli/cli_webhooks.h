/* cli_webhooks: Smartlead's webhook priority rules, applied to a list of
 * webhook definitions (which webhook fires, which are shadowed, and why
 * that matters to leadsync). Pure logic: no I/O, unit-tested. */
#ifndef CLI_WEBHOOKS_H
#define CLI_WEBHOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli.h"
#include "ls_config.h"
#include "ls_err.h"

typedef enum {
  CLI_WH_OTHER,              /* not a leadsync URL */
  CLI_WH_LEADSYNC,           /* leadsync URL whose token opens a source */
  CLI_WH_LEADSYNC_UNKNOWN,   /* leadsync path, token matches no source */
  CLI_WH_LEADSYNC_UNVERIFIED /* leadsync path, no config to check against */
} cli_wh_kind;

typedef struct {
  char id[32];
  char name[128];
  ls_level level;
  char client_id[32];
  char campaign_id[32];
  char *url;
  char **types; /* upper-case event types */
  size_t n_types;
  int64_t updated_us; /* INT64_MIN when the definition has no date */
  size_t index;       /* position in the input, for messages */
  cli_wh_kind kind;
  char source[160];     /* "tenant/source" for CLI_WH_LEADSYNC */
  const ls_source *src; /* that source, for CLI_WH_LEADSYNC */
  char shown[320];      /* the URL, redacted for printing */
  bool slack; /* a Slack receiver (webhook_type SLACK, or a Slack incoming-
                 webhook URL): competes only with other Slack webhooks */
} cli_webhook;

/* A scope is what one campaign sees: campaign_id set = that campaign;
 * only client_id set = that client's other campaigns; neither = every
 * campaign not listed otherwise. */
typedef struct {
  char campaign_id[32];
  char client_id[32];
} cli_wh_scope;

typedef struct {
  size_t type;      /* index into report.types */
  size_t scope;     /* index into report.scopes */
  size_t winner;    /* index into report.hooks */
  size_t *shadowed; /* indexes into report.hooks */
  size_t n_shadowed;
  bool tie; /* the winner shares its level and date with another */
} cli_wh_route;

typedef struct {
  cli_severity sev;
  char code[32];
  char msg[1024];
} cli_wh_finding;

typedef struct {
  cli_webhook *hooks;
  size_t n_hooks, cap_hooks;
  char **types;
  size_t n_types, cap_types;
  cli_wh_scope *scopes;
  size_t n_scopes, cap_scopes;
  cli_wh_route *routes;
  size_t n_routes, cap_routes;
  cli_wh_finding *findings;
  size_t n_findings, cap_findings;
} cli_wh_report;

/* Appends the webhook definitions of doc (an array, or an object holding
 * one under "webhooks" or "data") to r. A definition that breaks the
 * format fails with errstr "<name>: $[i].field: rule". */
ls_err cli_wh_parse(cli_wh_report *r, const json_t *doc, const char *name,
                    char *errstr, size_t errlen);
/* Marks leadsync URLs (with cfg: which source each token opens), then
 * applies the priority rules: fills types, scopes, routes and findings. */
ls_err cli_wh_resolve(cli_wh_report *r, const ls_config *cfg);
/* Number of findings at sev or worse. */
size_t cli_wh_count(const cli_wh_report *r, cli_severity sev);
void cli_wh_free(cli_wh_report *r);

/* The id of the client or campaign a webhook is set on, after a space (""
 * for a user-level one), for the one-line descriptions. */
void cli_wh_level_id(const cli_webhook *h, char *out, size_t len);

#endif
