/* cmd_webhooks: `leadsync webhooks check`: which Smartlead webhook fires
 * for each event type and scope, which are shadowed, and whether that
 * starves leadsync (rules in cli_webhooks.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "cli_http.h"
#include "cli_webhooks.h"

static const char usage_text[] =
    "usage: leadsync webhooks check [FILE] [--smartlead-api] [--config FILE]\n"
    "                               [--json]\n"
    "\n"
    "Applies Smartlead's webhook priority rules: one webhook per event type\n"
    "fires; user level beats client level beats campaign level; within a\n"
    "level the most recently updated wins. Prints, per scope and event type,\n"
    "the webhook that fires and the ones it shadows.\n"
    "\n"
    "  FILE             JSON array of webhook definitions: {id, name, level\n"
    "                   (user|client|campaign), client_id, campaign_id,\n"
    "                   webhook_url, event_types, categories, updated_at}\n"
    "  --smartlead-api  fetch the campaign-level webhooks of every campaign\n"
    "                   from Smartlead (SMARTLEAD_API_KEY; "
    "SMARTLEAD_BASE_URL,\n"
    "                   default https://server.smartlead.ai/api/v1). The API\n"
    "                   does not list user- or client-level webhooks: give\n"
    "                   those in FILE too.\n"
    "  --config FILE    leadsync config: names the source of each leadsync\n"
    "                   URL (found by default through LEADSYNC_CONFIG/.run)\n"
    "\n"
    "Exit 1 when a user-level webhook blocks a client- or campaign-level\n"
    "one, when a leadsync URL is shadowed (or tied), or when a leadsync URL\n"
    "carries a token the config does not know. Exit 2 on bad input.\n";

#define SMARTLEAD_DEFAULT_BASE "https://server.smartlead.ai/api/v1"

/* GET base+path?api_key=..., retrying Smartlead's 429s a few times. The
 * key is never printed: messages name the path only. */
static int smartlead_get(const cli_ctx *ctx, const char *base, const char *path,
                         const char *key, json_t **out) {
  char *url = NULL;
  size_t n = strlen(base) + strlen(path) + strlen(key) + 32;
  int rc = CLI_EXIT_FAIL;
  cli_http_resp resp;
  memset(&resp, 0, sizeof resp);
  *out = NULL;
  if (!(url = malloc(n)))
    return cli_fail(ctx, CLI_EXIT_FAIL, "out of memory");
  snprintf(url, n, "%s%s?api_key=%s", base, path, key);
  for (int attempt = 0; attempt < 4; attempt++) {
    cli_http_resp_free(&resp);
    if (cli_http("GET", url, NULL, NULL, 0, 30000, &resp) != LS_OK) {
      cli_fail(ctx, CLI_EXIT_FAIL, "Smartlead API GET %s: %s", path,
               resp.error);
      goto out;
    }
    if (resp.status != 429)
      break;
    long wait = resp.retry_after_s >= 0 && resp.retry_after_s <= 60
                    ? resp.retry_after_s
                    : 5;
    fprintf(stderr, "leadsync %s: Smartlead rate limit, waiting %lds\n",
            ctx->cmd, wait);
    sleep((unsigned)wait);
  }
  if (resp.status != 200) {
    cli_fail(ctx, CLI_EXIT_FAIL, "Smartlead API GET %s: HTTP %ld%s", path,
             resp.status,
             resp.status == 401 || resp.status == 403
                 ? " (check SMARTLEAD_API_KEY)"
                 : "");
    goto out;
  }
  json_error_t jerr;
  *out =
      json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, &jerr);
  if (!*out) {
    cli_fail(ctx, CLI_EXIT_FAIL, "Smartlead API GET %s: not JSON: %s", path,
             jerr.text);
    goto out;
  }
  rc = CLI_EXIT_OK;
out:
  cli_http_resp_free(&resp);
  free(url);
  return rc;
}

static const json_t *as_array(const json_t *doc) {
  if (json_is_array(doc))
    return doc;
  const json_t *a = json_object_get(doc, "data");
  if (!json_is_array(a))
    a = json_object_get(doc, "campaigns");
  if (!json_is_array(a))
    a = json_object_get(doc, "webhooks");
  return json_is_array(a) ? a : NULL;
}

/* Campaign list, then each campaign's webhooks (docs/cli.md), as
 * definitions in the FILE format. */
static int fetch_smartlead(const cli_ctx *ctx, json_t **out) {
  const char *key = getenv("SMARTLEAD_API_KEY");
  const char *base = getenv("SMARTLEAD_BASE_URL");
  char b[1024];
  if (!key || !*key)
    return cli_fail(
        ctx, CLI_EXIT_USAGE,
        "--smartlead-api needs SMARTLEAD_API_KEY in the environment");
  snprintf(b, sizeof b, "%s", base && *base ? base : SMARTLEAD_DEFAULT_BASE);
  size_t bl = strlen(b);
  while (bl && b[bl - 1] == '/')
    b[--bl] = '\0';
  json_t *campaigns = NULL, *defs = json_array();
  int rc = smartlead_get(ctx, b, "/campaigns", key, &campaigns);
  if (rc != CLI_EXIT_OK)
    goto out;
  const json_t *arr = as_array(campaigns);
  if (!arr) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL,
                  "Smartlead API GET /campaigns: expected an array");
    goto out;
  }
  size_t i;
  const json_t *c;
  json_array_foreach(arr, i, c) {
    const json_t *cid = json_object_get(c, "id");
    if (!json_is_integer(cid) && !json_is_string(cid))
      continue;
    char path[128];
    if (json_is_integer(cid))
      snprintf(path, sizeof path,
               "/campaigns/%" JSON_INTEGER_FORMAT "/webhooks",
               json_integer_value(cid));
    else
      snprintf(path, sizeof path, "/campaigns/%.64s/webhooks",
               json_string_value(cid));
    json_t *hooks = NULL;
    rc = smartlead_get(ctx, b, path, key, &hooks);
    if (rc != CLI_EXIT_OK)
      goto out;
    const json_t *ha = as_array(hooks);
    size_t k;
    const json_t *h;
    json_array_foreach(ha, k, h) {
      json_t *d = json_deep_copy(h);
      if (!json_object_get(d, "level") &&
          !json_object_get(d, "association_type"))
        json_object_set_new(d, "level", json_string("campaign"));
      if (!json_object_get(d, "campaign_id"))
        json_object_set(d, "campaign_id", (json_t *)cid);
      const json_t *client = json_object_get(c, "client_id");
      if (!json_object_get(d, "client_id") && client)
        json_object_set(d, "client_id", (json_t *)client);
      json_array_append_new(defs, d);
    }
    json_decref(hooks);
  }
  *out = defs;
  defs = NULL;
out:
  json_decref(campaigns);
  json_decref(defs);
  return rc;
}

static void scope_label(const cli_wh_scope *s, char *out, size_t len) {
  if (s->campaign_id[0] && s->client_id[0])
    snprintf(out, len, "campaign %s (client %s)", s->campaign_id, s->client_id);
  else if (s->campaign_id[0])
    snprintf(out, len, "campaign %s", s->campaign_id);
  else if (s->client_id[0])
    snprintf(out, len, "client %s, campaigns without their own webhook",
             s->client_id);
  else
    snprintf(out, len, "every other campaign");
}

static void hook_line(const cli_webhook *h, char *out, size_t len) {
  char scope[80];
  cli_wh_level_id(h, scope, sizeof scope);
  char ls[200] = "";
  if (h->kind == CLI_WH_LEADSYNC)
    snprintf(ls, sizeof ls, "  [leadsync %s]", h->source);
  else if (h->kind == CLI_WH_LEADSYNC_UNKNOWN)
    snprintf(ls, sizeof ls, "  [leadsync URL, unknown token]");
  else if (h->kind == CLI_WH_LEADSYNC_UNVERIFIED)
    snprintf(ls, sizeof ls, "  [leadsync URL]");
  snprintf(out, len, "#%s \"%s\" (%s%s) %s%s", h->id, h->name,
           ls_level_name(h->level), scope, h->shown, ls);
}

static bool same_route(const cli_wh_route *a, const cli_wh_route *b) {
  if (a->winner != b->winner || a->n_shadowed != b->n_shadowed)
    return false;
  for (size_t i = 0; i < a->n_shadowed; i++)
    if (a->shadowed[i] != b->shadowed[i])
      return false;
  return true;
}

static void print_human(const cli_wh_report *r) {
  size_t lv[3] = {0, 0, 0}, n_ls = 0;
  for (size_t i = 0; i < r->n_hooks; i++) {
    lv[r->hooks[i].level]++;
    n_ls += r->hooks[i].kind != CLI_WH_OTHER;
  }
  printf("%zu webhooks (user %zu, client %zu, campaign %zu), %zu to "
         "leadsync\n",
         r->n_hooks, lv[0], lv[1], lv[2], n_ls);
  bool *done = calloc(r->n_routes ? r->n_routes : 1, sizeof *done);
  if (!done)
    return;
  for (size_t sc = 0; sc < r->n_scopes; sc++) {
    char label[160];
    bool header = false;
    scope_label(&r->scopes[sc], label, sizeof label);
    for (size_t i = 0; i < r->n_routes; i++) {
      const cli_wh_route *rt = &r->routes[i];
      if (rt->scope != sc || done[i])
        continue;
      if (!header) {
        printf("\n%s\n", label);
        header = true;
      }
      /* Event types with the same outcome share one line. */
      printf("  ");
      const char *sep = "";
      for (size_t j = i; j < r->n_routes; j++) {
        if (r->routes[j].scope != sc || done[j] ||
            !same_route(rt, &r->routes[j]))
          continue;
        done[j] = true;
        printf("%s%s", sep, r->types[r->routes[j].type]);
        sep = ", ";
      }
      char line[800];
      hook_line(&r->hooks[rt->winner], line, sizeof line);
      printf("\n    fires     %s%s\n", line, rt->tie ? "  (tie)" : "");
      for (size_t k = 0; k < rt->n_shadowed; k++) {
        hook_line(&r->hooks[rt->shadowed[k]], line, sizeof line);
        printf("    shadowed  %s\n", line);
      }
    }
  }
  free(done);
  if (!r->n_findings) {
    printf("\nno problems found\n");
    return;
  }
  printf("\n%zu error(s), %zu warning(s):\n", cli_wh_count(r, CLI_SEV_ERROR),
         cli_wh_count(r, CLI_SEV_WARN) - cli_wh_count(r, CLI_SEV_ERROR));
  for (int sev = CLI_SEV_ERROR; sev >= CLI_SEV_INFO; sev--)
    for (size_t i = 0; i < r->n_findings; i++)
      if ((int)r->findings[i].sev == sev)
        printf("  %-7s %s: %s\n", cli_severity_name(r->findings[i].sev),
               r->findings[i].code, r->findings[i].msg);
}

static json_t *hook_json(const cli_webhook *h) {
  return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s,s:b,s:s?}", "id", h->id, "name",
                   h->name, "level", ls_level_name(h->level), "client_id",
                   h->client_id[0] ? h->client_id : NULL, "campaign_id",
                   h->campaign_id[0] ? h->campaign_id : NULL, "url", h->shown,
                   "leadsync", h->kind != CLI_WH_OTHER, "leadsync_source",
                   h->kind == CLI_WH_LEADSYNC ? h->source : NULL);
}

static json_t *report_json(const cli_wh_report *r) {
  json_t *routes = json_array(), *findings = json_array();
  for (size_t i = 0; i < r->n_routes; i++) {
    const cli_wh_route *rt = &r->routes[i];
    const cli_wh_scope *s = &r->scopes[rt->scope];
    json_t *sh = json_array();
    for (size_t k = 0; k < rt->n_shadowed; k++)
      json_array_append_new(sh, hook_json(&r->hooks[rt->shadowed[k]]));
    json_array_append_new(
        routes, json_pack("{s:s,s:{s:s?,s:s?},s:o,s:o,s:b}", "event_type",
                          r->types[rt->type], "scope", "campaign_id",
                          s->campaign_id[0] ? s->campaign_id : NULL,
                          "client_id", s->client_id[0] ? s->client_id : NULL,
                          "fires", hook_json(&r->hooks[rt->winner]), "shadowed",
                          sh, "tie", rt->tie));
  }
  for (size_t i = 0; i < r->n_findings; i++)
    json_array_append_new(findings,
                          json_pack("{s:s,s:s,s:s}", "severity",
                                    cli_severity_name(r->findings[i].sev),
                                    "code", r->findings[i].code, "message",
                                    r->findings[i].msg));
  return json_pack("{s:i,s:o,s:o,s:b}", "webhooks", (int)r->n_hooks, "routes",
                   routes, "findings", findings, "ok",
                   cli_wh_count(r, CLI_SEV_ERROR) == 0);
}

static int check(cli_ctx *ctx, int argc, char **argv) {
  static const struct option opts[] = {
      {"smartlead-api", no_argument, NULL, 'a'},
      CLI_COMMON_OPTIONS,
      {NULL, 0, NULL, 0}};
  bool help = false, api = false;
  int c, rc = CLI_EXIT_USAGE;
  optind = 0;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    if (c == 'a')
      api = true;
    else if (!cli_common_opt(ctx, c, optarg, &help))
      return cli_usage_error(ctx, "unknown option");
  }
  if (help) {
    fputs(usage_text, stdout);
    return CLI_EXIT_OK;
  }
  const char *file = optind < argc ? argv[optind] : NULL;
  if (optind + 1 < argc)
    return cli_usage_error(ctx, "one FILE at most");
  if (!file && !api)
    return cli_usage_error(ctx, "give a FILE of webhook definitions or "
                                "--smartlead-api");
  ls_config *cfg = NULL;
  cli_wh_report rep;
  memset(&rep, 0, sizeof rep);
  json_t *doc = NULL;
  char errstr[LS_ERRSTR_SIZE];
  if ((rc = cli_config_load_optional(ctx, &cfg)) != CLI_EXIT_OK)
    goto out;
  if (file) {
    json_error_t jerr;
    doc = json_load_file(file, 0, &jerr);
    if (!doc) {
      rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s: line %d column %d: %s", file,
                    jerr.line, jerr.column, jerr.text);
      goto out;
    }
    if (cli_wh_parse(&rep, doc, file, errstr, sizeof errstr) != LS_OK) {
      rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
      goto out;
    }
    json_decref(doc);
    doc = NULL;
  }
  if (api) {
    if ((rc = fetch_smartlead(ctx, &doc)) != CLI_EXIT_OK)
      goto out;
    if (cli_wh_parse(&rep, doc, "smartlead-api", errstr, sizeof errstr) !=
        LS_OK) {
      rc = cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
      goto out;
    }
  }
  if (cli_wh_resolve(&rep, cfg) != LS_OK) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "out of memory");
    goto out;
  }
  if (ctx->json)
    cli_print_json(report_json(&rep));
  else {
    if (!cfg)
      printf("(no leadsync config: leadsync URLs are recognised by their "
             "path only)\n");
    if (api && !file)
      printf("(Smartlead's API lists campaign-level webhooks only; pass the "
             "user- and client-level ones in FILE)\n");
    print_human(&rep);
  }
  rc = cli_wh_count(&rep, CLI_SEV_ERROR) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
  json_decref(doc);
  cli_wh_free(&rep);
  ls_config_free(cfg);
  return rc;
}

int cmd_webhooks(cli_ctx *ctx, int argc, char **argv) {
  static const char *const subs[] = {"check", NULL};
  const char *sub = NULL;
  int end = cli_args_sub(ctx, usage_text, subs, argc, argv, &sub);
  if (end >= 0)
    return end;
  ctx->cmd = "webhooks check";
  return check(ctx, argc - 1, argv + 1);
}
