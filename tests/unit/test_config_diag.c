/* Unit tests of the config rule set (ls_config_load_diags): every problem
 * reported at once with its path and rule, the typed ingress and worker
 * sections, the schema and the C key tables agreeing, and the HubSpot
 * client honouring worker.max_response_bytes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "hs_client.h"
#include "ls_config.h"

#define TOKEN_A                                                                \
  "1111111111111111111111111111111111111111111111111111111111111111"
#define TOKEN_B                                                                \
  "2222222222222222222222222222222222222222222222222222222222222222"

/* A minimal valid config with a worker section of the test's choosing. */
static char *config_with(const char *ingress, const char *worker) {
  char *out = NULL;
  if (asprintf(&out,
               "{\"kafka\":{\"bootstrap_servers\":\"127.0.0.1:9092\"},"
               "\"ingress\":{%s},\"worker\":{%s},"
               "\"tenants\":[{\"id\":\"t\",\"sources\":[{\"id\":\"s\","
               "\"level\":\"user\",\"token_sha256\":\"" TOKEN_A "\"}],"
               "\"hubspot\":{\"token_env\":\"LS_TEST_HS_TOKEN\"}}]}",
               ingress, worker) < 0)
    fail_msg("out of memory");
  return out;
}

/* The diagnostic at path with rule, or NULL. */
static const ls_diag *find(const ls_diags *d, const char *path,
                           const char *rule) {
  for (size_t i = 0; i < d->n; i++)
    if (!strcmp(d->v[i].path, path) && !strcmp(d->v[i].rule, rule))
      return &d->v[i];
  return NULL;
}

static void dump(const ls_diags *d) {
  for (size_t i = 0; i < d->n; i++)
    print_message("  %s %s [%s] %s\n", ls_diag_sev_name(d->v[i].sev),
                  d->v[i].path, d->v[i].rule, d->v[i].msg);
}

static void expect(const ls_diags *d, const char *path, const char *rule,
                   ls_diag_sev sev) {
  const ls_diag *g = find(d, path, rule);
  if (!g) {
    dump(d);
    fail_msg("no %s problem at %s", rule, path);
  }
  assert_int_equal(g->sev, sev);
}

/* Loads text; returns the problems (caller frees) and whether it loaded. */
static bool load(const char *text, ls_diags *d, ls_config **cfg) {
  memset(d, 0, sizeof *d);
  return ls_config_load_text_diags(text, "t.json", cfg, d) == LS_OK;
}

static void setup_env(void) {
  setenv("LS_TEST_HS_TOKEN", "pat-test", 1);
  unsetenv("KAFKA_BOOTSTRAP_SERVERS");
}

static void valid_config_has_no_problems_and_typed_defaults(void **state) {
  (void)state;
  setup_env();
  char *text = config_with("", "");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_true(load(text, &d, &cfg));
  if (d.n)
    dump(&d);
  assert_int_equal(d.n, 0);
  const ls_worker_conf *w = &cfg->worker;
  assert_int_equal(w->batch_max, 100);
  assert_int_equal(w->flush_max, 1000);
  assert_int_equal(w->batch_linger_ms, 200);
  assert_int_equal(w->max_response_bytes, 8L << 20);
  assert_int_equal(w->held_max_age_s, 30L * 86400);
  assert_true(w->setup_on_start);
  assert_true(w->portal_share < 0);
  assert_string_equal(w->listen, "127.0.0.1:9102");
  const ls_ingress_conf *in = &cfg->ingress;
  assert_string_equal(in->listen, "0.0.0.0:8080");
  assert_int_equal(in->max_body_bytes, -1);
  assert_int_equal(in->kafka_timeout_ms, 10000);
  assert_int_equal(in->max_body_bytes_in_flight, 64L << 20);
  ls_config_free(cfg);
  ls_diags_free(&d);
  free(text);
}

static void typed_values_are_read(void **state) {
  (void)state;
  setup_env();
  char *text = config_with(
      "\"threads\":4,\"listen\":\"127.0.0.1:0\"",
      "\"batch_max\":20,\"held_max_age_days\":0.5,\"setup_on_start\":false,"
      "\"max_response_bytes\":4096,\"portal_share\":{\"replies\":0.25},"
      "\"groups\":{\"replies\":[\"EMAIL_REPLY\"],"
      "\"activity\":\"EMAIL_OPEN, EMAIL_LINK_CLICK\"}");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_true(load(text, &d, &cfg));
  const ls_worker_conf *w = &cfg->worker;
  assert_int_equal(w->batch_max, 20);
  assert_int_equal(w->flush_max, 200); /* 10 x batch_max */
  assert_int_equal(w->held_max_age_s, 43200);
  assert_false(w->setup_on_start);
  assert_int_equal(w->max_response_bytes, 4096);
  assert_int_equal(w->n_shares, 1);
  assert_string_equal(w->shares[0].group, "replies");
  assert_string_equal(ls_config_group_events(cfg, "replies"), "EMAIL_REPLY");
  assert_string_equal(ls_config_group_events(cfg, "activity"),
                      "EMAIL_OPEN, EMAIL_LINK_CLICK");
  assert_null(ls_config_group_events(cfg, "tasks"));
  assert_int_equal(cfg->ingress.threads, 4);
  assert_string_equal(cfg->ingress.listen, "127.0.0.1:0");
  ls_config_free(cfg);
  ls_diags_free(&d);
  free(text);
}

static void unknown_keys_are_fatal_with_their_path(void **state) {
  (void)state;
  setup_env();
  char *text = config_with("\"max_body_byte\":10",
                           "\"batch_linger_mss\":100,\"batch_max\":10");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_false(load(text, &d, &cfg));
  assert_null(cfg);
  expect(&d, "$.worker.batch_linger_mss", "unknown_key", LS_DIAG_FATAL);
  expect(&d, "$.ingress.max_body_byte", "unknown_key", LS_DIAG_FATAL);
  assert_int_equal(ls_diags_count(&d, LS_DIAG_FATAL), 2);
  ls_diags_free(&d);
  free(text);
  /* Settings nothing read are gone from the schema: a config that sets
   * them is told. */
  const char *dead =
      "{\"tenants\":[{\"id\":\"t\",\"mapping\":{},\"sources\":[],"
      "\"hubspot\":{\"portal_id\":1,\"token_env\":\"LS_TEST_HS_TOKEN\"}}]}";
  assert_false(load(dead, &d, &cfg));
  expect(&d, "$.tenants[0].mapping", "unknown_key", LS_DIAG_FATAL);
  expect(&d, "$.tenants[0].hubspot.portal_id", "unknown_key", LS_DIAG_FATAL);
  ls_diags_free(&d);
}

/* The fanout section is typed like ingress and worker: values and defaults
 * in cfg->fanout, an unknown key fatal. (The worker argument closes the
 * worker section and opens a fanout one.) */
static void fanout_section_is_typed(void **state) {
  (void)state;
  setup_env();
  char *text = config_with(
      "", "},\"fanout\":{\"order_window_ms\":300,\"listen\":\"127.0.0.1:0\"");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_true(load(text, &d, &cfg));
  assert_int_equal(cfg->fanout.order_window_ms, 300);
  assert_string_equal(cfg->fanout.listen, "127.0.0.1:0");
  assert_int_equal(cfg->fanout.max_pending, 20000);
  assert_int_equal(cfg->fanout.drain_ms, 10000);
  assert_int_equal(cfg->fanout.catchup_ms, 5000);
  assert_int_equal(cfg->fanout.seen_max, 100000);
  ls_config_free(cfg);
  ls_diags_free(&d);
  free(text);
  text = config_with("", "},\"fanout\":{\"max_pendin\":5,\"seen_max\":0");
  assert_false(load(text, &d, &cfg));
  expect(&d, "$.fanout.max_pendin", "unknown_key", LS_DIAG_FATAL);
  expect(&d, "$.fanout.seen_max", "minimum", LS_DIAG_FATAL);
  ls_diags_free(&d);
  free(text);
}

static void type_and_range_errors_are_reported_together(void **state) {
  (void)state;
  setup_env();
  char *text = config_with("\"threads\":\"2\",\"kafka_timeout_ms\":5",
                           "\"batch_max\":500,\"setup_on_start\":\"yes\","
                           "\"max_response_bytes\":1.5");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_false(load(text, &d, &cfg));
  expect(&d, "$.ingress.threads", "type", LS_DIAG_FATAL);
  expect(&d, "$.ingress.kafka_timeout_ms", "minimum", LS_DIAG_FATAL);
  expect(&d, "$.worker.batch_max", "maximum", LS_DIAG_FATAL);
  expect(&d, "$.worker.setup_on_start", "type", LS_DIAG_FATAL);
  expect(&d, "$.worker.max_response_bytes", "type", LS_DIAG_FATAL);
  /* The message names the rule, never the value. */
  const ls_diag *g = find(&d, "$.ingress.threads", "type");
  assert_non_null(strstr(g->msg, "must be of type integer"));
  ls_diags_free(&d);
  free(text);
}

static void shares_that_cannot_add_up_are_fatal(void **state) {
  (void)state;
  setup_env();
  static const struct {
    const char *worker;
    bool ok;
    const char *path, *rule;
  } cases[] = {
      {"\"portal_share\":1.5", false, "$.worker.portal_share", "maximum"},
      {"\"portal_share\":0", false, "$.worker.portal_share",
       "exclusiveMinimum"},
      {"\"portal_share\":{\"a\":0.6,\"b\":0.5}", false, "$.worker.portal_share",
       "portal_share_sum"},
      {"\"portal_share\":{\"a\":0.5,\"b\":0.5}", true, NULL, NULL},
      {"\"portal_share\":{\"a\":1.2}", false, "$.worker.portal_share.a",
       "maximum"},
      /* Declared groups without a share count with their default, the
       * fraction of the 11 types: 0.9 + 2/11 > 1. */
      {"\"portal_share\":{\"a\":0.9},\"groups\":{\"a\":[\"EMAIL_REPLY\"],"
       "\"b\":[\"EMAIL_OPEN\",\"EMAIL_SENT\"]}",
       false, "$.worker.portal_share", "portal_share_sum"},
      {"\"portal_share\":{\"a\":0.8},\"groups\":{\"a\":[\"EMAIL_REPLY\"],"
       "\"b\":[\"EMAIL_OPEN\",\"EMAIL_SENT\"]}",
       true, NULL, NULL},
      /* One number for every group: three groups at 0.5 is 1.5. */
      {"\"portal_share\":0.5,\"groups\":{\"a\":\"EMAIL_REPLY\","
       "\"b\":\"EMAIL_OPEN\",\"c\":\"EMAIL_SENT\"}",
       false, "$.worker.portal_share", "portal_share_sum"},
      {"\"groups\":{\"a\":\"EMAIL_REPLY\",\"b\":\"EMAIL_REPLY,EMAIL_OPEN\"}",
       false, "$.worker.groups.b", "event_type_in_two_groups"},
      {"\"groups\":{\"a\":[\"EMAIL_REPLIED\"]}", false, "$.worker.groups.a[0]",
       "unknown_event_type"},
      {"\"batch_max\":50,\"flush_max\":20", false, "$.worker.flush_max",
       "flush_max_below_batch_max"},
      {"\"backoff_base_ms\":500,\"backoff_max_ms\":100", false,
       "$.worker.backoff_max_ms", "backoff_max_below_base"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *text = config_with("", cases[i].worker);
    ls_diags d;
    ls_config *cfg = NULL;
    bool ok = load(text, &d, &cfg);
    if (ok != cases[i].ok) {
      dump(&d);
      fail_msg("case %zu (%s): loaded %d, want %d", i, cases[i].worker, ok,
               cases[i].ok);
    }
    if (cases[i].path)
      expect(&d, cases[i].path, cases[i].rule, LS_DIAG_FATAL);
    ls_config_free(cfg);
    ls_diags_free(&d);
    free(text);
  }
}

static void a_share_of_an_undeclared_group_is_a_warning(void **state) {
  (void)state;
  setup_env();
  char *text = config_with(
      "", "\"portal_share\":{\"replys\":0.2},\"groups\":{\"replies\":"
          "[\"EMAIL_REPLY\"]}");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_true(load(text, &d, &cfg));
  expect(&d, "$.worker.portal_share.replys", "portal_share_unknown_group",
         LS_DIAG_WARNING);
  ls_config_free(cfg);
  ls_diags_free(&d);
  free(text);
}

/* A setting that no longer does anything still loads (older configs), and
 * the loader says so. */
static void a_deprecated_key_loads_with_a_warning(void **state) {
  (void)state;
  setup_env();
  char *text = config_with("", "\"ledger_load_timeout_ms\":60000");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_true(load(text, &d, &cfg));
  expect(&d, "$.worker.ledger_load_timeout_ms", "deprecated_key",
         LS_DIAG_WARNING);
  ls_config_free(cfg);
  ls_diags_free(&d);
  free(text);
}

static void every_problem_is_reported_at_once(void **state) {
  (void)state;
  setup_env();
  unsetenv("LS_TEST_UNSET");
  const char *text =
      "{\"ingress\":{\"bogus\":1,\"max_body_bytes\":4096,"
      "\"max_body_bytes_in_flight\":1024},"
      "\"worker\":{\"batch_max\":0},"
      "\"tenants\":["
      "{\"id\":\"t\",\"sources\":["
      "{\"id\":\"s\",\"level\":\"user\",\"token_sha256\":\"" TOKEN_A "\"},"
      "{\"id\":\"s\",\"level\":\"client\",\"token_sha256\":\"" TOKEN_A "\"},"
      "{\"id\":\"e\",\"level\":\"user\",\"token_sha256\":\"" TOKEN_B "\","
      "\"secret_key_env\":\"LS_TEST_UNSET\"}],"
      "\"hubspot\":{\"token_env\":\"LS_TEST_UNSET\"},"
      "\"sync\":{\"EMAIL_OPENED\":{}}},"
      "{\"id\":\"t\",\"sources\":[],\"filter\":{\"categories\":[]}}]}";
  ls_diags d;
  ls_config *cfg = NULL;
  assert_false(load(text, &d, &cfg));
  expect(&d, "$.ingress.bogus", "unknown_key", LS_DIAG_FATAL);
  expect(&d, "$.ingress.max_body_bytes_in_flight", "body_budget_below_max_body",
         LS_DIAG_FATAL);
  expect(&d, "$.worker.batch_max", "minimum", LS_DIAG_FATAL);
  expect(&d, "$.tenants[0].sources[1].scope_id", "required", LS_DIAG_FATAL);
  expect(&d, "$.tenants[0].sources[1].token_sha256", "duplicate_token",
         LS_DIAG_FATAL);
  expect(&d, "$.tenants[0].sources[1].id", "duplicate_source_id",
         LS_DIAG_FATAL);
  expect(&d, "$.tenants[0].sources[2].secret_key_env", "secret_key_env_unset",
         LS_DIAG_FATAL);
  expect(&d, "$.tenants[0].hubspot.token_env", "hubspot_token_unresolved",
         LS_DIAG_ERROR);
  expect(&d, "$.tenants[0].sync.EMAIL_OPENED", "unknown_event_type",
         LS_DIAG_FATAL);
  expect(&d, "$.tenants[1].id", "duplicate_tenant_id", LS_DIAG_FATAL);
  expect(&d, "$.tenants[1].hubspot", "hubspot_missing", LS_DIAG_ERROR);
  expect(&d, "$.tenants[1].sources", "no_sources", LS_DIAG_WARNING);
  expect(&d, "$.tenants[1].filter.categories", "no_categories",
         LS_DIAG_WARNING);
  expect(&d, "$.kafka", "kafka_missing", LS_DIAG_WARNING);
  /* No secret in any message: the unset variable's name only. */
  for (size_t i = 0; i < d.n; i++)
    assert_null(strstr(d.v[i].msg, "pat-test"));
  /* Sorted: errors first, by path. */
  ls_diags_sort(&d);
  for (size_t i = 1; i < d.n; i++) {
    bool wa = d.v[i - 1].sev == LS_DIAG_WARNING;
    bool wb = d.v[i].sev == LS_DIAG_WARNING;
    assert_true(wa <= wb);
    if (wa == wb)
      assert_true(strcmp(d.v[i - 1].path, d.v[i].path) <= 0);
  }
  ls_diags_free(&d);
}

static void
errors_that_depend_on_the_environment_do_not_stop_a_load(void **state) {
  (void)state;
  setup_env();
  unsetenv("LS_TEST_HS_TOKEN");
  char *text = config_with("", "");
  ls_diags d;
  ls_config *cfg = NULL;
  assert_true(load(text, &d, &cfg));
  expect(&d, "$.tenants[0].hubspot.token_env", "hubspot_token_unresolved",
         LS_DIAG_ERROR);
  assert_null(cfg->tenants[0].hs_token);
  /* Kept on the config, for the daemon to log at start. */
  assert_int_equal(cfg->problems.n, d.n);
  assert_string_equal(cfg->problems.v[0].rule, d.v[0].rule);
  ls_config_free(cfg);
  ls_diags_free(&d);
  free(text);
}

/* A body plus the room for key and headers must fit a Kafka message: the
 * loader reports what the ingress refuses at start (the same numbers as its
 * own check), as an error of the ingress only: a worker may run with a
 * small message.max.bytes. */
static void a_body_must_fit_a_kafka_message(void **state) {
  (void)state;
  setup_env();
  static const struct {
    const char *props, *ingress;
    bool ok;
    const char *path, *rule;
  } cases[] = {
      {"", "\"max_body_bytes\":2097152", true, NULL, NULL},
      {"\"message.max.bytes\":\"1500000\"", "", true, NULL, NULL},
      {"\"message.max.bytes\":\"1500000\"", "\"max_body_bytes\":2097152", true,
       "$.ingress.max_body_bytes", "max_body_over_message_max"},
      {"\"message.max.bytes\":4194304", "\"max_body_bytes\":3145728", true,
       NULL, NULL},
      {"\"message.max.bytes\":\"1000000\"", "", true,
       "$.kafka.properties[\"message.max.bytes\"]", "message_max_too_small"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *text = NULL;
    if (asprintf(&text,
                 "{\"kafka\":{\"properties\":{%s}},\"ingress\":{%s},"
                 "\"tenants\":[{\"id\":\"t\",\"sources\":[{\"id\":\"s\","
                 "\"level\":\"user\",\"token_sha256\":\"" TOKEN_A "\"}],"
                 "\"hubspot\":{\"token_env\":\"LS_TEST_HS_TOKEN\"}}]}",
                 cases[i].props, cases[i].ingress) < 0)
      fail_msg("out of memory");
    ls_diags d;
    ls_config *cfg = NULL;
    bool ok = load(text, &d, &cfg);
    if (ok != cases[i].ok) {
      dump(&d);
      fail_msg("case %zu: loaded %d, want %d", i, ok, cases[i].ok);
    }
    if (cases[i].path)
      expect(&d, cases[i].path, cases[i].rule, LS_DIAG_ERROR);
    ls_config_free(cfg);
    ls_diags_free(&d);
    free(text);
  }
}

static void first_error_string_names_file_path_and_count(void **state) {
  (void)state;
  setup_env();
  char *text = config_with("\"bogus\":1", "\"bogus\":2");
  char err[LS_ERRSTR_SIZE];
  ls_config *cfg = NULL;
  assert_int_equal(ls_config_load_text(text, "x.json", &cfg, err, sizeof err),
                   LS_ERR_CONFIG);
  assert_null(cfg);
  assert_non_null(strstr(err, "x.json: $.ingress.bogus: "));
  assert_non_null(strstr(err, "and 1 more"));
  ls_diags d;
  assert_false(load("{\"tenants\": [,]}", &d, &cfg));
  assert_int_equal(d.n, 1);
  assert_string_equal(d.v[0].rule, "json");
  assert_non_null(strstr(d.v[0].path, "line 1"));
  ls_diags_free(&d);
  free(text);
}

/* The schema's ingress and worker properties are exactly the keys the
 * loader reads into its structs: neither can grow alone. */
static void schema_and_typed_sections_list_the_same_keys(void **state) {
  (void)state;
  char path[1024];
  snprintf(path, sizeof path, "%s/config.schema.json", ls_schema_dir());
  json_error_t jerr;
  json_t *schema = json_load_file(path, 0, &jerr);
  assert_non_null(schema);
  static const char *const sections[] = {"ingress", "worker", "fanout"};
  for (size_t s = 0; s < 3; s++) {
    const json_t *sec = json_object_get(
        json_object_get(json_object_get(schema, "properties"), sections[s]),
        "properties");
    assert_non_null(sec);
    assert_true(json_is_false(json_object_get(
        json_object_get(json_object_get(schema, "properties"), sections[s]),
        "additionalProperties")));
    const char *const *keys = ls_config_section_keys(sections[s]);
    size_t n = 0;
    for (; keys[n]; n++)
      if (!json_object_get(sec, keys[n]))
        fail_msg("%s.%s is read but not in the schema", sections[s], keys[n]);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)sec, k, v) {
      bool found = false;
      for (size_t i = 0; keys[i]; i++)
        found |= !strcmp(keys[i], k);
      if (!found)
        fail_msg("%s.%s is in the schema but never read", sections[s], k);
    }
    assert_int_equal(n, json_object_size(sec));
  }
  json_decref(schema);
}

/* ---- worker.max_response_bytes reaches the HubSpot client -------------- */

typedef struct {
  int fd;
  size_t body;
} server;

static void *serve_one(void *arg) {
  server *s = arg;
  int c = accept(s->fd, NULL, NULL);
  if (c < 0)
    return NULL;
  char buf[4096];
  ssize_t got = read(c, buf, sizeof buf); /* the request; small */
  (void)got;
  char head[256];
  int hl = snprintf(head, sizeof head,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                    s->body);
  ssize_t w = write(c, head, (size_t)hl);
  char *body = malloc(s->body);
  memset(body, ' ', s->body);
  body[0] = '{';
  body[s->body - 1] = '}';
  for (size_t off = 0; w >= 0 && off < s->body; off += (size_t)w)
    w = write(c, body + off, s->body - off);
  free(body);
  close(c);
  return NULL;
}

/* One GET against a loopback server answering body bytes. */
static hs_req *get_with_cap(size_t body, size_t cap) {
  server s = {socket(AF_INET, SOCK_STREAM, 0), body};
  assert_true(s.fd >= 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(s.fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(s.fd, 1), 0);
  socklen_t al = sizeof a;
  getsockname(s.fd, (struct sockaddr *)&a, &al);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, serve_one, &s), 0);
  char base[64];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", ntohs(a.sin_port));
  hs_target tgt = {base, "pat-test", NULL, "t", NULL};
  hs_transport *tp = hs_transport_curl_new(5000, 2000, cap);
  assert_non_null(tp);
  hs_req *r = hs_req_new(&tgt, "GET", "/x", "other", NULL);
  assert_non_null(r);
  hs_req *reqs[1] = {r};
  tp->perform(tp, reqs, 1);
  r->tgt = NULL; /* tgt lives in this stack frame only */
  pthread_join(th, NULL);
  close(s.fd);
  hs_transport_free(tp);
  return r;
}

static void max_response_bytes_caps_hubspot_answers(void **state) {
  (void)state;
  hs_req *big = get_with_cap(8192, 4096);
  assert_int_equal(big->status, 0);
  assert_non_null(strstr(big->transport_err, "answer larger than 4096"));
  hs_req_free(big);
  hs_req *fits = get_with_cap(2048, 4096);
  assert_int_equal(fits->status, 200);
  assert_int_equal(fits->resp.len, 2048);
  hs_req_free(fits);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(valid_config_has_no_problems_and_typed_defaults),
      cmocka_unit_test(typed_values_are_read),
      cmocka_unit_test(unknown_keys_are_fatal_with_their_path),
      cmocka_unit_test(type_and_range_errors_are_reported_together),
      cmocka_unit_test(shares_that_cannot_add_up_are_fatal),
      cmocka_unit_test(a_share_of_an_undeclared_group_is_a_warning),
      cmocka_unit_test(a_deprecated_key_loads_with_a_warning),
      cmocka_unit_test(every_problem_is_reported_at_once),
      cmocka_unit_test(
          errors_that_depend_on_the_environment_do_not_stop_a_load),
      cmocka_unit_test(a_body_must_fit_a_kafka_message),
      cmocka_unit_test(first_error_string_names_file_path_and_count),
      cmocka_unit_test(schema_and_typed_sections_list_the_same_keys),
      cmocka_unit_test(fanout_section_is_typed),
      cmocka_unit_test(max_response_bytes_caps_hubspot_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
