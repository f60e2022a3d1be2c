/* route_ref: the ingress's route as it was before ingress/ing_json.c, on a
 * jansson DOM of the whole body (ing_scan, json_loadb, the same checks).
 * Tests only: unit_ing_json and the fuzzer compare ing_route with it on
 * every input, so the single-pass projection can never change a verdict,
 * an event id or a drift label unnoticed. */
#include "route_ref.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_hash.h"
#include "ls_shape.h"

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

void ing_route_ref(const ing_schemas *schemas, const ls_source *src,
                   const char *topic_prefix, int max_depth, const char *body,
                   size_t len, ing_verdict *out) {
  json_t *root = NULL;
  json_error_t jerr;
  size_t at = 0;
  char msg[LS_ERRSTR_SIZE];
  memset(out, 0, sizeof *out);

  ls_err e = ing_scan(body, len, max_depth, &at);
  if (e == LS_ERR_BAD_UTF8) {
    snprintf(msg, sizeof msg, "body is not valid UTF-8 (byte %zu)", at);
    reject(out, e, true, msg);
    goto out;
  }
  if (e == LS_ERR_TOO_DEEP) {
    snprintf(msg, sizeof msg, "JSON nesting deeper than %d (byte %zu)",
             max_depth, at);
    reject(out, e, true, msg);
    goto out;
  }
  root = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
  if (!root) {
    /* jansson's own text quotes the input (maybe a secret): not used. */
    snprintf(msg, sizeof msg,
             "body is not valid JSON (line %d, column %d, byte %d)", jerr.line,
             jerr.column, jerr.position);
    reject(out, LS_ERR_BAD_JSON, true, msg);
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
  e = ls_event_identify(root, body, len, tenant, topic_prefix, &out->ev);
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
}
