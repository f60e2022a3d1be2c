/* wrk_sync: one flush against HubSpot: (update_only lookups), contact
 * upserts merged per email, engagements batch-created with their contact
 * association, crash-window searches; failing inputs are isolated by
 * bisection and go to the DLQ while the rest of the batch succeeds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hs_text.h"
#include "kq.h"
#include "ls_array.h"
#include "ls_log.h"
#include "ls_mask.h"
#include "ls_time.h"
#include "wrk.h"
#include "wrk_sync.h"
#include "wrk_out.h"
#include "wrk_fault.h"
#include "wrk_ledger.h"
#include "wrk_records.h"

#define SEARCH_CHUNK 40 /* ids per search: the body must stay < 3000 chars */

/* -- small vectors ------------------------------------------------------ */

typedef struct {
  wrk_event **v;
  size_t n, cap;
} evec;

static bool evec_push(evec *a, wrk_event *e) {
  if (!LS_ARRAY_GROW(a->v, a->cap, a->n + 1))
    return false;
  a->v[a->n++] = e;
  return true;
}

/* One unit of HubSpot work: a request over a set of events. */
typedef enum { J_READ, J_UPSERT, J_CREATE, J_SEARCH, J_FIRST_TOUCH } jkind;

typedef struct job {
  jkind kind;
  size_t tenant;      /* index into cfg->tenants / w->targets */
  hs_eng_kind eng;    /* J_CREATE, J_SEARCH */
  bool single;        /* J_UPSERT: one event, not merged */
  evec evs;           /* events involved */
  wrk_carry ft;       /* J_FIRST_TOUCH: the properties to write; J_UPSERT:
                         carried first-touch entries (note_new) */
  int64_t not_before; /* mono us (search settle) */
  size_t inputs;      /* J_UPSERT: distinct emails, carried ones too */
  hs_req *req;
} job;

typedef struct {
  job **v;
  size_t n, cap;
} jvec;

static bool jvec_push(jvec *a, job *j) {
  if (!LS_ARRAY_GROW(a->v, a->cap, a->n + 1))
    return false;
  a->v[a->n++] = j;
  return true;
}

static const char *const kind_names[] = {"read", "upsert", "create", "search",
                                         "first_touch"};

static job *job_new(jkind k, size_t tenant) {
  job *j =
      wrk_fault_for("alloc_job", kind_names[k]) ? NULL : calloc(1, sizeof *j);
  if (j) {
    j->kind = k;
    j->tenant = tenant;
  }
  return j;
}

static void job_free(job *j) {
  if (!j)
    return;
  free(j->evs.v);
  wrk_carry_clear(&j->ft);
  hs_req_free(j->req);
  free(j);
}

/* A new job appended to jobs, or NULL when memory ran out: the caller
 * defers the events it was for (read again, never failed for it). */
static job *job_add(jvec *jobs, jkind k, size_t tenant) {
  job *j = job_new(k, tenant);
  if (j && !jvec_push(jobs, j)) {
    job_free(j);
    j = NULL;
  }
  if (!j)
    ls_warn("out of memory for a HubSpot call; its events are read again",
            "{s:s}", "kind", kind_names[k]);
  return j;
}

/* Adds e to a; out of memory: e is deferred instead (left out of every
 * call, it would be failed as "no HubSpot result"). */
static void take(evec *a, wrk_event *e) {
  if (!evec_push(a, e) && e->outcome == WRK_PENDING)
    e->outcome = WRK_DEFERRED;
}

/* Adds e to j's events; j NULL (its allocation failed): e is deferred. */
static void job_take(job *j, wrk_event *e) {
  if (j)
    take(&j->evs, e);
  else if (e->outcome == WRK_PENDING)
    e->outcome = WRK_DEFERRED;
}

/* Stop sending: shutdown, or the flush's partitions were revoked. */
static bool halted(const wrk *w) {
  return *w->stop || (w->s.pol.abort && *w->s.pol.abort);
}

void wrk_carry_clear(wrk_carry *c) {
  for (size_t i = 0; i < c->n; i++)
    json_decref(c->v[i].props);
  free(c->v);
  c->v = NULL;
  c->n = c->cap = 0;
}

/* Appends a copy of ft (props shared: one more reference); NULL when
 * memory ran out. */
static wrk_ft *carry_push(wrk_carry *c, const wrk_ft *ft) {
  if (!LS_ARRAY_GROW(c->v, c->cap, c->n + 1))
    return NULL;
  c->v[c->n] = *ft;
  json_incref(ft->props);
  return &c->v[c->n++];
}

static size_t tenant_ix(const wrk *w, const wrk_event *e) {
  return (size_t)(e->tenant - w->cfg->tenants);
}

/* -- outcomes ----------------------------------------------------------- */

static const char *dlq_reason_of(hs_class c) {
  switch (c) {
  case HS_C_AUTH:
    return WRK_DLQ_AUTH;
  case HS_C_VALIDATION:
    return WRK_DLQ_VALIDATION;
  case HS_C_NOT_FOUND:
    return WRK_DLQ_NOT_FOUND;
  case HS_C_TRANSIENT:
  case HS_C_RATE_WINDOW:
  case HS_C_RATE_SECONDLY:
    return WRK_DLQ_RETRIES;
  default:
    return WRK_DLQ_PERMANENT;
  }
}

static void fail_events(const evec *evs, const hs_req *r, const char *reason,
                        const char *msg_override) {
  char msg[512];
  if (msg_override)
    snprintf(msg, sizeof msg, "%s", msg_override);
  else if (r->status == 0)
    snprintf(msg, sizeof msg, "%s", r->transport_err);
  else
    snprintf(msg, sizeof msg, "%s", r->err.message);
  for (size_t i = 0; i < evs->n; i++) {
    wrk_event *e = evs->v[i];
    if (e->outcome != WRK_PENDING)
      continue;
    if (r->first_failure_us &&
        (!e->first_failure_us || r->first_failure_us < e->first_failure_us))
      e->first_failure_us = r->first_failure_us;
    wrk_event_fail(e, reason, r->status, r->err.category, msg);
  }
}

static void defer_events(const evec *evs) {
  for (size_t i = 0; i < evs->n; i++)
    if (evs->v[i]->outcome == WRK_PENDING)
      evs->v[i]->outcome = WRK_DEFERRED;
}

static void add_attempts(const evec *evs, const hs_req *r) {
  for (size_t i = 0; i < evs->n; i++)
    evs->v[i]->attempts += r->attempts;
}

static void auth_alarm(wrk *w, size_t ti, const hs_req *r) {
  const ls_tenant *t = &w->cfg->tenants[ti];
  char lab[96];
  snprintf(lab, sizeof lab, "tenant=\"%s\"", t->id);
  ls_metrics_inc(w->metrics, "leadsync_worker_auth_failures_total",
                 "HubSpot rejected the tenant's token (401/403)", lab, 1);
  char masked[sizeof r->err.message];
  ls_mask_pii(r->err.message, masked, sizeof masked);
  ls_error("HUBSPOT AUTH FAILED: the tenant's events go to the DLQ (reason "
           "auth) until its token is fixed",
           "{s:s,s:i,s:s,s:s,s:s}", "tenant", t->id, "status", (int)r->status,
           "category", r->err.category, "message", masked, "token_ref",
           t->hs_token_ref ? t->hs_token_ref : "");
}

/* Common failure handling: the request is final and not OK. Returns true
 * when the caller should bisect (a per-record problem may hide inside). */
static bool handle_failure(wrk *w, job *j) {
  hs_req *r = j->req;
  if (r->state == HS_R_DEFERRED) {
    defer_events(&j->evs);
    return false;
  }
  if (r->cls == HS_C_AUTH) {
    auth_alarm(w, j->tenant, r);
    fail_events(&j->evs, r, WRK_DLQ_AUTH, NULL);
    return false;
  }
  if (r->cls == HS_C_TRANSIENT || r->cls == HS_C_RATE_WINDOW ||
      r->cls == HS_C_RATE_SECONDLY || r->cls == HS_C_RATE_DAILY) {
    fail_events(&j->evs, r, WRK_DLQ_RETRIES, NULL);
    return false;
  }
  return true;
}

/* -- request bodies ----------------------------------------------------- */

static json_t *inputs_body(json_t *inputs) {
  return json_pack("{s:o}", "inputs", inputs);
}

/* Groups a job's events by email (first-seen order); out of memory: the
 * events left out are deferred. */
typedef struct {
  const char *email;
  evec evs;
} cgroup;

static size_t group_by_email(const evec *evs, cgroup **out) {
  cgroup *g = calloc(evs->n ? evs->n : 1, sizeof *g);
  size_t ng = 0;
  if (!g) {
    defer_events(evs);
    *out = NULL;
    return 0;
  }
  for (size_t i = 0; i < evs->n; i++) {
    wrk_event *e = evs->v[i];
    size_t k = 0;
    while (k < ng && strcmp(g[k].email, e->map.email))
      k++;
    if (k == ng)
      g[ng++].email = e->map.email;
    take(&g[k].evs, e);
  }
  *out = g;
  return ng;
}

static void groups_free(cgroup *g, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(g[i].evs.v);
  free(g);
}

/* Properties setup could not create are never written (hs_setup.h). */
static void strip_skipped(const wrk *w, size_t tenant, const char *object,
                          json_t *props) {
  const json_t *sk = json_object_get(
      json_object_get(w->setup_skipped, w->cfg->tenants[tenant].id), object);
  size_t i;
  const json_t *n;
  json_array_foreach(sk, i, n) {
    json_object_del(props, json_string_value(n));
  }
}

static json_t *upsert_body(const wrk *w, const job *j) {
  cgroup *g;
  size_t ng = group_by_email(&j->evs, &g);
  json_t *inputs = json_array();
  for (size_t k = 0; k < ng; k++) {
    json_t *props = json_object(), *times = json_object();
    for (size_t i = 0; i < g[k].evs.n; i++)
      hs_props_merge(props, times, g[k].evs.v[i]->map.contact,
                     g[k].evs.v[i]->map.time_us);
    json_decref(times);
    /* Values HubSpot rejected before stay out (docs/mapping.md). */
    for (size_t i = 0; i < g[k].evs.n; i++) {
      size_t d;
      const json_t *dr;
      json_array_foreach(g[k].evs.v[i]->map.dropped, d, dr) {
        json_object_del(props,
                        json_string_value(json_object_get(dr, "property")));
      }
    }
    strip_skipped(w, j->tenant, "contacts", props);
    /* The trace id (the group's first event id) ties a 207 error to its
     * input whatever the order of the answer. */
    json_array_append_new(
        inputs, json_pack("{s:s,s:s,s:o,s:s}", "id", g[k].email, "idProperty",
                          "email", "properties", props, "objectWriteTraceId",
                          g[k].evs.v[0]->ev.event_id));
  }
  /* Carried first-touch properties: into the contact's input when it is
   * here again, else an input of their own (the contact exists). */
  for (size_t i = 0; i < j->ft.n; i++) {
    const wrk_ft *ft = &j->ft.v[i];
    size_t k = 0;
    while (k < ng && strcmp(g[k].email, ft->email))
      k++;
    if (k < ng)
      json_object_update(
          json_object_get(json_array_get(inputs, k), "properties"), ft->props);
    else {
      char tr[48];
      snprintf(tr, sizeof tr, "ft-%s", ft->id);
      json_array_append_new(inputs,
                            json_pack("{s:s,s:s,s:O,s:s}", "id", ft->email,
                                      "idProperty", "email", "properties",
                                      ft->props, "objectWriteTraceId", tr));
    }
  }
  groups_free(g, ng);
  return inputs_body(inputs);
}

static json_t *read_body(const job *j) {
  cgroup *g;
  size_t ng = group_by_email(&j->evs, &g);
  json_t *inputs = json_array();
  for (size_t k = 0; k < ng; k++)
    json_array_append_new(inputs, json_pack("{s:s}", "id", g[k].email));
  groups_free(g, ng);
  return json_pack("{s:s,s:[s],s:[],s:o}", "idProperty", "email", "properties",
                   "email", "propertiesWithHistory", "inputs", inputs);
}

static json_t *create_body(const wrk *w, const job *j) {
  json_t *inputs = json_array();
  for (size_t i = 0; i < j->evs.n; i++) {
    wrk_event *e = j->evs.v[i];
    strip_skipped(w, j->tenant, hs_eng_object(j->eng), e->map.eng_props);
    json_t *assoc =
        json_pack("[{s:{s:s},s:[{s:s,s:i}]}]", "to", "id", e->contact_id,
                  "types", "associationCategory", "HUBSPOT_DEFINED",
                  "associationTypeId", hs_eng_assoc_type(j->eng));
    json_array_append_new(inputs,
                          json_pack("{s:O,s:o,s:s}", "properties",
                                    e->map.eng_props, "associations", assoc,
                                    "objectWriteTraceId", e->ev.event_id));
  }
  return inputs_body(inputs);
}

static json_t *search_body(const job *j) {
  json_t *vals = json_array();
  for (size_t i = 0; i < j->evs.n; i++)
    json_array_append_new(vals, json_string(j->evs.v[i]->ev.event_id));
  return json_pack("{s:[{s:[{s:s,s:s,s:o}]}],s:[s],s:i}", "filterGroups",
                   "filters", "propertyName", HS_EVENT_ID_PROP, "operator",
                   "IN", "values", vals, "properties", HS_EVENT_ID_PROP,
                   "limit", 100);
}

static bool build_req(wrk *w, job *j) {
  const hs_target *tgt = &w->targets[j->tenant];
  json_t *body = NULL;
  char path[128];
  const char *route = "other";
  switch (j->kind) {
  case J_READ:
    snprintf(path, sizeof path, "/crm/v3/objects/contacts/batch/read");
    route = "contacts_batch_read";
    body = read_body(j);
    break;
  case J_UPSERT:
    snprintf(path, sizeof path, "/crm/v3/objects/contacts/batch/upsert");
    route = "contacts_batch_upsert";
    body = upsert_body(w, j);
    break;
  case J_FIRST_TOUCH:
    snprintf(path, sizeof path, "/crm/v3/objects/contacts/batch/update");
    route = "contacts_batch_update";
    body = json_pack("{s:[]}", "inputs");
    for (size_t i = 0; i < j->ft.n; i++)
      json_array_append_new(json_object_get(body, "inputs"),
                            json_pack("{s:s,s:O}", "id", j->ft.v[i].id,
                                      "properties", j->ft.v[i].props));
    break;
  case J_CREATE:
    snprintf(path, sizeof path, "/crm/v3/objects/%s/batch/create",
             hs_eng_object(j->eng));
    route = j->eng == HS_ENG_EMAIL  ? "emails_batch_create"
            : j->eng == HS_ENG_NOTE ? "notes_batch_create"
                                    : "tasks_batch_create";
    body = create_body(w, j);
    break;
  case J_SEARCH:
    snprintf(path, sizeof path, "/crm/v3/objects/%s/search",
             hs_eng_object(j->eng));
    route = j->eng == HS_ENG_EMAIL  ? "emails_search"
            : j->eng == HS_ENG_NOTE ? "notes_search"
                                    : "tasks_search";
    body = search_body(j);
    break;
  }
  hs_req_free(j->req);
  j->req = hs_req_new(tgt, "POST", path, route, body);
  json_decref(body);
  if (!j->req)
    return false;
  j->req->search = j->kind == J_SEARCH;
  j->req->idempotent = j->kind != J_CREATE;
  /* Two groups upserting one new email at once: one of them gets 409
   * while the other creates it; the retry is an update. */
  j->req->conflict_transient = j->kind == J_UPSERT;
  /* The call's log lines name its events and their trace. */
  for (size_t i = 0; i < j->evs.n; i++) {
    char tp[64];
    const wrk_event *e = j->evs.v[i];
    hs_req_add_context(j->req, e->ev.event_id,
                       e->msg ? kq_header(e->msg, "traceparent", tp, sizeof tp)
                              : NULL);
  }
  return true;
}

/* Runs every job of the list as one set of concurrent requests. */
static void run_jobs(wrk *w, jvec *jobs) {
  hs_req **reqs = calloc(jobs->n ? jobs->n : 1, sizeof *reqs);
  size_t n = 0;
  if (!reqs)
    return;
  int64_t wait_until = 0;
  for (size_t i = 0; i < jobs->n; i++)
    if (jobs->v[i]->not_before > wait_until)
      wait_until = jobs->v[i]->not_before;
  /* Searches wait for HubSpot's index to catch up with a create that may
   * have applied (search_settle_ms after the failure). */
  while (wait_until > ls_mono_us() && !halted(w)) {
    int64_t d = wait_until - ls_mono_us();
    if (d > 100000)
      d = 100000;
    if (w->s.pol.idle)
      w->s.pol.idle(w->s.pol.idle_ud);
    struct timespec ts = {0, (long)d * 1000};
    nanosleep(&ts, NULL);
  }
  for (size_t i = 0; i < jobs->n; i++)
    if (build_req(w, jobs->v[i]))
      reqs[n++] = jobs->v[i]->req;
  hs_run(w->tp, reqs, n, &w->s.pol);
  for (size_t i = 0; i < jobs->n; i++)
    if (jobs->v[i]->req)
      add_attempts(&jobs->v[i]->evs, jobs->v[i]->req);
  free(reqs);
}

/* A new job of the same kind in parts, or NULL when memory ran out. */
static job *part_of(const job *j, jvec *parts, bool single) {
  job *x = job_new(j->kind, j->tenant);
  if (x && !jvec_push(parts, x)) {
    job_free(x);
    x = NULL;
  }
  if (x) {
    x->eng = j->eng;
    x->single = single;
  }
  return x;
}

/* Splits a failing job in two halves (by email for upserts), or one event
 * per job when it can no longer be split. false: nothing left to split.
 * Out of memory: the job's events are deferred (read again, never sent
 * to the DLQ for it) and true is returned. */
static bool bisect(job *j, jvec *next) {
  jvec parts = {0};
  bool oom = false, split = false;
  if (j->kind == J_UPSERT && !j->single) {
    cgroup *g;
    size_t ng = group_by_email(&j->evs, &g);
    oom = !g;
    if (!oom && ng > 1) {
      job *a = part_of(j, &parts, false), *b = part_of(j, &parts, false);
      oom = !a || !b;
      for (size_t k = 0; !oom && k < ng; k++)
        for (size_t i = 0; !oom && i < g[k].evs.n; i++)
          oom = !evec_push(k < ng / 2 ? &a->evs : &b->evs, g[k].evs.v[i]);
      split = true;
    } else if (!oom && j->evs.n > 1) {
      /* One contact, several events: try them one by one, so only the
       * event carrying the bad value goes to the DLQ. */
      for (size_t i = 0; !oom && i < j->evs.n; i++) {
        job *x = part_of(j, &parts, true);
        oom = !x || !evec_push(&x->evs, j->evs.v[i]);
      }
      split = true;
    }
    if (g)
      groups_free(g, ng);
  } else if (j->evs.n > 1) {
    job *a = part_of(j, &parts, j->single), *b = part_of(j, &parts, j->single);
    oom = !a || !b;
    for (size_t i = 0; !oom && i < j->evs.n; i++)
      oom = !evec_push(i < j->evs.n / 2 ? &a->evs : &b->evs, j->evs.v[i]);
    split = true;
  }
  size_t base = next->n;
  for (size_t i = 0; !oom && i < parts.n; i++)
    oom = !jvec_push(next, parts.v[i]);
  if (oom) {
    ls_error("out of memory splitting a failing batch; its events are read "
             "again",
             "{s:i}", "events", (int)j->evs.n);
    next->n = base; /* none of the parts runs */
    for (size_t i = 0; i < parts.n; i++)
      job_free(parts.v[i]);
    defer_events(&j->evs);
    free(parts.v);
    return true;
  }
  free(parts.v);
  return split;
}

static void pending_only(evec *dst, const evec *src) {
  for (size_t i = 0; i < src->n; i++)
    if (src->v[i]->outcome == WRK_PENDING)
      take(dst, src->v[i]);
}

/* -- phase 1: update_only lookups --------------------------------------- */

static void lower_copy(char *dst, size_t cap, const char *s) {
  size_t i = 0;
  for (; s && s[i] && i + 1 < cap; i++)
    dst[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
  dst[i] = '\0';
}

static void read_done(wrk *w, job *j) {
  hs_req *r = j->req;
  if (r->state != HS_R_DONE || r->cls != HS_C_OK) {
    handle_failure(w, j);
    fail_events(&j->evs, r, dlq_reason_of(r->cls), NULL);
    return;
  }
  json_t *body = hs_req_json(r);
  const json_t *results = json_object_get(body, "results");
  for (size_t i = 0; i < j->evs.n; i++) {
    wrk_event *e = j->evs.v[i];
    size_t k;
    const json_t *it;
    json_array_foreach(results, k, it) {
      char em[LS_EMAIL_MAX + 1];
      lower_copy(em, sizeof em,
                 json_string_value(json_object_get(
                     json_object_get(it, "properties"), "email")));
      if (!strcmp(em, e->map.email)) {
        const char *id = json_string_value(json_object_get(it, "id"));
        snprintf(e->contact_id, sizeof e->contact_id, "%s", id ? id : "");
        break;
      }
    }
    if (!e->contact_id[0]) {
      e->outcome = WRK_FILTERED;
      snprintf(e->reason, sizeof e->reason, "update_only_no_contact");
    }
  }
  json_decref(body);
}

/* -- phase 2: upserts --------------------------------------------------- */

/* First-touch properties of contacts an upsert created (docs/mapping.md)
 * wait in w->carry and ride the next upsert of their tenant as one more
 * input (or the same input, when the contact is in it again), which costs
 * no call of its own; with no upsert within the linger, they go out as a
 * contacts/batch/update (wrk_sync_carry). One entry per tenant and
 * contact; carry.since_us is when the oldest entry arrived. */
static void note_props(wrk *w, size_t tenant, const char *id,
                       const wrk_event *e, const json_t *props) {
  if (!json_object_size(props))
    return;
  json_t *clean = json_deep_copy(props);
  if (!clean)
    return;
  strip_skipped(w, tenant, "contacts", clean);
  size_t d;
  const json_t *dr;
  json_array_foreach(e->map.dropped, d, dr) {
    json_object_del(clean, json_string_value(json_object_get(dr, "property")));
  }
  for (size_t i = 0; i < w->carry->n; i++) {
    wrk_ft *it = &w->carry->v[i];
    if (it->tenant != tenant || strcmp(it->id, id))
      continue;
    /* The earliest event of the contact names the campaign. */
    if (e->map.time_us < it->t) {
      json_decref(it->props);
      it->props = json_incref(clean);
      it->t = e->map.time_us;
    }
    json_decref(clean);
    return;
  }
  wrk_ft ft = {.tenant = tenant, .props = clean, .t = e->map.time_us};
  snprintf(ft.id, sizeof ft.id, "%s", id);
  snprintf(ft.email, sizeof ft.email, "%s", e->map.email);
  if (!w->carry->n)
    w->carry->since_us = ls_mono_us();
  if (!carry_push(w->carry, &ft))
    ls_warn("first-touch properties not written (out of memory)", NULL);
  json_decref(clean);
}

static void note_new(wrk *w, size_t tenant, const char *id,
                     const wrk_event *e) {
  note_props(w, tenant, id, e, e->map.first_touch);
}

/* Properties HubSpot rejected (a 400 or a 207 entry naming them) are left
 * out of these events' inputs from now on: recorded in map.dropped (the
 * sync_log's "dropped") and counted. false when nothing new can be
 * dropped, or the email itself is rejected (a DLQ "validation"). */
static bool drop_rejected(wrk *w, const evec *evs, wrk_carry *carried,
                          const json_t *err) {
  json_t *rej = hs_rejected_properties(err);
  bool progress = false, email = false;
  size_t i;
  const json_t *r;
  json_array_foreach(rej, i, r) {
    if (!strcmp(json_string_value(json_object_get(r, "property")), "email"))
      email = true;
  }
  json_array_foreach(rej, i, r) {
    const char *name = json_string_value(json_object_get(r, "property"));
    if (email)
      break;
    for (size_t k = 0; k < evs->n; k++) {
      wrk_event *e = evs->v[k];
      bool has = json_object_get(e->map.contact, name) ||
                 json_object_get(e->map.first_touch, name) ||
                 json_object_get(e->map.eng_props, name);
      size_t d;
      const json_t *dr;
      json_array_foreach(e->map.dropped, d, dr) {
        if (!strcmp(json_string_value(json_object_get(dr, "property")), name))
          has = false;
      }
      if (!has)
        continue;
      if (!e->map.dropped)
        e->map.dropped = json_array();
      json_array_append(e->map.dropped, (json_t *)r);
      json_object_del(e->map.eng_props, name);
      progress = true;
      char lab[200];
      snprintf(lab, sizeof lab, "tenant=\"%s\",property=\"%s\"",
               e->tenant ? e->tenant->id : "-", name);
      ls_metrics_inc(w->metrics, "leadsync_worker_dropped_properties_total",
                     "Property values HubSpot rejected and the event synced "
                     "without",
                     lab, 1);
    }
    for (size_t x = 0; carried && x < carried->n; x++) {
      wrk_ft *ft = &carried->v[x];
      if (json_object_get(ft->props, name)) {
        /* props may be shared with another entry: copy, then drop. */
        json_t *copy = json_deep_copy(ft->props);
        json_object_del(copy, name);
        json_decref(ft->props);
        ft->props = copy;
        progress = true;
      }
    }
  }
  json_decref(rej);
  return progress && !email;
}

static bool one_email(const evec *evs) {
  for (size_t i = 1; i < evs->n; i++)
    if (strcmp(evs->v[i]->map.email, evs->v[0]->map.email))
      return false;
  return evs->n > 0;
}

static bool empty_prop(const json_t *props, const char *k) {
  const json_t *v = json_object_get(props, k);
  return v &&
         (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)));
}

/* A group's contact is known: every event gets its id; a new contact (or
 * one whose echo shows no name) gets the create-only values. */
static void group_resolved(wrk *w, job *j, const evec *evs, const json_t *res) {
  const char *id = json_string_value(json_object_get(res, "id"));
  const json_t *props = json_object_get(res, "properties");
  bool is_new = json_is_true(json_object_get(res, "new"));
  bool nameless =
      empty_prop(props, "firstname") && empty_prop(props, "lastname");
  for (size_t i = 0; i < evs->n; i++) {
    wrk_event *e = evs->v[i];
    snprintf(e->contact_id, sizeof e->contact_id, "%s", id);
    if (e->tenant->update_only)
      continue;
    if (is_new)
      note_new(w, j->tenant, id, e);
    else if (nameless && e->map.names)
      note_props(w, j->tenant, id, e, e->map.names);
  }
}

static void requeue(jvec *next, const job *j, const evec *evs, bool single) {
  job *s = job_add(next, J_UPSERT, j->tenant);
  if (!s) {
    defer_events(evs);
    return;
  }
  s->single = single;
  for (size_t i = 0; i < evs->n; i++)
    job_take(s, evs->v[i]);
}

/* The upsert failed as a whole: one contact whose 400 named its bad
 * values goes again without them; otherwise bisect or fail. */
static void upsert_failed(wrk *w, job *j, jvec *next) {
  hs_req *r = j->req;
  if (r->state == HS_R_DONE && r->cls == HS_C_VALIDATION &&
      one_email(&j->evs) && drop_rejected(w, &j->evs, &j->ft, r->err.body)) {
    job *s = job_add(next, J_UPSERT, j->tenant);
    if (!s) {
      defer_events(&j->evs);
      return;
    }
    s->single = j->single;
    s->inputs = j->inputs;
    s->ft = j->ft; /* moved: j is freed after this */
    memset(&j->ft, 0, sizeof j->ft);
    for (size_t i = 0; i < j->evs.n; i++)
      job_take(s, j->evs.v[i]);
    return;
  }
  if (j->ft.n) {
    char d[600];
    hs_req_describe(r, d, sizeof d);
    ls_warn("first-touch properties not written (their upsert failed)",
            "{s:s,s:i}", "call", d, "contacts", (int)j->ft.n);
  }
  if (handle_failure(w, j) && !bisect(j, next))
    fail_events(&j->evs, r, dlq_reason_of(r->cls), NULL);
}

/* Matching an upsert's answer to its inputs (one group per email). */
typedef struct {
  cgroup *g;
  size_t ng;
  const json_t *results, *errors;
  size_t nres;
  char *state;         /* per group: 0 open, 1 done, 2 error */
  char *taken;         /* per result: used */
  const json_t **gerr; /* per group: its 207 entry */
  json_t *carried;     /* ids of carried first-touch inputs of their own */
} umatch;

/* 207 entries, tied to their group by objectWriteTraceId. */
static void match_errors(umatch *u) {
  size_t k;
  const json_t *it;
  json_array_foreach(u->errors, k, it) {
    const char *tr = json_string_value(json_array_get(
        json_object_get(json_object_get(it, "context"), "objectWriteTraceId"),
        0));
    for (size_t q = 0; tr && q < u->ng; q++)
      if (!u->state[q] && !strcmp(tr, u->g[q].evs.v[0]->ev.event_id)) {
        u->state[q] = 2;
        u->gerr[q] = it;
      }
  }
}

/* Results tied to their group by the echoed email. */
static void match_echoes(wrk *w, job *j, umatch *u) {
  size_t k;
  const json_t *it;
  json_array_foreach(u->results, k, it) {
    char em[LS_EMAIL_MAX + 1];
    lower_copy(em, sizeof em,
               json_string_value(json_object_get(
                   json_object_get(it, "properties"), "email")));
    const char *id = json_string_value(json_object_get(it, "id"));
    if (!id || json_object_get(u->carried, id)) {
      u->taken[k] = 1;
      continue;
    }
    for (size_t q = 0; q < u->ng; q++)
      if (!u->state[q] && !strcmp(em, u->g[q].email)) {
        group_resolved(w, j, &u->g[q].evs, it);
        u->state[q] = 1;
        u->taken[k] = 1;
        break;
      }
  }
}

/* What is left, by elimination: one group and one result belong together;
 * several are sent again one per call rather than guessed. */
static void match_leftover(wrk *w, job *j, umatch *u, jvec *next) {
  size_t open_g = 0, open_r = 0, lg = 0, lr = 0;
  for (size_t q = 0; q < u->ng; q++)
    if (!u->state[q]) {
      open_g++;
      lg = q;
    }
  for (size_t q = 0; q < u->nres; q++)
    if (!u->taken[q]) {
      open_r++;
      lr = q;
    }
  if (open_g == 1 && open_r == 1) {
    group_resolved(w, j, &u->g[lg].evs, json_array_get(u->results, lr));
    u->state[lg] = 1;
    ls_metrics_inc(w->metrics, "leadsync_worker_upsert_unechoed_total",
                   "Upsert results matched without their echoed email "
                   "(secondary email, merged contact, no echo)",
                   NULL, 1);
  } else if (open_g && open_r) {
    for (size_t q = 0; q < u->ng; q++)
      if (!u->state[q]) {
        requeue(next, j, &u->g[q].evs, j->single);
        u->state[q] = 1;
      }
  }
}

/* Errors and missing results: again without rejected values when a 207
 * entry named them; otherwise the failing inputs again on their own, or
 * bisected, or (alone) to the DLQ with the error that names why. */
static void retry_missing(wrk *w, job *j, umatch *u, jvec *next) {
  hs_req *r = j->req;
  evec missing = {0};
  for (size_t q = 0; q < u->ng; q++) {
    if (u->state[q] == 1)
      continue;
    if (u->state[q] == 2 && drop_rejected(w, &u->g[q].evs, NULL, u->gerr[q])) {
      requeue(next, j, &u->g[q].evs, j->single);
      continue;
    }
    for (size_t i = 0; i < u->g[q].evs.n; i++)
      take(&missing, u->g[q].evs.v[i]);
  }
  if (!missing.n)
    return;
  const json_t *err0 = json_array_get(u->errors, 0);
  for (size_t q = 0; q < u->ng; q++)
    if (u->state[q] == 2 && u->gerr[q])
      err0 = u->gerr[q];
  const char *cat = json_string_value(json_object_get(err0, "category"));
  const char *msg = json_string_value(json_object_get(err0, "message"));
  hs_error_clear(&r->err);
  snprintf(r->err.category, sizeof r->err.category, "%s",
           cat ? cat : "MISSING_RESULT");
  snprintf(r->err.message, sizeof r->err.message, "%s",
           msg ? msg : "no result for this input");
  job *sub = job_new(J_UPSERT, j->tenant);
  if (!sub) {
    defer_events(&missing);
    free(missing.v);
    return;
  }
  sub->single = j->single;
  for (size_t i = 0; i < missing.n; i++)
    job_take(sub, missing.v[i]);
  free(missing.v);
  if (j->evs.n > sub->evs.n) {
    if (!jvec_push(next, sub)) { /* the failing inputs again, on their own */
      defer_events(&sub->evs);
      job_free(sub);
    }
  } else if (bisect(sub, next)) {
    job_free(sub);
  } else {
    r->cls = HS_C_VALIDATION;
    r->status = 400;
    fail_events(&sub->evs, r, WRK_DLQ_VALIDATION, NULL);
    job_free(sub);
  }
}

/* Matches upsert results to their inputs: 207 errors by
 * objectWriteTraceId, results by the echoed email, then what is left by
 * elimination (a secondary email or a merged contact answers with another
 * primary email, or no echo at all). */
static void upsert_done(wrk *w, job *j, jvec *next) {
  if (j->req->state != HS_R_DONE || j->req->cls != HS_C_OK) {
    upsert_failed(w, j, next);
    return;
  }
  json_t *body = hs_req_json(j->req);
  umatch u = {0};
  u.results = json_object_get(body, "results");
  u.errors = json_object_get(body, "errors");
  u.nres = json_array_size(u.results);
  u.ng = group_by_email(&j->evs, &u.g);
  u.state = calloc(u.ng ? u.ng : 1, 1);
  u.taken = calloc(u.nres ? u.nres : 1, 1);
  u.gerr = calloc(u.ng ? u.ng : 1, sizeof *u.gerr);
  u.carried = json_object();
  /* Carried first-touch inputs of their own (contacts not in this job):
   * their results are not an event's. */
  for (size_t x = 0; x < j->ft.n; x++) {
    bool own = true;
    for (size_t q = 0; q < u.ng; q++)
      if (!strcmp(j->ft.v[x].email, u.g[q].email))
        own = false;
    if (own)
      json_object_set_new(u.carried, j->ft.v[x].id, json_true());
  }
  match_errors(&u);
  match_echoes(w, j, &u);
  match_leftover(w, j, &u, next);
  retry_missing(w, j, &u, next);
  free(u.state);
  free(u.taken);
  free(u.gerr);
  json_decref(u.carried);
  groups_free(u.g, u.ng);
  json_decref(body);
}

/* -- phase 3: engagements ----------------------------------------------- */

static wrk_event *by_event_id(const job *j, const char *id) {
  if (!id)
    return NULL;
  for (size_t i = 0; i < j->evs.n; i++)
    if (!strcmp(j->evs.v[i]->ev.event_id, id))
      return j->evs.v[i];
  return NULL;
}

/* Gives the object to every input of the job with that event id that has
 * none yet (a job never holds two copies of one event: wrk_batch marks
 * later copies duplicate; matching all of them keeps an answer from
 * leaving a copy "unknown", which would be searched, matched to the first
 * copy again, and created once more, round after round). */
static bool set_eng_id(const job *j, const char *eid, const char *id) {
  bool any = false;
  for (size_t i = 0; eid && i < j->evs.n; i++) {
    wrk_event *e = j->evs.v[i];
    if (!e->eng_id[0] && !strcmp(e->ev.event_id, eid)) {
      snprintf(e->eng_id, sizeof e->eng_id, "%s", id);
      any = true;
    }
  }
  return any;
}

static void search_done(wrk *w, job *j, jvec *creates) {
  hs_req *r = j->req;
  if (r->state == HS_R_DEFERRED) {
    defer_events(&j->evs);
    return;
  }
  if (r->state == HS_R_DONE && r->cls == HS_C_OK) {
    json_t *body = hs_req_json(r);
    size_t k;
    const json_t *it;
    json_array_foreach(json_object_get(body, "results"), k, it) {
      const char *eid = json_string_value(
          json_object_get(json_object_get(it, "properties"), HS_EVENT_ID_PROP));
      const char *id = json_string_value(json_object_get(it, "id"));
      if (id && set_eng_id(j, eid, id)) {
        ls_metrics_inc(w->metrics, "leadsync_worker_recovered_total",
                       "Engagements found by search instead of re-created",
                       NULL, 1);
        wrk_ledger_count_skip(w->ledger, "search");
      }
    }
    json_decref(body);
  } else if (r->cls == HS_C_AUTH) {
    handle_failure(w, j);
    return;
  } else {
    char d[600];
    hs_req_describe(r, d, sizeof d);
    ls_warn("idempotency search failed; creating anyway", "{s:s}", "call", d);
  }
  job *c = job_add(creates, J_CREATE, j->tenant);
  if (c)
    c->eng = j->eng;
  for (size_t i = 0; i < j->evs.n; i++)
    if (!j->evs.v[i]->eng_id[0] && j->evs.v[i]->outcome == WRK_PENDING)
      job_take(c, j->evs.v[i]);
  if (c && !c->evs.n)
    job_free(creates->v[--creates->n]);
}

static void queue_search(wrk *w, jvec *searches, size_t tenant, hs_eng_kind eng,
                         const evec *evs, int64_t not_before) {
  for (size_t i = 0; i < evs->n; i += SEARCH_CHUNK) {
    job *s = job_add(searches, J_SEARCH, tenant);
    for (size_t k = i; k < evs->n && k < i + SEARCH_CHUNK; k++)
      job_take(s, evs->v[k]);
    if (s) {
      s->eng = eng;
      s->not_before = not_before;
    }
  }
}

/* The create may have applied: look before creating again (or give up
 * after max_retries). */
static void create_ambiguous(wrk *w, job *j, jvec *searches) {
  hs_req *r = j->req;
  ls_metrics_inc(w->metrics, "leadsync_worker_ambiguous_creates_total",
                 "Creates whose outcome was unknown (searched before retry)",
                 NULL, 1);
  evec pend = {0};
  pending_only(&pend, &j->evs);
  int fails = r->attempts - r->rate_waits;
  if (fails > w->s.pol.max_retries) {
    fail_events(&pend, r, WRK_DLQ_RETRIES, NULL);
  } else {
    long back = hs_backoff_ms(&w->s.pol, fails);
    if (back < w->s.search_settle_ms)
      back = w->s.search_settle_ms;
    queue_search(w, searches, j->tenant, j->eng, &pend,
                 ls_mono_us() + (int64_t)back * 1000);
  }
  free(pend.v);
}

/* Results go to their inputs by the echoed event id (in answer order
 * when nothing is echoed and the counts match). */
static void create_results(job *j, const json_t *results) {
  size_t k;
  const json_t *it;
  json_array_foreach(results, k, it) {
    const char *eid = json_string_value(
        json_object_get(json_object_get(it, "properties"), HS_EVENT_ID_PROP));
    const char *id = json_string_value(json_object_get(it, "id"));
    if (!id)
      continue;
    if (eid)
      set_eng_id(j, eid, id);
    else if (json_array_size(results) == j->evs.n)
      snprintf(j->evs.v[k]->eng_id, sizeof j->evs.v[k]->eng_id, "%s",
               id); /* no echo: answers follow the inputs */
  }
}

/* 207 entries, by objectWriteTraceId: created again without the values
 * HubSpot rejected (added to retried), else to the DLQ. */
static void create_errors(wrk *w, job *j, const json_t *errors, jvec *next,
                          evec *retried) {
  size_t k;
  const json_t *it;
  json_array_foreach(errors, k, it) {
    const json_t *tr =
        json_object_get(json_object_get(it, "context"), "objectWriteTraceId");
    wrk_event *e = by_event_id(j, json_string_value(json_array_get(tr, 0)));
    if (!e || e->eng_id[0])
      continue;
    evec one = {0};
    evec_push(&one, e);
    bool again = drop_rejected(w, &one, NULL, it);
    free(one.v);
    if (again) {
      /* In retried first: not searched as unknown while created again. */
      job *c =
          evec_push(retried, e) ? job_add(next, J_CREATE, j->tenant) : NULL;
      if (!c) {
        e->outcome = WRK_DEFERRED;
        continue;
      }
      c->eng = j->eng;
      job_take(c, e);
      continue;
    }
    const char *cat = json_string_value(json_object_get(it, "category"));
    const char *msg = json_string_value(json_object_get(it, "message"));
    long st = (long)json_integer_value(json_object_get(it, "status"));
    wrk_event_fail(e,
                   cat && !strcmp(cat, "VALIDATION_ERROR") ? WRK_DLQ_VALIDATION
                                                           : WRK_DLQ_PERMANENT,
                   st ? st : 400, cat, msg);
    e->first_failure_us =
        j->req->first_failure_us ? j->req->first_failure_us : ls_now_us();
  }
}

static void create_done(wrk *w, job *j, jvec *next, jvec *searches) {
  hs_req *r = j->req;
  if (r->state == HS_R_AMBIGUOUS) {
    create_ambiguous(w, j, searches);
    return;
  }
  if (r->state != HS_R_DONE || r->cls != HS_C_OK) {
    if (handle_failure(w, j) && !bisect(j, next))
      fail_events(&j->evs, r, dlq_reason_of(r->cls), NULL);
    return;
  }
  json_t *body = hs_req_json(r);
  evec retried = {0};
  create_results(j, json_object_get(body, "results"));
  create_errors(w, j, json_object_get(body, "errors"), next, &retried);
  /* Inputs with neither a result nor an error: unknown, so look first. */
  evec unknown = {0};
  for (size_t i = 0; i < j->evs.n; i++) {
    bool again = false;
    for (size_t q = 0; q < retried.n; q++)
      again = again || retried.v[q] == j->evs.v[i];
    if (!again && j->evs.v[i]->outcome == WRK_PENDING &&
        !j->evs.v[i]->eng_id[0])
      take(&unknown, j->evs.v[i]);
  }
  free(retried.v);
  if (unknown.n)
    queue_search(w, searches, j->tenant, j->eng, &unknown,
                 ls_mono_us() + w->s.search_settle_ms * 1000);
  free(unknown.v);
  json_decref(body);
}

/* -- the flush ---------------------------------------------------------- */

static void run_rounds(wrk *w, jvec *jobs,
                       void (*done)(wrk *, job *, jvec *, void *), void *ud) {
  while (jobs->n && !halted(w)) {
    run_jobs(w, jobs);
    jvec next = {0};
    for (size_t i = 0; i < jobs->n; i++) {
      done(w, jobs->v[i], &next, ud);
      job_free(jobs->v[i]);
    }
    free(jobs->v);
    *jobs = next;
  }
  for (size_t i = 0; i < jobs->n; i++) {
    defer_events(&jobs->v[i]->evs);
    job_free(jobs->v[i]);
  }
  jobs->n = 0;
}

static void read_cb(wrk *w, job *j, jvec *next, void *ud) {
  read_done(w, j);
}
static void upsert_cb(wrk *w, job *j, jvec *next, void *ud) {
  (void)ud;
  upsert_done(w, j, next);
}

/* Moves the tenant's carried first-touch entries into its upserts (see
 * note_new): the job that has the contact, else one with room. */
static void carry_into(wrk *w, size_t t, jvec *jobs, size_t first,
                       const json_t *where, size_t limit) {
  size_t keep = 0;
  for (size_t i = 0; i < w->carry->n; i++) {
    wrk_ft *ft = &w->carry->v[i];
    if (ft->tenant != t) {
      w->carry->v[keep++] = *ft;
      continue;
    }
    const json_t *at = json_object_get(where, ft->email);
    job *j = at ? jobs->v[json_integer_value(at)] : NULL;
    if (!j) {
      j = jobs->n > first ? jobs->v[jobs->n - 1] : NULL;
      if (!j || j->inputs >= limit)
        j = job_add(jobs, J_UPSERT, t);
      if (!j) {
        ls_warn("first-touch properties not written (out of memory)", NULL);
        json_decref(ft->props);
        continue;
      }
      j->inputs++;
    }
    if (!carry_push(&j->ft, ft))
      ls_warn("first-touch properties not written (out of memory)", NULL);
    json_decref(ft->props);
  }
  w->carry->n = keep;
  /* Entries of other tenants stay; their age restarts (a bound, not a
   * promise: they go with the next flush or after one more linger). */
  if (w->carry->n)
    w->carry->since_us = ls_mono_us();
}

bool wrk_sync_carry_due(const wrk *w, int64_t now_us) {
  return w->carry->n && now_us - w->carry->since_us >= w->s.linger_ms * 1000;
}

void wrk_sync_carry(wrk *w) {
  jvec jobs = {0};
  for (size_t t = 0; t < w->cfg->n_tenants; t++) {
    job *j = NULL;
    for (size_t i = 0; i < w->carry->n; i++) {
      if (w->carry->v[i].tenant != t)
        continue;
      if (!j || j->ft.n >= (size_t)w->s.batch_max)
        j = job_add(&jobs, J_FIRST_TOUCH, t);
      if (j)
        carry_push(&j->ft, &w->carry->v[i]);
    }
  }
  wrk_carry_clear(w->carry);
  if (jobs.n)
    run_jobs(w, &jobs);
  for (size_t i = 0; i < jobs.n; i++) {
    hs_req *r = jobs.v[i]->req;
    if (!r || r->state != HS_R_DONE || r->cls != HS_C_OK) {
      char d[600] = "not sent";
      if (r)
        hs_req_describe(r, d, sizeof d);
      ls_warn("first-touch update failed", "{s:s}", "call", d);
    }
    job_free(jobs.v[i]);
  }
  free(jobs.v);
}

/* Tenants without a token cannot sync at all: DLQ auth. */
static void fail_tokenless(wrk_event **evs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    wrk_event *e = evs[i];
    if (e->outcome != WRK_PENDING || e->tenant->hs_token)
      continue;
    char msg[400];
    snprintf(msg, sizeof msg, "no HubSpot token for tenant %s (%s)",
             e->tenant->id,
             e->tenant->hs_token_ref ? e->tenant->hs_token_ref : "unset");
    wrk_event_fail(e, WRK_DLQ_AUTH, 0, "NO_TOKEN", msg);
  }
}

/* Phase 1: update_only tenants learn which leads are contacts. */
static void lookups(wrk *w, wrk_event **evs, size_t n) {
  jvec jobs = {0};
  for (size_t t = 0; t < w->cfg->n_tenants; t++) {
    if (!w->cfg->tenants[t].update_only)
      continue;
    job *j = NULL;
    for (size_t i = 0; i < n; i++) {
      if (evs[i]->outcome != WRK_PENDING || tenant_ix(w, evs[i]) != t)
        continue;
      if (!j || j->evs.n >= (size_t)w->s.batch_max)
        j = job_add(&jobs, J_READ, t);
      job_take(j, evs[i]);
    }
  }
  run_rounds(w, &jobs, read_cb, NULL);
  free(jobs.v);
}

/* Phase 2: one upsert per tenant and batch_max distinct emails, with the
 * carried first-touch inputs. */
static void upserts(wrk *w, wrk_event **evs, size_t n) {
  const size_t limit = (size_t)w->s.batch_max;
  jvec jobs = {0};
  for (size_t t = 0; t < w->cfg->n_tenants; t++) {
    evec pend = {0};
    for (size_t i = 0; i < n; i++)
      if (evs[i]->outcome == WRK_PENDING && tenant_ix(w, evs[i]) == t)
        take(&pend, evs[i]);
    cgroup *g;
    size_t ng = group_by_email(&pend, &g);
    job *j = NULL;
    size_t first = jobs.n;
    json_t *where = json_object(); /* email -> job index */
    for (size_t k = 0; k < ng; k++) {
      if (!j || j->inputs >= limit)
        j = job_add(&jobs, J_UPSERT, t);
      if (!j) {
        defer_events(&g[k].evs);
        continue;
      }
      for (size_t i = 0; i < g[k].evs.n; i++)
        job_take(j, g[k].evs.v[i]);
      j->inputs++;
      json_object_set_new(where, g[k].email,
                          json_integer((json_int_t)(jobs.n - 1)));
    }
    carry_into(w, t, &jobs, first, where, limit);
    json_decref(where);
    groups_free(g, ng);
    free(pend.v);
  }
  run_rounds(w, &jobs, upsert_cb, NULL);
  free(jobs.v);
}

static void defer_jobs(jvec *jobs) {
  for (size_t i = 0; i < jobs->n; i++) {
    defer_events(&jobs->v[i]->evs);
    job_free(jobs->v[i]);
  }
  jobs->n = 0;
}

/* Phase 3a: creates per tenant and kind, in calls of batch_max; events
 * that may exist already (suspect) are searched first. */
static void queue_engagements(wrk *w, wrk_event **evs, size_t n, jvec *jobs,
                              jvec *searches) {
  const size_t limit = (size_t)w->s.batch_max;
  for (size_t t = 0; t < w->cfg->n_tenants; t++) {
    for (int k = HS_ENG_EMAIL; k <= HS_ENG_TASK; k++) {
      evec fresh = {0}, suspect = {0};
      int64_t search_from = 0;
      for (size_t i = 0; i < n; i++) {
        wrk_event *e = evs[i];
        if (e->outcome != WRK_PENDING || tenant_ix(w, e) != t ||
            e->map.eng != (hs_eng_kind)k || !e->contact_id[0])
          continue;
        take(e->suspect ? &suspect : &fresh, e);
        if (e->suspect && e->search_from > search_from)
          search_from = e->search_from;
      }
      for (size_t i = 0; i < fresh.n; i += limit) {
        job *j = job_add(jobs, J_CREATE, t);
        for (size_t m = i; m < fresh.n && m < i + limit; m++)
          job_take(j, fresh.v[m]);
        if (j)
          j->eng = (hs_eng_kind)k;
      }
      if (suspect.n)
        queue_search(w, searches, t, (hs_eng_kind)k, &suspect, search_from);
      free(fresh.v);
      free(suspect.v);
    }
  }
}

/* Phase 3b: intents are on record (acknowledged) before any create is
 * sent. The wait covers every output queued so far (held forwards too);
 * an output that failed marks its own event (wrk_out_owner). Only the
 * creates whose intent is not on record wait: they are read again. */
static void record_intents(wrk *w, jvec *jobs) {
  size_t n_intents = 0;
  for (size_t i = 0; i < jobs->n; i++)
    if (jobs->v[i]->kind == J_CREATE)
      for (size_t k = 0; k < jobs->v[i]->evs.n; k++, n_intents++)
        wrk_intent_emit(w, w->out, jobs->v[i]->evs.v[k]);
  /* While the intents travel: the idle hook's work (the next flush's
   * intake, main.c) before waiting for their acknowledgements. */
  if (n_intents && w->s.pol.idle)
    w->s.pol.idle(w->s.pol.idle_ud);
  if (!n_intents || wrk_out_wait(w->out, w->s.flush_timeout_ms, NULL))
    return;
  ls_error("outputs not acknowledged in the intent wait; those events "
           "are read again",
           NULL);
  size_t keep = 0;
  for (size_t i = 0; i < jobs->n; i++) {
    job *j = jobs->v[i];
    if (j->kind == J_CREATE) {
      size_t k2 = 0;
      for (size_t k = 0; k < j->evs.n; k++) {
        wrk_event *e = j->evs.v[k];
        if (e->out.failed && e->outcome == WRK_PENDING)
          e->outcome = WRK_DEFERRED;
        else
          j->evs.v[k2++] = e;
      }
      j->evs.n = k2;
    }
    if (j->evs.n)
      jobs->v[keep++] = j;
    else
      job_free(j);
  }
  jobs->n = keep;
}

/* Phase 3: engagements, searched first when they may exist already;
 * ambiguous creates are searched before being sent again. */
static void engagements(wrk *w, wrk_event **evs, size_t n) {
  jvec jobs = {0}, searches = {0};
  queue_engagements(w, evs, n, &jobs, &searches);
  if (halted(w)) {
    /* Stopping or revoked: no intents, no creates. */
    defer_jobs(&jobs);
    defer_jobs(&searches);
  }
  int64_t t = ls_mono_us();
  record_intents(w, &jobs);
  wrk_sync_phase(w, "intents", t);
  t = ls_mono_us();
  while ((jobs.n || searches.n) && !halted(w)) {
    if (searches.n) {
      run_jobs(w, &searches);
      for (size_t i = 0; i < searches.n; i++) {
        search_done(w, searches.v[i], &jobs);
        job_free(searches.v[i]);
      }
      searches.n = 0;
    }
    if (!jobs.n)
      continue;
    run_jobs(w, &jobs);
    jvec next = {0};
    for (size_t i = 0; i < jobs.n; i++) {
      create_done(w, jobs.v[i], &next, &searches);
      job_free(jobs.v[i]);
    }
    free(jobs.v);
    jobs = next;
  }
  wrk_sync_phase(w, "engagements", t);
  defer_jobs(&jobs);
  defer_jobs(&searches);
  free(jobs.v);
  free(searches.v);
}

/* What is still pending has everything it needs: synced. Stopped or
 * revoked: deferred; a missing result: DLQ. */
static void conclude(wrk *w, wrk_event **evs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    wrk_event *e = evs[i];
    if (e->outcome != WRK_PENDING)
      continue;
    bool incomplete =
        !e->contact_id[0] || (e->map.eng != HS_ENG_NONE && !e->eng_id[0]);
    if (halted(w) && incomplete)
      e->outcome = WRK_DEFERRED;
    else if (incomplete)
      wrk_event_fail(e, WRK_DLQ_PERMANENT, 0, "INTERNAL",
                     "no HubSpot result for this event");
    else
      e->outcome = WRK_SYNCED;
  }
}

void wrk_sync_phase(wrk *w, const char *phase, int64_t since_us) {
  char lab[48];
  snprintf(lab, sizeof lab, "phase=\"%s\"", phase);
  ls_metrics_inc(w->metrics, "leadsync_worker_flush_seconds_total",
                 "Wall time of the flush cycle, per phase (docs/worker.md "
                 "\"Where a flush's time goes\")",
                 lab, (double)(ls_mono_us() - since_us) / 1e6);
}

void wrk_sync(wrk *w, wrk_event **evs, size_t n) {
  fail_tokenless(evs, n);
  int64_t t = ls_mono_us();
  lookups(w, evs, n);
  upserts(w, evs, n);
  wrk_sync_phase(w, "contacts", t);
  engagements(w, evs, n);
  conclude(w, evs, n);
}
