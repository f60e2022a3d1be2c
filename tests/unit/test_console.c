/* Unit tests of the console's accounts, sessions and read model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "con_auth.h"
#include "con_store.h"

static con_auth *auth_with(const char *mode_json) {
  char hash_ops[256], hash_view[256];
  assert_true(
      con_auth_hash_password("ops-password", 2000, hash_ops, sizeof hash_ops));
  assert_true(con_auth_hash_password("view-password", 2000, hash_view,
                                     sizeof hash_view));
  char text[2048];
  snprintf(text, sizeof text,
           "{\"auth\":{\"login_max_failures\":3,%s\"users\":["
           "{\"name\":\"ops\",\"role\":\"operator\",\"password_hash\":\"%s\"},"
           "{\"name\":\"view\",\"role\":\"viewer\",\"password_hash\":\"%s\"}"
           "]}}",
           mode_json, hash_ops, hash_view);
  json_t *cfg = json_loads(text, 0, NULL);
  assert_non_null(cfg);
  con_auth *a = NULL;
  char err[256];
  assert_int_equal(con_auth_new(cfg, &a, err, sizeof err), LS_OK);
  json_decref(cfg);
  return a;
}

static void test_passwords(void **state) {
  (void)state;
  con_auth *a = auth_with("");
  con_principal p;
  assert_true(con_auth_check_password(a, "ops", "ops-password", &p));
  assert_string_equal(p.user, "ops");
  assert_int_equal(p.role, CON_ROLE_OPERATOR);
  assert_false(con_auth_check_password(a, "ops", "ops-passwort", &p));
  assert_false(con_auth_check_password(a, "nobody", "ops-password", &p));
  assert_true(con_auth_check_password(a, "view", "view-password", &p));
  assert_int_equal(p.role, CON_ROLE_VIEWER);
  /* "ops:ops-password" in base64 */
  assert_true(con_auth_basic(a, "Basic b3BzOm9wcy1wYXNzd29yZA==", &p));
  assert_false(p.via_session);
  assert_false(con_auth_basic(a, "Basic b3BzOm5vcGU=", &p)); /* ops:nope */
  assert_false(con_auth_basic(a, "Bearer x", &p));
  assert_false(con_auth_basic(a, "Basic !!!", &p));
  con_auth_free(a);
}

static void test_bad_hash_refused(void **state) {
  (void)state;
  json_t *cfg = json_loads("{\"auth\":{\"users\":[{\"name\":\"x\",\"role\":"
                           "\"operator\",\"password_hash\":\"plain\"}]}}",
                           0, NULL);
  con_auth *a = NULL;
  char err[256];
  assert_int_equal(con_auth_new(cfg, &a, err, sizeof err), LS_ERR_CONFIG);
  assert_non_null(strstr(err, "password_hash"));
  json_decref(cfg);
}

static void test_sessions_and_csrf(void **state) {
  (void)state;
  con_auth *a = auth_with("");
  con_principal p, s1, s2;
  assert_true(con_auth_check_password(a, "ops", "ops-password", &p));
  char c1[256], c2[256];
  con_auth_session(a, &p, c1, sizeof c1);
  assert_true(con_auth_cookie(a, c1, &s1));
  assert_true(s1.via_session);
  assert_string_equal(s1.user, "ops");
  assert_int_equal(s1.role, CON_ROLE_OPERATOR);
  assert_int_equal(strlen(s1.csrf), 64);
  /* A tampered role or signature is refused. */
  char bad[256];
  snprintf(bad, sizeof bad, "%s", c1);
  char *role = strstr(bad, ".operator.");
  assert_non_null(role);
  memcpy(role + 1, "viewer..", 8);
  assert_false(con_auth_cookie(a, bad, &s2));
  snprintf(bad, sizeof bad, "%s", c1);
  bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
  assert_false(con_auth_cookie(a, bad, &s2));
  assert_false(con_auth_cookie(a, "v1.ops.operator.99999999999.xyz", &s2));
  /* Another session of the same user has another CSRF token. */
  sleep(1);
  con_auth_session(a, &p, c2, sizeof c2);
  assert_true(con_auth_cookie(a, c2, &s2));
  assert_string_not_equal(s1.csrf, s2.csrf);
  /* Another process (another key) does not accept the session. */
  con_auth *b = auth_with("");
  assert_false(con_auth_cookie(b, c1, &s2));
  con_auth_free(b);
  con_auth_free(a);
}

static void test_login_limit(void **state) {
  (void)state;
  con_auth *a = auth_with("");
  int retry = 0;
  assert_true(con_auth_login_allowed(a, "10.0.0.1", "ops", &retry));
  for (int i = 0; i < 3; i++)
    con_auth_login_failed(a, "10.0.0.1", "ops");
  assert_false(con_auth_login_allowed(a, "10.0.0.9", "ops", &retry));
  assert_true(retry > 0);
  /* Another account from the same address still may (4x allowance). */
  assert_true(con_auth_login_allowed(a, "10.0.0.1", "view", &retry));
  con_auth_free(a);
}

static void test_proxy_mode(void **state) {
  (void)state;
  con_auth *a = auth_with(
      "\"mode\":\"proxy\",\"proxy\":{\"user_header\":\"X-User\","
      "\"trusted_proxies\":[\"10.1.0.0/16\",\"127.0.0.1\"],\"operators\":"
      "[\"boss@example.com\"]},");
  con_principal p;
  assert_true(con_auth_proxy_mode(a));
  assert_string_equal(con_auth_proxy_header(a), "X-User");
  assert_true(con_auth_proxy(a, "10.1.2.3", "boss@example.com", &p));
  assert_int_equal(p.role, CON_ROLE_OPERATOR);
  assert_true(p.via_session);
  assert_int_equal(strlen(p.csrf), 64);
  assert_true(con_auth_proxy(a, "127.0.0.1", "ann@example.com", &p));
  assert_int_equal(p.role, CON_ROLE_VIEWER);
  assert_false(con_auth_proxy(a, "10.2.0.1", "boss@example.com", &p));
  assert_false(con_auth_proxy(a, "10.1.2.3", "bad user<>", &p));
  con_auth_free(a);
}

/* ---- the read model ---------------------------------------------------- */

typedef struct {
  const char *k[8], *v[8];
} hdrs;

static const char *hget(void *op, const char *name) {
  hdrs *h = op;
  for (int i = 0; i < 8 && h->k[i]; i++)
    if (!strcmp(h->k[i], name))
      return h->v[i];
  return "";
}

static void apply(con_store *s, const char *topic, int32_t part, int64_t off,
                  const char *key, const char *value, hdrs *h) {
  static hdrs none;
  con_record r = {.topic = topic,
                  .partition = part,
                  .offset = off,
                  .ts_ms = 1700000000000LL + off,
                  .key = key,
                  .key_len = key ? strlen(key) : 0,
                  .value = value,
                  .value_len = value ? strlen(value) : 0,
                  .header = hget,
                  .opaque = h ? h : &none};
  assert_int_equal(con_store_apply(s, &r, "smartlead."), LS_OK);
}

static void webhook(con_store *s, const char *id, const char *email,
                    int64_t off) {
  char key[128];
  snprintf(key, sizeof key, "demo:1:%s", email);
  hdrs h = {{"ce_id", "ce_type", "ce_tenant", "ce_source", NULL},
            {id, "ai.smartlead.email_reply", "demo",
             "/smartlead/demo/demo-user", NULL}};
  apply(s, "smartlead.email_reply", 0, off, key, "{}", &h);
}

static void test_store(void **state) {
  (void)state;
  char path[] = "/tmp/test-console-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  con_store *s = NULL;
  char err[256];
  assert_int_equal(con_store_open(path, true, &s, err, sizeof err), LS_OK);
  assert_int_equal(con_store_begin(s), LS_OK);
  webhook(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", "Jane@X.com", 0);
  webhook(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2", "jane@x.com", 1);
  webhook(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3", "bob@x.com", 2);
  apply(
      s, "leadsync.sync_log", 3, 7, "demo:1:jane@x.com",
      "{\"event_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1\",\"tenant\":\"demo\","
      "\"event_type\":\"EMAIL_REPLY\",\"lead_email\":\"jane@x.com\","
      "\"outcome\":\"synced\",\"hubspot\":{\"contact_id\":\"101\","
      "\"objects\":[{\"type\":\"emails\",\"id\":\"202\"}]},\"error\":null}",
      NULL);
  /* A "released" that arrives after the outcome stays history. */
  apply(s, "leadsync.sync_log", 3, 8, "demo:1:jane@x.com",
        "{\"event_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1\",\"tenant\":"
        "\"demo\",\"event_type\":\"EMAIL_REPLY\",\"outcome\":\"released\"}",
        NULL);
  hdrs d = {{"ce_id", "ls_dlq_reason", "ls_dlq_http_status", NULL},
            {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa3", "auth", "401", NULL}};
  apply(s, "leadsync.dlq", 2, 5, "demo:1:bob@x.com", "{}", &d);
  assert_int_equal(con_store_commit(s), LS_OK);
  assert_int_equal(con_store_offset(s, "leadsync.dlq", 2), 6);
  assert_int_equal(con_store_offset(s, "leadsync.dlq", 1), -1);

  /* Email lookups ignore case; newest first; cursor pages. */
  con_query q = {.email = "JANE@x.com", .limit = 1};
  json_t *v = con_store_events(s, &q, err, sizeof err);
  json_t *evs = json_object_get(v, "events");
  assert_int_equal(json_array_size(evs), 1);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(evs, 0), "event_id")),
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2");
  const char *next = json_string_value(json_object_get(v, "next"));
  assert_non_null(next);
  char cur[64];
  snprintf(cur, sizeof cur, "%s", next);
  json_decref(v);
  q.cursor = cur;
  v = con_store_events(s, &q, err, sizeof err);
  evs = json_object_get(v, "events");
  assert_int_equal(json_array_size(evs), 1);
  json_t *e1 = json_array_get(evs, 0);
  assert_string_equal(json_string_value(json_object_get(e1, "outcome")),
                      "synced");
  assert_true(json_is_null(json_object_get(v, "next")));
  json_decref(v);
  q.cursor = "garbage";
  assert_null(con_store_events(s, &q, err, sizeof err));

  /* One event's story. */
  v = con_store_event(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1", err, sizeof err);
  assert_non_null(v);
  json_t *steps = json_object_get(v, "steps");
  assert_int_equal(json_array_size(steps), 3);
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(steps, 1), "kind")),
      "synced");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(steps, 2), "kind")),
      "released");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(v, "event"), "outcome")),
                      "synced");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(v, "event"), "contact_id")),
                      "101");
  json_decref(v);
  assert_null(
      con_store_event(s, "ffffffffffffffffffffffffffffffff", err, sizeof err));
  assert_string_equal(err, "");

  /* A DLQ record waits until an audit record says it was replayed. */
  con_query all = {0};
  v = con_store_parked(s, "dlq", "pending", &all, err, sizeof err);
  assert_int_equal(json_array_size(json_object_get(v, "records")), 1);
  json_decref(v);
  assert_int_equal(con_store_begin(s), LS_OK);
  apply(s, "leadsync.audit", 0, 0, "ops",
        "{\"action\":\"dlq.replay\",\"user\":\"ops\",\"reason\":\"fixed\","
        "\"items\":[{\"partition\":2,\"offset\":5}]}",
        NULL);
  apply(s, "leadsync.audit", 0, 1, "ops",
        "{\"action\":\"dlq.replay\",\"dry_run\":true,\"items\":[{\"partition\""
        ":9,\"offset\":9}]}",
        NULL);
  assert_int_equal(con_store_commit(s), LS_OK);
  v = con_store_parked(s, "dlq", "pending", &all, err, sizeof err);
  assert_int_equal(json_array_size(json_object_get(v, "records")), 0);
  json_decref(v);
  json_t *one = con_store_parked_one(s, "dlq", 2, 5);
  assert_string_equal(json_string_value(json_object_get(one, "replayed_by")),
                      "ops");
  assert_string_equal(json_string_value(json_object_get(one, "state")),
                      "replayed");
  json_decref(one);

  /* Per-source counts. */
  json_t *stats = con_store_source_stats(s, 0);
  json_t *demo = json_object_get(stats, "demo-user");
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(demo, "counts_24h"), "EMAIL_REPLY")),
                   3);
  json_decref(stats);
  con_store_close(s);

  /* Reopening keeps the data; a rebuild starts empty. */
  assert_int_equal(con_store_open(path, false, &s, err, sizeof err), LS_OK);
  assert_int_equal(con_store_count(s, "events"), 3);
  con_store_close(s);
  assert_int_equal(con_store_open(path, true, &s, err, sizeof err), LS_OK);
  assert_int_equal(con_store_count(s, "events"), 0);
  con_store_close(s);
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_passwords),
      cmocka_unit_test(test_bad_hash_refused),
      cmocka_unit_test(test_sessions_and_csrf),
      cmocka_unit_test(test_login_limit),
      cmocka_unit_test(test_proxy_mode),
      cmocka_unit_test(test_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
