/* fo_format: raw, CloudEvents and Slack bodies for the fan-out. */
#include "fo_format.h"

#include <stdlib.h>
#include <string.h>

#include "ls_buf.h"
#include "ls_category.h"

#define SLACK_PREVIEW_MAX 280

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static char *dup_bytes(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (s) {
    memcpy(s, p, n);
    s[n] = '\0';
  }
  return s;
}

/* Slack's mrkdwn needs &, < and > escaped; max bounds the bytes copied
 * (cut at a UTF-8 boundary). The text is built with ls_buf_put*: at the
 * buffer's ceiling it ends with what fitted. */
static void slack_escape(ls_buf *b, ls_err *e, const char *s, size_t max) {
  size_t n = strlen(s);
  if (n > max) {
    n = max;
    while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
      n--;
  }
  ls_buf_put_escaped(b, e, s, n, 0);
  if (n < strlen(s))
    ls_buf_putz(b, e, "…");
}

static void url_encode(ls_buf *b, ls_err *e, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      ls_buf_put(b, e, s, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      ls_buf_put(b, e, esc, 3);
    }
  }
}

static void campaign_part(ls_buf *b, ls_err *e, const json_t *root,
                          const ls_event *ev) {
  const char *name = jstr(root, "campaign_name");
  if (name && *name) {
    ls_buf_putz(b, e, " in campaign *");
    slack_escape(b, e, name, 200);
    ls_buf_putz(b, e, "*");
  } else if (ev->campaign_id[0]) {
    ls_buf_putf(b, e, " in campaign %s", ev->campaign_id);
  }
}

static void contact_link(ls_buf *b, ls_err *e, const ls_endpoint *ep,
                         const ls_event *ev) {
  if (!ep->portal_id || !ev->lead_email[0])
    return;
  ls_buf_putf(b, e,
              "\n<https://app.hubspot.com/contacts/%s/objects/0-1/views/"
              "all/list?query=",
              ep->portal_id);
  url_encode(b, e, ev->lead_email);
  ls_buf_putz(b, e, "|HubSpot contact>");
}

static const char *reply_text(const json_t *root) {
  const char *t = jstr(json_object_get(root, "reply_message"), "text");
  if (!t || !*t)
    t = jstr(root, "preview_text");
  if (!t || !*t)
    t = jstr(root, "reply_body");
  return t;
}

static char *slack_body(const ls_endpoint *ep, const json_t *root,
                        const ls_event *ev, size_t *out_len) {
  ls_buf b;
  ls_buf_init(&b, 64 * 1024);
  ls_err e = LS_OK;
  const char *lead = ev->lead_email[0] ? ev->lead_email : "(unknown lead)";
  if (ev->type == LS_EV_EMAIL_REPLY || ev->type == LS_EV_UNTRACKED_REPLIES) {
    ls_buf_putz(&b, &e, ":speech_balloon: *Reply* from ");
    slack_escape(&b, &e, lead, 254);
    campaign_part(&b, &e, root, ev);
    const char *t = reply_text(root);
    if (t) {
      ls_buf_putz(&b, &e, "\n>");
      slack_escape(&b, &e, t, SLACK_PREVIEW_MAX);
    }
  } else if (ev->type == LS_EV_LEAD_CATEGORY_UPDATED) {
    char id[64], name[128];
    ls_event_category(root, id, sizeof id, name, sizeof name);
    ls_buf_putz(&b, &e, ":label: *");
    slack_escape(&b, &e, lead, 254);
    ls_buf_putz(&b, &e, "* moved to *");
    slack_escape(&b, &e, name[0] ? name : id[0] ? id : "?", 120);
    ls_buf_putz(&b, &e, "*");
    campaign_part(&b, &e, root, ev);
  } else {
    ls_buf_free(&b);
    return NULL;
  }
  contact_link(&b, &e, ep, ev);
  json_t *msg =
      json_pack("{s:s,s:b}", "text", b.data ? b.data : "", "mrkdwn", 1);
  ls_buf_free(&b);
  char *s = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
  json_decref(msg);
  if (s)
    *out_len = strlen(s);
  return s;
}

static json_t *str_or_null(const char *s) {
  return s && *s ? json_string(s) : json_null();
}

static char *cloudevent_body(const fo_meta *meta, const json_t *root,
                             const ls_event *ev, size_t *out_len) {
  json_t *env = json_object();
  if (!env)
    return NULL;
  json_object_set_new(env, "specversion", json_string("1.0"));
  json_object_set_new(env, "id",
                      json_string(meta->id[0] ? meta->id : ev->event_id));
  json_object_set_new(
      env, "source",
      json_string(meta->source[0] ? meta->source : "/smartlead"));
  json_object_set_new(env, "type",
                      json_string(meta->type[0] ? meta->type : ev->ce_type));
  json_object_set_new(env, "time",
                      str_or_null(meta->time[0] ? meta->time : ev->event_time));
  json_object_set_new(env, "datacontenttype", json_string("application/json"));
  json_object_set_new(env, "subject", str_or_null(ev->key));
  json_object_set_new(env, "leadsynctenant", str_or_null(meta->tenant));
  json_object_set(env, "data", (json_t *)root);
  char *s = json_dumps(env, JSON_COMPACT);
  json_decref(env);
  if (s)
    *out_len = strlen(s);
  return s;
}

char *fo_format_body(const ls_endpoint *ep, const fo_meta *meta,
                     const char *body, size_t body_len, const json_t *root,
                     const ls_event *ev, size_t *out_len, const char **ctype) {
  *ctype = "application/json";
  if (ep->kind == LS_EP_SLACK)
    return slack_body(ep, root, ev, out_len);
  if (ep->format == LS_EP_FMT_CLOUDEVENTS) {
    *ctype = "application/cloudevents+json";
    return cloudevent_body(meta, root, ev, out_len);
  }
  *out_len = body_len;
  return dup_bytes(body, body_len);
}
