/* Unit tests of the worker's de-duplication state tables (wrk_ledger,
 * local: no Kafka): flags per event and partition, partitions kept apart,
 * growth through many entries at a few dozen bytes each, the window test
 * and worker.dedup_window as the config loader reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ls_config_rules.h"
#include "ls_time.h"
#include "wrk_ledger.h"

static void id_of(unsigned n, char out[33]) {
  /* Hash-like ids and structured ones (differing in the last digits). */
  snprintf(out, 33, "%08x%08x%08x%08x", n * 2654435761u, n ^ 0x5bd1e995u,
           n * 40503u, n);
}

static void test_flags(void **state) {
  (void)state;
  wrk_ledger *l = wrk_ledger_new_local();
  assert_non_null(l);
  char id[33];
  id_of(1, id);
  assert_int_equal(wrk_ledger_seen(l, 3, id), 0);
  wrk_ledger_record(l, 3, id, WRK_SEEN_INTENT);
  assert_int_equal(wrk_ledger_seen(l, 3, id), WRK_SEEN_INTENT);
  wrk_ledger_record(l, 3, id, WRK_SEEN_SYNCED);
  assert_int_equal(wrk_ledger_seen(l, 3, id),
                   WRK_SEEN_INTENT | WRK_SEEN_SYNCED);
  /* Another partition's table does not know it. */
  assert_int_equal(wrk_ledger_seen(l, 4, id), 0);
  /* Ids that differ only in their last digits stay apart. */
  char a[33] = "00000000000000000000000000000001";
  char b[33] = "00000000000000000000000000000002";
  wrk_ledger_record(l, 0, a, WRK_SEEN_DONE);
  assert_int_equal(wrk_ledger_seen(l, 0, a), WRK_SEEN_DONE);
  assert_int_equal(wrk_ledger_seen(l, 0, b), 0);
  /* Not a 32-hex id: hashed, still found. */
  wrk_ledger_record(l, 0, "not-a-hex-id", WRK_SEEN_SYNCED);
  assert_int_equal(wrk_ledger_seen(l, 0, "not-a-hex-id"), WRK_SEEN_SYNCED);
  assert_int_equal(wrk_ledger_size(l), 3);
  assert_true(wrk_ledger_restored(l, 7));
  assert_int_equal(wrk_ledger_restoring(l), 0);
  wrk_ledger_free(l);
}

static void test_many(void **state) {
  (void)state;
  wrk_ledger *l = wrk_ledger_new_local();
  enum { N = 200000, PARTS = 8 };
  char id[33];
  for (unsigned i = 0; i < N; i++) {
    id_of(i, id);
    wrk_ledger_record(l, (int32_t)(i % PARTS), id, WRK_SEEN_SYNCED);
  }
  assert_int_equal(wrk_ledger_size(l), N);
  for (unsigned i = 0; i < N; i++) {
    id_of(i, id);
    assert_int_equal(wrk_ledger_seen(l, (int32_t)(i % PARTS), id),
                     WRK_SEEN_SYNCED);
    assert_int_equal(wrk_ledger_seen(l, (int32_t)((i + 1) % PARTS), id), 0);
  }
  for (unsigned i = N; i < N + 1000; i++) {
    id_of(i, id);
    assert_int_equal(wrk_ledger_seen(l, (int32_t)(i % PARTS), id), 0);
  }
  wrk_ledger_free(l);
}

static void test_window(void **state) {
  (void)state;
  wrk_ledger *l = wrk_ledger_new_local(); /* the default: 8 days */
  int64_t now = ls_now_us();
  assert_false(wrk_ledger_beyond_window(l, now - 3600LL * 1000000));
  assert_false(wrk_ledger_beyond_window(l, now - 7LL * 86400 * 1000000));
  assert_true(wrk_ledger_beyond_window(l, now - 9LL * 86400 * 1000000));
  assert_false(wrk_ledger_beyond_window(l, 0)); /* unknown: not suspect */
  wrk_ledger_free(l);
}

static long window_of(const char *json) {
  json_t *root = json_loads(json, 0, NULL);
  ls_ingress_conf in;
  ls_worker_conf w;
  memset(&w, 0, sizeof w);
  ls_config_parse_sections(root, &in, &w);
  long s = w.dedup_window_s;
  ls_config_free_sections(&w);
  json_decref(root);
  return s;
}

static void test_config(void **state) {
  (void)state;
  assert_int_equal(window_of("{}"), 8 * 86400);
  assert_int_equal(window_of("{\"worker\":{\"dedup_window\":\"8d\"}}"),
                   8 * 86400);
  assert_int_equal(window_of("{\"worker\":{\"dedup_window\":\"36h\"}}"),
                   36 * 3600);
  assert_int_equal(window_of("{\"worker\":{\"dedup_window\":\"90m\"}}"),
                   90 * 60);
  assert_int_equal(window_of("{\"worker\":{\"dedup_window\":3}}"), 3);
  assert_int_equal(window_of("{\"worker\":{\"dedup_window\":\"3x\"}}"),
                   8 * 86400);
}

/* The expiry sweep in slices (wrk_ledger_sweep_step): entries recorded
 * before the window's minute go, the others stay, entries recorded while
 * the round is under way are kept, and every entry stays reachable while
 * entries around it are deleted in place. */
static void test_sweep_slices(void **state) {
  (void)state;
  wrk_ledger *l = wrk_ledger_new_local(); /* 8 days */
  enum { N = 60000, PARTS = 4 };
  const int64_t now = ls_now_us(), day = 86400LL * 1000000;
  char id[33];
  for (unsigned i = 0; i < N; i++) {
    id_of(i, id);
    /* Even: 9 days old (expired); odd: 7 days 23 h (inside the window). */
    int64_t at = i % 2 ? now - 8 * day + 3600LL * 1000000 : now - 9 * day;
    wrk_ledger_record_at(l, (int32_t)(i % PARTS), id, WRK_SEEN_SYNCED, at);
  }
  assert_int_equal(wrk_ledger_size(l), N);
  int steps = 0;
  unsigned extra = N;
  while (!wrk_ledger_sweep_step(l, now, 1)) {
    steps++;
    /* New entries during the round stay (recorded now). */
    id_of(extra, id);
    wrk_ledger_record(l, (int32_t)(extra % PARTS), id, WRK_SEEN_DONE);
    extra++;
  }
  assert_true(steps > 1); /* the round took several slices */
  assert_int_equal(wrk_ledger_size(l), N / 2 + (extra - N));
  for (unsigned i = 0; i < N; i++) {
    id_of(i, id);
    assert_int_equal(wrk_ledger_seen(l, (int32_t)(i % PARTS), id),
                     i % 2 ? WRK_SEEN_SYNCED : 0);
  }
  for (unsigned i = N; i < extra; i++) {
    id_of(i, id);
    assert_int_equal(wrk_ledger_seen(l, (int32_t)(i % PARTS), id),
                     WRK_SEEN_DONE);
  }
  /* A second round finds nothing more to expire. */
  while (!wrk_ledger_sweep_step(l, now, 1))
    ;
  assert_int_equal(wrk_ledger_size(l), N / 2 + (extra - N));
  wrk_ledger_free(l);
}

/* Printed, not asserted: the longest the loop waits for expiry, the whole
 * round in one call (as before: every partition's table at once) against
 * the 2 ms slices of wrk_ledger_poll. LEDGER_SWEEP_N sets the entries
 * (default 1,000,000 over 32 partitions, half of them expired). */
static double fill_expired(wrk_ledger *l, unsigned n, int64_t now) {
  char id[33];
  for (unsigned i = 0; i < n; i++) {
    id_of(i, id);
    wrk_ledger_record_at(l, (int32_t)(i % 32), id, WRK_SEEN_SYNCED,
                         i % 2 ? now : now - 9 * 86400LL * 1000000);
  }
  return (double)wrk_ledger_size(l);
}

static void test_sweep_stall(void **state) {
  (void)state;
  const char *env = getenv("LEDGER_SWEEP_N");
  unsigned n = env ? (unsigned)strtoul(env, NULL, 10) : 1000000;
  int64_t now = ls_now_us();
  wrk_ledger *l = wrk_ledger_new_local();
  fill_expired(l, n, now);
  int64_t t = ls_mono_us();
  assert_true(wrk_ledger_sweep_step(l, now, 0));
  double whole_ms = (double)(ls_mono_us() - t) / 1000;
  wrk_ledger_free(l);
  l = wrk_ledger_new_local();
  fill_expired(l, n, now);
  double max_ms = 0;
  int slices = 0;
  for (bool done = false; !done; slices++) {
    t = ls_mono_us();
    done = wrk_ledger_sweep_step(l, now, 2000);
    double ms = (double)(ls_mono_us() - t) / 1000;
    if (ms > max_ms)
      max_ms = ms;
    if (getenv("LEDGER_SWEEP_TRACE"))
      printf("slice %d: %.2f ms\n", slices, ms);
  }
  printf("ledger sweep, %u entries (half expired), 32 partitions: whole "
         "round in one call %.1f ms; in 2 ms slices: %d slices, longest "
         "%.2f ms\n",
         n, whole_ms, slices, max_ms);
  assert_int_equal(wrk_ledger_size(l), n / 2);
  wrk_ledger_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags),       cmocka_unit_test(test_many),
      cmocka_unit_test(test_window),      cmocka_unit_test(test_sweep_slices),
      cmocka_unit_test(test_sweep_stall), cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
