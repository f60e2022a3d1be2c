/* ls_buf: a growable byte buffer with a hard ceiling. */
#include "ls_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ls_buf_init(ls_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

static ls_err grow(ls_buf *b, size_t need) {
  if (need > b->max)
    return LS_ERR_TOO_LARGE;
  if (need + 1 <= b->cap)
    return LS_OK;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need + 1)
    cap *= 2;
  if (cap > b->max + 1)
    cap = b->max + 1;
  char *p = realloc(b->data, cap);
  if (!p)
    return LS_ERR_NOMEM;
  b->data = p;
  b->cap = cap;
  return LS_OK;
}

ls_err ls_buf_reserve(ls_buf *b, size_t n) {
  return grow(b, n);
}

ls_err ls_buf_append(ls_buf *b, const void *p, size_t n) {
  if (n > b->max || b->len > b->max - n)
    return LS_ERR_TOO_LARGE;
  ls_err e = grow(b, b->len + n);
  if (e != LS_OK)
    return e;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return LS_OK;
}

ls_err ls_buf_appendz(ls_buf *b, const char *s) {
  return ls_buf_append(b, s, strlen(s));
}

static ls_err vprintf_to(ls_buf *b, const char *fmt, va_list ap) {
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  if (n < 0) {
    va_end(again);
    return LS_ERR_INTERNAL;
  }
  ls_err e = LS_OK;
  if ((size_t)n > b->max || b->len > b->max - (size_t)n)
    e = LS_ERR_TOO_LARGE;
  else
    e = grow(b, b->len + (size_t)n);
  if (e == LS_OK) {
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
    b->len += (size_t)n;
  }
  va_end(again);
  return e;
}

ls_err ls_buf_printf(ls_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ls_err e = vprintf_to(b, fmt, ap);
  va_end(ap);
  return e;
}

void ls_buf_put(ls_buf *b, ls_err *e, const void *p, size_t n) {
  if (*e == LS_OK)
    *e = ls_buf_append(b, p, n);
}

void ls_buf_putz(ls_buf *b, ls_err *e, const char *s) {
  if (*e == LS_OK)
    *e = ls_buf_appendz(b, s);
}

void ls_buf_putf(ls_buf *b, ls_err *e, const char *fmt, ...) {
  if (*e != LS_OK)
    return;
  va_list ap;
  va_start(ap, fmt);
  *e = vprintf_to(b, fmt, ap);
  va_end(ap);
}

void ls_buf_put_escaped(ls_buf *b, ls_err *e, const char *s, size_t n,
                        int quotes) {
  /* Byte by byte, so a text at the ceiling ends with all that fitted. */
  for (size_t i = 0; s && i < n && *e == LS_OK; i++) {
    switch (s[i]) {
    case '&':
      ls_buf_putz(b, e, "&amp;");
      break;
    case '<':
      ls_buf_putz(b, e, "&lt;");
      break;
    case '>':
      ls_buf_putz(b, e, "&gt;");
      break;
    case '"':
      if (quotes) {
        ls_buf_putz(b, e, "&quot;");
        break;
      }
      /* fall through */
    default:
      ls_buf_put(b, e, &s[i], 1);
    }
  }
}

void ls_buf_reset(ls_buf *b) {
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

char *ls_buf_steal(ls_buf *b, size_t *len) {
  char *p = b->data;
  if (len)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void ls_buf_free(ls_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
