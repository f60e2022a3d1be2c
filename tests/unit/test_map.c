/* Unit tests of lib/hubspot/hs_map: each shared sample payload maps to the
 * properties and engagement docs/mapping.md documents; merge; names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hs_map.h"
#include "hs_text.h"
#include "ls_event.h"
#include "ls_fixture.h"

typedef struct {
  json_t *root;
  ls_event ev;
  hs_mapped m;
} mapped;

static void map_sample(const char *name, const hs_map_opts *o, mapped *out) {
  out->root = ls_fixture(name);
  ls_fixture_identify(out->root, &out->ev);
  char es[256];
  assert_int_equal(hs_map_event(out->root, &out->ev,
                                out->ev.event_time_us ? out->ev.event_time_us
                                                      : 1700000000000000LL,
                                o, &out->m, es, sizeof es),
                   LS_OK);
}

static void done(mapped *x) {
  hs_mapped_clear(&x->m);
  json_decref(x->root);
}

static const char *prop(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_email_sent(void **st) {
  mapped x;
  map_sample("EMAIL_SENT", NULL, &x);
  assert_string_equal(x.m.email, "jane.doe@acme-example.com");
  /* Names are create-only (to_name may be an alias). */
  assert_null(prop(x.m.contact, "firstname"));
  assert_string_equal(prop(x.m.names, "firstname"), "Jane");
  assert_string_equal(prop(x.m.names, "lastname"), "Doe");
  assert_string_equal(prop(x.m.first_touch, "firstname"), "Jane");
  assert_string_equal(prop(x.m.contact, "smartlead_last_event"), "EMAIL_SENT");
  assert_string_equal(prop(x.m.contact, "smartlead_last_sent_at"),
                      "2025-03-28T08:15:00.123Z");
  assert_string_equal(prop(x.m.contact, "smartlead_sequence_step"), "1");
  assert_string_equal(prop(x.m.contact, "smartlead_lead_id"), "2758494567");
  assert_int_equal(x.m.eng, HS_ENG_EMAIL);
  assert_string_equal(prop(x.m.eng_props, "hs_email_direction"), "EMAIL");
  assert_string_equal(prop(x.m.eng_props, "hs_email_status"), "SENT");
  assert_string_equal(prop(x.m.eng_props, HS_EVENT_ID_PROP), x.ev.event_id);
  json_t *h = json_loads(prop(x.m.eng_props, "hs_email_headers"), 0, NULL);
  assert_non_null(h);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(h, "from"), "email")),
      "alex@outreach-example.com");
  json_decref(h);
  assert_string_equal(prop(x.m.first_touch, HS_FIRST_TOUCH_PROP),
                      "Q2 SaaS Outreach");
  done(&x);
}

static void test_reply_is_incoming(void **st) {
  mapped x;
  map_sample("EMAIL_REPLY", NULL, &x);
  assert_int_equal(x.m.eng, HS_ENG_EMAIL);
  assert_string_equal(prop(x.m.eng_props, "hs_email_direction"),
                      "INCOMING_EMAIL");
  assert_non_null(
      strstr(prop(x.m.eng_props, "hs_email_text"), "send times for next week"));
  json_t *h = json_loads(prop(x.m.eng_props, "hs_email_headers"), 0, NULL);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(h, "from"), "email")),
      "jane.doe@acme-example.com");
  json_decref(h);
  assert_string_equal(prop(x.m.contact, "smartlead_last_replied_at"),
                      "2025-03-28T09:35:01.000Z");
  done(&x);
}

static void test_untracked_reply_sender(void **st) {
  mapped x;
  map_sample("UNTRACKED_REPLIES", NULL, &x);
  assert_string_equal(x.m.email, "sam.lee@randomco-example.com");
  assert_string_equal(prop(x.m.names, "firstname"), "Sam");
  assert_string_equal(prop(x.m.names, "lastname"), "Lee");
  assert_null(prop(x.m.contact, "smartlead_campaign_id"));
  assert_string_equal(prop(x.m.eng_props, "hs_email_direction"),
                      "INCOMING_EMAIL");
  done(&x);
}

static void test_bounce(void **st) {
  mapped x;
  map_sample("EMAIL_BOUNCE", NULL, &x);
  assert_string_equal(prop(x.m.contact, "smartlead_bounced"), "true");
  assert_string_equal(prop(x.m.eng_props, "hs_email_status"), "BOUNCED");
  assert_non_null(
      strstr(prop(x.m.eng_props, "hs_email_text"), "Address not found"));
  /* Entities decoded in plain text; the bounce timed at its arrival. */
  assert_non_null(
      strstr(prop(x.m.eng_props, "hs_email_text"), "wasn't delivered"));
  assert_string_equal(prop(x.m.eng_props, "hs_timestamp"),
                      "2025-03-28T08:20:59.000Z");
  done(&x);
}

static void test_category_note_and_lead_data(void **st) {
  mapped x;
  map_sample("LEAD_CATEGORY_UPDATED", NULL, &x);
  assert_int_equal(x.m.eng, HS_ENG_NOTE);
  const char *body = prop(x.m.eng_props, "hs_note_body");
  assert_non_null(strstr(body, "(none)"));
  assert_non_null(strstr(body, "Meeting Request"));
  assert_string_equal(prop(x.m.contact, "smartlead_lead_category"),
                      "Meeting Request");
  assert_string_equal(prop(x.m.contact, "company"), "Acme");
  assert_string_equal(prop(x.m.contact, "website"), "acme-example.com");
  assert_string_equal(prop(x.m.contact, "smartlead_linkedin_url"),
                      "https://www.linkedin.com/in/jane-doe-example");
  assert_null(prop(x.m.contact, "phone")); /* null in the payload */
  done(&x);
}

static void test_unsubscribe_note(void **st) {
  mapped x;
  map_sample("LEAD_UNSUBSCRIBED", NULL, &x);
  assert_int_equal(x.m.eng, HS_ENG_NOTE);
  assert_string_equal(prop(x.m.contact, "smartlead_unsubscribed"), "true");
  assert_string_equal(prop(x.m.contact, "smartlead_sequence_step"), "2");
  done(&x);
}

static void test_manual_step_task(void **st) {
  mapped x;
  map_sample("MANUAL_STEP_REACHED", NULL, &x);
  assert_int_equal(x.m.eng, HS_ENG_TASK);
  assert_non_null(strstr(prop(x.m.eng_props, "hs_task_subject"), "step 2"));
  assert_string_equal(prop(x.m.eng_props, "hs_task_status"), "NOT_STARTED");
  assert_int_equal(hs_eng_assoc_type(HS_ENG_TASK), 204);
  done(&x);
}

static void test_open_click_props_only_unless_notes(void **st) {
  mapped x;
  map_sample("EMAIL_OPEN", NULL, &x);
  assert_int_equal(x.m.eng, HS_ENG_NONE);
  assert_string_equal(prop(x.m.contact, "smartlead_last_opened_at"),
                      "2025-03-28T09:02:41.618Z");
  done(&x);
  hs_map_opts o = {.opens_as_notes = true, .clicks_as_notes = true};
  map_sample("EMAIL_OPEN", &o, &x);
  assert_int_equal(x.m.eng, HS_ENG_NOTE);
  done(&x);
  map_sample("EMAIL_LINK_CLICK", NULL, &x);
  assert_int_equal(x.m.eng, HS_ENG_NONE);
  assert_string_equal(prop(x.m.contact, "smartlead_last_clicked_link"),
                      "https://outreach-example.com/demo");
  done(&x);
  map_sample("EMAIL_LINK_CLICK", &o, &x);
  assert_int_equal(x.m.eng, HS_ENG_NOTE);
  assert_non_null(
      strstr(prop(x.m.eng_props, "hs_note_body"), "outreach-example.com/demo"));
  done(&x);
}

static void test_campaign_status_writes_nothing(void **st) {
  mapped x;
  map_sample("CAMPAIGN_STATUS_CHANGED", NULL, &x);
  assert_null(x.m.contact);
  assert_int_equal(x.m.eng, HS_ENG_NONE);
  done(&x);
}

static void test_merge_newest_wins(void **st) {
  json_t *dst = json_object(), *times = json_object();
  json_t *a = json_pack("{s:s,s:s}", "smartlead_last_event", "EMAIL_OPEN",
                        "smartlead_campaign_name", "A");
  json_t *b = json_pack("{s:s,s:s}", "smartlead_last_event", "EMAIL_REPLY",
                        "firstname", "Jane");
  json_t *c = json_pack("{s:s,s:s}", "smartlead_last_event", "EMAIL_SENT",
                        "smartlead_campaign_name", "Old");
  hs_props_merge(dst, times, a, 200);
  hs_props_merge(dst, times, b, 300);
  hs_props_merge(dst, times, c, 100);
  assert_string_equal(prop(dst, "smartlead_last_event"), "EMAIL_REPLY");
  assert_string_equal(prop(dst, "smartlead_campaign_name"), "A");
  assert_string_equal(prop(dst, "firstname"), "Jane");
  json_decref(a);
  json_decref(b);
  json_decref(c);
  json_decref(dst);
  json_decref(times);
}

static void test_split_name(void **st) {
  char f[64], l[64];
  hs_split_name("  Jane Q. Doe ", f, sizeof f, l, sizeof l);
  assert_string_equal(f, "Jane");
  assert_string_equal(l, "Q. Doe");
  hs_split_name("Cher", f, sizeof f, l, sizeof l);
  assert_string_equal(f, "Cher");
  assert_string_equal(l, "");
  hs_split_name(NULL, f, sizeof f, l, sizeof l);
  assert_string_equal(f, "");
}

static void test_property_catalogue(void **st) {
  size_t n;
  const hs_prop_def *d = hs_map_properties(&n);
  int contacts = 0, event_ids = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(d[i].object, "contacts"))
      contacts++;
    if (!strcmp(d[i].name, HS_EVENT_ID_PROP))
      event_ids++;
    assert_true(!strncmp(d[i].name, "smartlead_", 10) ||
                !strcmp(d[i].name, HS_EVENT_ID_PROP));
  }
  assert_true(contacts >= 15);
  assert_int_equal(event_ids, 3); /* emails, notes, tasks */
}

/* Packing a mapping and unpacking it gives trees that write the same
 * bytes (the request bodies are built from them), for every sample with
 * and without notes; a NULL tree stays NULL; clear frees a packed one. */
static char *dump(const json_t *j) {
  return j ? json_dumps(j, JSON_COMPACT) : NULL;
}

static void test_pack_round_trip(void **st) {
  (void)st;
  static const char *const samples[] = {
      "EMAIL_SENT",        "FIRST_EMAIL_SENT",    "EMAIL_OPEN",
      "EMAIL_LINK_CLICK",  "EMAIL_REPLY",         "EMAIL_REPLY_THREADED",
      "EMAIL_BOUNCE",      "LEAD_UNSUBSCRIBED",   "LEAD_CATEGORY_UPDATED",
      "UNTRACKED_REPLIES", "MANUAL_STEP_REACHED", "CAMPAIGN_STATUS_CHANGED"};
  for (int notes = 0; notes < 2; notes++)
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
      hs_map_opts o = {.opens_as_notes = notes, .clicks_as_notes = notes};
      mapped x;
      memset(&x, 0, sizeof x);
      map_sample(samples[s], &o, &x);
      json_t *before[5] = {x.m.contact, x.m.first_touch, x.m.names,
                           x.m.truncated, x.m.eng_props};
      char *want[5];
      for (int i = 0; i < 5; i++)
        want[i] = dump(before[i]);
      assert_int_equal(hs_mapped_pack(&x.m), LS_OK);
      assert_non_null(x.m.packed);
      assert_null(x.m.contact);
      assert_null(x.m.eng_props);
      if (s % 2) { /* clear frees a packed mapping (ASan: no leak) */
        for (int i = 0; i < 5; i++)
          free(want[i]);
        done(&x);
        continue;
      }
      assert_int_equal(hs_mapped_unpack(&x.m), LS_OK);
      assert_null(x.m.packed);
      json_t *after[5] = {x.m.contact, x.m.first_touch, x.m.names,
                          x.m.truncated, x.m.eng_props};
      for (int i = 0; i < 5; i++) {
        char *got = dump(after[i]);
        assert_true((want[i] == NULL) == (got == NULL));
        if (want[i])
          assert_string_equal(got, want[i]);
        free(got);
        free(want[i]);
      }
      assert_int_equal(hs_mapped_unpack(&x.m), LS_OK); /* not packed: no-op */
      done(&x);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_email_sent),
      cmocka_unit_test(test_reply_is_incoming),
      cmocka_unit_test(test_untracked_reply_sender),
      cmocka_unit_test(test_bounce),
      cmocka_unit_test(test_category_note_and_lead_data),
      cmocka_unit_test(test_unsubscribe_note),
      cmocka_unit_test(test_manual_step_task),
      cmocka_unit_test(test_open_click_props_only_unless_notes),
      cmocka_unit_test(test_campaign_status_writes_nothing),
      cmocka_unit_test(test_merge_newest_wins),
      cmocka_unit_test(test_split_name),
      cmocka_unit_test(test_property_catalogue),
      cmocka_unit_test(test_pack_round_trip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
