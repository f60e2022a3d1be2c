/* ing_json: a single-pass JSON scanner that builds only picked members.
 *
 * The grammar and its limits are jansson's (json_loadb with
 * JSON_DECODE_ANY), so a body this scanner accepts is one jansson accepts
 * and the values it builds are the ones jansson would: strict RFC 8259
 * syntax, strings with valid escapes and no \u0000 (keys included), paired
 * surrogates, integers as json_int_t (out of range: error), reals through
 * strtod (overflow: error), nothing after the top-level value but
 * whitespace, nesting at most 2048. On top of that every non-ASCII byte is
 * checked as UTF-8 and nesting is checked against the caller's limit.
 * Members that are not picked are checked by the same rules and skipped:
 * no allocation, no copy. */
#include "ing_json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ing_mask.h"
#include "ls_array.h"
#include "ls_event.h"

/* jansson's JSON_PARSER_MAX_DEPTH. */
#define JANSSON_MAX_DEPTH 2048

/* ---- the pick tree ------------------------------------------------------ */

/* A key of up to PICK_INLINE - 1 bytes is kept in the kid itself, so a
 * lookup touches the slot and the kid, not a third place. */
#define PICK_INLINE 24
typedef struct {
  char *heap; /* the key when it is too long for inl, else NULL */
  char inl[PICK_INLINE];
  size_t len;
  uint32_t hash;
  ing_pick *child;
} pick_kid;

struct ing_pick {
  bool whole;
  pick_kid *kids;
  size_t n, cap;
  /* Open addressing: the key's hash << 32 | kid index + 1, 0 = empty; a
   * key that is not picked (most of a body's) is told apart by the slot
   * alone. */
  uint64_t *slots;
  size_t nslots; /* power of two, >= 4n */
};

static const char *kid_key(const pick_kid *k) {
  return k->heap ? k->heap : k->inl;
}

/* The key's hash, eight bytes at a time (every key of every picked object
 * is looked up, so this runs for most members of a body). */
static uint32_t key_hash(const char *s, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  while (n >= 8) {
    uint64_t w;
    memcpy(&w, s, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
    s += 8;
    n -= 8;
  }
  if (n) {
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 32;
  }
  return (uint32_t)h;
}

ing_pick *ing_pick_new(void) {
  return calloc(1, sizeof(ing_pick));
}

void ing_pick_free(ing_pick *p) {
  if (!p)
    return;
  for (size_t i = 0; i < p->n; i++) {
    free(p->kids[i].heap);
    ing_pick_free(p->kids[i].child);
  }
  free(p->kids);
  free(p->slots);
  free(p);
}

void ing_pick_whole(ing_pick *p) {
  p->whole = true;
}

static const ing_pick *pick_find(const ing_pick *p, const char *key,
                                 size_t len) {
  if (!p || !p->nslots)
    return NULL;
  uint32_t h = key_hash(key, len);
  for (size_t i = h & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
    uint64_t s = p->slots[i];
    if (!s)
      return NULL;
    if ((uint32_t)(s >> 32) != h)
      continue;
    const pick_kid *k = &p->kids[(uint32_t)s - 1];
    if (k->len == len && !memcmp(kid_key(k), key, len))
      return k->child;
  }
}

static bool pick_reindex(ing_pick *p) {
  size_t ns = 16;
  while (ns < 4 * p->n)
    ns *= 2;
  uint64_t *slots = calloc(ns, sizeof *slots);
  if (!slots)
    return false;
  for (size_t k = 0; k < p->n; k++) {
    size_t i = p->kids[k].hash & (ns - 1);
    while (slots[i])
      i = (i + 1) & (ns - 1);
    slots[i] = (uint64_t)p->kids[k].hash << 32 | (uint64_t)(k + 1);
  }
  free(p->slots);
  p->slots = slots;
  p->nslots = ns;
  return true;
}

ing_pick *ing_pick_child(ing_pick *p, const char *key) {
  size_t len = strlen(key);
  ing_pick *found = (ing_pick *)pick_find(p, key, len);
  if (found)
    return found;
  if (!LS_ARRAY_GROW(p->kids, p->cap, p->n + 1))
    return NULL;
  pick_kid *k = &p->kids[p->n];
  memset(k, 0, sizeof *k);
  if (len < PICK_INLINE)
    memcpy(k->inl, key, len + 1);
  else if (!(k->heap = strdup(key)))
    return NULL;
  k->child = ing_pick_new();
  if (!k->child) {
    free(k->heap);
    return NULL;
  }
  k->len = len;
  k->hash = key_hash(key, len);
  p->n++;
  if (!pick_reindex(p)) {
    p->n--;
    free(k->heap);
    free(k->child);
    return NULL;
  }
  return k->child;
}

bool ing_pick_path(ing_pick *p, const char *path, bool whole) {
  char seg[256];
  const char *s = path;
  while (p && *s) {
    const char *dot = strchr(s, '.');
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    if (n >= sizeof seg)
      return false;
    memcpy(seg, s, n);
    seg[n] = '\0';
    p = ing_pick_child(p, seg);
    s += n + (dot ? 1 : 0);
  }
  if (p && whole)
    p->whole = true;
  return p != NULL;
}

/* ---- the scanner -------------------------------------------------------- */

typedef struct {
  const unsigned char *p;
  size_t len, i;
  int depth, max_depth;
  ing_json_status st;
  size_t err_at;
  char *buf; /* decoded string scratch */
  size_t cap;
  ing_mask_spans *sec; /* where the secret_key values are, or NULL */
} jp;

/* What to do with a value: check it only, build it whole, or build an
 * object with the picked members only. */
typedef enum { V_SKIP, V_BUILD, V_PROJECT } vmode;

static bool fail(jp *s, ing_json_status st) {
  if (s->st == ING_JSON_OK) {
    s->st = st;
    s->err_at = s->i < s->len ? s->i : s->len;
  }
  return false;
}

static void skip_ws(jp *s) {
  while (s->i < s->len) {
    unsigned char c = s->p[s->i];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
      return;
    s->i++;
  }
}

size_t ing_json_utf8_seq(const unsigned char *p, size_t left) {
  unsigned char c = p[0];
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  if (left < n || p[1] < lo || p[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF)
      return 0;
  return n;
}

static bool buf_put(jp *s, size_t *o, const void *src, size_t n) {
  if (*o + n + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 256;
    while (cap < *o + n + 1)
      cap *= 2;
    char *b = realloc(s->buf, cap);
    if (!b)
      return fail(s, ING_JSON_NOMEM);
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + *o, src, n);
  *o += n;
  return true;
}

static int hex4(const unsigned char *p) {
  int v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned char c = p[k];
    int h = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

/* 1 for the bytes a string holds as they are: printable ASCII but the
 * quote and the backslash. */
static const unsigned char k_plain[256] = {
#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
    R16(0), R16(0), /* 0x00-0x1f */
    1,      1,      0,      1,      1, 1, 1, 1,
    1,      1,      1,      1,      1, 1, 1, 1, /* 0x20-0x2f: '"' */
    R16(1),                                     /* 0x30-0x3f */
    R16(1),                                     /* 0x40-0x4f */
    1,      1,      1,      1,      1, 1, 1, 1,
    1,      1,      1,      1,      0, 1, 1, 1, /* 0x50-0x5f: '\\' */
    R16(1), R16(1),                             /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0),             /* 0x80-0xbf */
    R16(0), R16(0), R16(0), R16(0)              /* 0xc0-0xff */
#undef R16
#undef R4
};

#define K_ONES 0x0101010101010101ull

/* A string at s->p[s->i] == '"'. Checked in full; when decode is set its
 * value goes to s->buf (NUL-terminated, *out_len bytes). *raw is set when
 * the text had no escape: the value is then p[*raw_at .. + *out_len). */
static bool scan_string(jp *s, bool decode, size_t *out_len, size_t *raw_at,
                        bool *raw) {
  const unsigned char *p = s->p;
  size_t i = ++s->i, o = 0, run = i;
  bool plain = true;
  for (;;) {
    /* The common bytes: printable ASCII that needs no decoding, eight at a
     * time while none of them is a quote, a backslash, a control or a
     * non-ASCII byte (each test below is exact for "some byte is"), then
     * one by one up to the first that is. */
    while (i + 8 <= s->len) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      uint64_t q = w ^ (K_ONES * '"'), b = w ^ (K_ONES * '\\');
      uint64_t hit = ((q - K_ONES) & ~q) | ((b - K_ONES) & ~b) |
                     ((w - K_ONES * 0x20) & ~w) | w;
      if (hit & (K_ONES * 0x80))
        break;
      i += 8;
    }
    while (i < s->len && k_plain[p[i]])
      i++;
    if (i >= s->len) {
      s->i = i;
      return fail(s, ING_JSON_SYNTAX);
    }
    unsigned char c = p[i];
    if (c == '"')
      break;
    if (c >= 0x80) {
      size_t n = ing_json_utf8_seq(p + i, s->len - i);
      if (!n) {
        s->i = i;
        return fail(s, ING_JSON_UTF8);
      }
      i += n;
      continue;
    }
    if (c < 0x20) {
      s->i = i;
      return fail(s, ING_JSON_SYNTAX);
    }
    /* A backslash: flush the plain run, decode the escape. */
    if (decode && !buf_put(s, &o, p + run, i - run))
      return false;
    plain = false;
    if (i + 1 >= s->len) {
      s->i = i;
      return fail(s, ING_JSON_SYNTAX);
    }
    unsigned char e = p[i + 1];
    unsigned char one;
    switch (e) {
    case '"':
    case '\\':
    case '/':
      one = e;
      break;
    case 'b':
      one = '\b';
      break;
    case 'f':
      one = '\f';
      break;
    case 'n':
      one = '\n';
      break;
    case 'r':
      one = '\r';
      break;
    case 't':
      one = '\t';
      break;
    case 'u': {
      int v = i + 6 <= s->len ? hex4(p + i + 2) : -1;
      if (v < 0) {
        s->i = i;
        return fail(s, ING_JSON_SYNTAX);
      }
      uint32_t cp = (uint32_t)v;
      size_t used = 6;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        int v2 = i + 12 <= s->len && p[i + 6] == '\\' && p[i + 7] == 'u'
                     ? hex4(p + i + 8)
                     : -1;
        if (v2 < 0xDC00 || v2 > 0xDFFF) {
          s->i = i;
          return fail(s, ING_JSON_SYNTAX);
        }
        cp = ((cp - 0xD800) << 10) + ((uint32_t)v2 - 0xDC00) + 0x10000;
        used = 12;
      } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
        /* A lone low surrogate; \u0000 (jansson refuses NUL in strings
         * and keys without JSON_ALLOW_NUL). */
        s->i = i;
        return fail(s, ING_JSON_SYNTAX);
      }
      unsigned char enc[4];
      if (decode && !buf_put(s, &o, enc, ls_utf8_encode(cp, enc)))
        return false;
      i += used;
      run = i;
      continue;
    }
    default:
      s->i = i;
      return fail(s, ING_JSON_SYNTAX);
    }
    if (decode && !buf_put(s, &o, &one, 1))
      return false;
    i += 2;
    run = i;
  }
  /* p[i] is the closing quote. */
  if (plain) {
    *raw = true;
    *raw_at = s->i;
    *out_len = i - s->i;
  } else {
    *raw = false;
    if (decode && !buf_put(s, &o, p + run, i - run))
      return false;
    *out_len = o;
  }
  if (decode && !plain)
    s->buf[o] = '\0';
  s->i = i + 1;
  return true;
}

static bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}

/* A number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, an integer when
 * it has neither fraction nor exponent (jansson's rule). */
static bool scan_number(jp *s, bool build, json_t **out) {
  const unsigned char *p = s->p;
  size_t start = s->i, i = s->i;
  bool real = false, exp = false;
  if (i < s->len && p[i] == '-')
    i++;
  if (i < s->len && p[i] == '0') {
    i++;
  } else if (i < s->len && is_digit(p[i]) && p[i] != '0') {
    while (i < s->len && is_digit(p[i]))
      i++;
  } else {
    s->i = i;
    return fail(s, ING_JSON_SYNTAX);
  }
  if (i < s->len && p[i] == '.') {
    real = true;
    i++;
    if (i >= s->len || !is_digit(p[i])) {
      s->i = i;
      return fail(s, ING_JSON_SYNTAX);
    }
    while (i < s->len && is_digit(p[i]))
      i++;
  }
  if (i < s->len && (p[i] == 'e' || p[i] == 'E')) {
    real = exp = true;
    i++;
    if (i < s->len && (p[i] == '+' || p[i] == '-'))
      i++;
    if (i >= s->len || !is_digit(p[i])) {
      s->i = i;
      return fail(s, ING_JSON_SYNTAX);
    }
    while (i < s->len && is_digit(p[i]))
      i++;
  }
  size_t n = i - start;
  if (!real) {
    /* No leading zeros: more than 19 digits is out of json_int_t's range
     * for certain; up to 19 fits unless it is past INT64_MAX. */
    size_t digits = n - (p[start] == '-');
    if (digits > 19) {
      s->i = start;
      return fail(s, ING_JSON_SYNTAX);
    }
    if (digits == 19 || build) {
      char tmp[24];
      memcpy(tmp, p + start, n);
      tmp[n] = '\0';
      errno = 0;
      long long v = strtoll(tmp, NULL, 10);
      if (errno == ERANGE) {
        s->i = start;
        return fail(s, ING_JSON_SYNTAX);
      }
      if (build && !(*out = json_integer((json_int_t)v))) {
        s->i = start;
        return fail(s, ING_JSON_NOMEM);
      }
    }
  } else if (build || exp || n > 300) {
    /* Only an exponent or some 300 digits can overflow a double. */
    char small[64], *tmp = n < sizeof small ? small : malloc(n + 1);
    if (!tmp) {
      s->i = start;
      return fail(s, ING_JSON_NOMEM);
    }
    memcpy(tmp, p + start, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    bool over = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (tmp != small)
      free(tmp);
    if (over) {
      s->i = start;
      return fail(s, ING_JSON_SYNTAX);
    }
    if (build && !(*out = json_real(d))) {
      s->i = start;
      return fail(s, ING_JSON_NOMEM);
    }
  }
  s->i = i;
  return true;
}

static bool literal(jp *s, const char *word, size_t n) {
  if (s->len - s->i < n || memcmp(s->p + s->i, word, n) != 0)
    return fail(s, ING_JSON_SYNTAX);
  s->i += n;
  return true;
}

static bool value(jp *s, const ing_pick *pick, vmode mode, json_t **out);

static bool enter(jp *s) {
  if (++s->depth > s->max_depth)
    return fail(s, ING_JSON_DEPTH);
  if (s->depth > JANSSON_MAX_DEPTH)
    return fail(s, ING_JSON_SYNTAX);
  return true;
}

/* Objects and arrays share their punctuation: after the opening bracket,
 * list_open skips an empty list (0) or says members follow (1); after a
 * member, list_next reads ',' (1, another follows), the closing bracket
 * (0) or fails (-1); list_close leaves the level and hands v out. */
static int list_open(jp *s, char close) {
  skip_ws(s);
  if (s->i < s->len && s->p[s->i] == close) {
    s->i++;
    return 0;
  }
  return 1;
}

static int list_next(jp *s, char close) {
  skip_ws(s);
  if (s->i < s->len && s->p[s->i] == ',') {
    s->i++;
    return 1;
  }
  if (s->i < s->len && s->p[s->i] == close) {
    s->i++;
    return 0;
  }
  fail(s, ING_JSON_SYNTAX);
  return -1;
}

static bool list_close(jp *s, json_t *v, json_t **out) {
  s->depth--;
  if (out)
    *out = v;
  else
    json_decref(v);
  return true;
}

/* The value of a secret_key member was p[at .. s->i): strings, numbers,
 * true and false are masked (what ing_mask_secret masks), null, objects
 * and arrays are not. */
static void note_secret(jp *s, size_t at) {
  unsigned char c = s->p[at];
  if (c != '"' && c != 't' && c != 'f' && c != '-' && !is_digit(c))
    return;
  if (s->sec->n >= ING_MASK_SPANS_MAX) {
    s->sec->complete = false; /* too many to note: the caller rescans */
    return;
  }
  s->sec->at[s->sec->n] = at;
  s->sec->end[s->sec->n] = s->i;
  s->sec->n++;
}

static bool object(jp *s, const ing_pick *pick, vmode mode, json_t **out) {
  json_t *obj = NULL;
  if (!enter(s))
    return false;
  s->i++; /* '{' */
  if (mode != V_SKIP && !(obj = json_object()))
    return fail(s, ING_JSON_NOMEM);
  for (int more = list_open(s, '}'); more;) {
    skip_ws(s);
    if (s->i >= s->len || s->p[s->i] != '"') {
      fail(s, ING_JSON_SYNTAX);
      goto err;
    }
    size_t klen = 0, kat = 0, kstart = s->i;
    bool raw = false;
    /* Keys are decoded only where they are looked at or kept. */
    if (!scan_string(s, mode != V_SKIP, &klen, &kat, &raw))
      goto err;
    /* A secret_key member at any depth: its value's place is noted for
     * the mask (ing_mask.h), spelt plainly or with escapes. */
    bool secret =
        s->sec &&
        (raw ? klen == 10 && !memcmp(s->p + kat, "secret_key", 10)
             : ing_mask_is_key((const char *)s->p, kstart + 1, s->i - 1));
    const char *key = raw ? (const char *)s->p + kat : s->buf;
    const ing_pick *kid = NULL;
    vmode vm = V_SKIP;
    if (mode == V_BUILD) {
      vm = V_BUILD;
    } else if (mode == V_PROJECT && (kid = pick_find(pick, key, klen))) {
      vm = kid->whole ? V_BUILD : V_PROJECT;
    }
    char kbuf[128], *kcopy = NULL;
    if (vm != V_SKIP) {
      /* The key outlives the value's own strings in s->buf. */
      kcopy = klen < sizeof kbuf ? kbuf : malloc(klen + 1);
      if (!kcopy) {
        fail(s, ING_JSON_NOMEM);
        goto err;
      }
      memcpy(kcopy, key, klen);
      kcopy[klen] = '\0';
    }
    skip_ws(s);
    if (s->i >= s->len || s->p[s->i] != ':') {
      if (kcopy != kbuf)
        free(kcopy);
      fail(s, ING_JSON_SYNTAX);
      goto err;
    }
    s->i++;
    skip_ws(s);
    json_t *v = NULL;
    size_t vstart = s->i;
    bool ok = value(s, kid, vm, vm == V_SKIP ? NULL : &v);
    if (ok && secret)
      note_secret(s, vstart);
    if (ok && vm != V_SKIP &&
        json_object_setn_new_nocheck(obj, kcopy, klen, v) != 0) {
      ok = fail(s, ING_JSON_NOMEM);
    } else if (!ok) {
      json_decref(v);
    }
    if (kcopy != kbuf)
      free(kcopy);
    if (!ok || (more = list_next(s, '}')) < 0)
      goto err;
  }
  return list_close(s, obj, out);
err:
  json_decref(obj);
  return false;
}

static bool array(jp *s, vmode mode, json_t **out) {
  json_t *arr = NULL;
  if (!enter(s))
    return false;
  s->i++; /* '[' */
  if (mode != V_SKIP && !(arr = json_array()))
    return fail(s, ING_JSON_NOMEM);
  for (int more = list_open(s, ']'); more;) {
    skip_ws(s);
    json_t *v = NULL;
    if (!value(s, NULL, mode, mode == V_SKIP ? NULL : &v))
      goto err;
    if (mode != V_SKIP && json_array_append_new(arr, v) != 0) {
      fail(s, ING_JSON_NOMEM);
      goto err;
    }
    if ((more = list_next(s, ']')) < 0)
      goto err;
  }
  return list_close(s, arr, out);
err:
  json_decref(arr);
  return false;
}

static bool value(jp *s, const ing_pick *pick, vmode mode, json_t **out) {
  if (s->i >= s->len)
    return fail(s, ING_JSON_SYNTAX);
  bool build = mode != V_SKIP;
  json_t *v = NULL;
  switch (s->p[s->i]) {
  case '{':
    /* A picked member with no keys of its own is kept as an empty object:
     * what is looked at is that it is one. */
    return object(s, pick, mode, out);
  case '[':
    /* Arrays are small in webhooks and looked at whole when at all. */
    return array(s, build ? V_BUILD : V_SKIP, out);
  case '"': {
    size_t n = 0, at = 0;
    bool raw = false;
    if (!scan_string(s, build, &n, &at, &raw))
      return false;
    if (build &&
        !(v = json_stringn_nocheck(raw ? (const char *)s->p + at : s->buf, n)))
      return fail(s, ING_JSON_NOMEM);
    break;
  }
  case 't':
    if (!literal(s, "true", 4))
      return false;
    v = build ? json_true() : NULL;
    break;
  case 'f':
    if (!literal(s, "false", 5))
      return false;
    v = build ? json_false() : NULL;
    break;
  case 'n':
    if (!literal(s, "null", 4))
      return false;
    v = build ? json_null() : NULL;
    break;
  default:
    if (!scan_number(s, build, &v))
      return false;
  }
  if (out)
    *out = v;
  return true;
}

ing_json_status ing_json_project(const ing_pick *pick, const char *body,
                                 size_t len, int max_depth, json_t **out,
                                 ing_json_error *err) {
  return ing_json_project_masked(pick, body, len, max_depth, out, err, NULL);
}

ing_json_status ing_json_project_masked(const ing_pick *pick, const char *body,
                                        size_t len, int max_depth, json_t **out,
                                        ing_json_error *err,
                                        ing_mask_spans *secrets) {
  jp s = {.p = (const unsigned char *)body,
          .len = len,
          .max_depth = max_depth,
          .st = ING_JSON_OK,
          .sec = secrets};
  json_t *root = NULL;
  *out = NULL;
  if (secrets) {
    secrets->n = 0;
    secrets->complete = true;
  }
  skip_ws(&s);
  bool ok = value(&s, pick, pick && !pick->whole ? V_PROJECT : V_BUILD, &root);
  if (ok) {
    skip_ws(&s);
    if (s.i != s.len)
      ok = fail(&s, ING_JSON_SYNTAX);
  }
  free(s.buf);
  if (!ok) {
    if (secrets)
      secrets->complete = false; /* read only in part */
    json_decref(root);
    if (err) {
      err->status = s.st;
      err->at = s.err_at;
      err->line = 1;
      size_t bol = 0;
      for (size_t i = 0; i < s.err_at && i < len; i++)
        if (body[i] == '\n') {
          err->line++;
          bol = i + 1;
        }
      err->column = (int)(s.err_at - bol) + 1;
    }
    return s.st;
  }
  if (err)
    err->status = ING_JSON_OK;
  *out = root;
  return ING_JSON_OK;
}
