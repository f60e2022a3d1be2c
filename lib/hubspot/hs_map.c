/* hs_map: Smartlead event -> HubSpot properties and engagements. The
 * table in docs/mapping.md is the contract; keep the two in step. */
#include "hs_map.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hs_text.h"
#include "ls_shape.h"
#include "ls_buf.h"
#include "ls_json.h"
#include "ls_time.h"

static const hs_prop_def prop_defs[] = {
    {"contacts", "smartlead_lead_id", "Smartlead lead id", "string", "text",
     "Smartlead lead id (sl_email_lead_id or lead_id)"},
    {"contacts", "smartlead_campaign_id", "Smartlead campaign id", "string",
     "text", "Campaign of the latest Smartlead event"},
    {"contacts", "smartlead_campaign_name", "Smartlead campaign", "string",
     "text", "Campaign name of the latest Smartlead event"},
    {"contacts", "smartlead_lead_category", "Smartlead lead category", "string",
     "text", "Category set in Smartlead (Interested, ...)"},
    {"contacts", "smartlead_last_event", "Smartlead last event", "string",
     "text", "Type of the latest Smartlead event (EMAIL_REPLY, ...)"},
    {"contacts", "smartlead_last_event_at", "Smartlead last event at",
     "datetime", "date", "Time of the latest Smartlead event"},
    {"contacts", "smartlead_last_sent_at", "Smartlead last email sent",
     "datetime", "date", "Last EMAIL_SENT / FIRST_EMAIL_SENT"},
    {"contacts", "smartlead_last_opened_at", "Smartlead last open", "datetime",
     "date", "Last EMAIL_OPEN"},
    {"contacts", "smartlead_last_clicked_at", "Smartlead last click",
     "datetime", "date", "Last EMAIL_LINK_CLICK"},
    {"contacts", "smartlead_last_clicked_link", "Smartlead last clicked link",
     "string", "text", "First link of the last EMAIL_LINK_CLICK"},
    {"contacts", "smartlead_last_replied_at", "Smartlead last reply",
     "datetime", "date", "Last EMAIL_REPLY / UNTRACKED_REPLIES"},
    {"contacts", "smartlead_bounced", "Smartlead bounced", "bool",
     "booleancheckbox", "An email to this contact bounced"},
    {"contacts", "smartlead_unsubscribed", "Smartlead unsubscribed", "bool",
     "booleancheckbox", "The lead unsubscribed in Smartlead"},
    {"contacts", "smartlead_sequence_step", "Smartlead sequence step", "number",
     "number", "Sequence step of the latest event"},
    {"contacts", HS_FIRST_TOUCH_PROP, "Smartlead first-touch campaign",
     "string", "text", "Campaign that created the contact (set once)"},
    {"contacts", "smartlead_linkedin_url", "LinkedIn (Smartlead)", "string",
     "text", "lead_data.linkedin_profile"},
    {"emails", HS_EVENT_ID_PROP, "leadsync event id", "string", "text",
     "Smartlead event that created this email (idempotency)"},
    {"notes", HS_EVENT_ID_PROP, "leadsync event id", "string", "text",
     "Smartlead event that created this note (idempotency)"},
    {"tasks", HS_EVENT_ID_PROP, "leadsync event id", "string", "text",
     "Smartlead event that created this task (idempotency)"},
};

const hs_prop_def *hs_map_properties(size_t *n) {
  *n = sizeof prop_defs / sizeof prop_defs[0];
  return prop_defs;
}

const char *hs_eng_object(hs_eng_kind k) {
  switch (k) {
  case HS_ENG_EMAIL:
    return "emails";
  case HS_ENG_NOTE:
    return "notes";
  case HS_ENG_TASK:
    return "tasks";
  default:
    return NULL;
  }
}

int hs_eng_assoc_type(hs_eng_kind k) {
  switch (k) {
  case HS_ENG_EMAIL:
    return 198;
  case HS_ENG_NOTE:
    return 202;
  case HS_ENG_TASK:
    return 204;
  default:
    return 0;
  }
}

void hs_mapped_clear(hs_mapped *m) {
  json_decref(m->contact);
  json_decref(m->first_touch);
  json_decref(m->eng_props);
  json_decref(m->names);
  json_decref(m->truncated);
  json_decref(m->dropped);
  free(m->packed);
  memset(m, 0, sizeof *m);
}

/* The packed trees, in this order; JSON null for a NULL tree. truncated
 * stays a tree (almost always NULL): the sync_log record of an event that
 * never reaches its flush (a duplicate found again, a revoke) reads it. */
#define PACKED_TREES(m)                                                        \
  { &(m)->contact, &(m)->first_touch, &(m)->names, &(m)->eng_props }
#define PACKED_N 4

ls_err hs_mapped_pack(hs_mapped *m) {
  json_t **trees[PACKED_N] = PACKED_TREES(m);
  if (m->packed)
    return LS_OK;
  json_t *a = json_array();
  for (size_t i = 0; a && i < PACKED_N; i++)
    if (json_array_append(a, *trees[i] ? *trees[i] : json_null())) {
      json_decref(a);
      a = NULL;
    }
  size_t len = 0;
  char *text = a ? ls_json_dumps(a, &len) : NULL;
  json_decref(a);
  if (!text)
    return LS_ERR_NOMEM;
  /* The writer's buffer grows by doubling: only the text is kept. */
  char *fit = realloc(text, len + 1);
  m->packed = fit ? fit : text;
  for (size_t i = 0; i < PACKED_N; i++) {
    json_decref(*trees[i]);
    *trees[i] = NULL;
  }
  return LS_OK;
}

ls_err hs_mapped_unpack(hs_mapped *m) {
  json_t **trees[PACKED_N] = PACKED_TREES(m);
  if (!m->packed)
    return LS_OK;
  json_t *a = ls_json_loadb(m->packed, strlen(m->packed));
  if (!json_is_array(a) || json_array_size(a) != PACKED_N) {
    json_decref(a);
    return LS_ERR_NOMEM;
  }
  for (size_t i = 0; i < PACKED_N; i++) {
    json_t *t = json_array_get(a, i);
    *trees[i] = json_is_null(t) ? NULL : json_incref(t);
  }
  json_decref(a);
  free(m->packed);
  m->packed = NULL;
  return LS_OK;
}

/* -- small helpers ------------------------------------------------------ */

static const char *str_at(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return (s && *s) ? s : NULL;
}

static const char *str_path(const json_t *o, const char *k1, const char *k2) {
  return str_at(json_object_get(o, k1), k2);
}

static void set_str(json_t *o, const char *k, const char *v) {
  if (v && *v)
    json_object_set_new(o, k, json_string(v));
}

/* Plain text: HTML character references decoded (Smartlead's text parts
 * carry &amp; &#39; ... as sent). */
static void set_text(json_t *o, const char *k, const char *v) {
  char *d = hs_text_decode_entities(v);
  set_str(o, k, d ? d : v);
  free(d);
}

/* Numeric ids only: a malformed one is left out (ls_json_num_id). */
static void set_id(json_t *o, const char *k, const json_t *v) {
  char buf[64];
  ls_json_num_id(v, buf, sizeof buf);
  if (buf[0])
    json_object_set_new(o, k, json_string(buf));
}

static void set_time(json_t *o, const char *k, int64_t us) {
  char buf[40];
  if (us <= 0)
    return;
  ls_time_format_ms(us, buf, sizeof buf);
  json_object_set_new(o, k, json_string(buf));
}

/* "Sam Lee <sam@x.com>" -> "Sam Lee" (quotes stripped); "" without one. */
static void display_name(const char *detail, char *out, size_t cap) {
  char addr[LS_EMAIL_MAX + 1];
  hs_text_address(detail, addr, sizeof addr, out, cap);
}

/* Escapes text for HubSpot's HTML note/task bodies (chained). */
static void put_html(ls_buf *b, ls_err *e, const char *s) {
  ls_buf_put_escaped(b, e, s, s ? strlen(s) : 0, 1);
}

/* Every address read from a payload may be "Name <addr>". */
static json_t *person(const char *email, const char *name) {
  return hs_text_person(email, name);
}

/* hs_email_headers: a JSON document serialised into a string. */
static void set_email_headers(json_t *props, json_t *from, json_t *to,
                              json_t *cc) {
  json_t *h = json_object();
  json_object_set_new(h, "from", from);
  json_t *toa = json_array();
  json_array_append_new(toa, to);
  json_object_set_new(h, "to", toa);
  json_object_set_new(h, "cc", cc ? cc : json_array());
  json_object_set_new(h, "bcc", json_array());
  char *s = json_dumps(h, JSON_COMPACT);
  if (s)
    json_object_set_new(props, "hs_email_headers", json_string(s));
  free(s);
  json_decref(h);
}

/* cc: a string or an array, each possibly a comma/semicolon list. */
static json_t *cc_list(const json_t *v) {
  return hs_text_address_list(v);
}

static const char *lead_name(const json_t *root) {
  const char *n = str_at(root, "to_name");
  return n ? n : str_at(root, "lead_name");
}

/* -- contact properties ------------------------------------------------- */

static void map_contact(const json_t *root, const ls_event *ev, int64_t time_us,
                        json_t *c, json_t *names) {
  json_object_set_new(c, "email", json_string(ev->lead_email));
  const json_t *ld = json_object_get(root, "lead_data");
  char first[128] = "", last[128] = "";
  const char *lf = str_at(ld, "first_name"), *ll = str_at(ld, "last_name");
  if (lf || ll) {
    snprintf(first, sizeof first, "%s", lf ? lf : "");
    snprintf(last, sizeof last, "%s", ll ? ll : "");
  } else if (ev->type == LS_EV_UNTRACKED_REPLIES) {
    char dn[256];
    display_name(str_at(root, "sender_detail"), dn, sizeof dn);
    hs_split_name(dn, first, sizeof first, last, sizeof last);
  } else {
    hs_split_name(lead_name(root), first, sizeof first, last, sizeof last);
  }
  /* to_name may be an alias (Smartlead's docs say so for replies): names
   * are written only to a new contact or one without a name. */
  set_str(names, "firstname", first);
  set_str(names, "lastname", last);
  set_str(c, "company", str_at(ld, "company_name"));
  set_str(c, "phone", str_at(ld, "phone_number"));
  const char *web = str_at(ld, "website");
  set_str(c, "website", web ? web : str_at(ld, "company_url"));
  set_str(c, "smartlead_linkedin_url", str_at(ld, "linkedin_profile"));

  const json_t *lid = json_object_get(root, "sl_email_lead_id");
  if (!lid || json_is_null(lid))
    lid = json_object_get(root, "lead_id");
  set_id(c, "smartlead_lead_id", lid);
  set_str(c, "smartlead_campaign_id", ev->campaign_id);
  set_str(c, "smartlead_campaign_name", str_at(root, "campaign_name"));
  const char *cat = str_path(root, "lead_category", "new_name");
  if (!cat && ev->type == LS_EV_LEAD_CATEGORY_UPDATED)
    cat = str_at(root, "category");
  if (!cat)
    cat = str_path(ld, "category", "name");
  set_str(c, "smartlead_lead_category", cat);
  json_object_set_new(c, "smartlead_last_event", json_string(ev->type_name));
  set_time(c, "smartlead_last_event_at", time_us);

  switch (ev->type) {
  case LS_EV_EMAIL_SENT:
  case LS_EV_FIRST_EMAIL_SENT:
    set_time(c, "smartlead_last_sent_at", time_us);
    break;
  case LS_EV_EMAIL_OPEN:
    set_time(c, "smartlead_last_opened_at", time_us);
    break;
  case LS_EV_EMAIL_LINK_CLICK: {
    set_time(c, "smartlead_last_clicked_at", time_us);
    const json_t *links = json_object_get(root, "link_details");
    if (!json_is_array(links) || !json_array_size(links))
      links = json_object_get(root, "link_clicked");
    const char *l = json_string_value(json_array_get(links, 0));
    set_str(c, "smartlead_last_clicked_link", l);
    break;
  }
  case LS_EV_EMAIL_REPLY:
  case LS_EV_UNTRACKED_REPLIES:
    set_time(c, "smartlead_last_replied_at", time_us);
    break;
  case LS_EV_EMAIL_BOUNCE:
    json_object_set_new(c, "smartlead_bounced", json_string("true"));
    break;
  case LS_EV_LEAD_UNSUBSCRIBED:
    json_object_set_new(c, "smartlead_unsubscribed", json_string("true"));
    break;
  default:
    break;
  }
  const json_t *step = json_object_get(root, "sequence_number");
  if (!step || json_is_null(step))
    step = json_object_get(root, "current_sequence_number");
  if (!step || json_is_null(step))
    step = json_object_get(root, "current_sequence");
  set_id(c, "smartlead_sequence_step", step);
}

/* -- engagements -------------------------------------------------------- */

static json_t *eng_base(const ls_event *ev, int64_t time_us) {
  json_t *p = json_object();
  char ts[40];
  ls_time_format_ms(time_us > 0 ? time_us : ls_now_us(), ts, sizeof ts);
  json_object_set_new(p, "hs_timestamp", json_string(ts));
  json_object_set_new(p, HS_EVENT_ID_PROP, json_string(ev->event_id));
  return p;
}

static const char *sent_html(const json_t *root) {
  const char *h = str_path(root, "sent_message", "html");
  return h ? h : str_at(root, "sent_message_body");
}

static json_t *map_email(const json_t *root, const ls_event *ev,
                         int64_t time_us) {
  json_t *p = eng_base(ev, time_us);
  const char *subject = str_at(root, "subject");
  if (!subject)
    subject = str_at(root, "custom_subject");
  set_str(p, "hs_email_subject", subject);
  const char *ours = str_at(root, "from_email");
  switch (ev->type) {
  case LS_EV_EMAIL_SENT:
  case LS_EV_FIRST_EMAIL_SENT:
    json_object_set_new(p, "hs_email_direction", json_string("EMAIL"));
    json_object_set_new(p, "hs_email_status", json_string("SENT"));
    set_str(p, "hs_email_html", sent_html(root));
    set_text(p, "hs_email_text", str_path(root, "sent_message", "text"));
    set_email_headers(p, person(ours, NULL),
                      person(ev->lead_email, lead_name(root)), NULL);
    break;
  case LS_EV_EMAIL_BOUNCE: {
    json_object_set_new(p, "hs_email_direction", json_string("EMAIL"));
    json_object_set_new(p, "hs_email_status", json_string("BOUNCED"));
    set_str(p, "hs_email_html", sent_html(root));
    ls_buf t;
    ls_buf_init(&t, 8u << 20);
    const char *st = str_path(root, "sent_message", "text");
    const char *bt = str_path(root, "bounce_message", "text");
    if (!bt)
      bt = str_at(root, "bounce_reply_email");
    /* The ceiling is far above what set_text keeps (HS_BODY_MAX_BYTES):
     * a text that does not fit is cut there anyway, so what fitted is
     * used. */
    ls_err e = st ? ls_buf_appendz(&t, st) : LS_OK;
    if (bt && e == LS_OK)
      e = ls_buf_printf(&t, "%sBounce: %.4000s", st ? "\n\n" : "", bt);
    if (t.len)
      set_text(p, "hs_email_text", t.data);
    ls_buf_free(&t);
    set_email_headers(p, person(ours, NULL),
                      person(ev->lead_email, lead_name(root)), NULL);
    break;
  }
  case LS_EV_EMAIL_REPLY: {
    json_object_set_new(p, "hs_email_direction", json_string("INCOMING_EMAIL"));
    const char *html = str_path(root, "reply_message", "html");
    set_str(p, "hs_email_html", html ? html : str_at(root, "reply_body"));
    const char *text = str_path(root, "reply_message", "text");
    set_text(p, "hs_email_text", text ? text : str_at(root, "preview_text"));
    const char *from =
        str_path(root, "leadCorrespondence", "replyReceivedFrom");
    set_email_headers(p, person(from ? from : ev->lead_email, lead_name(root)),
                      person(ours, NULL),
                      cc_list(json_object_get(root, "cc_emails")));
    break;
  }
  case LS_EV_UNTRACKED_REPLIES: {
    json_object_set_new(p, "hs_email_direction", json_string("INCOMING_EMAIL"));
    set_str(p, "hs_email_html", str_path(root, "reply_message", "html"));
    const char *text = str_path(root, "reply_message", "text");
    set_text(p, "hs_email_text", text ? text : str_at(root, "visible_text"));
    char dn[256];
    display_name(str_at(root, "sender_detail"), dn, sizeof dn);
    set_email_headers(p, person(ev->lead_email, dn),
                      person(str_at(root, "recipient_detail"), NULL),
                      cc_list(json_object_get(root, "cc")));
    break;
  }
  default:
    break;
  }
  return p;
}

static json_t *map_note(const json_t *root, const ls_event *ev,
                        int64_t time_us) {
  json_t *p = eng_base(ev, time_us);
  ls_buf b;
  ls_buf_init(&b, 60000);
  ls_err e = LS_OK;
  const char *camp = str_at(root, "campaign_name");
  switch (ev->type) {
  case LS_EV_LEAD_CATEGORY_UPDATED: {
    const char *old = str_path(root, "lead_category", "old_name");
    const char *nw = str_path(root, "lead_category", "new_name");
    if (!nw)
      nw = str_at(root, "category");
    ls_buf_putz(&b, &e, "<p>Smartlead: lead category changed from <b>");
    put_html(&b, &e, old ? old : "(none)");
    ls_buf_putz(&b, &e, "</b> to <b>");
    put_html(&b, &e, nw ? nw : "(none)");
    ls_buf_putz(&b, &e, "</b>");
    break;
  }
  case LS_EV_LEAD_UNSUBSCRIBED:
    ls_buf_putz(&b, &e, "<p>Smartlead: lead unsubscribed");
    break;
  case LS_EV_EMAIL_OPEN:
    ls_buf_putz(&b, &e, "<p>Smartlead: opened email &quot;");
    put_html(&b, &e, str_at(root, "subject"));
    ls_buf_putz(&b, &e, "&quot;");
    break;
  case LS_EV_EMAIL_LINK_CLICK: {
    const json_t *links = json_object_get(root, "link_details");
    if (!json_is_array(links) || !json_array_size(links))
      links = json_object_get(root, "link_clicked");
    ls_buf_putz(&b, &e, "<p>Smartlead: clicked ");
    put_html(&b, &e, json_string_value(json_array_get(links, 0)));
    ls_buf_putz(&b, &e, " in &quot;");
    put_html(&b, &e, str_at(root, "subject"));
    ls_buf_putz(&b, &e, "&quot;");
    break;
  }
  default:
    ls_buf_putz(&b, &e, "<p>Smartlead: ");
    put_html(&b, &e, ev->type_name);
  }
  if (camp) {
    ls_buf_putz(&b, &e, " (campaign ");
    put_html(&b, &e, camp);
    ls_buf_putz(&b, &e, ")");
  }
  ls_buf_putz(&b, &e, "</p>");
  json_object_set_new(p, "hs_note_body", json_string(b.data));
  ls_buf_free(&b);
  return p;
}

static json_t *map_task(const json_t *root, const ls_event *ev,
                        int64_t time_us) {
  json_t *p = eng_base(ev, time_us);
  char step[32], subj[300];
  ls_json_id(json_object_get(root, "current_sequence_number"), step,
             sizeof step);
  const char *camp = str_at(root, "campaign_name");
  snprintf(subj, sizeof subj, "Smartlead manual step%s%s: %.200s",
           step[0] ? " " : "", step, camp ? camp : "campaign");
  json_object_set_new(p, "hs_task_subject", json_string(subj));
  ls_buf b;
  ls_buf_init(&b, 60000);
  ls_err e = LS_OK;
  ls_buf_putz(&b, &e, "<p>");
  put_html(&b, &e, str_at(root, "description"));
  ls_buf_putz(&b, &e, "</p>");
  const char *url = str_at(root, "app_url");
  if (url) {
    ls_buf_putz(&b, &e, "<p>");
    put_html(&b, &e, url);
    ls_buf_putz(&b, &e, "</p>");
  }
  json_object_set_new(p, "hs_task_body", json_string(b.data));
  ls_buf_free(&b);
  json_object_set_new(p, "hs_task_status", json_string("NOT_STARTED"));
  json_object_set_new(p, "hs_task_type", json_string("TODO"));
  json_object_set_new(p, "hs_task_priority", json_string("MEDIUM"));
  return p;
}

/* Every string value fits HubSpot's property limit; bodies keep their
 * newest part (hs_text_fit) and the cut is recorded for the sync_log. */
static void fit_all(hs_mapped *m, json_t *props) {
  const char *k;
  json_t *v;
  json_object_foreach(props, k, v) {
    const char *s = json_string_value(v);
    if (!s || json_string_length(v) <= HS_BODY_MAX_BYTES)
      continue;
    bool html = strstr(k, "html") || !strcmp(k, "hs_note_body") ||
                !strcmp(k, "hs_task_body");
    char *cut = hs_text_fit(s, HS_BODY_MAX_BYTES, html);
    if (!cut)
      continue;
    json_string_set(v, cut);
    free(cut);
    if (!m->truncated)
      m->truncated = json_array();
    json_array_append_new(m->truncated, json_string(k));
  }
}

static ls_err map_event(const json_t *root, const ls_event *ev, int64_t time_us,
                        const hs_map_opts *o, hs_mapped *out, char *errstr,
                        size_t errlen);

/* The second payload shape maps as its classic equivalent (ls_shape.h). */
ls_err hs_map_event(const json_t *root, const ls_event *ev, int64_t time_us,
                    const hs_map_opts *o, hs_mapped *out, char *errstr,
                    size_t errlen) {
  json_t *norm = ls_shape_normalized(root);
  ls_err e = map_event(norm ? norm : root, ev, time_us, o, out, errstr, errlen);
  json_decref(norm);
  return e;
}

static ls_err map_event(const json_t *root, const ls_event *ev, int64_t time_us,
                        const hs_map_opts *o, hs_mapped *out, char *errstr,
                        size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!json_is_object(root)) {
    snprintf(errstr, errlen, "payload is not a JSON object");
    out->time_us = time_us;
    return LS_ERR_INVALID;
  }
  /* A bounce happens when the bounce arrives, not when the email went out
   * (event_timestamp is the send time). */
  int64_t bt;
  const char *bts = str_path(root, "bounce_message", "time");
  if (ev->type == LS_EV_EMAIL_BOUNCE && bts && ls_time_parse(bts, &bt) &&
      bt > 0)
    time_us = bt;
  out->time_us = time_us;
  if (ev->type == LS_EV_CAMPAIGN_STATUS_CHANGED || ev->type == LS_EV_UNKNOWN)
    return LS_OK; /* nothing to write: sync_log only */
  if (!ev->lead_email[0]) {
    snprintf(errstr, errlen, "%s event has no lead email", ev->type_name);
    return LS_ERR_INVALID;
  }
  if (ev->type == LS_EV_UNTRACKED_REPLIES && !(o && o->keep_junk)) {
    const json_t *hd = json_object_get(root, "headers");
    const char *as = str_at(root, "auto_submitted");
    if (!as)
      as = str_at(hd, "Auto-Submitted");
    if (!as)
      as = str_at(hd, "auto-submitted");
    const char *pats[17] = {NULL};
    size_t np = 0, pi;
    const json_t *pv;
    json_array_foreach(o ? o->junk_senders : NULL, pi, pv) {
      if (json_is_string(pv) && np < 16)
        pats[np++] = json_string_value(pv);
    }
    const char *why =
        hs_text_junk_sender(str_at(root, "sender_detail"), as, pats);
    if (why) {
      out->filtered = why;
      snprintf(out->email, sizeof out->email, "%s", ev->lead_email);
      return LS_OK;
    }
  }
  snprintf(out->email, sizeof out->email, "%s", ev->lead_email);
  out->contact = json_object();
  out->names = json_object();
  map_contact(root, ev, time_us, out->contact, out->names);
  const char *camp = str_at(root, "campaign_name");
  if (camp || ev->campaign_id[0] || json_object_size(out->names)) {
    out->first_touch = json_object();
    if (camp || ev->campaign_id[0])
      json_object_set_new(out->first_touch, HS_FIRST_TOUCH_PROP,
                          json_string(camp ? camp : ev->campaign_id));
    json_object_update(out->first_touch, out->names);
  }
  if (!json_object_size(out->names)) {
    json_decref(out->names);
    out->names = NULL;
  }
  switch (ev->type) {
  case LS_EV_EMAIL_SENT:
  case LS_EV_FIRST_EMAIL_SENT:
  case LS_EV_EMAIL_REPLY:
  case LS_EV_UNTRACKED_REPLIES:
  case LS_EV_EMAIL_BOUNCE:
    out->eng = HS_ENG_EMAIL;
    out->eng_props = map_email(root, ev, time_us);
    break;
  case LS_EV_LEAD_CATEGORY_UPDATED:
  case LS_EV_LEAD_UNSUBSCRIBED:
    out->eng = HS_ENG_NOTE;
    out->eng_props = map_note(root, ev, time_us);
    break;
  case LS_EV_EMAIL_OPEN:
    if (o && o->opens_as_notes) {
      out->eng = HS_ENG_NOTE;
      out->eng_props = map_note(root, ev, time_us);
    }
    break;
  case LS_EV_EMAIL_LINK_CLICK:
    if (o && o->clicks_as_notes) {
      out->eng = HS_ENG_NOTE;
      out->eng_props = map_note(root, ev, time_us);
    }
    break;
  case LS_EV_MANUAL_STEP_REACHED:
    out->eng = HS_ENG_TASK;
    out->eng_props = map_task(root, ev, time_us);
    break;
  default:
    break;
  }
  fit_all(out, out->contact);
  fit_all(out, out->eng_props);
  fit_all(out, out->first_touch);
  return LS_OK;
}

void hs_props_merge(json_t *dst, json_t *times, const json_t *src,
                    int64_t t_us) {
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)src, k, v) {
    json_t *old = json_object_get(times, k);
    if (old && json_integer_value(old) > t_us)
      continue; /* a newer event already set it */
    json_object_set(dst, k, v);
    if (old) /* times is the caller's own: set in place, no new value */
      json_integer_set(old, t_us);
    else
      json_object_set_new(times, k, json_integer(t_us));
  }
}
