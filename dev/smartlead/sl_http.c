/* sl_http.c: routes, api_key auth, the 10-per-2-s limit, faults and the
 * test-only admin endpoints, over libmicrohttpd. */
#include "sl_emu.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_http.h"
#include "ls_time.h"

static enum MHD_Result send_json(struct MHD_Connection *c, int status,
                                 json_t *body, int retry_after) {
  char *text = json_dumps(body, JSON_COMPACT);
  json_decref(body);
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(text), text, MHD_RESPMEM_MUST_FREE);
  MHD_add_response_header(r, "Content-Type", "application/json");
  if (retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry_after);
    MHD_add_response_header(r, "Retry-After", ra);
  }
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

static const char *q(struct MHD_Connection *c, const char *k) {
  return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}

static long qlong(struct MHD_Connection *c, const char *k, long dflt) {
  const char *s = q(c, k);
  if (!s || !*s)
    return dflt;
  char *end;
  long v = strtol(s, &end, 10);
  return *end ? -1 : v;
}

static size_t split(char *path, char *seg[], size_t max) {
  size_t n = 0;
  char *save = NULL;
  for (char *s = strtok_r(path, "/", &save); s && n < max;
       s = strtok_r(NULL, "/", &save))
    seg[n++] = s;
  return n;
}

/* Sliding window over accepted calls; true when one more is allowed. */
static bool rate_ok(struct sl_emu *e, int64_t now_ms, int *retry_s) {
  if (e->rate_requests <= 0)
    return true;
  while (e->ring_len && now_ms - e->ring[e->ring_head] >= e->rate_window_ms) {
    e->ring_head = (e->ring_head + 1) % SL_RATE_RING;
    e->ring_len--;
  }
  if ((int)e->ring_len >= e->rate_requests) {
    int64_t wait = e->rate_window_ms - (now_ms - e->ring[e->ring_head]);
    *retry_s = (int)((wait + 999) / 1000);
    if (*retry_s < 1)
      *retry_s = 1;
    return false;
  }
  e->ring[(e->ring_head + e->ring_len) % SL_RATE_RING] = now_ms;
  if (e->ring_len < SL_RATE_RING)
    e->ring_len++;
  return true;
}

static json_t *state_json(struct sl_emu *e) {
  json_t *leads = json_array(), *events = json_array();
  size_t i;
  json_t *l, *ev;
  json_array_foreach(e->leads, i, l) {
    int cat = (int)json_integer_value(json_object_get(l, "category_id"));
    json_array_append_new(
        leads,
        json_pack("{s:O,s:O,s:O,s:o,s:O}", "id", json_object_get(l, "id"),
                  "email", json_object_get(l, "email"), "campaign_id",
                  json_object_get(l, "campaign_id"), "category",
                  cat ? json_string(sl_category_name(cat)) : json_null(),
                  "unsubscribed", json_object_get(l, "unsubscribed")));
  }
  json_array_foreach(e->events, i, ev) {
    json_t *o = json_pack(
        "{s:O,s:O,s:O,s:O,s:O,s:O}", "type", json_object_get(ev, "type"),
        "email", json_object_get(ev, "email"), "campaign_id",
        json_object_get(ev, "campaign_id"), "fate", json_object_get(ev, "fate"),
        "duplicate", json_object_get(ev, "duplicate"), "posts",
        json_object_get(ev, "posts"));
    json_object_set(o, "body", json_object_get(ev, "body"));
    if (json_object_get(ev, "lead_dropped"))
      json_object_set_new(o, "lead_dropped", json_true());
    json_array_append_new(events, o);
  }
  return json_pack("{s:{s:s,s:i,s:i,s:b,s:i,s:s},s:O,s:O,s:O,s:o,s:o,s:O}",
                   "config", "api_base_path", SL_API_PREFIX, "rate_requests",
                   e->rate_requests, "rate_window_ms", e->rate_window_ms,
                   "retry_after", e->retry_after, "latency_ms", e->latency_ms,
                   "webhook_url", e->webhook_url, "faults", e->faults,
                   "counters", e->counters, "campaigns", e->campaigns, "leads",
                   leads, "events", events, "webhooks", e->webhooks);
}

static int admin(struct sl_emu *e, const char *method, char **seg, size_t n,
                 json_t *in, json_t **out) {
  const char *what = n > 1 ? seg[1] : "";
  char err[200];
  if (!strcmp(method, "GET") && !strcmp(what, "state")) {
    *out = state_json(e);
    return 200;
  }
  if (!strcmp(method, "POST") && !strcmp(what, "reset")) {
    sl_emu_reset_locked(e);
    json_decref(e->faults);
    e->faults = json_object();
    e->api_429_left = e->api_500_left = 0;
    *out = json_pack("{s:b}", "ok", 1);
    return 200;
  }
  if (!strcmp(what, "faults")) {
    if (!strcmp(method, "POST")) {
      if (!json_is_object(in)) {
        *out = json_pack("{s:s}", "message", "want a JSON object");
        return 400;
      }
      json_object_update(e->faults, in);
      json_t *v;
      if (json_is_integer(v = json_object_get(in, "api_429")))
        e->api_429_left = (int)json_integer_value(v);
      if (json_is_integer(v = json_object_get(in, "api_500")))
        e->api_500_left = (int)json_integer_value(v);
    }
    *out = json_pack("{s:O,s:i,s:i}", "faults", e->faults, "api_429_left",
                     e->api_429_left, "api_500_left", e->api_500_left);
    return 200;
  }
  if (!strcmp(method, "POST") && !strcmp(what, "config")) {
    json_t *v;
    if (json_is_string(v = json_object_get(in, "api_key")))
      snprintf(e->api_key, sizeof e->api_key, "%s", json_string_value(v));
    if (json_is_integer(v = json_object_get(in, "rate_requests"))) {
      e->rate_requests = (int)json_integer_value(v);
      e->ring_len = 0;
    }
    if (json_is_integer(v = json_object_get(in, "rate_window_ms")) &&
        json_integer_value(v) > 0)
      e->rate_window_ms = (int)json_integer_value(v);
    if (json_is_boolean(v = json_object_get(in, "retry_after")))
      e->retry_after = json_is_true(v);
    if (json_is_integer(v = json_object_get(in, "latency_ms")))
      e->latency_ms = (int)json_integer_value(v);
    if (json_is_string(v = json_object_get(in, "webhook_url")))
      snprintf(e->webhook_url, sizeof e->webhook_url, "%s",
               json_string_value(v));
    if (json_is_string(v = json_object_get(in, "secret_key")))
      snprintf(e->secret_key, sizeof e->secret_key, "%s", json_string_value(v));
    *out = json_pack("{s:b}", "ok", 1);
    return 200;
  }
  if (!strcmp(method, "POST") && !strcmp(what, "generate")) {
    *out = sl_generate_locked(e, in ? in : json_object(), err, sizeof err);
    if (!*out) {
      *out = json_pack("{s:s}", "message", err);
      return 400;
    }
    return 200;
  }
  if (!strcmp(method, "POST") && !strcmp(what, "sink")) {
    sl_count(e, "webhooks", "sink", 1);
    *out = json_pack("{s:b}", "ok", 1);
    return 200;
  }
  *out = json_pack("{s:s}", "message", "unknown admin endpoint");
  return 404;
}

static int api(struct sl_emu *e, struct MHD_Connection *c, const char *method,
               char **seg, size_t n, json_t *in, json_t **out) {
  /* seg[0..1] = "api","v1" */
  char key[160] = "";
  int status = 200;
  if (n == 3 && !strcmp(seg[2], "campaigns") && !strcmp(method, "GET")) {
    snprintf(key, sizeof key, "GET /campaigns");
    *out = sl_api_campaigns(e);
  } else if (n == 4 && !strcmp(seg[2], "campaigns") && !strcmp(method, "GET")) {
    snprintf(key, sizeof key, "GET /campaigns/{id}");
    json_t *all = sl_api_campaigns(e);
    size_t i;
    json_t *x;
    *out = NULL;
    json_array_foreach(all, i, x) {
      char id[32];
      snprintf(id, sizeof id, "%" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(x, "id")));
      if (!strcmp(id, seg[3]))
        *out = json_incref(x);
    }
    json_decref(all);
    if (!*out) {
      status = 404;
      *out = json_pack("{s:s}", "message", "Campaign not found");
    }
  } else if (n == 5 && !strcmp(seg[2], "campaigns") &&
             !strcmp(seg[4], "webhooks")) {
    snprintf(key, sizeof key, "%s /campaigns/{id}/webhooks", method);
    long long cid = strtoll(seg[3], NULL, 10);
    if (!strcmp(method, "GET")) {
      *out = json_array();
      size_t i;
      json_t *w;
      json_array_foreach(e->webhooks, i, w) {
        if (json_integer_value(json_object_get(w, "campaign_id")) == cid) {
          json_t *o = json_deep_copy(w);
          json_object_del(o, "campaign_id");
          json_object_set_new(o, "email_campaign_id", json_integer(cid));
          json_array_append_new(*out, o);
        }
      }
    } else if (!strcmp(method, "POST")) {
      const json_t *cats = json_object_get(in, "categories");
      const char *url = json_string_value(json_object_get(in, "webhook_url"));
      if (!json_is_array(cats) || !json_array_size(cats)) {
        status = 400;
        *out = json_pack("{s:s}", "message",
                         "\"categories\" does not contain 1 required "
                         "value(s)");
      } else if (!url || !json_is_array(json_object_get(in, "event_types"))) {
        status = 400;
        *out = json_pack("{s:s}", "message",
                         "\"webhook_url\" and \"event_types\" are required");
      } else {
        char now[40];
        ls_time_format_ms(ls_now_us(), now, sizeof now);
        json_t *idv = json_object_get(in, "id");
        json_t *w = NULL;
        if (json_is_integer(idv)) {
          size_t i;
          json_t *x;
          json_array_foreach(e->webhooks, i, x) {
            if (json_integer_value(json_object_get(x, "id")) ==
                json_integer_value(idv))
              w = x;
          }
        }
        if (!w) {
          w = json_pack("{s:I,s:I,s:s}", "id", (json_int_t)e->next_webhook_id++,
                        "campaign_id", (json_int_t)cid, "created_at", now);
          json_array_append_new(e->webhooks, w);
        }
        json_t *nm = json_object_get(in, "name");
        json_object_set_new(
            w, "name", json_is_string(nm) ? json_incref(nm) : json_string(""));
        json_object_set_new(w, "webhook_url", json_string(url));
        json_object_set(w, "event_types", json_object_get(in, "event_types"));
        json_object_set(w, "categories", (json_t *)cats);
        json_object_set_new(w, "updated_at", json_string(now));
        *out = json_deep_copy(w);
        json_object_del(*out, "campaign_id");
        json_object_set_new(*out, "email_campaign_id", json_integer(cid));
      }
    } else {
      status = 405;
      *out = json_pack("{s:s}", "message", "method not allowed");
    }
  } else if (n == 5 && !strcmp(seg[2], "campaigns") &&
             !strcmp(seg[4], "lead-statistics") && !strcmp(method, "GET")) {
    snprintf(key, sizeof key, "GET /campaigns/{id}/lead-statistics");
    *out = sl_api_lead_statistics(e, seg[3], q(c, "event_time_gt"),
                                  qlong(c, "offset", 0), qlong(c, "limit", 100),
                                  &status);
  } else if (n == 5 && !strcmp(seg[2], "campaigns") &&
             !strcmp(seg[4], "statistics") && !strcmp(method, "GET")) {
    snprintf(key, sizeof key, "GET /campaigns/{id}/statistics");
    *out = sl_api_statistics(e, seg[3], qlong(c, "offset", 0),
                             qlong(c, "limit", 100), &status);
  } else if (n == 7 && !strcmp(seg[2], "campaigns") &&
             !strcmp(seg[4], "leads") && !strcmp(seg[6], "message-history") &&
             !strcmp(method, "GET")) {
    snprintf(key, sizeof key,
             "GET /campaigns/{id}/leads/{lead_id}/message-history");
    *out = sl_api_message_history(e, seg[3], seg[5], &status);
  } else if (n == 4 && !strcmp(seg[2], "leads") &&
             !strcmp(seg[3], "fetch-categories") && !strcmp(method, "GET")) {
    snprintf(key, sizeof key, "GET /leads/fetch-categories");
    *out = sl_api_categories();
  } else if (n == 3 && !strcmp(seg[2], "leads") && !strcmp(method, "GET")) {
    snprintf(key, sizeof key, "GET /leads");
    *out = sl_api_lead_by_email(e, q(c, "email"), &status);
  } else {
    snprintf(key, sizeof key, "unknown");
    status = 404;
    *out = json_pack("{s:s}", "message", "Cannot find the requested route");
  }
  sl_count(e, "api_calls", key, 1);
  return status;
}

/* Request bodies past this are answered 413. */
#define SL_MAX_BODY (8u * 1024u * 1024u)

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **ptr) {
  struct sl_emu *e = cls;
  dev_body *r;
  enum MHD_Result ret;
  if (dev_body_collect(c, ptr, upload, upload_size, SL_MAX_BODY, &r, &ret))
    return ret;
  if (r->too_large)
    return send_json(
        c, 413, json_pack("{s:s}", "message", "Request body too large"), 0);
  char path[1024];
  snprintf(path, sizeof path, "%s", url);
  char *seg[12];
  size_t n = split(path, seg, 12);
  json_t *in = NULL;
  if (r->len) {
    in = json_loadb(r->buf, r->len, 0, NULL);
    if (!in && strcmp(url, "/_emulator/sink"))
      return send_json(c, 400, json_pack("{s:s}", "message", "invalid JSON"),
                       0);
  }
  json_t *out = NULL;
  int status;
  if (n >= 1 && !strcmp(seg[0], "_emulator")) {
    if (n == 2 && !strcmp(seg[1], "deliver") && !strcmp(method, "POST")) {
      out = sl_deliver(e, in ? in : json_object());
      json_decref(in);
      return send_json(c, 200, out, 0);
    }
    pthread_mutex_lock(&e->mu);
    status = admin(e, method, seg, n, in, &out);
    pthread_mutex_unlock(&e->mu);
    json_decref(in);
    return send_json(c, status, out, 0);
  }
  if (n < 3 || strcmp(seg[0], "api") || strcmp(seg[1], "v1")) {
    json_decref(in);
    return send_json(
        c, 404,
        json_pack("{s:s}", "message", "Cannot find the requested route"), 0);
  }
  if (e->latency_ms > 0) {
    struct timespec ts = {e->latency_ms / 1000,
                          (e->latency_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
  pthread_mutex_lock(&e->mu);
  const char *k = q(c, "api_key");
  int retry = 0;
  if (!k || strcmp(k, e->api_key)) {
    sl_count(e, "api", "401", 1);
    status = 401;
    out = json_pack("{s:s}", "message", "Invalid API Key");
  } else if (e->api_429_left > 0) {
    e->api_429_left--;
    sl_count(e, "api", "429", 1);
    sl_count(e, "api", "429_injected", 1);
    status = 429;
    retry = e->retry_after ? 1 : 0;
    out = json_pack("{s:s}", "message", "Rate limit exceeded");
  } else if (!rate_ok(e, ls_mono_us() / 1000, &retry)) {
    sl_count(e, "api", "429", 1);
    status = 429;
    if (!e->retry_after)
      retry = 0;
    out = json_pack("{s:s}", "message", "Rate limit exceeded");
  } else if (e->api_500_left > 0) {
    e->api_500_left--;
    sl_count(e, "api", "500", 1);
    status = 500;
    out = json_pack("{s:s}", "message", "Internal server error");
  } else {
    status = api(e, c, method, seg, n, in, &out);
    sl_count(e, "api", "ok", 1);
  }
  pthread_mutex_unlock(&e->mu);
  json_decref(in);
  return send_json(c, status, out, retry);
}

int sl_http_start(struct sl_emu *e, const char *host, int port, int *bound,
                  void **daemon, char *err, size_t errlen) {
  return dev_http_start(host, port, on_request, e, 512, 300, bound,
                        (struct MHD_Daemon **)daemon, err, errlen);
}
