/* test_ing_route: the ingress's parse-validate-route path, UTF-8/depth scan,
 * secret and scope checks, token buckets and the one status map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ing_arena.h"
#include "ing_http.h"
#include "ing_ratelimit.h"
#include "ing_route.h"
#include "ls_hash.h"

static ing_schemas *schemas;
static ls_tenant tenant;
static ls_source src_user, src_secret, src_client, src_campaign;

static int setup(void **state) {
  (void)state;
  char dir[1024], err[LS_ERRSTR_SIZE];
  snprintf(dir, sizeof dir, "%s/smartlead", ls_schema_dir());
  schemas = ing_schemas_load(dir, err, sizeof err);
  if (!schemas)
    fail_msg("%s", err);
  tenant.id = "t1";
  src_user = (ls_source){.id = "u", .level = LS_LEVEL_USER, .tenant = &tenant};
  src_secret = src_user;
  src_secret.has_secret = true;
  ls_sha256_hex("k3y", 3, src_secret.secret_sha256);
  src_client = (ls_source){
      .id = "c", .level = LS_LEVEL_CLIENT, .scope_id = "42", .tenant = &tenant};
  src_campaign = (ls_source){.id = "p",
                             .level = LS_LEVEL_CAMPAIGN,
                             .scope_id = "1234567",
                             .tenant = &tenant};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ing_schemas_free(schemas);
  return 0;
}

static char *fixture(const char *name, size_t *len) {
  const char *srcdir = getenv("LS_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fixtures/smartlead/%s.json",
           srcdir ? srcdir : ".", name);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char *buf = malloc(1 << 16);
  *len = fread(buf, 1, (1 << 16) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

static void route(const ls_source *s, const char *body, ing_verdict *v) {
  ing_route(schemas, s, "smartlead.", 16, body, strlen(body), v);
}

static void scan_utf8(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    ls_err want;
  } cases[] = {
      {"{\"a\":\"caf\xc3\xa9\"}", LS_OK},
      {"{\"a\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}", LS_OK},
      {"{\"a\":\"\xc3\x28\"}", LS_ERR_BAD_UTF8},         /* bad continuation */
      {"{\"a\":\"\xc0\xaf\"}", LS_ERR_BAD_UTF8},         /* overlong '/' */
      {"{\"a\":\"\xe0\x80\xaf\"}", LS_ERR_BAD_UTF8},     /* overlong, 3 bytes */
      {"{\"a\":\"\xed\xa0\x80\"}", LS_ERR_BAD_UTF8},     /* surrogate */
      {"{\"a\":\"\xf4\x90\x80\x80\"}", LS_ERR_BAD_UTF8}, /* > U+10FFFF */
      {"{\"a\":\"\xff\"}", LS_ERR_BAD_UTF8},
      {"{\"a\":\"\xe2\x82", LS_ERR_BAD_UTF8}, /* truncated */
      {"[[[[[]]]]]", LS_OK},
      {"[[[[[[]]]]]]", LS_ERR_TOO_DEEP},
      {"{\"a\":\"[[[[[[[[[[\"}", LS_OK},   /* in a string */
      {"{\"a\":\"\\\"[[[[[[[[\"}", LS_OK}, /* escaped quote */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t at = 0;
    ls_err e = ing_scan(cases[i].bytes, strlen(cases[i].bytes), 5, &at);
    if (e != cases[i].want)
      fail_msg("case %zu: got %s want %s", i, ls_err_name(e),
               ls_err_name(cases[i].want));
  }
}

static void verdicts(void **state) {
  (void)state;
  static const struct {
    const char *body;
    ls_err want;
    bool quarantine;
  } cases[] = {
      {"{\"event_type\":\"EMAIL_SENT\",", LS_ERR_BAD_JSON, true},
      {"", LS_ERR_BAD_JSON, true},
      {"[1]", LS_ERR_NOT_OBJECT, true},
      {"\"EMAIL_SENT\"", LS_ERR_NOT_OBJECT, true},
      {"{}", LS_ERR_NO_EVENT_TYPE, true},
      {"{\"event_type\":null}", LS_ERR_NO_EVENT_TYPE, true},
      {"{\"event_type\":\"EMAIL_SENT\"}", LS_ERR_SCHEMA, true},
      /* Drift in a field leadsync can do without: accepted, counted. */
      {"{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\","
       "\"campaign_id\":\"12x\"}",
       LS_OK, false},
      {"{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"not-an-address\"}",
       LS_ERR_SCHEMA, true},
      {"{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\","
       "\"campaign_id\":\"12\",\"sl_email_lead_map_id\":3375350255,"
       "\"event_timestamp\":\"2025-03-28T08:15:00Z\"}",
       LS_OK, false},
      {"{\"event_type\":\"SOMETHING_NEW\"}", LS_OK, false},
      {"{\"event_type\":\"EMAIL_SENT\",\"a\":[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"
       "]]"
       "}",
       LS_ERR_TOO_DEEP, true},
      {"{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"\xff@b\"}",
       LS_ERR_BAD_UTF8, true},
      /* No campaign_id: drift (it is not needed to log the change). */
      {"{\"event_type\":\"CAMPAIGN_STATUS_CHANGED\"}", LS_OK, false},
      {"{\"event_type\":\"CAMPAIGN_STATUS_CHANGED\",\"campaign_id\":5}", LS_OK,
       false},
      /* A sender without an address: the worker filters it (junk). */
      {"{\"event_type\":\"UNTRACKED_REPLIES\",\"sender_detail\":\"nobody\"}",
       LS_OK, false},
      {"{\"event_type\":\"UNTRACKED_REPLIES\",\"sender_detail\":\"\"}",
       LS_ERR_SCHEMA, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ing_verdict v;
    route(&src_user, cases[i].body, &v);
    if (v.err != cases[i].want || v.quarantine != cases[i].quarantine)
      fail_msg("case %zu: got %s/%d want %s (%s)", i, ls_err_name(v.err),
               v.quarantine, ls_err_name(cases[i].want), v.detail);
    if (v.err != LS_OK)
      assert_true(strlen(v.detail) > 5);
  }
}

static void every_sample_accepted(void **state) {
  (void)state;
  static const char *const names[] = {"EMAIL_SENT",
                                      "FIRST_EMAIL_SENT",
                                      "EMAIL_OPEN",
                                      "EMAIL_LINK_CLICK",
                                      "EMAIL_REPLY",
                                      "EMAIL_REPLY_THREADED",
                                      "EMAIL_BOUNCE",
                                      "LEAD_UNSUBSCRIBED",
                                      "LEAD_CATEGORY_UPDATED",
                                      "CAMPAIGN_STATUS_CHANGED",
                                      "UNTRACKED_REPLIES",
                                      "MANUAL_STEP_REACHED"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t len;
    char *b = fixture(names[i], &len);
    ing_verdict v;
    ing_route(schemas, &src_user, "smartlead.", 64, b, len, &v);
    if (v.err != LS_OK)
      fail_msg("%s: %s", names[i], v.detail);
    assert_false(v.scope_mismatch);
    free(b);
  }
}

static void secret_key(void **state) {
  (void)state;
  ing_verdict v;
  const char *ok = "{\"event_type\":\"SOMETHING\",\"secret_key\":\"k3y\"}";
  route(&src_secret, ok, &v);
  assert_int_equal(v.err, LS_OK);
  route(&src_secret, "{\"event_type\":\"SOMETHING\",\"secret_key\":\"k3Y\"}",
        &v);
  assert_int_equal(v.err, LS_ERR_UNAUTHORIZED);
  assert_false(v.quarantine);
  assert_null(strstr(v.detail, "k3"));
  route(&src_secret, "{\"event_type\":\"SOMETHING\"}", &v);
  assert_int_equal(v.err, LS_ERR_UNAUTHORIZED);
  route(&src_secret, "{\"event_type\":\"SOMETHING\",\"secret_key\":7}", &v);
  assert_int_equal(v.err, LS_ERR_UNAUTHORIZED);
  /* Without a configured secret the body's secret_key is not checked. */
  route(&src_user, "{\"event_type\":\"SOMETHING\",\"secret_key\":\"x\"}", &v);
  assert_int_equal(v.err, LS_OK);
}

static void bad_json_detail_quotes_nothing(void **state) {
  (void)state;
  ing_verdict v;
  route(&src_user, "{\"secret_key\": hunter2-secret}", &v);
  assert_int_equal(v.err, LS_ERR_BAD_JSON);
  assert_null(strstr(v.detail, "hunter2"));
}

static void scope(void **state) {
  (void)state;
  ing_verdict v;
  route(&src_client, "{\"event_type\":\"X\",\"client_id\":42}", &v);
  assert_false(v.scope_mismatch);
  route(&src_client, "{\"event_type\":\"X\",\"client_id\":\"42\"}", &v);
  assert_false(v.scope_mismatch);
  route(&src_client, "{\"event_type\":\"X\",\"client_id\":43}", &v);
  assert_true(v.scope_mismatch);
  route(&src_client, "{\"event_type\":\"X\",\"client_id\":null}", &v);
  assert_false(v.scope_mismatch); /* absent ids contradict nothing */
  route(&src_campaign, "{\"event_type\":\"X\",\"campaign_id\":1234567}", &v);
  assert_false(v.scope_mismatch);
  route(&src_campaign, "{\"event_type\":\"X\",\"campaign_id\":7}", &v);
  assert_true(v.scope_mismatch);
  route(&src_user, "{\"event_type\":\"X\",\"campaign_id\":7,\"client_id\":1}",
        &v);
  assert_false(v.scope_mismatch);
}

static void token_buckets(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  const char *cfgtext =
      "{\"tenants\":[{\"id\":\"t\",\"sources\":["
      "{\"id\":\"a\",\"level\":\"user\",\"token_sha256\":\""
      "0000000000000000000000000000000000000000000000000000000000000001\","
      "\"rate_limit\":{\"per_second\":2,\"burst\":3}},"
      "{\"id\":\"b\",\"level\":\"user\",\"token_sha256\":\""
      "0000000000000000000000000000000000000000000000000000000000000002\"}"
      "]}]}";
  ls_config *cfg = NULL;
  assert_int_equal(
      ls_config_load_text(cfgtext, "t.json", &cfg, err, sizeof err), LS_OK);
  ing_ratelimit *rl = ing_ratelimit_new(cfg);
  const ls_source *a = &cfg->tenants[0].sources[0];
  const ls_source *b = &cfg->tenants[0].sources[1];
  int retry = 0;
  int64_t t = 1000000;
  for (int i = 0; i < 3; i++)
    assert_true(ing_ratelimit_take(rl, a, t, &retry));
  assert_false(ing_ratelimit_take(rl, a, t, &retry));
  assert_int_equal(retry, 1);
  /* Half a second refills one token at 2/s. */
  assert_true(ing_ratelimit_take(rl, a, t + 500000, &retry));
  assert_false(ing_ratelimit_take(rl, a, t + 500000, &retry));
  /* Refill is capped at the burst. */
  for (int i = 0; i < 3; i++)
    assert_true(ing_ratelimit_take(rl, a, t + 100000000, &retry));
  assert_false(ing_ratelimit_take(rl, a, t + 100000000, &retry));
  /* A source without a limit is never refused. */
  for (int i = 0; i < 1000; i++)
    assert_true(ing_ratelimit_take(rl, b, t, &retry));
  ing_ratelimit_free(rl);
  ls_config_free(cfg);
}

static void status_map(void **state) {
  (void)state;
  static const struct {
    ls_err e;
    int status;
  } m[] = {{LS_OK, 200},
           {LS_ERR_BAD_JSON, 400},
           {LS_ERR_BAD_UTF8, 400},
           {LS_ERR_TOO_DEEP, 400},
           {LS_ERR_NOT_OBJECT, 400},
           {LS_ERR_NO_EVENT_TYPE, 400},
           {LS_ERR_SCHEMA, 400},
           {LS_ERR_UNAUTHORIZED, 401},
           {LS_ERR_NOT_FOUND, 404},
           {LS_ERR_METHOD, 405},
           {LS_ERR_TOO_LARGE, 413},
           {LS_ERR_MEDIA_TYPE, 415},
           {LS_ERR_RATE_LIMITED, 429},
           {LS_ERR_KAFKA, 503},
           {LS_ERR_TIMEOUT, 503},
           {LS_ERR_DRAINING, 503},
           {LS_ERR_INTERNAL, 500}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    assert_int_equal(ing_http_status(m[i].e), m[i].status);
}

/* The route's arena (ing_arena.h): jansson allocates from it only between
 * begin and end, a value larger than what is left falls back to malloc,
 * and a route leaves nothing behind (its results are plain copies). */
static void arena_window(void **state) {
  (void)state;
  json_t *before = json_string("made with malloc");
  assert_non_null(before);
  assert_false(ing_arena_owns(before));
  assert_true(ing_arena_begin());
  json_t *small = json_object();
  assert_non_null(small);
  assert_true(ing_arena_owns(small));
  assert_int_equal(json_object_set_new(small, "k", json_integer(7)), 0);
  char *big = malloc(70000);
  assert_non_null(big);
  memset(big, 'x', 69999);
  big[69999] = '\0';
  json_t *large = json_string(big); /* 70 KB: more than the arena holds */
  free(big);
  assert_non_null(large);
  assert_false(ing_arena_owns(json_string_value(large)));
  char *d = json_dumps(small, JSON_COMPACT);
  assert_string_equal(d, "{\"k\":7}");
  ing_arena_free(d);
  json_decref(large);
  json_decref(small);
  json_decref(before); /* made before, freed inside: back to free() */
  ing_arena_end();
  json_t *after = json_string("malloc again");
  assert_false(ing_arena_owns(after));
  json_decref(after);
  /* A whole route in between: the verdict holds no jansson memory. */
  ing_verdict v;
  const char *body = "{\"event_type\":\"EMAIL_SENT\",\"to_email\":"
                     "\"a@example.com\",\"stats_id\":\"s1\"}";
  ing_route(schemas, &src_user, "smartlead.", 64, body, strlen(body), &v);
  assert_false(ing_arena_owns(v.ev.event_id));
  assert_false(ing_arena_owns(v.ev.topic));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(scan_utf8),
      cmocka_unit_test(verdicts),
      cmocka_unit_test(every_sample_accepted),
      cmocka_unit_test(secret_key),
      cmocka_unit_test(bad_json_detail_quotes_nothing),
      cmocka_unit_test(scope),
      cmocka_unit_test(token_buckets),
      cmocka_unit_test(status_map),
      cmocka_unit_test(arena_window),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
