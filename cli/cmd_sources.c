/* cmd_sources: `leadsync sources list|add|rotate|revoke`: webhook sources on
 * the compacted leadsync.sources topic, which every ingress replica follows
 * (no rollout). Each change also writes an audit record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "cli_kafka.h"
#include "cli_sources.h"
#include "ls_env.h"

static const char usage_text[] =
    "usage: leadsync sources list\n"
    "       leadsync sources add    --tenant T --id ID [--level L]\n"
    "                               [--scope-id N] [--ingress URL]\n"
    "       leadsync sources rotate --id ID [--grace DURATION] [--ingress "
    "URL]\n"
    "       leadsync sources revoke --id ID\n"
    "       (all: [--config FILE] [--json])\n"
    "\n"
    "list    the sources in force (the topic's records over the config's),\n"
    "        token fingerprints and not_after, never a token.\n"
    "add     creates a source of a config tenant and prints its webhook URL\n"
    "        once (the token is not stored anywhere, only its SHA-256).\n"
    "rotate  gives the source a new token and keeps the old ones valid for\n"
    "        --grace (default 7d; s, m, h or d) so Smartlead can be switched\n"
    "        without losing an event.\n"
    "revoke  no token of the source is accepted any more.\n"
    "Ingress replicas apply a change within seconds. --ingress is the\n"
    "public ingress URL for the printed webhook URL (default: .run/ingress\n"
    "or console.ingress_url).\n";

static bool parse_grace(const char *s, long *out) {
  char *end;
  long n = strtol(s, &end, 10);
  if (end == s || n < 0)
    return false;
  long unit = !*end               ? 1
              : !strcmp(end, "s") ? 1
              : !strcmp(end, "m") ? 60
              : !strcmp(end, "h") ? 3600
              : !strcmp(end, "d") ? 86400
                                  : -1;
  if (unit < 0 || n > 90L * 86400 / unit)
    return false;
  *out = n * unit;
  return true;
}

static void ingress_base(const cli_ctx *ctx, const ls_config *cfg,
                         const char *flag, char *out, size_t len) {
  out[0] = '\0';
  if (flag) {
    snprintf(out, len, "%s", flag);
    return;
  }
  const char *cu = json_string_value(
      json_object_get(json_object_get(cfg->root, "console"), "ingress_url"));
  if (cu && *cu) {
    snprintf(out, len, "%s", cu);
    return;
  }
  char p[1024];
  snprintf(p, sizeof p, "%s/ingress.ready",
           ctx->run_dir ? ctx->run_dir : ".run");
  FILE *f = fopen(p, "r");
  if (f) {
    if (fgets(out, (int)len, f))
      out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
  }
}

static const char *whoami(void) {
  const char *u = ls_env("USER");
  return u ? u : "cli";
}

static int print_result(cli_ctx *ctx, json_t *rec, const char *token,
                        const char *base) {
  json_t *pub = cli_sources_public(rec);
  char url[1024] = "";
  if (token)
    snprintf(url, sizeof url, "%s/v1/webhooks/smartlead/%s", base, token);
  if (ctx->json) {
    json_t *o = json_pack("{s:o}", "source", pub);
    if (token)
      json_object_set_new(o, "webhook_url", json_string(url));
    cli_print_json(o);
  } else {
    printf("source %s (tenant %s): %s\n",
           json_string_value(json_object_get(rec, "id")),
           json_string_value(json_object_get(rec, "tenant")),
           json_is_true(json_object_get(rec, "revoked")) ? "revoked"
                                                         : "active");
    if (token)
      printf("webhook URL (shown once, store it in Smartlead now):\n  %s\n",
             url);
    json_decref(pub);
  }
  return CLI_EXIT_OK;
}

static int run(cli_ctx *ctx, const ls_config *cfg, const char *sub,
               const char *tenant, const char *id, const char *level,
               const char *scope, long grace, const char *ingress) {
  char errstr[LS_ERRSTR_SIZE];
  json_t *topic = NULL;
  if (cli_sources_read(cfg, &topic, errstr, sizeof errstr) != LS_OK)
    return cli_fail(ctx, CLI_EXIT_FAIL, "%s (brokers %s)", errstr,
                    cfg->bootstrap);
  json_t *eff = cli_sources_effective(cfg, topic);
  json_decref(topic);
  int rc = CLI_EXIT_FAIL;
  if (!strcmp(sub, "list")) {
    json_t *arr = json_array();
    const char *k;
    json_t *rec;
    json_object_foreach(eff, k, rec) {
      json_array_append_new(arr, cli_sources_public(rec));
      if (!ctx->json) {
        printf("%-24s %-16s %-8s %s", k,
               json_string_value(json_object_get(rec, "tenant")),
               json_string_value(json_object_get(rec, "level")),
               json_is_true(json_object_get(rec, "revoked")) ? "revoked"
                                                             : "active");
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(rec, "tokens"), i, t) {
          const char *na = json_string_value(json_object_get(t, "not_after"));
          printf(" token %.8s%s%s",
                 json_string_value(json_object_get(t, "sha256")),
                 na ? " until " : "", na ? na : "");
        }
        printf("\n");
      }
    }
    if (ctx->json)
      cli_print_json(json_pack("{s:o}", "sources", arr));
    else
      json_decref(arr);
    json_decref(eff);
    return CLI_EXIT_OK;
  }
  char token[65] = "", base[512];
  ingress_base(ctx, cfg, ingress, base, sizeof base);
  json_t *next = NULL;
  const char *action = NULL;
  if (!strcmp(sub, "add")) {
    next = cli_sources_new(cfg, eff, tenant, id, level, scope, whoami(), token,
                           errstr, sizeof errstr);
    action = "source.add";
    if (!next) {
      json_decref(eff);
      return cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
    }
  } else {
    const json_t *rec = json_object_get(eff, id);
    if (!rec || json_is_true(json_object_get(rec, "revoked"))) {
      json_decref(eff);
      return cli_fail(ctx, CLI_EXIT_FAIL, "no active source \"%s\"", id);
    }
    if (!strcmp(sub, "rotate")) {
      next = cli_sources_rotated(rec, grace, whoami(), token);
      action = "source.rotate";
    } else {
      next = cli_sources_revoked(rec, whoami());
      action = "source.revoke";
    }
  }
  json_decref(eff);
  cli_delivery dr;
  rd_kafka_t *p = cli_kafka_producer(cfg, &dr, errstr, sizeof errstr);
  if (!p) {
    json_decref(next);
    return cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
  }
  json_t *audit = cli_audit_record(
      whoami(), "cli", action,
      json_pack("{s:s,s:s?}", "source_id",
                json_string_value(json_object_get(next, "id")), "tenant",
                json_string_value(json_object_get(next, "tenant"))));
  if (cli_sources_publish(p, &dr, next, audit, errstr, sizeof errstr) != LS_OK)
    cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
  else
    rc = print_result(ctx, next, token[0] ? token : NULL, base);
  rd_kafka_destroy(p);
  json_decref(next);
  return rc;
}

int cmd_sources(cli_ctx *ctx, int argc, char **argv) {
  static const char *const subs[] = {"list", "add", "rotate", "revoke", NULL};
  const char *sub = NULL;
  int end = cli_args_sub(ctx, usage_text, subs, argc, argv, &sub);
  if (end >= 0)
    return end;
  ctx->cmd = "sources";
  const char *tenant = NULL, *id = NULL, *level = NULL, *scope = NULL,
             *ingress = NULL, *grace_arg = NULL;
  long grace = CLI_SOURCES_GRACE_S;
  const cli_arg args[] = {CLI_STRING_ARG("tenant", &tenant),
                          CLI_STRING_ARG("id", &id),
                          CLI_STRING_ARG("level", &level),
                          CLI_STRING_ARG("scope-id", &scope),
                          CLI_STRING_ARG("grace", &grace_arg),
                          CLI_STRING_ARG("ingress", &ingress),
                          CLI_ARGS_END};
  end = cli_args_parse(ctx, usage_text, args, sub, argc - 1, argv + 1);
  if (end >= 0)
    return end;
  if (grace_arg && !parse_grace(grace_arg, &grace))
    return cli_usage_error(ctx, "--grace: a duration like 3600, 30m, "
                                "12h or 7d (at most 90d)");
  if (strcmp(sub, "list") && !id)
    return cli_usage_error(ctx, "--id is required");
  if (!strcmp(sub, "add") && !tenant)
    return cli_usage_error(ctx, "--tenant is required");
  ls_config *cfg = NULL;
  int rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  rc = run(ctx, cfg, sub, tenant, id, level, scope, grace, ingress);
  ls_config_free(cfg);
  return rc;
}
