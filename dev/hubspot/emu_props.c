/* emu_props.c: property definitions (the HubSpot-defined ones in one table,
 * custom ones created through /crm/v3/properties), property-value
 * validation with HubSpot's PROPERTY_DOESNT_EXIST body, and rendering of
 * records as SimplePublicObject. Callers hold emu->mu. */
#include "emu.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_RO = 1, P_UNIQUE = 2, P_EXTERNAL = 4 };

/* The HubSpot-defined properties the emulator knows, per object type.
 * options: allowed values of an enumeration, ';'-separated. */
static const struct defprop {
  enum emu_otype t;
  const char *name, *label, *type, *field, *group, *options;
  int flags;
} defprops[] = {
    {EMU_CONTACTS, "email", "Email", "string", "text", "contactinformation",
     NULL, 0},
    {EMU_CONTACTS, "firstname", "First Name", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "lastname", "Last Name", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "company", "Company Name", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "phone", "Phone Number", "string", "phonenumber",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "mobilephone", "Mobile Phone Number", "string",
     "phonenumber", "contactinformation", NULL, 0},
    {EMU_CONTACTS, "website", "Website URL", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "jobtitle", "Job Title", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "industry", "Industry", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "address", "Street Address", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "city", "City", "string", "text", "contactinformation", NULL,
     0},
    {EMU_CONTACTS, "state", "State/Region", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "zip", "Postal Code", "string", "text", "contactinformation",
     NULL, 0},
    {EMU_CONTACTS, "country", "Country/Region", "string", "text",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "message", "Message", "string", "textarea",
     "contactinformation", NULL, 0},
    {EMU_CONTACTS, "lifecyclestage", "Lifecycle Stage", "enumeration", "radio",
     "contactinformation",
     "subscriber;lead;marketingqualifiedlead;salesqualifiedlead;opportunity;"
     "customer;evangelist;other",
     0},
    {EMU_CONTACTS, "hs_lead_status", "Lead Status", "enumeration", "radio",
     "sales_properties",
     "NEW;OPEN;IN_PROGRESS;OPEN_DEAL;UNQUALIFIED;ATTEMPTED_TO_CONTACT;"
     "CONNECTED;BAD_TIMING",
     0},
    {EMU_CONTACTS, "hubspot_owner_id", "Contact owner", "enumeration", "select",
     "sales_properties", NULL, P_EXTERNAL},
    {EMU_CONTACTS, "hs_email_optout", "Unsubscribed from all email", "bool",
     "booleancheckbox", "emailinformation", NULL, 0},
    {EMU_CONTACTS, "createdate", "Create Date", "datetime", "date",
     "contactinformation", NULL, P_RO},
    {EMU_CONTACTS, "lastmodifieddate", "Last Modified Date", "datetime", "date",
     "contactinformation", NULL, P_RO},
    {EMU_CONTACTS, "notes_last_updated", "Last Activity Date", "datetime",
     "date", "sales_properties", NULL, P_RO},
    {EMU_CONTACTS, "hs_object_id", "Record ID", "number", "number",
     "contactinformation", NULL, P_RO | P_UNIQUE},

    {EMU_EMAILS, "hs_timestamp", "Activity date", "datetime", "date",
     "emailinformation", NULL, 0},
    {EMU_EMAILS, "hs_email_direction", "Email direction", "enumeration",
     "select", "emailinformation", "EMAIL;INCOMING_EMAIL;FORWARDED_EMAIL", 0},
    {EMU_EMAILS, "hs_email_status", "Email send status", "enumeration",
     "select", "emailinformation", "BOUNCED;FAILED;SCHEDULED;SENDING;SENT", 0},
    {EMU_EMAILS, "hs_email_subject", "Email subject", "string", "text",
     "emailinformation", NULL, 0},
    {EMU_EMAILS, "hs_email_text", "Email body", "string", "textarea",
     "emailinformation", NULL, 0},
    {EMU_EMAILS, "hs_email_html", "Email HTML body", "string", "html",
     "emailinformation", NULL, 0},
    {EMU_EMAILS, "hs_email_headers", "Email headers", "string", "textarea",
     "emailinformation", NULL, 0},
    {EMU_EMAILS, "hubspot_owner_id", "Activity assigned to", "enumeration",
     "select", "emailinformation", NULL, P_EXTERNAL},
    {EMU_EMAILS, "hs_attachment_ids", "Attachment IDs", "enumeration",
     "checkbox", "emailinformation", NULL, P_EXTERNAL},
    {EMU_EMAILS, "hs_email_from_email", "From email", "string", "text",
     "emailinformation", NULL, P_RO},
    {EMU_EMAILS, "hs_email_to_email", "To email", "string", "text",
     "emailinformation", NULL, P_RO},
    {EMU_EMAILS, "hs_createdate", "Created at", "datetime", "date",
     "emailinformation", NULL, P_RO},
    {EMU_EMAILS, "hs_lastmodifieddate", "Last modified date", "datetime",
     "date", "emailinformation", NULL, P_RO},
    {EMU_EMAILS, "hs_object_id", "Record ID", "number", "number",
     "emailinformation", NULL, P_RO | P_UNIQUE},

    {EMU_NOTES, "hs_timestamp", "Activity date", "datetime", "date",
     "noteinformation", NULL, 0},
    {EMU_NOTES, "hs_note_body", "Note body", "string", "html",
     "noteinformation", NULL, 0},
    {EMU_NOTES, "hubspot_owner_id", "Activity assigned to", "enumeration",
     "select", "noteinformation", NULL, P_EXTERNAL},
    {EMU_NOTES, "hs_attachment_ids", "Attachment IDs", "enumeration",
     "checkbox", "noteinformation", NULL, P_EXTERNAL},
    {EMU_NOTES, "hs_createdate", "Created at", "datetime", "date",
     "noteinformation", NULL, P_RO},
    {EMU_NOTES, "hs_lastmodifieddate", "Last modified date", "datetime", "date",
     "noteinformation", NULL, P_RO},
    {EMU_NOTES, "hs_object_id", "Record ID", "number", "number",
     "noteinformation", NULL, P_RO | P_UNIQUE},

    {EMU_TASKS, "hs_timestamp", "Due date", "datetime", "date",
     "taskinformation", NULL, 0},
    {EMU_TASKS, "hs_task_subject", "Task Title", "string", "text",
     "taskinformation", NULL, 0},
    {EMU_TASKS, "hs_task_body", "Notes", "string", "html", "taskinformation",
     NULL, 0},
    {EMU_TASKS, "hs_task_status", "Task Status", "enumeration", "select",
     "taskinformation", "NOT_STARTED;IN_PROGRESS;WAITING;COMPLETED;DEFERRED",
     0},
    {EMU_TASKS, "hs_task_priority", "Priority", "enumeration", "select",
     "taskinformation", "NONE;LOW;MEDIUM;HIGH", 0},
    {EMU_TASKS, "hs_task_type", "Task Type", "enumeration", "select",
     "taskinformation",
     "EMAIL;CALL;TODO;LINKED_IN;LINKED_IN_CONNECT;LINKED_IN_MESSAGE", 0},
    {EMU_TASKS, "hubspot_owner_id", "Assigned to", "enumeration", "select",
     "taskinformation", NULL, P_EXTERNAL},
    {EMU_TASKS, "hs_createdate", "Created at", "datetime", "date",
     "taskinformation", NULL, P_RO},
    {EMU_TASKS, "hs_lastmodifieddate", "Last modified date", "datetime", "date",
     "taskinformation", NULL, P_RO},
    {EMU_TASKS, "hs_object_id", "Record ID", "number", "number",
     "taskinformation", NULL, P_RO | P_UNIQUE},
};

static const struct {
  enum emu_otype t;
  const char *name, *label;
} defgroups[] = {
    {EMU_CONTACTS, "contactinformation", "Contact information"},
    {EMU_CONTACTS, "emailinformation", "Email information"},
    {EMU_CONTACTS, "sales_properties", "Sales properties"},
    {EMU_EMAILS, "emailinformation", "Email information"},
    {EMU_NOTES, "noteinformation", "Note information"},
    {EMU_TASKS, "taskinformation", "Task information"},
};

static const char *const prop_types[] = {"string",      "number",      "date",
                                         "datetime",    "enumeration", "bool",
                                         "phone_number"};
static const char *const field_types[] = {
    "text",   "textarea",    "select",
    "radio",  "checkbox",    "booleancheckbox",
    "number", "date",        "file",
    "html",   "phonenumber", "calculation_equation"};

static bool in_list(const char *s, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(s, list[i]) == 0)
      return true;
  return false;
}

static json_t *group_json(const char *name, const char *label, int order) {
  return json_pack("{s:s, s:s, s:i, s:b}", "name", name, "label", label,
                   "displayOrder", order, "archived", false);
}

static json_t *prop_json(const char *name, const char *label, const char *type,
                         const char *field, const char *group, json_t *options,
                         int flags, bool hubspot_defined, json_t *extra) {
  char now[32];
  emu_iso8601(emu_wall_ms(), now);
  json_t *p = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:b, s:b, s:b, "
      "s:b, s:b, s:{s:b, s:b, s:b}, s:b, s:b}",
      "updatedAt", now, "createdAt", now, "name", name, "label", label, "type",
      type, "fieldType", field, "description", "", "groupName", group,
      "options", options ? options : json_array(), "displayOrder", -1,
      "calculated", false, "externalOptions", (flags & P_EXTERNAL) != 0,
      "hasUniqueValue", (flags & P_UNIQUE) != 0, "hidden", false,
      "hubspotDefined", hubspot_defined, "modificationMetadata", "archivable",
      !hubspot_defined, "readOnlyDefinition", hubspot_defined, "readOnlyValue",
      (flags & P_RO) != 0, "formField", !(flags & P_RO), "archived", false);
  if (extra) {
    json_object_update(p, extra);
    json_decref(extra);
  }
  return p;
}

void emu_props_defaults(struct emu_portal *p) {
  for (size_t i = 0; i < sizeof defgroups / sizeof defgroups[0]; i++)
    json_object_set_new(p->groups[defgroups[i].t], defgroups[i].name,
                        group_json(defgroups[i].name, defgroups[i].label, -1));
  for (size_t i = 0; i < sizeof defprops / sizeof defprops[0]; i++) {
    const struct defprop *d = &defprops[i];
    json_t *opts = json_array();
    if (d->options) {
      char buf[512];
      snprintf(buf, sizeof buf, "%s", d->options);
      char *save = NULL;
      int order = 0;
      for (char *v = strtok_r(buf, ";", &save); v;
           v = strtok_r(NULL, ";", &save))
        json_array_append_new(opts, json_pack("{s:s, s:s, s:i, s:b}", "label",
                                              v, "value", v, "displayOrder",
                                              order++, "hidden", false));
    }
    json_object_set_new(p->props[d->t], d->name,
                        prop_json(d->name, d->label, d->type, d->field,
                                  d->group, opts, d->flags, true, NULL));
  }
}

/* --- value validation --------------------------------------------------- */

static char *stringify(json_t *v, bool *ok) {
  char buf[64];
  *ok = true;
  switch (json_typeof(v)) {
  case JSON_STRING:
    return emu_strdup(json_string_value(v));
  case JSON_INTEGER:
    snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return emu_strdup(buf);
  case JSON_REAL:
    snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    return emu_strdup(buf);
  case JSON_TRUE:
    return emu_strdup("true");
  case JSON_FALSE:
    return emu_strdup("false");
  case JSON_NULL:
    return emu_strdup("");
  default:
    *ok = false;
    return NULL;
  }
}

static bool is_number(const char *s) {
  char *end;
  double d = strtod(s, &end);
  return end != s && *end == '\0' && isfinite(d);
}

static bool is_datetime(const char *s) {
  bool digits = *s != '\0';
  for (const char *q = s; *q; q++)
    if (!isdigit((unsigned char)*q))
      digits = false;
  if (digits)
    return true;
  /* ISO 8601: at least YYYY-MM-DD. */
  return strlen(s) >= 10 && isdigit((unsigned char)s[0]) &&
         isdigit((unsigned char)s[3]) && s[4] == '-' && s[7] == '-';
}

bool emu_is_email(const char *s) {
  const char *at = strchr(s, '@');
  if (!at || at == s || strchr(at + 1, '@') || strchr(s, ' '))
    return false;
  const char *dot = strrchr(at + 1, '.');
  return dot && dot > at + 1 && dot[1] != '\0';
}

static bool option_ok(json_t *def, const char *value) {
  if (json_is_true(json_object_get(def, "externalOptions")))
    return true;
  json_t *opts = json_object_get(def, "options");
  bool multi = strcmp(json_string_value(json_object_get(def, "fieldType")),
                      "checkbox") == 0;
  char *copy = emu_strdup(value);
  bool all = copy != NULL;
  char *save = NULL;
  for (char *v = multi ? strtok_r(copy, ";", &save) : copy; all && v;
       v = multi ? strtok_r(NULL, ";", &save) : NULL) {
    bool found = false;
    size_t i;
    json_t *o;
    json_array_foreach(opts, i, o) {
      const char *ov = json_string_value(json_object_get(o, "value"));
      if (ov && strcmp(ov, v) == 0)
        found = true;
    }
    all = found;
  }
  free(copy);
  return all;
}

/* Java's String.length(): UTF-16 code units (a reading of HubSpot's
 * "65,536 characters"; a 4-byte UTF-8 sequence counts 2). */
static size_t utf16_len(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p & 0xC0) != 0x80)
      n += (*p >= 0xF0) ? 2 : 1;
  return n;
}

static bool edge_space(const char *s) {
  size_t n = strlen(s);
  if (!n)
    return false;
  unsigned char a = (unsigned char)s[0], z = (unsigned char)s[n - 1];
  /* ASCII whitespace, or a no-break space (U+00A0, C2 A0) at either end. */
  return isspace(a) || isspace(z) ||
         (n >= 2 && a == 0xC2 && (unsigned char)s[1] == 0xA0) ||
         (n >= 2 && (unsigned char)s[n - 2] == 0xC2 && z == 0xA0);
}

/* A portal phone validation rule: digits with the usual separators and
 * at least 7 digits. */
static bool phone_ok(const char *s) {
  int digits = 0;
  for (const char *p = s; *p; p++) {
    if (isdigit((unsigned char)*p))
      digits++;
    else if (!strchr("+-(). /xX", *p) && !(*p == 'e' || *p == 't'))
      return false;
  }
  return digits >= 7;
}

static void add_invalid(struct emu_call *c, json_t *inner, json_t *errors,
                        const char *name, const char *code,
                        const char *message) {
  json_array_append_new(
      inner,
      json_pack("{s:b, s:s, s:s, s:s, s:s, s:I}", "isValid", false, "message",
                message, "error", code, "name", name, "localizedErrorMessage",
                message, "portalId", (json_int_t)c->p->portal_id));
  json_array_append_new(errors, json_pack("{s:s, s:s, s:{s:[s]}}", "message",
                                          message, "code", code, "context",
                                          "propertyName", name));
}

/* Check every property of a write. On success the values, as strings, are
 * in clean_out; on failure *errors_out and *message_out hold the parts of
 * HubSpot's 400 VALIDATION_ERROR body. */
bool emu_props_validate(struct emu_call *c, enum emu_otype t, json_t *props,
                        json_t *clean_out, json_t **errors_out,
                        char **message_out) {
  json_t *inner = json_array(), *errors = json_array();
  if (props && !json_is_object(props)) {
    add_invalid(c, inner, errors, "properties", "INVALID_PROPERTIES",
                "properties must be an object of name -> value");
    props = NULL;
  }
  const char *name;
  json_t *v;
  json_object_foreach(props, name, v) {
    char msg[512];
    json_t *def = json_object_get(c->p->props[t], name);
    if (!def) {
      snprintf(msg, sizeof msg, "Property \"%s\" does not exist", name);
      add_invalid(c, inner, errors, name, "PROPERTY_DOESNT_EXIST", msg);
      continue;
    }
    bool ok;
    char *s = stringify(v, &ok);
    if (!ok || !s) {
      snprintf(msg, sizeof msg, "%s was not a valid value", name);
      add_invalid(c, inner, errors, name, "INVALID_PROPERTY_VALUE", msg);
      free(s);
      continue;
    }
    json_t *meta = json_object_get(def, "modificationMetadata");
    const char *type = json_string_value(json_object_get(def, "type"));
    if (json_is_true(json_object_get(meta, "readOnlyValue"))) {
      snprintf(msg, sizeof msg, "Property \"%s\" is read-only", name);
      add_invalid(c, inner, errors, name, "READ_ONLY_VALUE", msg);
    } else if (*s == '\0') {
      /* an empty string clears the value */
    } else if (utf16_len(s) > EMU_PROP_VALUE_MAX) {
      snprintf(msg, sizeof msg,
               "Property \"%s\" value is %zu characters long, more than the "
               "maximum of %d",
               name, utf16_len(s), EMU_PROP_VALUE_MAX);
      add_invalid(c, inner, errors, name, "INVALID_STRING_LENGTH", msg);
    } else if (strcmp(type, "string") != 0 && edge_space(s)) {
      snprintf(msg, sizeof msg,
               "\"%.200s\" includes leading or trailing whitespace.", s);
      add_invalid(c, inner, errors, name, "LEADING_TRAILING_WHITESPACE", msg);
    } else if (t == EMU_CONTACTS && c->p->validate_phone &&
               (!strcmp(name, "phone") || !strcmp(name, "mobilephone")) &&
               !phone_ok(s)) {
      snprintf(msg, sizeof msg, "%.200s is not a valid phone number", s);
      add_invalid(c, inner, errors, name, "INVALID_PHONE_NUMBER", msg);
    } else if (strcmp(type, "number") == 0 && !is_number(s)) {
      snprintf(msg, sizeof msg, "%s was not a valid number", name);
      add_invalid(c, inner, errors, name, "INVALID_INTEGER", msg);
    } else if ((strcmp(type, "datetime") == 0 || strcmp(type, "date") == 0) &&
               !is_datetime(s)) {
      snprintf(msg, sizeof msg, "%s was not a valid date: %.200s", name, s);
      add_invalid(c, inner, errors, name, "INVALID_DATE", msg);
    } else if (strcmp(type, "bool") == 0 && !emu_streq_ci(s, "true") &&
               !emu_streq_ci(s, "false")) {
      snprintf(msg, sizeof msg, "%.200s was not a valid boolean", s);
      add_invalid(c, inner, errors, name, "INVALID_BOOLEAN", msg);
    } else if (strcmp(type, "enumeration") == 0 && !option_ok(def, s)) {
      snprintf(msg, sizeof msg, "%.200s was not one of the allowed options", s);
      add_invalid(c, inner, errors, name, "INVALID_OPTION", msg);
    } else if (t == EMU_CONTACTS && strcmp(name, "email") == 0 &&
               !emu_is_email(s)) {
      snprintf(msg, sizeof msg, "Email address %.200s is invalid", s);
      add_invalid(c, inner, errors, name, "INVALID_EMAIL", msg);
    } else if (clean_out) {
      json_object_set_new(clean_out, name, json_string(s));
    }
    if (*s == '\0' && clean_out)
      json_object_set_new(clean_out, name, json_string(""));
    free(s);
  }
  if (json_array_size(errors) == 0) {
    json_decref(inner);
    json_decref(errors);
    return true;
  }
  char *dump = json_dumps(inner, JSON_COMPACT);
  json_decref(inner);
  size_t n = strlen(dump ? dump : "") + 64;
  char *msg = malloc(n);
  if (msg)
    snprintf(msg, n, "Property values were not valid: %s", dump ? dump : "");
  free(dump);
  *errors_out = errors;
  *message_out = msg;
  return false;
}

void emu_fail_props(struct emu_call *c, json_t *errors, char *message) {
  json_t *extra = json_pack("{s:o}", "errors", errors);
  emu_reply(c, 400,
            emu_err_body(c, "VALIDATION_ERROR", message ? message : "", extra));
  free(message);
}

/* --- rendering ---------------------------------------------------------- */

static const char *const default_contact_props[] = {
    "createdate",       "email",   "firstname", "hs_object_id",
    "lastmodifieddate", "lastname"};
static const char *const default_engagement_props[] = {
    "hs_createdate", "hs_lastmodifieddate", "hs_object_id"};

/* want: array of names, or NULL for every stored value (write answers). */
json_t *emu_obj_json(struct emu_call *c, enum emu_otype t,
                     const struct emu_obj *o, json_t *want, bool indexed) {
  json_t *src = indexed && o->idx_props ? o->idx_props : o->props;
  json_t *props = json_object();
  if (!want) {
    const char *k;
    json_t *v;
    json_object_foreach(src, k, v) {
      if (*json_string_value(v))
        json_object_set(props, k, v);
    }
  } else {
    bool contact = t == EMU_CONTACTS;
    size_t n = contact ? 6 : 3;
    const char *const *always =
        contact ? default_contact_props : default_engagement_props;
    bool defaults = json_array_size(want) == 0;
    for (size_t i = 0; i < n; i++) {
      if (!defaults && strcmp(always[i], "hs_object_id") &&
          strcmp(always[i], contact ? "createdate" : "hs_createdate") &&
          strcmp(always[i],
                 contact ? "lastmodifieddate" : "hs_lastmodifieddate"))
        continue;
      json_t *v = json_object_get(src, always[i]);
      json_object_set_new(props, always[i],
                          v && *json_string_value(v) ? json_copy(v)
                                                     : json_null());
    }
    size_t i;
    json_t *w;
    json_array_foreach(want, i, w) {
      const char *name = json_string_value(w);
      if (!name || !json_object_get(c->p->props[t], name))
        continue;
      json_t *v = json_object_get(src, name);
      json_object_set_new(
          props, name, v && *json_string_value(v) ? json_copy(v) : json_null());
    }
  }
  char id[24], cr[32], up[32];
  snprintf(id, sizeof id, "%llu", (unsigned long long)o->id);
  emu_iso8601(o->created_ms, cr);
  emu_iso8601(o->updated_ms, up);
  return json_pack("{s:s, s:o, s:s, s:s, s:b}", "id", id, "properties", props,
                   "createdAt", cr, "updatedAt", up, "archived", false);
}

void emu_want_add_csv(json_t *arr, const char *csv) {
  char *copy = emu_strdup(csv);
  char *save = NULL;
  for (char *s = copy ? strtok_r(copy, ",", &save) : NULL; s;
       s = strtok_r(NULL, ",", &save))
    if (*s)
      json_array_append_new(arr, json_string(s));
  free(copy);
}

json_t *emu_want_from_array(json_t *in) {
  json_t *arr = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(in, i, v) {
    if (json_is_string(v))
      emu_want_add_csv(arr, json_string_value(v));
  }
  return arr;
}

/* --- /crm/v3/properties ------------------------------------------------- */

void emu_h_props_list(struct emu_call *c) {
  json_t *res = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(c->p->props[c->otype], k, v) {
    json_array_append(res, v);
  }
  emu_reply(c, 200, json_pack("{s:o}", "results", res));
}

void emu_h_props_get(struct emu_call *c) {
  const char *name = c->seg[4];
  json_t *def = json_object_get(c->p->props[c->otype], name);
  if (!def) {
    emu_fail(c, EMU_E_NOT_FOUND,
             "Unable to find property %s for object type %s", name,
             emu_otype_ids[c->otype]);
    return;
  }
  emu_reply(c, 200, json_incref(def));
}

static bool name_ok(const char *s) {
  if (!s || !islower((unsigned char)*s) || strlen(s) > 100)
    return false;
  for (; *s; s++)
    if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
      return false;
  return true;
}

void emu_h_props_create(struct emu_call *c) {
  json_t *in = c->in;
  static const char *const required[] = {"name", "label", "type", "fieldType",
                                         "groupName"};
  char missing[128] = "";
  for (size_t i = 0; i < 5; i++) {
    if (!json_is_string(json_object_get(in, required[i]))) {
      size_t l = strlen(missing);
      snprintf(missing + l, sizeof missing - l, "%s%s", l ? ", " : "",
               required[i]);
    }
  }
  if (*missing) {
    emu_fail(c, EMU_E_VALIDATION, "Missing required field(s): %s", missing);
    return;
  }
  const char *name = json_string_value(json_object_get(in, "name"));
  const char *type = json_string_value(json_object_get(in, "type"));
  const char *field = json_string_value(json_object_get(in, "fieldType"));
  const char *group = json_string_value(json_object_get(in, "groupName"));
  json_t *opts = json_object_get(in, "options");
  for (size_t i = 0; i < 4; i++)
    if (c->p->faults.refuse_props[i][0] &&
        !strcmp(c->p->faults.refuse_props[i], name)) {
      c->emu->faults_injected++;
      emu_fail(c, EMU_E_VALIDATION,
               "You have reached the maximum number of custom properties "
               "for this object (property %s not created)",
               name);
      return;
    }
  if (!name_ok(name)) {
    emu_fail(c, EMU_E_VALIDATION,
             "Property name %s is invalid: use lowercase letters, digits and "
             "underscores, starting with a letter",
             name);
    return;
  }
  if (!in_list(type, prop_types, sizeof prop_types / sizeof prop_types[0])) {
    emu_fail(c, EMU_E_VALIDATION, "Invalid property type %s", type);
    return;
  }
  if (!in_list(field, field_types,
               sizeof field_types / sizeof field_types[0])) {
    emu_fail(c, EMU_E_VALIDATION, "Invalid property fieldType %s", field);
    return;
  }
  if (!json_object_get(c->p->groups[c->otype], group)) {
    emu_fail(c, EMU_E_VALIDATION, "Property group %s does not exist", group);
    return;
  }
  if (strcmp(type, "enumeration") == 0 &&
      (!json_is_array(opts) || json_array_size(opts) == 0)) {
    emu_fail(c, EMU_E_VALIDATION,
             "Enumeration property %s must have at least one option", name);
    return;
  }
  if (json_object_get(c->p->props[c->otype], name)) {
    emu_fail(c, EMU_E_EXISTS, "Property named '%s' already exists.", name);
    return;
  }
  int flags =
      json_is_true(json_object_get(in, "hasUniqueValue")) ? P_UNIQUE : 0;
  json_t *clean_opts = json_array();
  size_t i;
  json_t *o;
  json_array_foreach(opts, i, o) {
    const char *label = json_string_value(json_object_get(o, "label"));
    const char *value = json_string_value(json_object_get(o, "value"));
    if (!label || !value)
      continue;
    json_array_append_new(
        clean_opts,
        json_pack(
            "{s:s, s:s, s:I, s:b}", "label", label, "value", value,
            "displayOrder",
            (json_int_t)json_integer_value(json_object_get(o, "displayOrder")),
            "hidden", json_is_true(json_object_get(o, "hidden"))));
  }
  json_t *extra = json_object();
  const char *desc = json_string_value(json_object_get(in, "description"));
  if (desc)
    json_object_set_new(extra, "description", json_string(desc));
  if (json_is_integer(json_object_get(in, "displayOrder")))
    json_object_set(extra, "displayOrder", json_object_get(in, "displayOrder"));
  if (json_is_boolean(json_object_get(in, "hidden")))
    json_object_set(extra, "hidden", json_object_get(in, "hidden"));
  if (json_is_boolean(json_object_get(in, "formField")))
    json_object_set(extra, "formField", json_object_get(in, "formField"));
  json_t *def = prop_json(name, json_string_value(json_object_get(in, "label")),
                          type, field, group, clean_opts, flags, false, extra);
  json_object_set_new(c->p->props[c->otype], name, def);
  emu_reply(c, 201, json_incref(def));
}

void emu_h_groups_list(struct emu_call *c) {
  json_t *res = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(c->p->groups[c->otype], k, v) {
    json_array_append(res, v);
  }
  emu_reply(c, 200, json_pack("{s:o}", "results", res));
}

void emu_h_groups_create(struct emu_call *c) {
  const char *name = json_string_value(json_object_get(c->in, "name"));
  const char *label = json_string_value(json_object_get(c->in, "label"));
  if (!name || !label) {
    emu_fail(c, EMU_E_VALIDATION, "Missing required field(s): %s",
             !name && !label ? "name, label"
             : !name         ? "name"
                             : "label");
    return;
  }
  if (!name_ok(name)) {
    emu_fail(c, EMU_E_VALIDATION, "Property group name %s is invalid", name);
    return;
  }
  if (json_object_get(c->p->groups[c->otype], name)) {
    emu_fail(c, EMU_E_EXISTS, "Property group named '%s' already exists.",
             name);
    return;
  }
  json_t *order = json_object_get(c->in, "displayOrder");
  json_t *g =
      group_json(name, label,
                 json_is_integer(order) ? (int)json_integer_value(order) : -1);
  json_object_set_new(c->p->groups[c->otype], name, g);
  emu_reply(c, 201, json_incref(g));
}
