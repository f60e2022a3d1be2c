/* cmd_hubspot: `leadsync hubspot setup`: creates the property group and the
 * custom properties through lib/hubspot/hs_setup.c, the same code the worker
 * runs (one implementation), so both agree on every property leadsync writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "hs_client.h"
#include "hs_setup.h"

static const char usage_text[] =
    "usage: leadsync hubspot setup (--tenant ID | --all) [--config FILE]\n"
    "                              [--json]\n"
    "\n"
    "Creates the smartlead property group and every custom property the\n"
    "worker writes, in the tenant's HubSpot portal (base URL and token from\n"
    "the config's hubspot section). Idempotent: existing properties are\n"
    "left alone, a 409 counts as success. Needs the crm.schemas.*.write\n"
    "scopes on the token.\n"
    "\n"
    "Exit 0 when every property exists afterwards, 1 when HubSpot refused\n"
    "(the error names the status, category and message), 2 on usage or\n"
    "config errors (unknown tenant, no token).\n";

static int setup_tenant(const cli_ctx *ctx, const ls_tenant *t,
                        json_t *results) {
  char errstr[LS_ERRSTR_SIZE] = "";
  if (!t->hs_token)
    return cli_fail(
        ctx, CLI_EXIT_USAGE,
        "tenant %s has no HubSpot token (%s is not set or empty)", t->id,
        t->hs_token_ref[0] ? t->hs_token_ref : "no token_env/token_file");
  hs_limiter_conf lc = {.per_window = t->hs_per_10s,
                        .window_ms = 10000,
                        .daily = t->hs_daily,
                        .guard_ms = 100,
                        .search_per_s = 5};
  hs_limiter *lim = hs_limiter_new(&lc);
  hs_transport *tp = hs_transport_curl_new(30000, 5000, 8u * 1024 * 1024);
  int rc = CLI_EXIT_FAIL;
  if (!lim || !tp) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "out of memory");
    goto out;
  }
  hs_target tgt = {.base_url = t->hs_base_url,
                   .token = t->hs_token,
                   .lim = lim,
                   .label = t->id};
  hs_policy pol;
  hs_policy_defaults(&pol);
  pol.max_retries = 3;
  hs_setup_result res;
  ls_err e = hs_setup_run(tp, &tgt, &pol, &res, errstr, sizeof errstr);
  /* Properties HubSpot refused for good: the worker runs without them,
   * but the operator has something to fix. */
  rc = e == LS_OK && !res.skipped ? CLI_EXIT_OK : CLI_EXIT_FAIL;
  if (e == LS_OK && res.skipped && !ctx->json) {
    const char *obj;
    json_t *names;
    json_object_foreach(res.skipped, obj, names) {
      size_t i;
      json_t *n;
      json_array_foreach(names, i, n) {
        printf("tenant %s: property %s.%s NOT created (refused by HubSpot, "
               "see the log); the worker syncs without it\n",
               t->id, obj, json_string_value(n));
      }
    }
  }
  if (ctx->json)
    json_array_append_new(
        results, json_pack("{s:s,s:s,s:b,s:i,s:i,s:i,s:i,s:s?}", "tenant",
                           t->id, "hubspot", t->hs_base_url, "ok", e == LS_OK,
                           "created", res.created, "existed", res.existed,
                           "conflicts", res.conflicts, "calls", res.calls,
                           "error", e == LS_OK ? NULL : errstr));
  else if (e == LS_OK)
    printf("tenant %s (%s): %d created, %d already there, %d conflict(s) "
           "counted as present, %d HubSpot call(s)\n",
           t->id, t->hs_base_url, res.created, res.existed, res.conflicts,
           res.calls);
  else
    printf("tenant %s (%s): FAILED: %s\n", t->id, t->hs_base_url, errstr);
  if (ctx->json && res.skipped)
    json_object_set(json_array_get(results, json_array_size(results) - 1),
                    "skipped", res.skipped);
  json_decref(res.skipped);
out:
  if (tp)
    hs_transport_free(tp);
  hs_limiter_free(lim);
  return rc;
}

static int setup(cli_ctx *ctx, int argc, char **argv) {
  bool all = false;
  const char *tenant = NULL;
  const cli_arg args[] = {CLI_STRING_ARG("tenant", &tenant),
                          CLI_FLAG_ARG("all", &all, NULL), CLI_ARGS_END};
  int end = cli_args_parse(ctx, usage_text, args, NULL, argc, argv);
  if (end >= 0)
    return end;
  if (!tenant == !all)
    return cli_usage_error(ctx, "give --tenant ID or --all");
  ls_config *cfg = NULL;
  int rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  json_t *results = json_array();
  if (tenant) {
    const ls_tenant *t = ls_config_tenant(cfg, tenant);
    rc = t ? setup_tenant(ctx, t, results)
           : cli_fail(ctx, CLI_EXIT_USAGE, "no tenant \"%s\" in %s", tenant,
                      cfg->path);
  } else {
    for (size_t i = 0; i < cfg->n_tenants; i++) {
      int r = setup_tenant(ctx, &cfg->tenants[i], results);
      if (r > rc)
        rc = r;
    }
  }
  if (ctx->json)
    cli_print_json(
        json_pack("{s:b,s:o}", "ok", rc == CLI_EXIT_OK, "tenants", results));
  else
    json_decref(results);
  ls_config_free(cfg);
  return rc;
}

int cmd_hubspot(cli_ctx *ctx, int argc, char **argv) {
  static const char *const subs[] = {"setup", NULL};
  const char *sub = NULL;
  int end = cli_args_sub(ctx, usage_text, subs, argc, argv, &sub);
  if (end >= 0)
    return end;
  ctx->cmd = "hubspot setup";
  return setup(ctx, argc - 1, argv + 1);
}
