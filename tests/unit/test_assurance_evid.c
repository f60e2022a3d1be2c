/* test_assurance_evid: the occurrence rule (lib/model/ls_evid.c,
 * docs/assurance.md "Event ids"): each webhook fixture and the body the
 * assurance role builds from the Smartlead API for the same occurrence get the
 * same event id, and the cases the rule merges or separates on purpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "as.h"
#include "ls_event.h"
#include "ls_fixture.h"

static void id_of(const json_t *root, char out[33]) {
  ls_event ev;
  ls_fixture_identify(root, &ev);
  memcpy(out, ev.event_id, 33);
}

static const as_lead_ctx lead = {
    .campaign_id = "1234567",
    .campaign_name = "Q2 SaaS Outreach",
    .campaign_status = "ACTIVE",
    .lead_id = "2758494567",
    .lead_map_id = "2433664091",
    .lead_email = "jane.doe@acme-example.com",
    .lead_first = "Jane",
    .lead_last = "Doe",
};

/* A statistics row of the fixtures' email, in the API's Z/ms format. */
static json_t *stats_row(void) {
  return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:n,s:b,s:b}", "stats_id",
                   "6d6ef88a-d0c9-4b7c-9522-922c05b37a35", "lead_email",
                   "Jane.Doe@acme-example.com", "sequence_number", 1,
                   "email_subject", "Quick question about Acme", "sent_time",
                   "2025-03-28T08:15:00.123Z", "open_time",
                   "2025-03-28T09:02:41.618Z", "click_time",
                   "2025-03-28T09:04:12.220Z", "reply_time", "is_bounced", 1,
                   "is_unsubscribed", 0);
}

static json_t *find(json_t *bodies, const char *type) {
  size_t i;
  json_t *b;
  json_array_foreach(
      bodies, i,
      b) if (!strcmp(json_string_value(json_object_get(b, "event_type")),
                     type)) return b;
  return NULL;
}

static void same_as_webhook(const char *fixture_name, json_t *api_body) {
  char a[33], b[33];
  json_t *w = ls_fixture(fixture_name);
  id_of(w, a);
  assert_non_null(api_body);
  id_of(api_body, b);
  if (strcmp(a, b))
    fail_msg("%s: webhook %s, back-fill %s", fixture_name, a, b);
  json_decref(w);
}

static void stats_rows_match_webhooks(void **state) {
  (void)state;
  json_t *row = stats_row(), *bodies = json_array();
  as_bodies_from_stats_row(&lead, row, bodies);
  same_as_webhook("EMAIL_SENT", find(bodies, "EMAIL_SENT"));
  same_as_webhook("EMAIL_OPEN", find(bodies, "EMAIL_OPEN"));
  same_as_webhook("EMAIL_LINK_CLICK", find(bodies, "EMAIL_LINK_CLICK"));
  json_decref(bodies);
  json_decref(row);
}

static void bounce_matches(void **state) {
  (void)state;
  /* The bounce fixture is another email: its own stats_id. */
  json_t *w = ls_fixture("EMAIL_BOUNCE");
  json_t *row =
      json_pack("{s:O,s:s,s:b}", "stats_id", json_object_get(w, "stats_id"),
                "sent_time", "2025-03-28T08:20:58.023Z", "is_bounced", 1);
  json_t *bodies = json_array();
  as_lead_ctx l = lead;
  l.lead_email = "j.smith@nonexistent-example.com";
  as_bodies_from_stats_row(&l, row, bodies);
  same_as_webhook("EMAIL_BOUNCE", find(bodies, "EMAIL_BOUNCE"));
  json_decref(bodies);
  json_decref(row);
  json_decref(w);
}

static void history_reply_matches(void **state) {
  (void)state;
  /* The entry as LEAD_CATEGORY_UPDATED's history carries it. */
  json_t *cat = ls_fixture("LEAD_CATEGORY_UPDATED");
  json_t *entry = json_array_get(json_object_get(cat, "history"), 1);
  json_t *b = as_body_reply(&lead, entry);
  same_as_webhook("EMAIL_REPLY", b);
  json_decref(b);
  /* The threaded variant: stats_thread_id is not part of the rule. */
  json_t *t = ls_fixture("EMAIL_REPLY_THREADED");
  json_t *te = json_pack(
      "{s:O,s:s,s:O,s:s}", "stats_id", json_object_get(t, "stats_id"), "type",
      "REPLY", "message_id",
      json_object_get(json_object_get(t, "reply_message"), "message_id"),
      "time", "2025-03-28T10:00:00Z");
  b = as_body_reply(&lead, te);
  same_as_webhook("EMAIL_REPLY_THREADED", b);
  json_decref(b);
  json_decref(te);
  json_decref(t);
  json_decref(cat);
}

static void state_backfills_match(void **state) {
  (void)state;
  json_t *u = as_body_unsubscribed(&lead, "2025-04-01T00:00:00Z");
  same_as_webhook("LEAD_UNSUBSCRIBED", u);
  json_decref(u);
  /* Category: leadsync saw none before; the API says Meeting Request (2). */
  json_t *c = as_body_category(&lead, "", NULL, 2, "Meeting Request",
                               "2025-04-01T00:00:00Z");
  same_as_webhook("LEAD_CATEGORY_UPDATED", c);
  json_decref(c);
}

static void what_the_rule_separates_and_merges(void **state) {
  (void)state;
  char a[33], b[33];
  json_t *o = ls_fixture("EMAIL_OPEN");
  id_of(o, a);
  /* Same second, other fraction or zone: the same open. */
  json_object_set_new(o, "event_timestamp",
                      json_string("2025-03-28T11:02:41.9+02:00"));
  id_of(o, b);
  assert_string_equal(a, b);
  /* Another second: another open. */
  json_object_set_new(o, "event_timestamp",
                      json_string("2025-03-28T09:02:42.0Z"));
  id_of(o, b);
  assert_string_not_equal(a, b);
  json_decref(o);
  /* Two links clicked in one email within one second: merged (the API has
   * no link; documented blind spot). */
  json_t *k = ls_fixture("EMAIL_LINK_CLICK");
  id_of(k, a);
  json_object_set_new(k, "link_details", json_pack("[s]", "https://x.test"));
  id_of(k, b);
  assert_string_equal(a, b);
  json_decref(k);
  /* The same stats_id and reply for another lead: another occurrence. */
  json_t *r2 = ls_fixture("EMAIL_REPLY");
  id_of(r2, a);
  json_object_set_new(r2, "sl_lead_email", json_string("bob@acme-example.com"));
  json_object_set_new(r2, "to_email", json_string("bob@acme-example.com"));
  id_of(r2, b);
  assert_string_not_equal(a, b);
  json_decref(r2);
  /* A second reply to the same email is another occurrence. */
  json_t *r = ls_fixture("EMAIL_REPLY");
  id_of(r, a);
  json_object_set_new(json_object_get(r, "reply_message"), "message_id",
                      json_string("<second@mail.example.com>"));
  id_of(r, b);
  assert_string_not_equal(a, b);
  json_decref(r);
  /* Category: A->B twice is one occurrence (documented), B->A another. */
  json_t *c1 = as_body_category(&lead, "1", "Interested", 2, "x", "t");
  json_t *c2 = as_body_category(&lead, "1", "Interested", 2, "x", "u");
  json_t *c3 = as_body_category(&lead, "2", "x", 1, "Interested", "t");
  id_of(c1, a);
  id_of(c2, b);
  assert_string_equal(a, b);
  id_of(c3, b);
  assert_string_not_equal(a, b);
  json_decref(c1);
  json_decref(c2);
  json_decref(c3);
  /* Types the API cannot report keep the generic rule: a manual step with
   * another description is another occurrence only through the body. */
  json_t *m = ls_fixture("MANUAL_STEP_REACHED");
  json_t *m2 = ls_fixture("MANUAL_STEP_REACHED");
  id_of(m, a);
  id_of(m2, b);
  assert_string_equal(a, b);
  json_decref(m);
  json_decref(m2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(stats_rows_match_webhooks),
      cmocka_unit_test(bounce_matches),
      cmocka_unit_test(history_reply_matches),
      cmocka_unit_test(state_backfills_match),
      cmocka_unit_test(what_the_rule_separates_and_merges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
