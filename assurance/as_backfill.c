/* as_backfill: webhook-shaped bodies from Smartlead API rows. They carry
 * the fields the occurrence rule hashes (lib/model/ls_evid.c) in the webhook's
 * places, so ls_event_identify gives the id the webhook would have had. */
#include "as.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_event.h"

static const char *s_at(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s && *s ? s : NULL;
}

static void put_s(json_t *b, const char *k, const char *v) {
  if (v && *v)
    json_object_set_new(b, k, json_string(v));
}

static void put_id(json_t *b, const char *k, const char *v, bool as_int) {
  if (!v || !*v)
    return;
  if (as_int)
    json_object_set_new(b, k, json_integer(strtoll(v, NULL, 10)));
  else
    json_object_set_new(b, k, json_string(v));
}

static json_t *base(const as_lead_ctx *l, const char *type) {
  json_t *b = json_object();
  json_object_set_new(b, "event_type", json_string(type));
  put_id(b, "campaign_id", l->campaign_id, true);
  put_s(b, "campaign_name", l->campaign_name);
  put_s(b, "campaign_status", l->campaign_status);
  if (l->client_id)
    json_object_set(b, "client_id", (json_t *)l->client_id);
  char name[200];
  snprintf(name, sizeof name, "%s%s%s", l->lead_first ? l->lead_first : "",
           l->lead_first && l->lead_last ? " " : "",
           l->lead_last ? l->lead_last : "");
  put_s(b, "to_email", l->lead_email);
  put_s(b, "to_name", name);
  json_object_set_new(b, "description",
                      json_string("Back-filled by leadsync assurance from "
                                  "the Smartlead API"));
  return b;
}

static void lead_ids(json_t *b, const as_lead_ctx *l) {
  put_id(b, "sl_email_lead_id", l->lead_id, false);
  put_id(b, "sl_email_lead_map_id", l->lead_map_id, true);
}

static json_t *email_event(const as_lead_ctx *l, const char *type,
                           const json_t *row, const char *time) {
  json_t *b = base(l, type);
  lead_ids(b, l);
  put_s(b, "stats_id", s_at(row, "stats_id"));
  const json_t *seq = json_object_get(row, "sequence_number");
  if (!seq)
    seq = json_object_get(row, "email_seq_number");
  if (json_is_integer(seq))
    json_object_set(b, "sequence_number", (json_t *)seq);
  const char *subj = s_at(row, "email_subject");
  put_s(b, "subject", subj ? subj : s_at(row, "subject"));
  put_s(b, "event_timestamp", time);
  return b;
}

void as_bodies_from_stats_row(const as_lead_ctx *l, const json_t *row,
                              json_t *out) {
  const char *sent = s_at(row, "sent_time");
  if (!s_at(row, "stats_id") || !sent)
    return;
  json_array_append_new(out, email_event(l, "EMAIL_SENT", row, sent));
  const char *open = s_at(row, "open_time");
  if (open)
    json_array_append_new(out, email_event(l, "EMAIL_OPEN", row, open));
  const char *click = s_at(row, "click_time");
  if (click)
    json_array_append_new(out, email_event(l, "EMAIL_LINK_CLICK", row, click));
  if (json_is_true(json_object_get(row, "is_bounced"))) {
    /* A bounce's event_timestamp is the send time, as in the webhook. */
    json_t *b = email_event(l, "EMAIL_BOUNCE", row, sent);
    json_object_set_new(b, "is_bounced", json_true());
    json_array_append_new(out, b);
  }
}

json_t *as_body_sent_from_history(const as_lead_ctx *l, const json_t *entry) {
  const char *t = s_at(entry, "time");
  if (!s_at(entry, "stats_id") || !t)
    return NULL;
  json_t *b = email_event(l, "EMAIL_SENT", entry, t);
  put_s(b, "from_email", s_at(entry, "from"));
  const char *mid = s_at(entry, "message_id");
  if (mid)
    json_object_set_new(b, "sent_message",
                        json_pack("{s:s,s:s}", "message_id", mid, "time", t));
  return b;
}

json_t *as_body_reply(const as_lead_ctx *l, const json_t *entry) {
  const char *t = s_at(entry, "time");
  const char *mid = s_at(entry, "message_id");
  if (!s_at(entry, "stats_id") || !t || !mid)
    return NULL;
  json_t *b = email_event(l, "EMAIL_REPLY", entry, t);
  put_s(b, "sl_lead_email", l->lead_email);
  put_s(b, "from_email", s_at(entry, "to")); /* our mailbox */
  json_t *rm = json_pack("{s:s,s:s}", "message_id", mid, "time", t);
  put_s(rm, "html", s_at(entry, "email_body"));
  json_object_set_new(b, "reply_message", rm);
  json_object_set_new(b, "message_id", json_string(mid));
  return b;
}

json_t *as_body_unsubscribed(const as_lead_ctx *l, const char *time) {
  json_t *b = base(l, "LEAD_UNSUBSCRIBED");
  put_s(b, "lead_email", l->lead_email);
  put_s(b, "event_timestamp", time);
  return b;
}

json_t *as_body_category(const as_lead_ctx *l, const char *old_id,
                         const char *old_name, int64_t new_id,
                         const char *new_name, const char *time) {
  json_t *b = base(l, "LEAD_CATEGORY_UPDATED");
  put_id(b, "lead_id", l->lead_id, true);
  put_s(b, "lead_email", l->lead_email);
  put_s(b, "event_timestamp", time);
  json_t *lc = json_object();
  json_object_set_new(lc, "old_id",
                      old_id && *old_id
                          ? json_integer(strtoll(old_id, NULL, 10))
                          : json_null());
  json_object_set_new(lc, "old_name",
                      old_name ? json_string(old_name) : json_null());
  json_object_set_new(lc, "new_id", json_integer(new_id));
  json_object_set_new(lc, "new_name",
                      new_name ? json_string(new_name) : json_null());
  json_object_set_new(b, "lead_category", lc);
  json_object_set_new(b, "lead_category_id", json_integer(new_id));
  if (new_name)
    json_object_set_new(b, "category", json_string(new_name));
  return b;
}
