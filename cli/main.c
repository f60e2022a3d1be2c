/* leadsync: the operator CLI. Parses the global flags and dispatches to one
 * subcommand (cli/cmd_*.c); see docs/cli.md. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_cmds.h"
#include "ls_log.h"
#include "ls_version.h"
#include "ls_env.h"

static const struct {
  const char *name;
  int (*run)(cli_ctx *, int, char **);
  const char *summary;
} cmds[] = {
    {"test-sync", cmd_test_sync,
     "send a test event through ingress, Kafka, worker and HubSpot"},
    {"history", cmd_history, "search the sync log (and the DLQ) for events"},
    {"dlq", cmd_dlq, "list or replay dead-lettered events"},
    {"quarantine", cmd_quarantine, "list or replay quarantined bodies"},
    {"replay", cmd_replay, "re-sync a time window of a topic from Kafka"},
    {"hubspot", cmd_hubspot,
     "create the HubSpot property group and properties"},
    {"webhooks", cmd_webhooks,
     "apply Smartlead's webhook priority rules, find shadowed webhooks"},
    {"config", cmd_config, "check a config file and explain every problem"},
    {"audit", cmd_audit,
     "list acknowledged events without a final outcome (exit 1 if any)"},
    {"assure", cmd_assure,
     "back-fill Smartlead events whose webhooks never arrived"},
    {"sources", cmd_sources,
     "add, rotate or revoke webhook sources (no rollout)"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: leadsync [--config FILE] [--json] <command> [options]\n\n"
             "commands:\n");
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
    fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
  fprintf(
      f, "\nconfig: --config FILE, else $LEADSYNC_CONFIG, else .run/config.json"
         "\n(written by `make run`). KAFKA_BOOTSTRAP_SERVERS overrides the"
         "\nbrokers. `leadsync <command> --help` for each command.\n"
         "exit codes: 0 ok, 1 failure found, 2 usage or config error\n");
}

int main(int argc, char **argv) {
  cli_ctx ctx = {.cmd = "", .config_path = NULL, .json = false};
  const char *rd = ls_env("LEADSYNC_RUN_DIR");
  ctx.run_dir = rd ? rd : ".run";
  /* The CLI talks to people: only warnings and errors from the library. */
  ls_log_init("leadsync-cli");
  if (!getenv("LEADSYNC_LOG_LEVEL"))
    ls_log_set_level(LS_LOG_WARN);

  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return CLI_EXIT_OK;
    } else if (!strcmp(argv[i], "--version")) {
      ls_version_print(stdout, "leadsync");
      return CLI_EXIT_OK;
    } else if (!strcmp(argv[i], "--json")) {
      ctx.json = true;
    } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
      ctx.config_path = argv[++i];
    } else if (!strncmp(argv[i], "--config=", 9)) {
      ctx.config_path = argv[i] + 9;
    } else {
      fprintf(stderr, "leadsync: unknown option %s\n", argv[i]);
      usage(stderr);
      return CLI_EXIT_USAGE;
    }
  }
  if (i >= argc) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
    if (strcmp(argv[i], cmds[k].name))
      continue;
    ctx.cmd = cmds[k].name;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmds[k].run(&ctx, argc - i, argv + i);
    curl_global_cleanup();
    fflush(stdout);
    return rc;
  }
  fprintf(stderr, "leadsync: unknown command \"%s\"\n", argv[i]);
  usage(stderr);
  return CLI_EXIT_USAGE;
}
