/* cli_webhooks: Smartlead's webhook priority rules (docs/cli.md).
 *
 * Smartlead fires one webhook per event type for a campaign: a user-level
 * webhook beats a client-level one, which beats a campaign-level one, and
 * within a level the most recently updated wins. We evaluate that for every
 * scope the definitions mention (each campaign, each client's remaining
 * campaigns, every other campaign) and turn the losers into findings. */
#include "cli_webhooks.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "ls_array.h"
#include "ls_buf.h"
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_time.h"

#define NO_DATE INT64_MIN

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static ls_err bad(char *errstr, size_t errlen, const char *name, size_t i,
                  const char *field, const char *rule) {
  snprintf(errstr, errlen, "%s: $[%zu]%s%s: %s", name, i, field[0] ? "." : "",
           field, rule);
  return LS_ERR_INVALID;
}

/* "user"|"client"|"campaign", or Gen-3's association_type 1|2|3. */
static bool parse_level(const json_t *o, ls_level *lvl) {
  const json_t *v = json_object_get(o, "level");
  if (!v)
    v = json_object_get(o, "association_type");
  if (!v)
    return false;
  const char *s = json_string_value(v);
  long n = json_is_integer(v) ? (long)json_integer_value(v) : 0;
  if ((s && !strcasecmp(s, "user")) || n == 1)
    *lvl = LS_LEVEL_USER;
  else if ((s && !strcasecmp(s, "client")) || n == 2)
    *lvl = LS_LEVEL_CLIENT;
  else if ((s && !strcasecmp(s, "campaign")) || n == 3)
    *lvl = LS_LEVEL_CAMPAIGN;
  else
    return false;
  return true;
}

static void hook_free(cli_webhook *h) {
  free(h->url);
  for (size_t i = 0; i < h->n_types; i++)
    free(h->types[i]);
  free(h->types);
}

static ls_err add_hook_type(cli_webhook *h, const char *name) {
  char *t = strdup(name);
  if (!t)
    return LS_ERR_NOMEM;
  for (char *p = t; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  for (size_t j = 0; j < h->n_types; j++)
    if (!strcmp(h->types[j], t)) {
      free(t);
      return LS_OK;
    }
  h->types[h->n_types++] = t;
  return LS_OK;
}

static ls_err parse_types(const json_t *o, cli_webhook *h) {
  const json_t *arr = json_object_get(o, "event_types");
  /* Gen-3 shape: {"EMAIL_REPLY": true, ...}. */
  const json_t *map = json_object_get(o, "event_type_map");
  size_t cap = json_is_array(arr)    ? json_array_size(arr)
               : json_is_object(map) ? json_object_size(map)
                                     : 0;
  if (!json_is_array(arr) && !json_is_object(map))
    return LS_ERR_INVALID;
  h->types = calloc(cap ? cap : 1, sizeof *h->types);
  if (!h->types)
    return LS_ERR_NOMEM;
  ls_err e = LS_OK;
  size_t i;
  const json_t *v;
  const char *k;
  if (json_is_array(arr)) {
    json_array_foreach(arr, i, v) {
      if (!json_is_string(v) || !json_string_length(v))
        return LS_ERR_INVALID;
      if ((e = add_hook_type(h, json_string_value(v))) != LS_OK)
        return e;
    }
    return LS_OK;
  }
  json_object_foreach((json_t *)map, k, v) {
    if (json_is_true(v) && (e = add_hook_type(h, k)) != LS_OK)
      return e;
  }
  return LS_OK;
}

ls_err cli_wh_parse(cli_wh_report *r, const json_t *doc, const char *name,
                    char *errstr, size_t errlen) {
  const json_t *arr = doc;
  if (json_is_object(doc)) {
    arr = json_object_get(doc, "webhooks");
    if (!arr)
      arr = json_object_get(doc, "data");
  }
  if (!json_is_array(arr)) {
    snprintf(errstr, errlen, "%s: $: expected an array of webhook definitions",
             name);
    return LS_ERR_INVALID;
  }
  size_t n = json_array_size(arr);
  if (!LS_ARRAY_GROW(r->hooks, r->cap_hooks, r->n_hooks + n + 1))
    return LS_ERR_NOMEM;
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(arr, i);
    cli_webhook h;
    memset(&h, 0, sizeof h);
    h.index = i;
    h.updated_us = NO_DATE;
    if (!json_is_object(o))
      return bad(errstr, errlen, name, i, "", "must be an object");
    ls_json_id(json_object_get(o, "id"), h.id, sizeof h.id);
    if (!h.id[0])
      return bad(errstr, errlen, name, i, "id", "needs a string or integer id");
    const char *nm = jstr(o, "name");
    snprintf(h.name, sizeof h.name, "%s", nm ? nm : "");
    if (!parse_level(o, &h.level))
      return bad(errstr, errlen, name, i, "level",
                 "must be \"user\", \"client\" or \"campaign\"");
    ls_json_id(json_object_get(o, "client_id"), h.client_id,
               sizeof h.client_id);
    ls_json_id(json_object_get(o, "campaign_id"), h.campaign_id,
               sizeof h.campaign_id);
    if (!h.campaign_id[0])
      ls_json_id(json_object_get(o, "email_campaign_id"), h.campaign_id,
                 sizeof h.campaign_id);
    if (h.level == LS_LEVEL_CLIENT && !h.client_id[0])
      return bad(errstr, errlen, name, i, "client_id",
                 "a client-level webhook needs its client_id");
    if (h.level == LS_LEVEL_CAMPAIGN && !h.campaign_id[0])
      return bad(errstr, errlen, name, i, "campaign_id",
                 "a campaign-level webhook needs its campaign_id");
    const char *url = jstr(o, "webhook_url");
    if (!url || !*url)
      return bad(errstr, errlen, name, i, "webhook_url",
                 "needs a non-empty string");
    const char *upd = jstr(o, "updated_at");
    if (!upd)
      upd = jstr(o, "created_at");
    int64_t us;
    if (upd && !ls_time_parse(upd, &us))
      return bad(errstr, errlen, name, i, "updated_at",
                 "must be an ISO-8601 date-time");
    if (upd)
      h.updated_us = us;
    h.url = strdup(url);
    if (!h.url)
      return LS_ERR_NOMEM;
    ls_err e = parse_types(o, &h);
    if (e == LS_ERR_INVALID) {
      hook_free(&h);
      return bad(errstr, errlen, name, i, "event_types",
                 "must be an array of event type names");
    }
    if (e != LS_OK) {
      hook_free(&h);
      return e;
    }
    cli_redact_url(h.url, h.shown, sizeof h.shown);
    /* Smartlead sends an event to two receivers at most: one Slack webhook
     * and one normal webhook (OutboundSync's Smartlead guide). */
    const char *wt = jstr(o, "webhook_type");
    h.slack = (wt && !strcasecmp(wt, "SLACK")) ||
              !strncasecmp(url, "https://hooks.slack.com/", 24);
    r->hooks[r->n_hooks++] = h;
  }
  return LS_OK;
}

static void classify(cli_wh_report *r, const ls_config *cfg) {
  for (size_t i = 0; i < r->n_hooks; i++) {
    cli_webhook *h = &r->hooks[i];
    char tok[512];
    h->kind = CLI_WH_OTHER;
    h->source[0] = '\0';
    if (!cli_url_token(h->url, tok, sizeof tok))
      continue;
    if (!cfg) {
      h->kind = CLI_WH_LEADSYNC_UNVERIFIED;
      continue;
    }
    char sha[65];
    ls_sha256_hex(tok, strlen(tok), sha);
    const ls_source *s = ls_config_find_source(cfg, sha);
    if (!s) {
      h->kind = CLI_WH_LEADSYNC_UNKNOWN;
      continue;
    }
    h->kind = CLI_WH_LEADSYNC;
    h->src = s;
    snprintf(h->source, sizeof h->source, "%s/%s", s->tenant->id, s->id);
  }
}

static bool is_leadsync(const cli_webhook *h) {
  return h->kind != CLI_WH_OTHER;
}

static bool has_type(const cli_webhook *h, const char *t) {
  for (size_t i = 0; i < h->n_types; i++)
    if (!strcmp(h->types[i], t))
      return true;
  return false;
}

static bool applies(const cli_webhook *h, const cli_wh_scope *s) {
  switch (h->level) {
  case LS_LEVEL_USER:
    return true;
  case LS_LEVEL_CLIENT:
    return s->client_id[0] && !strcmp(h->client_id, s->client_id);
  default:
    return s->campaign_id[0] && !strcmp(h->campaign_id, s->campaign_id);
  }
}

/* The numeric id when both are numbers (created later = larger), else the
 * later position in the input: a stable, documented tie-break. */
static bool later_id(const cli_webhook *a, const cli_webhook *b) {
  char *ea, *eb;
  long long x = strtoll(a->id, &ea, 10), y = strtoll(b->id, &eb, 10);
  if (!*ea && !*eb && x != y)
    return x > y;
  return a->index > b->index;
}

/* true when a beats b under Smartlead's rules. */
static bool beats(const cli_webhook *a, const cli_webhook *b) {
  if (a->level != b->level)
    return a->level < b->level; /* LS_LEVEL_USER is 0 */
  if (a->updated_us != b->updated_us)
    return a->updated_us > b->updated_us;
  return later_id(a, b);
}

static bool same_url(const cli_webhook *a, const cli_webhook *b) {
  return !strcmp(a->url, b->url);
}

static int type_rank(const char *t) {
  ls_event_type e = ls_event_type_from_name(t);
  return e == LS_EV_UNKNOWN ? LS_EV__COUNT : (int)e;
}

static int cmp_types(const void *a, const void *b) {
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  int rx = type_rank(x), ry = type_rank(y);
  return rx != ry ? rx - ry : strcmp(x, y);
}

static int cmp_ids(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la != lb)
    return la < lb ? -1 : 1; /* numeric order for decimal ids */
  return strcmp(a, b);
}

/* Campaigns first (by client, then id), then clients, then "all other". */
static int cmp_scopes(const void *a, const void *b) {
  const cli_wh_scope *x = a, *y = b;
  int kx = x->campaign_id[0] ? 0 : x->client_id[0] ? 1 : 2;
  int ky = y->campaign_id[0] ? 0 : y->client_id[0] ? 1 : 2;
  if (kx != ky)
    return kx - ky;
  int c = cmp_ids(x->client_id, y->client_id);
  return c ? c : cmp_ids(x->campaign_id, y->campaign_id);
}

static ls_err add_type(cli_wh_report *r, const char *t) {
  for (size_t i = 0; i < r->n_types; i++)
    if (!strcmp(r->types[i], t))
      return LS_OK;
  if (!LS_ARRAY_GROW(r->types, r->cap_types, r->n_types + 1))
    return LS_ERR_NOMEM;
  if (!(r->types[r->n_types] = strdup(t)))
    return LS_ERR_NOMEM;
  r->n_types++;
  return LS_OK;
}

static ls_err add_scope(cli_wh_report *r, const char *campaign,
                        const char *client) {
  for (size_t i = 0; i < r->n_scopes; i++) {
    cli_wh_scope *s = &r->scopes[i];
    if (!strcmp(s->campaign_id, campaign) &&
        (campaign[0] || !strcmp(s->client_id, client))) {
      /* A campaign seen first without its client learns it later. */
      if (!s->client_id[0] && client[0])
        snprintf(s->client_id, sizeof s->client_id, "%s", client);
      return LS_OK;
    }
  }
  if (!LS_ARRAY_GROW(r->scopes, r->cap_scopes, r->n_scopes + 1))
    return LS_ERR_NOMEM;
  cli_wh_scope *s = &r->scopes[r->n_scopes++];
  snprintf(s->campaign_id, sizeof s->campaign_id, "%s", campaign);
  snprintf(s->client_id, sizeof s->client_id, "%s", client);
  return LS_OK;
}

void cli_wh_level_id(const cli_webhook *h, char *out, size_t len) {
  if (h->level == LS_LEVEL_CLIENT)
    snprintf(out, len, " %s", h->client_id);
  else if (h->level == LS_LEVEL_CAMPAIGN)
    snprintf(out, len, " %s", h->campaign_id);
  else if (len)
    out[0] = '\0';
}

static void describe(const cli_webhook *h, char *out, size_t len) {
  char scope[80];
  cli_wh_level_id(h, scope, sizeof scope);
  char ls[200] = "";
  if (h->kind == CLI_WH_LEADSYNC)
    snprintf(ls, sizeof ls, ", leadsync source %s", h->source);
  else if (h->kind != CLI_WH_OTHER)
    snprintf(ls, sizeof ls, ", a leadsync URL");
  snprintf(out, len, "#%s \"%s\" (%s-level%s%s)", h->id, h->name,
           ls_level_name(h->level), scope, ls);
}

static ls_err add_finding(cli_wh_report *r, cli_severity sev, const char *code,
                          const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ls_err add_finding(cli_wh_report *r, cli_severity sev, const char *code,
                          const char *fmt, ...) {
  if (!LS_ARRAY_GROW(r->findings, r->cap_findings, r->n_findings + 1))
    return LS_ERR_NOMEM;
  cli_wh_finding *f = &r->findings[r->n_findings++];
  f->sev = sev;
  snprintf(f->code, sizeof f->code, "%s", code);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->msg, sizeof f->msg, fmt, ap);
  va_end(ap);
  return LS_OK;
}

/* One (winner, loser) pair with the event types where the loser loses. */
typedef struct {
  size_t w, s;
  ls_buf types;
} pair;

static ls_err note_pair(pair **pairs, size_t *n, size_t *cap, size_t w,
                        size_t s, const char *type) {
  pair *p = NULL;
  for (size_t i = 0; i < *n && !p; i++)
    if ((*pairs)[i].w == w && (*pairs)[i].s == s)
      p = &(*pairs)[i];
  if (!p) {
    if (!LS_ARRAY_GROW(*pairs, *cap, *n + 1))
      return LS_ERR_NOMEM;
    p = &(*pairs)[(*n)++];
    p->w = w;
    p->s = s;
    ls_buf_init(&p->types, 64 * 1024);
  }
  /* Types arrive in order, so a repeat is always the last one added. */
  size_t tl = strlen(type);
  if (p->types.len >= tl && !strcmp(p->types.data + p->types.len - tl, type))
    return LS_OK;
  ls_err e = LS_OK;
  if (p->types.len)
    ls_buf_putz(&p->types, &e, ", ");
  ls_buf_putz(&p->types, &e, type);
  return e;
}

static ls_err pair_finding(cli_wh_report *r, const pair *p) {
  const cli_webhook *w = &r->hooks[p->w], *s = &r->hooks[p->s];
  char dw[400], ds[400];
  describe(w, dw, sizeof dw);
  describe(s, ds, sizeof ds);
  const char *types = p->types.data ? p->types.data : "";
  if (same_url(w, s))
    return add_finding(r, CLI_SEV_INFO, "redundant",
                       "%s is shadowed by %s for %s, which posts to the same "
                       "URL: redundant, no events lost",
                       ds, dw, types);
  if (w->level == s->level && w->updated_us == s->updated_us) {
    bool ls = is_leadsync(w) || is_leadsync(s);
    return add_finding(
        r, ls ? CLI_SEV_ERROR : CLI_SEV_WARN, ls ? "leadsync_tie" : "tie",
        "%s and %s are at the same level with the same updated_at, for %s: "
        "Smartlead does not say which one fires (this check assumes the "
        "newer id, #%s)%s",
        dw, ds, types, w->id,
        ls ? "; leadsync may not receive these events: update one of them "
             "or delete the other"
           : "");
  }
  if (w->level == LS_LEVEL_USER && s->level != LS_LEVEL_USER)
    return add_finding(
        r, CLI_SEV_ERROR,
        s->level == LS_LEVEL_CLIENT ? "user_blocks_client"
                                    : "user_blocks_campaign",
        "user-level webhook %s blocks %s-level webhook %s for %s: Smartlead "
        "sends these events only to the user-level webhook%s. Remove the "
        "user-level webhook or these event types from it",
        dw, ls_level_name(s->level), ds, types,
        is_leadsync(s) ? ", so leadsync never receives them" : "");
  if (is_leadsync(s))
    return add_finding(r, CLI_SEV_ERROR, "leadsync_shadowed",
                       "leadsync webhook %s is shadowed by %s for %s: "
                       "leadsync never receives these events",
                       ds, dw, types);
  if (w->level == s->level)
    return add_finding(r, CLI_SEV_WARN, "older_never_fires",
                       "%s never fires for %s: the more recently updated %s "
                       "wins",
                       ds, types, dw);
  return add_finding(r, CLI_SEV_WARN, "shadowed",
                     "%s never fires for %s: %s takes precedence", ds, types,
                     dw);
}

static ls_err hook_findings(cli_wh_report *r) {
  char d[400];
  ls_err e = LS_OK;
  for (size_t i = 0; i < r->n_hooks && e == LS_OK; i++) {
    const cli_webhook *h = &r->hooks[i];
    describe(h, d, sizeof d);
    if (h->kind == CLI_WH_LEADSYNC_UNKNOWN)
      e = add_finding(r, CLI_SEV_ERROR, "unknown_token",
                      "%s posts to a leadsync URL whose token matches no "
                      "source in the config: the ingress answers 401 and the "
                      "events are lost",
                      d);
    if (h->updated_us == NO_DATE && e == LS_OK)
      e = add_finding(r, CLI_SEV_WARN, "no_date",
                      "%s has no updated_at: treated as the oldest at its "
                      "level",
                      d);
    if (h->kind == CLI_WH_LEADSYNC && e == LS_OK) {
      const ls_source *s = h->src;
      const char *want = h->level == LS_LEVEL_CLIENT     ? h->client_id
                         : h->level == LS_LEVEL_CAMPAIGN ? h->campaign_id
                                                         : "";
      if (s->level != h->level || strcmp(s->scope_id ? s->scope_id : "", want))
        e = add_finding(r, CLI_SEV_WARN, "scope_mismatch",
                        "%s: the config declares source %s as %s-level%s%s; "
                        "the ingress flags its events with ls_scope_mismatch",
                        d, h->source, ls_level_name(s->level),
                        s->scope_id ? " " : "", s->scope_id ? s->scope_id : "");
    }
  }
  return e;
}

ls_err cli_wh_resolve(cli_wh_report *r, const ls_config *cfg) {
  ls_err e = LS_OK;
  classify(r, cfg);
  pair *pairs = NULL;
  size_t n_pairs = 0, cap_pairs = 0;
  for (size_t i = 0; i < r->n_hooks && e == LS_OK; i++) {
    const cli_webhook *h = &r->hooks[i];
    for (size_t k = 0; k < h->n_types && e == LS_OK; k++)
      e = add_type(r, h->types[k]);
    if (e == LS_OK && h->level == LS_LEVEL_CAMPAIGN)
      e = add_scope(r, h->campaign_id, h->client_id);
    if (e == LS_OK && h->client_id[0])
      e = add_scope(r, "", h->client_id);
  }
  if (e == LS_OK)
    e = add_scope(r, "", "");
  if (e != LS_OK)
    goto out;
  if (r->n_types)
    qsort(r->types, r->n_types, sizeof *r->types, cmp_types);
  qsort(r->scopes, r->n_scopes, sizeof *r->scopes, cmp_scopes);

  for (size_t t = 0; t < r->n_types && e == LS_OK; t++) {
    for (size_t sc = 0; sc < r->n_scopes && e == LS_OK; sc++) {
      /* Two receivers: normal webhooks compete with each other, Slack
       * webhooks with each other. */
      for (int rc = 0; rc < 2 && e == LS_OK; rc++) {
        size_t winner = (size_t)-1, n_cand = 0;
        for (size_t i = 0; i < r->n_hooks; i++) {
          const cli_webhook *h = &r->hooks[i];
          if (h->slack != (rc == 1) || !has_type(h, r->types[t]) ||
              !applies(h, &r->scopes[sc]))
            continue;
          n_cand++;
          if (winner == (size_t)-1 || beats(h, &r->hooks[winner]))
            winner = i;
        }
        if (!n_cand)
          continue;
        if (!LS_ARRAY_GROW(r->routes, r->cap_routes, r->n_routes + 1)) {
          e = LS_ERR_NOMEM;
          break;
        }
        cli_wh_route *rt = &r->routes[r->n_routes++];
        memset(rt, 0, sizeof *rt);
        rt->type = t;
        rt->scope = sc;
        rt->winner = winner;
        rt->shadowed = calloc(n_cand, sizeof *rt->shadowed);
        if (!rt->shadowed) {
          e = LS_ERR_NOMEM;
          break;
        }
        const cli_webhook *w = &r->hooks[winner];
        for (size_t i = 0; i < r->n_hooks && e == LS_OK; i++) {
          const cli_webhook *h = &r->hooks[i];
          if (i == winner || h->slack != (rc == 1) ||
              !has_type(h, r->types[t]) || !applies(h, &r->scopes[sc]))
            continue;
          rt->shadowed[rt->n_shadowed++] = i;
          if (h->level == w->level && h->updated_us == w->updated_us)
            rt->tie = true;
          e = note_pair(&pairs, &n_pairs, &cap_pairs, winner, i, r->types[t]);
        }
      }
    }
  }
  for (size_t i = 0; i < n_pairs && e == LS_OK; i++)
    e = pair_finding(r, &pairs[i]);
  if (e == LS_OK)
    e = hook_findings(r);
out:
  for (size_t i = 0; i < n_pairs; i++)
    ls_buf_free(&pairs[i].types);
  free(pairs);
  return e;
}

size_t cli_wh_count(const cli_wh_report *r, cli_severity sev) {
  size_t n = 0;
  for (size_t i = 0; i < r->n_findings; i++)
    n += r->findings[i].sev >= sev ? 1 : 0;
  return n;
}

void cli_wh_free(cli_wh_report *r) {
  for (size_t i = 0; i < r->n_hooks; i++)
    hook_free(&r->hooks[i]);
  free(r->hooks);
  for (size_t i = 0; i < r->n_types; i++)
    free(r->types[i]);
  free(r->types);
  free(r->scopes);
  for (size_t i = 0; i < r->n_routes; i++)
    free(r->routes[i].shadowed);
  free(r->routes);
  free(r->findings);
  memset(r, 0, sizeof *r);
}
