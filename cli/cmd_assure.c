/* cmd_assure: `leadsync assure`: one webhook-assurance run now, by running
 * leadsync-assurance --once (the same code as the daemon; docs/assurance.md).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "ls_env.h"

static const char usage_text[] =
    "usage: leadsync assure [--tenant ID] [--since DURATION] [--config FILE]\n"
    "\n"
    "Runs webhook assurance once: reads the Smartlead API for the tenant's\n"
    "leads with activity since DURATION ago (15m, 6h, 2d; default the\n"
    "tenant's smartlead.assurance.lookback), and back-fills every event\n"
    "leadsync has no record of into the smartlead.* topics (header\n"
    "ls_backfill=1). Prints a JSON summary per tenant: backfilled, leads,\n"
    "api_calls, api_429s. Without --tenant every tenant with a Smartlead\n"
    "API key is assured. Needs leadsync-assurance next to this binary or on\n"
    "PATH. Safe to run while the daemon runs: back-fills carry the webhook's\n"
    "event id, so the workers' ledger syncs each occurrence once.\n"
    "\n"
    "Exit 0 when every run completed, 1 when one did not, 2 on usage or\n"
    "config errors (unknown tenant, no API key).\n";

static void env_from_run(const cli_ctx *ctx, const char *var,
                         const char *file) {
  char buf[1024];
  if (!ls_env(var) && cli_run_file(ctx, file, buf, sizeof buf))
    setenv(var, buf, 1);
}

int cmd_assure(cli_ctx *ctx, int argc, char **argv) {
  const char *tenant = NULL, *since = NULL;
  const cli_arg opts[] = {CLI_STRING_ARG("tenant", &tenant),
                          CLI_STRING_ARG("since", &since), CLI_ARGS_END};
  int rc = cli_args_parse(ctx, usage_text, opts, NULL, argc, argv);
  if (rc >= 0)
    return rc;
  int64_t dummy;
  if (since && !cli_parse_time(since, 0, &dummy))
    return cli_usage_error(ctx, "--since wants a duration like 15m, 6h, 2d");
  ls_config *cfg = NULL;
  rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (tenant && !ls_config_tenant(cfg, tenant)) {
    ls_config_free(cfg);
    return cli_usage_error(ctx, "unknown tenant \"%s\"", tenant);
  }
  /* The child reads the same config; what cli_config_load resolved from
   * .run/ is passed on through the environment. */
  setenv("KAFKA_BOOTSTRAP_SERVERS", cfg->bootstrap, 1);
  env_from_run(ctx, "SMARTLEAD_BASE_URL", "smartlead_url");
  env_from_run(ctx, "SMARTLEAD_API_KEY", "smartlead_api_key");
  char path[PATH_MAX] = "", self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    snprintf(path, sizeof path, "%s/leadsync-assurance", dirname(self));
  }
  if (!path[0] || access(path, X_OK) != 0)
    snprintf(path, sizeof path, "leadsync-assurance");
  char *args[12];
  int k = 0;
  args[k++] = path;
  args[k++] = "--once";
  args[k++] = "--config";
  args[k++] = cfg->path;
  if (tenant) {
    args[k++] = "--tenant";
    args[k++] = (char *)tenant;
  }
  if (since) {
    args[k++] = "--since";
    args[k++] = (char *)since;
  }
  args[k] = NULL;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execvp(args[0], args);
    fprintf(stderr, "leadsync assure: cannot run %s: %s\n", args[0],
            strerror(errno));
    _exit(127);
  }
  int st = 0;
  if (pid < 0 || waitpid(pid, &st, 0) < 0) {
    ls_config_free(cfg);
    return cli_fail(ctx, CLI_EXIT_FAIL, "cannot start leadsync-assurance");
  }
  ls_config_free(cfg);
  if (WIFEXITED(st) && WEXITSTATUS(st) <= 2)
    return WEXITSTATUS(st);
  return CLI_EXIT_FAIL;
}
