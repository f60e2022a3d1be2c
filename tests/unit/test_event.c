/* test_event: topic, key, lead e-mail, times and event ids
 * (lib/model/ls_event.c) for every shared Smartlead sample and the known traps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_event.h"
#include "ls_fixture.h"
#include "ls_time.h"

typedef struct {
  const char *file, *type, *topic, *key, *lead, *time;
} expect;

/* What every shared sample must route to. */
static const expect samples[] = {
    {"EMAIL_SENT", "EMAIL_SENT", "smartlead.email_sent",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T08:15:00.123000Z"},
    {"FIRST_EMAIL_SENT", "FIRST_EMAIL_SENT", "smartlead.first_email_sent",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T08:15:00.123000Z"},
    {"EMAIL_OPEN", "EMAIL_OPEN", "smartlead.email_open",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T09:02:41.618881Z"},
    {"EMAIL_LINK_CLICK", "EMAIL_LINK_CLICK", "smartlead.email_link_click",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T09:04:12.220104Z"},
    {"EMAIL_REPLY", "EMAIL_REPLY", "smartlead.email_reply",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T09:35:01.000000Z"},
    {"EMAIL_REPLY_THREADED", "EMAIL_REPLY", "smartlead.email_reply",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T11:47:19.000000Z"},
    {"EMAIL_BOUNCE", "EMAIL_BOUNCE", "smartlead.email_bounce",
     "demo:1234567:j.smith@nonexistent-example.com",
     "j.smith@nonexistent-example.com", "2025-03-28T08:20:58.023000Z"},
    {"LEAD_UNSUBSCRIBED", "LEAD_UNSUBSCRIBED", "smartlead.lead_unsubscribed",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-29T14:46:19.940000Z"},
    {"LEAD_CATEGORY_UPDATED", "LEAD_CATEGORY_UPDATED",
     "smartlead.lead_category_updated",
     "demo:1234567:jane.doe@acme-example.com", "jane.doe@acme-example.com",
     "2025-03-28T09:36:10.512000Z"},
    {"CAMPAIGN_STATUS_CHANGED", "CAMPAIGN_STATUS_CHANGED",
     "smartlead.campaign_status_changed", "demo:1234567:-", "", ""},
    {"UNTRACKED_REPLIES", "UNTRACKED_REPLIES", "smartlead.untracked_replies",
     "demo:-:sam.lee@randomco-example.com", "sam.lee@randomco-example.com",
     "2025-03-30T05:24:33.353000Z"},
    {"MANUAL_STEP_REACHED", "MANUAL_STEP_REACHED",
     "smartlead.manual_step_reached", "demo:1234567:jane.doe@acme-example.com",
     "jane.doe@acme-example.com", ""},
};

static void every_sample_routes(void **state) {
  (void)state;
  char ids[sizeof samples / sizeof samples[0]][33];
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    const expect *e = &samples[i];
    json_t *j = ls_fixture(e->file);
    ls_event ev;
    ls_fixture_identify(j, &ev);
    print_message("%s -> %s %s %s\n", e->file, ev.topic, ev.key, ev.event_id);
    assert_string_equal(ev.type_name, e->type);
    assert_string_equal(ev.topic, e->topic);
    assert_string_equal(ev.key, e->key);
    assert_string_equal(ev.lead_email, e->lead);
    assert_string_equal(ev.event_time, e->time);
    assert_int_equal(strlen(ev.event_id), 32);
    char ce[LS_TOPIC_MAX];
    snprintf(ce, sizeof ce, "ai.%s", e->topic);
    assert_string_equal(ev.ce_type, ce);
    memcpy(ids[i], ev.event_id, 33);
    for (size_t k = 0; k < i; k++)
      assert_string_not_equal(ids[k], ids[i]);
    json_decref(j);
  }
}

static void same_occurrence_same_id(void **state) {
  (void)state;
  json_t *a = ls_fixture("EMAIL_OPEN");
  json_t *b = ls_fixture("EMAIL_OPEN");
  /* A re-delivery may differ in key order and in fields that do not
   * identify the occurrence (description, webhook name). */
  json_object_set_new(b, "description", json_string("re-sent"));
  json_object_set_new(b, "webhook_name", json_string("renamed"));
  ls_event ea, eb;
  ls_fixture_identify(a, &ea);
  ls_fixture_identify(b, &eb);
  assert_string_equal(ea.event_id, eb.event_id);
  /* A second open of the same email later is another occurrence. */
  json_object_set_new(b, "event_timestamp",
                      json_string("2025-03-28T10:00:00+00:00"));
  ls_fixture_identify(b, &eb);
  assert_string_not_equal(ea.event_id, eb.event_id);
  /* Another tenant: another id. */
  char *body = json_dumps(a, JSON_COMPACT);
  ls_event ec;
  ls_event_identify(a, body, strlen(body), "other", "smartlead.", &ec);
  free(body);
  assert_string_not_equal(ea.event_id, ec.event_id);
  assert_string_equal(ec.key, "other:1234567:jane.doe@acme-example.com");
  json_decref(a);
  json_decref(b);
}

static void open_and_click_differ(void **state) {
  (void)state;
  json_t *o = ls_fixture("EMAIL_OPEN");
  json_t *k = ls_fixture("EMAIL_LINK_CLICK");
  /* Same email, same stats id, same instant: still two occurrences. */
  json_object_set(k, "event_timestamp", json_object_get(o, "event_timestamp"));
  ls_event eo, ek;
  ls_fixture_identify(o, &eo);
  ls_fixture_identify(k, &ek);
  assert_string_not_equal(eo.event_id, ek.event_id);
  assert_string_equal(eo.key, ek.key);
  json_decref(o);
  json_decref(k);
}

static void ids_64_bit_and_strings(void **state) {
  (void)state;
  char out[64];
  json_t *big = json_integer(3375350255LL);
  ls_json_id(big, out, sizeof out);
  assert_string_equal(out, "3375350255");
  json_decref(big);
  json_t *huge = json_integer(9007199254740993LL);
  ls_json_id(huge, out, sizeof out);
  assert_string_equal(out, "9007199254740993");
  json_decref(huge);
  json_t *s = json_string("4155843310");
  ls_json_id(s, out, sizeof out);
  assert_string_equal(out, "4155843310");
  json_decref(s);
  ls_json_id(json_null(), out, sizeof out);
  assert_string_equal(out, "");

  /* campaign_id as a string routes like the number; a 64-bit map id as a
   * number or as a string gives the same event id. */
  json_t *a = ls_fixture("EMAIL_SENT");
  json_t *b = ls_fixture("EMAIL_SENT");
  json_object_set_new(a, "sl_email_lead_map_id", json_integer(3375350255LL));
  json_object_set_new(b, "sl_email_lead_map_id", json_string("3375350255"));
  json_object_set_new(b, "campaign_id", json_string("1234567"));
  ls_event ea, eb;
  ls_fixture_identify(a, &ea);
  ls_fixture_identify(b, &eb);
  assert_string_equal(ea.key, eb.key);
  assert_string_equal(ea.event_id, eb.event_id);
  json_decref(a);
  json_decref(b);
}

static void reply_from_email_is_our_mailbox(void **state) {
  (void)state;
  json_t *j = ls_fixture("EMAIL_REPLY");
  ls_event ev;
  /* Only from_email left: it is our mailbox, never taken as the lead. */
  json_object_del(j, "sl_lead_email");
  json_object_del(j, "to_email");
  json_object_del(j, "leadCorrespondence");
  ls_fixture_identify(j, &ev);
  assert_string_equal(ev.lead_email, "");
  assert_string_equal(ev.key, "demo:1234567:-");
  json_decref(j);
  /* leadCorrespondence.targetLeadEmail is enough. */
  j = ls_fixture("EMAIL_REPLY");
  json_object_del(j, "sl_lead_email");
  json_object_del(j, "to_email");
  ls_fixture_identify(j, &ev);
  assert_string_equal(ev.lead_email, "jane.doe@acme-example.com");
  json_decref(j);
}

static void untracked_lead_in_sender_detail(void **state) {
  (void)state;
  static const struct {
    const char *detail, *lead;
  } cases[] = {
      {"Sam Lee <sam.lee@randomco-example.com>",
       "sam.lee@randomco-example.com"},
      {"\"Lee, Sam\" <Sam.Lee@RandomCo-Example.com>",
       "sam.lee@randomco-example.com"},
      {"  sam@x-example.com ", "sam@x-example.com"},
      {"Broken <sam@x-example.com", "sam@x-example.com"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *j = ls_fixture("UNTRACKED_REPLIES");
    json_object_set_new(j, "sender_detail", json_string(cases[i].detail));
    /* recipient_detail is our mailbox: never the lead. */
    ls_event ev;
    ls_fixture_identify(j, &ev);
    assert_string_equal(ev.lead_email, cases[i].lead);
    assert_string_equal(ev.campaign_id, "");
    json_decref(j);
  }
}

static void unsubscribe_without_lead_id(void **state) {
  (void)state;
  json_t *j = ls_fixture("LEAD_UNSUBSCRIBED");
  /* The captured master-inbox variant: no ids, empty from_email. */
  json_object_del(j, "sl_email_lead_id");
  json_object_del(j, "sl_email_lead_map_id");
  json_object_del(j, "lead_email");
  json_object_set_new(j, "from_email", json_string(""));
  ls_event a, b;
  ls_fixture_identify(j, &a);
  assert_string_equal(a.lead_email, "jane.doe@acme-example.com");
  assert_string_equal(a.key, "demo:1234567:jane.doe@acme-example.com");
  ls_fixture_identify(j, &b);
  assert_string_equal(a.event_id, b.event_id);
  json_decref(j);
}

static void email_trimmed_and_lowercased(void **state) {
  (void)state;
  json_t *j = ls_fixture("EMAIL_SENT");
  json_object_set_new(j, "to_email",
                      json_string("  Jane.Doe@ACME-Example.COM\t"));
  ls_event ev;
  ls_fixture_identify(j, &ev);
  assert_string_equal(ev.lead_email, "jane.doe@acme-example.com");
  assert_string_equal(ev.key, "demo:1234567:jane.doe@acme-example.com");
  char out[LS_EMAIL_MAX + 1];
  ls_normalize_email("   ", out, sizeof out);
  assert_string_equal(out, "");
  json_decref(j);
}

static void timestamp_shapes(void **state) {
  (void)state;
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"2025-03-28T09:35:01+00:00", "2025-03-28T09:35:01.000000Z"},
      {"2025-03-28T09:35:01Z", "2025-03-28T09:35:01.000000Z"},
      {"2025-03-28T09:35:01.9Z", "2025-03-28T09:35:01.900000Z"},
      {"2025-03-28T08:20:58.023+00:00", "2025-03-28T08:20:58.023000Z"},
      {"2023-09-25T17:29:11.618881+00:00", "2023-09-25T17:29:11.618881Z"},
      {"2025-03-28T11:35:01.5+02:00", "2025-03-28T09:35:01.500000Z"},
      {"2025-03-28 09:35:01", "2025-03-28T09:35:01.000000Z"},
      {"2025-03-28T09:35:01+0000", "2025-03-28T09:35:01.000000Z"},
      {"not a time", ""},
      {"2025-02-30T00:00:00Z", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *j = ls_fixture("EMAIL_REPLY");
    json_object_set_new(j, "event_timestamp", json_string(cases[i].in));
    ls_event ev;
    ls_fixture_identify(j, &ev);
    assert_string_equal(ev.event_time, cases[i].out);
    json_decref(j);
  }
  /* Deprecated aliases still give a time when event_timestamp is absent. */
  json_t *j = ls_fixture("EMAIL_OPEN");
  json_object_del(j, "event_timestamp");
  ls_event ev;
  ls_fixture_identify(j, &ev);
  assert_string_equal(ev.event_time, "2025-03-28T09:02:41.618881Z");
  json_decref(j);
}

static void unknown_types(void **state) {
  (void)state;
  json_t *j = ls_fixture("EMAIL_SENT");
  json_object_set_new(j, "event_type",
                      json_string("email.account-disconnected"));
  ls_event ev;
  ls_fixture_identify(j, &ev);
  assert_int_equal(ev.type, LS_EV_UNKNOWN);
  assert_string_equal(ev.topic, "smartlead.unknown");
  assert_string_equal(ev.type_name, "EMAILACCOUNTDISCONNECTED");
  assert_string_equal(ev.ce_type, "ai.smartlead.emailaccountdisconnected");
  assert_string_equal(ev.key, "demo:1234567:jane.doe@acme-example.com");
  json_object_set_new(j, "event_type", json_string("!!!"));
  ls_fixture_identify(j, &ev);
  assert_string_equal(ev.type_name, "UNKNOWN");
  json_object_set_new(j, "event_type", json_integer(3));
  char *body = json_dumps(j, JSON_COMPACT);
  assert_int_equal(
      ls_event_identify(j, body, strlen(body), "demo", "smartlead.", &ev),
      LS_ERR_NO_EVENT_TYPE);
  free(body);
  json_decref(j);
}

/* Found while writing these tests: a long raw timestamp or message id
 * overflowed the id's hash input (size_t wrap in add_part). */
static void huge_fields_do_not_overflow(void **state) {
  (void)state;
  size_t n = 20000;
  char *big = malloc(n + 1);
  memset(big, 'a', n);
  big[n] = '\0';
  json_t *j = json_pack("{s:s,s:s,s:s,s:{s:s},s:s}", "event_type", "NEW_TYPE",
                        "event_timestamp", big, "stats_id", big,
                        "reply_message", "message_id", big, "to_email", big);
  ls_event a, b;
  ls_fixture_identify(j, &a);
  assert_string_equal(a.key, "demo:-:-");
  /* Two long values that differ only at the end are two occurrences. */
  big[n - 1] = 'b';
  json_object_set_new(j, "event_timestamp", json_string(big));
  ls_fixture_identify(j, &b);
  assert_string_not_equal(a.event_id, b.event_id);
  json_decref(j);
  free(big);
}

static void no_identifying_fields_uses_body(void **state) {
  (void)state;
  json_t *j = json_pack("{s:s,s:s}", "event_type", "CAMPAIGN_STATUS_CHANGED",
                        "current_status", "ACTIVE");
  ls_event a, b;
  ls_event_identify(j, "body-1", 6, "demo", "smartlead.", &a);
  ls_event_identify(j, "body-2", 6, "demo", "smartlead.", &b);
  assert_string_not_equal(a.event_id, b.event_id);
  json_decref(j);
}

/* Integer ids are written by hand: the same text as "%lld", cut like
 * snprintf in any buffer size, the most negative value included. */
static void integer_ids_match_printf(void **state) {
  (void)state;
  const json_int_t vals[] = {
      0, 7, -7, 1234567, 9223372036854775807LL, -9223372036854775807LL - 1};
  const size_t lens[] = {32, 20, 8, 2, 1};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    json_t *v = json_integer(vals[i]);
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
      char want[32], got[32];
      snprintf(want, lens[j], "%" JSON_INTEGER_FORMAT, vals[i]);
      ls_json_id(v, got, lens[j]);
      assert_string_equal(got, want);
      ls_json_num_id(v, got, lens[j]);
      assert_string_equal(got, vals[i] >= 0 ? want : "");
    }
    json_decref(v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_sample_routes),
      cmocka_unit_test(same_occurrence_same_id),
      cmocka_unit_test(open_and_click_differ),
      cmocka_unit_test(ids_64_bit_and_strings),
      cmocka_unit_test(reply_from_email_is_our_mailbox),
      cmocka_unit_test(untracked_lead_in_sender_detail),
      cmocka_unit_test(unsubscribe_without_lead_id),
      cmocka_unit_test(email_trimmed_and_lowercased),
      cmocka_unit_test(timestamp_shapes),
      cmocka_unit_test(unknown_types),
      cmocka_unit_test(huge_fields_do_not_overflow),
      cmocka_unit_test(no_identifying_fields_uses_body),
      cmocka_unit_test(integer_ids_match_printf),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
