/* ls_config_rules: the typed ingress, worker and fanout sections, and every
 * semantic rule of the config the schema cannot express
 * (docs/configuration.md). */
#include "ls_config_rules.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_event.h"
#include "ls_env.h"

/* ---- typed sections ----------------------------------------------------- */

typedef enum { K_LONG, K_DOUBLE, K_BOOL, K_STR, K_OWN } field_kind;

typedef struct {
  const char *key;
  field_kind kind;
  size_t off;
  double dflt;       /* K_LONG, K_DOUBLE, K_BOOL */
  const char *sdflt; /* K_STR */
} field;

/* K_OWN: read by its own code below (objects, derived defaults). */
#define IN(name, kind, d)                                                      \
  { #name, kind, offsetof(ls_ingress_conf, name), d, NULL }
#define WK(name, kind, d)                                                      \
  { #name, kind, offsetof(ls_worker_conf, name), d, NULL }

static const field ingress_fields[] = {
    {"listen", K_STR, offsetof(ls_ingress_conf, listen), 0, "0.0.0.0:8080"},
    IN(max_body_bytes, K_LONG, -1),
    IN(kafka_timeout_ms, K_LONG, 10000),
    IN(max_connections, K_LONG, 4096),
    IN(connection_timeout_s, K_LONG, 10),
    IN(max_json_depth, K_LONG, 64),
    IN(drain_timeout_s, K_LONG, 20),
    IN(threads, K_LONG, 2),
    IN(retry_after_s, K_LONG, 5),
    IN(header_timeout_ms, K_LONG, 10000),
    IN(request_timeout_ms, K_LONG, 30000),
    IN(max_connections_per_ip, K_LONG, 256),
    IN(max_body_bytes_in_flight, K_LONG, 64L << 20),
    {NULL, K_LONG, 0, 0, NULL},
};

static const field worker_fields[] = {
    WK(batch_max, K_LONG, 100),
    WK(flush_max, K_OWN, 0),
    WK(batch_linger_ms, K_LONG, 200),
    WK(priority_linger_ms, K_LONG, 100),
    WK(max_in_flight, K_LONG, 8),
    WK(portal_share, K_OWN, 0),
    WK(groups, K_OWN, 0),
    WK(ratelimit_reserve, K_LONG, 0),
    WK(setup_on_start, K_BOOL, 1),
    WK(ratelimit_borrow, K_BOOL, 1),
    WK(max_retries, K_LONG, 8),
    WK(backoff_base_ms, K_LONG, 200),
    WK(backoff_max_ms, K_LONG, 30000),
    WK(http_timeout_ms, K_LONG, 30000),
    WK(max_response_bytes, K_LONG, 8L << 20),
    WK(search_settle_ms, K_LONG, 1500),
    WK(ratelimit_guard_ms, K_LONG, 500),
    WK(flush_timeout_ms, K_LONG, 30000),
    /* Deprecated: accepted so older configs load, warned about. */
    {"ledger_load_timeout_ms", K_OWN, 0, 0, NULL},
    WK(poison_attempts, K_LONG, 5),
    {"listen", K_STR, offsetof(ls_worker_conf, listen), 0, "127.0.0.1:9102"},
    WK(held_max_age_days, K_DOUBLE, 30),
    WK(held_max_age_s, K_OWN, 0),
    WK(held_expiry_interval_ms, K_LONG, 60000),
    WK(dlq_watch_interval_ms, K_LONG, 60000),
    {"dedup_window", K_OWN, offsetof(ls_worker_conf, dedup_window_s), 0, NULL},
    {NULL, K_LONG, 0, 0, NULL},
};

#define FO(name, kind, d)                                                      \
  { #name, kind, offsetof(ls_fanout_conf, name), d, NULL }

static const field fanout_fields[] = {
    {"listen", K_STR, offsetof(ls_fanout_conf, listen), 0, "127.0.0.1:9104"},
    FO(max_pending, K_LONG, 20000),
    FO(drain_ms, K_LONG, 10000),
    FO(order_window_ms, K_LONG, 250),
    FO(catchup_ms, K_LONG, 5000),
    FO(seen_max, K_LONG, 100000),
    {NULL, K_LONG, 0, 0, NULL},
};

static void read_fields(const field *f, const json_t *sec, void *out) {
  for (; f->key; f++) {
    const json_t *v = json_object_get(sec, f->key);
    char *p = (char *)out + f->off;
    switch (f->kind) {
    case K_LONG:
      *(long *)p =
          json_is_integer(v) ? (long)json_integer_value(v) : (long)f->dflt;
      break;
    case K_DOUBLE:
      *(double *)p = json_is_number(v) ? json_number_value(v) : f->dflt;
      break;
    case K_BOOL:
      *(bool *)p = json_is_boolean(v) ? json_is_true(v) : f->dflt != 0;
      break;
    case K_STR:
      *(const char **)p = json_is_string(v) ? json_string_value(v) : f->sdflt;
      break;
    case K_OWN:
      break;
    }
  }
}

const char *const *ls_config_section_keys(const char *section) {
  enum { MAX_KEYS = 64 };
  static const char *ingress_keys[MAX_KEYS], *worker_keys[MAX_KEYS],
      *fanout_keys[MAX_KEYS];
  const field *f = !strcmp(section, "ingress")  ? ingress_fields
                   : !strcmp(section, "worker") ? worker_fields
                   : !strcmp(section, "fanout") ? fanout_fields
                                                : NULL;
  const char **keys = f == ingress_fields  ? ingress_keys
                      : f == worker_fields ? worker_keys
                                           : fanout_keys;
  if (!f)
    return NULL;
  size_t n = 0;
  for (; f->key && n + 1 < MAX_KEYS; f++)
    keys[n++] = f->key;
  keys[n] = NULL;
  return keys;
}

/* An event type list, an array of names or "A,B", as "A,B"; NULL if it is
 * neither (the schema says so). */
static char *type_list(const json_t *v) {
  if (json_is_string(v))
    return strdup(json_string_value(v));
  if (!json_is_array(v))
    return NULL;
  size_t len = 1, i;
  const json_t *e;
  json_array_foreach(v, i, e) len += json_string_length(e) + 1;
  char *s = malloc(len);
  if (!s)
    return NULL;
  size_t at = 0;
  json_array_foreach(v, i, e) {
    if (!json_is_string(e))
      continue;
    if (at)
      s[at++] = ',';
    memcpy(s + at, json_string_value(e), json_string_length(e));
    at += json_string_length(e);
  }
  s[at] = '\0';
  return s;
}

/* worker.dedup_window: seconds, or "<n>" with s, m, h or d; 8 days when
 * absent or unreadable (the schema reports a bad value). */
static long dedup_window_s(const json_t *v) {
  const long dflt = 8L * 86400;
  if (json_is_integer(v))
    return json_integer_value(v) > 0 ? (long)json_integer_value(v) : dflt;
  const char *s = json_string_value(v);
  if (!s || !*s)
    return dflt;
  char *end;
  errno = 0;
  long n = strtol(s, &end, 10);
  long unit = !*end               ? 1
              : !strcmp(end, "s") ? 1
              : !strcmp(end, "m") ? 60
              : !strcmp(end, "h") ? 3600
              : !strcmp(end, "d") ? 86400
                                  : 0;
  if (errno || end == s || n <= 0 || !unit || n > 3650L * 86400 / unit)
    return dflt;
  return n * unit;
}

/* An object's members as an array in config order: take fills one slot
 * from a member and says whether it kept it; *n counts the kept ones.
 * NULL (and *n 0) when o is not a non-empty object or memory ran out. */
static void *object_array(const json_t *o, size_t elem,
                          bool (*take)(const char *k, const json_t *v,
                                       void *slot),
                          size_t *n) {
  *n = 0;
  char *arr = json_is_object(o) && json_object_size(o)
                  ? calloc(json_object_size(o), elem)
                  : NULL;
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)o, k, v) {
    if (arr && take(k, v, arr + *n * elem))
      ++*n;
  }
  return arr;
}

/* worker.portal_share's object form: a share per group name. */
static bool take_share(const char *k, const json_t *v, void *slot) {
  if (!json_is_number(v))
    return false;
  *(ls_group_share *)slot = (ls_group_share){k, json_number_value(v)};
  return true;
}

/* worker.groups: a group name and its event types. */
static bool take_group(const char *k, const json_t *v, void *slot) {
  char *ev = type_list(v);
  if (!ev)
    return false;
  *(ls_worker_group *)slot = (ls_worker_group){k, ev};
  return true;
}

void ls_config_parse_fanout(const json_t *root, ls_fanout_conf *fo) {
  read_fields(fanout_fields, json_object_get(root, "fanout"), fo);
}

void ls_config_parse_sections(const json_t *root, ls_ingress_conf *in,
                              ls_worker_conf *w) {
  const json_t *ing = json_object_get(root, "ingress");
  const json_t *wk = json_object_get(root, "worker");
  read_fields(ingress_fields, ing, in);
  read_fields(worker_fields, wk, w);
  const json_t *fm = json_object_get(wk, "flush_max");
  w->flush_max =
      json_is_integer(fm) ? (long)json_integer_value(fm) : 10L * w->batch_max;
  w->dedup_window_s = dedup_window_s(json_object_get(wk, "dedup_window"));
  const json_t *hs = json_object_get(wk, "held_max_age_s");
  w->held_max_age_s = json_is_integer(hs)
                          ? (long)json_integer_value(hs)
                          : (long)(w->held_max_age_days * 86400.0);
  const json_t *ps = json_object_get(wk, "portal_share");
  w->portal_share = json_is_number(ps) ? json_number_value(ps) : -1.0;
  w->shares = object_array(ps, sizeof *w->shares, take_share, &w->n_shares);
  w->groups = object_array(json_object_get(wk, "groups"), sizeof *w->groups,
                           take_group, &w->n_groups);
}

void ls_config_free_sections(ls_worker_conf *w) {
  for (size_t i = 0; i < w->n_groups; i++)
    free(w->groups[i].events);
  free(w->groups);
  free(w->shares);
  w->groups = NULL;
  w->shares = NULL;
  w->n_groups = w->n_shares = 0;
}

/* ---- helpers ------------------------------------------------------------ */

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

static bool env_set(const char *name) {
  return ls_env(name) != NULL;
}

/* A file with something other than white space in it. */
static bool file_has_text(const char *path, int *err) {
  FILE *f = fopen(path, "r");
  if (!f) {
    *err = errno;
    return false;
  }
  int ch;
  bool any = false;
  while (!any && (ch = fgetc(f)) != EOF)
    any = !isspace(ch);
  fclose(f);
  *err = 0;
  return any;
}

/* ---- event type names ---------------------------------------------------- */

/* "EMAIL_REPLY"-shaped: what an event type name looks like. */
static bool looks_like_type(const char *s) {
  if (strlen(s) < 4 || !isupper((unsigned char)s[0]))
    return false;
  for (; *s; s++)
    if (!isupper((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

static void check_type_name(ls_diags *d, const char *path, const char *name) {
  if (ls_event_type_from_name(name) != LS_EV_UNKNOWN)
    return;
  char known[400] = "";
  size_t len = 0;
  for (int t = 0; t < LS_EV_UNKNOWN && len < sizeof known; t++) {
    int w = snprintf(known + len, sizeof known - len, "%s%s", t ? ", " : "",
                     ls_event_type_name((ls_event_type)t));
    if (w < 0)
      break;
    len += (size_t)w;
  }
  ls_diags_add(d, LS_DIAG_FATAL, "unknown_event_type", path,
               "unknown event type \"%.64s\" (Smartlead's types: %s)", name,
               known);
}

/* A list of event types: an array of names or "A,B,C". */
static void check_type_list(ls_diags *d, const char *path, const json_t *v) {
  char p[256];
  if (json_is_array(v)) {
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e) {
      snprintf(p, sizeof p, "%.200s[%zu]", path, i);
      if (json_is_string(e))
        check_type_name(d, p, json_string_value(e));
    }
  } else if (json_is_string(v)) {
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", json_string_value(v));
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save))
      check_type_name(d, path, t);
  }
}

static bool is_event_list_key(const char *k) {
  size_t n = strlen(k);
  return !strcmp(k, "events") || !strcmp(k, "event_types") ||
         (n > 7 && !strcmp(k + n - 7, "_events"));
}

/* Per-tenant sync options (an open section other areas extend): keys
 * shaped like event types must be known ones, and so must the names in
 * lists under "events", "event_types" and "*_events". */
static void walk_sync(ls_diags *d, const char *path, const json_t *v) {
  char p[256];
  if (json_is_object(v)) {
    const char *k;
    const json_t *c;
    json_object_foreach((json_t *)v, k, c) {
      snprintf(p, sizeof p, "%.200s.%.50s", path, k);
      if (looks_like_type(k))
        check_type_name(d, p, k);
      if (is_event_list_key(k))
        check_type_list(d, p, c);
      else
        walk_sync(d, p, c);
    }
  } else if (json_is_array(v)) {
    size_t i;
    const json_t *c;
    json_array_foreach(v, i, c) {
      snprintf(p, sizeof p, "%.200s[%zu]", path, i);
      walk_sync(d, p, c);
    }
  }
}

/* ---- worker: groups and shares ----------------------------------------- */

/* Every group calls every tenant's portal, so the shares of the groups of
 * one portal are the shares of all groups: they must add up to at most 1
 * or together they send more than the portal allows (429s). */
static void check_worker(ls_diags *d, const json_t *wk,
                         const ls_worker_conf *w) {
  char p[256];
  if (json_object_get(wk, "ledger_load_timeout_ms"))
    ls_diags_add(d, LS_DIAG_WARNING, "deprecated_key",
                 "$.worker.ledger_load_timeout_ms",
                 "no longer used: the de-duplication state is restored per "
                 "partition on assignment; remove the key");
  const json_t *groups = json_object_get(wk, "groups");
  /* Each event type belongs to one group: two groups syncing one type
   * would both write every such event to HubSpot. */
  const char *owner[LS_EV__COUNT] = {0};
  const char *k;
  const json_t *v;
  json_object_foreach((json_t *)groups, k, v) {
    snprintf(p, sizeof p, "$.worker.groups.%.64s", k);
    check_type_list(d, p, v);
  }
  for (size_t g = 0; g < w->n_groups; g++) {
    char buf[1024], *save = NULL;
    snprintf(buf, sizeof buf, "%s", w->groups[g].events);
    for (char *t = strtok_r(buf, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save)) {
      ls_event_type ty = ls_event_type_from_name(t);
      if (ty == LS_EV_UNKNOWN)
        continue;
      if (owner[ty] && strcmp(owner[ty], w->groups[g].name)) {
        snprintf(p, sizeof p, "$.worker.groups.%.64s", w->groups[g].name);
        ls_diags_add(d, LS_DIAG_FATAL, "event_type_in_two_groups", p,
                     "%s is also in group \"%.64s\": each event type belongs "
                     "to one group, or both would sync it",
                     t, owner[ty]);
      }
      owner[ty] = w->groups[g].name;
    }
  }
  if (w->flush_max < w->batch_max)
    ls_diags_add(d, LS_DIAG_FATAL, "flush_max_below_batch_max",
                 "$.worker.flush_max",
                 "flush_max %ld is below batch_max %ld: a flush could not fill "
                 "one batch call",
                 w->flush_max, w->batch_max);
  if (w->backoff_max_ms < w->backoff_base_ms)
    ls_diags_add(d, LS_DIAG_FATAL, "backoff_max_below_base",
                 "$.worker.backoff_max_ms",
                 "backoff_max_ms %ld is below backoff_base_ms %ld",
                 w->backoff_max_ms, w->backoff_base_ms);

  /* The shares: explicit ones, and for declared groups without one the
   * worker's default (the group's fraction of the event types). */
  double sum = 0;
  size_t counted = 0;
  char terms[200] = "";
  size_t tl = 0;
  for (size_t i = 0; i < w->n_shares; i++) {
    bool declared = !w->n_groups;
    for (size_t g = 0; g < w->n_groups; g++)
      declared |= !strcmp(w->groups[g].name, w->shares[i].group);
    if (!declared) {
      snprintf(p, sizeof p, "$.worker.portal_share.%.64s", w->shares[i].group);
      ls_diags_add(d, LS_DIAG_WARNING, "portal_share_unknown_group", p,
                   "\"%.64s\" is not one of worker.groups: its share is "
                   "counted, but no declared group uses it",
                   w->shares[i].group);
    }
    sum += w->shares[i].share;
    counted++;
    int n = snprintf(terms + tl, sizeof terms - tl, "%s%.32s %g",
                     tl ? " + " : "", w->shares[i].group, w->shares[i].share);
    if (n > 0 && (size_t)n < sizeof terms - tl)
      tl += (size_t)n;
  }
  for (size_t g = 0; g < w->n_groups; g++) {
    bool explicit_share = w->portal_share >= 0;
    for (size_t i = 0; i < w->n_shares; i++)
      explicit_share |= !strcmp(w->shares[i].group, w->groups[g].name);
    double share = w->portal_share;
    if (!explicit_share) {
      size_t n = 0;
      char buf[1024], *save = NULL;
      snprintf(buf, sizeof buf, "%s", w->groups[g].events);
      for (char *t = strtok_r(buf, ", ", &save); t;
           t = strtok_r(NULL, ", ", &save))
        n++;
      share = (double)n / (double)LS_EV_UNKNOWN;
    } else if (w->portal_share < 0) {
      continue; /* counted above */
    }
    sum += share;
    counted++;
    int n = snprintf(terms + tl, sizeof terms - tl, "%s%.32s %.3g%s",
                     tl ? " + " : "", w->groups[g].name, share,
                     explicit_share ? "" : " (default)");
    if (n > 0 && (size_t)n < sizeof terms - tl)
      tl += (size_t)n;
  }
  if (counted > 1 && sum > 1.0 + 1e-9)
    ls_diags_add(d, LS_DIAG_FATAL, "portal_share_sum", "$.worker.portal_share",
                 "the groups' shares of each portal add up to %.3g (%s): "
                 "every group calls every tenant's portal, so together they "
                 "would send more than it allows; at most 1",
                 sum, terms);
}

/* ---- tenants ------------------------------------------------------------ */

typedef struct {
  const char *sha;
  char path[128];
} token_seen;

static void check_source(ls_diags *d, const char *sp, const json_t *s,
                         token_seen *seen, size_t *n_seen) {
  char p[256];
  if (!json_is_object(s))
    return;
  const char *th = jstr(s, "token_sha256");
  if (is_hex64(th)) {
    snprintf(p, sizeof p, "%.200s.token_sha256", sp);
    for (size_t i = 0; i < *n_seen; i++)
      if (!strcasecmp(seen[i].sha, th))
        ls_diags_add(d, LS_DIAG_FATAL, "duplicate_token", p,
                     "duplicate token: the same URL token opens %s; every "
                     "source needs its own",
                     seen[i].path);
    seen[*n_seen].sha = th;
    snprintf(seen[*n_seen].path, sizeof seen[*n_seen].path, "%.120s", sp);
    (*n_seen)++;
  }
  const char *senv = jstr(s, "secret_key_env");
  if (senv && !json_object_get(s, "secret_key_sha256") && !env_set(senv)) {
    snprintf(p, sizeof p, "%.200s.secret_key_env", sp);
    ls_diags_add(d, LS_DIAG_FATAL, "secret_key_env_unset", p,
                 "names an environment variable that is not set (%.64s): "
                 "the ingress could not check this source's secret_key",
                 senv);
  }
}

/* tenant.smartlead (docs/assurance.md): the API key must resolve where the
 * assurance role runs; a tenant without the section is not assured. */
static void check_smartlead(ls_diags *d, const char *tp, const json_t *sl,
                            const char *tenant) {
  char p[256];
  if (!json_is_object(sl) || json_is_false(json_object_get(
                                 json_object_get(sl, "assurance"), "enabled")))
    return;
  const char *kenv = jstr(sl, "api_key_env");
  const char *kfile = jstr(sl, "api_key_file");
  if (!kenv && !kfile) {
    snprintf(p, sizeof p, "%.200s.smartlead", tp);
    ls_diags_add(d, LS_DIAG_ERROR, "smartlead_key_missing", p,
                 "tenant \"%.64s\" has neither smartlead.api_key_env nor "
                 "smartlead.api_key_file: assurance cannot call the "
                 "Smartlead API",
                 tenant);
    return;
  }
  int err;
  if (env_set(kenv) || (kfile && file_has_text(kfile, &err)))
    return;
  snprintf(p, sizeof p, "%.200s.smartlead.%s", tp,
           kenv ? "api_key_env" : "api_key_file");
  ls_diags_add(d, LS_DIAG_WARNING, "smartlead_key_unresolved", p,
               "the Smartlead API key of tenant \"%.64s\" cannot be resolved "
               "(%s%.200s unset, missing or empty): assurance skips this "
               "tenant",
               tenant, kenv ? "environment variable " : "file ",
               kenv ? kenv : kfile);
}

static void check_hubspot(ls_diags *d, const char *tp, const json_t *hs,
                          const char *tenant) {
  char p[256];
  if (!json_is_object(hs)) {
    snprintf(p, sizeof p, "%.200s.hubspot", tp);
    ls_diags_add(d, LS_DIAG_ERROR, "hubspot_missing", p,
                 "missing: the worker needs HubSpot settings for tenant "
                 "\"%.64s\"",
                 tenant);
    return;
  }
  const char *tenv = jstr(hs, "token_env");
  const char *tfile = jstr(hs, "token_file");
  if (!tenv && !tfile) {
    snprintf(p, sizeof p, "%.200s.hubspot", tp);
    ls_diags_add(d, LS_DIAG_ERROR, "hubspot_token_missing", p,
                 "tenant \"%.64s\" has neither hubspot.token_env nor "
                 "hubspot.token_file: the worker cannot call HubSpot",
                 tenant);
    return;
  }
  if (env_set(tenv))
    return;
  char why_env[200] = "", why_file[300] = "";
  if (tenv)
    snprintf(why_env, sizeof why_env, "environment variable %.64s is not set%s",
             tenv, getenv(tenv) ? " (empty)" : "");
  if (tfile) {
    int err = 0;
    if (file_has_text(tfile, &err))
      return;
    if (err)
      snprintf(why_file, sizeof why_file, "token file %.200s: %s", tfile,
               strerror(err));
    else
      snprintf(why_file, sizeof why_file, "token file %.200s is empty", tfile);
  }
  snprintf(p, sizeof p, "%.200s.hubspot.%s", tp,
           tenv ? "token_env" : "token_file");
  ls_diags_add(d, LS_DIAG_ERROR, "hubspot_token_unresolved", p,
               "the HubSpot token of tenant \"%.64s\" cannot be resolved: "
               "%s%s%s",
               tenant, why_env, why_env[0] && why_file[0] ? "; " : "",
               why_file);
}

static void check_tenant(ls_diags *d, size_t ti, const json_t *t,
                         const json_t *tenants, token_seen *seen,
                         size_t *n_seen) {
  char tp[64], p[256];
  snprintf(tp, sizeof tp, "$.tenants[%zu]", ti);
  if (!json_is_object(t))
    return;
  const char *id = jstr(t, "id");
  for (size_t j = 0; id && j < ti; j++) {
    const char *other = jstr(json_array_get(tenants, j), "id");
    if (other && !strcmp(other, id)) {
      snprintf(p, sizeof p, "%s.id", tp);
      ls_diags_add(d, LS_DIAG_FATAL, "duplicate_tenant_id", p,
                   "duplicate tenant id \"%.64s\" (also $.tenants[%zu])", id,
                   j);
    }
  }
  const json_t *srcs = json_object_get(t, "sources");
  if (json_is_array(srcs)) {
    if (!json_array_size(srcs)) {
      snprintf(p, sizeof p, "%s.sources", tp);
      ls_diags_add(d, LS_DIAG_WARNING, "no_sources", p,
                   "no sources: nothing can post for this tenant");
    }
    size_t i;
    const json_t *s;
    json_array_foreach(srcs, i, s) {
      char sp[128];
      snprintf(sp, sizeof sp, "%s.sources[%zu]", tp, i);
      check_source(d, sp, s, seen, n_seen);
      const char *sid = jstr(s, "id");
      for (size_t k = 0; sid && k < i; k++) {
        const char *o = jstr(json_array_get(srcs, k), "id");
        if (o && !strcmp(o, sid)) {
          snprintf(p, sizeof p, "%s.id", sp);
          ls_diags_add(d, LS_DIAG_FATAL, "duplicate_source_id", p,
                       "duplicate source id \"%.64s\" in the tenant", sid);
        }
      }
    }
  }
  check_smartlead(d, tp, json_object_get(t, "smartlead"), id ? id : "?");
  check_hubspot(d, tp, json_object_get(t, "hubspot"), id ? id : "?");
  const json_t *cats =
      json_object_get(json_object_get(t, "filter"), "categories");
  if (json_is_array(cats) && !json_array_size(cats)) {
    snprintf(p, sizeof p, "%s.filter.categories", tp);
    ls_diags_add(d, LS_DIAG_WARNING, "no_categories", p,
                 "empty: no category is allowed, so every event is held");
  }
  const json_t *sync = json_object_get(t, "sync");
  if (sync) {
    snprintf(p, sizeof p, "%s.sync", tp);
    walk_sync(d, p, sync);
  }
}

void ls_config_rules(const json_t *root, const ls_ingress_conf *in,
                     const ls_worker_conf *w, ls_diags *d) {
  if (!json_is_object(root))
    return;
  if (!json_is_object(json_object_get(root, "kafka")))
    ls_diags_add(d, LS_DIAG_WARNING, "kafka_missing", "$.kafka",
                 "missing: brokers default to 127.0.0.1:9092 unless "
                 "KAFKA_BOOTSTRAP_SERVERS is set");
  const json_t *ing = json_object_get(root, "ingress");
  if (json_is_integer(json_object_get(ing, "max_body_bytes")) &&
      in->max_body_bytes_in_flight < in->max_body_bytes)
    ls_diags_add(d, LS_DIAG_FATAL, "body_budget_below_max_body",
                 "$.ingress.max_body_bytes_in_flight",
                 "%ld is below max_body_bytes %ld: one request could never "
                 "be read",
                 in->max_body_bytes_in_flight, in->max_body_bytes);
  /* A body plus the room for key and headers must fit the producer's
   * message.max.bytes, or Kafka would refuse every such webhook. Only the
   * ingress takes bodies: it refuses such a config at start (exit 2); the
   * other processes run with it (a worker may use a small message.max.bytes
   * on purpose, for its DLQ stubs). */
  const json_t *mmb = json_object_get(
      json_object_get(json_object_get(root, "kafka"), "properties"),
      "message.max.bytes");
  long msg_max = LS_MESSAGE_MAX_BYTES;
  if (json_is_integer(mmb))
    msg_max = (long)json_integer_value(mmb);
  else if (json_is_string(mmb))
    msg_max = strtol(json_string_value(mmb), NULL, 10);
  long body_cap = msg_max - LS_KAFKA_ROOM;
  if (in->max_body_bytes >= 0 && in->max_body_bytes > body_cap)
    ls_diags_add(d, LS_DIAG_ERROR, "max_body_over_message_max",
                 "$.ingress.max_body_bytes",
                 "max_body_bytes %ld does not fit kafka message.max.bytes %ld "
                 "minus %ld bytes kept for key and headers (at most %ld)",
                 in->max_body_bytes, msg_max, LS_KAFKA_ROOM, body_cap);
  else if (body_cap < 1)
    ls_diags_add(d, LS_DIAG_ERROR, "message_max_too_small",
                 "$.kafka.properties[\"message.max.bytes\"]",
                 "kafka message.max.bytes %ld leaves no room for a webhook "
                 "body after the %ld bytes kept for key and headers",
                 msg_max, LS_KAFKA_ROOM);
  check_worker(d, json_object_get(root, "worker"), w);
  const json_t *tenants = json_object_get(root, "tenants");
  if (!json_is_array(tenants))
    return;
  size_t n_src = 0, i;
  const json_t *t;
  json_array_foreach(tenants, i, t) n_src +=
      json_array_size(json_object_get(t, "sources"));
  token_seen *seen = calloc(n_src ? n_src : 1, sizeof *seen);
  if (!seen)
    return;
  size_t n_seen = 0;
  json_array_foreach(tenants, i, t)
      check_tenant(d, i, t, tenants, seen, &n_seen);
  free(seen);
}
