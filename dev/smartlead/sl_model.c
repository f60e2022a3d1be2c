/* sl_model.c: the scripted account, activity generation, webhook delivery
 * with faults, and the API's answers. Shapes: docs/smartlead-emulator.md. */
#include "sl_emu.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_time.h"

static const char *const categories[] = {NULL,
                                         "Interested",
                                         "Meeting Request",
                                         "Not Interested",
                                         "Do Not Contact",
                                         "Information Request",
                                         "Out Of Office",
                                         "Wrong Person"};
#define N_CATEGORIES 7

const char *sl_category_name(int id) {
  return id >= 1 && id <= N_CATEGORIES ? categories[id] : NULL;
}

json_t *sl_api_categories(void) {
  json_t *a = json_array();
  for (int i = 1; i <= N_CATEGORIES; i++)
    json_array_append_new(a, json_pack("{s:i,s:s,s:s}", "id", i, "name",
                                       categories[i], "created_at",
                                       "2024-01-01T00:00:00.000Z"));
  return a;
}

uint64_t sl_rand(struct sl_emu *e) {
  uint64_t x = e->rng ? e->rng : 0x9e3779b97f4a7c15ULL;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  e->rng = x;
  return x * 0x2545f4914f6cdd1dULL;
}

double sl_rand01(struct sl_emu *e) {
  return (double)(sl_rand(e) >> 11) / (double)(1ULL << 53);
}

/* -- time shapes (Smartlead's formats vary per event) -------------------- */

enum tfmt { T_PLUS_MS, T_PLUS_US, T_PLUS_S, T_Z_MS };

static void fmt_time(int64_t us, enum tfmt f, char *out, size_t n) {
  time_t s = (time_t)(us / 1000000);
  int frac = (int)(us % 1000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  switch (f) {
  case T_PLUS_MS:
    snprintf(out, n, "%s.%03d+00:00", base, frac / 1000);
    break;
  case T_PLUS_US:
    snprintf(out, n, "%s.%06d+00:00", base, frac);
    break;
  case T_PLUS_S:
    snprintf(out, n, "%s+00:00", base);
    break;
  case T_Z_MS:
    snprintf(out, n, "%s.%03dZ", base, frac / 1000);
    break;
  }
}

static json_t *jtime(int64_t us, enum tfmt f) {
  char b[48];
  fmt_time(us, f, b, sizeof b);
  return json_string(b);
}

static int64_t geti(const json_t *o, const char *k) {
  return json_integer_value(json_object_get(o, k));
}

static const char *str_of(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static json_t *campaign_by_id(struct sl_emu *e, int64_t id) {
  size_t i;
  json_t *c;
  json_array_foreach(e->campaigns, i, c) if (geti(c, "id") == id) return c;
  return NULL;
}

/* -- generation ---------------------------------------------------------- */

static const char *const first_names[] = {"Sam", "Alex", "Robin", "Jo",
                                          "Kim", "Lee",  "Max",   "Pat"};
static const char *const last_names[] = {"Lane",  "Park", "Reyes", "Stone",
                                         "Young", "Gray", "Moss",  "Hart"};

static json_t *new_sent(struct sl_emu *e, size_t lead_idx, json_t *lead,
                        int64_t t) {
  char stats[64], mid[128], subj[96];
  uint64_t r1 = sl_rand(e), r2 = sl_rand(e);
  snprintf(stats, sizeof stats, "%08x-%04x-4%03x-8%03x-%012" PRIx64,
           (unsigned)(r1 >> 32), (unsigned)(r1 >> 16) & 0xffff,
           (unsigned)r1 & 0xfff, (unsigned)(r2 >> 52) & 0xfff,
           (uint64_t)(r2 & 0xffffffffffffULL));
  snprintf(mid, sizeof mid, "<%s@outreach-example.com>", stats);
  int seq = (int)geti(lead, "seq") + 1;
  json_object_set_new(lead, "seq", json_integer(seq));
  snprintf(subj, sizeof subj, "%s step %d", str_of(lead, "company"), seq);
  json_t *s = json_pack("{s:s,s:I,s:i,s:s,s:I,s:s,s:I,s:I,s:b,s:[]}",
                        "stats_id", stats, "lead", (json_int_t)lead_idx, "seq",
                        seq, "message_id", mid, "time_us", (json_int_t)t,
                        "subject", subj, "open_us", (json_int_t)0, "click_us",
                        (json_int_t)0, "bounced", 0, "replies");
  json_array_append(e->sent, s);
  return s;
}

static void common_fields(struct sl_emu *e, json_t *b, const char *type,
                          const json_t *lead, const json_t *camp) {
  json_object_set_new(b, "event_type", json_string(type));
  json_object_set_new(b, "campaign_id", json_integer(geti(camp, "id")));
  json_object_set_new(b, "campaign_name", json_string(str_of(camp, "name")));
  json_object_set_new(b, "campaign_status",
                      json_string(str_of(camp, "status")));
  json_object_set(b, "client_id", json_object_get(camp, "client_id"));
  char url[160];
  snprintf(url, sizeof url,
           "https://app.smartlead.ai/app/master-inbox?leadMap=%" PRId64,
           geti(lead, "map_id"));
  json_object_set_new(b, "app_url", json_string(url));
  json_object_set_new(b, "ui_master_inbox_link", json_string(url));
  json_object_set_new(b, "secret_key", json_string(e->secret_key));
  json_object_set_new(
      b, "metadata",
      json_pack("{s:s}", "webhook_created_at", "2025-01-01T00:00:00.000Z"));
}

static void lead_ids(json_t *b, const json_t *lead) {
  char id[32];
  snprintf(id, sizeof id, "%" PRId64, geti(lead, "id"));
  json_object_set_new(b, "sl_email_lead_id", json_string(id));
  json_object_set_new(b, "sl_email_lead_map_id",
                      json_integer(geti(lead, "map_id")));
}

static void to_fields(json_t *b, const json_t *lead) {
  char name[96];
  snprintf(name, sizeof name, "%s %s", str_of(lead, "first_name"),
           str_of(lead, "last_name"));
  json_object_set_new(b, "to_email", json_string(str_of(lead, "email")));
  json_object_set_new(b, "to_name", json_string(name));
}

static json_t *sent_message(const json_t *s) {
  char html[160], text[160];
  snprintf(html, sizeof html, "<div>Hello, step %d.</div>",
           (int)geti(s, "seq"));
  snprintf(text, sizeof text, "Hello, step %d.", (int)geti(s, "seq"));
  return json_pack("{s:s,s:s,s:s,s:o}", "message_id", str_of(s, "message_id"),
                   "html", html, "text", text, "time",
                   jtime(geti(s, "time_us"), T_PLUS_MS));
}

/* The body Smartlead would POST for one occurrence, in the current shape
 * (tests/fixtures/smartlead). */
static json_t *webhook_body(struct sl_emu *e, const char *type, json_t *lead,
                            const json_t *s, const json_t *reply, int64_t t,
                            int old_cat) {
  json_t *camp = campaign_by_id(e, geti(lead, "campaign_id"));
  json_t *b = json_object();
  common_fields(e, b, type, lead, camp);
  const char *email = str_of(lead, "email");
  const char *cname = str_of(camp, "name");
  char desc[512];
  json_object_set_new(b, "from_email",
                      json_string("alex@outreach-example.com"));
  if (!strcmp(type, "EMAIL_SENT") || !strcmp(type, "EMAIL_OPEN") ||
      !strcmp(type, "EMAIL_LINK_CLICK") || !strcmp(type, "EMAIL_BOUNCE") ||
      !strcmp(type, "EMAIL_REPLY")) {
    lead_ids(b, lead);
    to_fields(b, lead);
    json_object_set_new(b, "stats_id", json_string(str_of(s, "stats_id")));
    json_object_set_new(b, "sequence_number", json_integer(geti(s, "seq")));
    json_object_set_new(b, "subject", json_string(str_of(s, "subject")));
    json_object_set_new(b, "sent_message", sent_message(s));
    json_object_set_new(b, "sent_message_body",
                        json_string("<div>Hello.</div>"));
  }
  if (!strcmp(type, "EMAIL_SENT")) {
    json_object_set_new(b, "event_timestamp", jtime(t, T_PLUS_MS));
    json_object_set_new(b, "time_sent", jtime(t, T_PLUS_MS));
    json_object_set_new(b, "message_id", json_string(str_of(s, "message_id")));
    snprintf(desc, sizeof desc, "Email %d sent to %s for campaign - %s",
             (int)geti(s, "seq"), email, cname);
  } else if (!strcmp(type, "EMAIL_OPEN")) {
    json_object_set_new(b, "event_timestamp", jtime(t, T_PLUS_US));
    json_object_set_new(b, "time_opened", jtime(t, T_PLUS_US));
    snprintf(desc, sizeof desc, "%s opened Email %d for campaign - %s", email,
             (int)geti(s, "seq"), cname);
  } else if (!strcmp(type, "EMAIL_LINK_CLICK")) {
    json_object_set_new(b, "event_timestamp", jtime(t, T_PLUS_US));
    json_object_set_new(b, "time_clicked", jtime(t, T_PLUS_US));
    json_object_set_new(b, "link_details",
                        json_pack("[s]", "https://outreach-example.com/demo"));
    json_object_set_new(b, "link_clicked",
                        json_pack("[s]", "https://outreach-example.com/demo"));
    snprintf(desc, sizeof desc,
             "%s clicked a link in Email %d for campaign "
             "- %s",
             email, (int)geti(s, "seq"), cname);
  } else if (!strcmp(type, "EMAIL_BOUNCE")) {
    /* event_timestamp of a bounce is the send time. */
    json_object_set_new(b, "event_timestamp",
                        jtime(geti(s, "time_us"), T_PLUS_MS));
    json_object_set_new(b, "time_sent", jtime(geti(s, "time_us"), T_PLUS_MS));
    json_object_set_new(b, "is_bounced", json_true());
    json_object_set_new(b, "message_id", json_string(str_of(s, "message_id")));
    json_object_set_new(b, "bounce_message",
                        json_pack("{s:s,s:s,s:s,s:o}", "message_id",
                                  "<bounce-example@mail.example.com>", "html",
                                  "Address not found", "text",
                                  "Address not found", "time",
                                  jtime(t, T_Z_MS)));
    snprintf(desc, sizeof desc,
             "Email %d sent to %s got bounced for campaign - %s",
             (int)geti(s, "seq"), email, cname);
  } else if (!strcmp(type, "EMAIL_REPLY")) {
    json_object_set_new(b, "sl_lead_email", json_string(email));
    json_object_set_new(b, "reply_source", json_string("CAMPAIGN"));
    json_object_set_new(b, "cc_emails", json_array());
    json_object_set_new(b, "event_timestamp", jtime(t, T_PLUS_S));
    json_object_set_new(b, "time_replied", jtime(t, T_PLUS_S));
    const char *rid = str_of(reply, "message_id");
    json_object_set_new(b, "reply_message",
                        json_pack("{s:s,s:s,s:s,s:o}", "message_id", rid,
                                  "html", "<div>Thanks, tell me more.</div>",
                                  "text", "Thanks, tell me more.", "time",
                                  jtime(t, T_PLUS_S)));
    json_object_set_new(b, "message_id", json_string(rid));
    json_object_set_new(b, "reply_body",
                        json_string("<div>Thanks, tell me more.</div>"));
    json_object_set_new(b, "preview_text",
                        json_string("Thanks, tell me more."));
    json_object_set_new(b, "leadCorrespondence",
                        json_pack("{s:s,s:s,s:s}", "targetLeadEmail", email,
                                  "replyReceivedFrom", email,
                                  "repliedCompanyDomain", "SameCompany"));
    snprintf(desc, sizeof desc, "%s replied to Email %d for campaign - %s ",
             email, (int)geti(s, "seq"), cname);
  } else if (!strcmp(type, "LEAD_UNSUBSCRIBED")) {
    to_fields(b, lead);
    json_object_set_new(b, "lead_email", json_string(email));
    json_object_set(b, "lead_name", json_object_get(b, "to_name"));
    json_object_set_new(b, "event_timestamp", jtime(t, T_Z_MS));
    json_object_set_new(b, "unsubscribed_client_id_map", json_object());
    json_object_set_new(b, "from_email", json_string(""));
    json_object_set_new(b, "sent_message",
                        json_pack("{s:n,s:s}", "message_id", "text", ""));
    snprintf(desc, sizeof desc, "Lead - %s unsubscribed from the campaign - %s",
             email, cname);
  } else if (!strcmp(type, "LEAD_CATEGORY_UPDATED")) {
    int nc = (int)geti(lead, "category_id");
    to_fields(b, lead);
    json_object_set_new(b, "lead_id", json_integer(geti(lead, "id")));
    json_object_set_new(b, "lead_email", json_string(email));
    json_object_set(b, "lead_name", json_object_get(b, "to_name"));
    json_object_set_new(b, "event_timestamp", jtime(t, T_Z_MS));
    json_object_set_new(b, "created_at", jtime(t, T_Z_MS));
    json_object_set_new(b, "category", json_string(sl_category_name(nc)));
    json_object_set_new(b, "lead_category_id", json_integer(nc));
    json_object_set_new(
        b, "lead_category",
        json_pack("{s:o,s:o,s:i,s:s}", "old_id",
                  old_cat ? json_integer(old_cat) : json_null(), "old_name",
                  old_cat ? json_string(sl_category_name(old_cat))
                          : json_null(),
                  "new_id", nc, "new_name", sl_category_name(nc)));
    json_object_set_new(b, "lead_data",
                        json_pack("{s:s,s:s,s:s,s:s}", "email", email,
                                  "first_name", str_of(lead, "first_name"),
                                  "last_name", str_of(lead, "last_name"),
                                  "company_name", str_of(lead, "company")));
    snprintf(desc, sizeof desc, "Lead category of %s updated to %s", email,
             sl_category_name(nc));
  } else {
    desc[0] = '\0';
  }
  json_object_set_new(b, "description", json_string(desc));
  return b;
}

static void add_event(struct sl_emu *e, const char *type, size_t lead_idx,
                      json_t *lead, const json_t *s, const json_t *reply,
                      int64_t t, int old_cat) {
  json_t *body = webhook_body(e, type, lead, s, reply, t, old_cat);
  json_array_append_new(
      e->events,
      json_pack("{s:s,s:I,s:s,s:I,s:I,s:o,s:s,s:b,s:i}", "type", type, "lead",
                (json_int_t)lead_idx, "email", str_of(lead, "email"),
                "campaign_id", (json_int_t)geti(lead, "campaign_id"), "time_us",
                (json_int_t)t, "body", body, "fate", "pending", "duplicate", 0,
                "posts", 0));
  json_object_set_new(lead, "last_event_us", json_integer(t));
}

/* One random action for a lead at time t; false when none applies. */
static bool lead_action(struct sl_emu *e, size_t li, json_t *lead, int64_t t) {
  if (json_is_true(json_object_get(lead, "terminal")))
    return false;
  json_t *mine[8];
  size_t n = 0;
  size_t i;
  json_t *s;
  json_array_foreach(e->sent, i, s) {
    if ((size_t)geti(s, "lead") == li && n < 8)
      mine[n++] = s;
  }
  json_t *last = n ? mine[n - 1] : NULL;
  double r = sl_rand01(e) * 11.0;
  if (!last || (r < 3.0 && geti(lead, "seq") < 4)) {
    json_t *ns = new_sent(e, li, lead, t);
    add_event(e, "EMAIL_SENT", li, lead, ns, NULL, t, 0);
    json_decref(ns);
    return true;
  }
  json_t *pick = mine[sl_rand(e) % n];
  if (r < 6.0) {
    if (geti(pick, "open_us") || json_is_true(json_object_get(pick, "bounced")))
      return false;
    json_object_set_new(pick, "open_us", json_integer(t));
    add_event(e, "EMAIL_OPEN", li, lead, pick, NULL, t, 0);
    return true;
  }
  if (r < 7.5) {
    if (!geti(pick, "open_us") || geti(pick, "click_us"))
      return false;
    json_object_set_new(pick, "click_us", json_integer(t));
    add_event(e, "EMAIL_LINK_CLICK", li, lead, pick, NULL, t, 0);
    return true;
  }
  if (r < 9.3) {
    json_t *reps = json_object_get(pick, "replies");
    if (json_array_size(reps) >= 2 ||
        json_is_true(json_object_get(pick, "bounced")))
      return false;
    char rid[128];
    snprintf(rid, sizeof rid, "<reply-%016" PRIx64 "@mail.example.com>",
             sl_rand(e));
    json_t *rep =
        json_pack("{s:s,s:I}", "message_id", rid, "time_us", (json_int_t)t);
    json_array_append(reps, rep);
    add_event(e, "EMAIL_REPLY", li, lead, pick, rep, t, 0);
    json_decref(rep);
    return true;
  }
  if (r < 9.6) {
    if (geti(last, "open_us") ||
        json_array_size(json_object_get(last, "replies")))
      return false;
    json_object_set_new(last, "bounced", json_true());
    json_object_set_new(last, "bounce_us", json_integer(t));
    json_object_set_new(lead, "terminal", json_true());
    add_event(e, "EMAIL_BOUNCE", li, lead, last, NULL, t, 0);
    return true;
  }
  if (r < 10.6) {
    /* At most one category change per lead: the API reports only the
     * current category, so an intermediate one cannot be recovered. */
    if (geti(lead, "category_id"))
      return false;
    int nc = 1 + (int)(sl_rand(e) % N_CATEGORIES);
    json_object_set_new(lead, "category_id", json_integer(nc));
    json_object_set_new(lead, "category_us", json_integer(t));
    add_event(e, "LEAD_CATEGORY_UPDATED", li, lead, NULL, NULL, t, 0);
    return true;
  }
  json_object_set_new(lead, "unsubscribed", json_true());
  json_object_set_new(lead, "unsub_us", json_integer(t));
  json_object_set_new(lead, "terminal", json_true());
  add_event(e, "LEAD_UNSUBSCRIBED", li, lead, NULL, NULL, t, 0);
  return true;
}

json_t *sl_generate_locked(struct sl_emu *e, const json_t *req, char *err,
                           size_t errlen) {
  json_int_t seed = 1, nc = 2, nl = 200, ne = 1000;
  json_int_t start = 0, step_ms = 2000;
  if (json_unpack((json_t *)req, "{s?I,s?I,s?I,s?I,s?I,s?I}", "seed", &seed,
                  "campaigns", &nc, "leads", &nl, "events", &ne, "start_us",
                  &start, "step_ms", &step_ms) ||
      nc < 1 || nc > 100 || nl < 1 || nl > 100000 || ne < 0 || ne > 1000000 ||
      step_ms < 1) {
    snprintf(err, errlen,
             "want {seed, campaigns 1..100, leads 1..100000, "
             "events, start_us, step_ms}");
    return NULL;
  }
  e->rng = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 1;
  int64_t now = ls_now_us();
  if (!start)
    start = now - ne * step_ms * 1000 - 60 * 1000000LL;
  size_t camp0 = json_array_size(e->campaigns);
  if (camp0 == 0) {
    for (json_int_t c = 0; c < nc; c++) {
      char name[64];
      snprintf(name, sizeof name, "Demo campaign %d", (int)c + 1);
      json_array_append_new(e->campaigns,
                            json_pack("{s:I,s:I,s:s,s:s,s:I,s:o,s:o}", "id",
                                      (json_int_t)(3000001 + c), "user_id",
                                      (json_int_t)90001, "name", name, "status",
                                      "ACTIVE", "client_id", (json_int_t)501,
                                      "created_at", jtime(start, T_Z_MS),
                                      "updated_at", jtime(now, T_Z_MS)));
    }
  }
  size_t ncamp = json_array_size(e->campaigns);
  size_t lead0 = json_array_size(e->leads);
  for (json_int_t l = 0; l < nl; l++) {
    size_t idx = lead0 + (size_t)l;
    char email[96], company[64];
    snprintf(email, sizeof email, "lead%05zu@prospect-example.com", idx + 1);
    snprintf(company, sizeof company, "Prospect %zu", idx + 1);
    json_t *camp = json_array_get(e->campaigns, idx % ncamp);
    json_array_append_new(
        e->leads,
        json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:I,s:i,s:i,s:b,s:b,s:I}", "id",
                  (json_int_t)(4100000001LL + (json_int_t)idx), "map_id",
                  (json_int_t)(3300000001LL + (json_int_t)idx), "email", email,
                  "first_name", first_names[idx % 8], "last_name",
                  last_names[(idx / 8) % 8], "company", company, "campaign_id",
                  (json_int_t)geti(camp, "id"), "category_id", 0, "seq", 0,
                  "unsubscribed", 0, "terminal", 0, "last_event_us",
                  (json_int_t)0));
  }
  size_t nleads = json_array_size(e->leads);
  json_int_t made = 0;
  int64_t t = start;
  /* Every new lead gets its first email, then random activity. */
  for (size_t li = lead0; li < nleads && made < ne; li++, made++) {
    t += step_ms * 1000 + (int64_t)(sl_rand(e) % 1000) * 1000 + 123;
    lead_action(e, li, json_array_get(e->leads, li), t);
  }
  long stuck = 0;
  while (made < ne && stuck < 100000) {
    size_t li =
        lead0 + (size_t)(sl_rand(e) % (nleads - lead0 ? nleads - lead0 : 1));
    if (li >= nleads)
      break;
    int64_t nt = t + step_ms * 1000 + (int64_t)(sl_rand(e) % 1000) * 1000 + 7;
    if (lead_action(e, li, json_array_get(e->leads, li), nt)) {
      t = nt;
      made++;
      stuck = 0;
    } else {
      stuck++;
    }
  }
  return json_pack("{s:I,s:I,s:I,s:I}", "events", made, "leads",
                   (json_int_t)json_array_size(e->leads), "campaigns",
                   (json_int_t)ncamp, "last_time_us", (json_int_t)t);
}

/* -- delivery ------------------------------------------------------------ */

struct post {
  size_t ev;
  char *url;
  char *body;
  bool shadow;
};

static size_t discard(char *p, size_t s, size_t n, void *u) {
  (void)p;
  (void)u;
  return s * n;
}

static long post_json(CURL *h, const char *url, const char *body) {
  struct curl_slist *hd =
      curl_slist_append(NULL, "Content-Type: application/json");
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  long code = 0;
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(hd);
  return code;
}

/* The URL a campaign's event goes to: the campaign's own webhook for that
 * type, else the user-level default. "" when nobody listens. */
static const char *target_url(struct sl_emu *e, const json_t *ev,
                              json_t **hook) {
  size_t i;
  json_t *w;
  *hook = NULL;
  json_array_foreach(e->webhooks, i, w) {
    if (geti(w, "campaign_id") != geti(ev, "campaign_id"))
      continue;
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(w, "event_types"), k, t) {
      if (!strcmp(json_string_value(t) ? json_string_value(t) : "",
                  str_of(ev, "type"))) {
        *hook = w;
        return str_of(w, "webhook_url");
      }
    }
  }
  return e->webhook_url;
}

static double fault_d(struct sl_emu *e, const char *k) {
  json_t *v = json_object_get(e->faults, k);
  return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* Decides the fate of the pending events: exact counts from the fractions,
 * whole leads first for drop_leads. */
static void assign_fates(struct sl_emu *e, size_t *pending, size_t np) {
  size_t n_drop = (size_t)llround(fault_d(e, "drop") * (double)np);
  size_t n_dup = (size_t)llround(fault_d(e, "duplicate") * (double)np);
  size_t n_sh = (size_t)llround(fault_d(e, "shadow") * (double)np);
  double dl = fault_d(e, "drop_leads");
  size_t dropped = 0;
  if (dl > 0) {
    size_t nleads = json_array_size(e->leads);
    size_t want = (size_t)llround(dl * (double)nleads);
    if (!want)
      want = 1;
    for (size_t k = 0; k < want && dropped < n_drop; k++) {
      size_t li = (size_t)(sl_rand(e) % nleads);
      for (size_t j = 0; j < np; j++) {
        json_t *ev = json_array_get(e->events, pending[j]);
        if ((size_t)geti(ev, "lead") == li &&
            !strcmp(str_of(ev, "fate"), "pending")) {
          json_object_set_new(ev, "fate", json_string("dropped"));
          json_object_set_new(ev, "lead_dropped", json_true());
          dropped++;
        }
      }
    }
  }
  /* Shuffle then take from the front. */
  for (size_t j = np; j > 1; j--) {
    size_t k = (size_t)(sl_rand(e) % j);
    size_t tmp = pending[j - 1];
    pending[j - 1] = pending[k];
    pending[k] = tmp;
  }
  size_t dups = 0, sh = 0;
  for (size_t j = 0; j < np; j++) {
    json_t *ev = json_array_get(e->events, pending[j]);
    if (strcmp(str_of(ev, "fate"), "pending"))
      continue;
    if (dropped < n_drop) {
      json_object_set_new(ev, "fate", json_string("dropped"));
      dropped++;
    } else if (sh < n_sh) {
      json_object_set_new(ev, "fate", json_string("shadowed"));
      sh++;
    } else {
      json_object_set_new(ev, "fate", json_string("delivered"));
      if (dups < n_dup) {
        json_object_set_new(ev, "duplicate", json_true());
        dups++;
      }
    }
  }
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

json_t *sl_deliver(struct sl_emu *e, const json_t *req) {
  const char *only = json_string_value(json_object_get(req, "redeliver"));
  /* "duplicates": the held second copies; hold_duplicates keeps them back
   * from the first delivery. */
  bool dups_only = only && !strcmp(only, "duplicates");
  bool hold = json_is_true(json_object_get(req, "hold_duplicates"));
  if (dups_only)
    only = NULL;
  pthread_mutex_lock(&e->mu);
  size_t nev = json_array_size(e->events);
  size_t *pending = calloc(nev ? nev : 1, sizeof *pending);
  size_t np = 0;
  for (size_t i = 0; i < nev; i++) {
    json_t *ev = json_array_get(e->events, i);
    if (dups_only ? json_is_true(json_object_get(ev, "duplicate")) &&
                        !strcmp(str_of(ev, "fate"), "delivered")
        : only ? !strcmp(str_of(ev, "fate"), only)
               : !strcmp(str_of(ev, "fate"), "pending"))
      pending[np++] = i;
  }
  if (!only && !dups_only)
    assign_fates(e, pending, np);
  qsort(pending, np, sizeof *pending, cmp_size);
  const char *shadow =
      json_string_value(json_object_get(e->faults, "shadow_url"));
  int delay_ms = (int)fault_d(e, "delay_ms");
  struct post *posts = calloc(np * 2 + 1, sizeof *posts);
  size_t npost = 0, ndup = 0;
  for (size_t j = 0; j < np; j++) {
    json_t *ev = json_array_get(e->events, pending[j]);
    const char *fate = str_of(ev, "fate");
    bool sh = !strcmp(fate, "shadowed");
    if (!only && !sh && strcmp(fate, "delivered"))
      continue;
    if (dups_only && sh)
      continue;
    json_t *hook = NULL;
    const char *url = target_url(e, ev, &hook);
    if (sh)
      url = shadow ? shadow : "";
    if (only)
      json_object_set_new(ev, "fate", json_string("late"));
    if (!url[0]) {
      /* Nobody listens for this type: lost as surely as a drop. */
      json_object_set_new(ev, "fate", json_string("unheard"));
      continue;
    }
    json_t *body = json_deep_copy(json_object_get(ev, "body"));
    json_object_set_new(body, "webhook_url", json_string(url));
    json_object_set_new(body, "webhook_id",
                        json_integer(hook ? geti(hook, "id") : 1));
    json_object_set_new(
        body, "webhook_name",
        json_string(hook ? str_of(hook, "name") : "user-level"));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    posts[npost++] = (struct post){pending[j], strdup(url), text, sh};
    if (json_is_true(json_object_get(ev, "duplicate")) && !only)
      ndup++;
  }
  /* Duplicates go out again at the end, as a retry would. */
  size_t base = npost;
  for (size_t j = 0; j < base; j++) {
    json_t *ev = json_array_get(e->events, posts[j].ev);
    if (!only && !dups_only && !hold &&
        json_is_true(json_object_get(ev, "duplicate")))
      posts[npost++] = (struct post){posts[j].ev, strdup(posts[j].url),
                                     strdup(posts[j].body), posts[j].shadow};
  }
  pthread_mutex_unlock(&e->mu);

  int dup_delay_ms = (int)fault_d(e, "duplicate_delay_ms");
  CURL *h = curl_easy_init();
  long ok = 0, failed = 0, shadowed = 0;
  for (size_t j = 0; j < npost; j++) {
    if (j == base && base < npost && dup_delay_ms > 0) {
      /* The copies come later, as a retry after a timeout would. */
      struct timespec ts = {dup_delay_ms / 1000,
                            (dup_delay_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    if (delay_ms > 0) {
      struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
    }
    long code = 0;
    /* Smartlead retries a failed delivery a few times. */
    for (int attempt = 0; attempt < 3 && (code < 200 || code > 299); attempt++)
      code = post_json(h, posts[j].url, posts[j].body);
    pthread_mutex_lock(&e->mu);
    json_t *ev = json_array_get(e->events, posts[j].ev);
    json_object_set_new(ev, "posts", json_integer(geti(ev, "posts") + 1));
    if (code < 200 || code > 299)
      json_object_set_new(ev, "failed_posts",
                          json_integer(geti(ev, "failed_posts") + 1));
    pthread_mutex_unlock(&e->mu);
    if (posts[j].shadow)
      shadowed++;
    if (code >= 200 && code <= 299)
      ok++;
    else
      failed++;
    free(posts[j].url);
    free(posts[j].body);
  }
  curl_easy_cleanup(h);
  free(posts);
  free(pending);

  pthread_mutex_lock(&e->mu);
  json_t *sum = json_object();
  size_t i;
  json_t *ev;
  json_t *fates = json_object();
  json_array_foreach(e->events, i, ev) {
    const char *f = str_of(ev, "fate");
    json_object_set_new(fates, f, json_integer(geti(fates, f) + 1));
  }
  json_object_set_new(sum, "fates", fates);
  json_object_set_new(sum, "posts", json_integer((json_int_t)npost));
  json_object_set_new(sum, "posts_ok", json_integer(ok));
  json_object_set_new(sum, "posts_failed", json_integer(failed));
  json_object_set_new(sum, "posts_shadowed", json_integer(shadowed));
  json_object_set_new(sum, "duplicated", json_integer((json_int_t)ndup));
  sl_count(e, "webhooks", "posts", (long)npost);
  sl_count(e, "webhooks", "failed", failed);
  pthread_mutex_unlock(&e->mu);
  return sum;
}

/* -- API answers --------------------------------------------------------- */

json_t *sl_api_campaigns(struct sl_emu *e) {
  json_t *a = json_array();
  size_t i;
  json_t *c;
  json_array_foreach(e->campaigns, i, c) {
    json_t *o = json_deep_copy(c);
    json_array_append_new(a, o);
  }
  return a;
}

static bool parse_id(const char *s, int64_t *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v <= 0)
    return false;
  *out = v;
  return true;
}

static json_t *not_found(int *status, const char *what) {
  *status = 404;
  return json_pack("{s:s}", "message", what);
}

json_t *sl_api_lead_statistics(struct sl_emu *e, const char *cid,
                               const char *event_time_gt, long offset,
                               long limit, int *status) {
  int64_t id, gt = 0;
  if (!parse_id(cid, &id) || !campaign_by_id(e, id))
    return not_found(status, "Campaign not found");
  if (event_time_gt && *event_time_gt && !ls_time_parse(event_time_gt, &gt)) {
    *status = 400;
    return json_pack("{s:s}", "message",
                     "\"event_time_gt\" must be a valid "
                     "date");
  }
  if (limit <= 0 || limit > 100) {
    *status = 400;
    return json_pack("{s:s}", "message",
                     "\"limit\" must be less than or equal to 100");
  }
  json_t *rows = json_array();
  long total = 0;
  size_t i;
  json_t *l;
  json_array_foreach(e->leads, i, l) {
    if (geti(l, "campaign_id") != id || !geti(l, "last_event_us") ||
        geti(l, "last_event_us") <= gt)
      continue;
    if (total++ < offset || (long)json_array_size(rows) >= limit)
      continue;
    int cat = (int)geti(l, "category_id");
    json_array_append_new(
        rows,
        json_pack(
            "{s:I,s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:o}", "lead_id",
            (json_int_t)geti(l, "id"), "campaign_lead_map_id",
            (json_int_t)geti(l, "map_id"), "email", str_of(l, "email"),
            "first_name", str_of(l, "first_name"), "last_name",
            str_of(l, "last_name"), "company_name", str_of(l, "company"),
            "lead_category_id", cat ? json_integer(cat) : json_null(),
            "category", cat ? json_string(sl_category_name(cat)) : json_null(),
            "status",
            json_is_true(json_object_get(l, "unsubscribed")) ? "UNSUBSCRIBED"
                                                             : "INPROGRESS",
            "last_event_time", jtime(geti(l, "last_event_us"), T_Z_MS)));
  }
  *status = 200;
  return json_pack("{s:i,s:i,s:i,s:o}", "total_count", (int)total, "offset",
                   (int)offset, "limit", (int)limit, "data", rows);
}

json_t *sl_api_statistics(struct sl_emu *e, const char *cid, long offset,
                          long limit, int *status) {
  int64_t id;
  if (!parse_id(cid, &id) || !campaign_by_id(e, id))
    return not_found(status, "Campaign not found");
  if (limit <= 0 || limit > 100) {
    *status = 400;
    return json_pack("{s:s}", "message",
                     "\"limit\" must be less than or equal to 100");
  }
  json_t *rows = json_array();
  long total = 0;
  size_t i;
  json_t *s;
  json_array_foreach(e->sent, i, s) {
    json_t *l = json_array_get(e->leads, (size_t)geti(s, "lead"));
    if (geti(l, "campaign_id") != id)
      continue;
    if (total++ < offset || (long)json_array_size(rows) >= limit)
      continue;
    int cat = (int)geti(l, "category_id");
    json_t *reps = json_object_get(s, "replies");
    int64_t rt =
        json_array_size(reps)
            ? geti(json_array_get(reps, json_array_size(reps) - 1), "time_us")
            : 0;
    char name[96];
    snprintf(name, sizeof name, "%s %s", str_of(l, "first_name"),
             str_of(l, "last_name"));
    json_array_append_new(
        rows,
        json_pack("{s:s,s:s,s:I,s:o,s:i,s:s,s:s,s:o,s:o,s:o,s:o,s:i,s:i,s:b,"
                  "s:b}",
                  "lead_name", name, "lead_email", str_of(l, "email"),
                  "lead_id", (json_int_t)geti(l, "id"), "lead_category",
                  cat ? json_string(sl_category_name(cat)) : json_null(),
                  "sequence_number", (int)geti(s, "seq"), "stats_id",
                  str_of(s, "stats_id"), "email_subject", str_of(s, "subject"),
                  "sent_time", jtime(geti(s, "time_us"), T_Z_MS), "open_time",
                  geti(s, "open_us") ? jtime(geti(s, "open_us"), T_Z_MS)
                                     : json_null(),
                  "click_time",
                  geti(s, "click_us") ? jtime(geti(s, "click_us"), T_Z_MS)
                                      : json_null(),
                  "reply_time", rt ? jtime(rt, T_Z_MS) : json_null(),
                  "open_count", geti(s, "open_us") ? 1 : 0, "click_count",
                  geti(s, "click_us") ? 1 : 0, "is_unsubscribed",
                  json_is_true(json_object_get(l, "unsubscribed")),
                  "is_bounced", json_is_true(json_object_get(s, "bounced"))));
  }
  *status = 200;
  char tot[32];
  snprintf(tot, sizeof tot, "%ld", total);
  return json_pack("{s:s,s:i,s:i,s:o}", "total_stats", tot, "offset",
                   (int)offset, "limit", (int)limit, "data", rows);
}

json_t *sl_api_message_history(struct sl_emu *e, const char *cid,
                               const char *lead_id, int *status) {
  int64_t id, lid;
  if (!parse_id(cid, &id) || !campaign_by_id(e, id))
    return not_found(status, "Campaign not found");
  if (!parse_id(lead_id, &lid))
    return not_found(status, "Lead not found");
  size_t li = 0;
  json_t *lead = NULL, *l;
  size_t i;
  json_array_foreach(e->leads, i, l) {
    if (geti(l, "id") == lid && geti(l, "campaign_id") == id) {
      lead = l;
      li = i;
    }
  }
  if (!lead)
    return not_found(status, "Lead not found in campaign");
  json_t *hist = json_array();
  json_t *s;
  json_array_foreach(e->sent, i, s) {
    if ((size_t)geti(s, "lead") != li)
      continue;
    json_array_append_new(
        hist,
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:i,s:i,s:i}", "stats_id",
                  str_of(s, "stats_id"), "from", "alex@outreach-example.com",
                  "to", str_of(lead, "email"), "type", "SENT", "time",
                  jtime(geti(s, "time_us"), T_Z_MS), "message_id",
                  str_of(s, "message_id"), "subject", str_of(s, "subject"),
                  "email_seq_number", (int)geti(s, "seq"), "open_count",
                  geti(s, "open_us") ? 1 : 0, "click_count",
                  geti(s, "click_us") ? 1 : 0));
    size_t k;
    json_t *r;
    json_array_foreach(json_object_get(s, "replies"), k, r) {
      json_array_append_new(
          hist,
          json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:s}", "stats_id",
                    str_of(s, "stats_id"), "from", str_of(lead, "email"), "to",
                    "alex@outreach-example.com", "type", "REPLY", "time",
                    jtime(geti(r, "time_us"), T_Z_MS), "message_id",
                    str_of(r, "message_id"), "subject", str_of(s, "subject"),
                    "email_body", "<div>Thanks, tell me more.</div>"));
    }
  }
  *status = 200;
  return json_pack("{s:o,s:s,s:s}", "history", hist, "from",
                   "alex@outreach-example.com", "to", str_of(lead, "email"));
}

json_t *sl_api_lead_by_email(struct sl_emu *e, const char *email, int *status) {
  size_t i;
  json_t *l;
  json_array_foreach(e->leads, i, l) {
    if (email && !strcasecmp(str_of(l, "email"), email)) {
      json_t *c = campaign_by_id(e, geti(l, "campaign_id"));
      int cat = (int)geti(l, "category_id");
      *status = 200;
      return json_pack(
          "{s:I,s:s,s:s,s:s,s:s,s:[{s:I,s:s,s:I,s:o,s:s}]}", "id",
          (json_int_t)geti(l, "id"), "email", str_of(l, "email"), "first_name",
          str_of(l, "first_name"), "last_name", str_of(l, "last_name"),
          "company_name", str_of(l, "company"), "lead_campaign_data",
          "campaign_id", (json_int_t)geti(l, "campaign_id"), "campaign_name",
          str_of(c, "name"), "campaign_lead_map_id",
          (json_int_t)geti(l, "map_id"), "lead_category_id",
          cat ? json_integer(cat) : json_null(), "status",
          json_is_true(json_object_get(l, "unsubscribed")) ? "UNSUBSCRIBED"
                                                           : "INPROGRESS");
    }
  }
  *status = 200;
  return json_object(); /* Smartlead answers an unknown address with {} */
}
