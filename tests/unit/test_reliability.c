/* Unit tests for issue 12 (worker side): every number read from HubSpot
 * is clamped (absurd Retry-After and rate-limit headers cannot overflow or
 * block a portal for years); addresses are masked in log text; addresses
 * are case-folded for every letter, not only ASCII. */
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
#include "ls_event.h"
#include "ls_hash.h"
#include "ls_mask.h"

#define NOW 1000000000000LL /* mono us, far from 0 */
#define WINDOW_MS 10000L
#define GUARD_MS 500L

static hs_limiter *limiter(void) {
  hs_limiter_conf c = {100, WINDOW_MS, 250000, GUARD_MS, 4, 0, 0};
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

static void test_mask_hides_addresses(void **st) {
  (void)st;
  char out[256], hex[65], want[64];
  ls_mask_pii("Email address Jane.Doe+x@Acme-Example.com is invalid", out,
              sizeof out);
  ls_sha256_hex("jane.doe+x@acme-example.com", 27, hex);
  snprintf(want, sizeof want, "<email:%.8s>", hex);
  assert_null(strstr(out, "Jane"));
  assert_null(strstr(out, "acme"));
  assert_non_null(strstr(out, want));
  assert_string_equal(strstr(out, " is invalid"), " is invalid");
  assert_int_equal(strncmp(out, "Email address <email:", 21), 0);
  /* Two addresses, quotes around one, nothing else touched. */
  ls_mask_pii("a@b.io and \"c.d@e.org\": no", out, sizeof out);
  assert_null(strchr(out, '@'));
  assert_non_null(strstr(out, "\": no"));
  ls_mask_pii("no address here @ all", out, sizeof out);
  assert_string_equal(out, "no address here @ all");
  /* Truncation keeps the string terminated and masked. */
  char small[12];
  ls_mask_pii("x@y.com", small, sizeof small);
  assert_null(strchr(small, '@'));
  assert_true(strlen(small) < sizeof small);
}

static void test_email_case_folding_all_letters(void **st) {
  (void)st;
  char a[128], b[128];
  ls_normalize_email("  J\xc3\x9cRGEN.M\xc3\x84RZ@Example.DE ", a, sizeof a);
  ls_normalize_email("j\xc3\xbcrgen.m\xc3\xa4rz@example.de", b, sizeof b);
  assert_string_equal(a, b);
  /* Greek and Cyrillic capitals. */
  ls_normalize_email("\xce\x91\xce\x92@x.gr", a, sizeof a); /* AB */
  assert_string_equal(a, "\xce\xb1\xce\xb2@x.gr");
  ls_normalize_email("\xd0\x98\xd0\x92\xd0\x90\xd0\x9d@x.ru", a, sizeof a);
  assert_string_equal(a, "\xd0\xb8\xd0\xb2\xd0\xb0\xd0\xbd@x.ru");
  /* Bytes that are not UTF-8 are kept; ASCII folds as before. */
  ls_normalize_email("A\xff"
                     "B@X.COM",
                     a, sizeof a);
  assert_string_equal(a, "a\xff"
                         "b@x.com");
  /* Too long for the buffer: no address. */
  ls_normalize_email("abcdef@example.com", a, 8);
  assert_string_equal(a, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_after_parse_is_bounded),
      cmocka_unit_test(test_ten_secondly_wait_bounded_by_window),
      cmocka_unit_test(test_search_wait_bounded_by_window),
      cmocka_unit_test(test_daily_wait_at_most_25_hours),
      cmocka_unit_test(test_absurd_headers_do_not_overflow),
      cmocka_unit_test(test_mask_hides_addresses),
      cmocka_unit_test(test_email_case_folding_all_letters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
