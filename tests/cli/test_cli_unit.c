/* Unit tests of the CLI's pure parts: Smartlead's webhook priority rules,
 * time and number parsing, URL token handling and redaction. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_kafka.h"
#include "cli_replay.h"
#include "cli_webhooks.h"
#include "ls_time.h"

static json_t *hook(const char *id, const char *level, const char *client,
                    const char *campaign, const char *url, const char *types,
                    const char *updated) {
  json_t *t = json_array();
  char buf[256];
  snprintf(buf, sizeof buf, "%s", types);
  char *save = NULL;
  for (char *p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
    json_array_append_new(t, json_string(p));
  return json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s,s:o,s:s?}", "id", id, "name", id,
                   "level", level, "client_id", client, "campaign_id", campaign,
                   "webhook_url", url, "event_types", t, "updated_at", updated);
}

static void resolve(cli_wh_report *r, json_t *arr) {
  char err[512];
  memset(r, 0, sizeof *r);
  assert_int_equal(cli_wh_parse(r, arr, "t", err, sizeof err), LS_OK);
  assert_int_equal(cli_wh_resolve(r, NULL), LS_OK);
  json_decref(arr);
}

/* The webhook that fires for a type in the scope of campaign (or client). */
static const char *fires(const cli_wh_report *r, const char *type,
                         const char *campaign, const char *client) {
  for (size_t i = 0; i < r->n_routes; i++) {
    const cli_wh_route *rt = &r->routes[i];
    const cli_wh_scope *s = &r->scopes[rt->scope];
    if (!strcmp(r->types[rt->type], type) &&
        !strcmp(s->campaign_id, campaign) && !strcmp(s->client_id, client))
      return r->hooks[rt->winner].id;
  }
  return "";
}

static bool has_code(const cli_wh_report *r, const char *code) {
  for (size_t i = 0; i < r->n_findings; i++)
    if (!strcmp(r->findings[i].code, code))
      return true;
  return false;
}

#define LS "http://h/v1/webhooks/smartlead/tok"

static void test_user_beats_client_beats_campaign(void **state) {
  (void)state;
  cli_wh_report r;
  json_t *a = json_array();
  json_array_append_new(a, hook("1", "user", NULL, NULL, "https://z/1",
                                "EMAIL_REPLY", "2020-01-01T00:00:00Z"));
  json_array_append_new(a,
                        hook("2", "client", "7", NULL, LS,
                             "EMAIL_REPLY,EMAIL_SENT", "2025-01-01T00:00:00Z"));
  json_array_append_new(a, hook("3", "campaign", "7", "101", "https://c/3",
                                "EMAIL_REPLY,EMAIL_SENT,EMAIL_OPEN",
                                "2026-01-01T00:00:00Z"));
  resolve(&r, a);
  assert_string_equal(fires(&r, "EMAIL_REPLY", "101", "7"), "1");
  assert_string_equal(fires(&r, "EMAIL_SENT", "101", "7"), "2");
  assert_string_equal(fires(&r, "EMAIL_OPEN", "101", "7"), "3");
  assert_string_equal(fires(&r, "EMAIL_SENT", "", "7"), "2");
  assert_string_equal(fires(&r, "EMAIL_REPLY", "", ""), "1");
  assert_string_equal(fires(&r, "EMAIL_SENT", "", ""), "");
  assert_true(has_code(&r, "user_blocks_client"));
  assert_true(has_code(&r, "user_blocks_campaign"));
  assert_true(cli_wh_count(&r, CLI_SEV_ERROR) >= 2);
  cli_wh_free(&r);
}

static void test_latest_updated_wins_and_ties(void **state) {
  (void)state;
  cli_wh_report r;
  json_t *a = json_array();
  json_array_append_new(a, hook("10", "campaign", NULL, "5", LS, "EMAIL_OPEN",
                                "2025-01-01T00:00:00Z"));
  json_array_append_new(a, hook("9", "campaign", NULL, "5", "https://x/9",
                                "EMAIL_OPEN", "2025-01-01T00:00:00.001Z"));
  json_array_append_new(a, hook("20", "campaign", NULL, "6", "https://x/20",
                                "EMAIL_SENT", "2025-01-01T00:00:00Z"));
  json_array_append_new(a, hook("21", "campaign", NULL, "6", "https://x/21",
                                "EMAIL_SENT", "2025-01-01T00:00:00+00:00"));
  resolve(&r, a);
  /* One millisecond later wins, whatever the ids. */
  assert_string_equal(fires(&r, "EMAIL_OPEN", "5", ""), "9");
  assert_true(has_code(&r, "leadsync_shadowed"));
  /* Same instant in two spellings: a tie, resolved to the newer id. */
  assert_string_equal(fires(&r, "EMAIL_SENT", "6", ""), "21");
  assert_true(has_code(&r, "tie"));
  cli_wh_free(&r);
}

static void test_same_url_is_redundant_not_blocking(void **state) {
  (void)state;
  cli_wh_report r;
  json_t *a = json_array();
  json_array_append_new(a, hook("1", "user", NULL, NULL, LS, "EMAIL_REPLY",
                                "2025-01-01T00:00:00Z"));
  json_array_append_new(a, hook("2", "client", "3", NULL, LS, "EMAIL_REPLY",
                                "2025-01-01T00:00:00Z"));
  resolve(&r, a);
  assert_true(has_code(&r, "redundant"));
  assert_int_equal(cli_wh_count(&r, CLI_SEV_WARN), 0);
  cli_wh_free(&r);
}

static void test_parse_errors_name_the_path(void **state) {
  (void)state;
  cli_wh_report r;
  char err[512];
  memset(&r, 0, sizeof r);
  json_t *a = json_array();
  json_array_append_new(
      a, hook("1", "client", NULL, NULL, "https://x", "EMAIL_REPLY", NULL));
  assert_int_not_equal(cli_wh_parse(&r, a, "f.json", err, sizeof err), LS_OK);
  assert_non_null(strstr(err, "f.json: $[0].client_id"));
  json_decref(a);
  cli_wh_free(&r);
  json_t *o = json_pack("{s:i}", "webhooks", 3);
  assert_int_not_equal(cli_wh_parse(&r, o, "g", err, sizeof err), LS_OK);
  json_decref(o);
  cli_wh_free(&r);
}

static void test_times(void **state) {
  (void)state;
  int64_t now = 1700000000000000LL, t;
  assert_true(cli_parse_time("90s", now, &t));
  assert_true(t == now - 90000000LL);
  assert_true(cli_parse_time("2h", now, &t));
  assert_true(t == now - 7200LL * 1000000);
  assert_true(cli_parse_time("1w", now, &t));
  assert_true(cli_parse_time("now", now, &t));
  assert_true(t == now);
  assert_true(cli_parse_time("2025-03-28T09:35:01+00:00", now, &t));
  assert_true(t == 1743154501000000LL);
  assert_false(cli_parse_time("2x", now, &t));
  assert_false(cli_parse_time("-5m", now, &t));
  assert_false(cli_parse_time("", now, &t));
  assert_false(cli_parse_time("yesterday", now, &t));
}

static void test_numbers(void **state) {
  (void)state;
  long v;
  assert_true(cli_parse_long("42", 0, 100, &v));
  assert_int_equal(v, 42);
  assert_false(cli_parse_long("42x", 0, 100, &v));
  assert_false(cli_parse_long("101", 0, 100, &v));
  assert_false(cli_parse_long("", 0, 100, &v));
}

static void test_urls(void **state) {
  (void)state;
  char out[256], tok[64];
  assert_true(cli_url_token("https://a.b:8/v1/webhooks/smartlead/s3cr3t", tok,
                            sizeof tok));
  assert_string_equal(tok, "s3cr3t");
  assert_true(cli_url_token("http://a/v1/webhooks/smartlead/s3cr3t?x=1", tok,
                            sizeof tok));
  assert_false(
      cli_url_token("http://a/v1/webhooks/smartlead/", tok, sizeof tok));
  assert_false(
      cli_url_token("http://a/v1/webhooks/smartlead/a/b", tok, sizeof tok));
  assert_false(cli_url_token("http://a/hooks/s3cr3t", tok, sizeof tok));
  cli_redact_url("https://a.b:8/v1/webhooks/smartlead/s3cr3t", out, sizeof out);
  assert_string_equal(out, "https://a.b:8/v1/webhooks/smartlead/****");
  cli_redact_url("https://hooks.zapier.com/hooks/catch/1/s3cr3t/", out,
                 sizeof out);
  assert_null(strstr(out, "s3cr3t"));
  assert_non_null(strstr(out, "https://hooks.zapier.com/..."));
  cli_redact_url("https://x.example.com", out, sizeof out);
  assert_string_equal(out, "https://x.example.com");
  /* Credentials in userinfo, query and fragment never survive. */
  cli_redact_url("https://u:p4ss@a.b:8/v1/webhooks/smartlead/s3cr3t?k=q5#f6",
                 out, sizeof out);
  assert_string_equal(out,
                      "https://****@a.b:8/v1/webhooks/smartlead/****?****");
  cli_redact_url("https://u:p4ss@[::1]/", out, sizeof out);
  assert_string_equal(out, "https://****@[::1]");
  cli_redact_url("https://h.example.com/catch/p4th?api_key=k3y", out,
                 sizeof out);
  assert_null(strstr(out, "p4th"));
  assert_null(strstr(out, "k3y"));
  assert_non_null(strstr(out, "?****"));
  cli_redact_url("not a url at all", out, sizeof out);
  assert_null(strstr(out, "url at all"));
}

/* A mutable argv for getopt_long from string literals. */
typedef struct {
  char buf[8][32];
  char *v[9];
  int n;
} argv_t;

static argv_t *args_of(argv_t *a, const char *const *words) {
  memset(a, 0, sizeof *a);
  for (; words[a->n]; a->n++) {
    snprintf(a->buf[a->n], sizeof a->buf[a->n], "%s", words[a->n]);
    a->v[a->n] = a->buf[a->n];
  }
  return a;
}

static void test_args_table(void **state) {
  (void)state;
  cli_ctx ctx = {.cmd = "history", .run_dir = ".run"};
  const char *email = NULL;
  bool all = false;
  long limit = 50;
  int64_t since = CLI_NO_TIME;
  const cli_arg args[] = {CLI_STRING_ARG("email", &email),
                          CLI_FLAG_ARG("all", &all, NULL),
                          CLI_LONG_ARG("limit", &limit, 0, 1000),
                          CLI_TIME_ARG("since", &since), CLI_ARGS_END};
  argv_t a;
  const char *ok[] = {"history", "--email", "a@b.example", "--all", "--limit=7",
                      "--since", "2h",      "--json",      NULL};
  assert_int_equal(
      cli_args_parse(&ctx, "usage\n", args, NULL, args_of(&a, ok)->n, a.v), -1);
  assert_string_equal(email, "a@b.example");
  assert_true(all);
  assert_int_equal(limit, 7);
  assert_true(since != CLI_NO_TIME && since < ls_now_us());
  assert_true(ctx.json);

  const char *big[] = {"history", "--limit", "1001", NULL};
  assert_int_equal(
      cli_args_parse(&ctx, "usage\n", args, NULL, args_of(&a, big)->n, a.v),
      CLI_EXIT_USAGE);
  const char *unknown[] = {"history", "--bogus", NULL};
  assert_int_equal(
      cli_args_parse(&ctx, "usage\n", args, NULL, args_of(&a, unknown)->n, a.v),
      CLI_EXIT_USAGE);
  const char *stray[] = {"history", "extra", NULL};
  assert_int_equal(
      cli_args_parse(&ctx, "usage\n", args, NULL, args_of(&a, stray)->n, a.v),
      CLI_EXIT_USAGE);
}

static void test_replay_args(void **state) {
  (void)state;
  cli_ctx ctx = {.cmd = "dlq", .run_dir = ".run"};
  cli_replay_args r;
  argv_t a;
  const char *list[] = {"dlq",      "list", "--reason", "http_4xx,poison",
                        "--tenant", "acme", "--all",    NULL};
  assert_int_equal(cli_replay_args_parse(&ctx, "dlq", "usage\n", true,
                                         args_of(&a, list)->n, a.v, &r),
                   -1);
  assert_true(r.list && r.all && !r.dry_run);
  assert_int_equal(r.limit, 100);
  assert_string_equal(ctx.cmd, "dlq list");
  assert_true(cli_replay_match(&r, "poison", "acme", ""));
  assert_false(cli_replay_match(&r, "poison", "other", ""));
  assert_false(cli_replay_match(&r, "http_4", "acme", ""));

  /* --dry-run belongs to replay, --all to list. */
  const char *wrong[] = {"dlq", "list", "--dry-run", NULL};
  ctx.cmd = "dlq";
  assert_int_equal(cli_replay_args_parse(&ctx, "dlq", "usage\n", true,
                                         args_of(&a, wrong)->n, a.v, &r),
                   CLI_EXIT_USAGE);
  const char *replay[] = {"dlq", "replay",    "--endpoint",
                          "crm", "--dry-run", NULL};
  ctx.cmd = "dlq";
  assert_int_equal(cli_replay_args_parse(&ctx, "dlq", "usage\n", true,
                                         args_of(&a, replay)->n, a.v, &r),
                   -1);
  assert_true(!r.list && r.dry_run);
  assert_true(cli_replay_match(&r, "x", "t", "crm"));
  assert_false(cli_replay_match(&r, "x", "t", "other"));
  /* quarantine has no --endpoint. */
  const char *q[] = {"quarantine", "replay", "--endpoint", "crm", NULL};
  ctx.cmd = "quarantine";
  assert_int_equal(cli_replay_args_parse(&ctx, "quarantine", "usage\n", false,
                                         args_of(&a, q)->n, a.v, &r),
                   CLI_EXIT_USAGE);
  const char *none[] = {"dlq", "frob", NULL};
  ctx.cmd = "dlq";
  assert_int_equal(cli_replay_args_parse(&ctx, "dlq", "usage\n", true,
                                         args_of(&a, none)->n, a.v, &r),
                   CLI_EXIT_USAGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_user_beats_client_beats_campaign),
      cmocka_unit_test(test_latest_updated_wins_and_ties),
      cmocka_unit_test(test_same_url_is_redundant_not_blocking),
      cmocka_unit_test(test_parse_errors_name_the_path),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_args_table),
      cmocka_unit_test(test_replay_args),
  };
  return cmocka_run_group_tests_name("cli-unit", tests, NULL, NULL);
}
