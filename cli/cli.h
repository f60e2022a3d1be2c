/* cli: what every `leadsync` subcommand shares: exit codes, common options,
 * config discovery (--config, LEADSYNC_CONFIG, .run/), output helpers. */
#ifndef CLI_H
#define CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_config.h"

/* Exit codes of every subcommand (docs/cli.md). */
enum {
  CLI_EXIT_OK = 0,   /* done, nothing wrong found */
  CLI_EXIT_FAIL = 1, /* ran, and found a failure / a problem / no match */
  CLI_EXIT_USAGE = 2 /* bad flags, unreadable or invalid config */
};

/* How bad a finding of `webhooks check` / `config check` is. */
typedef enum { CLI_SEV_INFO, CLI_SEV_WARN, CLI_SEV_ERROR } cli_severity;
const char *cli_severity_name(cli_severity s);

typedef struct {
  const char *cmd;         /* "dlq replay": for messages */
  const char *config_path; /* --config */
  bool json;               /* --json: one JSON document on stdout */
  const char *run_dir;     /* LEADSYNC_RUN_DIR, default ".run" */
} cli_ctx;

/* getopt_long codes of the options every subcommand accepts. */
enum { CLI_OPT_CONFIG = 1000, CLI_OPT_JSON, CLI_OPT_HELP };
#define CLI_COMMON_OPTIONS                                                     \
  {"config", required_argument, NULL, CLI_OPT_CONFIG},                         \
      {"json", no_argument, NULL, CLI_OPT_JSON}, {                             \
    "help", no_argument, NULL, CLI_OPT_HELP                                    \
  }

/* Handles a common option code; returns true when c was one of them.
 * *help is set for --help. */
bool cli_common_opt(cli_ctx *ctx, int c, const char *arg, bool *help);
/* The end of a subcommand's option loop: --help prints usage and gives
 * CLI_EXIT_OK, a stray argument is a usage error; -1 means go on. */
int cli_opts_end(const cli_ctx *ctx, bool help, const char *usage, int argc,
                 char **argv);
/* Prints "leadsync <cmd>: <message>" on stderr and returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints an error line on stderr (never pass a secret); returns code. */
int cli_fail(const cli_ctx *ctx, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Loads the config: --config, else LEADSYNC_CONFIG, else <run>/config.json.
 * A config found through .run/ also takes .run/bootstrap (unless
 * KAFKA_BOOTSTRAP_SERVERS is set), .run/hubspot_url and .run/hubspot_token.
 * Returns CLI_EXIT_OK or CLI_EXIT_USAGE (message printed). */
int cli_config_load(cli_ctx *ctx, ls_config **out);
/* Like cli_config_load, but a missing config is not an error (*out NULL). */
int cli_config_load_optional(cli_ctx *ctx, ls_config **out);
/* The trimmed first line of <run_dir>/<name> into buf; false if absent. */
bool cli_run_file(const cli_ctx *ctx, const char *name, char *buf, size_t len);

/* Strict number parsing (no atoi): whole string, within [min, max]. */
bool cli_parse_long(const char *s, long min, long max, long *out);
/* A point in time: RFC 3339 / ISO-8601 (ls_time_parse), "now", or an age
 * such as "90s", "15m", "2h", "3d", "1w" (that long before now).
 * Microseconds since the epoch. */
bool cli_parse_time(const char *s, int64_t now_us, int64_t *out_us);

/* Prints a JSON document on stdout (pretty, key order kept) and frees it. */
void cli_print_json(json_t *doc);

/* A URL safe to print: "http://h:p/v1/webhooks/smartlead/XXXX" for a
 * leadsync webhook URL, "https://host/...[1a2b3c4d]" (a fingerprint of the
 * whole URL) for any other, since receivers keep secrets in paths too. */
void cli_redact_url(const char *url, char *out, size_t len);
/* The token of a ".../v1/webhooks/smartlead/<token>" URL into tok; false
 * when the path does not have that shape. */
bool cli_url_token(const char *url, char *tok, size_t len);

#endif
