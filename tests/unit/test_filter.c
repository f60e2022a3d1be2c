/* Unit tests for the hold-and-release state (lib/ls_filter.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_filter.h"

static int freed;
static void count_free(void *p) {
  freed++;
  free(p);
}

static void held_records_come_back_in_event_time_order(void **state) {
  (void)state;
  ls_filter *f = ls_filter_new(count_free);
  freed = 0;
  assert_int_equal(ls_filter_state(f, "t:1:a@x", NULL), LS_CAT_UNKNOWN);
  assert_true(ls_filter_hold(f, "t:1:a@x", "e3", 300, 300, 10, strdup("c")));
  assert_true(ls_filter_hold(f, "t:1:a@x", "e1", 100, 100, 11, strdup("a")));
  assert_true(ls_filter_hold(f, "t:1:a@x", "e2", 100, 100, 12, strdup("b")));
  assert_false(ls_filter_hold(f, "t:1:a@x", "e1", 100, 100, 13, strdup("dup")));
  assert_int_equal(freed, 1); /* the duplicate's payload */
  assert_true(ls_filter_hold(f, "t:1:b@x", "f1", 50, 50, 14, strdup("z")));
  assert_int_equal(ls_filter_held(f), 4);
  ls_held_item *items;
  size_t n = ls_filter_take(f, "t:1:a@x", &items);
  assert_int_equal(n, 3);
  assert_string_equal(items[0].event_id, "e1");
  assert_string_equal(items[1].event_id, "e2"); /* same time: offset order */
  assert_string_equal(items[2].event_id, "e3");
  for (size_t i = 0; i < n; i++)
    ls_filter_item_free(f, &items[i]);
  free(items);
  assert_int_equal(ls_filter_held(f), 1);
  assert_int_equal(ls_filter_take(f, "t:1:a@x", &items), 0);
  ls_filter_free(f);
  assert_int_equal(freed, 5);
}

static void state_never_regresses_to_an_older_decision(void **state) {
  (void)state;
  ls_filter *f = ls_filter_new(free);
  int64_t at;
  ls_filter_set_state(f, "k", LS_CAT_ALLOWED, 20);
  ls_filter_set_state(f, "k", LS_CAT_DENIED, 5); /* replayed older record */
  assert_int_equal(ls_filter_state(f, "k", &at), LS_CAT_ALLOWED);
  assert_int_equal(at, 20);
  ls_filter_set_state(f, "k", LS_CAT_DENIED, 21);
  assert_int_equal(ls_filter_state(f, "k", NULL), LS_CAT_DENIED);
  ls_filter_free(f);
}

static void forget_and_expire(void **state) {
  (void)state;
  ls_filter *f = ls_filter_new(free);
  for (int i = 0; i < 3000; i++) { /* forces rehashing */
    char key[32], id[16];
    snprintf(key, sizeof key, "t:1:%d@x", i);
    snprintf(id, sizeof id, "e%d", i);
    ls_filter_hold(f, key, id, 1000 - i, i, i, strdup(id));
  }
  assert_int_equal(ls_filter_leads(f), 3000);
  assert_true(ls_filter_forget(f, "t:1:7@x", "e7"));
  assert_false(ls_filter_forget(f, "t:1:7@x", "e7"));
  ls_held_item *items;
  char **keys;
  size_t n = ls_filter_take_expired(f, 100, &items, &keys);
  assert_int_equal(n, 99); /* 0..99 minus the forgotten e7 */
  for (size_t i = 0; i < n; i++) {
    assert_true(items[i].held_us < 100);
    ls_filter_item_free(f, &items[i]);
    free(keys[i]);
  }
  free(items);
  free(keys);
  assert_int_equal(ls_filter_held(f), 2900);
  ls_filter_free(f);
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
      "\"lead_category_id\":2}", 0, NULL);
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
      cmocka_unit_test(held_records_come_back_in_event_time_order),
      cmocka_unit_test(state_never_regresses_to_an_older_decision),
      cmocka_unit_test(forget_and_expire),
      cmocka_unit_test(categories_by_name_or_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
