/* ls_shape: the second Smartlead payload shape -> the classic one. */
#include "ls_shape.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *second, *classic;
} names[] = {
    {"EMAIL_REPLIED", "EMAIL_REPLY"},
    {"EMAIL_OPENED", "EMAIL_OPEN"},
    {"EMAIL_CLICKED", "EMAIL_LINK_CLICK"},
    {"EMAIL_BOUNCED", "EMAIL_BOUNCE"},
    {"EMAIL_UNSUBSCRIBED", "LEAD_UNSUBSCRIBED"},
};

const char *ls_shape_classic_type(const char *name) {
  for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
    if (!strcmp(names[i].second, name))
      return names[i].classic;
  return NULL;
}

static const char *str_at(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return (s && *s) ? s : NULL;
}

bool ls_shape_is_second(const json_t *root) {
  if (!json_is_object(root))
    return false;
  const char *et = json_string_value(json_object_get(root, "event_type"));
  if (et)
    return ls_shape_classic_type(et) != NULL ||
           (str_at(json_object_get(root, "lead"), "email") &&
            !json_object_get(root, "to_email") &&
            !json_object_get(root, "lead_email") &&
            !json_object_get(root, "sl_lead_email") &&
            !json_object_get(root, "sender_detail"));
  return json_is_string(json_object_get(root, "event"));
}

static void fill(json_t *o, const char *k, json_t *v) {
  if (v && !json_object_get(o, k))
    json_object_set(o, k, v);
}

static void fill_str(json_t *o, const char *k, const char *v) {
  if (v && *v && !json_object_get(o, k))
    json_object_set_new(o, k, json_string(v));
}

json_t *ls_shape_normalized(const json_t *root) {
  if (!ls_shape_is_second(root))
    return NULL;
  json_t *n = json_deep_copy(root);
  if (!n)
    return NULL;
  const char *et = json_string_value(json_object_get(root, "event_type"));
  if (!et)
    et = json_string_value(json_object_get(root, "event"));
  const char *classic = ls_shape_classic_type(et);
  json_object_set_new(n, "event_type", json_string(classic ? classic : et));
  fill(n, "event_timestamp", json_object_get(root, "timestamp"));

  const json_t *lead = json_object_get(root, "lead");
  const char *email = str_at(lead, "email");
  fill_str(n, "to_email", email);
  if (classic && !strcmp(classic, "EMAIL_REPLY"))
    fill_str(n, "sl_lead_email", email);
  if (classic && !strcmp(classic, "LEAD_UNSUBSCRIBED"))
    fill_str(n, "lead_email", email);
  if (json_is_object(lead) && !json_object_get(root, "lead_data")) {
    json_t *ld = json_object();
    fill(ld, "email", json_object_get(lead, "email"));
    fill(ld, "first_name", json_object_get(lead, "first_name"));
    fill(ld, "last_name", json_object_get(lead, "last_name"));
    fill(ld, "company_name", json_object_get(lead, "company_name"));
    fill(ld, "phone_number", json_object_get(lead, "phone_number"));
    fill(ld, "website", json_object_get(lead, "website"));
    fill(ld, "linkedin_profile", json_object_get(lead, "linkedin_profile"));
    json_object_set_new(n, "lead_data", ld);
  }
  const json_t *lid = json_object_get(root, "lead_id");
  if (!lid)
    lid = json_object_get(lead, "id");
  fill(n, "sl_email_lead_id", (json_t *)lid);

  /* What was sent or replied. */
  const json_t *em = json_object_get(root, "email");
  const json_t *reply = json_object_get(root, "reply");
  const char *subj = str_at(reply, "subject");
  fill_str(n, "subject", subj ? subj : str_at(em, "subject"));
  if (json_is_object(reply) && !json_object_get(root, "reply_message")) {
    json_t *rm = json_object();
    /* reply.body: the guide does not say text or HTML; leadsync writes it
     * as the text part (HTML in it would show as tags, never run). */
    fill(rm, "text", json_object_get(reply, "body"));
    fill(rm, "message_id", json_object_get(reply, "message_id"));
    json_object_set_new(n, "reply_message", rm);
  }
  if (json_is_object(em) && !json_object_get(root, "sent_message")) {
    json_t *sm = json_object();
    fill(sm, "message_id", json_object_get(em, "message_id"));
    json_object_set_new(n, "sent_message", sm);
  }
  const char *url = str_at(json_object_get(root, "link"), "url");
  if (url && !json_object_get(root, "link_details"))
    json_object_set_new(n, "link_details", json_pack("[s]", url));
  return n;
}
