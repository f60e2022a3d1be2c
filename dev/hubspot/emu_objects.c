/* emu_objects.c: CRM object endpoints (contacts, emails, notes, tasks):
 * single and batch writes with HubSpot's batch rules, reads, and the
 * associations made in create requests and read through v4. Callers hold
 * emu->mu. */
#include "emu.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Association types the emulator accepts (docs/hubspot-emulator.md). */
static const struct {
  enum emu_otype from, to;
  int type_id;
} assoc_types[] = {
    {EMU_NOTES, EMU_CONTACTS, 202},  {EMU_EMAILS, EMU_CONTACTS, 198},
    {EMU_TASKS, EMU_CONTACTS, 204},  {EMU_CONTACTS, EMU_NOTES, 201},
    {EMU_CONTACTS, EMU_EMAILS, 197}, {EMU_CONTACTS, EMU_TASKS, 203},
};

static int reverse_type(enum emu_otype from, enum emu_otype to) {
  for (size_t i = 0; i < sizeof assoc_types / sizeof assoc_types[0]; i++)
    if (assoc_types[i].from == to && assoc_types[i].to == from)
      return assoc_types[i].type_id;
  return 0;
}

/* --- one input's failure, answered whole or as a 207 entry ---------------- */

struct ifail {
  int status;
  const char *category;
  char *message;
  json_t *errors;  /* optional ErrorDetail[] */
  json_t *context; /* optional */
};

static void ifail_set(struct ifail *f, int status, const char *category,
                      json_t *context, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void ifail_set(struct ifail *f, int status, const char *category,
                      json_t *context, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  f->status = status;
  f->category = category;
  f->message = emu_strdup(msg);
  f->context = context;
}

static void ifail_clear(struct ifail *f) {
  free(f->message);
  json_decref(f->errors);
  json_decref(f->context);
  memset(f, 0, sizeof *f);
}

static void ifail_reply(struct emu_call *c, struct ifail *f) {
  json_t *extra = json_object();
  if (f->errors)
    json_object_set(extra, "errors", f->errors);
  if (f->context)
    json_object_set(extra, "context", f->context);
  emu_reply(c, f->status,
            emu_err_body(c, f->category, f->message ? f->message : "", extra));
  ifail_clear(f);
}

static json_t *ifail_entry(struct ifail *f, const char *trace) {
  json_t *e = json_pack("{s:s, s:s, s:s}", "status", "error", "category",
                        f->category, "message", f->message ? f->message : "");
  json_t *ctx = f->context ? json_deep_copy(f->context) : json_object();
  if (trace)
    json_object_set_new(ctx, "objectWriteTraceId", json_pack("[s]", trace));
  json_object_set_new(e, "context", ctx);
  if (f->errors)
    json_object_set(e, "errors", f->errors);
  ifail_clear(f);
  return e;
}

/* --- helpers ----------------------------------------------------------- */

static int64_t lag(struct emu_call *c) {
  return c->emu->search_lag_ms;
}

static const char *id_text(uint64_t id, char buf[24]) {
  snprintf(buf, 24, "%llu", (unsigned long long)id);
  return buf;
}

static json_t *batch_body(json_t *results, int64_t started) {
  char s[32], e[32];
  emu_iso8601(started, s);
  emu_iso8601(emu_wall_ms(), e);
  return json_pack("{s:s, s:o, s:s, s:s}", "status", "COMPLETE", "results",
                   results, "startedAt", s, "completedAt", e);
}

static void add_errors(json_t *body, json_t *errors) {
  json_object_set_new(body, "numErrors",
                      json_integer((json_int_t)json_array_size(errors)));
  json_object_set_new(body, "errors", errors);
}

/* A batch read/update answer: 200, or 207 with one OBJECT_NOT_FOUND error
 * naming the missing ids. */
static void reply_batch(struct emu_call *c, json_t *results, int64_t started,
                        json_t *missing) {
  json_t *body = batch_body(results, started);
  if (json_array_size(missing) > 0) {
    char msg[160];
    snprintf(msg, sizeof msg,
             "Could not get some %s objects, they may be deleted or not "
             "exist. Check that ids are valid.",
             emu_otype_upper[c->otype]);
    add_errors(body, json_pack("[{s:s, s:s, s:s, s:{s:O}}]", "status", "error",
                               "category", "OBJECT_NOT_FOUND", "message", msg,
                               "context", "ids", missing));
    emu_reply(c, 207, body);
  } else {
    emu_reply(c, 200, body);
  }
}

static bool inputs_of(struct emu_call *c, json_t **inputs) {
  *inputs = json_object_get(c->in, "inputs");
  if (!json_is_array(*inputs)) {
    emu_fail(c, EMU_E_VALIDATION, "Invalid input: inputs must be an array");
    return false;
  }
  if (json_array_size(*inputs) > EMU_BATCH_MAX) {
    emu_fail(c, EMU_E_VALIDATION,
             "The maximum number of inputs supported in a batch request is "
             "%d. Please reduce the number of items and try again",
             EMU_BATCH_MAX);
    return false;
  }
  return true;
}

static bool prop_is_unique(struct emu_call *c, enum emu_otype t,
                           const char *name) {
  json_t *def = json_object_get(c->p->props[t], name);
  return def && json_is_true(json_object_get(def, "hasUniqueValue")) &&
         strcmp(name, "hs_object_id") != 0;
}

static struct emu_obj *find_by_prop(struct emu_call *c, enum emu_otype t,
                                    const char *name, const char *value) {
  struct emu_table *tab = &c->p->tables[t];
  for (size_t i = 0; i < tab->n; i++) {
    const char *v = json_string_value(json_object_get(tab->v[i]->props, name));
    if (v && strcmp(v, value) == 0)
      return tab->v[i];
  }
  return NULL;
}

/* Resolve `id` under idProperty: NULL = record id, "email" for contacts,
 * or a custom property with hasUniqueValue. */
static struct emu_obj *lookup(struct emu_call *c, enum emu_otype t,
                              const char *id, const char *id_prop) {
  if (!id_prop || strcmp(id_prop, "hs_object_id") == 0)
    return emu_obj_get(c->p, t, id);
  if (t == EMU_CONTACTS && strcmp(id_prop, "email") == 0)
    return emu_contact_by_any_email(c->p, id); /* secondary emails too */
  return find_by_prop(c, t, id_prop, id);
}

static void fail_non_unique(struct emu_call *c, enum emu_otype t,
                            const char *prop) {
  emu_fail(c, EMU_E_VALIDATION,
           "Unable to perform update/upsert by non-unique %s property %s in "
           "portal ID %llu",
           emu_otype_ids[t], prop, (unsigned long long)c->p->portal_id);
}

static void reply_not_found(struct emu_call *c, const char *id) {
  emu_fail_json(c, EMU_E_NOT_FOUND,
                emu_err_body(c, "OBJECT_NOT_FOUND",
                             "Object not found.  objectId are usually "
                             "numeric.",
                             json_pack("{s:{s:[s]}}", "context", "id", id)));
}

/* Uniqueness of a write's values: email for contacts (case-insensitive),
 * and custom properties declared hasUniqueValue (exact). */
static bool unique_ok(struct emu_call *c, enum emu_otype t, json_t *clean,
                      const struct emu_obj *self, struct ifail *f) {
  const char *k;
  json_t *v;
  json_object_foreach(clean, k, v) {
    const char *s = json_string_value(v);
    if (!*s)
      continue;
    struct emu_obj *o = NULL;
    if (t == EMU_CONTACTS && strcmp(k, "email") == 0)
      o = emu_contact_by_email(c->p, s);
    else if (prop_is_unique(c, t, k))
      o = find_by_prop(c, t, k, s);
    if (o && o != self) {
      if (t == EMU_CONTACTS && strcmp(k, "email") == 0)
        ifail_set(f, 409, "CONFLICT", NULL,
                  "Contact already exists. Existing ID: %llu",
                  (unsigned long long)o->id);
      else
        ifail_set(f, 409, "CONFLICT", NULL,
                  "A %s with %s \"%s\" already exists. Existing ID: %llu",
                  emu_otype_upper[t], k, s, (unsigned long long)o->id);
      return false;
    }
  }
  return true;
}

static bool required_ok(enum emu_otype t, json_t *clean, struct ifail *f) {
  static const char *const req[EMU_NTYPES][2] = {
      {NULL, NULL},
      {"hs_timestamp", "hs_email_direction"},
      {"hs_timestamp", NULL},
      {"hs_timestamp", NULL}};
  json_t *missing = json_array();
  for (int i = 0; i < 2; i++) {
    if (!req[t][i])
      continue;
    const char *v = json_string_value(json_object_get(clean, req[t][i]));
    if (!v || !*v)
      json_array_append_new(missing, json_string(req[t][i]));
  }
  if (json_array_size(missing) == 0) {
    json_decref(missing);
    return true;
  }
  ifail_set(f, 400, "VALIDATION_ERROR",
            json_pack("{s:o}", "properties", missing),
            "Error creating %s. Some required properties were not set.",
            emu_otype_upper[t]);
  return false;
}

/* associations: [{to:{id}, types:[{associationCategory, associationTypeId}]}]
 * -> pending [[to_type, to_id, type_id], ...]. */
static bool assocs_ok(struct emu_call *c, enum emu_otype t, json_t *in,
                      json_t *pending, struct ifail *f) {
  if (!in || json_is_null(in))
    return true;
  if (!json_is_array(in)) {
    ifail_set(f, 400, "VALIDATION_ERROR", NULL,
              "Invalid input: associations must be an array");
    return false;
  }
  size_t i;
  json_t *a;
  json_array_foreach(in, i, a) {
    json_t *to = json_object_get(json_object_get(a, "to"), "id");
    char idbuf[32];
    const char *to_id = json_string_value(to);
    if (json_is_integer(to)) {
      snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT,
               json_integer_value(to));
      to_id = idbuf;
    }
    json_t *types = json_object_get(a, "types");
    if (!to_id || !json_is_array(types) || json_array_size(types) == 0) {
      ifail_set(f, 400, "VALIDATION_ERROR", NULL,
                "Invalid association: to.id and a non-empty types array are "
                "required");
      return false;
    }
    size_t j;
    json_t *ty;
    json_array_foreach(types, j, ty) {
      const char *cat =
          json_string_value(json_object_get(ty, "associationCategory"));
      json_int_t tid =
          json_integer_value(json_object_get(ty, "associationTypeId"));
      int found = -1;
      for (size_t k = 0; k < sizeof assoc_types / sizeof assoc_types[0]; k++)
        if (assoc_types[k].from == t && assoc_types[k].type_id == tid)
          found = (int)k;
      if (!cat || strcmp(cat, "HUBSPOT_DEFINED") != 0 || found < 0) {
        ifail_set(f, 400, "VALIDATION_ERROR", NULL,
                  "Invalid association type: %s %" JSON_INTEGER_FORMAT
                  " is not a valid association type from %s",
                  cat ? cat : "(no associationCategory)", tid,
                  emu_otype_upper[t]);
        return false;
      }
      enum emu_otype tt = assoc_types[found].to;
      struct emu_obj *target = emu_obj_get(c->p, tt, to_id);
      if (!target) {
        ifail_set(f, 400, "VALIDATION_ERROR", NULL,
                  "One or more associations are invalid: %s %s does not "
                  "exist",
                  emu_otype_upper[tt], to_id);
        return false;
      }
      json_array_append_new(
          pending,
          json_pack("[i, I, i]", (int)tt, (json_int_t)target->id, (int)tid));
    }
  }
  return true;
}

static void assoc_add(struct emu_portal *p, enum emu_otype from,
                      uint64_t from_id, enum emu_otype to, uint64_t to_id,
                      int type_id) {
  for (size_t i = 0; i < p->n_assocs; i++) {
    struct emu_assoc *a = &p->assocs[i];
    if (a->from_type == from && a->from_id == from_id && a->to_type == to &&
        a->to_id == to_id && a->type_id == type_id)
      return;
  }
  if (p->n_assocs == p->cap_assocs) {
    size_t cap = p->cap_assocs ? p->cap_assocs * 2 : 64;
    struct emu_assoc *v = realloc(p->assocs, cap * sizeof *v);
    if (!v)
      return;
    p->assocs = v;
    p->cap_assocs = cap;
  }
  p->assocs[p->n_assocs++] =
      (struct emu_assoc){from, to, from_id, to_id, type_id};
}

/* Everything HubSpot checks before creating one record. */
struct plan {
  json_t *clean;
  json_t *assocs;
};

static void plan_clear(struct plan *pl) {
  json_decref(pl->clean);
  json_decref(pl->assocs);
  pl->clean = pl->assocs = NULL;
}

static bool plan_create(struct emu_call *c, enum emu_otype t, json_t *input,
                        struct plan *pl, struct ifail *f) {
  pl->clean = json_object();
  pl->assocs = json_array();
  json_t *errors;
  char *message;
  if (!emu_props_validate(c, t, json_object_get(input, "properties"), pl->clean,
                          &errors, &message)) {
    f->status = 400;
    f->category = "VALIDATION_ERROR";
    f->message = message;
    f->errors = errors;
    return false;
  }
  return required_ok(t, pl->clean, f) &&
         assocs_ok(c, t, json_object_get(input, "associations"), pl->assocs,
                   f) &&
         unique_ok(c, t, pl->clean, NULL, f);
}

static void apply(struct emu_call *c, enum emu_otype t, struct emu_obj *o,
                  json_t *clean) {
  const char *old = json_string_value(json_object_get(o->props, "email"));
  char *old_email = old ? emu_strdup(old) : NULL;
  const char *k;
  json_t *v;
  json_object_foreach(clean, k, v) {
    if (*json_string_value(v))
      json_object_set(o->props, k, v);
    else
      json_object_del(o->props, k);
  }
  emu_obj_touch(c->p, t, o, lag(c));
  if (t == EMU_CONTACTS)
    emu_email_index(c->p, o, old_email);
  free(old_email);
}

static struct emu_obj *create(struct emu_call *c, enum emu_otype t,
                              struct plan *pl) {
  struct emu_obj *o = emu_obj_new(c->p, t, lag(c));
  if (!o)
    return NULL;
  apply(c, t, o, pl->clean);
  size_t i;
  json_t *a;
  json_array_foreach(pl->assocs, i, a) {
    assoc_add(c->p, t, o->id,
              (enum emu_otype)json_integer_value(json_array_get(a, 0)),
              (uint64_t)json_integer_value(json_array_get(a, 1)),
              (int)json_integer_value(json_array_get(a, 2)));
  }
  return o;
}

/* --- single-record endpoints ------------------------------------------- */

void emu_h_create(struct emu_call *c) {
  struct plan pl = {0};
  struct ifail f = {0};
  if (!plan_create(c, c->otype, c->in, &pl, &f)) {
    ifail_reply(c, &f);
  } else {
    struct emu_obj *o = create(c, c->otype, &pl);
    if (o)
      emu_reply(c, 201, emu_obj_json(c, c->otype, o, NULL, false));
    else
      emu_fail(c, EMU_E_INTERNAL, "out of memory");
  }
  plan_clear(&pl);
}

static struct emu_obj *path_obj(struct emu_call *c) {
  const char *id_prop = emu_query(c, "idProperty");
  return lookup(c, c->otype, c->seg[4], id_prop);
}

void emu_h_get(struct emu_call *c) {
  struct emu_obj *o = path_obj(c);
  if (!o) {
    reply_not_found(c, c->seg[4]);
    return;
  }
  json_t *want = emu_want_from_query(c);
  emu_reply(c, 200, emu_obj_json(c, c->otype, o, want, false));
  json_decref(want);
}

void emu_h_patch(struct emu_call *c) {
  struct emu_obj *o = path_obj(c);
  if (!o) {
    reply_not_found(c, c->seg[4]);
    return;
  }
  json_t *clean = json_object(), *errors;
  char *message;
  struct ifail f = {0};
  if (!emu_props_validate(c, c->otype, json_object_get(c->in, "properties"),
                          clean, &errors, &message)) {
    emu_fail_props(c, errors, message);
  } else if (!unique_ok(c, c->otype, clean, o, &f)) {
    ifail_reply(c, &f);
  } else {
    apply(c, c->otype, o, clean);
    emu_reply(c, 200, emu_obj_json(c, c->otype, o, NULL, false));
  }
  json_decref(clean);
}

void emu_h_list(struct emu_call *c) {
  long limit = 10, after = 0;
  const char *q = emu_query(c, "limit");
  if (q && (!emu_parse_long(q, &limit) || limit < 1)) {
    emu_fail(c, EMU_E_VALIDATION, "limit must be a positive integer");
    return;
  }
  if (limit > 100)
    limit = 100;
  q = emu_query(c, "after");
  if (q && !emu_parse_long(q, &after)) {
    emu_fail(c, EMU_E_VALIDATION, "after must be a paging cursor");
    return;
  }
  json_t *want = emu_want_from_query(c), *res = json_array();
  struct emu_table *tab = &c->p->tables[c->otype];
  size_t i = 0;
  while (i < tab->n && (long)tab->v[i]->id < after)
    i++;
  for (; i < tab->n && (long)json_array_size(res) < limit; i++)
    json_array_append_new(res,
                          emu_obj_json(c, c->otype, tab->v[i], want, false));
  json_t *body = json_pack("{s:o}", "results", res);
  if (i < tab->n) {
    char next[24];
    json_object_set_new(
        body, "paging",
        json_pack("{s:{s:s}}", "next", "after", id_text(tab->v[i]->id, next)));
  }
  json_decref(want);
  emu_reply(c, 200, body);
}

/* --- batches ------------------------------------------------------------ */

static const char *trace_of(json_t *input) {
  const char *t =
      json_string_value(json_object_get(input, "objectWriteTraceId"));
  return t && *t ? t : NULL;
}

/* Multi-status is opted into by giving every input an objectWriteTraceId. */
static bool traced(json_t *inputs) {
  size_t i;
  json_t *in;
  if (json_array_size(inputs) == 0)
    return false;
  json_array_foreach(inputs, i, in) {
    if (!trace_of(in))
      return false;
  }
  return true;
}

void emu_h_batch_create(struct emu_call *c) {
  int64_t started = emu_wall_ms();
  json_t *inputs;
  if (!inputs_of(c, &inputs))
    return;
  size_t n = json_array_size(inputs);
  bool multi = traced(inputs);
  struct plan *plans = calloc(n ? n : 1, sizeof *plans);
  bool *ok = calloc(n ? n : 1, sizeof *ok);
  json_t *errors = json_array(), *seen = json_object();
  if (!plans || !ok) {
    emu_fail(c, EMU_E_INTERNAL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    json_t *input = json_array_get(inputs, i);
    struct ifail f = {0};
    ok[i] = plan_create(c, c->otype, input, &plans[i], &f);
    if (ok[i] && c->otype == EMU_CONTACTS) {
      const char *em =
          json_string_value(json_object_get(plans[i].clean, "email"));
      char *key = em && *em ? emu_lower(em) : NULL;
      if (key && json_object_get(seen, key)) {
        ifail_set(&f, 400, "VALIDATION_ERROR", NULL,
                  "Duplicate IDs found in batch input: [%s]. IDs must be "
                  "unique",
                  em);
        ok[i] = false;
      } else if (key) {
        json_object_set_new(seen, key, json_true());
      }
      free(key);
    }
    if (!ok[i]) {
      if (!multi) { /* the whole batch fails with the first error */
        ifail_reply(c, &f);
        goto out;
      }
      json_array_append_new(errors, ifail_entry(&f, trace_of(input)));
    }
  }
  json_t *results = json_array();
  for (size_t i = 0; i < n; i++) {
    if (!ok[i])
      continue;
    struct emu_obj *o = create(c, c->otype, &plans[i]);
    if (o)
      json_array_append_new(results, emu_obj_json(c, c->otype, o, NULL, false));
  }
  if (c->emu->shuffle_results)
    emu_shuffle(results);
  json_t *body = batch_body(results, started);
  if (json_array_size(errors) > 0) {
    add_errors(body, errors);
    errors = NULL;
    emu_reply(c, 207, body);
  } else {
    emu_reply(c, 201, body);
  }
out:
  for (size_t i = 0; plans && i < n; i++)
    plan_clear(&plans[i]);
  free(plans);
  free(ok);
  json_decref(errors);
  json_decref(seen);
}

/* The id an input names, as text (HubSpot accepts numbers too). */
static const char *input_id(json_t *input, char buf[32]) {
  json_t *id = json_object_get(input, "id");
  if (json_is_integer(id)) {
    snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    return buf;
  }
  return json_string_value(id);
}

void emu_h_batch_read(struct emu_call *c) {
  int64_t started = emu_wall_ms();
  json_t *inputs;
  if (!inputs_of(c, &inputs))
    return;
  const char *id_prop = json_string_value(json_object_get(c->in, "idProperty"));
  if (id_prop && strcmp(id_prop, "hs_object_id") != 0 &&
      !(c->otype == EMU_CONTACTS && strcmp(id_prop, "email") == 0) &&
      !prop_is_unique(c, c->otype, id_prop)) {
    fail_non_unique(c, c->otype, id_prop);
    return;
  }
  json_t *want = emu_want_from_array(json_object_get(c->in, "properties"));
  json_t *results = json_array(), *missing = json_array(),
         *seen = json_object();
  size_t i;
  json_t *in;
  json_array_foreach(inputs, i, in) {
    char buf[32];
    const char *id = input_id(in, buf);
    if (!id) {
      json_array_append_new(missing, json_null());
      continue;
    }
    struct emu_obj *o = lookup(c, c->otype, id, id_prop);
    if (!o) {
      json_array_append_new(missing, json_string(id));
      continue;
    }
    char key[24];
    if (json_object_get(seen, id_text(o->id, key)))
      continue;
    json_object_set_new(seen, key, json_true());
    json_array_append_new(results, emu_obj_json(c, c->otype, o, want, false));
  }
  reply_batch(c, results, started, missing);
  json_decref(missing);
  json_decref(seen);
  json_decref(want);
}

/* Duplicate ids in one update/upsert batch reject the batch. */
static bool dup_ids_ok(struct emu_call *c, json_t *inputs, bool ci) {
  json_t *seen = json_object();
  size_t i;
  json_t *in;
  bool ok = true;
  json_array_foreach(inputs, i, in) {
    char buf[32];
    const char *id = input_id(in, buf);
    if (!id)
      continue;
    char *key = ci ? emu_lower(id) : emu_strdup(id);
    if (key && json_object_get(seen, key)) {
      emu_fail(c, EMU_E_VALIDATION,
               "Duplicate IDs found in batch input: [%s]. IDs must be unique",
               id);
      ok = false;
    } else if (key) {
      json_object_set_new(seen, key, json_true());
    }
    free(key);
    if (!ok)
      break;
  }
  json_decref(seen);
  return ok;
}

/* Validate every input's properties; the first failure fails the batch,
 * with all the batch's property errors in one body. */
static bool batch_props_ok(struct emu_call *c, json_t *inputs, json_t *cleans) {
  json_t *all_errors = json_array();
  char *first_message = NULL;
  size_t i;
  json_t *in;
  json_array_foreach(inputs, i, in) {
    json_t *clean = json_object(), *errors;
    char *message;
    if (!emu_props_validate(c, c->otype, json_object_get(in, "properties"),
                            clean, &errors, &message)) {
      json_array_extend(all_errors, errors);
      json_decref(errors);
      if (!first_message)
        first_message = message;
      else
        free(message);
    }
    json_array_append_new(cleans, clean);
  }
  if (first_message) {
    emu_fail_props(c, all_errors, first_message);
    return false;
  }
  json_decref(all_errors);
  return true;
}

void emu_h_batch_update(struct emu_call *c) {
  int64_t started = emu_wall_ms();
  json_t *inputs;
  if (!inputs_of(c, &inputs))
    return;
  /* Batch update must use record ids; idProperty fails unless it names a
   * custom unique property (docs/hubspot-emulator.md). */
  const char *top = json_string_value(json_object_get(c->in, "idProperty"));
  size_t i;
  json_t *in;
  json_array_foreach(inputs, i, in) {
    const char *ip = json_string_value(json_object_get(in, "idProperty"));
    if (!ip)
      ip = top;
    if (ip && !prop_is_unique(c, c->otype, ip)) {
      fail_non_unique(c, c->otype, ip);
      return;
    }
  }
  if (!dup_ids_ok(c, inputs, false))
    return;
  json_t *cleans = json_array();
  if (!batch_props_ok(c, inputs, cleans)) {
    json_decref(cleans);
    return;
  }
  size_t n = json_array_size(inputs);
  struct emu_obj **objs = calloc(n ? n : 1, sizeof *objs);
  json_t *missing = json_array();
  json_array_foreach(inputs, i, in) {
    char buf[32];
    const char *id = input_id(in, buf);
    const char *ip = json_string_value(json_object_get(in, "idProperty"));
    objs[i] = id ? lookup(c, c->otype, id, ip ? ip : top) : NULL;
    if (!objs[i]) {
      json_array_append_new(missing, id ? json_string(id) : json_null());
      continue;
    }
    struct ifail f = {0};
    if (!unique_ok(c, c->otype, json_array_get(cleans, i), objs[i], &f)) {
      ifail_reply(c, &f);
      goto out;
    }
  }
  json_t *results = json_array();
  for (i = 0; i < n; i++) {
    if (!objs[i])
      continue;
    apply(c, c->otype, objs[i], json_array_get(cleans, i));
    json_array_append_new(results,
                          emu_obj_json(c, c->otype, objs[i], NULL, false));
  }
  reply_batch(c, results, started, missing);
out:
  free(objs);
  json_decref(missing);
  json_decref(cleans);
}

void emu_h_batch_upsert(struct emu_call *c) {
  int64_t started = emu_wall_ms();
  json_t *inputs;
  if (!inputs_of(c, &inputs))
    return;
  size_t n = json_array_size(inputs), i;
  json_t *in;
  const char *top = json_string_value(json_object_get(c->in, "idProperty"));
  bool by_email = false;
  json_array_foreach(inputs, i, in) {
    char buf[32];
    const char *ip = json_string_value(json_object_get(in, "idProperty"));
    if (!ip)
      ip = top;
    if (!input_id(in, buf)) {
      emu_fail(c, EMU_E_VALIDATION, "Invalid input: inputs[%zu].id is required",
               i);
      return;
    }
    if (!ip) {
      emu_fail(c, EMU_E_VALIDATION,
               "Invalid input: inputs[%zu].idProperty is required for upsert",
               i);
      return;
    }
    bool email = c->otype == EMU_CONTACTS && strcmp(ip, "email") == 0;
    if (!email && !prop_is_unique(c, c->otype, ip)) {
      fail_non_unique(c, c->otype, ip);
      return;
    }
    by_email = by_email || email;
  }
  /* Two inputs resolving to one record reject the batch; emails compare
   * case-insensitively. */
  if (!dup_ids_ok(c, inputs, by_email))
    return;
  json_t *cleans = json_array();
  /* Every input traced: a bad value fails only its input, answered in a
   * 207 (as batch create documents); otherwise the whole batch gets the
   * 400 with every property error (HubSpot's docs leave it open). */
  bool multi = traced(inputs);
  json_t *errors = json_array();
  bool *bad = calloc(n ? n : 1, sizeof *bad);
  if (multi) {
    json_array_foreach(inputs, i, in) {
      json_t *clean = json_object(), *perrs;
      char *message;
      json_t *pv = json_deep_copy(json_object_get(in, "properties"));
      char ib[32];
      const char *iid = input_id(in, ib);
      /* The id is the email of a contact upserted by email: HubSpot
       * validates it like the property. */
      if (pv && c->otype == EMU_CONTACTS && iid &&
          !emu_contact_by_any_email(c->p, iid) &&
          emu_streq_ci(
              json_string_value(json_object_get(in, "idProperty"))
                  ? json_string_value(json_object_get(in, "idProperty"))
                  : (top ? top : ""),
              "email"))
        json_object_set_new(pv, "email", json_string(iid));
      bool valid = emu_props_validate(c, c->otype, pv, clean, &perrs, &message);
      json_decref(pv);
      json_object_del(clean, "email");
      if (!valid) {
        bad[i] = true;
        json_t *ctx = json_pack("{s:[s]}", "objectWriteTraceId", trace_of(in));
        json_array_append_new(errors,
                              json_pack("{s:s, s:s, s:s, s:o, s:o}", "status",
                                        "error", "category", "VALIDATION_ERROR",
                                        "message", message ? message : "",
                                        "context", ctx, "errors", perrs));
        free(message);
      }
      json_array_append_new(cleans, clean);
    }
  } else if (!batch_props_ok(c, inputs, cleans)) {
    json_decref(cleans);
    json_decref(errors);
    free(bad);
    return;
  }
  struct emu_obj **objs = calloc(n ? n : 1, sizeof *objs);
  json_array_foreach(inputs, i, in) {
    if (bad[i])
      continue;
    char buf[32];
    const char *id = input_id(in, buf);
    const char *ip = json_string_value(json_object_get(in, "idProperty"));
    if (!ip)
      ip = top;
    json_t *clean = json_array_get(cleans, i);
    objs[i] = lookup(c, c->otype, id, ip);
    /* The id is the identity: an update keeps the stored spelling of the
     * email, a create stores the id as the property's value. */
    if (objs[i])
      json_object_del(clean, ip);
    else
      json_object_set_new(clean, ip, json_string(id));
    struct ifail f = {0};
    if (!objs[i] && !required_ok(c->otype, clean, &f)) {
      ifail_reply(c, &f);
      goto out;
    }
    if (!unique_ok(c, c->otype, clean, objs[i], &f)) {
      ifail_reply(c, &f);
      goto out;
    }
    if (!objs[i] && by_email && c->p->faults.upsert_conflict > 0) {
      /* Another writer created this email between our lookup and our
       * insert: HubSpot answers the loser 409 (the batch is not
       * applied); the contact now exists. */
      c->p->faults.upsert_conflict--;
      c->emu->faults_injected++;
      struct plan pl = {json_pack("{s:s}", "email", id), json_array()};
      struct emu_obj *o = create(c, c->otype, &pl);
      plan_clear(&pl);
      char ib[24];
      emu_fail(c, EMU_E_CONFLICT, "Contact already exists. Existing ID: %s",
               o ? id_text(o->id, ib) : "0");
      goto out;
    }
  }
  json_t *results = json_array();
  for (i = 0; i < n; i++) {
    if (bad[i])
      continue;
    bool created = objs[i] == NULL;
    struct plan pl = {json_array_get(cleans, i), json_array()};
    struct emu_obj *o = created ? create(c, c->otype, &pl) : objs[i];
    json_decref(pl.assocs);
    if (!o)
      continue;
    if (!created)
      apply(c, c->otype, o, json_array_get(cleans, i));
    json_t *r = emu_obj_json(c, c->otype, o, NULL, false);
    if (c->emu->upsert_no_echo)
      json_object_set_new(r, "properties", json_object());
    json_object_set_new(r, "new", json_boolean(created));
    json_array_append_new(results, r);
  }
  if (c->emu->shuffle_results)
    emu_shuffle(results);
  json_t *body = batch_body(results, started);
  if (json_array_size(errors)) {
    add_errors(body, errors);
    errors = NULL;
    emu_reply(c, 207, body);
  } else {
    emu_reply(c, 200, body);
  }
out:
  free(objs);
  free(bad);
  json_decref(errors);
  json_decref(cleans);
}

/* --- v4 associations ----------------------------------------------------- */

void emu_h_assoc_read(struct emu_call *c) {
  enum emu_otype from = c->otype, to;
  emu_otype_parse(c->seg[6], &to);
  struct emu_obj *o = emu_obj_get(c->p, from, c->seg[4]);
  long limit = 500, after = 0;
  const char *q = emu_query(c, "limit");
  if (q && emu_parse_long(q, &limit) && (limit < 1 || limit > 500))
    limit = 500;
  q = emu_query(c, "after");
  if (q)
    emu_parse_long(q, &after);
  json_t *by_target = json_object(), *order = json_array();
  for (size_t i = 0; o && i < c->p->n_assocs; i++) {
    const struct emu_assoc *a = &c->p->assocs[i];
    uint64_t other;
    int type_id;
    if (a->from_type == from && a->from_id == o->id && a->to_type == to) {
      other = a->to_id;
      type_id = a->type_id;
    } else if (a->to_type == from && a->to_id == o->id && a->from_type == to) {
      other = a->from_id;
      type_id = reverse_type(a->from_type, a->to_type);
    } else {
      continue;
    }
    char key[24];
    id_text(other, key);
    json_t *entry = json_object_get(by_target, key);
    if (!entry) {
      entry = json_pack("{s:I, s:[]}", "toObjectId", (json_int_t)other,
                        "associationTypes");
      json_object_set_new(by_target, key, entry);
      json_array_append(order, entry);
    }
    json_array_append_new(json_object_get(entry, "associationTypes"),
                          json_pack("{s:s, s:i, s:n}", "category",
                                    "HUBSPOT_DEFINED", "typeId", type_id,
                                    "label"));
  }
  json_t *res = json_array();
  size_t total = json_array_size(order);
  for (size_t i = (size_t)(after > 0 ? after : 0);
       i < total && (long)json_array_size(res) < limit; i++)
    json_array_append(res, json_array_get(order, i));
  json_t *body = json_pack("{s:o}", "results", res);
  size_t next = (size_t)(after > 0 ? after : 0) + json_array_size(res);
  if (next < total) {
    char nb[24];
    snprintf(nb, sizeof nb, "%zu", next);
    json_object_set_new(body, "paging",
                        json_pack("{s:{s:s}}", "next", "after", nb));
  }
  json_decref(by_target);
  json_decref(order);
  emu_reply(c, 200, body);
}
