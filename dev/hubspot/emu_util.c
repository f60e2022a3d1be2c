/* emu_util.c: clocks, ids, randomness and string helpers for the emulator. */
#include "emu.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int64_t emu_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t emu_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* HubSpot writes timestamps as "2022-02-17T19:23:18.734Z". */
void emu_iso8601(int64_t wall_ms, char out[32]) {
  time_t secs = (time_t)(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  int n = snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                   tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
  /* Only a year past 9999 overflows; an empty string is then safer than a
   * cut one that still parses. */
  if (n < 0 || n >= 32)
    out[0] = '\0';
}

static void fill_random(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t got = getrandom(p, n, 0);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      /* No entropy source: fall back to a clock-seeded value. Correlation
       * ids only need to be unique enough for logs. */
      uint64_t x = (uint64_t)emu_mono_ms() ^ (uint64_t)(uintptr_t)p;
      for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (unsigned char)(x >> 56);
      }
      return;
    }
    p += got;
    n -= (size_t)got;
  }
}

void emu_uuid(char out[40]) {
  unsigned char b[16];
  fill_random(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 40,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
           "%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

double emu_rand01(void) {
  uint32_t v;
  fill_random(&v, sizeof v);
  return (double)v / 4294967296.0;
}

char *emu_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

char *emu_lower(const char *s) {
  char *d = emu_strdup(s);
  if (d)
    for (char *q = d; *q; q++)
      *q = (char)tolower((unsigned char)*q);
  return d;
}

bool emu_streq_ci(const char *a, const char *b) {
  return strcasecmp(a, b) == 0;
}

bool emu_parse_long(const char *s, long *out) {
  if (!s || !*s)
    return false;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end)
    return false;
  *out = v;
  return true;
}

json_t *emu_strf(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return json_string(buf);
}

void emu_logf(const struct emu *e, const char *fmt, ...) {
  if (e && e->quiet)
    return;
  char ts[32];
  emu_iso8601(emu_wall_ms(), ts);
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "%s hubspot-emulator: ", ts);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}
