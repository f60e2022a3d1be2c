/* ls_json against jansson: every input accepted or rejected alike, equal
 * trees, and the writer byte-for-byte equal to json_dumps(JSON_COMPACT). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ls_json.h"

/* Both readers on buf: both fail, or both succeed with equal values whose
 * writers agree (jansson keeps insertion order, so the text compares). */
static void same(const char *buf, size_t len) {
  json_t *a = json_loadb(buf, len, 0, NULL);
  json_t *b = ls_json_loadb(buf, len);
  if (!a || !b) {
    if (a || b)
      fail_msg("jansson %s, ls_json %s: %.*s", a ? "accepts" : "rejects",
               b ? "accepts" : "rejects", (int)(len > 200 ? 200 : len), buf);
    json_decref(a);
    json_decref(b);
    return;
  }
  assert_true(json_equal(a, b));
  char *da = json_dumps(a, JSON_COMPACT);
  size_t n = 0;
  char *db = ls_json_dumps(b, &n);
  assert_non_null(da);
  assert_non_null(db);
  assert_string_equal(da, db);
  assert_int_equal(n, strlen(da));
  free(da);
  free(db);
  json_decref(a);
  json_decref(b);
}

static void s(const char *t) {
  same(t, strlen(t));
}

static void test_cases(void **state) {
  (void)state;
  static const char *const cases[] = {
      "{}",
      "[]",
      " {} ",
      "\t[\n]\r\n",
      "",
      " ",
      "1",
      "\"x\"",
      "true",
      "null",
      "{\"a\":1}",
      "{\"a\":1,}",
      "[1,]",
      "[,1]",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":1}x",
      "{\"a\":1} {}",
      "[1 2]",
      "[01]",
      "[-0]",
      "[-]",
      "[-01]",
      "[1.]",
      "[1.5]",
      "[.5]",
      "[1e5]",
      "[1E+5]",
      "[1e-5]",
      "[1e]",
      "[1e+]",
      "[-1.25e-3]",
      "[9223372036854775807]",
      "[-9223372036854775808]",
      "[9223372036854775808]",
      "[-9223372036854775809]",
      "[1e309]",
      "[-1e309]",
      "[1e-400]",
      "[0.1]",
      "[100000000000000000000000.0]",
      "[true,false,null]",
      "[tru]",
      "[truex]",
      "[nul]",
      "[True]",
      "{\"a\":{\"b\":[1,{\"c\":null}]}}",
      "{\"a\":1,\"a\":2}",
      "{\"b\":1,\"a\":2,\"b\":3}",
      "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]",
      "[\"\\u0041\\u00e9\\u20AC\"]",
      "[\"\\ud83d\\ude00\"]",
      "[\"\\ud83d\"]",
      "[\"\\ud83dx\"]",
      "[\"\\ude00\"]",
      "[\"\\ud83d\\u0041\"]",
      "[\"\\u0000\"]",
      "[\"\\u001f\\u007f\"]",
      "[\"\\x\"]",
      "[\"\\u12\"]",
      "[\"\\u12G4\"]",
      "[\"a\nb\"]",
      "[\"a\tb\"]",
      "[\"caf\xc3\xa9\"]",
      "[\"\xc3\"]",
      "[\"\xc0\xaf\"]",
      "[\"\xed\xa0\x80\"]",
      "[\"\xf4\x90\x80\x80\"]",
      "[\"\xf0\x9f\x98\x80\"]",
      "[\"\xe2\x82\"]",
      "[\"\x80\"]",
      "[\"\xff\"]",
      "[\"unterminated",
      "{\"k\\u00e9y\":\"v\"}",
      "{\"\\u0000\":1}",
      "{\"a\":[]}",
      "[[[[]]]]",
      "[\"</script>\"]",
      "{\"\":\"\"}",
      "[\"\x7f\"]",
      "\xef\xbb\xbf{}",
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    s(cases[i]);
  /* A NUL byte inside the buffer. */
  same("{}\0", 3);
  same("[\"a\0b\"]", 7);
  /* The one difference (ls_json.h): jansson skips a NUL right after a
   * number or a literal; ls_json refuses every NUL. */
  static const char *const nul_after[] = {"[1\0]", "[true\0]", "[1.5\0]",
                                          "{\"a\":null\0}"};
  static const size_t nul_len[] = {4, 7, 6, 11};
  for (size_t i = 0; i < 4; i++) {
    json_t *a = json_loadb(nul_after[i], nul_len[i], 0, NULL);
    assert_non_null(a); /* the quirk, so this test notices when it goes */
    json_decref(a);
    assert_null(ls_json_loadb(nul_after[i], nul_len[i]));
  }
}

static void test_depth(void **state) {
  (void)state;
  /* jansson's limit: 2048 nested values, a scalar counting as one. */
  for (int d = 2046; d <= 2050; d++) {
    char *b = malloc((size_t)(2 * d + 2));
    for (int i = 0; i < d; i++)
      b[i] = '[';
    for (int i = 0; i < d; i++)
      b[d + i] = ']';
    same(b, (size_t)(2 * d));
    b[d - 1] = '1';
    same(b, (size_t)(2 * d)); /* d-1 arrays around a scalar ... */
    memmove(b + d, b + d + 1, (size_t)(d - 1));
    same(b, (size_t)(2 * d - 1));
    free(b);
  }
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

/* Every Smartlead fixture, and seeded mutations of each: truncations and
 * flipped bytes, so the rejections are compared too. */
static void test_fixtures_and_mutations(void **state) {
  (void)state;
  const char *src = getenv("LS_SOURCE_DIR");
  char dir[1024], path[2048];
  snprintf(dir, sizeof dir, "%s/tests/fixtures/smartlead", src ? src : ".");
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  unsigned seed = 12345, files = 0;
  static const char flips[] = "\"\\{}[],:0-.eu \x01\x80\xc3\xff";
  while ((de = readdir(d))) {
    if (!strstr(de->d_name, ".json"))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    size_t len = 0;
    char *b = slurp(path, &len);
    assert_non_null(b);
    files++;
    same(b, len);
    for (size_t cut = 0; cut < len; cut += len / 40 + 1)
      same(b, cut);
    for (int k = 0; k < 400; k++) {
      char *m = malloc(len);
      memcpy(m, b, len);
      for (int f = 0; f < 1 + k % 3; f++) {
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % len;
        seed = seed * 1103515245u + 12345u;
        m[at] = flips[(seed >> 8) % (sizeof flips - 1)];
      }
      same(m, len);
      free(m);
    }
    free(b);
  }
  closedir(d);
  assert_true(files >= 5);
}

/* The writer on trees built in code: escapes, NUL in a value, reals. */
static void test_dumps(void **state) {
  (void)state;
  json_t *j = json_pack("{s:s,s:i,s:f,s:f,s:f,s:b,s:n,s:[],s:{},s:[s,i]}", "a",
                        "q\"\\/\x01\x1f\n\xe2\x82\xac", "b", -42, "c", 1.0, "d",
                        0.1, "e", 1e300, "f", 1, "g", "h", "i", "j", "x", 7);
  json_object_set_new(j, "nul", json_stringn("a\0b", 3));
  json_object_set_new(j, "bad", json_string_nocheck("\xff"));
  char *a = json_dumps(j, JSON_COMPACT), *b = ls_json_dumps(j, NULL);
  assert_null(a); /* invalid UTF-8: both refuse */
  assert_null(b);
  json_object_del(j, "bad");
  a = json_dumps(j, JSON_COMPACT);
  b = ls_json_dumps(j, NULL);
  assert_non_null(a);
  assert_non_null(b);
  assert_string_equal(a, b);
  free(a);
  free(b);
  json_t *sc = json_integer(1);
  assert_null(ls_json_dumps(sc, NULL)); /* like json_dumps without ENCODE_ANY */
  assert_null(ls_json_dumps(NULL, NULL));
  json_decref(sc);
  json_decref(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases),
      cmocka_unit_test(test_depth),
      cmocka_unit_test(test_fixtures_and_mutations),
      cmocka_unit_test(test_dumps),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
