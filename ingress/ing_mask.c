/* ing_mask: a one-pass scanner over JSON text that finds the members named
 * secret_key and overwrites their values without moving a byte. */
#include "ing_mask.h"

#include <stdbool.h>
#include <string.h>

#define KEY "secret_key"

/* Index of the closing quote of the string opening at p[i] (a '"'), or len
 * when it is not terminated. */
static size_t string_end(const char *p, size_t len, size_t i) {
  for (size_t j = i + 1; j < len;) {
    /* Jump to the next quote or backslash (memchr is vectorised). */
    const char *q = memchr(p + j, '"', len - j);
    size_t qe = q ? (size_t)(q - p) : len;
    const char *b = memchr(p + j, '\\', qe - j);
    if (!b)
      return qe;
    j = (size_t)(b - p) + 2; /* the escaped byte is never the end */
  }
  return len;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* True when the string content p[a..b) decodes to KEY. */
bool ing_mask_is_key(const char *p, size_t a, size_t b) {
  char out[sizeof KEY];
  size_t n = 0;
  for (size_t i = a; i < b; i++) {
    char c = p[i];
    if (c == '\\') {
      if (++i >= b)
        return false;
      switch (p[i]) {
      case 'u': {
        if (i + 4 >= b)
          return false;
        int v = 0;
        for (int k = 1; k <= 4; k++) {
          int h = hexval(p[i + k]);
          if (h < 0)
            return false;
          v = v * 16 + h;
        }
        if (v == 0 || v > 0x7f)
          return false; /* KEY is plain ASCII */
        c = (char)v;
        i += 4;
        break;
      }
      case '"':
      case '\\':
      case '/':
        c = p[i];
        break;
      default:
        return false; /* \b \f \n \r \t are not in KEY */
      }
    }
    if (n >= sizeof KEY - 1)
      return false;
    out[n++] = c;
  }
  return n == sizeof KEY - 1 && !memcmp(out, KEY, n);
}

static size_t skip_ws(const char *p, size_t len, size_t i) {
  while (i < len &&
         (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
    i++;
  return i;
}

/* Masks the value starting at p[i]; returns the index after it and whether
 * something was masked. */
static size_t mask_value(char *p, size_t len, size_t i, bool *masked) {
  *masked = false;
  if (i >= len)
    return i;
  if (p[i] == '"') {
    size_t e = string_end(p, len, i);
    for (size_t k = i + 1; k < e; k++)
      p[k] = '*';
    *masked = true;
    return e < len ? e + 1 : len;
  }
  size_t e = i;
  while (e < len &&
         (p[e] == '-' || p[e] == '+' || p[e] == '.' ||
          (p[e] >= '0' && p[e] <= '9') || p[e] == 'e' || p[e] == 'E'))
    e++;
  if (e == i) {
    if (len - i >= 4 && !memcmp(p + i, "true", 4))
      e = i + 4;
    else if (len - i >= 5 && !memcmp(p + i, "false", 5))
      e = i + 5;
    else
      return i; /* null, an object or an array: nothing secret to hide */
  }
  if (e - i == 1) {
    p[i] = '0';
  } else {
    p[i] = '"';
    for (size_t k = i + 1; k < e - 1; k++)
      p[k] = '*';
    p[e - 1] = '"';
  }
  *masked = true;
  return e;
}

size_t ing_mask_secret(char *p, size_t len) {
  size_t n = 0;
  if (!p)
    return 0;
  /* A member named secret_key is spelt either plainly or with a \u escape
   * for some of its letters: a body with neither has none (the common
   * case, decided by two memmem scans instead of a walk). */
  if (!memmem(p, len, KEY, sizeof KEY - 1) && !memmem(p, len, "\\u", 2))
    return 0;
  for (size_t i = 0; i < len;) {
    if (p[i] != '"') {
      const char *q = memchr(p + i, '"', len - i);
      if (!q)
        break;
      i = (size_t)(q - p);
    }
    size_t e = string_end(p, len, i);
    if (e >= len)
      break;
    size_t k = skip_ws(p, len, e + 1);
    if (k < len && p[k] == ':' && ing_mask_is_key(p, i + 1, e)) {
      bool masked;
      i = mask_value(p, len, skip_ws(p, len, k + 1), &masked);
      n += masked;
      continue;
    }
    i = e + 1;
  }
  return n;
}

size_t ing_mask_apply(char *p, size_t len, const ing_mask_spans *sp) {
  if (!sp || !sp->complete)
    return ing_mask_secret(p, len);
  size_t n = 0;
  for (unsigned k = 0; k < sp->n; k++) {
    size_t a = sp->at[k], e = sp->end[k];
    if (!p || e > len || e < a + 1)
      continue; /* not from this text: never write outside it */
    if (p[a] == '"') {
      if (e >= a + 2)
        memset(p + a + 1, '*', e - a - 2);
    } else if (e - a == 1) {
      p[a] = '0';
    } else {
      p[a] = '"';
      memset(p + a + 1, '*', e - a - 2);
      p[e - 1] = '"';
    }
    n++;
  }
  return n;
}
