/* test_ing_hardening: the ingress's token buckets under allocation failure
 * (every calloc of ing_ratelimit_new failed in turn, through the linker's
 * --wrap=calloc) and the in-place secret_key mask of stored bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ing_json.h"
#include "ing_mask.h"
#include "ing_ratelimit.h"

/* ---- allocation failures ------------------------------------------------ */

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static int fail_at = -1; /* fail the k-th calloc from now (0-based) */
static int calls;

void *__wrap_calloc(size_t n, size_t size) {
  if (fail_at >= 0 && calls++ == fail_at)
    return NULL;
  return __real_calloc(n, size);
}

static void test_ratelimit_oom(void **state) {
  (void)state;
  ls_tenant tenants[2] = {{.id = "a"}, {.id = "b"}};
  ls_source srcs[3] = {
      {.id = "a1", .tenant = &tenants[0], .rate_per_s = 1, .rate_burst = 1},
      {.id = "a2", .tenant = &tenants[0]},
      {.id = "b1", .tenant = &tenants[1], .rate_per_s = 2, .rate_burst = 2}};
  tenants[0].sources = srcs;
  tenants[0].n_sources = 2;
  tenants[1].sources = srcs + 2;
  tenants[1].n_sources = 1;
  ls_config cfg = {.tenants = tenants, .n_tenants = 2};
  /* Every allocation of the constructor fails once: NULL, never a crash
   * (ASan reports any write through a NULL or any leak). */
  int failures = 0;
  for (int k = 0; k < 8; k++) {
    calls = 0;
    fail_at = k;
    ing_ratelimit *rl = ing_ratelimit_new(&cfg);
    int made = calls;
    fail_at = -1;
    if (k >= made) {
      /* Past the last allocation: it succeeded and works. */
      assert_non_null(rl);
      assert_true(ing_ratelimit_take(rl, &srcs[0], 0, NULL));
      int retry = 0;
      assert_false(ing_ratelimit_take(rl, &srcs[0], 1000, &retry));
      assert_true(retry >= 1);
      assert_true(ing_ratelimit_take(rl, &srcs[1], 0, NULL));
      ing_ratelimit_free(rl);
      break;
    }
    assert_null(rl);
    failures++;
  }
  assert_int_equal(failures, 3); /* the struct, the bases, the buckets */
}

/* ---- secret_key mask ---------------------------------------------------- */

static void masked_equal(const char *in, const char *want, size_t n_want) {
  size_t len = strlen(in);
  char *p = strdup(in);
  assert_int_equal(ing_mask_secret(p, len), n_want);
  assert_int_equal(strlen(p), len);
  assert_string_equal(p, want);
  free(p);
  /* The scanner's spans (one pass with the parse) mask the same bytes;
   * text that does not parse has no complete spans and is rescanned. */
  ing_mask_spans sp;
  json_t *v = NULL;
  ing_json_status st =
      ing_json_project_masked(NULL, in, len, 64, &v, NULL, &sp);
  json_decref(v);
  /* Complete only after a whole parse, with room for every value. */
  assert_int_equal(sp.complete,
                   st == ING_JSON_OK && n_want <= ING_MASK_SPANS_MAX);
  p = strdup(in);
  assert_int_equal(ing_mask_apply(p, len, &sp), n_want);
  assert_string_equal(p, want);
  free(p);
}

static void test_mask_basic(void **state) {
  (void)state;
  masked_equal("{\"event_type\":\"EMAIL_SENT\",\"secret_key\":\"abc-123\"}",
               "{\"event_type\":\"EMAIL_SENT\",\"secret_key\":\"*******\"}", 1);
  /* Escapes inside the value and non-ASCII: every byte between the quotes. */
  masked_equal("{\"secret_key\" : \"a\\\"b\\u00e9\xc3\xa9\", \"x\":1}",
               "{\"secret_key\" : \"************\", \"x\":1}", 1);
  /* The key spelt with escapes is the same key for a JSON parser. */
  masked_equal("{\"secret\\u005fkey\":\"s\"}", "{\"secret\\u005fkey\":\"*\"}",
               1);
  /* Numbers and booleans become strings of the same length. */
  masked_equal("{\"secret_key\":12345}", "{\"secret_key\":\"***\"}", 1);
  masked_equal("{\"secret_key\":7}", "{\"secret_key\":0}", 1);
  masked_equal("{\"secret_key\":true}", "{\"secret_key\":\"**\"}", 1);
  masked_equal("{\"secret_key\":null}", "{\"secret_key\":null}", 0);
  /* Duplicates and nested members are all masked; look-alikes are not. */
  masked_equal("{\"secret_key\":\"a\",\"n\":{\"secret_key\":\"bb\"},"
               "\"secret_key\":\"c\"}",
               "{\"secret_key\":\"*\",\"n\":{\"secret_key\":\"**\"},"
               "\"secret_key\":\"*\"}",
               3);
  masked_equal("{\"v\":\"secret_key\",\"secret_keys\":\"x\",\"Secret_key\":1}",
               "{\"v\":\"secret_key\",\"secret_keys\":\"x\",\"Secret_key\":1}",
               0);
  /* Malformed text: masked as far as it can be read, never overrun. */
  masked_equal("{\"secret_key\":\"unterminated",
               "{\"secret_key\":\"************", 1);
  masked_equal("{\"secret_key\"", "{\"secret_key\"", 0);
  masked_equal("", "", 0);
  /* In arrays, deep, next to look-alike values and with escapes in it. */
  masked_equal("[{\"a\":[{\"secret_key\":-1.5e3}]},{\"secret_key\":false}]",
               "[{\"a\":[{\"secret_key\":\"****\"}]},{\"secret_key\":\"***\"}]",
               2);
  masked_equal(
      "{\"\\u0073ecret_key\":\"x\\\"y\",\"secret_key\":{\"secret_key\":1}}",
      "{\"\\u0073ecret_key\":\"****\",\"secret_key\":{\"secret_key\":0}}", 2);
  /* More values than the scanner notes: the rescan masks them all. */
  char many[512], want[512];
  size_t o = 0, w = 0;
  many[o++] = want[w++] = '[';
  for (int k = 0; k < ING_MASK_SPANS_MAX + 2; k++) {
    o += (size_t)snprintf(many + o, sizeof many - o,
                          "%s{\"secret_key\":\"ab\"}", k ? "," : "");
    w += (size_t)snprintf(want + w, sizeof want - w,
                          "%s{\"secret_key\":\"**\"}", k ? "," : "");
  }
  many[o++] = want[w++] = ']';
  many[o] = want[w] = '\0';
  masked_equal(many, want, ING_MASK_SPANS_MAX + 2);
}

/* A real sample stays valid JSON, equal to the original but for the key. */
static void test_mask_sample(void **state) {
  (void)state;
  const char *srcdir = getenv("LS_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fixtures/smartlead/EMAIL_REPLY.json",
           srcdir ? srcdir : ".");
  json_error_t jerr;
  json_t *orig = json_load_file(path, 0, &jerr);
  assert_non_null(orig);
  json_object_set_new(orig, "secret_key",
                      json_string("00000000-1111-4222-8333-444444444444"));
  char *txt = json_dumps(orig, JSON_INDENT(2));
  size_t len = strlen(txt);
  char *copy = strdup(txt);
  assert_int_equal(ing_mask_secret(txt, len), 1);
  json_t *after = json_loadb(txt, len, 0, &jerr);
  assert_non_null(after);
  assert_string_equal(json_string_value(json_object_get(after, "secret_key")),
                      "************************************");
  json_object_del(after, "secret_key");
  json_object_del(orig, "secret_key");
  assert_true(json_equal(orig, after));
  /* Byte for byte, only the value's bytes differ. */
  size_t diff = 0;
  for (size_t i = 0; i < len; i++)
    diff += txt[i] != copy[i];
  assert_int_equal(diff, 36);
  free(copy);
  free(txt);
  json_decref(after);
  json_decref(orig);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ratelimit_oom),
      cmocka_unit_test(test_mask_basic),
      cmocka_unit_test(test_mask_sample),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
