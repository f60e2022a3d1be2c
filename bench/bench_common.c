/* bench_common: flags, ready files and signals for the bench programs. */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_signals.h"

volatile sig_atomic_t bench_stop = 0;

void bench_install_signals(void) {
  ls_signals_install(&bench_stop);
}

bool bench_parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  if (!s || !*s)
    return false;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return false;
  *out = v;
  return true;
}

bool bench_parse_double(const char *s, double min, double max, double *out) {
  char *end = NULL;
  if (!s || !*s)
    return false;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v) || v < min || v > max)
    return false;
  *out = v;
  return true;
}

double bench_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
