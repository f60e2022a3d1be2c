/* ls_config: load, check and resolve the JSON config
 * (docs/configuration.md). The schema and ls_config_rules say what is wrong;
 * this file only resolves a config they found no fatal problem in. */
#include "ls_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_config_rules.h"
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_log.h"
#include "ls_schema.h"
#include "ls_env.h"

const char *ls_level_name(ls_level l) {
  switch (l) {
  case LS_LEVEL_USER:
    return "user";
  case LS_LEVEL_CLIENT:
    return "client";
  default:
    return "campaign";
  }
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static void lower_copy(char *dst, const char *src, size_t n) {
  size_t i = 0;
  for (; src[i] && i < n - 1; i++)
    dst[i] = (char)tolower((unsigned char)src[i]);
  dst[i] = '\0';
}

/* Reads a token file, trimming the trailing newline a Secret mount leaves. */
static char *read_token_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f)
    return NULL;
  char buf[4096];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  return n ? strdup(buf) : NULL;
}

/* Resolution: the schema and the rules have passed, so every value has its
 * type and range; only memory can fail here. */
static ls_err load_source(const json_t *js, ls_source *s, ls_tenant *t) {
  s->id = strdup(jstr(js, "id"));
  s->tenant = t;
  const char *level = jstr(js, "level");
  s->level = !level || !strcmp(level, "user") ? LS_LEVEL_USER
             : !strcmp(level, "client")       ? LS_LEVEL_CLIENT
                                              : LS_LEVEL_CAMPAIGN;
  char scope[64];
  ls_json_id(json_object_get(js, "scope_id"), scope, sizeof scope);
  s->scope_id = scope[0] ? strdup(scope) : NULL;
  lower_copy(s->token_sha256, jstr(js, "token_sha256"), sizeof s->token_sha256);
  const char *sh = jstr(js, "secret_key_sha256");
  const char *senv = jstr(js, "secret_key_env");
  if (sh) {
    lower_copy(s->secret_sha256, sh, sizeof s->secret_sha256);
    s->has_secret = true;
  } else if (senv) {
    const char *v = getenv(senv); /* set: rule secret_key_env_unset */
    ls_sha256_hex(v, strlen(v), s->secret_sha256);
    s->has_secret = true;
  }
  const json_t *rl = json_object_get(js, "rate_limit");
  s->rate_per_s = json_number_value(json_object_get(rl, "per_second"));
  s->rate_burst = json_number_value(json_object_get(rl, "burst"));
  if (s->rate_per_s > 0 && s->rate_burst < 1)
    s->rate_burst = s->rate_per_s;
  return s->id && (!scope[0] || s->scope_id) ? LS_OK : LS_ERR_NOMEM;
}

static ls_err load_tenant(const json_t *jt, ls_tenant *t) {
  t->id = strdup(jstr(jt, "id"));
  t->json = jt;
  if (!t->id)
    return LS_ERR_NOMEM;
  const json_t *srcs = json_object_get(jt, "sources");
  t->n_sources = json_array_size(srcs);
  t->sources = calloc(t->n_sources ? t->n_sources : 1, sizeof *t->sources);
  if (!t->sources)
    return LS_ERR_NOMEM;
  for (size_t i = 0; i < t->n_sources; i++) {
    ls_err e = load_source(json_array_get(srcs, i), &t->sources[i], t);
    if (e != LS_OK)
      return e;
  }
  const json_t *hs = json_object_get(jt, "hubspot");
  const char *benv = jstr(hs, "base_url_env");
  const char *base = ls_env(benv);
  if (!base)
    base = jstr(hs, "base_url");
  t->hs_base_url = strdup(base ? base : "https://api.hubapi.com");
  if (!t->hs_base_url)
    return LS_ERR_NOMEM;
  size_t bl = strlen(t->hs_base_url);
  while (bl && t->hs_base_url[bl - 1] == '/')
    t->hs_base_url[--bl] = '\0';
  const char *tenv = jstr(hs, "token_env");
  const char *tfile = jstr(hs, "token_file");
  char ref[300] = "";
  if (tenv) {
    snprintf(ref, sizeof ref, "env:%s", tenv);
    t->hs_token = dup_or_null(getenv(tenv));
    if (t->hs_token && !*t->hs_token) {
      free(t->hs_token);
      t->hs_token = NULL;
    }
  }
  if (!t->hs_token && tfile) {
    snprintf(ref, sizeof ref, "file:%s", tfile);
    t->hs_token = read_token_file(tfile);
  }
  t->hs_token_ref = strdup(ref);
  const char *tier = jstr(hs, "tier");
  t->hs_tier = strdup(tier ? tier : "professional");
  if (!t->hs_token_ref || !t->hs_tier)
    return LS_ERR_NOMEM;
  int dflt10 = 190;
  long dflt_day = 625000;
  if (!strcmp(t->hs_tier, "free") || !strcmp(t->hs_tier, "starter")) {
    dflt10 = 100;
    dflt_day = 250000;
  } else if (!strcmp(t->hs_tier, "enterprise")) {
    dflt_day = 1000000;
  } else if (!strcmp(t->hs_tier, "increase")) {
    dflt10 = 250;
    dflt_day = 1000000;
  }
  const json_t *r10 = json_object_get(hs, "requests_per_10s");
  t->hs_per_10s = json_is_integer(r10) ? (int)json_integer_value(r10) : dflt10;
  const json_t *rd = json_object_get(hs, "daily_limit");
  t->hs_daily = json_is_integer(rd) ? (long)json_integer_value(rd) : dflt_day;

  const json_t *filter = json_object_get(jt, "filter");
  const json_t *cats = json_object_get(filter, "categories");
  if (json_is_array(cats)) {
    t->has_filter = true;
    t->n_categories = json_array_size(cats);
    t->categories =
        calloc(t->n_categories ? t->n_categories : 1, sizeof *t->categories);
    if (!t->categories)
      return LS_ERR_NOMEM;
    for (size_t i = 0; i < t->n_categories; i++) {
      char buf[128];
      ls_json_id(json_array_get(cats, i), buf, sizeof buf);
      if (!(t->categories[i] = strdup(buf)))
        return LS_ERR_NOMEM;
    }
  }
  const char *mode = jstr(jt, "contact_mode");
  t->update_only = mode && !strcmp(mode, "update_only");
  const json_t *sync = json_object_get(jt, "sync");
  t->opens_as_notes = json_is_true(json_object_get(sync, "opens_as_notes"));
  t->clicks_as_notes = json_is_true(json_object_get(sync, "clicks_as_notes"));
  return LS_OK;
}

/* Schema problems, every one, as diagnostics; the keyword is the rule
 * ("unknown_key" for additionalProperties: false). */
static void on_schema_problem(void *ud, const char *path, const char *keyword,
                              const char *message) {
  const char *rule =
      !strcmp(keyword, "additionalProperties") ? "unknown_key" : keyword;
  ls_diags_add(ud, LS_DIAG_FATAL, rule, path, "%s", message);
}

static void check_schema(const json_t *root, ls_diags *d) {
  char path[1024], msg[LS_ERRSTR_SIZE];
  snprintf(path, sizeof path, "%s/config.schema.json", ls_schema_dir());
  ls_schema *s = ls_schema_load(path, msg, sizeof msg);
  if (!s) {
    ls_diags_add(d, LS_DIAG_FATAL, "schema", "$",
                 "cannot load the config schema: %s", msg);
    return;
  }
  ls_schema_validate_each(s, root, on_schema_problem, d);
  ls_schema_free(s);
}

/* Takes root. */
static ls_err load_root(json_t *root, const char *name, ls_config **out,
                        ls_diags *d) {
  ls_err e = LS_OK;
  ls_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg) {
    json_decref(root);
    return LS_ERR_NOMEM;
  }
  cfg->root = root;
  cfg->path = strdup(name);
  size_t fatal_before = ls_diags_count(d, LS_DIAG_FATAL);
  size_t first_diag = d->n;
  if (!json_is_object(root)) {
    ls_diags_add(d, LS_DIAG_FATAL, "type", "$",
                 "the config must be a JSON object");
    e = LS_ERR_CONFIG;
    goto out;
  }
  check_schema(root, d);
  ls_config_parse_sections(root, &cfg->ingress, &cfg->worker);
  ls_config_parse_fanout(root, &cfg->fanout);
  ls_config_rules(root, &cfg->ingress, &cfg->worker, d);
  if (ls_diags_count(d, LS_DIAG_FATAL) > fatal_before) {
    e = LS_ERR_CONFIG;
    goto out;
  }
  const json_t *kafka = json_object_get(root, "kafka");
  const char *bs = ls_env("KAFKA_BOOTSTRAP_SERVERS");
  if (!bs)
    bs = jstr(kafka, "bootstrap_servers");
  cfg->bootstrap = strdup(bs ? bs : "127.0.0.1:9092");
  const char *prefix = jstr(kafka, "topic_prefix");
  cfg->topic_prefix = strdup(prefix ? prefix : "smartlead.");
  const json_t *parts = json_object_get(kafka, "partitions");
  cfg->partitions = json_is_integer(parts) ? (int)json_integer_value(parts) : 6;
  cfg->kafka_props = json_object_get(kafka, "properties");
  const json_t *tenants = json_object_get(root, "tenants");
  cfg->n_tenants = json_array_size(tenants);
  cfg->tenants =
      calloc(cfg->n_tenants ? cfg->n_tenants : 1, sizeof *cfg->tenants);
  if (!cfg->path || !cfg->bootstrap || !cfg->topic_prefix || !cfg->tenants) {
    e = LS_ERR_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < cfg->n_tenants && e == LS_OK; i++)
    e = load_tenant(json_array_get(tenants, i), &cfg->tenants[i]);
  for (size_t i = first_diag; e == LS_OK && i < d->n; i++)
    ls_diags_add(&cfg->problems, d->v[i].sev, d->v[i].rule, d->v[i].path, "%s",
                 d->v[i].msg);
out:
  if (e == LS_ERR_NOMEM)
    ls_diags_add(d, LS_DIAG_FATAL, "memory", "$", "out of memory");
  if (e != LS_OK) {
    ls_config_free(cfg);
    cfg = NULL;
  }
  *out = cfg;
  return e;
}

static ls_err load_json(json_t *root, const json_error_t *jerr,
                        const char *name, ls_config **out, ls_diags *d) {
  ls_diags scratch = {0};
  ls_diags *dd = d ? d : &scratch;
  *out = NULL;
  ls_err e;
  if (!root) {
    char where[64] = "$";
    if (jerr->line > 0)
      snprintf(where, sizeof where, "$ (line %d, column %d)", jerr->line,
               jerr->column);
    ls_diags_add(dd, LS_DIAG_FATAL, "json", where, "%s", jerr->text);
    e = LS_ERR_CONFIG;
  } else {
    e = load_root(root, name, out, dd);
  }
  ls_diags_free(&scratch);
  return e;
}

ls_err ls_config_load_text_diags(const char *text, const char *name,
                                 ls_config **out, ls_diags *d) {
  json_error_t jerr;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  return load_json(root, &jerr, name, out, d);
}

ls_err ls_config_load_diags(const char *path, ls_config **out, ls_diags *d) {
  json_error_t jerr;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  return load_json(root, &jerr, path, out, d);
}

/* "<name>: <path>: <message>" of the first fatal problem, and how many
 * more there are. */
static ls_err first_error(ls_err e, const ls_diags *d, const char *name,
                          char *errstr, size_t errlen) {
  const ls_diag *g = ls_diags_first(d, LS_DIAG_FATAL);
  size_t n = ls_diags_count(d, LS_DIAG_FATAL);
  if (e == LS_OK || !errlen)
    return e;
  if (!g) {
    snprintf(errstr, errlen, "%s: %s", name, ls_err_name(e));
    return e;
  }
  if (n > 1)
    snprintf(errstr, errlen,
             "%s: %s: %s (and %zu more problems: leadsync config check "
             "lists them all)",
             name, g->path, g->msg, n - 1);
  else
    snprintf(errstr, errlen, "%s: %s: %s", name, g->path, g->msg);
  return e;
}

ls_err ls_config_load_text(const char *text, const char *name, ls_config **out,
                           char *errstr, size_t errlen) {
  ls_diags d = {0};
  ls_err e = first_error(ls_config_load_text_diags(text, name, out, &d), &d,
                         name, errstr, errlen);
  ls_diags_free(&d);
  return e;
}

ls_err ls_config_load(const char *path, ls_config **out, char *errstr,
                      size_t errlen) {
  ls_diags d = {0};
  ls_err e = first_error(ls_config_load_diags(path, out, &d), &d, path, errstr,
                         errlen);
  ls_diags_free(&d);
  return e;
}

void ls_config_log_problems(const ls_config *cfg) {
  for (size_t i = 0; i < cfg->problems.n; i++) {
    const ls_diag *g = &cfg->problems.v[i];
    ls_warn("config problem", "{s:s,s:s,s:s,s:s}", "severity",
            ls_diag_sev_name(g->sev), "path", g->path, "rule", g->rule,
            "message", g->msg);
  }
}

const char *ls_config_group_events(const ls_config *cfg, const char *group) {
  for (size_t i = 0; group && i < cfg->worker.n_groups; i++)
    if (!strcmp(cfg->worker.groups[i].name, group))
      return cfg->worker.groups[i].events;
  return NULL;
}

void ls_config_free(ls_config *cfg) {
  if (!cfg)
    return;
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    ls_tenant *t = &cfg->tenants[i];
    for (size_t k = 0; k < t->n_sources; k++) {
      free(t->sources[k].id);
      free(t->sources[k].scope_id);
    }
    free(t->sources);
    for (size_t k = 0; k < t->n_categories; k++)
      free(t->categories[k]);
    free(t->categories);
    free(t->id);
    free(t->hs_base_url);
    free(t->hs_token);
    free(t->hs_token_ref);
    free(t->hs_tier);
  }
  free(cfg->tenants);
  ls_config_free_sections(&cfg->worker);
  ls_diags_free(&cfg->problems);
  free(cfg->bootstrap);
  free(cfg->topic_prefix);
  free(cfg->path);
  json_decref(cfg->root);
  free(cfg);
}

const ls_source *ls_config_find_source(const ls_config *cfg,
                                       const char *token_sha256) {
  const ls_source *found = NULL;
  /* Visit every source so the time taken does not depend on which matched. */
  for (size_t i = 0; i < cfg->n_tenants; i++)
    for (size_t k = 0; k < cfg->tenants[i].n_sources; k++) {
      const ls_source *s = &cfg->tenants[i].sources[k];
      if (ls_const_eq(s->token_sha256, token_sha256) && !found)
        found = s;
    }
  return found;
}

const ls_tenant *ls_config_tenant(const ls_config *cfg, const char *id) {
  for (size_t i = 0; i < cfg->n_tenants; i++)
    if (!strcmp(cfg->tenants[i].id, id))
      return &cfg->tenants[i];
  return NULL;
}
