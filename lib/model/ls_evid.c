/* ls_evid: occurrence ids shared by webhooks and the assurance back-fill. */
#include "ls_evid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ls_hash.h"

static const char *str_of(const json_t *v) {
  return json_is_string(v) && json_string_length(v) ? json_string_value(v)
                                                    : NULL;
}

/* Hash input: "occ1", tenant, type, then the parts, 0x1f-separated. */
static void finish(const char *tenant, const ls_event *ev,
                   const char *const *parts, size_t n, char out[33]) {
  char in[2048];
  size_t len = 0;
  const char *head[3] = {"occ1", tenant, ev->type_name};
  for (size_t i = 0; i < 3 + n; i++) {
    const char *s = i < 3 ? head[i] : parts[i - 3];
    char h[65];
    size_t sl = strlen(s);
    if (sl > 256) { /* a long value goes in as its hash */
      ls_sha256_hex(s, sl, h);
      s = h;
      sl = 64;
    }
    if (len + sl + 1 >= sizeof in)
      break;
    memcpy(in + len, s, sl);
    len += sl;
    in[len++] = '\x1f';
  }
  char hex[65];
  ls_sha256_hex(in, len, hex);
  memcpy(out, hex, 32);
  out[32] = '\0';
}

bool ls_evid_occurrence(const json_t *root, const char *tenant, ls_event *ev) {
  const char *stats = str_of(json_object_get(root, "stats_id"));
  char secs[32], cat_new[32], cat_old[32];
  /* Every part list starts with campaign and lead: a stats_id names one
   * email to one lead, but a payload whose lead differs is another event. */
  const char *parts[6] = {ev->campaign_id, ev->lead_email};
  switch (ev->type) {
  case LS_EV_EMAIL_SENT:
  case LS_EV_FIRST_EMAIL_SENT:
  case LS_EV_EMAIL_BOUNCE:
    /* One send, one bounce per stats_id (the sent email). */
    if (!stats)
      return false;
    parts[2] = stats;
    finish(tenant, ev, parts, 3, ev->event_id);
    return true;
  case LS_EV_EMAIL_OPEN:
  case LS_EV_EMAIL_LINK_CLICK:
    /* Repeated opens of one email differ only in time: whole seconds, as
     * the webhook and the API print different fractions and zones. */
    if (!stats || ev->event_time_us <= 0)
      return false;
    snprintf(secs, sizeof secs, "%" PRId64, ev->event_time_us / 1000000);
    parts[2] = stats;
    parts[3] = secs;
    finish(tenant, ev, parts, 4, ev->event_id);
    return true;
  case LS_EV_EMAIL_REPLY: {
    /* stats_id is the email replied to; the reply's own Message-ID tells
     * two replies apart. */
    const char *rid = str_of(
        json_object_get(json_object_get(root, "reply_message"), "message_id"));
    if (!rid)
      rid = str_of(json_object_get(root, "message_id"));
    if (!stats || !rid)
      return false;
    parts[2] = stats;
    parts[3] = rid;
    finish(tenant, ev, parts, 4, ev->event_id);
    return true;
  }
  case LS_EV_LEAD_UNSUBSCRIBED:
    /* The captured payload has no ids and the API only a flag: once per
     * lead and campaign. */
    if (!ev->campaign_id[0] || !ev->lead_email[0])
      return false;
    finish(tenant, ev, parts, 2, ev->event_id);
    return true;
  case LS_EV_LEAD_CATEGORY_UPDATED: {
    /* The API knows only the current category: the change is identified
     * by lead, campaign, old and new category. */
    const json_t *lc = json_object_get(root, "lead_category");
    const json_t *nv = json_object_get(lc, "new_id");
    if (!nv || json_is_null(nv))
      nv = json_object_get(root, "lead_category_id");
    ls_json_id(nv, cat_new, sizeof cat_new);
    ls_json_id(json_object_get(lc, "old_id"), cat_old, sizeof cat_old);
    if (!ev->campaign_id[0] || !ev->lead_email[0] || !cat_new[0])
      return false;
    parts[2] = cat_old;
    parts[3] = cat_new;
    finish(tenant, ev, parts, 4, ev->event_id);
    return true;
  }
  default:
    return false;
  }
}
