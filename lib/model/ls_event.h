/* ls_event: the Smartlead event model: type, topic, key, lead, event id. */
#ifndef LS_EVENT_H
#define LS_EVENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_err.h"
#include "ls_json.h" /* ls_utf8_encode */

/* X(ENUM_SUFFIX, "EVENT_TYPE", "topic_slug", has_lead) */
#define LS_EVENT_TYPES(X)                                                      \
  X(EMAIL_SENT, "EMAIL_SENT", "email_sent", 1)                                 \
  X(FIRST_EMAIL_SENT, "FIRST_EMAIL_SENT", "first_email_sent", 1)               \
  X(EMAIL_OPEN, "EMAIL_OPEN", "email_open", 1)                                 \
  X(EMAIL_LINK_CLICK, "EMAIL_LINK_CLICK", "email_link_click", 1)               \
  X(EMAIL_REPLY, "EMAIL_REPLY", "email_reply", 1)                              \
  X(EMAIL_BOUNCE, "EMAIL_BOUNCE", "email_bounce", 1)                           \
  X(LEAD_UNSUBSCRIBED, "LEAD_UNSUBSCRIBED", "lead_unsubscribed", 1)            \
  X(LEAD_CATEGORY_UPDATED, "LEAD_CATEGORY_UPDATED", "lead_category_updated",   \
    1)                                                                         \
  X(CAMPAIGN_STATUS_CHANGED, "CAMPAIGN_STATUS_CHANGED",                        \
    "campaign_status_changed", 0)                                              \
  X(UNTRACKED_REPLIES, "UNTRACKED_REPLIES", "untracked_replies", 1)            \
  X(MANUAL_STEP_REACHED, "MANUAL_STEP_REACHED", "manual_step_reached", 1)

typedef enum {
#define LS_EV_ENUM(sfx, name, slug, lead) LS_EV_##sfx,
  LS_EVENT_TYPES(LS_EV_ENUM)
#undef LS_EV_ENUM
      LS_EV_UNKNOWN,
  LS_EV__COUNT
} ls_event_type;

#define LS_EMAIL_MAX 254
#define LS_TENANT_MAX 64
#define LS_KEY_MAX (LS_TENANT_MAX + 32 + LS_EMAIL_MAX + 4)
#define LS_TOPIC_MAX 160
#define LS_TYPE_NAME_MAX 64

typedef struct {
  ls_event_type type;
  /* Upper-case type as received ("EMAIL_SENT"); for unknown types the
   * received name reduced to [A-Z0-9_], at most 63 characters. */
  char type_name[LS_TYPE_NAME_MAX];
  char lead_email[LS_EMAIL_MAX + 1]; /* trimmed, lower-cased; "" if none */
  char campaign_id[32];              /* decimal; "" if none */
  char event_time[40];               /* RFC 3339 UTC; "" if none */
  int64_t event_time_us;             /* 0 when event_time is "" */
  char event_id[33];                 /* 32 hex digits */
  char key[LS_KEY_MAX];              /* tenant:campaign:email with '-' gaps */
  char topic[LS_TOPIC_MAX];          /* prefix + lower-case type */
  char ce_type[LS_TOPIC_MAX];        /* ai.smartlead.<lower-case type> */
} ls_event;

ls_event_type ls_event_type_from_name(const char *name);
const char *ls_event_type_name(ls_event_type t);
bool ls_event_type_has_lead(ls_event_type t);
/* "email_sent", or "unknown". */
const char *ls_event_type_slug(ls_event_type t);

/* Derives topic, key, lead, times and event id from a parsed webhook body.
 * root must be an object with a string event_type (the caller checked).
 * body/len are the raw bytes (used for the id only when the payload carries
 * nothing that identifies the occurrence). */
ls_err ls_event_identify(const json_t *root, const char *body, size_t len,
                         const char *tenant, const char *topic_prefix,
                         ls_event *ev);

/* Lead e-mail of a payload by type (the traps: EMAIL_REPLY's from_email is
 * our mailbox, UNTRACKED_REPLIES' lead is in sender_detail "Name <addr>").
 * Writes "" when there is none. */
void ls_event_lead_email(const json_t *root, ls_event_type t, char *out,
                         size_t outlen);
/* A JSON string or integer as a decimal/string id; "" for anything else. */
void ls_json_id(const json_t *v, char *out, size_t outlen);
/* Smartlead's numeric ids (campaign, lead, client, sequence step): a
 * non-negative integer, or a string of 1 to 20 ASCII digits; anything else
 * ("", "abc", [null], -1) is malformed and treated as absent: left out of
 * the key, the event id and the HubSpot properties (docs/ingress.md). */
void ls_json_num_id(const json_t *v, char *out, size_t outlen);
/* Trims ASCII space and case-folds every letter (UTF-8, simple Unicode
 * lower-case mapping; invalid bytes kept) into out: the one rule for every
 * address leadsync keys on. "" when it does not fit. */
void ls_normalize_email(const char *in, char *out, size_t outlen);
/* ls_utf8_encode is in ls_json.h (the JSON reader decodes escapes with
 * it), included above for this header's users. */

#endif
