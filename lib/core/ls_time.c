/* ls_time: lenient ISO-8601 parsing and RFC 3339 formatting, UTC only. */
#include "ls_time.h"

#include <stdio.h>
#include <time.h>

static bool digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return 29;
  return dm[m - 1];
}

bool ls_time_parse(const char *s, int64_t *us) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  int64_t frac_us = 0;
  if (!s || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
      s[7] != '-' || !digits(s + 8, 2, &d))
    return false;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
    return false;
  const char *p = s + 10;
  int offset_s = 0;
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi))
      return false;
    p += 5;
    if (*p == ':') {
      if (!digits(p + 1, 2, &sec))
        return false;
      p += 3;
      if (*p == '.' || *p == ',') {
        p++;
        int n = 0;
        int64_t scale = 100000;
        while (*p >= '0' && *p <= '9') {
          if (n < 6) {
            frac_us += (*p - '0') * scale;
            scale /= 10;
          }
          n++;
          p++;
        }
        if (n == 0 || n > 9)
          return false;
      }
    }
    if (h > 23 || mi > 59 || sec > 60)
      return false;
    if (*p == 'Z' || *p == 'z') {
      p++;
    } else if (*p == '+' || *p == '-') {
      int sign = *p == '-' ? -1 : 1, oh, om = 0;
      p++;
      if (!digits(p, 2, &oh))
        return false;
      p += 2;
      if (*p == ':') {
        if (!digits(p + 1, 2, &om))
          return false;
        p += 3;
      } else if (*p >= '0' && *p <= '9') {
        if (!digits(p, 2, &om))
          return false;
        p += 2;
      }
      if (oh > 23 || om > 59)
        return false;
      offset_s = sign * (oh * 3600 + om * 60);
    }
  }
  if (*p != '\0')
    return false;
  int64_t secs =
      days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  *us = secs * 1000000 + frac_us;
  return true;
}

static void split(int64_t us, struct tm *tm, long *frac) {
  int64_t s = us / 1000000;
  int64_t f = us % 1000000;
  if (f < 0) {
    f += 1000000;
    s -= 1;
  }
  time_t t = (time_t)s;
  gmtime_r(&t, tm);
  *frac = (long)f;
}

/* Writes n decimal digits of v (0 <= v < 10^n) at out. */
static void put_digits(char *out, long v, int n) {
  for (int i = n - 1; i >= 0; i--, v /= 10)
    out[i] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS." + fdig digits of f + "Z", without printf (the
 * ingress and the worker format one or two per event); years outside
 * 0..9999 and short buffers take snprintf's path, same text. */
static void format(int64_t us, char *buf, size_t len, int fdig) {
  struct tm tm;
  long f;
  split(us, &tm, &f);
  if (fdig == 3)
    f /= 1000;
  long year = (long)tm.tm_year + 1900;
  size_t need = 22 + (size_t)fdig; /* with the NUL */
  if (year < 0 || year > 9999 || len < need) {
    snprintf(buf, len, "%04ld-%02d-%02dT%02d:%02d:%02d.%0*ldZ", year,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fdig,
             f);
    return;
  }
  put_digits(buf, year, 4);
  buf[4] = '-';
  put_digits(buf + 5, tm.tm_mon + 1, 2);
  buf[7] = '-';
  put_digits(buf + 8, tm.tm_mday, 2);
  buf[10] = 'T';
  put_digits(buf + 11, tm.tm_hour, 2);
  buf[13] = ':';
  put_digits(buf + 14, tm.tm_min, 2);
  buf[16] = ':';
  put_digits(buf + 17, tm.tm_sec, 2);
  buf[19] = '.';
  put_digits(buf + 20, f, fdig);
  buf[20 + fdig] = 'Z';
  buf[21 + fdig] = '\0';
}

void ls_time_format_us(int64_t us, char *buf, size_t len) {
  format(us, buf, len, 6);
}

void ls_time_format_ms(int64_t us, char *buf, size_t len) {
  format(us, buf, len, 3);
}

int64_t ls_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ls_mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
