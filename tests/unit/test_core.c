/* Unit tests for the core library: buffers, time, hashing, config, metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_array.h"
#include "ls_buf.h"
#include "ls_env.h"
#include "ls_signals.h"
#include "ls_config.h"
#include "ls_hash.h"
#include "ls_metrics.h"
#include "ls_time.h"

static void buf_refuses_to_cross_its_ceiling(void **state) {
  (void)state;
  ls_buf b;
  ls_buf_init(&b, 10);
  assert_int_equal(ls_buf_append(&b, "12345", 5), LS_OK);
  assert_int_equal(ls_buf_append(&b, "67890", 5), LS_OK);
  assert_int_equal(ls_buf_append(&b, "x", 1), LS_ERR_TOO_LARGE);
  assert_int_equal(b.len, 10);
  assert_string_equal(b.data, "1234567890");
  assert_int_equal(ls_buf_printf(&b, "%d", 1), LS_ERR_TOO_LARGE);
  ls_buf_reset(&b);
  assert_int_equal(ls_buf_printf(&b, "%s-%d", "ab", 42), LS_OK);
  assert_string_equal(b.data, "ab-42");
  ls_buf_free(&b);
}

/* ls_time_format_us/_ms write their digits by hand: the same text as the
 * printf format they replaced, for any instant (before 1970, the last
 * second of 9999, beyond it) and any buffer size (truncated alike). */
static void time_format_matches_printf(void **state) {
  (void)state;
  const int64_t y9999 = 253402300799LL * 1000000 + 999999;
  const int64_t cases[] = {0,
                           1,
                           -1,
                           999999,
                           1000000,
                           -1000001,
                           1743154501123456LL,
                           -62135596800LL * 1000000,
                           y9999,
                           y9999 + 1,
                           4102444800LL * 1000000 + 5};
  const size_t lens[] = {40, 28, 27, 25, 24, 20, 11, 1};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t s = cases[i] / 1000000, f = cases[i] % 1000000;
    if (f < 0) {
      f += 1000000;
      s -= 1;
    }
    time_t t = (time_t)s;
    struct tm tm;
    assert_non_null(gmtime_r(&t, &tm));
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
      char want[40], got[40];
      snprintf(want, lens[j], "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, (long)f);
      ls_time_format_us(cases[i], got, lens[j]);
      assert_string_equal(got, want);
      snprintf(want, lens[j], "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, (long)f / 1000);
      ls_time_format_ms(cases[i], got, lens[j]);
      assert_string_equal(got, want);
    }
  }
}

static void time_parses_every_smartlead_shape(void **state) {
  (void)state;
  struct {
    const char *in;
    const char *want;
  } cases[] = {
      {"2025-03-28T08:15:00.123+00:00", "2025-03-28T08:15:00.123000Z"},
      {"2025-03-28T09:35:01+00:00", "2025-03-28T09:35:01.000000Z"},
      {"2025-03-29T14:46:19.940Z", "2025-03-29T14:46:19.940000Z"},
      {"2023-09-25T17:29:11.618881+00:00", "2023-09-25T17:29:11.618881Z"},
      {"2025-03-28T10:00:00+02:00", "2025-03-28T08:00:00.000000Z"},
      {"2025-03-28T10:00:00-0530", "2025-03-28T15:30:00.000000Z"},
      {"2025-03-28 10:00:00Z", "2025-03-28T10:00:00.000000Z"},
      {"2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000000Z"},
      {"2025-03-28", "2025-03-28T00:00:00.000000Z"},
      {"2025-03-28T09:35:01.123456789Z", "2025-03-28T09:35:01.123456Z"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t us = 0;
    char out[40];
    assert_true(ls_time_parse(cases[i].in, &us));
    ls_time_format_us(us, out, sizeof out);
    assert_string_equal(out, cases[i].want);
  }
  const char *bad[] = {"",
                       "2025-13-01T00:00:00Z",
                       "2025-02-29T00:00:00Z",
                       "2025-03-28T25:00:00Z",
                       "yesterday",
                       "2025-03-28T10:00:00Zjunk",
                       "2025-03-28T10:00:00.Z"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int64_t us;
    assert_false(ls_time_parse(bad[i], &us));
  }
}

static void sha256_matches_a_known_vector(void **state) {
  (void)state;
  char hex[65];
  ls_sha256_hex("abc", 3, hex);
  assert_string_equal(
      hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_true(ls_const_eq("abc", "abc"));
  assert_false(ls_const_eq("abc", "abd"));
  assert_false(ls_const_eq("abc", "abcd"));
}

static void dev_config_loads_and_finds_sources(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  ls_config *cfg = NULL;
  unsetenv("KAFKA_BOOTSTRAP_SERVERS");
  setenv("HUBSPOT_TOKEN", "pat-test", 1);
  assert_int_equal(ls_config_load("config/dev.json", &cfg, err, sizeof err),
                   LS_OK);
  assert_int_equal(cfg->n_tenants, 2);
  assert_string_equal(cfg->topic_prefix, "smartlead.");
  char h[65];
  ls_sha256_hex("dev-demo-7d1f3c9a2b4e4f60a8c1", 29, h);
  const ls_source *s = ls_config_find_source(cfg, h);
  assert_non_null(s);
  assert_string_equal(s->tenant->id, "demo");
  assert_string_equal(s->tenant->hs_token, "pat-test");
  assert_int_equal(s->tenant->hs_per_10s, 190);
  const ls_tenant *f = ls_config_tenant(cfg, "demo-filtered");
  assert_non_null(f);
  assert_true(f->has_filter);
  assert_int_equal(f->n_categories, 2);
  ls_sha256_hex("nope", 4, h);
  assert_null(ls_config_find_source(cfg, h));
  ls_config_free(cfg);
}

static void config_errors_name_file_path_and_rule(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  ls_config *cfg = NULL;
  const char *bad_level =
      "{\"tenants\":[{\"id\":\"t\",\"sources\":[{\"id\":\"s\",\"level\":"
      "\"planet\",\"token_sha256\":\"" /* 64 hex */
      "0000000000000000000000000000000000000000000000000000000000000000\"}],"
      "\"hubspot\":{}}]}";
  assert_int_equal(
      ls_config_load_text(bad_level, "x.json", &cfg, err, sizeof err),
      LS_ERR_CONFIG);
  assert_null(cfg);
  assert_non_null(strstr(err, "x.json"));
  assert_non_null(strstr(err, "$.tenants[0].sources[0].level"));
  const char *dup =
      "{\"tenants\":[{\"id\":\"t\",\"sources\":["
      "{\"id\":\"a\",\"level\":\"user\",\"token_sha256\":\""
      "1111111111111111111111111111111111111111111111111111111111111111\"},"
      "{\"id\":\"b\",\"level\":\"user\",\"token_sha256\":\""
      "1111111111111111111111111111111111111111111111111111111111111111\"}],"
      "\"hubspot\":{}}]}";
  assert_int_equal(ls_config_load_text(dup, "d.json", &cfg, err, sizeof err),
                   LS_ERR_CONFIG);
  assert_non_null(strstr(err, "duplicate token"));
  assert_int_equal(
      ls_config_load_text("{", "broken.json", &cfg, err, sizeof err),
      LS_ERR_CONFIG);
  assert_non_null(strstr(err, "broken.json"));
}

static void metrics_render_prometheus_text(void **state) {
  (void)state;
  ls_metrics *m = ls_metrics_new();
  ls_metrics_inc(m, "x_total", "things", "status=\"200\"", 2);
  ls_metrics_inc(m, "x_total", "things", "status=\"200\"", 1);
  ls_metrics_set(m, "y", "a gauge", NULL, 5);
  ls_metrics_observe(m, "lat_seconds", "latency", NULL, 0.003);
  size_t len;
  char *t = ls_metrics_render(m, &len);
  assert_non_null(strstr(t, "# TYPE x_total counter\n"));
  assert_non_null(strstr(t, "x_total{status=\"200\"} 3\n"));
  assert_non_null(strstr(t, "y 5\n"));
  assert_non_null(strstr(t, "lat_seconds_bucket{le=\"0.0025\"} 0\n"));
  assert_non_null(strstr(t, "lat_seconds_bucket{le=\"0.005\"} 1\n"));
  assert_non_null(strstr(t, "lat_seconds_count 1\n"));
  assert_true(ls_metrics_get(m, "x_total", "status=\"200\"") == 3);
  free(t);
  ls_metrics_free(m);
}

/* Chained appends stop at the first failure: the text ends with what
 * fitted and the error stays in the slot. */
static void buf_put_chain_keeps_first_error(void **state) {
  (void)state;
  ls_buf b;
  ls_buf_init(&b, 8);
  ls_err e = LS_OK;
  ls_buf_putz(&b, &e, "abc");
  ls_buf_putf(&b, &e, "%d", 12);
  assert_int_equal(e, LS_OK);
  ls_buf_putz(&b, &e, "toolong");
  assert_int_equal(e, LS_ERR_TOO_LARGE);
  ls_buf_put(&b, &e, "z", 1); /* would fit, but the chain has failed */
  assert_int_equal(e, LS_ERR_TOO_LARGE);
  assert_string_equal(b.data, "abc12");
  ls_buf_free(&b);
}

/* An empty variable counts as unset; a flag's value wins over the env. */
static void env_treats_empty_as_unset(void **state) {
  (void)state;
  assert_int_equal(setenv("LS_TEST_ENV_X", "", 1), 0);
  assert_null(ls_env("LS_TEST_ENV_X"));
  assert_null(ls_env_or(NULL, "LS_TEST_ENV_X"));
  assert_int_equal(setenv("LS_TEST_ENV_X", "v", 1), 0);
  assert_string_equal(ls_env("LS_TEST_ENV_X"), "v");
  assert_string_equal(ls_env_or("flag", "LS_TEST_ENV_X"), "flag");
  assert_string_equal(ls_env_or(NULL, "LS_TEST_ENV_X"), "v");
  assert_null(ls_env(NULL));
  unsetenv("LS_TEST_ENV_X");
  assert_null(ls_env("LS_TEST_ENV_X"));
}

/* A signal only raises its flag; SIGPIPE is ignored once installed. */
static void signals_raise_their_flags(void **state) {
  (void)state;
  static volatile sig_atomic_t stop, usr;
  ls_signals_install(&stop);
  ls_signal_flag(SIGUSR1, &usr);
  assert_int_equal(raise(SIGUSR1), 0);
  assert_int_equal(usr, 1);
  assert_int_equal(stop, 0);
  assert_int_equal(raise(SIGPIPE), 0); /* would end the test if not ignored */
  assert_int_equal(raise(SIGTERM), 0);
  assert_int_equal(stop, 1);
  stop = 0;
  assert_int_equal(raise(SIGINT), 0);
  assert_int_equal(stop, 1);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGUSR1, SIG_DFL);
}

/* HTML/mrkdwn escaping: quotes only when asked, n bounds the bytes, and at
 * the ceiling the text ends with the whole entities and bytes that fitted. */
static void buf_put_escaped_escapes_and_stops_at_ceiling(void **state) {
  (void)state;
  ls_buf b;
  ls_buf_init(&b, 64);
  ls_err e = LS_OK;
  ls_buf_put_escaped(&b, &e, "a<b>&\"c\"", 8, 1);
  ls_buf_putz(&b, &e, "|");
  ls_buf_put_escaped(&b, &e, "\"x&y\"zz", 5, 0);
  ls_buf_put_escaped(&b, &e, NULL, 3, 1);
  assert_int_equal(e, LS_OK);
  assert_string_equal(b.data, "a&lt;b&gt;&amp;&quot;c&quot;|\"x&amp;y\"");
  ls_buf_free(&b);
  ls_buf_init(&b, 6);
  ls_buf_put_escaped(&b, &e, "ab&cd", 5, 0);
  assert_int_equal(e, LS_ERR_TOO_LARGE);
  assert_string_equal(b.data, "ab");
  ls_buf_free(&b);
}

/* LS_ARRAY_GROW keeps the elements, doubles, and refuses a size that
 * would overflow without touching the array. */
static void array_grows_keeps_elements_and_refuses_overflow(void **state) {
  (void)state;
  int *v = NULL;
  size_t n = 0, cap = 0;
  for (int i = 0; i < 1000; i++) {
    assert_true(LS_ARRAY_GROW(v, cap, n + 1));
    v[n++] = i;
  }
  assert_int_equal(cap, 1024);
  for (int i = 0; i < 1000; i++)
    assert_int_equal(v[i], i);
  int *before = v;
  assert_false(LS_ARRAY_GROW(v, cap, (size_t)-1 / 2));
  assert_ptr_equal(v, before);
  assert_int_equal(cap, 1024);
  assert_true(LS_ARRAY_GROW(v, cap, 10)); /* already large enough */
  assert_ptr_equal(v, before);
  free(v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(buf_refuses_to_cross_its_ceiling),
      cmocka_unit_test(array_grows_keeps_elements_and_refuses_overflow),
      cmocka_unit_test(buf_put_chain_keeps_first_error),
      cmocka_unit_test(buf_put_escaped_escapes_and_stops_at_ceiling),
      cmocka_unit_test(signals_raise_their_flags),
      cmocka_unit_test(env_treats_empty_as_unset),
      cmocka_unit_test(time_parses_every_smartlead_shape),
      cmocka_unit_test(time_format_matches_printf),
      cmocka_unit_test(sha256_matches_a_known_vector),
      cmocka_unit_test(dev_config_loads_and_finds_sources),
      cmocka_unit_test(config_errors_name_file_path_and_rule),
      cmocka_unit_test(metrics_render_prometheus_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
