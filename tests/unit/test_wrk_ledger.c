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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags),
      cmocka_unit_test(test_many),
      cmocka_unit_test(test_window),
      cmocka_unit_test(test_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
