/* emu_store.c: portals, tokens and the in-memory record store, plus the
 * state dump the test-only admin endpoint serves. Callers hold emu->mu. */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const emu_otype_names[EMU_NTYPES] = {"contacts", "emails", "notes",
                                                 "tasks"};
const char *const emu_otype_ids[EMU_NTYPES] = {"0-1", "0-49", "0-46", "0-27"};
const char *const emu_otype_upper[EMU_NTYPES] = {"CONTACT", "EMAIL", "NOTE",
                                                 "TASK"};

bool emu_otype_parse(const char *s, enum emu_otype *out) {
  for (int t = 0; t < EMU_NTYPES; t++) {
    if (strcmp(s, emu_otype_names[t]) == 0 ||
        strcmp(s, emu_otype_ids[t]) == 0) {
      *out = (enum emu_otype)t;
      return true;
    }
  }
  /* HubSpot also accepts the singular names. */
  static const char *const singular[EMU_NTYPES] = {"contact", "email", "note",
                                                   "task"};
  for (int t = 0; t < EMU_NTYPES; t++) {
    if (strcmp(s, singular[t]) == 0) {
      *out = (enum emu_otype)t;
      return true;
    }
  }
  return false;
}

/* Tier -> limits, from the usage-guidelines table (docs/hubspot-emulator.md).
 * "increase" is a Professional account with one API limit increase. */
static const struct {
  const char *tier;
  long per_10s, daily;
} tiers[] = {
    {"free", 100, 250000},         {"starter", 100, 250000},
    {"professional", 190, 625000}, {"enterprise", 190, 1000000},
    {"increase", 250, 1625000},
};

bool emu_tier_limits(const char *tier, long *per_10s, long *daily) {
  for (size_t i = 0; i < sizeof tiers / sizeof tiers[0]; i++) {
    if (strcmp(tier, tiers[i].tier) == 0) {
      *per_10s = tiers[i].per_10s;
      *daily = tiers[i].daily;
      return true;
    }
  }
  return false;
}

void emu_init(struct emu *e) {
  memset(e, 0, sizeof *e);
  pthread_mutex_init(&e->mu, NULL);
  e->search_lag_ms = EMU_DEFAULT_SEARCH_LAG_MS;
  e->by_route = json_object();
}

static void table_clear(struct emu_table *t) {
  for (size_t i = 0; i < t->n; i++) {
    json_decref(t->v[i]->props);
    json_decref(t->v[i]->idx_props);
    free(t->v[i]);
  }
  free(t->v);
  json_decref(t->by_id);
  json_decref(t->by_email);
  memset(t, 0, sizeof *t);
}

static void portal_free(struct emu_portal *p) {
  for (int t = 0; t < EMU_NTYPES; t++) {
    table_clear(&p->tables[t]);
    json_decref(p->props[t]);
    json_decref(p->groups[t]);
  }
  json_decref(p->secondary);
  free(p->assocs);
  emu_window_free(&p->search);
  free(p);
}

static void app_free(struct emu_app *a) {
  free(a->token);
  json_decref(a->scopes);
  emu_window_free(&a->win);
  free(a);
}

void emu_free(struct emu *e) {
  for (size_t i = 0; i < e->n_apps; i++)
    app_free(e->apps[i]);
  for (size_t i = 0; i < e->n_portals; i++)
    portal_free(e->portals[i]);
  free(e->apps);
  free(e->portals);
  json_decref(e->by_route);
  pthread_mutex_destroy(&e->mu);
}

struct emu_portal *emu_portal_find(struct emu *e, uint64_t portal_id) {
  for (size_t i = 0; i < e->n_portals; i++)
    if (e->portals[i]->portal_id == portal_id)
      return e->portals[i];
  return NULL;
}

void emu_portal_reset(struct emu_portal *p) {
  for (int t = 0; t < EMU_NTYPES; t++) {
    table_clear(&p->tables[t]);
    p->tables[t].by_id = json_object();
    p->tables[t].by_email = json_object();
    json_decref(p->props[t]);
    json_decref(p->groups[t]);
    p->props[t] = json_object();
    p->groups[t] = json_object();
  }
  p->n_assocs = 0;
  p->next_id = 1001;
  p->daily_used = 0;
  p->day = emu_portal_day(p, emu_wall_ms());
  json_decref(p->secondary);
  p->secondary = NULL;
  memset(&p->faults, 0, sizeof p->faults);
  emu_window_clear(&p->search);
  p->requests_total = p->rate_limited_429 = p->into_exhausted = 0;
  emu_props_defaults(p);
}

struct emu_portal *emu_portal_add(struct emu *e, uint64_t portal_id,
                                  const char *tier, char *errstr, size_t n) {
  long per_10s, daily;
  if (!emu_tier_limits(tier, &per_10s, &daily)) {
    snprintf(errstr, n,
             "unknown tier \"%s\" (free|starter|professional|enterprise|"
             "increase)",
             tier);
    return NULL;
  }
  struct emu_portal *p = calloc(1, sizeof *p);
  struct emu_portal **grown =
      realloc(e->portals, (e->n_portals + 1) * sizeof *grown);
  if (!p || !grown || emu_window_init(&p->search, EMU_SEARCH_PER_SEC, 1000)) {
    free(p);
    if (grown)
      e->portals = grown;
    snprintf(errstr, n, "out of memory");
    return NULL;
  }
  e->portals = grown;
  p->portal_id = portal_id;
  snprintf(p->tier, sizeof p->tier, "%s", tier);
  p->daily_limit = daily;
  emu_portal_reset(p);
  e->portals[e->n_portals++] = p;
  return p;
}

struct emu_app *emu_app_find(struct emu *e, const char *token) {
  for (size_t i = 0; i < e->n_apps; i++)
    if (strcmp(e->apps[i]->token, token) == 0)
      return e->apps[i];
  return NULL;
}

struct emu_app *emu_app_add(struct emu *e, const char *token,
                            struct emu_portal *p, long per_10s) {
  struct emu_app *a = calloc(1, sizeof *a);
  struct emu_app **grown = realloc(e->apps, (e->n_apps + 1) * sizeof *grown);
  if (grown)
    e->apps = grown;
  if (!a || !grown || !(a->token = emu_strdup(token)) ||
      emu_window_init(&a->win, (size_t)per_10s, EMU_WINDOW_MS)) {
    if (a)
      free(a->token);
    free(a);
    return NULL;
  }
  a->portal = p;
  a->per_10s = per_10s;
  e->apps[e->n_apps++] = a;
  return a;
}

void emu_reset(struct emu *e) {
  for (size_t i = 0; i < e->n_portals; i++)
    emu_portal_reset(e->portals[i]);
  for (size_t i = 0; i < e->n_apps; i++) {
    emu_window_clear(&e->apps[i]->win);
    e->apps[i]->revoked = false;
  }
  e->requests_total = e->rate_limited_429 = e->into_exhausted = 0;
  e->dropped = e->faults_injected = 0;
  json_object_clear(e->by_route);
}

struct emu_obj *emu_obj_get(struct emu_portal *p, enum emu_otype t,
                            const char *id) {
  struct emu_table *tab = &p->tables[t];
  json_t *ix = json_object_get(tab->by_id, id);
  return ix ? tab->v[json_integer_value(ix)] : NULL;
}

struct emu_obj *emu_contact_by_email(struct emu_portal *p, const char *email) {
  struct emu_table *tab = &p->tables[EMU_CONTACTS];
  char *key = emu_lower(email);
  json_t *ix = key ? json_object_get(tab->by_email, key) : NULL;
  free(key);
  return ix ? tab->v[json_integer_value(ix)] : NULL;
}

struct emu_obj *emu_obj_new(struct emu_portal *p, enum emu_otype t,
                            int64_t lag_ms) {
  struct emu_table *tab = &p->tables[t];
  if (tab->n == tab->cap) {
    size_t cap = tab->cap ? tab->cap * 2 : 64;
    struct emu_obj **v = realloc(tab->v, cap * sizeof *v);
    if (!v)
      return NULL;
    tab->v = v;
    tab->cap = cap;
  }
  struct emu_obj *o = calloc(1, sizeof *o);
  if (!o || !(o->props = json_object())) {
    free(o);
    return NULL;
  }
  o->id = p->next_id++;
  o->created_ms = emu_wall_ms();
  char id[24];
  snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
  json_object_set_new(tab->by_id, id, json_integer((json_int_t)tab->n));
  tab->v[tab->n++] = o;
  (void)lag_ms;
  return o;
}

void emu_obj_reindex_due(struct emu_obj *o) {
  if (o->idx_due_ms && emu_mono_ms() >= o->idx_due_ms) {
    json_decref(o->idx_props);
    o->idx_props = json_deep_copy(o->props);
    o->idx_due_ms = 0;
  }
}

/* Stamp the system properties after a write and schedule the record for
 * the search index: with a lag, search keeps seeing the old version. */
void emu_obj_touch(struct emu_portal *p, enum emu_otype t, struct emu_obj *o,
                   int64_t lag_ms) {
  char iso[32], id[24];
  o->updated_ms = emu_wall_ms();
  if (o->updated_ms < o->created_ms)
    o->updated_ms = o->created_ms;
  snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
  json_object_set_new(o->props, "hs_object_id", json_string(id));
  bool contact = t == EMU_CONTACTS;
  emu_iso8601(o->created_ms, iso);
  json_object_set_new(o->props, contact ? "createdate" : "hs_createdate",
                      json_string(iso));
  emu_iso8601(o->updated_ms, iso);
  json_object_set_new(o->props,
                      contact ? "lastmodifieddate" : "hs_lastmodifieddate",
                      json_string(iso));
  (void)p;
  if (lag_ms <= 0) {
    json_decref(o->idx_props);
    o->idx_props = json_deep_copy(o->props);
    o->idx_due_ms = 0;
  } else if (!o->idx_due_ms) {
    o->idx_due_ms = emu_mono_ms() + lag_ms;
  }
}

void emu_email_index(struct emu_portal *p, struct emu_obj *o,
                     const char *old_email) {
  struct emu_table *tab = &p->tables[EMU_CONTACTS];
  char id[24];
  snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
  json_t *self = json_object_get(tab->by_id, id);
  if (old_email && *old_email) {
    char *k = emu_lower(old_email);
    json_t *ix = k ? json_object_get(tab->by_email, k) : NULL;
    if (ix && self && json_integer_value(ix) == json_integer_value(self))
      json_object_del(tab->by_email, k);
    free(k);
  }
  const char *email = json_string_value(json_object_get(o->props, "email"));
  if (email && *email && self) {
    char *k = emu_lower(email);
    if (k)
      json_object_set_new(tab->by_email, k,
                          json_integer(json_integer_value(self)));
    free(k);
  }
}

static json_t *obj_state(const struct emu_portal *p, const struct emu_obj *o) {
  char id[24], c[32], u[32];
  snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
  emu_iso8601(o->created_ms, c);
  emu_iso8601(o->updated_ms, u);
  return json_pack("{s:s, s:I, s:O, s:s, s:s, s:b}", "id", id, "portal_id",
                   (json_int_t)p->portal_id, "properties", o->props,
                   "createdAt", c, "updatedAt", u, "indexed",
                   o->idx_props != NULL && !o->idx_due_ms);
}

static json_t *portal_state(struct emu *e, struct emu_portal *p) {
  int64_t now = emu_mono_ms();
  json_t *apps = json_array();
  long window_used = 0, per_10s = 0;
  bool oauth = false;
  for (size_t i = 0; i < e->n_apps; i++) {
    struct emu_app *a = e->apps[i];
    if (a->portal != p)
      continue;
    long used = (long)emu_window_count(&a->win, now, EMU_WINDOW_MS);
    if (used >= window_used) {
      window_used = used;
      per_10s = a->per_10s;
    }
    if (!per_10s)
      per_10s = a->per_10s;
    oauth = oauth || a->oauth;
    char hint[16];
    snprintf(hint, sizeof hint, "%.8s...", a->token);
    json_array_append_new(
        apps, json_pack("{s:s, s:I, s:I, s:b, s:b, s:O?}", "token_hint", hint,
                        "requests_per_10s", (json_int_t)a->per_10s,
                        "window_used", (json_int_t)used, "oauth", a->oauth,
                        "revoked", a->revoked, "scopes", a->scopes));
  }
  emu_daily_roll(p);
  json_t *custom = json_object();
  for (int t = 0; t < EMU_NTYPES; t++) {
    json_t *names = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(p->props[t], k, v) {
      if (!json_is_true(json_object_get(v, "hubspotDefined")))
        json_array_append_new(names, json_string(k));
    }
    json_object_set_new(custom, emu_otype_names[t], names);
  }
  json_t *ps = json_pack(
      "{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:o, s:o, "
      "s:o}",
      "portal_id", (json_int_t)p->portal_id, "tier", p->tier,
      "requests_per_10s", (json_int_t)per_10s, "window_used",
      (json_int_t)window_used, "daily_limit", (json_int_t)p->daily_limit,
      "daily_used", (json_int_t)p->daily_used, "search_used_1s",
      (json_int_t)emu_window_count(&p->search, now, 1000), "requests_total",
      (json_int_t)p->requests_total, "rate_limited_429",
      (json_int_t)p->rate_limited_429, "requests_into_exhausted_window",
      (json_int_t)p->into_exhausted, "oauth", oauth, "apps", apps,
      "custom_properties", custom, "faults", emu_faults_json(&p->faults));
  json_object_set_new(ps, "time_zone",
                      json_string(p->time_zone[0] ? p->time_zone : "UTC"));
  json_object_set_new(ps, "utc_offset_ms", json_integer(p->utc_offset_ms));
  json_object_set_new(ps, "day", json_integer(p->day));
  return ps;
}

json_t *emu_state(struct emu *e, uint64_t only_portal) {
  json_t *st = json_object();
  json_t *lists[EMU_NTYPES];
  for (int t = 0; t < EMU_NTYPES; t++)
    lists[t] = json_array();
  json_t *assocs = json_array(), *portals = json_array();
  for (size_t i = 0; i < e->n_portals; i++) {
    struct emu_portal *p = e->portals[i];
    if (only_portal && p->portal_id != only_portal)
      continue;
    for (int t = 0; t < EMU_NTYPES; t++)
      for (size_t j = 0; j < p->tables[t].n; j++)
        json_array_append_new(lists[t], obj_state(p, p->tables[t].v[j]));
    for (size_t j = 0; j < p->n_assocs; j++) {
      const struct emu_assoc *a = &p->assocs[j];
      char f[24], to[24];
      snprintf(f, sizeof f, "%llu", (unsigned long long)a->from_id);
      snprintf(to, sizeof to, "%llu", (unsigned long long)a->to_id);
      json_array_append_new(
          assocs,
          json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s}", "portal_id",
                    (json_int_t)p->portal_id, "from_type",
                    emu_otype_names[a->from_type], "from_id", f, "to_type",
                    emu_otype_names[a->to_type], "to_id", to, "type_id",
                    a->type_id, "category", "HUBSPOT_DEFINED"));
    }
    json_array_append_new(portals, portal_state(e, p));
  }
  for (int t = 0; t < EMU_NTYPES; t++)
    json_object_set_new(st, emu_otype_names[t], lists[t]);
  json_object_set_new(st, "associations", assocs);
  json_object_set_new(
      st, "counters",
      json_pack("{s:I, s:O, s:I, s:I, s:I, s:I}", "requests_total",
                (json_int_t)e->requests_total, "by_route", e->by_route,
                "rate_limited_429", (json_int_t)e->rate_limited_429,
                "requests_into_exhausted_window", (json_int_t)e->into_exhausted,
                "dropped", (json_int_t)e->dropped, "faults_injected",
                (json_int_t)e->faults_injected));
  json_object_set_new(st, "portals", portals);
  json_object_set_new(st, "config",
                      json_pack("{s:i, s:b, s:i}", "search_lag_ms",
                                e->search_lag_ms, "retry_after", e->retry_after,
                                "latency_ms", e->base_latency_ms));
  return st;
}
