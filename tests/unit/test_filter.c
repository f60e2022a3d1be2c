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

static void count_tenant5(uint16_t tenant, const fl_item *it, void *ud) {
  (void)it;
  if (tenant == 5)
    ++*(size_t *)ud;
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

/* Snapshots: a state written as chunks and read back is the same state
 * (categories, held records in order, tenants through the map); a lead
 * with more held records than a chunk holds spans chunks; leads with
 * nothing to keep are not written; a malformed chunk is refused. */
static void snapshot_chunks_round_trip(void **state) {
  (void)state;
  fl_state *s = fl_state_new();
  char key[64], ev[64];
  for (int i = 0; i < 3000; i++) {
    snprintf(key, sizeof key, "t:1:l%d@x", i);
    fl_lead l = fl_lead_of(key);
    if (i % 3 == 1)
      assert_true(fl_state_set_cat(s, l, 0, FL_CAT_ALLOWED, 1000 + i));
    if (i % 3 == 2)
      assert_true(fl_state_set_cat(s, l, 1, FL_CAT_DENIED, 2000 + i));
    for (int k = 0; k < i % 4; k++) {
      snprintf(ev, sizeof ev, "e%d-%d", i, k);
      assert_int_equal(fl_state_hold(s, l, 1, EV(ev), 10 * i + k, 5000000),
                       FL_HELD);
    }
  }
  /* Released and forgotten: a lead with nothing to keep. */
  fl_lead gone = fl_lead_of("t:1:gone@x");
  assert_int_equal(fl_state_hold(s, gone, 0, EV("g"), 1, 1), FL_HELD);
  assert_true(fl_state_forget(s, gone, EV("g")));
  fl_lead big = fl_lead_of("t:1:big@x");
  for (int k = 0; k < 2000; k++) {
    snprintf(ev, sizeof ev, "b%d", k);
    assert_int_equal(fl_state_hold(s, big, 0, EV(ev), 100000 + k, 7000000),
                     FL_HELD);
  }
  size_t entries = fl_state_entries(s);
  fl_state *t = fl_state_new();
  uint16_t tmap[2] = {0, 5};
  fl_cursor c = {0};
  uint8_t buf[4096];
  size_t len, chunks = 0, total = 0;
  while ((len = fl_state_encode(s, &c, buf, sizeof buf)) > 0) {
    assert_true(len <= sizeof buf);
    assert_true(fl_state_decode(t, buf, len, tmap, 2));
    chunks++;
    total += len;
  }
  assert_true(chunks > 10); /* the big lead alone needs ten */
  /* The estimate the snapshot cadence uses is an upper bound, up to the
   * chunks' headers and a lead's entry repeated in each of its chunks. */
  assert_true(total <= fl_state_encoded_bytes(s) + chunks * (4 + 29));
  assert_true(total * 10 >= fl_state_encoded_bytes(s) * 9);
  assert_int_equal(fl_state_held(t), fl_state_held(s));
  assert_int_equal(fl_state_entries(t), entries);
  assert_int_equal(fl_state_leads(t), fl_state_leads(s) - 1); /* not gone */
  assert_int_equal(fl_state_cat(t, gone, NULL), FL_CAT_UNKNOWN);
  for (int i = 0; i < 3000; i += 7) {
    snprintf(key, sizeof key, "t:1:l%d@x", i);
    int64_t a1, a2;
    assert_int_equal(fl_state_cat(t, fl_lead_of(key), &a1),
                     fl_state_cat(s, fl_lead_of(key), &a2));
    assert_int_equal(a1, a2);
    size_t n1, n2;
    fl_item *v1 = take(s, key, &n1), *v2 = take(t, key, &n2);
    assert_int_equal(n1, n2);
    for (size_t k = 0; k < n1; k++) {
      assert_int_equal(v1[k].offset, v2[k].offset);
      assert_true(v1[k].evid == v2[k].evid);
      assert_int_equal(v1[k].held_us, v2[k].held_us);
    }
    free(v1);
    free(v2);
  }
  size_t n;
  fl_item *v = take(t, "t:1:big@x", &n);
  assert_int_equal(n, 2000);
  for (size_t k = 0; k < n; k++)
    assert_int_equal(v[k].offset, 100000 + (int64_t)k);
  free(v);
  /* Tenants through the map: the snapshot's 1 is this config's 5. */
  size_t held_by_5 = 0;
  fl_state_foreach_held(t, count_tenant5, &held_by_5);
  assert_true(held_by_5 > 0);
  /* Malformed: no magic, or cut in the middle of an entry. */
  c = (fl_cursor){0};
  len = fl_state_encode(t, &c, buf, sizeof buf);
  assert_true(len > 40);
  assert_false(fl_state_decode(t, buf + 1, len - 1, tmap, 2));
  assert_false(fl_state_decode(t, buf, len - 3, tmap, 2));
  fl_state_free(s);
  fl_state_free(t);
  /* An empty state writes no chunk. */
  s = fl_state_new();
  c = (fl_cursor){0};
  assert_int_equal(fl_state_encode(s, &c, buf, sizeof buf), 0);
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
      cmocka_unit_test(snapshot_chunks_round_trip),
      cmocka_unit_test(categories_by_name_or_id),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
