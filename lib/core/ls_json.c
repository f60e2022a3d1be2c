/* ls_json: a faster jansson reader and compact writer (ls_json.h). */
#include "ls_json.h"

#include "ls_buf.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* jansson's JSON_PARSER_MAX_DEPTH: every value counts, scalars too. */
#define LS_JSON_MAX_DEPTH 2048

typedef struct {
  const unsigned char *p, *end;
  int depth;
  ls_buf scratch; /* decoded escaped strings */
} rd;

static void skip_ws(rd *r) {
  while (r->p < r->end &&
         (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
    r->p++;
}

/* Length of the valid UTF-8 sequence at s (n bytes left) and its code
 * point, 0 when invalid (jansson's utf8_check_first/_full). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char u = s[0];
  size_t len;
  uint32_t v;
  if (u < 0x80) {
    *cp = u;
    return 1;
  }
  if (u >= 0xC2 && u <= 0xDF) {
    len = 2;
    v = u & 0x1F;
  } else if (u >= 0xE0 && u <= 0xEF) {
    len = 3;
    v = u & 0x0F;
  } else if (u >= 0xF0 && u <= 0xF4) {
    len = 4;
    v = u & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || (len == 3 && v < 0x800) ||
      (len == 4 && v < 0x10000))
    return 0;
  *cp = v;
  return len;
}

static int hex4(const unsigned char *s) {
  int v = 0;
  for (int i = 0; i < 4; i++) {
    int c = s[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

size_t ls_utf8_encode(uint32_t c, unsigned char *out) {
  if (c < 0x80) {
    out[0] = (unsigned char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (unsigned char)(0xC0 | (c >> 6));
    out[1] = (unsigned char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (unsigned char)(0xE0 | (c >> 12));
    out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (unsigned char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | (c >> 18));
  out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (unsigned char)(0x80 | (c & 0x3F));
  return 4;
}

/* What a one-letter escape (\n, \", ...) stands for; 0: not one. */
static char simple_escape(unsigned char e) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *p = e ? strchr(from, e) : NULL;
  return p ? to[p - from] : 0;
}

/* The string at r->p (just past its opening quote): *out points at its
 * bytes (the input itself when it has no escapes, else r->scratch). */
static bool read_string(rd *r, const char **out, size_t *len) {
  const unsigned char *s = r->p, *q = s;
  /* Fast path: printable ASCII and valid UTF-8 up to the closing quote. */
  for (;;) {
    if (q >= r->end)
      return false;
    unsigned char c = *q;
    if (c == '"') {
      *out = (const char *)s;
      *len = (size_t)(q - s);
      r->p = q + 1;
      return true;
    }
    if (c == '\\')
      break;
    if (c < 0x20)
      return false;
    if (c < 0x80) {
      q++;
      continue;
    }
    uint32_t cp;
    size_t n = utf8_seq(q, (size_t)(r->end - q), &cp);
    if (!n)
      return false;
    q += n;
  }
  /* Escapes: decoded into scratch (never longer than the input). */
  if (ls_buf_reserve(&r->scratch, (size_t)(r->end - s)) != LS_OK)
    return false;
  size_t o = (size_t)(q - s);
  memcpy(r->scratch.data, s, o);
  for (;;) {
    if (q >= r->end)
      return false;
    unsigned char c = *q;
    if (c == '"')
      break;
    if (c < 0x20)
      return false;
    if (c >= 0x80) {
      uint32_t cp;
      size_t n = utf8_seq(q, (size_t)(r->end - q), &cp);
      if (!n)
        return false;
      memcpy(r->scratch.data + o, q, n);
      o += n;
      q += n;
      continue;
    }
    if (c != '\\') {
      r->scratch.data[o++] = (char)c;
      q++;
      continue;
    }
    if (q + 1 >= r->end)
      return false;
    unsigned char e = q[1];
    q += 2;
    char ch = simple_escape(e);
    if (ch) {
      r->scratch.data[o++] = ch;
      continue;
    }
    if (e != 'u')
      return false;
    if (r->end - q < 4)
      return false;
    int v = hex4(q);
    if (v < 0)
      return false;
    q += 4;
    uint32_t cp = (uint32_t)v;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      /* A high surrogate: its low half must follow. */
      if (r->end - q < 6 || q[0] != '\\' || q[1] != 'u')
        return false;
      int lo = hex4(q + 2);
      if (lo < 0xDC00 || lo > 0xDFFF)
        return false;
      q += 6;
      cp = 0x10000 + ((cp - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
      return false;
    }
    o += ls_utf8_encode(cp, (unsigned char *)r->scratch.data + o);
  }
  *out = r->scratch.data;
  *len = o;
  r->p = q + 1;
  return true;
}

static bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

/* Past the digits at q (one at least), or NULL. */
static const unsigned char *digits(const unsigned char *q,
                                   const unsigned char *end) {
  if (q >= end || !is_digit(*q))
    return NULL;
  while (q < end && is_digit(*q))
    q++;
  return q;
}

static json_t *read_number(rd *r) {
  const unsigned char *s = r->p, *q = s;
  bool real = false;
  if (q < r->end && *q == '-')
    q++;
  if (q >= r->end)
    return NULL;
  if (*q == '0') {
    q++;
    if (q < r->end && is_digit(*q))
      return NULL;
  } else if (!(q = digits(q, r->end))) {
    return NULL;
  }
  if (q < r->end && *q == '.') {
    if (!(q = digits(q + 1, r->end)))
      return NULL;
    real = true;
  }
  if (q < r->end && (*q == 'e' || *q == 'E')) {
    q++;
    if (q < r->end && (*q == '+' || *q == '-'))
      q++;
    if (!(q = digits(q, r->end)))
      return NULL;
    real = true;
  }
  size_t n = (size_t)(q - s);
  char sbuf[64], *t = n < sizeof sbuf ? sbuf : malloc(n + 1);
  if (!t)
    return NULL;
  memcpy(t, s, n);
  t[n] = '\0';
  json_t *v = NULL;
  errno = 0;
  if (!real) {
    long long x = strtoll(t, NULL, 10);
    if (errno != ERANGE)
      v = json_integer((json_int_t)x);
  } else {
    double d = strtod(t, NULL);
    if (!((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE))
      v = json_real(d);
  }
  if (t != sbuf)
    free(t);
  r->p = q;
  return v;
}

static bool literal(rd *r, const char *word, size_t n) {
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n))
    return false;
  r->p += n;
  return true;
}

static json_t *read_value(rd *r);

/* After an object member or array element: 0 at the closing bracket
 * (consumed), 1 after a comma (and the blanks after it), -1 otherwise. */
static int after_item(rd *r, char close) {
  skip_ws(r);
  if (r->p >= r->end)
    return -1;
  if (*r->p == (unsigned char)close) {
    r->p++;
    return 0;
  }
  if (*r->p != ',')
    return -1;
  r->p++;
  skip_ws(r);
  return 1;
}

/* One "key": value of an object, added to o. */
static bool read_member(rd *r, json_t *o) {
  const char *k;
  size_t klen;
  if (r->p >= r->end || *r->p != '"')
    return false;
  r->p++;
  if (!read_string(r, &k, &klen))
    return false;
  /* The key may sit in scratch, which the value's strings reuse. */
  char kb[128], *key = klen < sizeof kb ? kb : malloc(klen + 1);
  if (!key)
    return false;
  memcpy(key, k, klen);
  key[klen] = '\0';
  skip_ws(r);
  json_t *v = NULL;
  if (r->p < r->end && *r->p == ':') {
    r->p++;
    skip_ws(r);
    v = read_value(r);
  }
  int rc = v ? json_object_setn_new_nocheck(o, key, klen, v) : -1;
  if (key != kb)
    free(key);
  return rc == 0;
}

/* One element of an array, appended to a. */
static bool read_element(rd *r, json_t *a) {
  json_t *v = read_value(r);
  return v && json_array_append_new(a, v) == 0;
}

/* An object (obj, after its '{') or an array (after its '['). */
static json_t *read_container(rd *r, bool obj) {
  char close = obj ? '}' : ']';
  json_t *c = obj ? json_object() : json_array();
  if (!c)
    return NULL;
  skip_ws(r);
  if (r->p < r->end && *r->p == (unsigned char)close) {
    r->p++;
    return c;
  }
  int next = 1;
  while (next > 0) {
    if (!(obj ? read_member(r, c) : read_element(r, c)))
      next = -1;
    else
      next = after_item(r, close);
  }
  if (next < 0) {
    json_decref(c);
    return NULL;
  }
  return c;
}

static json_t *read_value(rd *r) {
  if (r->p >= r->end || ++r->depth > LS_JSON_MAX_DEPTH)
    return NULL;
  json_t *v = NULL;
  switch (*r->p) {
  case '{':
  case '[':
    r->p++;
    v = read_container(r, r->p[-1] == '{');
    break;
  case '"': {
    const char *s;
    size_t n;
    r->p++;
    if (read_string(r, &s, &n))
      v = json_stringn_nocheck(s, n);
    break;
  }
  case 't':
    v = literal(r, "true", 4) ? json_true() : NULL;
    break;
  case 'f':
    v = literal(r, "false", 5) ? json_false() : NULL;
    break;
  case 'n':
    v = literal(r, "null", 4) ? json_null() : NULL;
    break;
  default:
    v = read_number(r);
    break;
  }
  r->depth--;
  return v;
}

json_t *ls_json_loadb(const char *buf, size_t len) {
  if (!buf)
    return NULL;
  rd r = {.p = (const unsigned char *)buf,
          .end = (const unsigned char *)buf + len};
  ls_buf_init(&r.scratch, len);
  skip_ws(&r);
  if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
    return NULL;
  json_t *v = read_value(&r);
  ls_buf_free(&r.scratch);
  if (!v)
    return NULL;
  skip_ws(&r);
  if (r.p != r.end) {
    json_decref(v);
    return NULL;
  }
  return v;
}

/* -- the writer -------------------------------------------------------- */

/* No text the worker writes comes near it; a ceiling all the same. */
#define LS_JSON_MAX_TEXT ((size_t)1 << 30)

typedef struct {
  ls_buf b;
  bool bad;
} wr;

/* Room for need more bytes (the test inline: most puts fit). */
static bool grow(wr *w, size_t need) {
  if (w->b.len + need < w->b.cap)
    return true;
  if (ls_buf_reserve(&w->b, w->b.len + need) != LS_OK)
    w->bad = true;
  return !w->bad;
}

static void put(wr *w, const char *s, size_t n) {
  if (!grow(w, n))
    return;
  memcpy(w->b.data + w->b.len, s, n);
  w->b.len += n;
}

static void put_str(wr *w, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s, *end = p + n;
  /* At most 6 bytes out per byte in (\u00XX), plus the quotes. */
  if (!grow(w, 6 * n + 2))
    return;
  char *o = w->b.data + w->b.len;
  *o++ = '"';
  while (p < end) {
    unsigned char c = *p;
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      *o++ = (char)c;
      p++;
      continue;
    }
    if (c >= 0x80) {
      uint32_t cp;
      size_t k = utf8_seq(p, (size_t)(end - p), &cp);
      if (!k) {
        w->bad = true;
        return;
      }
      memcpy(o, p, k);
      o += k;
      p += k;
      continue;
    }
    *o++ = '\\';
    switch (c) {
    case '"':
      *o++ = '"';
      break;
    case '\\':
      *o++ = '\\';
      break;
    case '\b':
      *o++ = 'b';
      break;
    case '\f':
      *o++ = 'f';
      break;
    case '\n':
      *o++ = 'n';
      break;
    case '\r':
      *o++ = 'r';
      break;
    case '\t':
      *o++ = 't';
      break;
    default: {
      static const char hx[] = "0123456789ABCDEF";
      *o++ = 'u';
      *o++ = '0';
      *o++ = '0';
      *o++ = hx[c >> 4];
      *o++ = hx[c & 15];
    }
    }
    p++;
  }
  *o++ = '"';
  w->b.len = (size_t)(o - w->b.data);
}

static void put_value(wr *w, const json_t *j, int depth) {
  if (w->bad)
    return;
  if (depth > LS_JSON_MAX_DEPTH) {
    w->bad = true;
    return;
  }
  switch (json_typeof(j)) {
  case JSON_OBJECT: {
    bool first = true;
    put(w, "{", 1);
    for (void *it = json_object_iter((json_t *)j); it;
         it = json_object_iter_next((json_t *)j, it)) {
      if (!first)
        put(w, ",", 1);
      first = false;
      put_str(w, json_object_iter_key(it), json_object_iter_key_len(it));
      put(w, ":", 1);
      put_value(w, json_object_iter_value(it), depth + 1);
      if (w->bad)
        return;
    }
    put(w, "}", 1);
    break;
  }
  case JSON_ARRAY: {
    size_t i;
    json_t *v;
    put(w, "[", 1);
    json_array_foreach(j, i, v) {
      if (i)
        put(w, ",", 1);
      put_value(w, v, depth + 1);
      if (w->bad)
        return;
    }
    put(w, "]", 1);
    break;
  }
  case JSON_STRING:
    put_str(w, json_string_value(j), json_string_length(j));
    break;
  case JSON_INTEGER: {
    char b[32];
    int n =
        snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
    put(w, b, (size_t)n);
    break;
  }
  case JSON_REAL: {
    /* Rare here: jansson's own formatting (precision, ".0", exponent). */
    char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
      w->bad = true;
      return;
    }
    put(w, s, strlen(s));
    free(s);
    break;
  }
  case JSON_TRUE:
    put(w, "true", 4);
    break;
  case JSON_FALSE:
    put(w, "false", 5);
    break;
  case JSON_NULL:
    put(w, "null", 4);
    break;
  }
}

char *ls_json_dumps(const json_t *j, size_t *len_out) {
  if (!j || (!json_is_object(j) && !json_is_array(j)))
    return NULL;
  wr w = {.bad = false};
  ls_buf_init(&w.b, LS_JSON_MAX_TEXT);
  if (ls_buf_reserve(&w.b, 1023) != LS_OK)
    return NULL;
  put_value(&w, j, 1);
  if (w.bad) {
    ls_buf_free(&w.b);
    return NULL;
  }
  w.b.data[w.b.len] = '\0'; /* grow keeps a byte past len */
  return ls_buf_steal(&w.b, len_out);
}
