/* Unit tests for ls_log's line shape: ts, level, component, msg first, in
 * that order, and extra fields never replace them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ls_log.h"

/* Runs fn with stderr captured; returns the captured text (caller frees). */
static char *capture(void (*fn)(void)) {
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  dup2(fileno(tmp), 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  long n = ftell(tmp);
  rewind(tmp);
  char *buf = calloc(1, (size_t)n + 1);
  if (fread(buf, 1, (size_t)n, tmp) != (size_t)n)
    buf[0] = '\0';
  fclose(tmp);
  return buf;
}

static void log_spoofing(void) {
  ls_log_init("unit");
  ls_warn("real message", "{s:s,s:s,s:s,s:i,s:s}", "msg", "fake", "level",
          "debug", "event_id", "e1", "n", 3, "component", "other");
}

static void log_json(void) {
  ls_log_json(LS_LOG_ERROR, "json fields",
              json_pack("{s:s,s:s}", "ts", "1970", "traceparent", "00-x"));
  ls_log_json(LS_LOG_INFO, "no fields", NULL);
  ls_log(LS_LOG_DEBUG, "below the level", NULL);
}

static void check_head(const char *line, const char *level, const char *msg) {
  json_error_t err;
  json_t *o = json_loads(line, 0, &err);
  assert_non_null(o);
  const char *want[] = {"ts", "level", "component", "msg"};
  void *it = json_object_iter(o);
  for (int i = 0; i < 4; i++) {
    assert_non_null(it);
    assert_string_equal(json_object_iter_key(it), want[i]);
    it = json_object_iter_next(o, it);
  }
  assert_string_equal(json_string_value(json_object_get(o, "level")), level);
  assert_string_equal(json_string_value(json_object_get(o, "component")),
                      "unit");
  assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
  json_decref(o);
}

static void fixed_fields_come_first_and_cannot_be_overwritten(void **state) {
  (void)state;
  char *out = capture(log_spoofing);
  char *nl = strchr(out, '\n');
  assert_non_null(nl);
  *nl = '\0';
  check_head(out, "warn", "real message");
  /* The extras keep their order after the fixed four, renamed if needed. */
  const char *p = strstr(out, "\"x_msg\":\"fake\"");
  assert_non_null(p);
  assert_non_null(strstr(out, "\"x_level\":\"debug\""));
  assert_non_null(strstr(out, "\"x_component\":\"other\""));
  assert_true(strstr(out, "\"event_id\":\"e1\"") > p);
  free(out);
}

static void json_fields_and_levels(void **state) {
  (void)state;
  char *out = capture(log_json);
  char *second = strchr(out, '\n');
  assert_non_null(second);
  *second++ = '\0';
  check_head(out, "error", "json fields");
  assert_non_null(strstr(out, "\"x_ts\":\"1970\""));
  assert_non_null(strstr(out, "\"traceparent\":\"00-x\""));
  char *third = strchr(second, '\n');
  assert_non_null(third);
  *third++ = '\0';
  check_head(second, "info", "no fields");
  assert_string_equal(third, ""); /* the debug line was not written */
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fixed_fields_come_first_and_cannot_be_overwritten),
      cmocka_unit_test(json_fields_and_levels),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
