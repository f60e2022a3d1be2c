/* test_schema: the JSON Schema subset validator (lib/model/ls_schema.c) and the
 * config check built on it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <regex.h>
#include <string.h>
#include <unistd.h>

#include "ls_config.h"
#include "ls_schema.h"

static ls_schema *load_text(const char *text, char *err, size_t errlen) {
  char path[] = "/tmp/ls-schema-test-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  ls_schema *s = ls_schema_load(path, err, errlen);
  unlink(path);
  return s;
}

/* Validates instance text; returns the error message ("" when valid). */
static const char *check(const ls_schema *s, const char *inst) {
  static char err[LS_ERRSTR_SIZE];
  json_error_t jerr;
  json_t *v = json_loads(inst, JSON_DECODE_ANY, &jerr);
  assert_non_null(v);
  err[0] = '\0';
  ls_err e = ls_schema_validate(s, v, err, sizeof err);
  json_decref(v);
  if (e == LS_OK)
    return "";
  assert_int_equal(e, LS_ERR_SCHEMA);
  assert_true(err[0] != '\0');
  return err;
}

static void assert_fails(const ls_schema *s, const char *inst,
                         const char *want) {
  const char *m = check(s, inst);
  if (!strstr(m, want))
    fail_msg("instance %s: want error containing \"%s\", got \"%s\"", inst,
             want, m);
}

static void types_and_scalars(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  ls_schema *s =
      load_text("{\"type\":\"object\",\"properties\":{"
                "\"i\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10},"
                "\"n\":{\"type\":[\"number\",\"null\"],\"exclusiveMinimum\":1},"
                "\"s\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3},"
                "\"p\":{\"type\":\"string\",\"pattern\":\"^[0-9]{2}$\"},"
                "\"b\":{\"type\":\"boolean\"},"
                "\"e\":{\"enum\":[\"a\",1,null]},"
                "\"c\":{\"const\":\"X\"}}}",
                err, sizeof err);
  assert_non_null(s);
  assert_string_equal(check(s, "{}"), "");
  assert_string_equal(check(s, "{\"i\":10,\"n\":null,\"s\":\"ab\",\"p\":\"12\","
                               "\"b\":true,\"e\":1,\"c\":\"X\"}"),
                      "");
  assert_string_equal(check(s, "{\"i\":3.0}"), ""); /* 3.0 is an integer */
  assert_string_equal(check(s, "{\"e\":1.0}"), ""); /* numbers by value */
  assert_fails(s, "{\"i\":1.5}", "$.i: must be of type integer (is number)");
  assert_fails(s, "{\"i\":-1}", "$.i: must be >= 0");
  assert_fails(s, "{\"i\":11}", "$.i: must be <= 10");
  assert_fails(s, "{\"n\":1}", "$.n: must be > 1");
  assert_fails(s, "{\"n\":\"1\"}", "$.n: must be of type \"number\", \"null\"");
  /* Lengths count characters, not bytes. */
  assert_string_equal(check(s, "{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}"), "");
  assert_fails(s, "{\"s\":\"a\"}", "at least 2 characters");
  assert_fails(s, "{\"s\":\"abcd\"}", "at most 3 characters");
  assert_fails(s, "{\"p\":\"123\"}", "$.p: must match the pattern ^[0-9]{2}$");
  assert_fails(s, "{\"e\":\"b\"}", "$.e: must be one of \"a\", 1, null");
  assert_fails(s, "{\"c\":\"Y\"}", "$.c: must be \"X\"");
  assert_fails(s, "[]", "$: must be of type object (is array)");
  ls_schema_free(s);
}

static void objects_and_arrays(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  ls_schema *s =
      load_text("{\"type\":\"object\",\"required\":[\"id\"],"
                "\"properties\":{\"id\":{\"type\":\"string\"},"
                "\"list\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
                "\"uniqueItems\":true,\"items\":{\"type\":\"integer\"}},"
                "\"tuple\":{\"prefixItems\":[{\"type\":\"string\"}],"
                "\"items\":{\"type\":\"integer\"}},"
                "\"odd key\":{\"type\":\"integer\"}},"
                "\"patternProperties\":{\"^x-\":{\"type\":\"string\"}},"
                "\"additionalProperties\":false,"
                "\"dependentRequired\":{\"list\":[\"tuple\"]},"
                "\"minProperties\":1,\"maxProperties\":5}",
                err, sizeof err);
  assert_non_null(s);
  assert_string_equal(check(s, "{\"id\":\"a\",\"x-note\":\"n\"}"), "");
  assert_fails(s, "{}", "$: required property \"id\" is missing");
  assert_fails(s, "{\"id\":\"a\",\"zz\":1}",
               "$.zz: is not an allowed property");
  assert_fails(s, "{\"id\":\"a\",\"x-n\":1}", "$.x-n: must be of type string");
  assert_fails(s, "{\"id\":\"a\",\"odd key\":\"s\"}",
               "$[\"odd key\"]: must be of type integer");
  assert_fails(s, "{\"id\":\"a\",\"list\":[]}", "$.list: must have at least 1");
  assert_fails(s, "{\"id\":\"a\",\"list\":[1,2,3],\"tuple\":[]}",
               "$.list: must have at most 2");
  assert_fails(s, "{\"id\":\"a\",\"list\":[1,1.0],\"tuple\":[]}",
               "uniqueItems");
  assert_fails(s, "{\"id\":\"a\",\"list\":[1,\"x\"],\"tuple\":[]}",
               "$.list[1]: must be of type integer");
  assert_fails(s, "{\"id\":\"a\",\"list\":[1]}",
               "property \"list\" requires \"tuple\"");
  assert_string_equal(check(s, "{\"id\":\"a\",\"tuple\":[\"s\",1,2]}"), "");
  assert_fails(s, "{\"id\":\"a\",\"tuple\":[1]}",
               "$.tuple[0]: must be of "
               "type string");
  assert_fails(s, "{\"id\":\"a\",\"tuple\":[\"s\",\"t\"]}",
               "$.tuple[1]: must be of type integer");
  ls_schema_free(s);
}

static void combinators_and_refs(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  ls_schema *s = load_text(
      "{\"$defs\":{\"email\":{\"type\":\"string\",\"pattern\":\"@\"},"
      "\"tree\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":"
      "\"array\",\"items\":{\"$ref\":\"#/$defs/tree\"}}}}},"
      "\"properties\":{\"t\":{\"$ref\":\"#/$defs/tree\"},"
      "\"one\":{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]},"
      "\"not\":{\"not\":{\"type\":\"null\"}},"
      "\"cond\":{\"if\":{\"properties\":{\"k\":{\"const\":\"c\"}}},"
      "\"then\":{\"required\":[\"id\"]},\"else\":{\"required\":[\"other\"]}},"
      "\"f\":false,\"t2\":true},"
      "\"anyOf\":[{\"required\":[\"to\"],\"properties\":{\"to\":"
      "{\"$ref\":\"#/$defs/email\"}}},{\"required\":[\"lead\"]}],"
      "\"description\":\"a lead identity\"}",
      err, sizeof err);
  assert_non_null(s);
  assert_string_equal(check(s, "{\"to\":\"a@b\"}"), "");
  assert_string_equal(check(s, "{\"lead\":1}"), "");
  assert_fails(s, "{\"to\":\"ab\"}",
               "$: matches none of the anyOf alternatives (a lead identity) "
               "(first: $.to: must match the pattern @)");
  assert_string_equal(
      check(s, "{\"lead\":1,\"t\":{\"kids\":[{\"kids\":[{}]}]}}"), "");
  assert_fails(s, "{\"lead\":1,\"t\":{\"kids\":[{\"kids\":[7]}]}}",
               "$.t.kids[0].kids[0]: must be of type object");
  assert_string_equal(check(s, "{\"lead\":1,\"one\":-1}"), "");
  assert_fails(s, "{\"lead\":1,\"one\":1}",
               "exactly one oneOf alternative "
               "(matches 2)");
  assert_fails(s, "{\"lead\":1,\"not\":null}", "$.not: must not match");
  assert_string_equal(check(s, "{\"lead\":1,\"cond\":{\"k\":\"c\",\"id\":1}}"),
                      "");
  assert_fails(s, "{\"lead\":1,\"cond\":{\"k\":\"c\"}}",
               "$.cond: required property \"id\"");
  assert_fails(s, "{\"lead\":1,\"cond\":{\"k\":\"d\"}}",
               "$.cond: required property \"other\"");
  assert_fails(s, "{\"lead\":1,\"f\":0}", "$.f: is not allowed here");
  assert_string_equal(check(s, "{\"lead\":1,\"t2\":0}"), "");
  ls_schema_free(s);
}

static void messages_never_quote_values(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  ls_schema *s =
      load_text("{\"properties\":{\"secret_key\":{\"type\":\"integer\"},"
                "\"k\":{\"pattern\":\"^x$\"},\"e\":{\"enum\":[\"a\"]}}}",
                err, sizeof err);
  assert_non_null(s);
  const char *m = check(s, "{\"secret_key\":\"hunter2-very-secret\"}");
  assert_null(strstr(m, "hunter2"));
  m = check(s, "{\"k\":\"hunter2-very-secret\"}");
  assert_null(strstr(m, "hunter2"));
  m = check(s, "{\"e\":\"hunter2-very-secret\"}");
  assert_null(strstr(m, "hunter2"));
  ls_schema_free(s);
}

static void load_errors(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  /* An unsupported keyword is refused rather than silently ignored. */
  assert_null(load_text("{\"properties\":{\"a\":{\"multipleOf\":2}}}", err,
                        sizeof err));
  assert_non_null(strstr(err, "#/properties/a: unsupported keyword "
                              "\"multipleOf\""));
  assert_null(load_text("{\"$ref\":\"#/$defs/missing\"}", err, sizeof err));
  assert_non_null(strstr(err, "$ref"));
  assert_null(load_text("{\"$ref\":\"other.json#/x\"}", err, sizeof err));
  assert_null(load_text("{\"pattern\":\"(\"}", err, sizeof err));
  assert_non_null(strstr(err, "pattern does not compile"));
  assert_null(load_text("{\"type\":\"float\"}", err, sizeof err));
  assert_null(load_text("{\"anyOf\":[]}", err, sizeof err));
  assert_null(load_text("[1]", err, sizeof err));
  assert_null(load_text("{\"a\":1,\"a\":2}", err, sizeof err));
  assert_null(ls_schema_load("/nonexistent/x.json", err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent/x.json"));
}

static void event_schemas_load(void **state) {
  (void)state;
  static const char *const types[] = {
      "EMAIL_SENT",        "FIRST_EMAIL_SENT",      "EMAIL_OPEN",
      "EMAIL_LINK_CLICK",  "EMAIL_REPLY",           "EMAIL_BOUNCE",
      "LEAD_UNSUBSCRIBED", "LEAD_CATEGORY_UPDATED", "CAMPAIGN_STATUS_CHANGED",
      "UNTRACKED_REPLIES", "MANUAL_STEP_REACHED"};
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    char path[1024], err[LS_ERRSTR_SIZE];
    snprintf(path, sizeof path, "%s/smartlead/%s.schema.json", ls_schema_dir(),
             types[i]);
    ls_schema *s = ls_schema_load(path, err, sizeof err);
    if (!s)
      fail_msg("%s", err);
    ls_schema_free(s);
  }
}

static char *dev_config_text(void) {
  const char *src = getenv("LS_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/config/dev.json", src ? src : ".");
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  assert_non_null(j);
  char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(j);
  return t;
}

/* Replaces the first occurrence of from with to (test configs). */
static char *edit(const char *text, const char *from, const char *to) {
  const char *p = strstr(text, from);
  if (!p)
    fail_msg("\"%s\" not in the dev config", from);
  size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
  char *out = malloc(n);
  snprintf(out, n, "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
  return out;
}

static void config_checked_against_schema(void **state) {
  (void)state;
  char err[LS_ERRSTR_SIZE];
  char *good = dev_config_text();
  ls_config *cfg = NULL;
  assert_int_equal(ls_config_load_text(good, "dev.json", &cfg, err, sizeof err),
                   LS_OK);
  ls_config_free(cfg);
  static const struct {
    const char *from, *to, *want;
  } cases[] = {
      {"\"level\":\"user\"", "\"level\":\"galaxy\"",
       "dev.json: $.tenants[0].sources[0].level: must be one of \"user\", "
       "\"client\", \"campaign\""},
      {"\"max_body_bytes\":2097152", "\"max_body_bytes\":\"2M\"",
       "dev.json: $.ingress.max_body_bytes: must be of type integer"},
      {"\"max_json_depth\":64", "\"max_json_depth\":64,\"bogus\":1",
       "dev.json: $.ingress.bogus: is not an allowed property"},
      {"\"token_sha256\":\"43e5", "\"token_sha256\":\"zz",
       "$.tenants[0].sources[0].token_sha256: must match the pattern"},
      {"\"level\":\"user\",\"scope_id\":null",
       "\"level\":\"client\",\"scope_id\":null",
       "$.tenants[0].sources[0].scope_id: must be of type"},
      {"\"tier\":\"professional\"", "\"tier\":\"platinum\"",
       "$.tenants[0].hubspot.tier: must be one of"},
      {"\"contact_mode\":\"upsert\"", "\"contact_mode\":\"merge\"",
       "$.tenants[0].contact_mode: must be one of"},
      {"\"filter\":{\"categories\":[\"Interested\"",
       "\"filter\":{\"categories\":[true",
       "$.tenants[1].filter.categories[0]: matches none of the anyOf"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *bad = edit(good, cases[i].from, cases[i].to);
    err[0] = '\0';
    assert_int_equal(
        ls_config_load_text(bad, "dev.json", &cfg, err, sizeof err),
        LS_ERR_CONFIG);
    assert_null(cfg);
    if (!strstr(err, cases[i].want))
      fail_msg("case %zu: want \"%s\" in \"%s\"", i, cases[i].want, err);
    free(bad);
  }
  /* Other areas' sections stay open: worker and tenant sync options. */
  char *w = edit(good, "\"batch_max\":100", "\"batch_max\":100,\"groups\":{}");
  char *w2 =
      edit(w, "\"opens_as_notes\":false",
           "\"opens_as_notes\":false,\"EMAIL_REPLY\":{\"as\":\"email\"}");
  assert_int_equal(ls_config_load_text(w2, "dev.json", &cfg, err, sizeof err),
                   LS_OK);
  ls_config_free(cfg);
  free(w);
  free(w2);
  free(good);
}

/* The fast matchers give regexec's answer: every pattern that has one, on
 * hand-picked strings and on every string of up to 4 characters from an
 * alphabet of the bytes the patterns care about, plus timestamps mutated
 * at every position. */
static void fast_patterns_agree_with_regexec(void **state) {
  (void)state;
  static const char *const pats[] = {
      "^[0-9]{1,20}$", "^[^@]+@[^@]+$",
      "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{"
      "1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$",
      "@"};
  static const char *const samples[] = {"",
                                        "0",
                                        "12345678901234567890",
                                        "123456789012345678901",
                                        "12x",
                                        " 1",
                                        "a@b",
                                        "@b",
                                        "a@",
                                        "a@b@c",
                                        "jane.doe@acme-example.com",
                                        "a\n@b",
                                        "\xc3\xa9@x",
                                        "2025-03-28T09:35:01+00:00",
                                        "2025-03-28T09:35:01Z",
                                        "2025-03-28T09:35:01.618881+00:00",
                                        "2025-03-28 09:35:01",
                                        "2025-03-28T09:35:01+0000",
                                        "2025-03-28T09:35",
                                        "2025-03-28",
                                        "2025-03-28T09:35:01.1234567890Z",
                                        "2025-03-28T09:35:01.123456789Z",
                                        "2025-03-28T09:35:01,5z",
                                        "2025-03-28t09:35+01",
                                        "2025-03-28T09:35+01:",
                                        "2025-03-28T09:35+0",
                                        "2025-03-28T09:35:01.Z",
                                        "2025-3-28T09:35:01Z",
                                        "2025-03-28T",
                                        "2025-03-28T09:35:01+01:00:00",
                                        "28/03/2025 09:35"};
  static const char alpha[] = "0@a-:T+Z.";
  for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
    regex_t re;
    assert_int_equal(regcomp(&re, pats[p], REG_EXTENDED | REG_NOSUB), 0);
    char buf[64];
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
      int want = regexec(&re, samples[i], 0, NULL, 0) == 0;
      if (ls_schema_fast_match(pats[p], samples[i]) != want)
        fail_msg("pattern %s on \"%s\": regexec says %d", pats[p], samples[i],
                 want);
      /* Every single-byte change of the timestamps. */
      size_t n = strlen(samples[i]);
      for (size_t at = 0; n < sizeof buf && at < n; at++)
        for (size_t a = 0; a < sizeof alpha - 1; a++) {
          memcpy(buf, samples[i], n + 1);
          buf[at] = alpha[a];
          want = regexec(&re, buf, 0, NULL, 0) == 0;
          if (ls_schema_fast_match(pats[p], buf) != want)
            fail_msg("pattern %s on \"%s\": regexec says %d", pats[p], buf,
                     want);
        }
    }
    size_t na = sizeof alpha - 1;
    for (size_t len = 0; len <= 4; len++) {
      size_t total = 1;
      for (size_t i = 0; i < len; i++)
        total *= na;
      for (size_t k = 0; k < total; k++) {
        size_t x = k;
        for (size_t i = 0; i < len; i++, x /= na)
          buf[i] = alpha[x % na];
        buf[len] = '\0';
        int want = regexec(&re, buf, 0, NULL, 0) == 0;
        if (ls_schema_fast_match(pats[p], buf) != want)
          fail_msg("pattern %s on \"%s\": regexec says %d", pats[p], buf, want);
      }
    }
    regfree(&re);
  }
  assert_int_equal(ls_schema_fast_match("^x$", "x"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(types_and_scalars),
      cmocka_unit_test(objects_and_arrays),
      cmocka_unit_test(combinators_and_refs),
      cmocka_unit_test(messages_never_quote_values),
      cmocka_unit_test(load_errors),
      cmocka_unit_test(event_schemas_load),
      cmocka_unit_test(config_checked_against_schema),
      cmocka_unit_test(fast_patterns_agree_with_regexec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
