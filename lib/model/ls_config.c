/* ls_config: load, check and resolve the JSON config (DESIGN.md section 6). */
#include "ls_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_event.h"
#include "ls_hash.h"
#include "ls_schema.h"

const char *ls_level_name(ls_level l) {
  switch (l) {
  case LS_LEVEL_USER: return "user";
  case LS_LEVEL_CLIENT: return "client";
  default: return "campaign";
  }
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

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

static ls_err fail(char *errstr, size_t errlen, const char *name,
                   const char *path, const char *rule) {
  snprintf(errstr, errlen, "%s: %s: %s", name, path, rule);
  return LS_ERR_CONFIG;
}

static ls_err load_source(const json_t *js, ls_source *s, ls_tenant *t,
                          const char *name, const char *path, char *errstr,
                          size_t errlen) {
  char p[512];
  const char *id = jstr(js, "id");
  if (!id)
    return fail(errstr, errlen, name, path, "source needs a string \"id\"");
  s->id = strdup(id);
  s->tenant = t;
  const char *level = jstr(js, "level");
  if (!level || !strcmp(level, "user"))
    s->level = LS_LEVEL_USER;
  else if (!strcmp(level, "client"))
    s->level = LS_LEVEL_CLIENT;
  else if (!strcmp(level, "campaign"))
    s->level = LS_LEVEL_CAMPAIGN;
  else {
    snprintf(p, sizeof p, "%.300s.level", path);
    return fail(errstr, errlen, name, p,
                "must be one of \"user\", \"client\", \"campaign\"");
  }
  char scope[64];
  ls_json_id(json_object_get(js, "scope_id"), scope, sizeof scope);
  if (s->level != LS_LEVEL_USER && !scope[0]) {
    snprintf(p, sizeof p, "%.300s.scope_id", path);
    return fail(errstr, errlen, name, p,
                "client- and campaign-level sources need a scope_id");
  }
  s->scope_id = scope[0] ? strdup(scope) : NULL;
  const char *th = jstr(js, "token_sha256");
  if (!is_hex64(th)) {
    snprintf(p, sizeof p, "%.300s.token_sha256", path);
    return fail(errstr, errlen, name, p,
                "must be the SHA-256 of the URL token, 64 hex digits");
  }
  lower_copy(s->token_sha256, th, sizeof s->token_sha256);
  const char *sh = jstr(js, "secret_key_sha256");
  const char *senv = jstr(js, "secret_key_env");
  if (sh) {
    if (!is_hex64(sh)) {
      snprintf(p, sizeof p, "%.300s.secret_key_sha256", path);
      return fail(errstr, errlen, name, p, "must be 64 hex digits");
    }
    lower_copy(s->secret_sha256, sh, sizeof s->secret_sha256);
    s->has_secret = true;
  } else if (senv) {
    const char *v = getenv(senv);
    if (!v || !*v) {
      snprintf(p, sizeof p, "%.300s.secret_key_env", path);
      return fail(errstr, errlen, name, p,
                  "names an environment variable that is not set");
    }
    ls_sha256_hex(v, strlen(v), s->secret_sha256);
    s->has_secret = true;
  }
  const json_t *rl = json_object_get(js, "rate_limit");
  s->rate_per_s = json_number_value(json_object_get(rl, "per_second"));
  s->rate_burst = json_number_value(json_object_get(rl, "burst"));
  if (s->rate_per_s > 0 && s->rate_burst < 1)
    s->rate_burst = s->rate_per_s;
  return LS_OK;
}

static ls_err load_tenant(const json_t *jt, ls_tenant *t, const char *name,
                          const char *path, char *errstr, size_t errlen) {
  char p[512];
  const char *id = jstr(jt, "id");
  if (!id || !*id || strlen(id) > 63 || strchr(id, ':')) {
    snprintf(p, sizeof p, "%.300s.id", path);
    return fail(errstr, errlen, name, p,
                "tenant id must be a non-empty string of at most 63 "
                "characters without ':'");
  }
  t->id = strdup(id);
  t->json = jt;
  const json_t *srcs = json_object_get(jt, "sources");
  if (!json_is_array(srcs)) {
    snprintf(p, sizeof p, "%.300s.sources", path);
    return fail(errstr, errlen, name, p, "must be an array");
  }
  t->n_sources = json_array_size(srcs);
  t->sources = calloc(t->n_sources ? t->n_sources : 1, sizeof *t->sources);
  if (!t->sources)
    return LS_ERR_NOMEM;
  for (size_t i = 0; i < t->n_sources; i++) {
    snprintf(p, sizeof p, "%.300s.sources[%zu]", path, i);
    ls_err e = load_source(json_array_get(srcs, i), &t->sources[i], t, name,
                           p, errstr, errlen);
    if (e != LS_OK)
      return e;
  }
  const json_t *hs = json_object_get(jt, "hubspot");
  const char *benv = jstr(hs, "base_url_env");
  const char *base = benv && getenv(benv) && *getenv(benv) ? getenv(benv)
                                                           : jstr(hs, "base_url");
  t->hs_base_url = strdup(base ? base : "https://api.hubapi.com");
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
  if (t->hs_per_10s < 1) {
    snprintf(p, sizeof p, "%.300s.hubspot.requests_per_10s", path);
    return fail(errstr, errlen, name, p, "must be at least 1");
  }

  const json_t *filter = json_object_get(jt, "filter");
  const json_t *cats = json_object_get(filter, "categories");
  if (json_is_array(cats)) {
    t->has_filter = true;
    t->n_categories = json_array_size(cats);
    t->categories = calloc(t->n_categories ? t->n_categories : 1,
                           sizeof *t->categories);
    if (!t->categories)
      return LS_ERR_NOMEM;
    for (size_t i = 0; i < t->n_categories; i++) {
      char buf[128];
      ls_json_id(json_array_get(cats, i), buf, sizeof buf);
      if (!buf[0]) {
        snprintf(p, sizeof p, "%.300s.filter.categories[%zu]", path, i);
        return fail(errstr, errlen, name, p,
                    "must be a category name or a category id");
      }
      t->categories[i] = strdup(buf);
    }
  }
  const char *mode = jstr(jt, "contact_mode");
  if (mode && strcmp(mode, "upsert") && strcmp(mode, "update_only")) {
    snprintf(p, sizeof p, "%.300s.contact_mode", path);
    return fail(errstr, errlen, name, p,
                "must be \"upsert\" or \"update_only\"");
  }
  t->update_only = mode && !strcmp(mode, "update_only");
  const json_t *sync = json_object_get(jt, "sync");
  t->opens_as_notes = json_is_true(json_object_get(sync, "opens_as_notes"));
  t->clicks_as_notes = json_is_true(json_object_get(sync, "clicks_as_notes"));
  return LS_OK;
}

static ls_err semantic_checks(const ls_config *cfg, const char *name,
                              char *errstr, size_t errlen) {
  char p[512];
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    for (size_t j = i + 1; j < cfg->n_tenants; j++)
      if (!strcmp(cfg->tenants[i].id, cfg->tenants[j].id)) {
        snprintf(p, sizeof p, "$.tenants[%zu].id", j);
        return fail(errstr, errlen, name, p, "duplicate tenant id");
      }
    const ls_tenant *t = &cfg->tenants[i];
    for (size_t k = 0; k < t->n_sources; k++) {
      /* A token must open exactly one source, across all tenants. */
      for (size_t i2 = i; i2 < cfg->n_tenants; i2++) {
        const ls_tenant *t2 = &cfg->tenants[i2];
        for (size_t k2 = (i2 == i ? k + 1 : 0); k2 < t2->n_sources; k2++)
          if (!strcmp(t->sources[k].token_sha256, t2->sources[k2].token_sha256)) {
            snprintf(p, sizeof p, "$.tenants[%zu].sources[%zu].token_sha256",
                     i2, k2);
            return fail(errstr, errlen, name, p,
                        "duplicate token: every source needs its own URL "
                        "token");
          }
      }
    }
  }
  return LS_OK;
}

static ls_err load_root(json_t *root, const char *name, ls_config **out,
                        char *errstr, size_t errlen) {
  ls_err e = LS_OK;
  char p[128];
  ls_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg) {
    json_decref(root);
    return LS_ERR_NOMEM;
  }
  cfg->root = root;
  cfg->path = strdup(name);
  if (!json_is_object(root)) {
    e = fail(errstr, errlen, name, "$", "the config must be a JSON object");
    goto out;
  }
  e = ls_schema_validate_config(root, name, errstr, errlen);
  if (e != LS_OK)
    goto out;
  const json_t *kafka = json_object_get(root, "kafka");
  const char *env_bs = getenv("KAFKA_BOOTSTRAP_SERVERS");
  const char *bs = env_bs && *env_bs ? env_bs : jstr(kafka, "bootstrap_servers");
  cfg->bootstrap = strdup(bs ? bs : "127.0.0.1:9092");
  const char *prefix = jstr(kafka, "topic_prefix");
  cfg->topic_prefix = strdup(prefix ? prefix : "smartlead.");
  const json_t *parts = json_object_get(kafka, "partitions");
  cfg->partitions = json_is_integer(parts) ? (int)json_integer_value(parts) : 6;
  cfg->kafka_props = json_object_get(kafka, "properties");
  const json_t *tenants = json_object_get(root, "tenants");
  if (!json_is_array(tenants)) {
    e = fail(errstr, errlen, name, "$.tenants", "must be an array");
    goto out;
  }
  cfg->n_tenants = json_array_size(tenants);
  cfg->tenants = calloc(cfg->n_tenants ? cfg->n_tenants : 1,
                        sizeof *cfg->tenants);
  if (!cfg->tenants) {
    e = LS_ERR_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    snprintf(p, sizeof p, "$.tenants[%zu]", i);
    e = load_tenant(json_array_get(tenants, i), &cfg->tenants[i], name, p,
                    errstr, errlen);
    if (e != LS_OK)
      goto out;
  }
  e = semantic_checks(cfg, name, errstr, errlen);
out:
  if (e != LS_OK) {
    ls_config_free(cfg);
    cfg = NULL;
  }
  *out = cfg;
  return e;
}

ls_err ls_config_load_text(const char *text, const char *name, ls_config **out,
                           char *errstr, size_t errlen) {
  json_error_t jerr;
  *out = NULL;
  json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    snprintf(errstr, errlen, "%s: line %d column %d: %s", name, jerr.line,
             jerr.column, jerr.text);
    return LS_ERR_CONFIG;
  }
  return load_root(root, name, out, errstr, errlen);
}

ls_err ls_config_load(const char *path, ls_config **out, char *errstr,
                      size_t errlen) {
  json_error_t jerr;
  *out = NULL;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    snprintf(errstr, errlen, "%s: line %d column %d: %s", path, jerr.line,
             jerr.column, jerr.text);
    return LS_ERR_CONFIG;
  }
  return load_root(root, path, out, errstr, errlen);
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

long ls_config_int(const ls_config *cfg, const char *section, const char *key,
                   long dflt) {
  const json_t *v = json_object_get(json_object_get(cfg->root, section), key);
  return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

const char *ls_config_str(const ls_config *cfg, const char *section,
                          const char *key, const char *dflt) {
  const char *v = jstr(json_object_get(cfg->root, section), key);
  return v ? v : dflt;
}
