/* Unit tests for the metrics registry's observability additions: process_*
 * from /proc, leadsync_build_info, declared families and per-family
 * histogram buckets; and the version helper behind --version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ls_metrics.h"
#include "ls_process.h"
#include "ls_version.h"

/* The value of the first sample line that starts with prefix, or -1. */
static double value_of(const char *text, const char *prefix) {
  const char *p = text;
  size_t n = strlen(prefix);
  while (p && *p) {
    if (!strncmp(p, prefix, n) && p[n] == ' ')
      return strtod(p + n + 1, NULL);
    p = strchr(p, '\n');
    if (p)
      p++;
  }
  return -1;
}

static void process_metrics_come_from_proc(void **state) {
  (void)state;
  ls_process_stats st;
  assert_int_equal(ls_process_read(&st), 0);
  assert_true(st.resident_bytes > 1024 * 1024);
  assert_true(st.open_fds >= 3);
  assert_true(st.max_fds >= st.open_fds);
  time_t now = time(NULL);
  assert_true(st.start_time_seconds > (double)now - 3600);
  assert_true(st.start_time_seconds <= (double)now + 1);

  ls_metrics *m = ls_metrics_new();
  size_t len;
  char *t = ls_metrics_render(m, &len);
  assert_non_null(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
  assert_non_null(strstr(t, "# TYPE process_resident_memory_bytes gauge\n"));
  assert_true(value_of(t, "process_resident_memory_bytes") > 1024 * 1024);
  assert_true(value_of(t, "process_open_fds") >= 3);
  assert_true(value_of(t, "process_start_time_seconds") > (double)now - 3600);
  assert_true(value_of(t, "process_cpu_seconds_total") >= 0);
  free(t);

  /* Opening files shows up at the next scrape. */
  FILE *f[4];
  for (int i = 0; i < 4; i++)
    f[i] = fopen("/proc/self/stat", "r");
  t = ls_metrics_render(m, &len);
  double with = value_of(t, "process_open_fds");
  free(t);
  for (int i = 0; i < 4; i++)
    fclose(f[i]);
  t = ls_metrics_render(m, &len);
  double without = value_of(t, "process_open_fds");
  free(t);
  assert_true(with - without == 4);
  ls_metrics_free(m);
}

static void build_info_names_version_and_commit(void **state) {
  (void)state;
  ls_metrics *m = ls_metrics_new();
  char want[200];
  snprintf(want, sizeof want,
           "leadsync_build_info{version=\"%s\",commit=\"%s\"} 1\n",
           ls_version(), ls_version_commit());
  size_t len;
  char *t = ls_metrics_render(m, &len);
  assert_non_null(strstr(t, want));
  assert_non_null(strstr(t, "# TYPE leadsync_build_info gauge\n"));
  free(t);
  ls_metrics_free(m);
  assert_true(strlen(ls_version()) >= 5);
  assert_true(strlen(ls_version_commit()) >= 7);
}

static void declared_families_show_before_any_sample(void **state) {
  (void)state;
  ls_metrics *m = ls_metrics_new();
  ls_metrics_declare(m, LS_COUNTER, "a_total", "declared help", NULL);
  /* A later call with other help keeps the declared one. */
  ls_metrics_inc(m, "a_total", "other help", "x=\"1\"", 1);
  ls_metrics_declare(m, LS_GAUGE, "b", "a gauge", NULL);
  size_t len;
  char *t = ls_metrics_render(m, &len);
  assert_non_null(strstr(t, "# HELP a_total declared help\n"));
  assert_null(strstr(t, "other help"));
  assert_non_null(strstr(t, "# HELP b a gauge\n# TYPE b gauge\n"));
  assert_null(strstr(t, "\nb "));
  free(t);
  ls_metrics_set(m, "g", "g", "p=\"1\"", 3);
  ls_metrics_remove(m, "g", "p=\"1\"");
  t = ls_metrics_render(m, &len);
  assert_null(strstr(t, "g{p=\"1\"}"));
  free(t);
  ls_metrics_free(m);
}

static void event_buckets_reach_days(void **state) {
  (void)state;
  ls_metrics *m = ls_metrics_new();
  ls_metrics_declare(m, LS_HISTOGRAM, "held_seconds", "held",
                     &LS_BUCKETS_EVENT);
  ls_metrics_observe(m, "held_seconds", NULL, "tenant=\"t\"", 3 * 86400.0);
  ls_metrics_observe(m, "fast_seconds", "fast", NULL, 3 * 86400.0);
  size_t len;
  char *t = ls_metrics_render(m, &len);
  /* Three days land below the 4-day bound, not in +Inf. */
  assert_non_null(
      strstr(t, "held_seconds_bucket{tenant=\"t\",le=\"172800\"} 0\n"));
  assert_non_null(
      strstr(t, "held_seconds_bucket{tenant=\"t\",le=\"345600\"} 1\n"));
  assert_non_null(
      strstr(t, "held_seconds_bucket{tenant=\"t\",le=\"1209600\"} 1\n"));
  /* The default request buckets stop at 30 s. */
  assert_non_null(strstr(t, "fast_seconds_bucket{le=\"30\"} 0\n"));
  assert_non_null(strstr(t, "fast_seconds_bucket{le=\"+Inf\"} 1\n"));
  assert_null(strstr(t, "fast_seconds_bucket{le=\"60\"}"));
  free(t);
  ls_metrics_free(m);
}

static void version_flag_prints_name_and_version(void **state) {
  (void)state;
  char *argv_yes[] = {"prog", "--listen", "x", "--version", NULL};
  char *argv_no[] = {"prog", "--", "--version", NULL};
  fflush(stdout);
  assert_int_equal(ls_version_flag(4, argv_yes, "prog"), 1);
  assert_int_equal(ls_version_flag(3, argv_no, "prog"), 0);
  char buf[256];
  FILE *f = tmpfile();
  ls_version_print(f, "leadsync-x");
  rewind(f);
  assert_non_null(fgets(buf, sizeof buf, f));
  fclose(f);
  char want[64];
  snprintf(want, sizeof want, "leadsync-x %s ", ls_version());
  assert_int_equal(strncmp(buf, want, strlen(want)), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(process_metrics_come_from_proc),
      cmocka_unit_test(build_info_names_version_and_commit),
      cmocka_unit_test(declared_families_show_before_any_sample),
      cmocka_unit_test(event_buckets_reach_days),
      cmocka_unit_test(version_flag_prints_name_and_version),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
