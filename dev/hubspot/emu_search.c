/* emu_search.c: POST /crm/v3/objects/{type}/search over the search index,
 * which lags the store by --search-lag-ms, with HubSpot's request limits
 * (docs/hubspot-emulator.md, search). Callers hold emu->mu. */
#include "emu.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEARCH_BODY_MAX 3000
#define SEARCH_PAGE_MAX 200
#define SEARCH_RESULTS_MAX 10000
#define SEARCH_GROUPS_MAX 5
/* The 2024 changelog's limits (docs/hubspot-emulator.md). */
#define SEARCH_FILTERS_PER_GROUP 10
#define SEARCH_FILTERS_MAX 25

struct sctx {
  struct emu_call *c;
  enum emu_otype t;
};

static const char *prop_type(struct sctx *s, const char *name) {
  json_t *def = json_object_get(s->c->p->props[s->t], name);
  return json_string_value(json_object_get(def, "type"));
}

/* Numbers, ms epochs and ISO dates all compare as numbers. */
static bool as_number(const char *type, const char *v, double *out) {
  char *end;
  double d = strtod(v, &end);
  if (end != v && *end == '\0' && isfinite(d)) {
    *out = d;
    return true;
  }
  if (type && (strcmp(type, "datetime") == 0 || strcmp(type, "date") == 0)) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    int n = sscanf(v, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms);
    if (n >= 3) {
      tm.tm_year -= 1900;
      tm.tm_mon -= 1;
      *out = (double)timegm(&tm) * 1000.0 + (n == 7 ? ms : 0);
      return true;
    }
  }
  return false;
}

static int compare(const char *type, const char *a, const char *b) {
  double x, y;
  if (as_number(type, a, &x) && as_number(type, b, &y))
    return x < y ? -1 : x > y ? 1 : 0;
  return strcasecmp(a, b);
}

static const char *filter_value(json_t *f, const char *key, char buf[64]) {
  json_t *v = json_object_get(f, key);
  if (json_is_string(v))
    return json_string_value(v);
  if (json_is_integer(v)) {
    snprintf(buf, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return buf;
  }
  if (json_is_real(v)) {
    snprintf(buf, 64, "%.17g", json_real_value(v));
    return buf;
  }
  if (json_is_boolean(v))
    return json_is_true(v) ? "true" : "false";
  return NULL;
}

static bool glob_ci(const char *pat, const char *s) {
  if (*pat == '\0')
    return *s == '\0';
  if (*pat == '*')
    return glob_ci(pat + 1, s) || (*s && glob_ci(pat, s + 1));
  return *s && tolower((unsigned char)*pat) == tolower((unsigned char)*s) &&
         glob_ci(pat + 1, s + 1);
}

static bool contains_token(const char *stored, const char *token) {
  if (strchr(token, '*'))
    return glob_ci(token, stored);
  if (strcasecmp(stored, token) == 0)
    return true;
  size_t tl = strlen(token);
  for (const char *p = stored; *p;) {
    while (*p && !isalnum((unsigned char)*p))
      p++;
    const char *start = p;
    while (*p && isalnum((unsigned char)*p))
      p++;
    if ((size_t)(p - start) == tl && strncasecmp(start, token, tl) == 0)
      return true;
  }
  return false;
}

/* IN/NOT_IN: strings need lowercase values, enumerations exact ones. */
static bool in_values(const char *type, const char *v, json_t *values) {
  size_t i;
  json_t *x;
  json_array_foreach(values, i, x) {
    char buf[64];
    json_t *holder = json_pack("{s:O}", "v", x);
    const char *want = filter_value(holder, "v", buf);
    bool hit = false;
    if (want) {
      double a, b;
      if (type && strcmp(type, "enumeration") == 0)
        hit = strcmp(v, want) == 0;
      else if (as_number(type, v, &a) && as_number(type, want, &b))
        hit = a == b;
      else {
        char *low = emu_lower(v);
        hit = low && strcmp(low, want) == 0;
        free(low);
      }
    }
    json_decref(holder);
    if (hit)
      return true;
  }
  return false;
}

/* -1: bad filter (reply set), 0: no match, 1: match. */
static int filter_match(struct sctx *s, json_t *f, json_t *props) {
  const char *name = json_string_value(json_object_get(f, "propertyName"));
  const char *op = json_string_value(json_object_get(f, "operator"));
  if (!name || !op) {
    emu_fail(s->c, EMU_E_VALIDATION,
             "Invalid filter: propertyName and operator are required");
    return -1;
  }
  const char *type = prop_type(s, name);
  if (!type) {
    emu_fail(s->c, EMU_E_VALIDATION,
             "There was a problem with the request: property %s does not "
             "exist for object type %s",
             name, emu_otype_ids[s->t]);
    return -1;
  }
  const char *v = json_string_value(json_object_get(props, name));
  bool has = v && *v;
  char b1[64], b2[64];
  const char *val = filter_value(f, "value", b1);
  if (strcmp(op, "HAS_PROPERTY") == 0)
    return has;
  if (strcmp(op, "NOT_HAS_PROPERTY") == 0)
    return !has;
  if (strcmp(op, "IN") == 0 || strcmp(op, "NOT_IN") == 0) {
    json_t *values = json_object_get(f, "values");
    if (!json_is_array(values)) {
      emu_fail(s->c, EMU_E_VALIDATION, "Operator %s requires values", op);
      return -1;
    }
    bool in = has && in_values(type, v, values);
    return op[0] == 'I' ? in : !in;
  }
  if (!val) {
    emu_fail(s->c, EMU_E_VALIDATION, "Operator %s requires a value", op);
    return -1;
  }
  if (strcmp(op, "EQ") == 0)
    return has && compare(type, v, val) == 0;
  if (strcmp(op, "NEQ") == 0)
    return !has || compare(type, v, val) != 0;
  if (strcmp(op, "LT") == 0)
    return has && compare(type, v, val) < 0;
  if (strcmp(op, "LTE") == 0)
    return has && compare(type, v, val) <= 0;
  if (strcmp(op, "GT") == 0)
    return has && compare(type, v, val) > 0;
  if (strcmp(op, "GTE") == 0)
    return has && compare(type, v, val) >= 0;
  if (strcmp(op, "BETWEEN") == 0) {
    const char *hi = filter_value(f, "highValue", b2);
    if (!hi) {
      emu_fail(s->c, EMU_E_VALIDATION, "Operator BETWEEN requires highValue");
      return -1;
    }
    return has && compare(type, v, val) >= 0 && compare(type, v, hi) <= 0;
  }
  if (strcmp(op, "CONTAINS_TOKEN") == 0)
    return has && contains_token(v, val);
  if (strcmp(op, "NOT_CONTAINS_TOKEN") == 0)
    return !has || !contains_token(v, val);
  emu_fail(s->c, EMU_E_VALIDATION, "Unknown filter operator %s", op);
  return -1;
}

/* Groups are OR, filters within a group AND. */
static int groups_match(struct sctx *s, json_t *groups, json_t *props) {
  if (json_array_size(groups) == 0)
    return 1;
  size_t i;
  json_t *g;
  json_array_foreach(groups, i, g) {
    json_t *filters = json_object_get(g, "filters");
    int all = 1;
    size_t j;
    json_t *f;
    json_array_foreach(filters, j, f) {
      int m = filter_match(s, f, props);
      if (m < 0)
        return -1;
      if (!m)
        all = 0;
    }
    if (all)
      return 1;
  }
  return 0;
}

static bool query_match(json_t *props, const char *q) {
  if (!q || !*q)
    return true;
  size_t ql = strlen(q);
  const char *k;
  json_t *v;
  json_object_foreach(props, k, v) {
    const char *s = json_string_value(v);
    for (; s && *s; s++)
      if (strncasecmp(s, q, ql) == 0)
        return true;
  }
  return false;
}

static bool check_shape(struct emu_call *c, json_t *groups, json_t *sorts) {
  if (groups && !json_is_array(groups)) {
    emu_fail(c, EMU_E_VALIDATION, "filterGroups must be an array");
    return false;
  }
  if (json_array_size(groups) > SEARCH_GROUPS_MAX) {
    emu_fail(c, EMU_E_VALIDATION,
             "Too many filter groups: %zu. The maximum is %d.",
             json_array_size(groups), SEARCH_GROUPS_MAX);
    return false;
  }
  size_t total = 0, i;
  json_t *g;
  json_array_foreach(groups, i, g) {
    size_t n = json_array_size(json_object_get(g, "filters"));
    if (n > SEARCH_FILTERS_PER_GROUP) {
      emu_fail(c, EMU_E_VALIDATION,
               "Too many filters in group %zu: %zu. The maximum is %d.", i, n,
               SEARCH_FILTERS_PER_GROUP);
      return false;
    }
    total += n;
  }
  if (total > SEARCH_FILTERS_MAX) {
    emu_fail(c, EMU_E_VALIDATION, "Too many filters: %zu. The maximum is %d.",
             total, SEARCH_FILTERS_MAX);
    return false;
  }
  if (sorts && (!json_is_array(sorts) || json_array_size(sorts) > 1)) {
    emu_fail(c, EMU_E_VALIDATION, "Only one sort is allowed.");
    return false;
  }
  return true;
}

static struct sort_ctx {
  const char *prop, *type;
  bool desc;
} sort_ctx;

static int cmp_objs(const void *pa, const void *pb) {
  const struct emu_obj *a = *(struct emu_obj *const *)pa;
  const struct emu_obj *b = *(struct emu_obj *const *)pb;
  if (sort_ctx.prop) {
    const char *x =
        json_string_value(json_object_get(a->idx_props, sort_ctx.prop));
    const char *y =
        json_string_value(json_object_get(b->idx_props, sort_ctx.prop));
    int r;
    if (!x || !y)
      r = x ? -1 : y ? 1 : 0; /* records without the value come last */
    else
      r = compare(sort_ctx.type, x, y);
    if (r)
      return sort_ctx.desc && x && y ? -r : r;
  }
  return a->id < b->id ? -1 : a->id > b->id;
}

void emu_h_search(struct emu_call *c) {
  if (c->body_len > SEARCH_BODY_MAX) {
    emu_fail(c, EMU_E_VALIDATION,
             "Search request body is %zu characters; the limit is %d",
             c->body_len, SEARCH_BODY_MAX);
    return;
  }
  json_t *groups = json_object_get(c->in, "filterGroups");
  json_t *sorts = json_object_get(c->in, "sorts");
  if (!check_shape(c, groups, sorts))
    return;
  long limit = 10, after = 0;
  json_t *jl = json_object_get(c->in, "limit");
  if (jl && !json_is_integer(jl)) {
    emu_fail(c, EMU_E_VALIDATION, "limit must be an integer");
    return;
  }
  if (jl)
    limit = (long)json_integer_value(jl);
  if (limit < 0 || limit > SEARCH_PAGE_MAX) {
    emu_fail(c, EMU_E_VALIDATION, "limit must be between 0 and %d, got %ld",
             SEARCH_PAGE_MAX, limit);
    return;
  }
  json_t *ja = json_object_get(c->in, "after");
  if (json_is_string(ja) && *json_string_value(ja) &&
      !emu_parse_long(json_string_value(ja), &after)) {
    emu_fail(c, EMU_E_VALIDATION, "after must be a paging cursor");
    return;
  }
  if (json_is_integer(ja))
    after = (long)json_integer_value(ja);
  if (after < 0 || after + limit > SEARCH_RESULTS_MAX) {
    emu_fail(c, EMU_E_VALIDATION,
             "Paging past %d results is not supported (after=%ld, limit=%ld)",
             SEARCH_RESULTS_MAX, after, limit);
    return;
  }
  struct sctx s = {c, c->otype};
  memset(&sort_ctx, 0, sizeof sort_ctx);
  json_t *sort = json_array_get(sorts, 0);
  if (json_is_object(sort)) {
    sort_ctx.prop = json_string_value(json_object_get(sort, "propertyName"));
    const char *dir = json_string_value(json_object_get(sort, "direction"));
    sort_ctx.desc = dir && strcmp(dir, "DESCENDING") == 0;
  } else if (json_is_string(sort)) {
    sort_ctx.prop = json_string_value(sort);
    if (sort_ctx.prop[0] == '-') {
      sort_ctx.desc = true;
      sort_ctx.prop++;
    }
  }
  if (sort_ctx.prop) {
    sort_ctx.type = prop_type(&s, sort_ctx.prop);
    if (!sort_ctx.type) {
      emu_fail(c, EMU_E_VALIDATION, "Cannot sort by unknown property %s",
               sort_ctx.prop);
      return;
    }
  }
  const char *query = json_string_value(json_object_get(c->in, "query"));

  struct emu_table *tab = &c->p->tables[c->otype];
  struct emu_obj **hits = calloc(tab->n ? tab->n : 1, sizeof *hits);
  size_t nh = 0;
  for (size_t i = 0; hits && i < tab->n; i++) {
    struct emu_obj *o = tab->v[i];
    emu_obj_reindex_due(o);
    if (!o->idx_props)
      continue; /* not in the index yet */
    int m = groups_match(&s, groups, o->idx_props);
    if (m < 0) {
      free(hits);
      return;
    }
    if (m && query_match(o->idx_props, query))
      hits[nh++] = o;
  }
  /* Filters are validated even when nothing is indexed yet. */
  if (nh == 0 && hits) {
    json_t *empty = json_object();
    int m = groups_match(&s, groups, empty);
    json_decref(empty);
    if (m < 0) {
      free(hits);
      return;
    }
  }
  /* The sort context is a file static: safe because handlers run under
   * emu->mu, one at a time. */
  qsort(hits, nh, sizeof *hits, cmp_objs);
  json_t *want = emu_want_from_array(json_object_get(c->in, "properties"));
  json_t *res = json_array();
  for (size_t i = (size_t)after; i < nh && (long)json_array_size(res) < limit;
       i++)
    json_array_append_new(res, emu_obj_json(c, c->otype, hits[i], want, true));
  json_t *body =
      json_pack("{s:I, s:o}", "total", (json_int_t)nh, "results", res);
  if ((size_t)(after + limit) < nh && limit > 0) {
    char next[24];
    snprintf(next, sizeof next, "%ld", after + limit);
    json_object_set_new(body, "paging",
                        json_pack("{s:{s:s}}", "next", "after", next));
  }
  json_decref(want);
  free(hits);
  emu_reply(c, 200, body);
}
