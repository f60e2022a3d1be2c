/* Unit tests for fan-out endpoints (lib/model/ls_endpoint.c) and request bodies
 * (fanout/fo_format.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fo_format.h"
#include "fo_seen.h"
#include "ls_endpoint.h"

/* The published Standard Webhooks example (secret, id, timestamp, body). */
static void signature_matches_the_specification_example(void **state) {
  (void)state;
  ls_endpoint ep;
  memset(&ep, 0, sizeof ep);
  assert_true(ls_whsec_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              ep.secrets[0], &ep.secret_len[0]));
  ep.n_secrets = 1;
  const char *body = "{\"test\": 2432232314}";
  char sig[400];
  ls_webhook_sign(&ep, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330LL, body,
                  strlen(body), sig, sizeof sig);
  assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  /* Rotation: both signatures, space-separated, the current one first. */
  assert_true(ls_whsec_decode("c2Vjb25kLXNlY3JldA==", ep.secrets[1],
                              &ep.secret_len[1]));
  ep.n_secrets = 2;
  ls_webhook_sign(&ep, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330LL, body,
                  strlen(body), sig, sizeof sig);
  assert_non_null(
      strstr(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,"));
}

static void bad_secrets_are_refused(void **state) {
  (void)state;
  unsigned char k[LS_EP_SECRET_MAX];
  size_t n;
  assert_false(ls_whsec_decode("whsec_", k, &n));
  assert_false(ls_whsec_decode("whsec_abc", k, &n)); /* not base64 length */
  assert_false(ls_whsec_decode("whsec_!!!!", k, &n));
  assert_true(ls_whsec_decode("whsec_YWJj", k, &n));
  assert_int_equal(n, 3);
  assert_memory_equal(k, "abc", 3);
}

static bool priv4(const char *ip) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  inet_pton(AF_INET, ip, &a.sin_addr);
  return ls_addr_is_private((struct sockaddr *)&a);
}

static bool priv6(const char *ip) {
  struct sockaddr_in6 a;
  memset(&a, 0, sizeof a);
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return ls_addr_is_private((struct sockaddr *)&a);
}

static void ssrf_guard_classifies_addresses(void **state) {
  (void)state;
  const char *blocked4[] = {"127.0.0.1",       "10.1.2.3",    "172.16.0.1",
                            "172.31.255.255",  "192.168.1.1", "169.254.169.254",
                            "100.64.0.1",      "0.0.0.0",     "224.0.0.1",
                            "255.255.255.255", "198.18.0.1",  NULL};
  for (int i = 0; blocked4[i]; i++)
    assert_true(priv4(blocked4[i]));
  const char *open4[] = {"8.8.8.8", "172.32.0.1",  "100.128.0.1",
                         "1.1.1.1", "192.169.0.1", NULL};
  for (int i = 0; open4[i]; i++)
    assert_false(priv4(open4[i]));
  assert_true(priv6("::1"));
  assert_true(priv6("::"));
  assert_true(priv6("fd00::1"));
  assert_true(priv6("fe80::1"));
  assert_true(priv6("::ffff:127.0.0.1"));
  assert_true(priv6("::ffff:10.0.0.1"));
  assert_true(priv6("64:ff9b::a9fe:a9fe")); /* NAT64 of 169.254.169.254 */
  assert_false(priv6("2606:4700::1111"));
  assert_false(priv6("::ffff:8.8.8.8"));
}

#define CFG_TEXT                                                               \
  "{\"kafka\":{\"bootstrap_servers\":\"127.0.0.1:1\"},\"tenants\":[{"          \
  "\"id\":\"t1\",\"sources\":[],\"hubspot\":{\"base_url\":\"http://h\","       \
  "\"token_env\":\"NOPE_TOKEN\"},\"endpoints\":[%s]}]}"

static ls_err load(const char *eps, ls_endpoint **v, size_t *n, char *err,
                   size_t errlen) {
  char text[4096];
  snprintf(text, sizeof text, CFG_TEXT, eps);
  ls_config *cfg = NULL;
  ls_err e = ls_config_load_text(text, "t.json", &cfg, err, errlen);
  if (e == LS_OK)
    e = ls_endpoints_load(cfg, v, n, err, errlen);
  if (e == LS_OK) {
    for (size_t i = 0; i < *n; i++)
      (*v)[i].tenant = NULL; /* the config goes away below */
  }
  ls_config_free(cfg);
  return e;
}

static void endpoints_load_with_defaults_and_checks(void **state) {
  (void)state;
  ls_endpoint *v = NULL;
  size_t n = 0;
  char err[512];
  setenv("UT_FANOUT_SECRET", "whsec_YWJj whsec_ZGVm", 1);
  assert_int_equal(
      load("{\"id\":\"a\",\"url\":\"https://x.example/h\",\"secret_env\":"
           "\"UT_FANOUT_SECRET\",\"headers\":{\"X-A\":\"1\"}},"
           "{\"id\":\"s\",\"kind\":\"slack\",\"url\":\"http://127.0.0.1:9/\","
           "\"internal\":true}",
           &v, &n, err, sizeof err),
      LS_OK);
  assert_int_equal(n, 2);
  assert_int_equal(v[0].n_secrets, 2);
  assert_int_equal(v[0].max_attempts, 8);
  assert_true(v[0].types[LS_EV_EMAIL_OPEN]);
  assert_string_equal(v[0].headers[0], "X-A: 1");
  assert_false(v[1].types[LS_EV_EMAIL_OPEN]);
  assert_true(v[1].types[LS_EV_EMAIL_REPLY]);
  assert_true(v[1].types[LS_EV_LEAD_CATEGORY_UPDATED]);
  ls_endpoints_free(v, n);

  /* http only when internal */
  assert_int_equal(load("{\"id\":\"a\",\"url\":\"http://x.example/h\"}", &v, &n,
                        err, sizeof err),
                   LS_ERR_CONFIG);
  assert_non_null(strstr(err, "$.tenants[0].endpoints[0].url"));
  /* unique ids */
  assert_int_equal(load("{\"id\":\"a\",\"url\":\"https://x/\"},"
                        "{\"id\":\"a\",\"url\":\"https://y/\"}",
                        &v, &n, err, sizeof err),
                   LS_ERR_CONFIG);
  assert_non_null(strstr(err, "duplicate endpoint id"));
  /* reserved headers, unknown types, unset secrets; no secret in errors */
  assert_int_equal(load("{\"id\":\"a\",\"url\":\"https://x/\",\"headers\":"
                        "{\"webhook-id\":\"x\"}}",
                        &v, &n, err, sizeof err),
                   LS_ERR_CONFIG);
  assert_int_equal(load("{\"id\":\"a\",\"url\":\"https://x/\",\"event_types\":"
                        "[\"EMAIL_NOPE\"]}",
                        &v, &n, err, sizeof err),
                   LS_ERR_CONFIG);
  setenv("UT_FANOUT_BAD", "whsec_not-base64!", 1);
  assert_int_equal(load("{\"id\":\"a\",\"url\":\"https://x/\",\"secret_env\":"
                        "\"UT_FANOUT_BAD\"}",
                        &v, &n, err, sizeof err),
                   LS_ERR_CONFIG);
  assert_null(strstr(err, "not-base64"));
  unsetenv("UT_FANOUT_UNSET");
  assert_int_equal(load("{\"id\":\"a\",\"url\":\"https://x/\",\"secret_env\":"
                        "\"UT_FANOUT_UNSET\"}",
                        &v, &n, err, sizeof err),
                   LS_ERR_CONFIG);
  assert_non_null(strstr(err, "secret_env"));
}

static void bodies_by_format(void **state) {
  (void)state;
  const char *raw =
      "{\"event_type\":\"EMAIL_REPLY\",\"to_email\":\"A@X.com\","
      "\"sl_lead_email\":\"a@x.com\",\"campaign_id\":7,\"campaign_name\":"
      "\"Q2 <launch>\",\"reply_message\":{\"text\":\"Yes & thanks\"}}";
  json_t *root = json_loads(raw, 0, NULL);
  ls_event ev;
  assert_int_equal(
      ls_event_identify(root, raw, strlen(raw), "t1", "smartlead.", &ev),
      LS_OK);
  fo_meta meta = {"abc", "/smartlead/t1/s", "ai.smartlead.email_reply",
                  "2025-01-01T00:00:00Z", "t1"};
  ls_endpoint ep;
  memset(&ep, 0, sizeof ep);
  size_t len;
  const char *ct;
  char *b = fo_format_body(&ep, &meta, raw, strlen(raw), root, &ev, &len, &ct);
  assert_int_equal(len, strlen(raw));
  assert_memory_equal(b, raw, len);
  assert_string_equal(ct, "application/json");
  free(b);

  ep.format = LS_EP_FMT_CLOUDEVENTS;
  b = fo_format_body(&ep, &meta, raw, strlen(raw), root, &ev, &len, &ct);
  json_t *env = json_loads(b, 0, NULL);
  assert_string_equal(ct, "application/cloudevents+json");
  assert_string_equal(json_string_value(json_object_get(env, "id")), "abc");
  assert_string_equal(json_string_value(json_object_get(env, "specversion")),
                      "1.0");
  assert_true(json_equal(json_object_get(env, "data"), root));
  json_decref(env);
  free(b);

  ep.kind = LS_EP_SLACK;
  char portal[] = "42";
  ep.portal_id = portal;
  b = fo_format_body(&ep, &meta, raw, strlen(raw), root, &ev, &len, &ct);
  json_t *msg = json_loads(b, 0, NULL);
  const char *text = json_string_value(json_object_get(msg, "text"));
  assert_non_null(strstr(text, "*Reply* from a@x.com"));
  assert_non_null(strstr(text, "Q2 &lt;launch&gt;"));
  assert_non_null(strstr(text, "Yes &amp; thanks"));
  assert_non_null(strstr(text, "contacts/42/objects/0-1/views/all/list?query="
                               "a%40x.com|HubSpot contact>"));
  json_decref(msg);
  free(b);
  json_decref(root);

  /* Slack has nothing to say about an open. */
  const char *open = "{\"event_type\":\"EMAIL_OPEN\",\"to_email\":\"a@x.com\"}";
  root = json_loads(open, 0, NULL);
  assert_int_equal(
      ls_event_identify(root, open, strlen(open), "t1", "smartlead.", &ev),
      LS_OK);
  assert_null(
      fo_format_body(&ep, &meta, open, strlen(open), root, &ev, &len, &ct));
  json_decref(root);
}

static void seen_set_forgets_the_oldest_first(void **state) {
  (void)state;
  fo_seen *s = fo_seen_new(3);
  assert_true(fo_seen_add(s, "a"));
  assert_false(fo_seen_add(s, "a"));
  assert_true(fo_seen_add(s, "b"));
  assert_true(fo_seen_add(s, "c"));
  assert_true(fo_seen_has(s, "a"));
  assert_true(fo_seen_add(s, "d")); /* evicts "a" */
  assert_false(fo_seen_has(s, "a"));
  assert_true(fo_seen_has(s, "b") && fo_seen_has(s, "c") &&
              fo_seen_has(s, "d"));
  char id[40];
  for (int i = 0; i < 1000; i++) {
    snprintf(id, sizeof id, "%032d", i);
    assert_true(fo_seen_add(s, id));
  }
  assert_true(fo_seen_has(s, id));
  assert_false(fo_seen_has(s, "b"));
  fo_seen_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(signature_matches_the_specification_example),
      cmocka_unit_test(bad_secrets_are_refused),
      cmocka_unit_test(ssrf_guard_classifies_addresses),
      cmocka_unit_test(endpoints_load_with_defaults_and_checks),
      cmocka_unit_test(bodies_by_format),
      cmocka_unit_test(seen_set_forgets_the_oldest_first),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
