/* cmd_config: `leadsync config check FILE`: prints the loader's own
 * diagnostics (ls_config_load_diags: the schema and the semantic rules,
 * every problem with its JSON path and rule), plus the fan-out's endpoint
 * loader. The daemons load the config through the same call, so what this
 * reports as fatal is what makes them refuse to start. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_cmds.h"
#include "ls_endpoint.h"

static const char usage_text[] =
    "usage: leadsync config check FILE [--json]\n"
    "\n"
    "Validates a leadsync config with the loader the daemons use: JSON\n"
    "syntax, the schema (schemas/config.schema.json: types, ranges, unknown\n"
    "keys) and the semantic rules: duplicate tenant ids, source ids and URL\n"
    "tokens, unknown event types (worker groups, sync options), portal\n"
    "shares that add up to more than 1, secret and HubSpot token env vars\n"
    "that are not set and token files that cannot be read, fan-out\n"
    "endpoints (unique ids, https unless internal, secrets that resolve\n"
    "and decode), as seen from this environment (run it where the workers\n"
    "run). Every problem is listed with its JSON path and rule\n"
    "(docs/configuration.md lists the rules).\n"
    "\n"
    "Exit 0 when there is no error (warnings allowed), 1 when there is one,\n"
    "2 when FILE cannot be read. Errors marked fatal make the ingress and\n"
    "the worker refuse the config; the others (names this environment\n"
    "cannot resolve) they report and run with.\n";

/* Fan-out endpoints (docs/fanout.md): the fan-out's own loader, which
 * resolves secrets and URLs from this environment; its message names the
 * JSON path and never a secret. */
static void check_endpoints(ls_diags *d, const ls_config *cfg) {
  char errstr[LS_ERRSTR_SIZE];
  ls_endpoint *v = NULL;
  size_t n = 0;
  if (ls_endpoints_load(cfg, &v, &n, errstr, sizeof errstr) != LS_OK) {
    char path[256] = "$";
    const char *msg = errstr;
    const char *sep = strstr(errstr, ": ");
    if (errstr[0] == '$' && sep && (size_t)(sep - errstr) < sizeof path) {
      snprintf(path, sizeof path, "%.*s", (int)(sep - errstr), errstr);
      msg = sep + 2;
    }
    /* The fan-out refuses it; the ingress and the worker do not read it. */
    ls_diags_add(d, LS_DIAG_ERROR, "endpoint", path, "%s", msg);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i].kind == LS_EP_WEBHOOK && !v[i].n_secrets)
      ls_diags_add(d, LS_DIAG_WARNING, "endpoint_unsigned",
                   "$.tenants[].endpoints[]",
                   "endpoint \"%.64s\" has no secret: its requests are not "
                   "signed",
                   v[i].id);
  }
  ls_endpoints_free(v, n);
}

static int check(cli_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {CLI_COMMON_OPTIONS, {NULL, 0, NULL, 0}};
  bool help = false;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
    if (!cli_common_opt(ctx, c, optarg, &help))
      return cli_usage_error(ctx, "unknown option");
  if (help) {
    fputs(usage_text, stdout);
    return CLI_EXIT_OK;
  }
  /* FILE, else the config the other commands would use. */
  const char *file = optind < argc ? argv[optind] : ctx->config_path;
  if (!file)
    file = getenv("LEADSYNC_CONFIG");
  if (!file || !*file)
    return cli_usage_error(ctx, "which config? give FILE");
  if (optind + 1 < argc)
    return cli_usage_error(ctx, "one FILE at a time");
  FILE *f = fopen(file, "r");
  if (!f)
    return cli_fail(ctx, CLI_EXIT_USAGE, "%s: %s", file, strerror(errno));
  fclose(f);

  ls_diags d = {0};
  ls_config *cfg = NULL;
  if (ls_config_load_diags(file, &cfg, &d) == LS_OK)
    check_endpoints(&d, cfg);
  ls_config_free(cfg);
  ls_diags_sort(&d);
  size_t warnings = ls_diags_count(&d, LS_DIAG_WARNING);
  size_t errors = d.n - warnings;
  if (ctx->json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < d.n; i++)
      json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:b}", "severity",
                                           ls_diag_sev_name(d.v[i].sev), "path",
                                           d.v[i].path, "rule", d.v[i].rule,
                                           "message", d.v[i].msg, "fatal",
                                           d.v[i].sev == LS_DIAG_FATAL));
    cli_print_json(json_pack("{s:s,s:b,s:i,s:i,s:o}", "file", file, "ok",
                             errors == 0, "errors", (int)errors, "warnings",
                             (int)warnings, "problems", arr));
  } else if (!d.n) {
    printf("%s: ok\n", file);
  } else {
    printf("%s: %zu error(s), %zu warning(s)\n", file, errors, warnings);
    for (size_t i = 0; i < d.n; i++)
      printf("  %-7s %s: %s [%s%s]\n", ls_diag_sev_name(d.v[i].sev),
             d.v[i].path, d.v[i].msg, d.v[i].rule,
             d.v[i].sev == LS_DIAG_FATAL ? ", fatal" : "");
  }
  ls_diags_free(&d);
  return errors ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_config(cli_ctx *ctx, int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "check"))
    return cli_usage_error(ctx, "unknown subcommand \"%s\"", argv[1]);
  ctx->cmd = "config check";
  return check(ctx, argc - 1, argv + 1);
}
