/* bench_common: flags, ready files and signals for the bench programs. */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t bench_stop = 0;

static void on_stop(int sig) {
  (void)sig;
  bench_stop = 1;
}

void bench_install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
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
