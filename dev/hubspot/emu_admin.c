/* emu_admin.c: the test-only /_emulator endpoints (state, reset, faults,
 * portals, config) and the portal definition shared with --config.
 * No auth, never rate limited. Callers hold emu->mu. */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const fault_keys[] = {
    "latency_ms",      "jitter_ms",        "error_rate", "error_statuses",
    "force_429",       "revoke_tokens",    "drop_rate",  "drop_after_rate",
    "lock_423_rate",   "html_5xx",         "portal",     "clear",
    "upsert_conflict", "refuse_properties"};

static bool get_rate(json_t *in, const char *key, double *out, char *errstr,
                     size_t n) {
  json_t *v = json_object_get(in, key);
  if (!v)
    return true;
  if (!json_is_number(v) || json_number_value(v) < 0 ||
      json_number_value(v) > 1) {
    snprintf(errstr, n, "%s must be a number between 0 and 1", key);
    return false;
  }
  *out = json_number_value(v);
  return true;
}

static bool get_int(json_t *in, const char *key, long *out, char *errstr,
                    size_t n) {
  json_t *v = json_object_get(in, key);
  if (!v)
    return true;
  if (!json_is_integer(v) || json_integer_value(v) < 0) {
    snprintf(errstr, n, "%s must be a non-negative integer", key);
    return false;
  }
  *out = (long)json_integer_value(v);
  return true;
}

bool emu_faults_parse(json_t *in, struct emu_faults *f, json_t **revoke,
                      char *errstr, size_t n) {
  const char *k;
  json_t *v;
  json_object_foreach(in, k, v) {
    bool known = false;
    for (size_t i = 0; i < sizeof fault_keys / sizeof fault_keys[0]; i++)
      known = known || strcmp(k, fault_keys[i]) == 0;
    if (!known) {
      snprintf(errstr, n, "unknown fault \"%s\"", k);
      return false;
    }
  }
  memset(f, 0, sizeof *f);
  long latency = 0, jitter = 0, force = 0, conflict = 0;
  if (!get_int(in, "latency_ms", &latency, errstr, n) ||
      !get_int(in, "jitter_ms", &jitter, errstr, n) ||
      !get_int(in, "force_429", &force, errstr, n) ||
      !get_int(in, "upsert_conflict", &conflict, errstr, n) ||
      !get_rate(in, "error_rate", &f->error_rate, errstr, n) ||
      !get_rate(in, "drop_rate", &f->drop_rate, errstr, n) ||
      !get_rate(in, "drop_after_rate", &f->drop_after_rate, errstr, n) ||
      !get_rate(in, "lock_423_rate", &f->lock_423_rate, errstr, n))
    return false;
  if (latency > 60000 || jitter > 60000) {
    snprintf(errstr, n, "latency_ms and jitter_ms are capped at 60000");
    return false;
  }
  f->latency_ms = (int)latency;
  f->jitter_ms = (int)jitter;
  f->force_429 = force;
  f->upsert_conflict = conflict;
  json_t *rp = json_object_get(in, "refuse_properties");
  if (rp && (!json_is_array(rp) || json_array_size(rp) > 4)) {
    snprintf(errstr, n, "refuse_properties must be a list of up to 4 names");
    return false;
  }
  for (size_t i = 0; i < json_array_size(rp); i++)
    snprintf(f->refuse_props[i], sizeof f->refuse_props[i], "%s",
             json_string_value(json_array_get(rp, i))
                 ? json_string_value(json_array_get(rp, i))
                 : "");
  f->html_5xx = json_is_true(json_object_get(in, "html_5xx"));
  json_t *st = json_object_get(in, "error_statuses");
  if (st) {
    if (!json_is_array(st) || json_array_size(st) == 0 ||
        json_array_size(st) > sizeof f->error_statuses / sizeof(int)) {
      snprintf(errstr, n, "error_statuses must be a list of 1..8 statuses");
      return false;
    }
    size_t i;
    json_array_foreach(st, i, v) {
      json_int_t s = json_integer_value(v);
      if (!json_is_integer(v) || s < 500 || s > 599) {
        snprintf(errstr, n, "error_statuses must be 5xx codes");
        return false;
      }
      f->error_statuses[f->n_error_statuses++] = (int)s;
    }
  } else {
    static const int def[] = {500, 502, 503, 504};
    memcpy(f->error_statuses, def, sizeof def);
    f->n_error_statuses = 4;
  }
  json_t *rv = json_object_get(in, "revoke_tokens");
  if (rv && !json_is_array(rv)) {
    snprintf(errstr, n, "revoke_tokens must be a list of tokens");
    return false;
  }
  *revoke = rv;
  return true;
}

json_t *emu_faults_json(const struct emu_faults *f) {
  json_t *st = json_array();
  for (size_t i = 0; i < f->n_error_statuses; i++)
    json_array_append_new(st, json_integer(f->error_statuses[i]));
  return json_pack("{s:i, s:i, s:f, s:o, s:I, s:f, s:f, s:f, s:b}",
                   "latency_ms", f->latency_ms, "jitter_ms", f->jitter_ms,
                   "error_rate", f->error_rate, "error_statuses", st,
                   "force_429", (json_int_t)f->force_429, "drop_rate",
                   f->drop_rate, "drop_after_rate", f->drop_after_rate,
                   "lock_423_rate", f->lock_423_rate, "html_5xx", f->html_5xx);
}

static void admin_error(struct emu_call *c, const char *msg) {
  emu_reply(c, 400, emu_err_body(c, "VALIDATION_ERROR", msg, NULL));
}

/* "portal" selects by portal id (number or numeric string) or by token. */
static bool scope_portal(struct emu_call *c, json_t *sel,
                         struct emu_portal **out) {
  *out = NULL;
  if (!sel || json_is_null(sel))
    return true;
  struct emu *e = c->emu;
  if (json_is_integer(sel)) {
    *out = emu_portal_find(e, (uint64_t)json_integer_value(sel));
  } else if (json_is_string(sel)) {
    struct emu_app *a = emu_app_find(e, json_string_value(sel));
    long id;
    if (a)
      *out = a->portal;
    else if (emu_parse_long(json_string_value(sel), &id))
      *out = emu_portal_find(e, (uint64_t)id);
  }
  if (!*out) {
    admin_error(c, "portal: no such portal id or token");
    return false;
  }
  return true;
}

void emu_h_admin_state(struct emu_call *c) {
  long only = 0;
  const char *q = emu_query(c, "portal");
  if (q && !emu_parse_long(q, &only)) {
    admin_error(c, "portal must be a portal id");
    return;
  }
  emu_reply(c, 200, emu_state(c->emu, (uint64_t)only));
}

void emu_h_admin_reset(struct emu_call *c) {
  emu_reset(c->emu);
  emu_logf(c->emu, "state reset");
  emu_reply(c, 200, json_pack("{s:s}", "status", "ok"));
}

static json_t *faults_list(struct emu *e) {
  json_t *arr = json_array();
  for (size_t i = 0; i < e->n_portals; i++)
    json_array_append_new(
        arr, json_pack("{s:I, s:o}", "portal_id",
                       (json_int_t)e->portals[i]->portal_id, "faults",
                       emu_faults_json(&e->portals[i]->faults)));
  return arr;
}

void emu_h_admin_faults_get(struct emu_call *c) {
  emu_reply(c, 200, json_pack("{s:o}", "portals", faults_list(c->emu)));
}

void emu_h_admin_faults(struct emu_call *c) {
  struct emu *e = c->emu;
  struct emu_portal *only;
  if (!scope_portal(c, json_object_get(c->in, "portal"), &only))
    return;
  struct emu_faults f;
  json_t *revoke = NULL;
  char err[160];
  if (!emu_faults_parse(c->in, &f, &revoke, err, sizeof err)) {
    admin_error(c, err);
    return;
  }
  bool clear = json_is_true(json_object_get(c->in, "clear"));
  if (clear)
    memset(&f, 0, sizeof f);
  for (size_t i = 0; i < e->n_portals; i++)
    if (!only || e->portals[i] == only)
      e->portals[i]->faults = f;
  /* Setting faults replaces the previous set, revocations included. */
  for (size_t i = 0; i < e->n_apps; i++)
    if (!only || e->apps[i]->portal == only)
      e->apps[i]->revoked = false;
  size_t i;
  json_t *t;
  json_array_foreach(revoke, i, t) {
    struct emu_app *a =
        json_is_string(t) ? emu_app_find(e, json_string_value(t)) : NULL;
    if (a && !clear)
      a->revoked = true;
  }
  emu_logf(e, "faults set%s", only ? " for one portal" : "");
  emu_reply(c, 200,
            json_pack("{s:s, s:o}", "status", "ok", "portals", faults_list(e)));
}

/* Add or change one portal/token: used by --config and /_emulator/portals. */
bool emu_portal_apply(struct emu *e, json_t *in, char *errstr, size_t n) {
  const char *token = json_string_value(json_object_get(in, "token"));
  if (!token || !*token || strchr(token, ' ')) {
    snprintf(errstr, n, "portal entry needs a token (no spaces)");
    return false;
  }
  struct emu_app *app = emu_app_find(e, token);
  json_t *jid = json_object_get(in, "portal_id");
  uint64_t pid = app ? app->portal->portal_id
                     : EMU_DEFAULT_PORTAL + (uint64_t)e->n_portals;
  long v;
  if (json_is_integer(jid) && json_integer_value(jid) > 0)
    pid = (uint64_t)json_integer_value(jid);
  else if (json_is_string(jid) && emu_parse_long(json_string_value(jid), &v) &&
           v > 0)
    pid = (uint64_t)v;
  else if (jid) {
    snprintf(errstr, n, "portal_id must be a positive integer");
    return false;
  }
  const char *tier = json_string_value(json_object_get(in, "tier"));
  long per_10s, daily;
  if (tier && !emu_tier_limits(tier, &per_10s, &daily)) {
    snprintf(errstr, n,
             "unknown tier \"%s\" (free|starter|professional|enterprise|"
             "increase)",
             tier);
    return false;
  }
  struct emu_portal *p = emu_portal_find(e, pid);
  if (!p &&
      !(p = emu_portal_add(e, pid, tier ? tier : "professional", errstr, n)))
    return false;
  if (tier) {
    snprintf(p->tier, sizeof p->tier, "%s", tier);
    p->daily_limit = daily;
  }
  emu_tier_limits(p->tier, &per_10s, &daily);
  long want_10s = app && !tier ? app->per_10s : per_10s;
  if (!get_int(in, "requests_per_10s", &want_10s, errstr, n) ||
      !get_int(in, "daily_limit", &p->daily_limit, errstr, n) ||
      !get_int(in, "daily_used", &p->daily_used, errstr, n))
    return false;
  if (want_10s < 1) {
    snprintf(errstr, n, "requests_per_10s must be at least 1");
    return false;
  }
  if (!app && !(app = emu_app_add(e, token, p, want_10s))) {
    snprintf(errstr, n, "out of memory");
    return false;
  }
  app->portal = p;
  if (app->per_10s != want_10s) {
    emu_window_free(&app->win);
    if (emu_window_init(&app->win, (size_t)want_10s, EMU_WINDOW_MS)) {
      snprintf(errstr, n, "out of memory");
      return false;
    }
    app->per_10s = want_10s;
  }
  json_t *scopes = json_object_get(in, "scopes");
  if (scopes) {
    json_decref(app->scopes);
    app->scopes = json_is_array(scopes) ? json_deep_copy(scopes) : NULL;
  }
  json_t *oauth = json_object_get(in, "oauth");
  if (oauth)
    app->oauth = json_is_true(oauth);
  json_t *vp = json_object_get(in, "validate_phone");
  if (vp)
    p->validate_phone = json_is_true(vp);
  json_t *tz = json_object_get(in, "time_zone");
  json_t *off = json_object_get(in, "utc_offset_ms");
  if (tz || off) {
    int64_t ms = 0;
    if (off && !json_is_integer(off)) {
      snprintf(errstr, n, "utc_offset_ms must be an integer");
      return false;
    }
    if (off)
      ms = (int64_t)json_integer_value(off);
    else if (!emu_tz_offset(json_string_value(tz), &ms)) {
      snprintf(errstr, n,
               "unknown time_zone (an IANA name such as "
               "America/Los_Angeles, or give utc_offset_ms)");
      return false;
    }
    snprintf(p->time_zone, sizeof p->time_zone, "%s",
             json_is_string(tz) ? json_string_value(tz) : "UTC");
    p->utc_offset_ms = ms;
    p->day = emu_portal_day(p, emu_wall_ms());
  }
  return true;
}

void emu_h_admin_portals(struct emu_call *c) {
  char err[200];
  if (!emu_portal_apply(c->emu, c->in, err, sizeof err)) {
    admin_error(c, err);
    return;
  }
  emu_reply(c, 200, json_pack("{s:s}", "status", "ok"));
}

void emu_h_admin_config(struct emu_call *c) {
  struct emu *e = c->emu;
  long lag = e->search_lag_ms, latency = e->base_latency_ms;
  char err[160];
  if (!get_int(c->in, "search_lag_ms", &lag, err, sizeof err) ||
      !get_int(c->in, "latency_ms", &latency, err, sizeof err)) {
    admin_error(c, err);
    return;
  }
  e->search_lag_ms = (int)lag;
  e->base_latency_ms = (int)latency;
  json_t *ra = json_object_get(c->in, "retry_after");
  if (ra)
    e->retry_after = json_is_true(ra);
  json_t *echo = json_object_get(c->in, "upsert_echo");
  if (echo)
    e->upsert_no_echo = !json_is_true(echo);
  json_t *sh = json_object_get(c->in, "shuffle_results");
  if (sh)
    e->shuffle_results = json_is_true(sh);
  emu_reply(c, 200,
            json_pack("{s:s, s:i, s:b, s:i}", "status", "ok", "search_lag_ms",
                      e->search_lag_ms, "retry_after", e->retry_after,
                      "latency_ms", e->base_latency_ms));
}
