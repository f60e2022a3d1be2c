/* Unit tests for issue 12 (worker side): every number read from HubSpot
 * is clamped (absurd Retry-After and rate-limit headers cannot overflow or
 * block a portal for years). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_ratelimit.h"

#define NOW 1000000000000LL /* mono us, far from 0 */
#define WINDOW_MS 10000L
#define GUARD_MS 500L

static hs_limiter *limiter(void) {
  hs_limiter_conf c = {100, WINDOW_MS, 250000, GUARD_MS, 4, 0};
  hs_limiter *l = hs_limiter_new(&c);
  assert_non_null(l);
  return l;
}

static void test_retry_after_parse_is_bounded(void **st) {
  (void)st;
  /* The values: 9223372036854775 s overflowed "s * 1000" (UBSan
   * abort); 100000000 s blocked a portal for about three years. */
  assert_int_equal(hs_rl_retry_after_ms(9223372036854775L),
                   HS_DAILY_WAIT_MAX_MS);
  assert_int_equal(hs_rl_retry_after_ms(100000000L), HS_DAILY_WAIT_MAX_MS);
  assert_int_equal(hs_rl_retry_after_ms(LONG_MAX), HS_DAILY_WAIT_MAX_MS);
  assert_int_equal(hs_rl_retry_after_ms(10), 10000);
  assert_int_equal(hs_rl_retry_after_ms(0), 0);
  assert_int_equal(hs_rl_retry_after_ms(-3), -1);
  assert_int_equal(hs_rl_clamp(LONG_MAX), 1000000000L);
  assert_int_equal(hs_rl_clamp(-7), -1);
  assert_int_equal(hs_rl_clamp(190), 190);
}

static void test_ten_secondly_wait_bounded_by_window(void **st) {
  (void)st;
  long absurd[] = {hs_rl_retry_after_ms(9223372036854775L),
                   hs_rl_retry_after_ms(100000000L), LONG_MAX / 2,
                   HS_DAILY_WAIT_MAX_MS};
  for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
    hs_limiter *l = limiter();
    hs_limiter_on_429(l, false, false, NOW, absurd[i]);
    int64_t w = hs_limiter_acquire(l, false, NOW);
    assert_true(w > 0);
    assert_true(w <= (WINDOW_MS + GUARD_MS) * 1000);
    /* Once the window plus guard passed, requests go again. */
    int64_t t = NOW + (WINDOW_MS + GUARD_MS) * 1000 + 1;
    assert_int_equal(hs_limiter_acquire(l, false, t), 0);
    hs_limiter_free(l);
  }
}

static void test_search_wait_bounded_by_window(void **st) {
  (void)st;
  hs_limiter *l = limiter();
  hs_limiter_on_429(l, true, false, NOW,
                    hs_rl_retry_after_ms(9223372036854775L));
  int64_t w = hs_limiter_acquire(l, true, NOW);
  assert_true(w <= (WINDOW_MS + GUARD_MS) * 1000);
  int64_t t = NOW + (WINDOW_MS + GUARD_MS) * 1000 + 1;
  assert_int_equal(hs_limiter_acquire(l, true, t), 0);
  hs_limiter_free(l);
}

static void test_daily_wait_at_most_25_hours(void **st) {
  (void)st;
  long absurd[] = {hs_rl_retry_after_ms(100000000L), LONG_MAX / 1000, LONG_MAX};
  for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
    hs_limiter *l = limiter();
    hs_limiter_on_429(l, false, true, NOW, absurd[i]);
    int64_t until = 0;
    assert_true(hs_limiter_daily_blocked(l, NOW, &until));
    assert_true(until > NOW);
    assert_true(until - NOW <= (int64_t)HS_DAILY_WAIT_MAX_MS * 1000);
    assert_false(hs_limiter_daily_blocked(
        l, NOW + (int64_t)HS_DAILY_WAIT_MAX_MS * 1000 + 1, NULL));
    hs_limiter_free(l);
  }
}

static void test_absurd_headers_do_not_overflow(void **st) {
  (void)st;
  hs_limiter *l = limiter();
  hs_rl_headers h;
  hs_rl_headers_clear(&h);
  h.remaining = hs_rl_clamp(LONG_MAX);
  h.max = hs_rl_clamp(LONG_MAX);
  h.daily = hs_rl_clamp(LONG_MAX);
  h.daily_remaining = hs_rl_clamp(LONG_MIN);
  h.interval_ms = hs_rl_clamp(LONG_MAX);
  assert_int_equal(hs_limiter_acquire(l, false, NOW), 0);
  hs_limiter_observe(l, false, NOW, NOW + 1000, &h);
  int64_t w = hs_limiter_acquire(l, false, NOW + 2000);
  assert_true(w >= 0 && w <= (WINDOW_MS + GUARD_MS) * 1000);
  assert_false(hs_limiter_daily_blocked(l, NOW + 2000, NULL));
  hs_limiter_free(l);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_after_parse_is_bounded),
      cmocka_unit_test(test_ten_secondly_wait_bounded_by_window),
      cmocka_unit_test(test_search_wait_bounded_by_window),
      cmocka_unit_test(test_daily_wait_at_most_25_hours),
      cmocka_unit_test(test_absurd_headers_do_not_overflow),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
