/* Unit tests for the filter's per-partition state (filter/fl_state.c) and
 * the category rules (lib/model/ls_category.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl_state.h"
#include "ls_category.h"

#define EV(n) fl_evid_of(n)

static fl_item *take(fl_state *s, const char *key, size_t *n) {
  fl_item *v;
  assert_true(fl_state_take(s, fl_lead_of(key), &v, n));
  return v;
}

static void held_records_come_back_in_offset_order_once(void **state) {
  (void)state;
  fl_state *s = fl_state_new();
  fl_lead a = fl_lead_of("t:1:a@x"), b = fl_lead_of("t:1:b@x");
  assert_int_equal(fl_state_cat(s, a, NULL), FL_CAT_UNKNOWN);
  assert_int_equal(fl_state_hold(s, a, 0, EV("e3"), 10, 300), FL_HELD);
  assert_int_equal(fl_state_hold(s, a, 0, EV("e1"), 11, 100), FL_HELD);
  assert_int_equal(fl_state_hold(s, a, 0, EV("e2"), 12, 100), FL_HELD);
  /* The same event forwarded twice is held once. */
  assert_int_equal(fl_state_hold(s, a, 0, EV("e1"), 13, 100), FL_DUPLICATE);
  assert_int_equal(fl_state_hold(s, b, 0, EV("f1"), 14, 50), FL_HELD);
  assert_int_equal(fl_state_held(s), 4);
  size_t n;
  fl_item *v = take(s, "t:1:a@x", &n);
  assert_int_equal(n, 3);
  assert_int_equal(v[0].offset, 10);
  assert_int_equal(v[1].offset, 11);
  assert_int_equal(v[2].offset, 12);
  assert_true(v[0].evid == EV("e3"));
  free(v);
  assert_int_equal(fl_state_held(s), 1);
  v = take(s, "t:1:a@x", &n);
  assert_int_equal(n, 0);
  assert_null(v);
  /* A 32-hex event id maps to its own first 64 bits. */
  assert_true(fl_evid_of("00000000000000ff0000000000000000") == 0xff);
  fl_state_free(s);
}

static void state_never_regresses_to_an_older_decision(void **state) {
  (void)state;
  fl_state *s = fl_state_new();
  fl_lead k = fl_lead_of("k");
  int64_t at;
  assert_true(fl_state_set_cat(s, k, 0, FL_CAT_ALLOWED, 20));
  assert_true(fl_state_set_cat(s, k, 0, FL_CAT_DENIED, 5)); /* replayed */
  assert_int_equal(fl_state_cat(s, k, &at), FL_CAT_ALLOWED);
  assert_int_equal(at, 20);
  assert_true(fl_state_set_cat(s, k, 0, FL_CAT_DENIED, 21));
  assert_int_equal(fl_state_cat(s, k, NULL), FL_CAT_DENIED);
  fl_state_free(s);
}

static void forget_and_expire(void **state) {
  (void)state;
  fl_state *s = fl_state_new();
  char key[32], id[32];
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof key, "t:1:%d@x", i);
    snprintf(id, sizeof id, "e%d", i);
    /* held at i seconds */
    assert_int_equal(
        fl_state_hold(s, fl_lead_of(key), 0, EV(id), i, (int64_t)i * 1000000),
        FL_HELD);
  }
  assert_int_equal(fl_state_leads(s), 3000);
  assert_true(fl_state_forget(s, fl_lead_of("t:1:7@x"), EV("e7")));
  assert_false(fl_state_forget(s, fl_lead_of("t:1:7@x"), EV("e7")));
  fl_item *v;
  size_t n = fl_state_take_expired(s, 100 * 1000000LL, &v);
  assert_int_equal(n, 99); /* held before 100 s, less the forgotten one */
  for (size_t i = 1; i < n; i++)
    assert_true(v[i - 1].offset < v[i].offset);
  free(v);
  assert_int_equal(fl_state_held(s), 2900);
  /* Freed pool slots are used again: the pool does not grow. */
  size_t bytes = fl_state_bytes(s);
  for (int i = 0; i < 99; i++) {
    snprintf(id, sizeof id, "again%d", i);
    assert_int_equal(
        fl_state_hold(s, fl_lead_of("t:1:5000@x"), 0, EV(id), 5000 + i, 0),
        FL_HELD);
  }
  assert_int_equal(fl_state_bytes(s), bytes);
  fl_state_free(s);
}

static void resident_bytes_per_held_lead_stay_small(void **state) {
  (void)state;
  fl_state *s = fl_state_new();
  char key[64];
  for (int i = 0; i < 100000; i++) {
    snprintf(key, sizeof key, "demo:4242:lead%06d@example.com", i);
    assert_int_equal(fl_state_hold(s, fl_lead_of(key), 0, EV(key), i, 1),
                     FL_HELD);
  }
  double per = (double)fl_state_bytes(s) / 100000.0;
  printf("state: %.1f bytes per held lead at 100,000\n", per);
  assert_true(per <= 96.0); /* a 32-byte lead slot and a 24-byte record */
  fl_state_free(s);
}

static void categories_by_name_or_id(void **state) {
  (void)state;
  ls_tenant t;
  memset(&t, 0, sizeof t);
  char *cats[] = {"Interested", "2", "96272"};
  t.has_filter = true;
  t.categories = cats;
  t.n_categories = 3;
  assert_true(ls_tenant_allows(&t, "1", "interested"));
  assert_true(ls_tenant_allows(&t, "2", "Meeting Request"));
  assert_true(ls_tenant_allows(&t, "96272", ""));
  assert_false(ls_tenant_allows(&t, "3", "Not Interested"));
  assert_false(ls_tenant_allows(&t, "", ""));
  t.has_filter = false;
  assert_true(ls_tenant_allows(&t, "3", "Not Interested"));

  json_t *new_shape = json_loads(
      "{\"lead_category\":{\"old_id\":null,\"new_id\":2,\"new_name\":"
      "\"Meeting Request\"},\"category\":\"Meeting Request\","
      "\"lead_category_id\":2}",
      0, NULL);
  json_t *old_shape = json_loads(
      "{\"category\":\"Interested\",\"lead_category_id\":\"1\"}", 0, NULL);
  char id[32], name[64];
  ls_event_category(new_shape, id, sizeof id, name, sizeof name);
  assert_string_equal(id, "2");
  assert_string_equal(name, "Meeting Request");
  ls_event_category(old_shape, id, sizeof id, name, sizeof name);
  assert_string_equal(id, "1");
  assert_string_equal(name, "Interested");
  json_decref(new_shape);
  json_decref(old_shape);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(held_records_come_back_in_offset_order_once),
      cmocka_unit_test(state_never_regresses_to_an_older_decision),
      cmocka_unit_test(forget_and_expire),
      cmocka_unit_test(resident_bytes_per_held_lead_stay_small),
      cmocka_unit_test(categories_by_name_or_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
