/* ing_route: the parse-validate-route path of one webhook body. */
#include "ing_route.h"

#include "ing_arena.h"
#include "ing_json.h"
#include "ls_shape.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_hash.h"

struct ing_schemas {
  ls_schema *by_type[LS_EV__COUNT];
  ing_pick *pick; /* the members the route reads (ing_json.h) */
};

/* Members read by the route itself, the event identity (ls_event.c,
 * ls_evid.c) and the second shape's normalisation (ls_shape.c), besides
 * those the schemas name. A field read here but missing from the list
 * would make an accepted body's id or routing differ from what the whole
 * body gives: unit_ing_route and the fuzzer compare both on every input. */
static const char *const k_route_reads[] = {
    "event_type", "event", "secret_key", "client_id", "campaign_id",
    /* lead identity */
    "to_email", "lead_email", "sl_lead_email", "sender_detail", "to",
    "lead_data.email", "leadCorrespondence.targetLeadEmail",
    /* times */
    "event_timestamp", "time_sent", "time_opened", "time_clicked",
    "time_replied", "created_at", "timestamp",
    /* the event id */
    "stats_id", "stats_thread_id", "sl_email_lead_map_id", "lead_id",
    "sl_email_lead_id", "reply_message.message_id", "message_id",
    "lead_category.new_id", "lead_category.old_id", "lead_category_id",
    "previous_status", "current_status", "sequence_number",
    "current_sequence_number",
    /* the second shape (ls_shape.c) */
    "lead.email", "lead.id", "lead.first_name", "lead.last_name",
    "lead.company_name", "lead.phone_number", "lead.website",
    "lead.linkedin_profile", "email.subject", "email.message_id",
    "reply.subject", "reply.body", "reply.message_id", "link.url", "subject",
    "reply_message", "sent_message", "lead_data", NULL};
/* Read as a whole (arrays are always kept whole). */
static const char *const k_route_reads_whole[] = {"link_details",
                                                  "link_clicked", NULL};

static void *pick_member(void *node, const char *key) {
  return ing_pick_child(node, key);
}

static void pick_whole(void *node) {
  ing_pick_whole(node);
}

static bool build_pick(ing_schemas *s, char *errstr, size_t errlen) {
  static const ls_schema_reader reader = {pick_member, pick_whole};
  bool ok = (s->pick = ing_pick_new()) != NULL;
  for (int k = 0; ok && k_route_reads[k]; k++)
    ok = ing_pick_path(s->pick, k_route_reads[k], false);
  for (int k = 0; ok && k_route_reads_whole[k]; k++)
    ok = ing_pick_path(s->pick, k_route_reads_whole[k], true);
  for (int t = 0; ok && t < LS_EV_UNKNOWN; t++)
    ok = ls_schema_reads(s->by_type[t], &reader, s->pick);
  if (!ok)
    snprintf(errstr, errlen, "out of memory");
  return ok;
}

ing_schemas *ing_schemas_load(const char *dir, char *errstr, size_t errlen) {
  ing_arena_install(); /* before the HTTP threads use jansson */
  ing_schemas *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  for (int t = 0; t < LS_EV_UNKNOWN; t++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.schema.json", dir,
             ls_event_type_name((ls_event_type)t));
    s->by_type[t] = ls_schema_load(path, errstr, errlen);
    if (!s->by_type[t]) {
      ing_schemas_free(s);
      return NULL;
    }
  }
  if (!build_pick(s, errstr, errlen)) {
    ing_schemas_free(s);
    return NULL;
  }
  return s;
}

void ing_schemas_free(ing_schemas *s) {
  if (!s)
    return;
  for (int t = 0; t < LS_EV__COUNT; t++)
    ls_schema_free(s->by_type[t]);
  ing_pick_free(s->pick);
  free(s);
}

const ls_schema *ing_schemas_get(const ing_schemas *s, ls_event_type t) {
  return (s && t >= 0 && t < LS_EV__COUNT) ? s->by_type[t] : NULL;
}

ls_err ing_scan(const char *body, size_t len, int max_depth, size_t *bad_at) {
  const unsigned char *p = (const unsigned char *)body;
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < len;) {
    unsigned char c = p[i];
    if (c >= 0x80) {
      size_t n = ing_json_utf8_seq(p + i, len - i);
      if (!n) {
        if (bad_at)
          *bad_at = i;
        return LS_ERR_BAD_UTF8;
      }
      i += n;
      esc = false;
      continue;
    }
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) {
        if (bad_at)
          *bad_at = i;
        return LS_ERR_TOO_DEEP;
      }
    } else if (c == '}' || c == ']') {
      depth--;
    }
    i++;
  }
  return LS_OK;
}

const char *ing_quarantine_reason(ls_err e) {
  switch (e) {
  case LS_ERR_BAD_JSON:
  case LS_ERR_BAD_UTF8:
  case LS_ERR_TOO_DEEP:
  case LS_ERR_NOT_OBJECT:
  case LS_ERR_NO_EVENT_TYPE:
  case LS_ERR_SCHEMA:
    return ls_err_name(e);
  default:
    return "invalid";
  }
}

static bool secret_ok(const ls_source *src, const json_t *root) {
  const json_t *v = json_object_get(root, "secret_key");
  char h[65];
  if (!json_is_string(v)) {
    /* Still spend the hash so a missing key costs what a wrong one does. */
    ls_sha256_hex("", 0, h);
    ls_const_eq(h, src->secret_sha256);
    return false;
  }
  ls_sha256_hex(json_string_value(v), json_string_length(v), h);
  return ls_const_eq(h, src->secret_sha256);
}

/* Smartlead may route an event through a higher-level webhook than the one
 * it belongs to; such events are kept but flagged. Absent ids contradict
 * nothing. */
static bool scope_contradicted(const ls_source *src, const json_t *root) {
  const char *field;
  if (src->level == LS_LEVEL_CLIENT)
    field = "client_id";
  else if (src->level == LS_LEVEL_CAMPAIGN)
    field = "campaign_id";
  else
    return false;
  char id[64];
  ls_json_id(json_object_get(root, field), id, sizeof id);
  return id[0] && src->scope_id && strcmp(id, src->scope_id) != 0;
}

static void reject(ing_verdict *out, ls_err e, bool quarantine,
                   const char *detail) {
  out->err = e;
  out->quarantine = quarantine;
  snprintf(out->detail, sizeof out->detail, "%.*s", (int)sizeof out->detail - 1,
           detail);
}

/* What an event cannot be processed without: its type (identify checked)
 * and, for lead events, a usable lead address. */
static bool essentials_ok(const ls_event *ev) {
  if (!ls_event_type_has_lead(ev->type))
    return true;
  /* An untracked reply always has a sender; one that is not a person
   * (MAILER-DAEMON, no @) is the worker's to filter with its reason. */
  if (ev->type == LS_EV_UNTRACKED_REPLIES)
    return ev->lead_email[0] != '\0';
  const char *at = strchr(ev->lead_email, '@');
  return at && at != ev->lead_email && at[1];
}

/* "$.client_id: must be ..." -> "client_id"; "$: ..." -> "(root)". Only
 * names the schema declares can fail, so the label set is bounded. */
static void drift_field(const char *msg, char *out, size_t cap) {
  size_t j = 0;
  if (!strncmp(msg, "$.", 2))
    for (const char *p = msg + 2;
         *p && j + 1 < cap &&
         (isalnum((unsigned char)*p) || *p == '_' || *p == '-');
         p++)
      out[j++] = *p;
  out[j] = '\0';
  if (!j)
    snprintf(out, cap, "(root)");
}

void ing_route(const ing_schemas *schemas, const ls_source *src,
               const char *topic_prefix, int max_depth, const char *body,
               size_t len, ing_verdict *out) {
  json_t *root = NULL;
  ing_json_error jerr;
  size_t at = 0;
  char msg[LS_ERRSTR_SIZE];
  memset(out, 0, sizeof *out);
  /* Every jansson value below is made and dropped within this call: they
   * come from the thread's arena (ing_arena.h), freed together. */
  bool arena = ing_arena_begin();

  /* One pass: syntax, UTF-8, depth, and only the members read below are
   * built (ing_json.h); the body itself is stored as received. */
  ing_json_status js =
      ing_json_project_masked(schemas ? schemas->pick : NULL, body, len,
                              max_depth, &root, &jerr, &out->secrets);
  if (js != ING_JSON_OK) {
    /* Which problem a body is refused for is the first one in this order,
     * as before: bad UTF-8 or too deep anywhere, then the JSON syntax. */
    ls_err e = ing_scan(body, len, max_depth, &at);
    if (e == LS_ERR_BAD_UTF8) {
      snprintf(msg, sizeof msg, "body is not valid UTF-8 (byte %zu)", at);
      reject(out, e, true, msg);
    } else if (e == LS_ERR_TOO_DEEP) {
      snprintf(msg, sizeof msg, "JSON nesting deeper than %d (byte %zu)",
               max_depth, at);
      reject(out, e, true, msg);
    } else if (js == ING_JSON_NOMEM) {
      reject(out, LS_ERR_NOMEM, false, "out of memory");
    } else {
      snprintf(msg, sizeof msg,
               "body is not valid JSON (line %d, column %d, byte %zu)",
               jerr.line, jerr.column, jerr.at);
      reject(out, LS_ERR_BAD_JSON, true, msg);
    }
    goto out;
  }
  if (!json_is_object(root)) {
    reject(out, LS_ERR_NOT_OBJECT, true, "body is not a JSON object");
    goto out;
  }
  if (src && src->has_secret && !secret_ok(src, root)) {
    reject(out, LS_ERR_UNAUTHORIZED, false, "unauthorized");
    goto out;
  }
  const char *tenant = src ? src->tenant->id : "-";
  /* The second payload shape is routed and validated as its classic
   * equivalent (ls_shape.h); the body stored is the one received. */
  json_t *norm = ls_shape_normalized(root);
  if (norm) {
    json_decref(root);
    root = norm;
  }
  ls_err e = ls_event_identify(root, body, len, tenant, topic_prefix, &out->ev);
  if (e != LS_OK) {
    reject(out, LS_ERR_NO_EVENT_TYPE, true,
           "event_type is missing or not a string");
    goto out;
  }
  out->have_event = true;
  const ls_schema *schema = ing_schemas_get(schemas, out->ev.type);
  bool invalid =
      schema && ls_schema_validate(schema, root, msg, sizeof msg) != LS_OK;
  if (invalid && essentials_ok(&out->ev)) {
    /* Drift in a field leadsync can do without: the event goes on and the
     * field is counted (docs/ingress.md "Schema drift"). */
    drift_field(msg, out->drift, sizeof out->drift);
  } else if (invalid) {
    char d[sizeof out->detail];
    snprintf(d, sizeof d, "%.63s schema: %.*s", out->ev.type_name,
             (int)sizeof d - 80, msg);
    reject(out, LS_ERR_SCHEMA, true, d);
    goto out;
  }
  out->scope_mismatch = src && scope_contradicted(src, root);
  out->err = LS_OK;
out:
  json_decref(root);
  if (arena)
    ing_arena_end();
}
