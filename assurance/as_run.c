/* as_run: one assurance pass for a tenant (docs/assurance.md "Algorithm"). */
#include "as.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_event.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_env.h"

#define AS_PAGE 100
#define AS_API_WAIT_MS 120000
#define AS_PROGRESS_EVERY 25

/* -- settings ------------------------------------------------------------ */

bool as_parse_duration(const char *s, int64_t *us) {
  if (!s || !*s)
    return false;
  char *end;
  double v = strtod(s, &end);
  if (end == s || v < 0)
    return false;
  double mul = 1;
  if (!strcmp(end, "") || !strcmp(end, "s"))
    mul = 1;
  else if (!strcmp(end, "m"))
    mul = 60;
  else if (!strcmp(end, "h"))
    mul = 3600;
  else if (!strcmp(end, "d"))
    mul = 86400;
  else
    return false;
  *us = (int64_t)(v * mul * 1e6);
  return true;
}

static bool dur_at(const json_t *o, const char *k, int64_t dflt, int64_t *us,
                   char *err, size_t errlen, const char *tenant) {
  const json_t *v = json_object_get(o, k);
  if (!v) {
    *us = dflt;
    return true;
  }
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *us = json_integer_value(v) * 1000000LL;
    return true;
  }
  if (json_is_string(v) && as_parse_duration(json_string_value(v), us))
    return true;
  snprintf(err, errlen,
           "tenant %s: smartlead.assurance.%s: want seconds or "
           "a duration like 15m, 6h, 2d",
           tenant, k);
  return false;
}

static json_t *id_list(const json_t *arr) {
  if (!json_is_array(arr))
    return NULL;
  json_t *out = json_array();
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    char id[32];
    ls_json_id(v, id, sizeof id);
    if (id[0])
      json_array_append_new(out, json_string(id));
  }
  return out;
}

bool as_tenant_load(const ls_tenant *t, as_tenant *out, char *err,
                    size_t errlen) {
  memset(out, 0, sizeof *out);
  out->tenant = t;
  const json_t *sl = json_object_get(t->json, "smartlead");
  if (!json_is_object(sl))
    return true; /* not assured */
  const char *benv = json_string_value(json_object_get(sl, "base_url_env"));
  const char *base = ls_env(benv);
  if (!base)
    base = json_string_value(json_object_get(sl, "base_url"));
  snprintf(out->base_url, sizeof out->base_url, "%s",
           base ? base : "https://server.smartlead.ai/api/v1");
  size_t bl = strlen(out->base_url);
  while (bl && out->base_url[bl - 1] == '/')
    out->base_url[--bl] = '\0';
  const char *kenv = json_string_value(json_object_get(sl, "api_key_env"));
  const char *kfile = json_string_value(json_object_get(sl, "api_key_file"));
  if (kenv) {
    snprintf(out->key_ref, sizeof out->key_ref, "env:%s", kenv);
    const char *v = ls_env(kenv);
    if (v)
      out->api_key = strdup(v);
  }
  if (!out->api_key && kfile) {
    snprintf(out->key_ref, sizeof out->key_ref, "file:%s", kfile);
    FILE *f = fopen(kfile, "r");
    if (f) {
      char buf[512];
      size_t n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = '\0';
      while (n && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
      if (n)
        out->api_key = strdup(buf);
    }
  }
  json_int_t budget = 8, window = 2000;
  const json_t *v = json_object_get(sl, "requests_per_window");
  if (json_is_integer(v))
    budget = json_integer_value(v);
  v = json_object_get(sl, "window_ms");
  if (json_is_integer(v))
    window = json_integer_value(v);
  if (budget < 1 || window < 1) {
    snprintf(err, errlen,
             "tenant %s: smartlead.requests_per_window and "
             "window_ms must be positive",
             t->id);
    return false;
  }
  out->budget = (int)budget;
  out->window_ms = (int)window;
  const json_t *as = json_object_get(sl, "assurance");
  if (!dur_at(as, "schedule", 15 * 60 * 1000000LL, &out->schedule_us, err,
              errlen, t->id) ||
      !dur_at(as, "lookback", 2 * 86400 * 1000000LL, &out->lookback_us, err,
              errlen, t->id))
    return false;
  const json_t *camps = json_object_get(as, "campaigns");
  out->include = id_list(json_object_get(camps, "include"));
  out->exclude = id_list(json_object_get(camps, "exclude"));
  if (json_is_false(json_object_get(as, "enabled"))) {
    free(out->api_key);
    out->api_key = NULL;
  }
  return true;
}

void as_tenant_free(as_tenant *t) {
  free(t->api_key);
  json_decref(t->include);
  json_decref(t->exclude);
  memset(t, 0, sizeof *t);
}

static bool listed(const json_t *list, const char *id) {
  size_t i;
  json_t *v;
  json_array_foreach(list, i,
                     v) if (!strcmp(json_string_value(v), id)) return true;
  return false;
}

/* -- progress -------------------------------------------------------------- */

int as_progress_put(rd_kafka_t *p, const char *tenant, json_t *value) {
  char *text = json_dumps(value, JSON_COMPACT);
  rd_kafka_resp_err_t e = rd_kafka_producev(
      p, RD_KAFKA_V_TOPIC(AS_TOPIC_PROGRESS), RD_KAFKA_V_PARTITION(0),
      RD_KAFKA_V_KEY(tenant, strlen(tenant)),
      RD_KAFKA_V_VALUE(text, strlen(text)),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  free(text);
  if (e)
    return -1;
  return rd_kafka_flush(p, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
}

/* -- producing a back-fill ------------------------------------------------ */

static int produce_backfill(as_env *env, const as_tenant *t, json_t *body,
                            as_known *known, int64_t since_us, as_result *res) {
  char *text = json_dumps(body, JSON_COMPACT);
  ls_event ev;
  if (ls_event_identify(body, text, strlen(text), t->tenant->id,
                        env->cfg->topic_prefix, &ev) != LS_OK) {
    free(text);
    return 0;
  }
  res->candidates++;
  if ((ev.event_time_us && ev.event_time_us < since_us) ||
      as_known_has(known, ev.event_id)) {
    free(text);
    return 0;
  }
  char src[200], now[40];
  snprintf(src, sizeof src, "/leadsync/%s/%s", env->role_name, t->tenant->id);
  ls_time_format_us(ls_now_us(), now, sizeof now);
  rd_kafka_headers_t *h = rd_kafka_headers_new(12);
  rd_kafka_header_add(h, "ce_specversion", -1, "1.0", -1);
  rd_kafka_header_add(h, "ce_id", -1, ev.event_id, -1);
  rd_kafka_header_add(h, "ce_source", -1, src, -1);
  rd_kafka_header_add(h, "ce_type", -1, ev.ce_type, -1);
  if (ev.event_time[0])
    rd_kafka_header_add(h, "ce_time", -1, ev.event_time, -1);
  rd_kafka_header_add(h, "content-type", -1, "application/json", -1);
  rd_kafka_header_add(h, "ce_tenant", -1, t->tenant->id, -1);
  rd_kafka_header_add(h, "ls_received_at", -1, now, -1);
  rd_kafka_header_add(h, "ls_backfill", -1, "1", -1);
  rd_kafka_resp_err_t e =
      kq_produce(env->producer, ev.topic, ev.key, strlen(ev.key), text,
                 strlen(text), h, NULL, -1, NULL);
  free(text);
  if (e) {
    rd_kafka_headers_destroy(h);
    ls_error("back-fill produce failed", "{s:s,s:s}", "tenant", t->tenant->id,
             "error", rd_kafka_err2str(e));
    return -1;
  }
  as_known_add(known, ev.event_id);
  res->backfilled++;
  char lab[200];
  snprintf(lab, sizeof lab, "tenant=\"%s\",event_type=\"%s\"", t->tenant->id,
           ev.type_name);
  ls_metrics_inc(env->metrics, AS_M_BACKFILLED, AS_H_BACKFILLED, lab, 1);
  return 0;
}

/* -- paging helpers -------------------------------------------------------- */

static const json_t *data_of(const json_t *doc) {
  if (json_is_array(doc))
    return doc;
  const json_t *d = json_object_get(doc, "data");
  return json_is_array(d) ? d : NULL;
}

/* All pages of a list call into one array; false when a page failed. */
static bool get_all(as_api *api, const char *what, const char *cid,
                    const char *extra, json_t *out, volatile int *stop) {
  for (long off = 0; !(stop && *stop); off += AS_PAGE) {
    char path[700];
    snprintf(path, sizeof path, "/campaigns/%s/%s", cid, what);
    size_t n = strlen(path);
    snprintf(path + n, sizeof path - n, "?offset=%ld&limit=%d%s", off, AS_PAGE,
             extra ? extra : "");
    json_t *doc = NULL;
    if (as_api_get(api, path, &doc, AS_API_WAIT_MS, stop) != 200)
      return false;
    const json_t *rows = data_of(doc);
    size_t got = json_array_size(rows);
    json_array_extend(out, (json_t *)(rows ? rows : json_array()));
    json_decref(doc);
    if (got < AS_PAGE)
      return true;
  }
  return false;
}

static void lower(char *s) {
  for (; *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

static const char *js(const json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

/* -- one campaign ------------------------------------------------------------
 */

struct run_ctx {
  as_env *env;
  const as_tenant *t;
  as_api *api;
  as_known *known;
  json_t *cat_names; /* id -> name */
  int64_t since_us;
  as_result *res;
  const char *run_id;
  json_t *done_campaigns;
  int64_t started_us;
};

static int write_progress(struct run_ctx *r, const char *state, const char *cid,
                          long leads_done) {
  if (rd_kafka_flush(r->env->producer, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return -1; /* back-fills not yet stored: do not claim progress */
  char now[40];
  ls_time_format_us(ls_now_us(), now, sizeof now);
  json_t *v = json_pack(
      "{s:s,s:s,s:I,s:I,s:O,s:s,s:I,s:s,s:I,s:I}", "run_id", r->run_id, "state",
      state, "since_us", (json_int_t)r->since_us, "started_us",
      (json_int_t)r->started_us, "campaigns_done", r->done_campaigns,
      "campaign", cid ? cid : "", "leads_done", (json_int_t)leads_done, "at",
      now, "backfilled", (json_int_t)r->res->backfilled, "api_calls",
      (json_int_t)as_api_calls(r->api));
  int rc = as_progress_put(r->env->producer, r->t->tenant->id, v);
  json_decref(v);
  return rc;
}

static int do_lead(struct run_ctx *r, const json_t *camp, const char *cid,
                   const json_t *lead, const json_t *rows) {
  char lead_id[32], map_id[32];
  ls_json_id(json_object_get(lead, "lead_id"), lead_id, sizeof lead_id);
  ls_json_id(json_object_get(lead, "campaign_lead_map_id"), map_id,
             sizeof map_id);
  as_lead_ctx l = {
      .campaign_id = cid,
      .campaign_name = js(camp, "name"),
      .campaign_status = js(camp, "status"),
      .client_id = json_object_get(camp, "client_id"),
      .lead_id = lead_id,
      .lead_map_id = map_id,
      .lead_email = js(lead, "email"),
      .lead_first = js(lead, "first_name"),
      .lead_last = js(lead, "last_name"),
  };
  json_t *bodies = json_array();
  size_t i;
  json_t *row;
  bool replied = false, unsub = !strcmp(js(lead, "status"), "UNSUBSCRIBED");
  json_array_foreach((json_t *)rows, i, row) {
    as_bodies_from_stats_row(&l, row, bodies);
    if (json_string_value(json_object_get(row, "reply_time")))
      replied = true;
    if (json_is_true(json_object_get(row, "is_unsubscribed")))
      unsub = true;
  }
  if (json_is_true(json_object_get(lead, "seen_reply")))
    replied = true;
  int rc = 0;
  if (replied && lead_id[0]) {
    char path[300];
    snprintf(path, sizeof path, "/campaigns/%s/leads/%s/message-history", cid,
             lead_id);
    json_t *hist = NULL;
    int st = as_api_get(r->api, path, &hist, AS_API_WAIT_MS, r->env->stop);
    if (st == 200) {
      /* The legacy shape ({history:[{stats_id,type,time,message_id}]}, as
       * in LEAD_CATEGORY_UPDATED's history) and the newer documentation's
       * ({messages:[{id,direction,sent_at|received_at}]}) both read. */
      json_t *entries = json_object_get(hist, "history");
      if (!json_is_array(entries))
        entries = json_object_get(hist, "messages");
      json_t *en;
      json_array_foreach(entries, i, en) {
        json_t *n = json_deep_copy(en);
        const char *dir = js(en, "direction");
        if (!*js(n, "type") && *dir)
          json_object_set_new(
              n, "type",
              json_string(!strcmp(dir, "inbound") ? "REPLY" : "SENT"));
        if (!*js(n, "time"))
          json_object_set_new(n, "time",
                              json_string(*js(en, "sent_at")
                                              ? js(en, "sent_at")
                                              : js(en, "received_at")));
        if (!*js(n, "message_id") && *js(en, "id"))
          json_object_set_new(n, "message_id", json_string(js(en, "id")));
        const char *type = js(n, "type");
        json_t *b = !strcmp(type, "REPLY")  ? as_body_reply(&l, n)
                    : !strcmp(type, "SENT") ? as_body_sent_from_history(&l, n)
                                            : NULL;
        json_decref(n);
        if (b)
          json_array_append_new(bodies, b);
      }
    } else if (st != 404) {
      rc = -1;
    }
    json_decref(hist);
  }
  const char *when = js(lead, "last_event_time");
  char nowbuf[40];
  if (!*when) {
    ls_time_format_us(ls_now_us(), nowbuf, sizeof nowbuf);
    when = nowbuf;
  }
  if (unsub)
    json_array_append_new(bodies, as_body_unsubscribed(&l, when));
  /* Category: the current one, when leadsync last saw another. */
  const json_t *cv = json_object_get(lead, "lead_category_id");
  if (json_is_integer(cv)) {
    char key[400], cur[32];
    snprintf(key, sizeof key, "%s\x1f%s", cid, l.lead_email);
    ls_json_id(cv, cur, sizeof cur);
    const char *seen =
        js(json_object_get(as_known_leads(r->known), key), "cat_id");
    if (strcmp(seen, cur)) {
      const char *cname = json_string_value(json_object_get(lead, "category"));
      if (!cname)
        cname = json_string_value(json_object_get(r->cat_names, cur));
      json_array_append_new(
          bodies,
          as_body_category(
              &l, seen, json_string_value(json_object_get(r->cat_names, seen)),
              json_integer_value(cv), cname, when));
    }
  }
  json_t *b;
  json_array_foreach(bodies, i, b) {
    if (produce_backfill(r->env, r->t, b, r->known, r->since_us, r->res))
      rc = -1;
  }
  json_decref(bodies);
  return rc;
}

static int cmp_email(const void *a, const void *b) {
  return strcmp(js(*(json_t *const *)a, "email"),
                js(*(json_t *const *)b, "email"));
}

static int do_campaign(struct run_ctx *r, const json_t *camp, const char *cid,
                       long skip_leads) {
  volatile int *stop = r->env->stop;
  json_t *leads = json_array(), *stats = json_array();
  char extra[120], since[40];
  ls_time_format_ms(r->since_us, since, sizeof since);
  snprintf(extra, sizeof extra, "&event_time_gt=%s", since);
  int rc = -1;
  if (!get_all(r->api, "lead-statistics", cid, extra, leads, stop) ||
      !get_all(r->api, "statistics", cid, NULL, stats, stop))
    goto out;
  /* Leads leadsync saw in the window but Smartlead did not list. */
  json_t *by_email = json_object();
  size_t i;
  json_t *l;
  json_array_foreach(leads, i, l) {
    char e[LS_EMAIL_MAX + 1];
    ls_normalize_email(js(l, "email"), e, sizeof e);
    json_object_set_new(l, "email", json_string(e));
    json_object_set(by_email, e, l);
  }
  const char *k;
  json_t *kl;
  size_t cl = strlen(cid);
  json_object_foreach(as_known_leads(r->known), k, kl) {
    if (strncmp(k, cid, cl) || k[cl] != '\x1f' ||
        json_object_get(by_email, k + cl + 1))
      continue;
    json_t *nl = json_pack("{s:s,s:s}", "email", k + cl + 1, "lead_id",
                           js(kl, "lead_id"));
    if (!*js(kl, "lead_id")) {
      /* Only the address is known (an unsubscribe carries no id). */
      char path[400];
      snprintf(path, sizeof path, "/leads/?email=%s", k + cl + 1);
      json_t *doc = NULL;
      if (as_api_get(r->api, path, &doc, AS_API_WAIT_MS, stop) == 200) {
        char id[32];
        ls_json_id(json_object_get(doc, "id"), id, sizeof id);
        json_object_set_new(nl, "lead_id", json_string(id));
      }
      json_decref(doc);
    }
    json_object_set_new(nl, "seen_reply", json_true());
    json_array_append(leads, nl);
    json_object_set_new(by_email, k + cl + 1, nl);
  }
  json_decref(by_email);
  /* Statistics rows by lead. */
  json_t *rows_by = json_object();
  json_t *row;
  json_array_foreach(stats, i, row) {
    char e[LS_EMAIL_MAX + 1];
    ls_normalize_email(js(row, "lead_email"), e, sizeof e);
    lower(e);
    json_t *a = json_object_get(rows_by, e);
    if (!a) {
      a = json_array();
      json_object_set_new(rows_by, e, a);
    }
    json_array_append(a, row);
  }
  /* A stable order, so a resumed run can skip what is done. */
  size_t n = json_array_size(leads);
  json_t **order = calloc(n ? n : 1, sizeof *order);
  for (i = 0; i < n; i++)
    order[i] = json_array_get(leads, i);
  qsort(order, n, sizeof *order, cmp_email);
  json_t *empty = json_array();
  rc = 0;
  for (i = (size_t)(skip_leads > 0 ? skip_leads : 0); i < n && !*stop; i++) {
    const json_t *rows = json_object_get(rows_by, js(order[i], "email"));
    if (do_lead(r, camp, cid, order[i], rows ? rows : empty))
      rc = -1;
    r->res->leads++;
    if ((i + 1) % AS_PROGRESS_EVERY == 0 && rc == 0 &&
        write_progress(r, "running", cid, (long)i + 1))
      rc = -1;
    if (rc)
      break;
  }
  if (*stop && i < n)
    rc = -1;
  json_decref(empty);
  free(order);
  json_decref(rows_by);
out:
  json_decref(leads);
  json_decref(stats);
  return rc;
}

int as_run_tenant(as_env *env, const as_tenant *t, int64_t since_us,
                  const json_t *progress, const char *run_id, as_result *res,
                  char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  struct run_ctx r = {.env = env,
                      .t = t,
                      .since_us = since_us,
                      .res = res,
                      .run_id = run_id,
                      .started_us = ls_now_us()};
  const char *resume_cid = NULL;
  long resume_leads = 0;
  r.done_campaigns = json_array();
  if (progress && !strcmp(js(progress, "state"), "running")) {
    r.since_us = json_integer_value(json_object_get(progress, "since_us"));
    r.run_id = js(progress, "run_id");
    if (json_integer_value(json_object_get(progress, "started_us")))
      r.started_us =
          json_integer_value(json_object_get(progress, "started_us"));
    json_array_extend(r.done_campaigns,
                      json_object_get(progress, "campaigns_done"));
    resume_cid = js(progress, "campaign");
    resume_leads =
        (long)json_integer_value(json_object_get(progress, "leads_done"));
    ls_info("resuming assurance run", "{s:s,s:s,s:s,s:I}", "tenant",
            t->tenant->id, "run_id", r.run_id, "campaign", resume_cid,
            "leads_done", (json_int_t)resume_leads);
  }
  int rc = -1;
  r.known = as_known_new(env->max_known_ids);
  r.api = as_api_new(t, env->metrics);
  json_t *camps = NULL, *cats = NULL;
  r.cat_names = json_object();
  /* Look back a little further than the window: a webhook may carry an
   * event time well before it reached Kafka. */
  if (as_known_load(r.known, env->cfg, t->tenant->id,
                    r.since_us - 3600 * 1000000LL, err, errlen))
    goto out;
  res->known_ids = (long)as_known_count(r.known);
  if (as_api_get(r.api, "/leads/fetch-categories", &cats, AS_API_WAIT_MS,
                 env->stop) == 200) {
    size_t i;
    json_t *c;
    json_array_foreach(data_of(cats), i, c) {
      char id[32];
      ls_json_id(json_object_get(c, "id"), id, sizeof id);
      if (id[0] && json_is_string(json_object_get(c, "name")))
        json_object_set(r.cat_names, id, json_object_get(c, "name"));
    }
  }
  if (as_api_get(r.api, "/campaigns", &camps, AS_API_WAIT_MS, env->stop) !=
      200) {
    snprintf(err, errlen, "GET /campaigns failed");
    goto out;
  }
  if (write_progress(&r, "running", resume_cid, resume_leads)) {
    snprintf(err, errlen, "cannot write progress");
    goto out;
  }
  const json_t *list = data_of(camps);
  size_t i;
  json_t *c;
  rc = 0;
  json_array_foreach(list, i, c) {
    char cid[32];
    ls_json_id(json_object_get(c, "id"), cid, sizeof cid);
    const char *status = js(c, "status");
    if (!cid[0] || !strcmp(status, "DRAFTED") ||
        (t->include && !listed(t->include, cid)) ||
        (t->exclude && listed(t->exclude, cid)) ||
        listed(r.done_campaigns, cid))
      continue;
    long skip = resume_cid && !strcmp(resume_cid, cid) ? resume_leads : 0;
    if (do_campaign(&r, c, cid, skip)) {
      rc = -1;
      snprintf(err, errlen, "campaign %s did not finish", cid);
      break;
    }
    res->campaigns++;
    json_array_append_new(r.done_campaigns, json_string(cid));
    if (write_progress(&r, "running", NULL, 0)) {
      rc = -1;
      snprintf(err, errlen, "cannot write progress");
      break;
    }
  }
  if (rc == 0) {
    if (write_progress(&r, "done", NULL, 0)) {
      rc = -1;
      snprintf(err, errlen, "cannot write progress");
    } else {
      res->completed = true;
    }
  }
out:
  res->api_calls = as_api_calls(r.api);
  res->api_429s = as_api_429s(r.api);
  json_decref(camps);
  json_decref(cats);
  json_decref(r.cat_names);
  json_decref(r.done_campaigns);
  as_api_free(r.api);
  as_known_free(r.known);
  return rc;
}
