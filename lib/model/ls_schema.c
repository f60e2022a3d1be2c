/* ls_schema: a JSON Schema 2020-12 subset validator (the keywords below).
 *
 * Supported assertions: type, enum, const, properties, required,
 * additionalProperties, patternProperties, propertyNames, minProperties,
 * maxProperties, dependentRequired, items, prefixItems, minItems, maxItems,
 * uniqueItems, minLength, maxLength, pattern, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, allOf, anyOf, oneOf, not,
 * if/then/else, and $ref to "#" or "#/json/pointer" within the same file.
 * Annotations ($schema, $id, $comment, title, description, default,
 * examples, deprecated, readOnly, writeOnly, format) are accepted and not
 * checked, as 2020-12 specifies for format by default. Any other keyword
 * makes the schema fail to load, so a schema never silently relies on
 * something this validator ignores. `pattern` uses POSIX extended regular
 * expressions: schemas stay within the subset ERE and ECMA-262 share
 * (no \d, \w, lookaround or lazy quantifiers). Messages name the JSON path
 * and the rule, never the offending value (it may be a secret). */
#include "ls_schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_array.h"

#define MAX_DEPTH 256

#ifndef LS_DEFAULT_SCHEMA_DIR
#define LS_DEFAULT_SCHEMA_DIR "/usr/share/leadsync/schemas"
#endif

const char *ls_schema_dir(void) {
  const char *env = getenv("LEADSYNC_SCHEMA_DIR");
  return (env && *env) ? env : LS_DEFAULT_SCHEMA_DIR;
}

typedef struct {
  const void *id; /* the "pattern" string node, or a patternProperties key */
  regex_t re;
} pattern_re;

/* The keywords validation looks up, read once per schema node at load
 * (a jansson lookup hashes the key each time: some 30 per node visited). */
#define LS_SCHEMA_KW(X)                                                        \
  X(REF, "$ref")                                                               \
  X(TYPE, "type")                                                              \
  X(CONST, "const")                                                            \
  X(ENUM, "enum")                                                              \
  X(PROPS, "properties")                                                       \
  X(PPROPS, "patternProperties")                                               \
  X(ADDL, "additionalProperties")                                              \
  X(PNAMES, "propertyNames")                                                   \
  X(REQ, "required")                                                           \
  X(DREQ, "dependentRequired")                                                 \
  X(MINP, "minProperties")                                                     \
  X(MAXP, "maxProperties")                                                     \
  X(DSCH, "dependentSchemas")                                                  \
  X(MINI, "minItems")                                                          \
  X(MAXI, "maxItems")                                                          \
  X(PREFIX, "prefixItems")                                                     \
  X(ITEMS, "items")                                                            \
  X(UNIQ, "uniqueItems")                                                       \
  X(MINL, "minLength")                                                         \
  X(MAXL, "maxLength")                                                         \
  X(PATTERN, "pattern")                                                        \
  X(MIN, "minimum")                                                            \
  X(MAX, "maximum")                                                            \
  X(XMIN, "exclusiveMinimum")                                                  \
  X(XMAX, "exclusiveMaximum")                                                  \
  X(DESC, "description")                                                       \
  X(ALLOF, "allOf")                                                            \
  X(ANYOF, "anyOf")                                                            \
  X(ONEOF, "oneOf")                                                            \
  X(NOT, "not")                                                                \
  X(IF, "if")                                                                  \
  X(THEN, "then")                                                              \
  X(ELSE, "else")

enum {
#define KW_ENUM(name, text) KW_##name,
  LS_SCHEMA_KW(KW_ENUM)
#undef KW_ENUM
      KW__COUNT
};

static const char *const kw_text[KW__COUNT] = {
#define KW_TEXT(name, text) text,
    LS_SCHEMA_KW(KW_TEXT)
#undef KW_TEXT
};

/* Patterns of our schemas matched without regexec (same language; checked
 * against regexec in unit_schema): the digits of an id, an address, a
 * timestamp, an @ anywhere. */
typedef enum {
  FP_NONE,
  FP_ID_DIGITS,
  FP_EMAIL,
  FP_TIMESTAMP,
  FP_HAS_AT
} fast_pat;

static const struct {
  const char *pattern;
  fast_pat kind;
} fast_pats[] = {
    {"^[0-9]{1,20}$", FP_ID_DIGITS},
    {"^[^@]+@[^@]+$", FP_EMAIL},
    {"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{"
     "1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$",
     FP_TIMESTAMP},
    {"@", FP_HAS_AT},
};

/* JSON Schema types as bits ("integer" also matches an integral real). */
enum {
  TY_NULL = 1,
  TY_BOOLEAN = 2,
  TY_OBJECT = 4,
  TY_ARRAY = 8,
  TY_NUMBER = 16,
  TY_STRING = 32,
  TY_INTEGER = 64
};

/* One schema object, its keywords looked up once. */
typedef struct {
  const json_t *sch;
  const json_t *kw[KW__COUNT];
  const json_t *ref; /* the $ref target, resolved */
  const regex_t *re; /* the compiled "pattern" */
  fast_pat fast;     /* or a matcher for it */
  unsigned types;    /* "type" as a set of TY_* bits */
  const char *desc;  /* "description" text or NULL */
} knode;

/* The index of the nodes by pointer keeps the pointer in the slot, so a
 * probe past a collision reads the next slot, not another knode (each is
 * ~300 bytes, a cache line apart). */
typedef struct {
  const json_t *sch; /* NULL: empty */
  size_t idx;
} node_slot;

struct ls_schema {
  json_t *root;
  char *name;
  pattern_re *res;
  size_t n_res, cap_res;
  knode *nodes; /* every object schema node */
  size_t n_nodes, cap_nodes;
  node_slot *slots; /* open addressing by node pointer */
  size_t n_slots;
};

/* ---- paths ------------------------------------------------------------ */

/* An instance path as a chain of stack frames, rendered only on error. */
typedef struct seg {
  const struct seg *up;
  const char *key; /* NULL: array index */
  size_t idx;
} seg;

static void render_path(const seg *p, char *out, size_t outlen) {
  const seg *chain[64];
  size_t n = 0;
  for (; p && n < 64; p = p->up)
    chain[n++] = p;
  size_t len = (size_t)snprintf(out, outlen, "$");
  while (n-- > 0 && len < outlen) {
    const seg *s = chain[n];
    int w;
    if (!s->key)
      w = snprintf(out + len, outlen - len, "[%zu]", s->idx);
    else {
      bool plain = *s->key != '\0';
      for (const char *k = s->key; *k; k++)
        if (!(*k == '_' || *k == '-' || (*k >= '0' && *k <= '9') ||
              (*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z')))
          plain = false;
      w = plain ? snprintf(out + len, outlen - len, ".%.64s", s->key)
                : snprintf(out + len, outlen - len, "[\"%.64s\"]", s->key);
    }
    if (w < 0)
      break;
    len += (size_t)w;
  }
}

/* ---- schema loading and keyword checks --------------------------------- */

static const char *const annotations[] = {
    "$schema",         "$id",       "$comment", "title",
    "description",     "default",   "examples", "deprecated",
    "readOnly",        "writeOnly", "format",   "contentMediaType",
    "contentEncoding", NULL};

static bool is_annotation(const char *k) {
  for (int i = 0; annotations[i]; i++)
    if (!strcmp(annotations[i], k))
      return true;
  return false;
}

static bool add_regex(ls_schema *s, const void *id, const char *pattern,
                      char *err, size_t errlen, const char *where) {
  if (!LS_ARRAY_GROW(s->res, s->cap_res, s->n_res + 1)) {
    snprintf(err, errlen, "%s: out of memory", s->name);
    return false;
  }
  int rc = regcomp(&s->res[s->n_res].re, pattern, REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char msg[128];
    regerror(rc, &s->res[s->n_res].re, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s: pattern does not compile: %s", s->name,
             where, msg);
    return false;
  }
  s->res[s->n_res++].id = id;
  return true;
}

static const regex_t *regex_of(const ls_schema *s, const void *id) {
  for (size_t i = 0; i < s->n_res; i++)
    if (s->res[i].id == id)
      return &s->res[i].re;
  return NULL;
}

/* Resolves "#" or "#/a/b~1c" against the schema root; NULL if absent. */
static const json_t *resolve_ref(const ls_schema *s, const char *ref) {
  if (ref[0] != '#')
    return NULL;
  const json_t *cur = s->root;
  const char *p = ref + 1;
  if (!*p)
    return cur;
  if (*p != '/')
    return NULL;
  while (*p == '/' && cur) {
    char tok[256];
    size_t n = 0;
    p++;
    while (*p && *p != '/' && n < sizeof tok - 1) {
      if (p[0] == '~' && p[1] == '0') {
        tok[n++] = '~';
        p += 2;
      } else if (p[0] == '~' && p[1] == '1') {
        tok[n++] = '/';
        p += 2;
      } else {
        tok[n++] = *p++;
      }
    }
    tok[n] = '\0';
    if (json_is_object(cur)) {
      cur = json_object_get(cur, tok);
    } else if (json_is_array(cur)) {
      char *end;
      unsigned long i = strtoul(tok, &end, 10);
      cur = (*tok && !*end) ? json_array_get(cur, i) : NULL;
    } else {
      cur = NULL;
    }
  }
  return *p ? NULL : cur;
}

static bool check_schema(ls_schema *s, const json_t *sch, const char *where,
                         int depth, char *err, size_t errlen);

static bool add_node(ls_schema *s, const json_t *sch) {
  if (!LS_ARRAY_GROW(s->nodes, s->cap_nodes, s->n_nodes + 1))
    return false;
  knode *k = &s->nodes[s->n_nodes++];
  memset(k, 0, sizeof *k);
  k->sch = sch;
  return true;
}

static size_t ptr_slot(const void *p, size_t n_slots) {
  uint64_t h = (uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull;
  return (size_t)(h >> 32) & (n_slots - 1);
}

static void fill_node(const ls_schema *s, knode *k);

/* After the schema checked out: every node's keywords, $ref targets and
 * patterns, and the index by node pointer. */
static bool compile_nodes(ls_schema *s) {
  size_t n = 64;
  while (n < 4 * s->n_nodes)
    n *= 2;
  s->slots = calloc(n, sizeof *s->slots);
  if (!s->slots)
    return false;
  s->n_slots = n;
  for (size_t i = 0; i < s->n_nodes; i++) {
    fill_node(s, &s->nodes[i]);
    size_t j = ptr_slot(s->nodes[i].sch, n);
    while (s->slots[j].sch)
      j = (j + 1) & (n - 1);
    s->slots[j].sch = s->nodes[i].sch;
    s->slots[j].idx = i;
  }
  return true;
}

static const knode *node_of(const ls_schema *s, const json_t *sch) {
  if (!s->n_slots || !sch)
    return NULL;
  for (size_t j = ptr_slot(sch, s->n_slots);; j = (j + 1) & (s->n_slots - 1)) {
    const json_t *at = s->slots[j].sch;
    if (at == sch)
      return &s->nodes[s->slots[j].idx];
    if (!at)
      return NULL;
  }
}

static bool check_map(ls_schema *s, const json_t *m, const char *where,
                      const char *kw, int depth, bool keys_are_patterns,
                      char *err, size_t errlen) {
  const char *k;
  json_t *v;
  if (!json_is_object(m)) {
    snprintf(err, errlen, "%s: %s/%s: must be an object", s->name, where, kw);
    return false;
  }
  json_object_foreach((json_t *)m, k, v) {
    char w[512];
    snprintf(w, sizeof w, "%.200s/%s/%.100s", where, kw, k);
    /* A patternProperties key is the pattern; the key's storage in the
     * (never modified) schema object identifies it. */
    if (keys_are_patterns && !add_regex(s, k, k, err, errlen, w))
      return false;
    if (!check_schema(s, v, w, depth + 1, err, errlen))
      return false;
  }
  return true;
}

static bool check_list(ls_schema *s, const json_t *a, const char *where,
                       const char *kw, int depth, char *err, size_t errlen) {
  if (!json_is_array(a) || json_array_size(a) == 0) {
    snprintf(err, errlen, "%s: %s/%s: must be a non-empty array", s->name,
             where, kw);
    return false;
  }
  for (size_t i = 0; i < json_array_size(a); i++) {
    char w[512];
    snprintf(w, sizeof w, "%.200s/%s/%zu", where, kw, i);
    if (!check_schema(s, json_array_get(a, i), w, depth + 1, err, errlen))
      return false;
  }
  return true;
}

static bool is_type_name(const char *t) {
  static const char *const names[] = {"null",   "boolean", "object",  "array",
                                      "number", "string",  "integer", NULL};
  for (int i = 0; names[i]; i++)
    if (!strcmp(names[i], t))
      return true;
  return false;
}

static bool check_schema(ls_schema *s, const json_t *sch, const char *where,
                         int depth, char *err, size_t errlen) {
  const char *k;
  json_t *v;
  if (depth > MAX_DEPTH) {
    snprintf(err, errlen, "%s: %s: schema nested too deep", s->name, where);
    return false;
  }
  if (json_is_boolean(sch))
    return true;
  if (!json_is_object(sch)) {
    snprintf(err, errlen, "%s: %s: a schema must be an object or a boolean",
             s->name, where);
    return false;
  }
  if (!add_node(s, sch)) {
    snprintf(err, errlen, "%s: out of memory", s->name);
    return false;
  }
  json_object_foreach((json_t *)sch, k, v) {
    char w[512];
    snprintf(w, sizeof w, "%.300s/%s", where, k);
    if (is_annotation(k))
      continue;
    if (!strcmp(k, "$defs") || !strcmp(k, "definitions") ||
        !strcmp(k, "properties") || !strcmp(k, "dependentSchemas")) {
      if (!check_map(s, v, where, k, depth, false, err, errlen))
        return false;
    } else if (!strcmp(k, "patternProperties")) {
      if (!check_map(s, v, where, k, depth, true, err, errlen))
        return false;
    } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items") ||
               !strcmp(k, "not") || !strcmp(k, "if") || !strcmp(k, "then") ||
               !strcmp(k, "else") || !strcmp(k, "propertyNames")) {
      if (!check_schema(s, v, w, depth + 1, err, errlen))
        return false;
    } else if (!strcmp(k, "allOf") || !strcmp(k, "anyOf") ||
               !strcmp(k, "oneOf") || !strcmp(k, "prefixItems")) {
      if (!check_list(s, v, where, k, depth, err, errlen))
        return false;
    } else if (!strcmp(k, "type")) {
      bool ok = json_is_string(v) && is_type_name(json_string_value(v));
      if (json_is_array(v)) {
        ok = json_array_size(v) > 0;
        for (size_t i = 0; i < json_array_size(v); i++) {
          const json_t *t = json_array_get(v, i);
          ok = ok && json_is_string(t) && is_type_name(json_string_value(t));
        }
      }
      if (!ok) {
        snprintf(err, errlen, "%s: %s: unknown type", s->name, w);
        return false;
      }
    } else if (!strcmp(k, "enum")) {
      if (!json_is_array(v)) {
        snprintf(err, errlen, "%s: %s: must be an array", s->name, w);
        return false;
      }
    } else if (!strcmp(k, "const")) {
      /* any value */
    } else if (!strcmp(k, "required")) {
      bool ok = json_is_array(v);
      for (size_t i = 0; ok && i < json_array_size(v); i++)
        ok = json_is_string(json_array_get(v, i));
      if (!ok) {
        snprintf(err, errlen, "%s: %s: must be an array of strings", s->name,
                 w);
        return false;
      }
    } else if (!strcmp(k, "dependentRequired")) {
      if (!json_is_object(v)) {
        snprintf(err, errlen, "%s: %s: must be an object", s->name, w);
        return false;
      }
    } else if (!strcmp(k, "minLength") || !strcmp(k, "maxLength") ||
               !strcmp(k, "minItems") || !strcmp(k, "maxItems") ||
               !strcmp(k, "minProperties") || !strcmp(k, "maxProperties")) {
      if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "%s: %s: must be a non-negative integer", s->name,
                 w);
        return false;
      }
    } else if (!strcmp(k, "minimum") || !strcmp(k, "maximum") ||
               !strcmp(k, "exclusiveMinimum") ||
               !strcmp(k, "exclusiveMaximum")) {
      if (!json_is_number(v)) {
        snprintf(err, errlen, "%s: %s: must be a number", s->name, w);
        return false;
      }
    } else if (!strcmp(k, "uniqueItems")) {
      if (!json_is_boolean(v)) {
        snprintf(err, errlen, "%s: %s: must be a boolean", s->name, w);
        return false;
      }
    } else if (!strcmp(k, "pattern")) {
      if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: %s: must be a string", s->name, w);
        return false;
      }
      if (!add_regex(s, v, json_string_value(v), err, errlen, w))
        return false;
    } else if (!strcmp(k, "$ref")) {
      if (!json_is_string(v) || !resolve_ref(s, json_string_value(v))) {
        snprintf(err, errlen,
                 "%s: %s: only local references (\"#/...\") that resolve "
                 "are supported",
                 s->name, w);
        return false;
      }
    } else {
      snprintf(err, errlen, "%s: %s: unsupported keyword \"%s\"", s->name,
               where, k);
      return false;
    }
  }
  return true;
}

static void free_regexes(ls_schema *s) {
  for (size_t i = 0; i < s->n_res; i++)
    regfree(&s->res[i].re);
  free(s->res);
  s->res = NULL;
  s->n_res = s->cap_res = 0;
}

static ls_schema *schema_from_root(json_t *root, const char *name, char *errstr,
                                   size_t errlen) {
  ls_schema *s = calloc(1, sizeof *s);
  if (!s || !(s->name = strdup(name))) {
    free(s);
    json_decref(root);
    snprintf(errstr, errlen, "%s: out of memory", name);
    return NULL;
  }
  s->root = root;
  if (!check_schema(s, root, "#", 0, errstr, errlen)) {
    ls_schema_free(s);
    return NULL;
  }
  if (!compile_nodes(s)) {
    snprintf(errstr, errlen, "%s: out of memory", name);
    ls_schema_free(s);
    return NULL;
  }
  return s;
}

ls_schema *ls_schema_load(const char *path, char *errstr, size_t errlen) {
  json_error_t jerr;
  json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    snprintf(errstr, errlen, "%s: line %d column %d: %s", path, jerr.line,
             jerr.column, jerr.text);
    return NULL;
  }
  return schema_from_root(root, path, errstr, errlen);
}

void ls_schema_free(ls_schema *s) {
  if (!s)
    return;
  free_regexes(s);
  free(s->nodes);
  free(s->slots);
  json_decref(s->root);
  free(s->name);
  free(s);
}

/* ---- compiled nodes and fast patterns ------------------------------------ */

static void fill_node(const ls_schema *s, knode *k) {
  for (int i = 0; i < KW__COUNT; i++)
    k->kw[i] = json_object_get(k->sch, kw_text[i]);
  if (k->kw[KW_REF])
    k->ref = resolve_ref(s, json_string_value(k->kw[KW_REF]));
  k->desc = json_string_value(k->kw[KW_DESC]);
  k->types = 0;
  static const struct {
    const char *name;
    unsigned bit;
  } tys[] = {{"null", TY_NULL},      {"boolean", TY_BOOLEAN},
             {"object", TY_OBJECT},  {"array", TY_ARRAY},
             {"number", TY_NUMBER},  {"string", TY_STRING},
             {"integer", TY_INTEGER}};
  const json_t *t = k->kw[KW_TYPE];
  for (size_t i = 0; i < sizeof tys / sizeof tys[0]; i++) {
    bool named =
        json_is_string(t) && !strcmp(json_string_value(t), tys[i].name);
    for (size_t j = 0; !named && j < json_array_size(t); j++)
      named = json_is_string(json_array_get(t, j)) &&
              !strcmp(json_string_value(json_array_get(t, j)), tys[i].name);
    if (named)
      k->types |= tys[i].bit;
  }
  k->fast = FP_NONE;
  k->re = NULL;
  if (json_is_string(k->kw[KW_PATTERN])) {
    const char *pat = json_string_value(k->kw[KW_PATTERN]);
    for (size_t i = 0; i < sizeof fast_pats / sizeof fast_pats[0]; i++)
      if (!strcmp(pat, fast_pats[i].pattern))
        k->fast = fast_pats[i].kind;
    k->re = regex_of(s, k->kw[KW_PATTERN]);
  }
}

static bool digit(char c) {
  return c >= '0' && c <= '9';
}

/* n digits at *p, advancing it. */
static bool digits(const char **p, int n) {
  for (int i = 0; i < n; i++)
    if (!digit((*p)[i]))
      return false;
  *p += n;
  return true;
}

/* ^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt
 * ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?
 *  ([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?)?$ */
static bool match_timestamp(const char *p) {
  if (!digits(&p, 4) || *p++ != '-' || !digits(&p, 2) || *p++ != '-' ||
      !digits(&p, 2))
    return false;
  if (!*p)
    return true;
  if (*p != 'T' && *p != 't' && *p != ' ')
    return false;
  p++;
  if (!digits(&p, 2) || *p++ != ':' || !digits(&p, 2))
    return false;
  if (*p == ':') {
    p++;
    if (!digits(&p, 2))
      return false;
    if (*p == '.' || *p == ',') {
      p++;
      int n = 0;
      while (digit(*p) && n < 10) {
        p++;
        n++;
      }
      if (n < 1 || n > 9)
        return false;
    }
  }
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    p++;
    if (!digits(&p, 2))
      return false;
    if (*p == ':') {
      p++;
      if (!digits(&p, 2))
        return false;
    } else if (digit(*p)) {
      if (!digits(&p, 2))
        return false;
    }
  }
  return *p == '\0';
}

static bool fast_match(fast_pat kind, const char *str) {
  switch (kind) {
  case FP_ID_DIGITS: {
    size_t n = 0;
    while (digit(str[n]))
      n++;
    return n >= 1 && n <= 20 && str[n] == '\0';
  }
  case FP_EMAIL: {
    const char *at = strchr(str, '@');
    return at && at != str && at[1] && !strchr(at + 1, '@');
  }
  case FP_TIMESTAMP:
    return match_timestamp(str);
  case FP_HAS_AT:
    return strchr(str, '@') != NULL;
  default:
    return false;
  }
}

int ls_schema_fast_match(const char *pattern, const char *str) {
  for (size_t i = 0; i < sizeof fast_pats / sizeof fast_pats[0]; i++)
    if (!strcmp(pattern, fast_pats[i].pattern))
      return fast_match(fast_pats[i].kind, str);
  return -1;
}

/* ---- validation -------------------------------------------------------- */

typedef struct {
  const ls_schema *s;
  char *err; /* NULL: a trial branch, no message wanted */
  size_t errlen;
  int depth;
  /* Set: every problem goes here and validation keeps going after one. */
  ls_schema_report_fn report;
  void *report_ud;
} vctx;

/* Whether a failure stops the walk: only the first problem is wanted,
 * unless every one is reported. */
#define STOP(c) (!(c)->report)

static bool fail(vctx *c, const seg *at, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(vctx *c, const seg *at, const char *kw, const char *fmt, ...) {
  if (!c->err && !c->report)
    return false;
  char path[256], rule[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rule, sizeof rule, fmt, ap);
  va_end(ap);
  render_path(at, path, sizeof path);
  if (c->report)
    c->report(c->report_ud, path, kw, rule);
  else
    snprintf(c->err, c->errlen, "%s: %s", path, rule);
  return false;
}

static const char *type_of(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_INTEGER:
    return "integer";
  case JSON_REAL:
    return "number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "boolean";
  default:
    return "null";
  }
}

static bool is_integral(const json_t *v) {
  if (json_is_integer(v))
    return true;
  if (!json_is_real(v))
    return false;
  double d = json_real_value(v);
  return isfinite(d) && floor(d) == d;
}

/* v's type is in the set: "integer" takes integral reals too, "number"
 * every number. */
static bool type_in(const json_t *v, unsigned types) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return types & TY_OBJECT;
  case JSON_ARRAY:
    return types & TY_ARRAY;
  case JSON_STRING:
    return types & TY_STRING;
  case JSON_INTEGER:
    return types & (TY_INTEGER | TY_NUMBER);
  case JSON_REAL:
    return (types & TY_NUMBER) || ((types & TY_INTEGER) && is_integral(v));
  case JSON_TRUE:
  case JSON_FALSE:
    return types & TY_BOOLEAN;
  default:
    return types & TY_NULL;
  }
}

/* JSON Schema equality: numbers by value (1 == 1.0), the rest structurally. */
static bool json_eq(const json_t *a, const json_t *b) {
  if (json_is_number(a) && json_is_number(b)) {
    if (json_is_integer(a) && json_is_integer(b))
      return json_integer_value(a) == json_integer_value(b);
    return json_number_value(a) == json_number_value(b);
  }
  if (json_typeof(a) != json_typeof(b))
    return false;
  if (json_is_array(a)) {
    if (json_array_size(a) != json_array_size(b))
      return false;
    for (size_t i = 0; i < json_array_size(a); i++)
      if (!json_eq(json_array_get(a, i), json_array_get(b, i)))
        return false;
    return true;
  }
  if (json_is_object(a)) {
    const char *k;
    json_t *v;
    if (json_object_size(a) != json_object_size(b))
      return false;
    json_object_foreach((json_t *)a, k, v) {
      const json_t *w = json_object_get(b, k);
      if (!w || !json_eq(v, w))
        return false;
    }
    return true;
  }
  return json_equal((json_t *)a, (json_t *)b);
}

static size_t utf8_len(const char *s, size_t bytes) {
  size_t n = 0;
  for (size_t i = 0; i < bytes; i++)
    if (((unsigned char)s[i] & 0xC0) != 0x80)
      n++;
  return n;
}

static bool validate(vctx *c, const json_t *sch, const json_t *v,
                     const seg *at);

static bool matches(vctx *c, const json_t *sch, const json_t *v,
                    const seg *at) {
  vctx t = {c->s, NULL, 0, c->depth, NULL, NULL};
  return validate(&t, sch, v, at);
}

static bool pattern_ok(const vctx *c, const void *id, const char *str) {
  const regex_t *re = regex_of(c->s, id);
  return re && regexec(re, str, 0, NULL, 0) == 0;
}

/* json_dumps's string goes back through jansson's own free function: a
 * caller may have given jansson an allocator other than malloc (the
 * ingress's route arena, ingress/ing_arena.h). */
static void dump_free(char *d) {
  json_free_t f = NULL;
  json_get_alloc_funcs(NULL, &f);
  if (f)
    f(d);
  else
    free(d);
}

static void describe_values(const json_t *arr, char *out, size_t outlen) {
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < json_array_size(arr) && len < outlen; i++) {
    char *d =
        json_dumps(json_array_get(arr, i), JSON_ENCODE_ANY | JSON_COMPACT);
    int w =
        snprintf(out + len, outlen - len, "%s%s", i ? ", " : "", d ? d : "?");
    dump_free(d);
    if (w < 0)
      break;
    len += (size_t)w;
  }
}

static bool validate_object(vctx *c, const knode *kn, const json_t *v,
                            const seg *at) {
  const json_t *props = kn->kw[KW_PROPS];
  const json_t *pprops = kn->kw[KW_PPROPS];
  const json_t *addl = kn->kw[KW_ADDL];
  const json_t *pnames = kn->kw[KW_PNAMES];
  const json_t *req = kn->kw[KW_REQ];
  const json_t *dreq = kn->kw[KW_DREQ];
  const json_t *x;
  bool ok = true;
  for (size_t i = 0; i < json_array_size(req); i++) {
    const char *name = json_string_value(json_array_get(req, i));
    if (json_object_get(v, name))
      continue;
    /* Reported every problem at once, a missing property has its own
     * path; the first-problem message keeps naming the object. */
    seg miss = {at, name, 0};
    ok = fail(c, c->report ? &miss : at, "required",
              "required property \"%.64s\" is missing", name);
    if (STOP(c))
      return false;
  }
  if ((x = kn->kw[KW_MINP]) &&
      json_object_size(v) < (size_t)json_integer_value(x)) {
    ok = fail(c, at, "minProperties", "must have at least %lld properties",
              (long long)json_integer_value(x));
    if (STOP(c))
      return false;
  }
  if ((x = kn->kw[KW_MAXP]) &&
      json_object_size(v) > (size_t)json_integer_value(x)) {
    ok = fail(c, at, "maxProperties", "must have at most %lld properties",
              (long long)json_integer_value(x));
    if (STOP(c))
      return false;
  }
  const char *k;
  json_t *pv;
  /* Only "properties" apply to the members (no pattern, additional or
   * name rules): walking the schema's properties and looking each up
   * costs fewer lookups than walking the instance when the schema names
   * fewer members (an anyOf alternative naming one). The walk order
   * decides which problem is reported first, so a walk that wants a
   * message only takes this path when it finds none; otherwise it walks
   * the instance's members in their order below. */
  if (!pprops && !addl && !pnames && !dreq && !c->report &&
      json_object_size(props) < json_object_size(v)) {
    vctx t = {c->s, NULL, 0, c->depth, NULL, NULL};
    bool all = true;
    json_object_foreach((json_t *)props, k, pv) {
      const json_t *iv = json_object_get(v, k);
      seg here = {at, k, 0};
      if (iv && !validate(&t, pv, iv, &here)) {
        all = false;
        break;
      }
    }
    if (all || !c->err) {
      if (!all)
        return false;
      goto members_done;
    }
  }
  json_object_foreach((json_t *)v, k, pv) {
    seg here = {at, k, 0};
    bool known = false;
    const json_t *ps = json_object_get(props, k);
    if (ps) {
      known = true;
      if (!validate(c, ps, pv, &here)) {
        ok = false;
        if (STOP(c))
          return false;
      }
    }
    const char *pk;
    json_t *psch;
    json_object_foreach((json_t *)pprops, pk, psch) {
      if (pattern_ok(c, pk, k)) {
        known = true;
        if (!validate(c, psch, pv, &here)) {
          ok = false;
          if (STOP(c))
            return false;
        }
      }
    }
    if (!known && addl) {
      if (json_is_false(addl))
        ok = fail(c, &here, "additionalProperties",
                  "is not an allowed property");
      else if (!validate(c, addl, pv, &here))
        ok = false;
      if (!ok && STOP(c))
        return false;
    }
    if (pnames) {
      json_t *name = json_string(k);
      bool nok = name && matches(c, pnames, name, &here);
      json_decref(name);
      if (!nok) {
        ok = fail(c, &here, "propertyNames",
                  "property name does not match propertyNames");
        if (STOP(c))
          return false;
      }
    }
    const json_t *deps = json_object_get(dreq, k);
    for (size_t i = 0; i < json_array_size(deps); i++) {
      const char *d = json_string_value(json_array_get(deps, i));
      if (d && !json_object_get(v, d)) {
        ok = fail(c, at, "dependentRequired",
                  "property \"%.64s\" requires \"%.64s\"", k, d);
        if (STOP(c))
          return false;
      }
    }
  }
members_done:;
  const json_t *dsch = kn->kw[KW_DSCH];
  json_object_foreach((json_t *)dsch, k, pv) {
    if (json_object_get(v, k) && !validate(c, pv, v, at)) {
      ok = false;
      if (STOP(c))
        return false;
    }
  }
  return ok;
}

static bool validate_array(vctx *c, const knode *kn, const json_t *v,
                           const seg *at) {
  const json_t *x;
  size_t n = json_array_size(v);
  bool ok = true;
  if ((x = kn->kw[KW_MINI]) && n < (size_t)json_integer_value(x)) {
    ok = fail(c, at, "minItems", "must have at least %lld items",
              (long long)json_integer_value(x));
    if (STOP(c))
      return false;
  }
  if ((x = kn->kw[KW_MAXI]) && n > (size_t)json_integer_value(x)) {
    ok = fail(c, at, "maxItems", "must have at most %lld items",
              (long long)json_integer_value(x));
    if (STOP(c))
      return false;
  }
  const json_t *prefix = kn->kw[KW_PREFIX];
  size_t np = json_array_size(prefix);
  for (size_t i = 0; i < n && i < np; i++) {
    seg here = {at, NULL, i};
    if (!validate(c, json_array_get(prefix, i), json_array_get(v, i), &here)) {
      ok = false;
      if (STOP(c))
        return false;
    }
  }
  const json_t *items = kn->kw[KW_ITEMS];
  for (size_t i = np; items && i < n; i++) {
    seg here = {at, NULL, i};
    if (!validate(c, items, json_array_get(v, i), &here)) {
      ok = false;
      if (STOP(c))
        return false;
    }
  }
  if (json_is_true(kn->kw[KW_UNIQ]))
    for (size_t i = 0; i < n; i++)
      for (size_t j = i + 1; j < n; j++)
        if (json_eq(json_array_get(v, i), json_array_get(v, j)))
          return fail(c, at, "uniqueItems",
                      "items %zu and %zu are equal (uniqueItems)", i, j);
  return ok;
}

static bool validate_scalar(vctx *c, const knode *kn, const json_t *v,
                            const seg *at) {
  const json_t *x;
  if (json_is_string(v)) {
    /* Counted only where a length is asked for: most strings are only
     * typed (and some are whole message bodies). */
    size_t len = kn->kw[KW_MINL] || kn->kw[KW_MAXL]
                     ? utf8_len(json_string_value(v), json_string_length(v))
                     : 0;
    if ((x = kn->kw[KW_MINL]) && len < (size_t)json_integer_value(x))
      return fail(c, at, "minLength", "must be at least %lld characters long",
                  (long long)json_integer_value(x));
    if ((x = kn->kw[KW_MAXL]) && len > (size_t)json_integer_value(x))
      return fail(c, at, "maxLength", "must be at most %lld characters long",
                  (long long)json_integer_value(x));
    if ((x = kn->kw[KW_PATTERN]) &&
        (strlen(json_string_value(v)) != json_string_length(v) ||
         !(kn->fast != FP_NONE ? fast_match(kn->fast, json_string_value(v))
                               : kn->re && regexec(kn->re, json_string_value(v),
                                                   0, NULL, 0) == 0)))
      return fail(c, at, "pattern", "must match the pattern %.200s",
                  json_string_value(x));
  }
  if (json_is_number(v)) {
    double d = json_number_value(v);
    if ((x = kn->kw[KW_MIN]) && d < json_number_value(x))
      return fail(c, at, "minimum", "must be >= %g", json_number_value(x));
    if ((x = kn->kw[KW_MAX]) && d > json_number_value(x))
      return fail(c, at, "maximum", "must be <= %g", json_number_value(x));
    if ((x = kn->kw[KW_XMIN]) && d <= json_number_value(x))
      return fail(c, at, "exclusiveMinimum", "must be > %g",
                  json_number_value(x));
    if ((x = kn->kw[KW_XMAX]) && d >= json_number_value(x))
      return fail(c, at, "exclusiveMaximum", "must be < %g",
                  json_number_value(x));
  }
  return true;
}

static bool validate_combinators(vctx *c, const knode *kn, const json_t *v,
                                 const seg *at) {
  const json_t *x;
  const char *desc = kn->desc;
  bool ok = true;
  if ((x = kn->kw[KW_ALLOF]))
    for (size_t i = 0; i < json_array_size(x); i++)
      if (!validate(c, json_array_get(x, i), v, at)) {
        ok = false;
        if (STOP(c))
          return false;
      }
  if ((x = kn->kw[KW_ANYOF])) {
    bool any = false;
    for (size_t i = 0; !any && i < json_array_size(x); i++)
      any = matches(c, json_array_get(x, i), v, at);
    if (!any) {
      if (!c->err && !c->report)
        return false;
      /* Say why the first alternative failed: usually the useful one. */
      char first[256] = "";
      vctx t = {c->s, first, sizeof first, c->depth, NULL, NULL};
      validate(&t, json_array_get(x, 0), v, at);
      ok = fail(c, at, "anyOf",
                "matches none of the anyOf alternatives%s%.80s%s "
                "(first: %s)",
                desc ? " (" : "", desc ? desc : "", desc ? ")" : "", first);
      if (STOP(c))
        return false;
    }
  }
  if ((x = kn->kw[KW_ONEOF])) {
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(x); i++)
      n += matches(c, json_array_get(x, i), v, at);
    if (n != 1) {
      ok = fail(c, at, "oneOf",
                "must match exactly one oneOf alternative%s%.80s%s "
                "(matches %zu)",
                desc ? " (" : "", desc ? desc : "", desc ? ")" : "", n);
      if (STOP(c))
        return false;
    }
  }
  if ((x = kn->kw[KW_NOT]) && matches(c, x, v, at)) {
    ok = fail(c, at, "not", "must not match the \"not\" schema%s%.80s%s",
              desc ? " (" : "", desc ? desc : "", desc ? ")" : "");
    if (STOP(c))
      return false;
  }
  if ((x = kn->kw[KW_IF])) {
    const json_t *branch =
        matches(c, x, v, at) ? kn->kw[KW_THEN] : kn->kw[KW_ELSE];
    if (branch && !validate(c, branch, v, at))
      ok = false;
  }
  return ok;
}

static bool validate(vctx *c, const json_t *sch, const json_t *v,
                     const seg *at) {
  const json_t *x;
  if (json_is_true(sch))
    return true;
  if (json_is_false(sch))
    return fail(c, at, "false", "is not allowed here");
  if (++c->depth > MAX_DEPTH) {
    c->depth--;
    return fail(c, at, "depth", "schema recursion too deep");
  }
  bool ok = true;
  knode tmp;
  const knode *kn = node_of(c->s, sch);
  if (!kn) {
    /* Not a node of this schema's tree (never, for a loaded schema). */
    memset(&tmp, 0, sizeof tmp);
    tmp.sch = sch;
    fill_node(c->s, &tmp);
    kn = &tmp;
  }
  if (kn->kw[KW_REF] && !validate(c, kn->ref, v, at)) {
    ok = false;
    if (STOP(c))
      goto out;
  }
  /* A value of the wrong type, or not one of the allowed ones, says all
   * there is to say about it: the other keywords are not checked. */
  if ((x = kn->kw[KW_TYPE])) {
    bool t = type_in(v, kn->types);
    if (!t && !c->err && !c->report) {
      ok = false; /* a trial branch: no message to write */
      goto out;
    }
    if (!t) {
      char want[128];
      if (json_is_string(x))
        snprintf(want, sizeof want, "%s", json_string_value(x));
      else
        describe_values(x, want, sizeof want);
      ok = fail(c, at, "type", "must be of type %s (is %s)", want, type_of(v));
      goto out;
    }
  }
  if ((x = kn->kw[KW_CONST]) && !json_eq(x, v)) {
    if (!c->err && !c->report) {
      ok = false;
      goto out;
    }
    char want[128];
    char *d = json_dumps(x, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(want, sizeof want, "%s", d ? d : "?");
    dump_free(d);
    ok = fail(c, at, "const", "must be %s", want);
    goto out;
  }
  if ((x = kn->kw[KW_ENUM])) {
    bool found = false;
    for (size_t i = 0; !found && i < json_array_size(x); i++)
      found = json_eq(json_array_get(x, i), v);
    if (!found && !c->err && !c->report) {
      ok = false;
      goto out;
    }
    if (!found) {
      char want[200];
      describe_values(x, want, sizeof want);
      ok = fail(c, at, "enum", "must be one of %s", want);
      goto out;
    }
  }
  if (json_is_object(v) && !validate_object(c, kn, v, at)) {
    ok = false;
    if (STOP(c))
      goto out;
  }
  if (json_is_array(v) && !validate_array(c, kn, v, at)) {
    ok = false;
    if (STOP(c))
      goto out;
  }
  if (!validate_scalar(c, kn, v, at)) {
    ok = false;
    if (STOP(c))
      goto out;
  }
  if (!validate_combinators(c, kn, v, at))
    ok = false;
out:
  c->depth--;
  return ok;
}

ls_err ls_schema_validate(const ls_schema *s, const json_t *instance,
                          char *errstr, size_t errlen) {
  char scratch[8];
  vctx c = {
      s,   errstr ? errstr : scratch, errstr ? errlen : sizeof scratch, 0, NULL,
      NULL};
  return validate(&c, s->root, instance, NULL) ? LS_OK : LS_ERR_SCHEMA;
}

ls_err ls_schema_validate_each(const ls_schema *s, const json_t *instance,
                               ls_schema_report_fn report, void *ud) {
  vctx c = {s, NULL, 0, 0, report, ud};
  return validate(&c, s->root, instance, NULL) ? LS_OK : LS_ERR_SCHEMA;
}

/* ---- what validation reads (ls_schema_reads) --------------------------- */

static bool reads(const ls_schema *s, const ls_schema_reader *r,
                  const json_t *sch, void *node, int depth) {
  const char *k;
  json_t *v;
  if (!json_is_object(sch))
    return true; /* true/false read nothing */
  if (depth > 64) {
    r->whole(node);
    return true;
  }
  json_object_foreach((json_t *)sch, k, v) {
    if (!strcmp(k, "properties")) {
      const char *pk;
      json_t *ps;
      json_object_foreach(v, pk, ps) {
        void *kid = r->member(node, pk);
        if (!kid || !reads(s, r, ps, kid, depth + 1))
          return false;
      }
    } else if (!strcmp(k, "required")) {
      for (size_t i = 0; i < json_array_size(v); i++)
        if (!r->member(node, json_string_value(json_array_get(v, i))))
          return false;
    } else if (!strcmp(k, "additionalProperties") ||
               !strcmp(k, "patternProperties") || !strcmp(k, "propertyNames") ||
               !strcmp(k, "minProperties") || !strcmp(k, "maxProperties") ||
               !strcmp(k, "dependentRequired") ||
               !strcmp(k, "dependentSchemas") || !strcmp(k, "const") ||
               !strcmp(k, "enum")) {
      r->whole(node);
    } else if (!strcmp(k, "allOf") || !strcmp(k, "anyOf") ||
               !strcmp(k, "oneOf")) {
      for (size_t i = 0; i < json_array_size(v); i++)
        if (!reads(s, r, json_array_get(v, i), node, depth + 1))
          return false;
    } else if (!strcmp(k, "not") || !strcmp(k, "if") || !strcmp(k, "then") ||
               !strcmp(k, "else")) {
      if (!reads(s, r, v, node, depth + 1))
        return false;
    } else if (!strcmp(k, "$ref")) {
      if (!reads(s, r, resolve_ref(s, json_string_value(v)), node, depth + 1))
        return false;
    }
  }
  return true;
}

bool ls_schema_reads(const ls_schema *s, const ls_schema_reader *r,
                     void *root) {
  return reads(s, r, s->root, root, 0);
}
