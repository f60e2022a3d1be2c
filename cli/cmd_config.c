/* cmd_config: `leadsync config check FILE`: the loader's verdict (schema and
 * semantic checks of ls_config_load, which stop at the first problem) plus
 * our own pass over the raw JSON that keeps going, so every problem is
 * reported with its JSON path. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_cmds.h"
#include "ls_endpoint.h"
#include "ls_event.h"

static const char usage_text[] =
    "usage: leadsync config check FILE [--json]\n"
    "\n"
    "Validates a leadsync config: JSON syntax, the schema\n"
    "(schemas/config.schema.json), and semantic checks: duplicate tenant\n"
    "ids and URL tokens, malformed token hashes, unknown event types (worker\n"
    "groups, sync options), secret and HubSpot token env vars that are not\n"
    "set and token files that cannot be read, fan-out endpoints (unique\n"
    "ids, https unless internal, secrets that resolve and decode), as seen\n"
    "from this environment\n"
    "(run it where the workers run). Every problem is listed with its JSON\n"
    "path.\n"
    "\n"
    "Exit 0 when there is no error (warnings allowed), 1 when there is one,\n"
    "2 when FILE cannot be read.\n";

typedef struct {
  cli_severity sev;
  char path[256];
  char msg[512];
} problem;

typedef struct {
  problem *v;
  size_t n;
  char loader_path[256]; /* path of the loader's own error, to dedupe */
} problems;

static void add(problems *ps, cli_severity sev, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add(problems *ps, cli_severity sev, const char *path,
                const char *fmt, ...) {
  /* The loader already reported this path in its own words. */
  if (ps->loader_path[0] && !strcmp(ps->loader_path, path))
    return;
  problem *g = realloc(ps->v, (ps->n + 1) * sizeof *g);
  if (!g)
    return;
  ps->v = g;
  problem *p = &ps->v[ps->n++];
  p->sev = sev;
  snprintf(p->path, sizeof p->path, "%s", path);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->msg, sizeof p->msg, fmt, ap);
  va_end(ap);
}

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool is_hex64(const char *s) {
  if (!s || strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!isxdigit((unsigned char)*s))
      return false;
  return true;
}

/* "EMAIL_REPLY"-shaped: what an event type name looks like. */
static bool looks_like_type(const char *s) {
  if (strlen(s) < 4 || !isupper((unsigned char)s[0]))
    return false;
  for (; *s; s++)
    if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

static void check_type_name(problems *ps, const char *path, const char *name) {
  if (ls_event_type_from_name(name) == LS_EV_UNKNOWN)
    add(ps, CLI_SEV_ERROR, path,
        "unknown event type \"%.64s\" (Smartlead's types: EMAIL_SENT, "
        "FIRST_EMAIL_SENT, EMAIL_OPEN, EMAIL_LINK_CLICK, EMAIL_REPLY, "
        "EMAIL_BOUNCE, LEAD_UNSUBSCRIBED, LEAD_CATEGORY_UPDATED, "
        "CAMPAIGN_STATUS_CHANGED, UNTRACKED_REPLIES, MANUAL_STEP_REACHED)",
        name);
}

/* A list of event types: an array of names or "A,B,C". */
static void check_type_list(problems *ps, const char *path, const json_t *v) {
  char p[256];
  if (json_is_array(v)) {
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
      snprintf(p, sizeof p, "%.200s[%zu]", path, i);
      if (!json_is_string(e))
        add(ps, CLI_SEV_ERROR, p, "must be an event type name");
      else
        check_type_name(ps, p, json_string_value(e));
    }
  } else if (json_is_string(v)) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", json_string_value(v));
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save))
      check_type_name(ps, path, t);
  }
}

static bool is_event_list_key(const char *k) {
  size_t n = strlen(k);
  return !strcmp(k, "events") || !strcmp(k, "event_types") ||
         (n > 7 && !strcmp(k + n - 7, "_events"));
}

/* Walks a subtree where event types appear: worker group definitions and
 * per-tenant sync options. Keys shaped like event types must be known
 * ones; lists under "events"/"event_types"/"*_events" too; inside
 * worker.groups any string of upper-case names is a type list. */
static void walk_types(problems *ps, const char *path, const json_t *v,
                       bool in_groups) {
  char p[256];
  if (json_is_object(v)) {
    const char *k;
    const json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      snprintf(p, sizeof p, "%.200s.%.50s", path, k);
      if (looks_like_type(k))
        check_type_name(ps, p, k);
      if (is_event_list_key(k))
        check_type_list(ps, p, c);
      else
        walk_types(ps, p, c, in_groups || !strcmp(k, "groups"));
    }
  } else if (json_is_array(v)) {
    size_t i;
    const json_t *c;
    json_array_foreach(v, i, c) {
      snprintf(p, sizeof p, "%.200s[%zu]", path, i);
      walk_types(ps, p, c, in_groups);
    }
  } else if (in_groups && json_is_string(v)) {
    char buf[1024];
    bool all = true;
    snprintf(buf, sizeof buf, "%s", json_string_value(v));
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t && all;
         t = strtok_r(NULL, ", ", &save))
      all = looks_like_type(t);
    if (all && json_string_length(v))
      check_type_list(ps, path, v);
  }
}

/* tenant.smartlead (docs/assurance.md): the API key must resolve where the
 * assurance role runs, and durations must parse; a tenant without the
 * section is simply not assured. */
static void check_smartlead(problems *ps, const char *tpath, const json_t *sl,
                            const char *tenant) {
  char p[256];
  if (!json_is_object(sl))
    return;
  const char *kenv = jstr(sl, "api_key_env");
  const char *kfile = jstr(sl, "api_key_file");
  const json_t *as = json_object_get(sl, "assurance");
  if (json_is_false(json_object_get(as, "enabled")))
    return;
  if (!kenv && !kfile) {
    snprintf(p, sizeof p, "%.200s.smartlead", tpath);
    add(ps, CLI_SEV_ERROR, p,
        "tenant \"%.64s\" has neither smartlead.api_key_env nor "
        "smartlead.api_key_file: assurance cannot call the Smartlead API",
        tenant);
    return;
  }
  bool ok = false;
  if (kenv && getenv(kenv) && *getenv(kenv))
    ok = true;
  if (!ok && kfile) {
    FILE *f = fopen(kfile, "r");
    if (f) {
      int ch;
      while ((ch = fgetc(f)) != EOF && !ok)
        ok = !isspace(ch);
      fclose(f);
    }
  }
  if (!ok) {
    snprintf(p, sizeof p, "%.200s.smartlead.%s", tpath,
             kenv ? "api_key_env" : "api_key_file");
    add(ps, CLI_SEV_WARN, p,
        "the Smartlead API key of tenant \"%.64s\" cannot be resolved "
        "(%s%.200s unset, missing or empty): assurance skips this tenant",
        tenant, kenv ? "environment variable " : "file ", kenv ? kenv : kfile);
  }
}

static void check_token(problems *ps, const char *tpath, const json_t *hs,
                        const char *tenant) {
  char p[256];
  const char *tenv = jstr(hs, "token_env");
  const char *tfile = jstr(hs, "token_file");
  char why_env[200] = "", why_file[300] = "";
  if (tenv) {
    const char *v = getenv(tenv);
    if (v && *v)
      return;
    snprintf(why_env, sizeof why_env, "environment variable %.64s is not set%s",
             tenv, v ? " (empty)" : "");
  }
  if (tfile) {
    FILE *f = fopen(tfile, "r");
    if (f) {
      int ch;
      bool any = false;
      while ((ch = fgetc(f)) != EOF && !any)
        any = !isspace(ch);
      fclose(f);
      if (any)
        return;
      snprintf(why_file, sizeof why_file, "token file %.200s is empty", tfile);
    } else {
      snprintf(why_file, sizeof why_file, "token file %.200s: %s", tfile,
               strerror(errno));
    }
  }
  if (!tenv && !tfile) {
    snprintf(p, sizeof p, "%.200s.hubspot", tpath);
    add(ps, CLI_SEV_ERROR, p,
        "tenant \"%.64s\" has neither hubspot.token_env nor hubspot.token_file:"
        " the worker cannot call HubSpot",
        tenant);
    return;
  }
  snprintf(p, sizeof p, "%.200s.hubspot.%s", tpath,
           tenv ? "token_env" : "token_file");
  add(ps, CLI_SEV_ERROR, p,
      "the HubSpot token of tenant \"%.64s\" cannot be resolved: %s%s%s",
      tenant, why_env, why_env[0] && why_file[0] ? "; " : "", why_file);
}

typedef struct {
  const char *sha;
  char path[128];
} token_seen;

static void check_source(problems *ps, const char *sp, const json_t *s,
                         token_seen *seen, size_t *n_seen) {
  char p[256];
  if (!json_is_object(s)) {
    add(ps, CLI_SEV_ERROR, sp, "a source must be an object");
    return;
  }
  if (!jstr(s, "id")) {
    snprintf(p, sizeof p, "%.200s.id", sp);
    add(ps, CLI_SEV_ERROR, p, "a source needs a string id");
  }
  const char *level = jstr(s, "level");
  snprintf(p, sizeof p, "%.200s.level", sp);
  if (level && strcmp(level, "user") && strcmp(level, "client") &&
      strcmp(level, "campaign"))
    add(ps, CLI_SEV_ERROR, p, "must be \"user\", \"client\" or \"campaign\"");
  char scope[64];
  ls_json_id(json_object_get(s, "scope_id"), scope, sizeof scope);
  if (level && (!strcmp(level, "client") || !strcmp(level, "campaign")) &&
      !scope[0]) {
    snprintf(p, sizeof p, "%.200s.scope_id", sp);
    add(ps, CLI_SEV_ERROR, p, "a %s-level source needs its %s id", level,
        level);
  }
  const char *th = jstr(s, "token_sha256");
  snprintf(p, sizeof p, "%.200s.token_sha256", sp);
  if (!is_hex64(th)) {
    add(ps, CLI_SEV_ERROR, p,
        "must be the SHA-256 of the URL token (64 hex digits), never the "
        "token itself");
  } else {
    for (size_t i = 0; i < *n_seen; i++)
      if (!strcasecmp(seen[i].sha, th))
        add(ps, CLI_SEV_ERROR, p,
            "duplicate token: the same URL token opens %s; every source "
            "needs its own",
            seen[i].path);
    seen[*n_seen].sha = th;
    snprintf(seen[*n_seen].path, sizeof seen[*n_seen].path, "%.120s", sp);
    (*n_seen)++;
  }
  const char *sh = jstr(s, "secret_key_sha256");
  if (json_object_get(s, "secret_key_sha256") && !is_hex64(sh)) {
    snprintf(p, sizeof p, "%.200s.secret_key_sha256", sp);
    add(ps, CLI_SEV_ERROR, p, "must be 64 hex digits");
  }
  const char *senv = jstr(s, "secret_key_env");
  if (senv && !sh && (!getenv(senv) || !*getenv(senv))) {
    snprintf(p, sizeof p, "%.200s.secret_key_env", sp);
    add(ps, CLI_SEV_ERROR, p, "environment variable %.64s is not set", senv);
  }
}

static void check_tenant(problems *ps, size_t ti, const json_t *t,
                         const json_t *tenants, token_seen *seen,
                         size_t *n_seen) {
  char tp[64], p[256];
  snprintf(tp, sizeof tp, "$.tenants[%zu]", ti);
  if (!json_is_object(t)) {
    add(ps, CLI_SEV_ERROR, tp, "a tenant must be an object");
    return;
  }
  const char *id = jstr(t, "id");
  snprintf(p, sizeof p, "%s.id", tp);
  if (!id || !*id || strlen(id) > 63 || strchr(id, ':'))
    add(ps, CLI_SEV_ERROR, p,
        "tenant id must be a non-empty string of at most 63 characters "
        "without ':'");
  for (size_t j = 0; id && j < ti; j++) {
    const char *other = jstr(json_array_get(tenants, j), "id");
    if (other && !strcmp(other, id))
      add(ps, CLI_SEV_ERROR, p,
          "duplicate tenant id \"%.64s\" (also $.tenants[%zu])", id, j);
  }
  const json_t *srcs = json_object_get(t, "sources");
  snprintf(p, sizeof p, "%s.sources", tp);
  if (!json_is_array(srcs)) {
    add(ps, CLI_SEV_ERROR, p, "must be an array of sources");
  } else {
    if (!json_array_size(srcs))
      add(ps, CLI_SEV_WARN, p, "no sources: nothing can post for this tenant");
    size_t i;
    const json_t *s;
    json_array_foreach(srcs, i, s) {
      char sp[128];
      snprintf(sp, sizeof sp, "%s.sources[%zu]", tp, i);
      check_source(ps, sp, s, seen, n_seen);
      const char *sid = jstr(s, "id");
      for (size_t k = 0; sid && k < i; k++) {
        const char *o = jstr(json_array_get(srcs, k), "id");
        if (o && !strcmp(o, sid)) {
          snprintf(p, sizeof p, "%s.id", sp);
          add(ps, CLI_SEV_ERROR, p, "duplicate source id \"%.64s\" in tenant",
              sid);
        }
      }
    }
  }
  check_smartlead(ps, tp, json_object_get(t, "smartlead"), id ? id : "?");
  const json_t *hs = json_object_get(t, "hubspot");
  if (!json_is_object(hs)) {
    snprintf(p, sizeof p, "%s.hubspot", tp);
    add(ps, CLI_SEV_ERROR, p, "missing: the worker needs HubSpot settings");
  } else {
    check_token(ps, tp, hs, id ? id : "?");
    const char *base = jstr(hs, "base_url");
    if (base && strncmp(base, "https://", 8) && strncmp(base, "http://", 7)) {
      snprintf(p, sizeof p, "%s.hubspot.base_url", tp);
      add(ps, CLI_SEV_ERROR, p, "must be an http(s) URL");
    }
    const char *tier = jstr(hs, "tier");
    if (tier && strcmp(tier, "free") && strcmp(tier, "starter") &&
        strcmp(tier, "professional") && strcmp(tier, "enterprise") &&
        strcmp(tier, "increase")) {
      snprintf(p, sizeof p, "%s.hubspot.tier", tp);
      add(ps, CLI_SEV_WARN, p,
          "unknown tier \"%.32s\" (free, starter, professional, enterprise, "
          "increase): professional limits apply",
          tier);
    }
    const json_t *r10 = json_object_get(hs, "requests_per_10s");
    if (r10 && (!json_is_integer(r10) || json_integer_value(r10) < 1)) {
      snprintf(p, sizeof p, "%s.hubspot.requests_per_10s", tp);
      add(ps, CLI_SEV_ERROR, p, "must be an integer of at least 1");
    }
  }
  const json_t *cats =
      json_object_get(json_object_get(t, "filter"), "categories");
  if (cats) {
    snprintf(p, sizeof p, "%s.filter.categories", tp);
    if (!json_is_array(cats))
      add(ps, CLI_SEV_ERROR, p, "must be an array of category names or ids");
    else if (!json_array_size(cats))
      add(ps, CLI_SEV_WARN, p,
          "empty: no category is allowed, so every event is held");
    size_t i;
    const json_t *c;
    json_array_foreach(cats, i, c) {
      char idb[128];
      ls_json_id(c, idb, sizeof idb);
      if (!idb[0]) {
        snprintf(p, sizeof p, "%s.filter.categories[%zu]", tp, i);
        add(ps, CLI_SEV_ERROR, p, "must be a category name or a category id");
      }
    }
  }
  const char *mode = jstr(t, "contact_mode");
  if (json_object_get(t, "contact_mode") &&
      (!mode || (strcmp(mode, "upsert") && strcmp(mode, "update_only")))) {
    snprintf(p, sizeof p, "%s.contact_mode", tp);
    add(ps, CLI_SEV_ERROR, p, "must be \"upsert\" or \"update_only\"");
  }
  const json_t *sync = json_object_get(t, "sync");
  if (sync) {
    snprintf(p, sizeof p, "%s.sync", tp);
    walk_types(ps, p, sync, false);
  }
}

static void check_root(problems *ps, const json_t *root) {
  if (!json_is_object(root)) {
    add(ps, CLI_SEV_ERROR, "$", "the config must be a JSON object");
    return;
  }
  const json_t *kafka = json_object_get(root, "kafka");
  if (!json_is_object(kafka)) {
    add(ps, CLI_SEV_WARN, "$.kafka",
        "missing: brokers default to 127.0.0.1:9092 unless "
        "KAFKA_BOOTSTRAP_SERVERS is set");
  } else {
    const json_t *parts = json_object_get(kafka, "partitions");
    if (parts && (!json_is_integer(parts) || json_integer_value(parts) < 1))
      add(ps, CLI_SEV_ERROR, "$.kafka.partitions",
          "must be an integer of at least 1");
    const json_t *props = json_object_get(kafka, "properties");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)props, k, v) {
      if (!json_is_string(v) && !json_is_integer(v) && !json_is_boolean(v)) {
        char p[256];
        snprintf(p, sizeof p, "$.kafka.properties.%.200s", k);
        add(ps, CLI_SEV_ERROR, p,
            "librdkafka properties must be strings, integers or booleans");
      }
    }
  }
  const json_t *worker = json_object_get(root, "worker");
  if (worker)
    walk_types(ps, "$.worker", worker, false);
  const json_t *tenants = json_object_get(root, "tenants");
  if (!json_is_array(tenants)) {
    add(ps, CLI_SEV_ERROR, "$.tenants", "must be an array of tenants");
    return;
  }
  if (!json_array_size(tenants))
    add(ps, CLI_SEV_WARN, "$.tenants",
        "no tenants: the ingress answers 401 to every webhook");
  size_t n_src = 0, i;
  const json_t *t;
  json_array_foreach(tenants, i, t) n_src +=
      json_array_size(json_object_get(t, "sources"));
  token_seen *seen = calloc(n_src ? n_src : 1, sizeof *seen);
  if (!seen)
    return;
  size_t n_seen = 0;
  json_array_foreach(tenants, i, t)
      check_tenant(ps, i, t, tenants, seen, &n_seen);
  free(seen);
}

/* Fan-out endpoints (docs/fanout.md): the fan-out's own loader, which
 * resolves secrets and URLs from this environment; its message names the
 * JSON path and never a secret. */
static void check_endpoints(problems *ps, const ls_config *cfg) {
  char errstr[LS_ERRSTR_SIZE];
  ls_endpoint *v = NULL;
  size_t n = 0;
  if (ls_endpoints_load(cfg, &v, &n, errstr, sizeof errstr) != LS_OK) {
    char path[256] = "$";
    const char *sep = strstr(errstr, ": ");
    if (errstr[0] == '$' && sep && (size_t)(sep - errstr) < sizeof path) {
      snprintf(path, sizeof path, "%.*s", (int)(sep - errstr), errstr);
      add(ps, CLI_SEV_ERROR, path, "%s", sep + 2);
    } else {
      add(ps, CLI_SEV_ERROR, path, "%s", errstr);
    }
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (v[i].kind == LS_EP_WEBHOOK && !v[i].n_secrets)
      add(ps, CLI_SEV_WARN, "$.tenants[].endpoints[]",
          "endpoint \"%.64s\" has no secret: its requests are not signed",
          v[i].id);
  }
  ls_endpoints_free(v, n);
}

/* The loader's "<name>: <path>: <rule>" split into path and rule. */
static void add_loader_error(problems *ps, const char *name,
                             const char *errstr) {
  const char *rest = errstr;
  size_t nl = strlen(name);
  if (!strncmp(rest, name, nl) && !strncmp(rest + nl, ": ", 2))
    rest += nl + 2;
  char path[256] = "$";
  const char *sep = strstr(rest, ": ");
  if (rest[0] == '$' && sep && (size_t)(sep - rest) < sizeof path) {
    snprintf(path, sizeof path, "%.*s", (int)(sep - rest), rest);
    rest = sep + 2;
  }
  add(ps, CLI_SEV_ERROR, path, "%s", rest);
  snprintf(ps->loader_path, sizeof ps->loader_path, "%s", path);
}

static int cmp_problem(const void *a, const void *b) {
  const problem *x = a, *y = b;
  if (x->sev != y->sev)
    return (int)y->sev - (int)x->sev;
  return strcmp(x->path, y->path);
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

  problems ps;
  memset(&ps, 0, sizeof ps);
  json_error_t jerr;
  json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    FILE *f = fopen(file, "r");
    if (!f)
      return cli_fail(ctx, CLI_EXIT_USAGE, "%s: %s", file, strerror(errno));
    fclose(f);
    char where[64];
    snprintf(where, sizeof where, "$ (line %d, column %d)", jerr.line,
             jerr.column);
    add(&ps, CLI_SEV_ERROR, where, "%s", jerr.text);
  } else {
    char errstr[LS_ERRSTR_SIZE];
    ls_config *cfg = NULL;
    if (ls_config_load(file, &cfg, errstr, sizeof errstr) != LS_OK)
      add_loader_error(&ps, file, errstr);
    else
      check_endpoints(&ps, cfg);
    ls_config_free(cfg);
    check_root(&ps, root);
    json_decref(root);
  }
  if (ps.n)
    qsort(ps.v, ps.n, sizeof *ps.v, cmp_problem);
  size_t errors = 0, warnings = 0;
  for (size_t i = 0; i < ps.n; i++) {
    errors += ps.v[i].sev == CLI_SEV_ERROR;
    warnings += ps.v[i].sev == CLI_SEV_WARN;
  }
  if (ctx->json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < ps.n; i++)
      json_array_append_new(arr,
                            json_pack("{s:s,s:s,s:s}", "severity",
                                      cli_severity_name(ps.v[i].sev), "path",
                                      ps.v[i].path, "message", ps.v[i].msg));
    cli_print_json(json_pack("{s:s,s:b,s:i,s:i,s:o}", "file", file, "ok",
                             errors == 0, "errors", (int)errors, "warnings",
                             (int)warnings, "problems", arr));
  } else if (!ps.n) {
    printf("%s: ok\n", file);
  } else {
    printf("%s: %zu error(s), %zu warning(s)\n", file, errors, warnings);
    for (size_t i = 0; i < ps.n; i++)
      printf("  %-7s %s: %s\n", cli_severity_name(ps.v[i].sev), ps.v[i].path,
             ps.v[i].msg);
  }
  free(ps.v);
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
