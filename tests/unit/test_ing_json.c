/* test_ing_json: the single-pass scanner (ingress/ing_json.c) against
 * jansson, and the route built on it against the DOM route it replaced
 * (tests/ingress/route_ref.c): every fixture, the fuzz seeds and thousands
 * of mutations of them must get the same verdict, event id, key, topic,
 * drift label and scope flag under every kind of source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ing_json.h"
#include "ing_route.h"
#include "ls_hash.h"
#include "route_ref.h"

static ing_schemas *schemas;
static ls_tenant tenant = {.id = "t1"};
static ls_source sources[4];
static long compared;

static int setup(void **state) {
  (void)state;
  char dir[1024], err[LS_ERRSTR_SIZE];
  snprintf(dir, sizeof dir, "%s/smartlead", ls_schema_dir());
  schemas = ing_schemas_load(dir, err, sizeof err);
  if (!schemas)
    fail_msg("%s", err);
  sources[0] =
      (ls_source){.id = "u", .level = LS_LEVEL_USER, .tenant = &tenant};
  sources[1] = sources[0];
  sources[1].has_secret = true;
  ls_sha256_hex("k3y", 3, sources[1].secret_sha256);
  sources[2] = (ls_source){
      .id = "c", .level = LS_LEVEL_CLIENT, .scope_id = "42", .tenant = &tenant};
  sources[3] = (ls_source){.id = "p",
                           .level = LS_LEVEL_CAMPAIGN,
                           .scope_id = "1234567",
                           .tenant = &tenant};
  return 0;
}

static int teardown(void **state) {
  (void)state;
  ing_schemas_free(schemas);
  return 0;
}

/* ---- the scanner against jansson ------------------------------------- */

/* Parses text whole with both; they must agree on accept/reject and, when
 * accepted, on the value. */
static void same_as_jansson(const char *text, size_t len) {
  ing_pick *whole = ing_pick_new();
  assert_non_null(whole);
  ing_pick_whole(whole);
  json_t *mine = NULL, *ref;
  json_error_t jerr;
  ing_json_error e;
  ing_json_status st = ing_json_project(whole, text, len, 2048, &mine, &e);
  ref = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
  if ((st == ING_JSON_OK) != (ref != NULL))
    fail_msg("scanner %s, jansson %s: %.*s", st == ING_JSON_OK ? "ok" : "no",
             ref ? "ok" : jerr.text, (int)len, text);
  if (ref && !json_equal(mine, ref)) {
    char *a = json_dumps(mine, JSON_ENCODE_ANY),
         *b = json_dumps(ref, JSON_ENCODE_ANY);
    fail_msg("values differ: %s vs %s", a, b);
  }
  json_decref(mine);
  json_decref(ref);
  ing_pick_free(whole);
}

/* Strings are read eight bytes at a time up to the first byte that needs
 * a look: a quote, an escape, a control character or UTF-8 (good or bad)
 * at every offset of the first and second word agrees with jansson. */
static void test_scanner_string_words(void **state) {
  (void)state;
  static const char *const odd[] = {
      "\\\"", "\\n",  "\\u00e9", "\xc3\xa9",     "\xf0\x9f\x98\x80",
      "\x01", "\x7f", "\xc3",    "\xed\xa0\x80", "\"",
      "\xff"};
  for (size_t k = 0; k < sizeof odd / sizeof *odd; k++)
    for (int off = 0; off < 20; off++) {
      char text[96];
      int n = snprintf(text, sizeof text, "[\"%.*s%sxyz0123456789\"]", off,
                       "abcdefghijklmnopqrstuvwxyz", odd[k]);
      same_as_jansson(text, (size_t)n);
    }
}

static void test_scanner_matches_jansson(void **state) {
  (void)state;
  static const char *const cases[] = {
      "{}",
      "[]",
      "{\"a\":1}",
      " {\"a\" : [1, 2.5, -0, -0.0, 1e3, 1E-3] } ",
      "\"x\"",
      "1",
      "-1",
      "true",
      "false",
      "null",
      "nul",
      "tru",
      "01",
      "-",
      "1.",
      ".5",
      "1e",
      "1e+",
      "-01",
      "1.5e+10",
      "9223372036854775807",
      "9223372036854775808",
      "-9223372036854775808",
      "-9223372036854775809",
      "12345678901234567890",
      "1e308",
      "1e309",
      "-1e309",
      "1e-400",
      "{\"a\":1,}",
      "[1,]",
      "[1 2]",
      "{\"a\" 1}",
      "{a:1}",
      "{\"a\":1}}",
      "{\"a\":1} x",
      "\"\\u0000\"",
      "{\"\\u0000\":1}",
      "\"\\ud800\"",
      "\"\\udc00\"",
      "\"\\ud800\\u0041\"",
      "\"\\ud83d\\ude00\"",
      "\"\\u00e9\"",
      "\"\\x\"",
      "\"\\u12\"",
      "\"\\u12g4\"",
      "\"a\tb\"",
      "\"\\t\\n\\r\\b\\f\\/\"",
      "\"\xc3\xa9\"",
      "\"\xc3\"",
      "\"\xed\xa0\x80\"",
      "\"\xf4\x90\x80\x80\"",
      "\"\xe0\x80\x80\"",
      "\xef\xbb\xbf{}",
      "",
      " ",
      "{\"a\":{\"b\":[{}]}}",
      "{\"a\":1,\"a\":2}",
      "[\"a\",{\"b\":null}]",
      "truex",
      "[true1]",
      "{\"k\":\"v\"}\n",
      "\"unterminated",
      "{\"a\":\"b\\\"}"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    same_as_jansson(cases[i], strlen(cases[i]));
  same_as_jansson("[1,\0]", 5);
  same_as_jansson("\"a\0b\"", 5);
  /* Nesting: jansson's own limit is 2048. */
  static char deep[4200];
  for (int n = 2047; n <= 2049; n++) {
    memset(deep, '[', (size_t)n);
    memset(deep + n, ']', (size_t)n);
    same_as_jansson(deep, 2 * (size_t)n);
  }
}

/* jansson 2.14 drops one NUL byte that follows a number or a literal (its
 * stream's unget loses it), so it reads "1\0" as 1 and stores such a body
 * with the NUL in it. No JSON text holds a raw NUL: the scanner refuses it,
 * and the route answers bad_json where the DOM route accepted. */
static void test_nul_after_number(void **state) {
  (void)state;
  static const char body[] = "{\"event_type\":\"EMAIL_SENT\",\"to_email\":"
                             "\"a@b.c\",\"campaign_id\":1\0}";
  ing_verdict a, b;
  ing_route(schemas, &sources[0], "smartlead.", 64, body, sizeof body - 1, &a);
  ing_route_ref(schemas, &sources[0], "smartlead.", 64, body, sizeof body - 1,
                &b);
  assert_int_equal(a.err, LS_ERR_BAD_JSON);
  assert_true(a.quarantine);
  assert_int_equal(b.err, LS_OK);
}

/* ---- the route against the DOM route ------------------------------------ */

static void same_route(const char *body, size_t len) {
  for (size_t k = 0; k < sizeof sources / sizeof sources[0]; k++) {
    ing_verdict a, b;
    ing_route(schemas, &sources[k], "smartlead.", 64, body, len, &a);
    ing_route_ref(schemas, &sources[k], "smartlead.", 64, body, len, &b);
    compared++;
    /* A raw NUL byte: refused by the scanner, sometimes skipped by jansson
     * (test_nul_after_number). */
    if (memchr(body, 0, len) && a.err == LS_ERR_BAD_JSON &&
        b.err != LS_ERR_BAD_UTF8 && b.err != LS_ERR_TOO_DEEP)
      continue;
    bool same = a.err == b.err && a.quarantine == b.quarantine &&
                a.have_event == b.have_event &&
                a.scope_mismatch == b.scope_mismatch &&
                !strcmp(a.drift, b.drift);
    /* The JSON syntax message names a position: jansson's and ours
     * count differently; every other message is the same text. */
    if (same && a.err != LS_ERR_BAD_JSON)
      same = !strcmp(a.detail, b.detail);
    if (same && a.have_event)
      same = !strcmp(a.ev.event_id, b.ev.event_id) &&
             !strcmp(a.ev.key, b.ev.key) && !strcmp(a.ev.topic, b.ev.topic) &&
             !strcmp(a.ev.type_name, b.ev.type_name) &&
             !strcmp(a.ev.ce_type, b.ev.ce_type) &&
             !strcmp(a.ev.lead_email, b.ev.lead_email) &&
             !strcmp(a.ev.event_time, b.ev.event_time) &&
             a.ev.type == b.ev.type;
    if (!same)
      fail_msg("source %zu: scanner err=%s drift=%s id=%s detail=%s\n"
               "  dom err=%s drift=%s id=%s detail=%s\n  body: %.*s",
               k, ls_err_name(a.err), a.drift, a.ev.event_id, a.detail,
               ls_err_name(b.err), b.drift, b.ev.event_id, b.detail,
               (int)(len > 600 ? 600 : len), body);
  }
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = malloc(1 << 20);
  assert_non_null(buf);
  *len = fread(buf, 1, (1 << 20) - 1, f);
  buf[*len] = '\0';
  fclose(f);
  return buf;
}

/* Mutations of one body: cut short, one byte changed, a value replaced. */
static void mutate_and_compare(const char *body, size_t len) {
  same_route(body, len);
  char *m = malloc(len + 64);
  assert_non_null(m);
  size_t step = len / 31 + 1;
  for (size_t cut = 0; cut < len; cut += step)
    same_route(body, cut);
  static const char flips[] = {'"',    '\\',   '{', '}', '[', ']',
                               ',',    ':',    '0', 'x', ' ', '\x01',
                               '\xc3', '\xff', '-', 'e'};
  for (size_t at = 0; at < len; at += step)
    for (size_t f = 0; f < sizeof flips; f++) {
      memcpy(m, body, len);
      m[at] = flips[f];
      same_route(m, len);
    }
  free(m);
}

/* Values put in place of each top-level member's value in turn. */
static void replace_values(const char *body, size_t len) {
  static const char *const values[] = {"null",
                                       "\"\"",
                                       "[]",
                                       "{}",
                                       "[null]",
                                       "-1",
                                       "1.5",
                                       "7.0",
                                       "\"12x\"",
                                       "\"1234567\"",
                                       "1234567",
                                       "\"2025-03-28T09:35:01Z\"",
                                       "1743154501",
                                       "\"a@b\"",
                                       "\" Jane.Doe@Example.COM \"",
                                       "\"a@b@c\"",
                                       "true",
                                       "{\"email\":\"x@y.z\",\"id\":5}",
                                       "[\"http://x\"]",
                                       "\"k3y\"",
                                       "\"\\u0041\\u00e9\"",
                                       "42",
                                       "\"42\"",
                                       "1e400",
                                       "99999999999999999999"};
  json_error_t jerr;
  json_t *root = json_loadb(body, len, 0, &jerr);
  if (!json_is_object(root)) {
    json_decref(root);
    return;
  }
  const char *key;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(root, tmp, key, v) {
    json_t *saved = json_incref(v);
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
      /* Spliced as text: some values are not JSON jansson would build. */
      json_object_set_new(root, key, json_string("\x01SPLICE\x01"));
      char *text = json_dumps(root, JSON_COMPACT);
      char *hole = strstr(text, "\"\\u0001SPLICE\\u0001\"");
      assert_non_null(hole);
      size_t pre = (size_t)(hole - text), holelen = 20;
      size_t n = strlen(text) - holelen + strlen(values[i]);
      char *out = malloc(n + 1);
      assert_non_null(out);
      size_t vn = strlen(values[i]);
      memcpy(out, text, pre);
      memcpy(out + pre, values[i], vn);
      snprintf(out + pre + vn, n + 1 - pre - vn, "%s", hole + holelen);
      same_route(out, n);
      free(out);
      free(text);
    }
    json_object_set_new(root, key, saved);
  }
  json_decref(root);
}

static void each_file(const char *sub, void (*fn)(const char *, size_t)) {
  const char *srcdir = getenv("LS_SOURCE_DIR");
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/%s", srcdir ? srcdir : ".", sub);
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *de;
  int n = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.' || strstr(de->d_name, ".md"))
      continue;
    char path[2048];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    char *body = read_all(path, &len);
    if (!body)
      continue;
    fn(body, len);
    free(body);
    n++;
  }
  closedir(d);
  assert_true(n > 0);
}

static void test_route_same_on_fixtures(void **state) {
  (void)state;
  each_file("tests/fixtures/smartlead", mutate_and_compare);
  each_file("tests/fixtures/smartlead-v2", mutate_and_compare);
  each_file("tests/fuzz/corpus", mutate_and_compare);
}

static void test_route_same_on_replaced_values(void **state) {
  (void)state;
  each_file("tests/fixtures/smartlead", replace_values);
  each_file("tests/fixtures/smartlead-v2", replace_values);
  printf("compared %ld routes\n", compared);
}

static void test_route_same_on_tricky_bodies(void **state) {
  (void)state;
  static const char *const bodies[] = {
      "{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\","
      "\"event_type\":\"EMAIL_OPEN\"}",
      "{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\",\"secret_key\":"
      "\"k3y\",\"secret_key\":\"no\"}",
      "{\"event_type\":\"EMAIL_SENT\",\"to_\\u0065mail\":\"a@b.c\"}",
      "{\"event_\\u0074ype\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\"}",
      "{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\",\"x\":[[[[[[[["
      "]]]]]]]]}",
      "{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\",\"x\":\"\xff\"}",
      "{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\",\"x\":1e999}",
      "{\"event\":\"EMAIL_REPLIED\",\"lead\":{\"email\":\"a@b.c\",\"id\":7},"
      "\"reply\":{\"body\":\"hi\",\"message_id\":\"<m>\"},\"timestamp\":"
      "\"2025-01-01T00:00:00Z\"}",
      "{\"event_type\":\"LEAD_CATEGORY_UPDATED\",\"lead_email\":\"a@b.c\","
      "\"campaign_id\":5,\"lead_category\":{\"new_id\":null,\"old_id\":3},"
      "\"lead_category_id\":9}",
      "[{\"event_type\":\"EMAIL_SENT\"}]",
      "{\"event_type\":5}",
      "{\"event_type\":\"SOMETHING_NEW\",\"lead_data\":{\"email\":\"q@r.s\"}}",
      "{\"event_type\":\"EMAIL_SENT\",\"to_email\":\"a@b.c\",\"metadata\":{"
      "\"deep\":{\"deeper\":[1,{\"x\":null}]}}}",
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    same_route(bodies[i], strlen(bodies[i]));
  /* Deeper than the route's limit, with and without a syntax error before
   * the limit is reached: too_deep wins, as before. */
  char deep[400];
  size_t n = 0;
  n += (size_t)snprintf(deep, sizeof deep, "{\"a\":,");
  for (int i = 0; i < 70; i++)
    deep[n++] = '[';
  same_route(deep, n);
  same_route(deep + 5, n - 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scanner_matches_jansson),
      cmocka_unit_test(test_scanner_string_words),
      cmocka_unit_test(test_nul_after_number),
      cmocka_unit_test(test_route_same_on_tricky_bodies),
      cmocka_unit_test(test_route_same_on_fixtures),
      cmocka_unit_test(test_route_same_on_replaced_values),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
