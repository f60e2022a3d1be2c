/* Unit tests of the real-world variation rules (docs/mapping.md "Text
 * rules"): bodies fitted to HubSpot's limit, entities, addresses, junk
 * senders, and the mapping of payloads that carry them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_map.h"
#include "hs_ratelimit.h"
#include "hs_text.h"
#include "ls_event.h"
#include "ls_fixture.h"

static bool valid_utf8(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    int n = *p < 0x80         ? 1
            : (*p >> 5) == 6  ? 2
            : (*p >> 4) == 14 ? 3
            : (*p >> 3) == 30 ? 4
                              : 0;
    if (!n)
      return false;
    for (int i = 1; i < n; i++)
      if ((p[i] & 0xC0) != 0x80)
        return false;
    p += n;
  }
  return true;
}

static void test_fit_short_is_untouched(void **st) {
  assert_null(hs_text_fit("hello", 100, false));
}

static void test_fit_utf8_boundary(void **st) {
  /* 3-byte characters: a byte budget can land inside one. */
  size_t n = 3000;
  char *s = malloc(n * 3 + 1);
  for (size_t i = 0; i < n; i++)
    memcpy(s + i * 3, "\xe2\x82\xac", 3); /* EURO SIGN */
  s[n * 3] = '\0';
  for (size_t max = 1000; max < 1010; max++) {
    char *c = hs_text_fit(s, max, false);
    assert_non_null(c);
    assert_true(strlen(c) <= max);
    assert_true(valid_utf8(c));
    assert_non_null(strstr(c, HS_TRUNC_MARK_TEXT));
    free(c);
  }
  free(s);
}

static void test_fit_keeps_reply_above_quote(void **st) {
  const char *reply = "Sounds good, let's talk Tuesday.\n\n";
  size_t qn = 200000;
  size_t cap = strlen(reply) + qn + 64;
  char *s = malloc(cap);
  assert_non_null(s);
  int w = snprintf(s, cap,
                   "%sOn Mon, 2 Jun 2025 at 09:00, Alex "
                   "<alex@x.com> wrote:\n",
                   reply);
  assert_true(w > 0 && (size_t)w + qn < cap);
  size_t l = (size_t)w;
  for (size_t i = 0; i < qn; i += 10)
    memcpy(s + l + i, "> quoted.\n", 10);
  s[l + qn] = '\0';
  char *c = hs_text_fit(s, HS_BODY_MAX_BYTES, false);
  assert_non_null(c);
  assert_true(!strncmp(c, reply, strlen(reply)));
  assert_null(strstr(c, "> quoted."));
  assert_non_null(strstr(c, HS_TRUNC_MARK_TEXT));
  free(c);
  free(s);
}

static void test_fit_html_not_inside_tag(void **st) {
  size_t n = 100000;
  char *s = malloc(n + 1);
  for (size_t i = 0; i < n; i += 20)
    memcpy(s + i, "<div>abcdefghij</div>", 20);
  s[n] = '\0';
  char *c = hs_text_fit(s, 5003, true);
  assert_non_null(c);
  const char *mark = strstr(c, "<p>" HS_TRUNC_MARK_TEXT);
  assert_non_null(mark);
  /* The character before the marker ends a tag or text, never "<di". */
  size_t k = (size_t)(mark - c);
  for (size_t i = k; i-- > 0;) {
    if (c[i] == '>')
      break;
    assert_true(c[i] != '<');
  }
  free(c);
  free(s);
}

static void test_entities(void **st) {
  char *d =
      hs_text_decode_entities("wasn&#39;t &amp; &lt;b&gt; &#x20AC; &euro");
  assert_non_null(d);
  assert_string_equal(d, "wasn't & <b> \xe2\x82\xac &euro");
  free(d);
  assert_null(hs_text_decode_entities("no refs here"));
}

static void test_addresses(void **st) {
  char a[256], n[256];
  assert_true(
      hs_text_address("Sam Lee <Sam.Lee@X.com>", a, sizeof a, n, sizeof n));
  assert_string_equal(a, "sam.lee@x.com");
  assert_string_equal(n, "Sam Lee");
  assert_true(
      hs_text_address("\"Doe, Jane\" <jane@y.com>", a, sizeof a, n, sizeof n));
  assert_string_equal(a, "jane@y.com");
  assert_string_equal(n, "Doe, Jane");
  assert_true(hs_text_address("  plain@z.com ", a, sizeof a, NULL, 0));
  assert_string_equal(a, "plain@z.com");
  assert_false(hs_text_address("MAILER-DAEMON", a, sizeof a, NULL, 0));
  assert_string_equal(a, "");

  json_t *v = json_string("a@x.com, \"Doe, Jane\" <jane@y.com>; bad, c@z.com");
  json_t *l = hs_text_address_list(v);
  assert_int_equal(json_array_size(l), 3);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(l, 1), "email")),
      "jane@y.com");
  json_decref(l);
  json_decref(v);
}

static void test_junk_senders(void **st) {
  assert_string_equal(hs_text_junk_sender("MAILER-DAEMON", NULL, NULL),
                      "sender_no_address");
  assert_string_equal(
      hs_text_junk_sender("Mail Delivery <MAILER-DAEMON@x.com>", NULL, NULL),
      "sender_mailer_daemon");
  assert_string_equal(hs_text_junk_sender("postmaster@x.com", NULL, NULL),
                      "sender_postmaster");
  assert_string_equal(
      hs_text_junk_sender("noreply-dmarc-support@google.com", NULL, NULL),
      "sender_no_reply");
  assert_string_equal(hs_text_junk_sender("sam@x.com", "auto-replied", NULL),
                      "auto_submitted");
  assert_null(hs_text_junk_sender("sam@x.com", "no", NULL));
  const char *const pats[] = {"@bounces.", NULL};
  assert_string_equal(hs_text_junk_sender("x@bounces.y.com", NULL, pats),
                      "sender_pattern");
  assert_null(hs_text_junk_sender("Sam Lee <sam@x.com>", NULL, pats));
}

/* -- mapping of varied payloads ------------------------------------------ */

static void map_root(json_t *root, ls_event *ev, hs_mapped *m) {
  ls_fixture_identify(root, ev);
  char es[256];
  assert_int_equal(
      hs_map_event(root, ev,
                   ev->event_time_us ? ev->event_time_us : 1700000000000000LL,
                   NULL, m, es, sizeof es),
      LS_OK);
}

static const char *prop(const json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_long_reply_is_truncated(void **st) {
  json_t *root = ls_fixture("EMAIL_REPLY");
  size_t n = 300000;
  char *html = malloc(n + 200);
  assert_non_null(html);
  int w = snprintf(html, n + 200, "%s",
                   "<div>Yes, Tuesday works \xc3\xa9.</div>"
                   "<div class=\"gmail_quote\">");
  assert_true(w > 0 && (size_t)w < n);
  size_t l = (size_t)w;
  for (size_t i = l; i < n; i++)
    html[i] = 'q';
  html[n] = '\0';
  json_object_set_new(json_object_get(root, "reply_message"), "html",
                      json_string(html));
  ls_event ev;
  hs_mapped m;
  map_root(root, &ev, &m);
  const char *h = prop(m.eng_props, "hs_email_html");
  assert_true(strlen(h) <= HS_BODY_MAX_BYTES);
  assert_non_null(strstr(h, "Tuesday works"));
  assert_null(strstr(h, "gmail_quote"));
  assert_non_null(strstr(h, HS_TRUNC_MARK_TEXT));
  assert_non_null(m.truncated);
  assert_string_equal(json_string_value(json_array_get(m.truncated, 0)),
                      "hs_email_html");
  hs_mapped_clear(&m);
  json_decref(root);
  free(html);
}

static void test_untracked_junk_is_filtered(void **st) {
  json_t *root = ls_fixture("UNTRACKED_REPLIES");
  json_object_set_new(root, "sender_detail",
                      json_string("Mail Delivery Subsystem "
                                  "<mailer-daemon@googlemail.com>"));
  ls_event ev;
  hs_mapped m;
  map_root(root, &ev, &m);
  assert_null(m.contact);
  assert_string_equal(m.filtered, "sender_mailer_daemon");
  hs_mapped_clear(&m);
  json_object_set_new(root, "sender_detail", json_string("MAILER-DAEMON"));
  map_root(root, &ev, &m);
  assert_null(m.contact);
  assert_string_equal(m.filtered, "sender_no_address");
  hs_mapped_clear(&m);
  json_decref(root);
}

static void test_junk_options(void **st) {
  json_t *root = ls_fixture("UNTRACKED_REPLIES");
  json_object_set_new(root, "sender_detail",
                      json_string("Alerts <alerts@bounces.vendor.com>"));
  ls_event ev;
  ls_fixture_identify(root, &ev);
  json_t *pats = json_pack("[s]", "@bounces.");
  hs_map_opts o = {.junk_senders = pats};
  hs_mapped m;
  char es[128];
  assert_int_equal(hs_map_event(root, &ev, 1, &o, &m, es, sizeof es), LS_OK);
  assert_string_equal(m.filtered, "sender_pattern");
  hs_mapped_clear(&m);
  json_object_set_new(root, "sender_detail", json_string("MAILER-DAEMON"));
  o.keep_junk = true;
  assert_int_equal(hs_map_event(root, &ev, 1, &o, &m, es, sizeof es), LS_OK);
  assert_null(m.filtered);
  hs_mapped_clear(&m);
  json_decref(pats);
  json_decref(root);
}

static void test_cc_split_and_named_to(void **st) {
  json_t *root = ls_fixture("UNTRACKED_REPLIES");
  json_object_set_new(root, "cc", json_string("a@x.com, B Bee <b@y.com>"));
  json_object_set_new(root, "recipient_detail",
                      json_string("Alex <Alex@Outreach-Example.com>"));
  ls_event ev;
  hs_mapped m;
  map_root(root, &ev, &m);
  json_t *h = json_loads(prop(m.eng_props, "hs_email_headers"), 0, NULL);
  assert_non_null(h);
  assert_int_equal(json_array_size(json_object_get(h, "cc")), 2);
  json_t *to = json_array_get(json_object_get(h, "to"), 0);
  assert_string_equal(json_string_value(json_object_get(to, "email")),
                      "alex@outreach-example.com");
  assert_string_equal(json_string_value(json_object_get(to, "firstName")),
                      "Alex");
  json_decref(h);
  hs_mapped_clear(&m);
  json_decref(root);

  root = ls_fixture("EMAIL_SENT");
  json_object_set_new(root, "to_email",
                      json_string("Jane Doe <Jane.Doe@Acme-Example.com>"));
  map_root(root, &ev, &m);
  assert_string_equal(ev.lead_email, "jane.doe@acme-example.com");
  assert_string_equal(m.email, "jane.doe@acme-example.com");
  hs_mapped_clear(&m);
  json_decref(root);
}

/* -- the second payload shape --------------------------------------------- */

static void v2(const char *name, ls_event *ev, hs_mapped *m, json_t **root) {
  char path[256];
  snprintf(path, sizeof path, "tests/fixtures/smartlead-v2/%s.json", name);
  *root = json_load_file(path, 0, NULL);
  assert_non_null(*root);
  map_root(*root, ev, m);
}

static void test_second_shape(void **st) {
  static const struct {
    const char *file, *type, *email, *time;
  } want[] = {
      {"EMAIL_REPLIED", "EMAIL_REPLY", "v2.reply@lead-example.com",
       "2024-11-25T11:00:00.000000Z"},
      {"EMAIL_REPLIED_event_type", "EMAIL_REPLY",
       "alex.v2@acmecorp-example.com", "2025-01-15T14:32:00.000000Z"},
      {"EMAIL_SENT", "EMAIL_SENT", "v2.sent@lead-example.com",
       "2024-11-25T09:00:00.000000Z"},
      {"EMAIL_OPENED", "EMAIL_OPEN", "v2.sent@lead-example.com",
       "2024-11-25T10:30:00.000000Z"},
      {"EMAIL_CLICKED", "EMAIL_LINK_CLICK", "v2.sent@lead-example.com",
       "2024-11-25T10:45:00.000000Z"},
      {"EMAIL_BOUNCED", "EMAIL_BOUNCE", "v2.bounce@lead-example.com",
       "2024-11-25T09:01:00.000000Z"},
      {"EMAIL_UNSUBSCRIBED", "LEAD_UNSUBSCRIBED", "v2.unsub@lead-example.com",
       "2024-11-25T12:00:00.000000Z"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    ls_event ev;
    hs_mapped m;
    json_t *root;
    v2(want[i].file, &ev, &m, &root);
    assert_string_equal(ev.type_name, want[i].type);
    assert_string_equal(ev.lead_email, want[i].email);
    assert_string_equal(ev.event_time, want[i].time);
    assert_string_equal(m.email, want[i].email);
    assert_string_equal(prop(m.contact, "smartlead_last_event"), want[i].type);
    char topic[64];
    snprintf(topic, sizeof topic, "smartlead.%s", ls_event_type_slug(ev.type));
    assert_string_equal(ev.topic, topic);
    if (!strcmp(want[i].file, "EMAIL_REPLIED")) {
      assert_int_equal(m.eng, HS_ENG_EMAIL);
      assert_string_equal(prop(m.eng_props, "hs_email_direction"),
                          "INCOMING_EMAIL");
      assert_string_equal(prop(m.eng_props, "hs_email_subject"),
                          "Re: Quick question");
      assert_string_equal(prop(m.eng_props, "hs_email_text"),
                          "Thanks for reaching out & yes, let's talk next "
                          "week.");
      assert_string_equal(prop(m.names, "firstname"), "John");
      assert_string_equal(prop(m.contact, "company"), "Acme Corp");
      assert_string_equal(prop(m.contact, "smartlead_lead_id"), "789");
      assert_string_equal(prop(m.contact, "smartlead_campaign_id"), "123");
    }
    if (!strcmp(want[i].file, "EMAIL_CLICKED"))
      assert_string_equal(prop(m.contact, "smartlead_last_clicked_link"),
                          "https://example.com/demo");
    if (!strcmp(want[i].file, "EMAIL_REPLIED_event_type"))
      assert_string_equal(prop(m.contact, "smartlead_lead_id"), "67890");
    hs_mapped_clear(&m);
    json_decref(root);
  }
  /* The same occurrence twice has one id; an unknown second-shape type
   * stays unknown. */
  json_t *a =
      json_load_file("tests/fixtures/smartlead-v2/EMAIL_SENT.json", 0, NULL);
  ls_event e1, e2;
  assert_int_equal(ls_event_identify(a, "x", 1, "demo", "smartlead.", &e1),
                   LS_OK);
  assert_int_equal(ls_event_identify(a, "y", 1, "demo", "smartlead.", &e2),
                   LS_OK);
  assert_string_equal(e1.event_id, e2.event_id);
  json_object_set_new(a, "event", json_string("MEETING_BOOKED"));
  assert_int_equal(ls_event_identify(a, "x", 1, "demo", "smartlead.", &e1),
                   LS_OK);
  assert_int_equal(e1.type, LS_EV_UNKNOWN);
  assert_string_equal(e1.topic, "smartlead.unknown");
  json_decref(a);
}

static void test_daily_reset_in_portal_time_zone(void **st) {
  hs_limiter_conf c = {
      .per_window = 100, .window_ms = 10000, .daily = 10, .search_per_s = 5};
  hs_limiter *l = hs_limiter_new(&c);
  /* 2025-06-02T05:00:00Z: 22:00 the day before in Los Angeles (UTC-7). */
  int64_t now = 1748840400LL * 1000000;
  assert_int_equal(hs_limiter_until_midnight_us(l, now),
                   19LL * 3600 * 1000000); /* UTC midnight: 19 h away */
  hs_limiter_set_utc_offset(l, -7LL * 3600 * 1000);
  assert_int_equal(hs_limiter_until_midnight_us(l, now),
                   2LL * 3600 * 1000000);          /* LA midnight: 2 h away */
  hs_limiter_set_utc_offset(l, 330LL * 60 * 1000); /* India, UTC+5:30 */
  assert_int_equal(hs_limiter_until_midnight_us(l, now),
                   (24LL * 3600 - (10 * 3600 + 30 * 60)) *
                       1000000); /* 10:30 local: 13.5 h to midnight */
  hs_limiter_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fit_short_is_untouched),
      cmocka_unit_test(test_fit_utf8_boundary),
      cmocka_unit_test(test_fit_keeps_reply_above_quote),
      cmocka_unit_test(test_fit_html_not_inside_tag),
      cmocka_unit_test(test_entities),
      cmocka_unit_test(test_addresses),
      cmocka_unit_test(test_junk_senders),
      cmocka_unit_test(test_long_reply_is_truncated),
      cmocka_unit_test(test_untracked_junk_is_filtered),
      cmocka_unit_test(test_cc_split_and_named_to),
      cmocka_unit_test(test_junk_options),
      cmocka_unit_test(test_daily_reset_in_portal_time_zone),
      cmocka_unit_test(test_second_shape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
