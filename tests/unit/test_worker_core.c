/* Unit tests of the worker's flush (worker_core): a fake HubSpot behind the
 * client's transport seam, events built in memory, outputs into a sink.
 * Covers bisection down to the bad input, 207 results mapped to events,
 * the first-touch carry, a flush aborted by a revoke, offsets stored only
 * for final events, and copies of one event in one flush. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_client.h"
#include "hs_ratelimit.h"
#include "ls_metrics.h"
#include "wrk.h"
#include "wrk_batch.h"
#include "wrk_consumer.h"
#include "wrk_plan.h"
#include "wrk_poison.h"
#include "wrk_sync.h"
#include "wrk_filter.h"
#include "wrk_ledger.h"
#include "wrk_out.h"
#include "wrk_fault.h"

#define TOPIC "smartlead.email_reply"
#define MAX_CALLS 64

/* -- a fake HubSpot ------------------------------------------------------ */

typedef struct fake {
  hs_transport base;
  size_t calls;
  char path[MAX_CALLS][256];
  json_t *body[MAX_CALLS];    /* request bodies, in order */
  const char *bad_email;      /* an upsert holding it is refused (400) */
  const char *bad_create;     /* event id a create answers with a 207 error */
  bool new_contacts;          /* upsert results say "new": true */
  bool daily;                 /* every call: 429 DAILY */
  struct wrk *revoke_on_call; /* raise the revoke abort during a call */
} fake;

static void answer(hs_req *r, long status, json_t *body) {
  char *s = json_dumps(body, JSON_COMPACT);
  r->status = status;
  assert_int_equal(ls_buf_appendz(&r->resp, s), LS_OK);
  free(s);
  json_decref(body);
}

static void upsert(fake *f, hs_req *r, const json_t *req) {
  json_t *results = json_array();
  size_t i;
  const json_t *in;
  json_array_foreach(json_object_get(req, "inputs"), i, in) {
    const char *email = json_string_value(json_object_get(in, "id"));
    if (f->bad_email && !strcmp(email, f->bad_email)) {
      json_decref(results);
      answer(r, 400,
             json_pack("{s:s,s:s,s:s}", "status", "error", "message",
                       "Email address is invalid", "category",
                       "VALIDATION_ERROR"));
      return;
    }
    char id[32];
    snprintf(id, sizeof id, "c-%s", email);
    json_array_append_new(results, json_pack("{s:s,s:b,s:{s:s}}", "id", id,
                                             "new", f->new_contacts,
                                             "properties", "email", email));
  }
  answer(r, 200, json_pack("{s:o}", "results", results));
}

static void create(fake *f, hs_req *r, const json_t *req) {
  json_t *results = json_array(), *errors = json_array();
  size_t i;
  const json_t *in;
  json_array_foreach(json_object_get(req, "inputs"), i, in) {
    const char *eid = json_string_value(
        json_object_get(json_object_get(in, "properties"), HS_EVENT_ID_PROP));
    if (f->bad_create && !strcmp(eid, f->bad_create)) {
      json_array_append_new(errors,
                            json_pack("{s:s,s:s,s:s,s:{s:[s]}}", "status",
                                      "error", "category", "VALIDATION_ERROR",
                                      "message", "bad note body", "context",
                                      "objectWriteTraceId", eid));
      continue;
    }
    char id[32];
    snprintf(id, sizeof id, "n-%s", eid + 20); /* ids are 32 hex digits */
    json_array_append_new(results,
                          json_pack("{s:s,s:{s:s}}", "id", id, "properties",
                                    HS_EVENT_ID_PROP, eid));
  }
  long status = json_array_size(errors) ? 207 : 201;
  answer(r, status,
         json_pack("{s:o,s:o,s:i}", "results", results, "errors", errors,
                   "numErrors", (int)json_array_size(errors)));
}

static void fake_perform(hs_transport *t, hs_req **reqs, size_t n) {
  fake *f = (fake *)t;
  for (size_t k = 0; k < n; k++) {
    hs_req *r = reqs[k];
    json_t *req = r->body ? json_loads(r->body, 0, NULL) : NULL;
    if (f->calls < MAX_CALLS) {
      snprintf(f->path[f->calls], sizeof f->path[0], "%s", r->path);
      f->body[f->calls] = json_incref(req);
    }
    f->calls++;
    r->rl.remaining = r->rl.max = r->rl.retry_after_ms = -1;
    if (f->revoke_on_call) {
      /* What on_rebalance does when a revoke arrives during the flush. */
      f->revoke_on_call->cons->abort = 1;
      f->revoke_on_call->cons->revoked = true;
    }
    if (f->daily)
      answer(r, 429,
             json_pack("{s:s,s:s}", "message", "daily limit", "policyName",
                       "DAILY"));
    else if (strstr(r->path, "/contacts/batch/upsert"))
      upsert(f, r, req);
    else if (strstr(r->path, "/batch/create"))
      create(f, r, req);
    else
      answer(r, 200, json_pack("{s:[]}", "results"));
    json_decref(req);
  }
}

static void fake_destroy(hs_transport *t) {
  fake *f = (fake *)t;
  for (size_t i = 0; i < f->calls && i < MAX_CALLS; i++)
    json_decref(f->body[i]);
}

static size_t calls_to(const fake *f, const char *what) {
  size_t n = 0;
  for (size_t i = 0; i < f->calls && i < MAX_CALLS; i++)
    n += strstr(f->path[i], what) != NULL;
  return n;
}

/* -- the worker around it ----------------------------------------------- */

typedef struct {
  wrk w;
  wrk_consumer cons;
  wrk_poison poison;
  wrk_carry carry;
  fake f;
  ls_config cfg;
  ls_tenant tenant;
  hs_limiter *lim;
  hs_target tgt;
  volatile sig_atomic_t stop;
} fixture;

static int setup(void **state) {
  fixture *x = calloc(1, sizeof *x);
  assert_non_null(x);
  x->tenant.id = "t1";
  x->tenant.hs_base_url = "http://hubspot.invalid";
  x->tenant.hs_token = "tok";
  x->tenant.hs_per_10s = 1000;
  x->cfg.tenants = &x->tenant;
  x->cfg.n_tenants = 1;
  x->cfg.topic_prefix = "smartlead.";
  x->f.base.perform = fake_perform;
  x->f.base.destroy = fake_destroy;
  hs_limiter_conf lc = {1000, 10000, 0, 0, 100, 0, 0};
  x->lim = hs_limiter_new(&lc);
  x->tgt = (hs_target){"http://hubspot.invalid", "tok", x->lim, "t1", NULL};
  wrk *w = &x->w;
  w->cons = &x->cons;
  w->poison = &x->poison;
  w->carry = &x->carry;
  w->cfg = &x->cfg;
  w->s.group = "unit";
  w->s.batch_max = 100;
  w->s.flush_max = 1000;
  w->s.linger_ms = 200;
  w->s.search_settle_ms = 1;
  w->s.flush_timeout_ms = 1000;
  w->s.poison_after = 5;
  w->s.max_msg_bytes = 1000000;
  hs_policy_defaults(&w->s.pol);
  w->s.pol.backoff_base_ms = 1;
  w->s.pol.backoff_max_ms = 2;
  w->s.pol.max_retries = 2;
  w->s.pol.stop = &x->stop;
  w->s.pol.abort = &w->cons->abort;
  w->stop = &x->stop;
  w->tp = &x->f.base;
  w->targets = &x->tgt;
  w->metrics = ls_metrics_new();
  w->out = wrk_out_new_sink();
  w->ledger = wrk_ledger_new_local();
  w->filter = wrk_filter_pass_all();
  w->batch = wrk_batch_new(w);
  assert_non_null(x->lim);
  assert_non_null(w->metrics);
  assert_non_null(w->out);
  assert_non_null(w->ledger);
  assert_non_null(w->filter);
  assert_non_null(w->batch);
  *state = x;
  return 0;
}

static int teardown(void **state) {
  fixture *x = *state;
  wrk *w = &x->w;
  wrk_batch_free(w->batch);
  wrk_out_free(w->out);
  wrk_ledger_free(w->ledger);
  wrk_filter_free(w->filter);
  wrk_carry_clear(w->carry);
  wrk_poison_free(w->poison);
  free(w->cons->stuck);
  ls_metrics_free(w->metrics);
  fake_destroy(&x->f.base);
  hs_limiter_free(x->lim);
  free(x);
  return 0;
}

/* One event: a reply of email at partition/offset; eng HS_ENG_NONE
 * writes the contact only. */
static wrk_event *event(fixture *x, int n, const char *email, hs_eng_kind eng,
                        int32_t partition, int64_t offset) {
  wrk_event *e = calloc(1, sizeof *e);
  assert_non_null(e);
  e->tenant = &x->tenant;
  snprintf(e->ev.event_id, sizeof e->ev.event_id, "%032x", (unsigned)n);
  snprintf(e->ev.type_name, sizeof e->ev.type_name, "EMAIL_REPLY");
  snprintf(e->map.email, sizeof e->map.email, "%s", email);
  e->map.contact = json_pack("{s:s}", "hs_lead_status", "OPEN");
  e->map.eng = eng;
  if (eng != HS_ENG_NONE)
    e->map.eng_props = json_pack("{s:s,s:s}", "hs_note_body", "reply",
                                 HS_EVENT_ID_PROP, e->ev.event_id);
  e->map.time_us = 1000000 + n;
  snprintf(e->pos.topic, sizeof e->pos.topic, "%s", TOPIC);
  e->pos.partition = partition;
  e->pos.offset = offset;
  e->has_pos = true;
  return e;
}

/* The loop's steps (worker/main.c run_loop). */
static void sync_batch(fixture *x) {
  wrk_consumer_arm(&x->w);
  wrk_batch_sync(x->w.batch);
}

static void settle_batch(fixture *x, wrk_plan *plan) {
  wrk_batch_settle(x->w.batch, wrk_consumer_revoked(&x->w), plan);
}

/* The loop's flush: sync -> outputs -> settle; returns the plan. */
static void flush(fixture *x, wrk_plan *plan) {
  sync_batch(x);
  wrk_batch_emit(x->w.batch);
  settle_batch(x, plan);
}

static const wrk_mark *mark(const wrk_plan *p, int32_t partition) {
  for (size_t i = 0; i < p->n; i++)
    if (p->v[i].pos.partition == partition)
      return &p->v[i];
  return NULL;
}

/* -- the tests ------------------------------------------------------------ */

/* A 400 for a whole upsert is split by email until the bad input is alone:
 * only its event goes to the DLQ, the others sync. */
static void test_bisection_isolates_bad_input(void **state) {
  fixture *x = *state;
  x->f.bad_email = "bad@example.com";
  const char *emails[] = {"a@example.com", "b@example.com", "bad@example.com",
                          "d@example.com"};
  wrk_event *evs[4];
  for (int i = 0; i < 4; i++) {
    evs[i] = event(x, i + 1, emails[i], HS_ENG_NONE, 0, 10 + i);
    wrk_batch_add_event(x->w.batch, evs[i]);
  }
  sync_batch(x);
  for (int i = 0; i < 4; i++) {
    if (i == 2) {
      assert_int_equal(evs[i]->outcome, WRK_DLQ);
      assert_string_equal(evs[i]->reason, WRK_DLQ_VALIDATION);
      assert_int_equal(evs[i]->http_status, 400);
    } else {
      assert_int_equal(evs[i]->outcome, WRK_SYNCED);
      char want[48];
      snprintf(want, sizeof want, "c-%s", emails[i]);
      assert_string_equal(evs[i]->contact_id, want);
    }
  }
  /* 4 -> 2 + 2 -> 1 + 1: five calls, the bad one alone at the end. */
  assert_int_equal(calls_to(&x->f, "/contacts/batch/upsert"), 5);
  wrk_plan plan = {0};
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 0)), 14);
  wrk_plan_free(&plan);
}

/* A 207 answer of a create: results go to their events by the echoed event
 * id, the error entry to its event by objectWriteTraceId. */
static void test_207_results_mapped_to_events(void **state) {
  fixture *x = *state;
  wrk_event *evs[3];
  for (int i = 0; i < 3; i++) {
    evs[i] = event(x, i + 1, "lead@example.com", HS_ENG_NOTE, 0, i);
    wrk_batch_add_event(x->w.batch, evs[i]);
  }
  x->f.bad_create = evs[1]->ev.event_id;
  sync_batch(x);
  assert_int_equal(calls_to(&x->f, "/notes/batch/create"), 1);
  assert_int_equal(evs[0]->outcome, WRK_SYNCED);
  assert_int_equal(evs[2]->outcome, WRK_SYNCED);
  char want[48];
  snprintf(want, sizeof want, "n-%s", evs[0]->ev.event_id + 20);
  assert_string_equal(evs[0]->eng_id, want);
  snprintf(want, sizeof want, "n-%s", evs[2]->ev.event_id + 20);
  assert_string_equal(evs[2]->eng_id, want);
  assert_int_equal(evs[1]->outcome, WRK_DLQ);
  assert_string_equal(evs[1]->reason, WRK_DLQ_VALIDATION);
  assert_string_equal(evs[1]->hs_category, "VALIDATION_ERROR");
  assert_string_equal(evs[1]->hs_message, "bad note body");
  assert_string_equal(evs[1]->eng_id, "");
  char id0[33], id1[33];
  snprintf(id0, sizeof id0, "%s", evs[0]->ev.event_id);
  snprintf(id1, sizeof id1, "%s", evs[1]->ev.event_id);
  wrk_plan plan = {0};
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan); /* frees the events */
  assert_true(wrk_ledger_seen(x->w.ledger, 0, id0) & WRK_SEEN_SYNCED);
  assert_false(wrk_ledger_seen(x->w.ledger, 0, id1) & WRK_SEEN_SYNCED);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 0)), 3);
  wrk_plan_free(&plan);
}

/* A contact the upsert created gets its first-touch properties in the
 * next upsert of its tenant (one more input), or on their own. */
static void test_first_touch_carried_to_next_upsert(void **state) {
  fixture *x = *state;
  x->f.new_contacts = true;
  wrk_event *e = event(x, 1, "new@example.com", HS_ENG_NONE, 0, 0);
  e->map.first_touch =
      json_pack("{s:s}", "smartlead_first_touch_campaign", "42");
  wrk_batch_add_event(x->w.batch, e);
  wrk_plan plan = {0};
  flush(x, &plan);
  wrk_plan_free(&plan);
  assert_int_equal(x->w.carry->n, 1);
  assert_string_equal(x->w.carry->v[0].id, "c-new@example.com");
  assert_string_equal(x->w.carry->v[0].email, "new@example.com");
  /* The next flush's upsert carries it as an input of its own. */
  x->f.new_contacts = false;
  wrk_batch_add_event(x->w.batch,
                      event(x, 2, "other@example.com", HS_ENG_NONE, 0, 1));
  flush(x, &plan);
  wrk_plan_free(&plan);
  assert_int_equal(x->w.carry->n, 0);
  assert_int_equal(calls_to(&x->f, "/contacts/batch/upsert"), 2);
  const json_t *inputs = json_object_get(x->f.body[1], "inputs");
  assert_int_equal(json_array_size(inputs), 2);
  const json_t *ft = json_array_get(inputs, 1);
  assert_string_equal(json_string_value(json_object_get(ft, "id")),
                      "new@example.com");
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(ft, "properties"),
                                        "smartlead_first_touch_campaign")),
      "42");
  assert_string_equal(
      json_string_value(json_object_get(ft, "objectWriteTraceId")),
      "ft-c-new@example.com");
  /* With no upsert to ride, it goes out as a batch update. */
  x->f.new_contacts = true;
  e = event(x, 3, "third@example.com", HS_ENG_NONE, 0, 2);
  e->map.first_touch =
      json_pack("{s:s}", "smartlead_first_touch_campaign", "43");
  wrk_batch_add_event(x->w.batch, e);
  flush(x, &plan);
  wrk_plan_free(&plan);
  assert_int_equal(x->w.carry->n, 1);
  wrk_sync_carry(&x->w);
  assert_int_equal(x->w.carry->n, 0);
  assert_int_equal(calls_to(&x->f, "/contacts/batch/update"), 1);
  const json_t *upd =
      json_array_get(json_object_get(x->f.body[x->f.calls - 1], "inputs"), 0);
  assert_string_equal(json_string_value(json_object_get(upd, "id")),
                      "c-third@example.com");
}

/* A revoke during a flush: nothing more is sent (no intents, no creates),
 * the waiting events are deferred, an intent is kept for their
 * engagements, and the revoked partition leaves the plan; a partition
 * still owned is marked unfinished (read again). */
static void test_revoke_aborts_flush(void **state) {
  fixture *x = *state;
  wrk_event *a = event(x, 1, "a@example.com", HS_ENG_NOTE, 0, 5);
  wrk_event *b = event(x, 2, "b@example.com", HS_ENG_NOTE, 1, 7);
  wrk_batch_add_event(x->w.batch, a);
  wrk_batch_add_event(x->w.batch, b);
  x->f.revoke_on_call = &x->w; /* during the upsert */
  sync_batch(x);
  assert_int_equal(x->f.calls, 1);
  assert_int_equal(calls_to(&x->f, "/batch/create"), 0);
  assert_int_equal(a->outcome, WRK_DEFERRED);
  assert_int_equal(b->outcome, WRK_DEFERRED);
  size_t produced = wrk_out_produced(x->w.out);
  assert_int_equal(produced, 0); /* no intents */
  char id_a[33];
  snprintf(id_a, sizeof id_a, "%s", a->ev.event_id);
  wrk_plan plan = {0};
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan); /* frees the events */
  assert_true(wrk_ledger_seen(x->w.ledger, 0, id_a) & WRK_SEEN_INTENT);
  assert_int_equal(plan.n, 2);
  rd_kafka_topic_partition_list_t *revoked =
      rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(revoked, TOPIC, 0);
  wrk_plan_drop(&plan, revoked);
  rd_kafka_topic_partition_list_destroy(revoked);
  assert_null(mark(&plan, 0));
  const wrk_mark *m1 = mark(&plan, 1);
  assert_non_null(m1);
  assert_int_equal(m1->unfinished, 7);
  assert_int_equal(wrk_plan_store_offset(m1), -1);
  wrk_plan_free(&plan);
  /* The next flush starts with the flag lowered. */
  x->f.revoke_on_call = NULL;
  wrk_batch_add_event(x->w.batch,
                      event(x, 3, "c@example.com", HS_ENG_NONE, 1, 7));
  flush(x, &plan);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 1)), 8);
  wrk_plan_free(&plan);
}

/* Offsets: only final events count; the first unfinished one stops its
 * partition (stored below it, stuck from it), other partitions go on. */
static void test_store_only_final_events(void **state) {
  fixture *x = *state;
  /* Partition 0: filtered (final), then a sync that meets the daily
   * limit (deferred), then a filtered one again. */
  wrk_event *f0 = event(x, 1, "a@example.com", HS_ENG_NONE, 0, 10);
  json_decref(f0->map.contact);
  f0->map.contact = NULL; /* writes nothing: filtered at intake */
  wrk_event *d0 = event(x, 2, "b@example.com", HS_ENG_NOTE, 0, 11);
  wrk_event *f1 = event(x, 3, "c@example.com", HS_ENG_NONE, 0, 12);
  json_decref(f1->map.contact);
  f1->map.contact = NULL;
  /* Partition 1: a duplicate (in the ledger) only. */
  wrk_event *dup = event(x, 4, "d@example.com", HS_ENG_NONE, 1, 3);
  wrk_ledger_record(x->w.ledger, 1, dup->ev.event_id, WRK_SEEN_SYNCED);
  wrk_event *evs[] = {f0, d0, f1, dup};
  for (size_t i = 0; i < 4; i++)
    wrk_batch_add_event(x->w.batch, evs[i]);
  assert_int_equal(dup->outcome, WRK_DUPLICATE);
  assert_string_equal(dup->reason, "in_ledger");
  x->f.daily = true;
  wrk_plan plan = {0};
  sync_batch(x);
  assert_int_equal(f0->outcome, WRK_FILTERED);
  assert_int_equal(d0->outcome, WRK_DEFERRED);
  assert_int_equal(f1->outcome, WRK_FILTERED);
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan); /* frees the events */
  const wrk_mark *m0 = mark(&plan, 0), *m1 = mark(&plan, 1);
  assert_non_null(m0);
  assert_non_null(m1);
  assert_int_equal(m0->unfinished, 11);
  assert_int_equal(m0->tenant, 0); /* held by the tenant's daily block */
  assert_int_equal(wrk_plan_store_offset(m0), 11);
  assert_int_equal(m1->unfinished, -1);
  assert_int_equal(wrk_plan_store_offset(m1), 4);
  /* The consumer side: partition 0 is stuck from 11; once stuck, a later
   * plan stores nothing there until it was read again. */
  wrk_consumer_store(&x->w, &plan);
  wrk_plan_free(&plan);
  assert_int_equal(x->w.cons->n_stuck, 1);
  assert_int_equal(x->w.cons->stuck[0].pos.partition, 0);
  assert_int_equal(x->w.cons->stuck[0].pos.offset, 11);
  wrk_pos later = {TOPIC, 0, 20};
  wrk_plan_final(&plan, &later);
  wrk_consumer_store(&x->w, &plan);
  assert_int_equal(x->w.cons->stuck[0].pos.offset, 11);
  wrk_plan_free(&plan);
}

/* The plan on its own: order does not matter, the lowest unfinished
 * offset bounds the store. */
static void test_plan_bounds(void **state) {
  (void)state;
  wrk_plan p = {0};
  wrk_pos a = {TOPIC, 2, 0};
  a.offset = 30;
  wrk_plan_final(&p, &a);
  a.offset = 25;
  wrk_plan_unfinished(&p, &a, -1, 0);
  a.offset = 20;
  wrk_plan_final(&p, &a);
  a.offset = 27;
  wrk_plan_unfinished(&p, &a, 3, 0);
  assert_int_equal(p.n, 1);
  assert_int_equal(p.v[0].unfinished, 25);
  assert_int_equal(p.v[0].tenant, -1);
  assert_int_equal(wrk_plan_store_offset(&p.v[0]), 25);
  wrk_plan_drop(&p, NULL);
  assert_int_equal(p.n, 0);
  wrk_plan_free(&p);
}

/* Copies of one event waiting in one flush: the first decides, the others
 * are duplicates (in_batch); one create input, one object. */
static void test_in_flush_duplicate_ids(void **state) {
  fixture *x = *state;
  wrk_event *a = event(x, 7, "lead@example.com", HS_ENG_NOTE, 0, 1);
  wrk_event *b = event(x, 7, "lead@example.com", HS_ENG_NOTE, 0, 2);
  wrk_event *c = event(x, 7, "lead@example.com", HS_ENG_NOTE, 1, 9);
  wrk_batch_add_event(x->w.batch, a);
  wrk_batch_add_event(x->w.batch, b);
  wrk_batch_add_event(x->w.batch, c);
  assert_int_equal(a->outcome, WRK_PENDING);
  assert_int_equal(b->outcome, WRK_DUPLICATE);
  assert_string_equal(b->reason, "in_batch");
  assert_int_equal(c->outcome, WRK_DUPLICATE);
  char id[33];
  snprintf(id, sizeof id, "%s", a->ev.event_id);
  wrk_plan plan = {0};
  sync_batch(x);
  assert_int_equal(a->outcome, WRK_SYNCED);
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan); /* frees the events */
  assert_int_equal(calls_to(&x->f, "/notes/batch/create"), 1);
  size_t i;
  for (i = 0; i < x->f.calls; i++)
    if (strstr(x->f.path[i], "/notes/batch/create"))
      break;
  assert_int_equal(json_array_size(json_object_get(x->f.body[i], "inputs")), 1);
  assert_true(wrk_ledger_seen(x->w.ledger, 0, id) & WRK_SEEN_SYNCED);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 0)), 3);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 1)), 10);
  wrk_plan_free(&plan);
}

/* A revoke recorded during a flush drops the stashed records of the
 * revoked partitions polled before it, never those polled after it (the
 * partition assigned again) nor other partitions'; stuck marks of the
 * revoked partitions go, an assign drops those of its partitions. */
static void test_revoke_forgets_stash_before_it(void **state) {
  fixture *x = *state;
  wrk_consumer *c = x->w.cons;
  c->stash = calloc(5, sizeof *c->stash);
  assert_non_null(c->stash);
  c->cap_stash = 5;
  struct {
    int32_t partition;
    int64_t offset;
    unsigned epoch;
  } rows[] = {{0, 1, 0}, {1, 1, 0}, {0, 2, 1}, {1, 2, 1}, {0, 3, 1}};
  for (size_t i = 0; i < 5; i++) {
    wrk_stashed *st = &c->stash[c->n_stash++];
    snprintf(st->pos.topic, sizeof st->pos.topic, "%s", TOPIC);
    st->pos.partition = rows[i].partition;
    st->pos.offset = rows[i].offset;
    st->epoch = rows[i].epoch;
  }
  wrk_pos p0 = {TOPIC, 0, 7}, p1 = {TOPIC, 1, 9};
  wrk_plan plan = {0};
  wrk_plan_unfinished(&plan, &p0, -1, 0);
  wrk_plan_unfinished(&plan, &p1, -1, 0);
  wrk_consumer_store(&x->w, &plan);
  wrk_plan_free(&plan);
  assert_int_equal(c->n_stuck, 2);
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(parts, TOPIC, 0);
  /* The revoke came when one revoke had been seen (epoch 0 -> 1). */
  wrk_reb r = {WRK_REB_REVOKE, parts, 0};
  wrk_consumer_forget(&x->w, &r);
  assert_int_equal(c->n_stash, 4);
  assert_int_equal(c->stash[0].pos.partition, 1);
  assert_int_equal(c->stash[1].pos.partition, 0);
  assert_int_equal(c->stash[1].pos.offset, 2);
  assert_int_equal(c->stash[3].pos.offset, 3);
  assert_int_equal(c->n_stuck, 1);
  assert_int_equal(c->stuck[0].pos.partition, 1);
  /* An assign of partition 1 drops its stuck mark; stash untouched. */
  rd_kafka_topic_partition_list_t *p1l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(p1l, TOPIC, 1);
  wrk_reb a = {WRK_REB_ASSIGN, p1l, 1};
  wrk_consumer_forget(&x->w, &a);
  assert_int_equal(c->n_stuck, 0);
  assert_int_equal(c->n_stash, 4);
  /* Eager revoke of everything at epoch 1: all of it goes. */
  wrk_reb all = {WRK_REB_REVOKE, NULL, 1};
  wrk_consumer_forget(&x->w, &all);
  assert_int_equal(c->n_stash, 0);
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_topic_partition_list_destroy(p1l);
  free(c->stash);
}

/* The outcome table: names and finality from one X-macro. */
static void test_outcome_table(void **state) {
  (void)state;
  assert_string_equal(wrk_outcome_name(WRK_SYNCED), "synced");
  assert_string_equal(wrk_outcome_name(WRK_DEFERRED), "deferred");
  assert_string_equal(wrk_outcome_name(WRK_OUTCOME__COUNT), "unknown");
  assert_true(wrk_outcome_final(WRK_DUPLICATE));
  assert_true(wrk_outcome_final(WRK_HELD));
  assert_false(wrk_outcome_final(WRK_PENDING));
  assert_false(wrk_outcome_final(WRK_DEFERRED));
}

/* Out of memory for a flush's HubSpot job (the alloc_job@KIND seam): the
 * job's events are deferred (read again), never failed to the DLQ and
 * never stored past. a@ is the first contact, b@ has two events. */
static void oom_job(fixture *x, const char *seam, hs_eng_kind eng,
                    wrk_event *evs[3], wrk_plan *plan) {
  setenv("LEADSYNC_TEST_FAULTS", seam, 1);
  wrk_fault_reset();
  for (int i = 0; i < 3; i++) {
    evs[i] =
        event(x, i + 1, i ? "b@example.com" : "a@example.com", eng, 0, 20 + i);
    wrk_batch_add_event(x->w.batch, evs[i]);
  }
  sync_batch(x);
  unsetenv("LEADSYNC_TEST_FAULTS");
  wrk_fault_reset();
  assert_int_equal(evs[0]->outcome, WRK_DEFERRED);
  for (int i = 0; i < 3; i++)
    assert_int_not_equal(evs[i]->outcome, WRK_DLQ);
}

/* The upsert job of a@ is not allocated: a@ waits, b@ (the next job)
 * syncs; the store stops at a@. */
static void test_oom_upsert_job_defers(void **state) {
  fixture *x = *state;
  wrk_event *evs[3];
  wrk_plan plan = {0};
  oom_job(x, "alloc_job@upsert:1", HS_ENG_NONE, evs, &plan);
  assert_int_equal(evs[1]->outcome, WRK_SYNCED);
  assert_int_equal(evs[2]->outcome, WRK_SYNCED);
  assert_int_equal(calls_to(&x->f, "/contacts/batch/upsert"), 1);
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan);
  assert_int_equal(mark(&plan, 0)->unfinished, 20);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 0)),
                   20); /* the next read: a@ */
  wrk_plan_free(&plan);
}

/* The contacts are written, the create job is not allocated: every note
 * waits (read again), nothing is stored. */
static void test_oom_create_job_defers(void **state) {
  fixture *x = *state;
  wrk_event *evs[3];
  wrk_plan plan = {0};
  oom_job(x, "alloc_job@create:1", HS_ENG_NOTE, evs, &plan);
  for (int i = 0; i < 3; i++)
    assert_int_equal(evs[i]->outcome, WRK_DEFERRED);
  assert_int_equal(calls_to(&x->f, "/contacts/batch/upsert"), 1);
  assert_int_equal(calls_to(&x->f, "/batch/create"), 0);
  wrk_batch_emit(x->w.batch);
  settle_batch(x, &plan);
  assert_int_equal(mark(&plan, 0)->unfinished, 20);
  assert_int_equal(wrk_plan_store_offset(mark(&plan, 0)), -1);
  wrk_plan_free(&plan);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_bisection_isolates_bad_input, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_207_results_mapped_to_events, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_first_touch_carried_to_next_upsert,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoke_aborts_flush, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_store_only_final_events, setup,
                                      teardown),
      cmocka_unit_test(test_plan_bounds),
      cmocka_unit_test_setup_teardown(test_in_flush_duplicate_ids, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_revoke_forgets_stash_before_it,
                                      setup, teardown),
      cmocka_unit_test(test_outcome_table),
      cmocka_unit_test_setup_teardown(test_oom_upsert_job_defers, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_oom_create_job_defers, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
