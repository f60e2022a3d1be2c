/* con_http: routes, authentication, CSRF and the JSON API (see
 * docs/console.md for every endpoint and error). */
#include "con_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_sources.h"
#include "con_store.h"
#include "ls_event.h"
#include "ls_log.h"
#include "ls_ops.h"
#include "ls_time.h"

#define BODY_MAX (64 * 1024)
#define COOKIE_NAME "ls_session"

struct con_server {
  con_http_opts o;
  struct MHD_Daemon *d;
};

typedef struct {
  char *body;
  size_t len;
  bool too_big;
} req_ctx;

typedef struct {
  con_server *s;
  struct MHD_Connection *c;
  const char *method, *url;
  const char *body;
  size_t body_len;
  char peer[64];
  con_principal who;
  bool authed;
} req;

/* ---- responses ----------------------------------------------------- */

static void security_headers(struct MHD_Response *r) {
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "X-Frame-Options", "DENY");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(
      r, "Content-Security-Policy",
      "default-src 'self'; img-src 'self' data:; style-src 'self'; "
      "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; "
      "base-uri 'none'; form-action 'self'");
}

static enum MHD_Result send_text(req *q, unsigned status, const char *ctype,
                                 const char *text, size_t len,
                                 const char *cookie, const char *extra_name,
                                 const char *extra_value) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  security_headers(r);
  if (cookie)
    MHD_add_response_header(r, "Set-Cookie", cookie);
  if (extra_name)
    MHD_add_response_header(r, extra_name, extra_value);
  if (!strncmp(q->url, "/api/", 5))
    MHD_add_response_header(r, "Cache-Control", "no-store");
  enum MHD_Result ret = MHD_queue_response(q->c, status, r);
  MHD_destroy_response(r);
  if (q->s->o.metrics) {
    char labels[96];
    snprintf(labels, sizeof labels, "status=\"%u\",method=\"%s\"", status,
             q->method);
    ls_metrics_inc(q->s->o.metrics, "leadsync_console_requests_total",
                   "HTTP requests answered by the console", labels, 1);
  }
  return ret;
}

/* Sends v (stolen) as JSON. */
static enum MHD_Result send_json_full(req *q, unsigned status, json_t *v,
                                      const char *cookie,
                                      const char *extra_name,
                                      const char *extra_value) {
  char *text = json_dumps(v, JSON_COMPACT);
  json_decref(v);
  if (!text)
    return MHD_NO;
  enum MHD_Result r = send_text(q, status, "application/json", text,
                                strlen(text), cookie, extra_name, extra_value);
  free(text);
  return r;
}

static enum MHD_Result send_json(req *q, unsigned status, json_t *v) {
  return send_json_full(q, status, v, NULL, NULL, NULL);
}

/* Every error has the same shape: {"error":{"code","message"}}. */
static enum MHD_Result send_error(req *q, unsigned status, const char *code,
                                  const char *message) {
  return send_json(
      q, status,
      json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

/* ---- helpers ------------------------------------------------------- */

static const char *arg(req *q, const char *name) {
  return MHD_lookup_connection_value(q->c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *hdr(req *q, const char *name) {
  return MHD_lookup_connection_value(q->c, MHD_HEADER_KIND, name);
}

static void peer_of(struct MHD_Connection *c, char *out, size_t len) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  out[0] = '\0';
  if (!ci || !ci->client_addr)
    return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
              (socklen_t)len);
  else if (sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
              (socklen_t)len);
}

/* "2025-03-28T09:00:00Z", or a duration back from now: "24h", "7d", "30m". */
static bool parse_when(const char *s, int64_t *ms) {
  if (!s || !*s)
    return false;
  char *end;
  long long n = strtoll(s, &end, 10);
  if (end != s && n >= 0 && end[0] && !end[1] && strchr("smhd", end[0])) {
    long long unit = end[0] == 's'   ? 1000
                     : end[0] == 'm' ? 60000
                     : end[0] == 'h' ? 3600000
                                     : 86400000LL;
    *ms = ls_now_us() / 1000 - n * unit;
    return true;
  }
  int64_t us;
  if (!ls_time_parse(s, &us))
    return false;
  *ms = us / 1000;
  return true;
}

static bool parse_limit(const char *s, int max, int *out) {
  if (!s)
    return true;
  char *end;
  long v = strtol(s, &end, 10);
  if (end == s || *end || v < 1 || v > max)
    return false;
  *out = (int)v;
  return true;
}

static bool word_ok(const char *s, size_t max) {
  if (!s)
    return true;
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return false;
  for (; *s; s++)
    if ((unsigned char)*s < 0x20)
      return false;
  return true;
}

static con_store *reader(req *q) {
  con_store *st = NULL;
  char err[256];
  if (con_store_open_reader(q->s->o.db_path, &st, err, sizeof err) != LS_OK)
    ls_warn("read model unavailable", "{s:s}", "error", err);
  return st;
}

/* ---- authentication ------------------------------------------------ */

static const char *cookie_value(req *q) {
  return MHD_lookup_connection_value(q->c, MHD_COOKIE_KIND, COOKIE_NAME);
}

static void authenticate(req *q) {
  con_auth *a = q->s->o.auth;
  q->authed = false;
  if (con_auth_proxy_mode(a)) {
    const char *u = hdr(q, con_auth_proxy_header(a));
    if (u && con_auth_proxy(a, q->peer, u, &q->who)) {
      q->authed = true;
      return;
    }
  }
  const char *authz = hdr(q, MHD_HTTP_HEADER_AUTHORIZATION);
  if (authz) {
    q->authed = con_auth_basic(a, authz, &q->who);
    return; /* wrong credentials are not rescued by a cookie */
  }
  const char *ck = cookie_value(q);
  if (ck)
    q->authed = con_auth_cookie(a, ck, &q->who);
}

static enum MHD_Result unauthorized(req *q) {
  /* The UI's requests say who they are, so a browser never shows its own
   * Basic dialog; scripts get the challenge. */
  const char *xrw = hdr(q, "X-Requested-With");
  return send_json_full(
      q, 401,
      json_pack("{s:{s:s,s:s}}", "error", "code", "unauthorized", "message",
                "log in, or send HTTP Basic credentials"),
      NULL, xrw ? NULL : "WWW-Authenticate",
      xrw ? NULL : "Basic realm=\"leadsync-console\", charset=\"UTF-8\"");
}

/* A state change must be JSON (an HTML form cannot send that without a
 * preflight), come from this origin when the browser says where it comes
 * from, and carry the session's CSRF token when a cookie authenticated it.
 * Returns 0 when allowed, else the response was queued. */
static int state_change_refused(req *q, enum MHD_Result *ret) {
  const char *ct = hdr(q, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!ct || strncasecmp(ct, "application/json", 16)) {
    *ret = send_error(q, 415, "unsupported_media_type",
                      "state changes take a JSON body "
                      "(Content-Type: application/json)");
    return 1;
  }
  const char *origin = hdr(q, "Origin");
  const char *host = hdr(q, MHD_HTTP_HEADER_HOST);
  if (origin && strcmp(origin, "null")) {
    const char *o = strstr(origin, "://");
    if (!host || !o || strcmp(o + 3, host)) {
      *ret = send_error(q, 403, "csrf", "cross-origin request refused");
      return 1;
    }
  } else if (origin) {
    *ret = send_error(q, 403, "csrf", "cross-origin request refused");
    return 1;
  }
  if (q->authed && q->who.via_session) {
    const char *tok = hdr(q, "X-CSRF-Token");
    if (!tok || !con_auth_equal(tok, q->who.csrf)) {
      *ret = send_error(q, 403, "csrf",
                        "missing or wrong X-CSRF-Token (GET /api/v1/me "
                        "returns it)");
      return 1;
    }
  }
  return 0;
}

static bool is_operator(req *q) {
  return q->who.role == CON_ROLE_OPERATOR;
}

static enum MHD_Result forbidden(req *q) {
  return send_error(q, 403, "forbidden",
                    "this needs the operator role; your role is viewer");
}

static json_t *body_json(req *q) {
  if (!q->body_len)
    return json_object();
  json_t *v = json_loadb(q->body, q->body_len, 0, NULL);
  if (v && !json_is_object(v)) {
    json_decref(v);
    return NULL;
  }
  return v;
}

/* ---- handlers ------------------------------------------------------ */

static void session_cookie(req *q, const char *value, long max_age, char *out,
                           size_t len) {
  snprintf(out, len,
           COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Strict; "
                       "Max-Age=%ld%s",
           value, max_age, q->s->o.cookie_secure ? "; Secure" : "");
}

static json_t *me_json(const con_principal *p) {
  return json_pack("{s:s,s:s,s:s?}", "user", p->user, "role",
                   con_role_name(p->role), "csrf",
                   p->via_session ? p->csrf : NULL);
}

static enum MHD_Result h_login(req *q) {
  enum MHD_Result ret;
  const char *ct = hdr(q, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!ct || strncasecmp(ct, "application/json", 16))
    return send_error(q, 415, "unsupported_media_type",
                      "POST {\"user\",\"password\"} as application/json");
  const char *origin = hdr(q, "Origin");
  const char *host = hdr(q, MHD_HTTP_HEADER_HOST);
  if (origin && (!host || !strstr(origin, "://") ||
                 strcmp(strstr(origin, "://") + 3, host)))
    return send_error(q, 403, "csrf", "cross-origin login refused");
  json_t *b = body_json(q);
  const char *user = json_string_value(json_object_get(b, "user"));
  const char *pw = json_string_value(json_object_get(b, "password"));
  if (!b || !user || !pw || strlen(user) > 64 || strlen(pw) > 256) {
    json_decref(b);
    return send_error(q, 400, "bad_request",
                      "POST {\"user\",\"password\"} as JSON");
  }
  int retry = 0;
  if (!con_auth_login_allowed(q->s->o.auth, q->peer, user, &retry)) {
    json_decref(b);
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry);
    return send_json_full(q, 429,
                          json_pack("{s:{s:s,s:s}}", "error", "code",
                                    "rate_limited", "message",
                                    "too many failed logins; try again later"),
                          NULL, "Retry-After", ra);
  }
  con_principal p;
  if (!con_auth_check_password(q->s->o.auth, user, pw, &p)) {
    con_auth_login_failed(q->s->o.auth, q->peer, user);
    ls_warn("login failed", "{s:s}", "peer", q->peer);
    json_decref(b);
    return send_error(q, 401, "unauthorized", "wrong user or password");
  }
  json_decref(b);
  char value[256], cookie[512];
  con_auth_session(q->s->o.auth, &p, value, sizeof value);
  session_cookie(q, value, con_auth_ttl(q->s->o.auth), cookie, sizeof cookie);
  /* The CSRF token of the new session comes from verifying it. */
  con_principal sp;
  con_auth_cookie(q->s->o.auth, value, &sp);
  ls_info("login", "{s:s,s:s}", "user", sp.user, "role",
          con_role_name(sp.role));
  ret = send_json_full(q, 200, me_json(&sp), cookie, NULL, NULL);
  return ret;
}

static enum MHD_Result h_logout(req *q) {
  char cookie[256];
  session_cookie(q, "", 0, cookie, sizeof cookie);
  return send_json_full(q, 200, json_pack("{s:b}", "logged_out", 1), cookie,
                        NULL, NULL);
}

static enum MHD_Result h_events(req *q) {
  con_query cq = {0};
  cq.email = arg(q, "email");
  cq.tenant = arg(q, "tenant");
  cq.type = arg(q, "type");
  cq.outcome = arg(q, "outcome");
  cq.cursor = arg(q, "cursor");
  cq.event_id = arg(q, "event_id");
  const char *since = arg(q, "since"), *until = arg(q, "until");
  if (since && !parse_when(since, &cq.since_ms))
    return send_error(q, 400, "bad_request",
                      "since: RFC 3339 time or a duration like 24h, 7d");
  if (until && !parse_when(until, &cq.until_ms))
    return send_error(q, 400, "bad_request",
                      "until: RFC 3339 time or a duration like 24h, 7d");
  if (!parse_limit(arg(q, "limit"), 500, &cq.limit))
    return send_error(q, 400, "bad_request", "limit: 1 to 500");
  if (!word_ok(cq.email, 254) || !word_ok(cq.tenant, 64) ||
      !word_ok(cq.type, 64) || !word_ok(cq.outcome, 32) ||
      !word_ok(cq.event_id, 64))
    return send_error(q, 400, "bad_request", "a filter is empty or too long");
  if (cq.type && ls_event_type_from_name(cq.type) == LS_EV_UNKNOWN &&
      strcmp(cq.type, "UNKNOWN"))
    return send_error(q, 400, "bad_request",
                      "type: a Smartlead event type such as EMAIL_REPLY");
  con_store *st = reader(q);
  if (!st)
    return send_error(q, 503, "unavailable", "the read model is not ready");
  char err[256];
  json_t *v = con_store_events(st, &cq, err, sizeof err);
  con_store_close(st);
  if (!v)
    return send_error(q, strstr(err, "cursor") ? 400 : 500,
                      strstr(err, "cursor") ? "bad_request" : "internal", err);
  return send_json(q, 200, v);
}

static const char *object_type_id(const char *type) {
  if (!strcmp(type, "contacts"))
    return "0-1";
  if (!strcmp(type, "emails"))
    return "0-49";
  if (!strcmp(type, "notes"))
    return "0-46";
  if (!strcmp(type, "tasks"))
    return "0-27";
  return NULL;
}

/* Links into the HubSpot portal for the contact and each object written. */
static void add_links(req *q, json_t *ev) {
  const char *tenant = json_string_value(json_object_get(ev, "tenant"));
  json_t *portal = tenant && q->s->o.portals
                       ? json_object_get(q->s->o.portals, tenant)
                       : NULL;
  json_t *links = json_array();
  if (json_is_integer(portal) || json_is_string(portal)) {
    char pid[32];
    if (json_is_integer(portal))
      snprintf(pid, sizeof pid, "%lld", (long long)json_integer_value(portal));
    else
      snprintf(pid, sizeof pid, "%s", json_string_value(portal));
    const char *base = q->s->o.hubspot_app_url;
    const char *contact = json_string_value(json_object_get(ev, "contact_id"));
    char url[512];
    if (contact) {
      snprintf(url, sizeof url, "%s/contacts/%s/record/0-1/%s", base, pid,
               contact);
      json_array_append_new(links,
                            json_pack("{s:s,s:s,s:s}", "type", "contacts", "id",
                                      contact, "url", url));
    }
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(ev, "objects"), i, o) {
      const char *t = json_string_value(json_object_get(o, "type"));
      const char *id = json_string_value(json_object_get(o, "id"));
      const char *tid = t ? object_type_id(t) : NULL;
      if (!tid || !id)
        continue;
      snprintf(url, sizeof url, "%s/contacts/%s/record/%s/%s", base, pid, tid,
               id);
      json_array_append_new(
          links, json_pack("{s:s,s:s,s:s}", "type", t, "id", id, "url", url));
    }
  }
  json_object_set_new(ev, "links", links);
}

static bool valid_event_id(const char *id) {
  size_t n = strlen(id);
  if (n < 8 || n > 64)
    return false;
  for (; *id; id++)
    if (!isxdigit((unsigned char)*id))
      return false;
  return true;
}

static enum MHD_Result h_event(req *q, const char *id) {
  if (!valid_event_id(id))
    return send_error(q, 400, "bad_request", "not an event id (hex digits)");
  con_store *st = reader(q);
  if (!st)
    return send_error(q, 503, "unavailable", "the read model is not ready");
  char err[256];
  json_t *v = con_store_event(st, id, err, sizeof err);
  con_store_close(st);
  if (!v)
    return err[0] ? send_error(q, 500, "internal", err)
                  : send_error(q, 404, "not_found", "no such event");
  add_links(q, json_object_get(v, "event"));
  return send_json(q, 200, v);
}

static enum MHD_Result h_parked(req *q, const char *kind) {
  const char *state = arg(q, "state");
  if (!state)
    state = "pending";
  if (strcmp(state, "pending") && strcmp(state, "replayed") &&
      strcmp(state, "all"))
    return send_error(q, 400, "bad_request", "state: pending|replayed|all");
  con_query cq = {0};
  cq.tenant = arg(q, "tenant");
  cq.outcome = arg(q, "reason");
  cq.cursor = arg(q, "cursor");
  if (!parse_limit(arg(q, "limit"), 1000, &cq.limit))
    return send_error(q, 400, "bad_request", "limit: 1 to 1000");
  if (!word_ok(cq.tenant, 64) || !word_ok(cq.outcome, 64))
    return send_error(q, 400, "bad_request", "a filter is empty or too long");
  con_store *st = reader(q);
  if (!st)
    return send_error(q, 503, "unavailable", "the read model is not ready");
  char err[256];
  json_t *v = con_store_parked(st, kind, state, &cq, err, sizeof err);
  con_store_close(st);
  if (!v)
    return send_error(q, strstr(err, "cursor") ? 400 : 500,
                      strstr(err, "cursor") ? "bad_request" : "internal", err);
  return send_json(q, 200, v);
}

static enum MHD_Result h_replay(req *q, const char *kind) {
  if (!is_operator(q))
    return forbidden(q);
  json_t *b = body_json(q);
  if (!b)
    return send_error(q, 400, "bad_request", "the body is not a JSON object");
  json_t *ids = json_object_get(b, "ids");
  json_t *dry = json_object_get(b, "dry_run");
  if (!json_is_array(ids) || (dry && !json_is_boolean(dry))) {
    json_decref(b);
    return send_error(q, 400, "bad_request",
                      "{\"ids\":[\"partition:offset\",...],\"dry_run\":bool,"
                      "\"reason\":\"...\"}");
  }
  int status = 500;
  char err[512];
  json_t *v = con_ops_replay(q->s->o.ops, kind, ids, json_is_true(dry),
                             json_string_value(json_object_get(b, "reason")),
                             q->who.user, &status, err, sizeof err);
  json_decref(b);
  if (!v)
    return send_error(q, (unsigned)status,
                      status == 400 ? "bad_request" : "kafka", err);
  return send_json(q, 200, v);
}

static void webhook_url(req *q, const char *token, char *out, size_t len) {
  snprintf(out, len, "%s/v1/webhooks/smartlead/%s",
           q->s->o.ingress_url && *q->s->o.ingress_url ? q->s->o.ingress_url
                                                       : "",
           token);
}

static enum MHD_Result h_sources(req *q) {
  con_store *st = reader(q);
  if (!st)
    return send_error(q, 503, "unavailable", "the read model is not ready");
  int64_t now = ls_now_us() / 1000, day = now - 86400000LL;
  json_t *topic = con_store_sources(st);
  json_t *stats = con_store_source_stats(st, day);
  con_store_close(st);
  json_t *eff = cli_sources_effective(q->s->o.cfg, topic);
  json_decref(topic);
  json_t *arr = json_array();
  const char *id;
  json_t *rec;
  json_object_foreach(eff, id, rec) {
    json_t *pub = cli_sources_public(rec);
    json_t *s = json_object_get(stats, id);
    int64_t last = s ? json_integer_value(json_object_get(s, "last_ms")) : 0;
    json_t *counts = s ? json_object_get(s, "counts_24h") : NULL;
    json_int_t total = 0;
    const char *k;
    json_t *n;
    json_object_foreach(counts, k, n) total += json_integer_value(n);
    if (last > 0) {
      char buf[40];
      ls_time_format_ms(last * 1000, buf, sizeof buf);
      json_object_set_new(pub, "last_received_at", json_string(buf));
    } else {
      json_object_set_new(pub, "last_received_at", json_null());
    }
    json_object_set_new(pub, "counts_24h",
                        counts ? json_deep_copy(counts) : json_object());
    json_object_set_new(pub, "received_24h", json_integer(total));
    /* A live source that sent nothing for a day is the one to look at. */
    json_object_set_new(
        pub, "silent",
        json_boolean(!json_is_true(json_object_get(rec, "revoked")) &&
                     total == 0));
    json_array_append_new(arr, pub);
  }
  json_decref(eff);
  json_decref(stats);
  return send_json(q, 200,
                   json_pack("{s:o,s:s}", "sources", arr, "webhook_url_base",
                             q->s->o.ingress_url ? q->s->o.ingress_url : ""));
}

static enum MHD_Result source_answer(req *q, json_t *v, int status,
                                     const char *err, unsigned ok_status) {
  if (!v)
    return send_error(q, (unsigned)status,
                      status == 400   ? "bad_request"
                      : status == 404 ? "not_found"
                      : status == 409 ? "conflict"
                                      : "kafka",
                      err);
  const char *token = json_string_value(json_object_get(v, "token"));
  if (token) {
    char url[512];
    webhook_url(q, token, url, sizeof url);
    json_object_set_new(v, "webhook_url", json_string(url));
  }
  return send_json(q, ok_status, v);
}

static enum MHD_Result h_source_add(req *q) {
  if (!is_operator(q))
    return forbidden(q);
  json_t *b = body_json(q);
  if (!b)
    return send_error(q, 400, "bad_request", "the body is not a JSON object");
  int status = 500;
  char err[512];
  json_t *v =
      con_ops_source_add(q->s->o.ops, b, q->who.user, &status, err, sizeof err);
  json_decref(b);
  return source_answer(q, v, status, err, 201);
}

static enum MHD_Result h_source_change(req *q, const char *rest) {
  if (!is_operator(q))
    return forbidden(q);
  char id[80];
  const char *slash = strchr(rest, '/');
  if (!slash || (size_t)(slash - rest) >= sizeof id)
    return send_error(q, 404, "not_found", "no such endpoint");
  snprintf(id, sizeof id, "%.*s", (int)(slash - rest), rest);
  const char *action = slash + 1;
  json_t *b = body_json(q);
  if (!b)
    return send_error(q, 400, "bad_request", "the body is not a JSON object");
  int status = 500;
  char err[512];
  json_t *v = NULL;
  if (!strcmp(action, "rotate")) {
    json_t *g = json_object_get(b, "grace_s");
    long grace = CLI_SOURCES_GRACE_S;
    if (g && (!json_is_integer(g) || json_integer_value(g) < 0 ||
              json_integer_value(g) > 90 * 86400)) {
      json_decref(b);
      return send_error(q, 400, "bad_request", "grace_s: 0 to 7776000 seconds");
    }
    if (g)
      grace = (long)json_integer_value(g);
    v = con_ops_source_rotate(q->s->o.ops, id, grace, q->who.user, &status, err,
                              sizeof err);
  } else if (!strcmp(action, "revoke")) {
    v = con_ops_source_revoke(q->s->o.ops, id, q->who.user, &status, err,
                              sizeof err);
  } else {
    json_decref(b);
    return send_error(q, 404, "not_found", "no such endpoint");
  }
  json_decref(b);
  return source_answer(q, v, status, err, 200);
}

static enum MHD_Result h_tenants(req *q) {
  con_store *st = reader(q);
  json_t *stats =
      st ? con_store_tenant_stats(st, ls_now_us() / 1000 - 86400000LL)
         : json_object();
  con_store_close(st);
  json_t *arr = json_array();
  const ls_config *cfg = q->s->o.cfg;
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    const ls_tenant *t = &cfg->tenants[i];
    json_t *cats = json_array();
    for (size_t k = 0; k < t->n_categories; k++)
      json_array_append_new(cats, json_string(t->categories[k]));
    json_t *s = json_object_get(stats, t->id);
    json_t *o = json_pack(
        "{s:s,s:s?,s:i,s:{s:s?,s:i,s:I,s:s?},s:o,s:s,s:O?,s:i}", "id", t->id,
        "name", json_string_value(json_object_get(t->json, "name")), "sources",
        (int)t->n_sources, "hubspot", "tier", t->hs_tier, "requests_per_10s",
        t->hs_per_10s, "daily_limit", (json_int_t)t->hs_daily, "token_ref",
        t->hs_token_ref, "categories", cats, "contact_mode",
        t->update_only ? "update_only" : "upsert", "outcomes_24h",
        s ? json_object_get(s, "outcomes_24h") : NULL, "rate_limited_24h",
        s ? (int)json_integer_value(json_object_get(s, "rate_limited_24h"))
          : 0);
    json_t *portal =
        q->s->o.portals ? json_object_get(q->s->o.portals, t->id) : NULL;
    json_object_set(o, "portal_id", portal ? portal : json_null());
    if (!json_is_object(json_object_get(o, "outcomes_24h")))
      json_object_set_new(o, "outcomes_24h", json_object());
    json_array_append_new(arr, o);
  }
  json_decref(stats);
  return send_json(q, 200, json_pack("{s:o}", "tenants", arr));
}

static enum MHD_Result h_quotas(req *q) {
  con_store *st = reader(q);
  json_t *stats =
      st ? con_store_tenant_stats(st, ls_now_us() / 1000 - 86400000LL)
         : json_object();
  con_store_close(st);
  json_t *snap = con_quota_snapshot(q->s->o.quota);
  json_t *arr = json_array();
  const ls_config *cfg = q->s->o.cfg;
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    const ls_tenant *t = &cfg->tenants[i];
    json_t *s = json_object_get(stats, t->id);
    json_t *portal =
        q->s->o.portals ? json_object_get(q->s->o.portals, t->id) : NULL;
    json_t *o = json_pack(
        "{s:s,s:O?,s:s?,s:i,s:I,s:i,s:O?}", "tenant", t->id, "portal_id",
        portal, "tier", t->hs_tier, "configured_per_10s", t->hs_per_10s,
        "configured_daily", (json_int_t)t->hs_daily, "rate_limited_24h",
        s ? (int)json_integer_value(json_object_get(s, "rate_limited_24h")) : 0,
        "observed", json_object_get(snap, t->id));
    if (!json_object_get(o, "portal_id"))
      json_object_set_new(o, "portal_id", json_null());
    if (!json_object_get(o, "observed"))
      json_object_set_new(o, "observed", json_null());
    json_array_append_new(arr, o);
  }
  json_decref(snap);
  json_decref(stats);
  return send_json(q, 200, json_pack("{s:o}", "quotas", arr));
}

static enum MHD_Result h_status(req *q) {
  con_store *st = reader(q);
  json_t *counts = json_object();
  if (st) {
    json_object_set_new(counts, "events",
                        json_integer(con_store_count(st, "events")));
    json_object_set_new(counts, "steps",
                        json_integer(con_store_count(st, "steps")));
    json_object_set_new(counts, "parked",
                        json_integer(con_store_count(st, "parked")));
    con_store_close(st);
  }
  return send_json(q, 200,
                   json_pack("{s:b,s:I,s:o}", "caught_up",
                             con_tail_caught_up(q->s->o.tail), "applied",
                             (json_int_t)con_tail_applied(q->s->o.tail),
                             "counts", counts));
}

static enum MHD_Result h_assurance(req *q) {
  /* The assurance role's progress per tenant, where it runs. */
  con_store *st = reader(q);
  if (!st)
    return send_error(q, 503, "unavailable", "the read model is not ready");
  json_t *arr = con_store_assurance(st);
  con_store_close(st);
  bool any = json_array_size(arr) > 0;
  return send_json(q, 200,
                   json_pack("{s:b,s:s,s:o}", "available", any, "message",
                             any ? "webhook assurance progress per tenant"
                                 : "no assurance runs on this cluster",
                             "tenants", arr));
}

/* ---- static files --------------------------------------------------- */

static enum MHD_Result h_static(req *q, const char *name, const char *ctype) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", q->s->o.www_dir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return send_error(q, 404, "not_found", "no such page");
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n + 65536 > cap) {
      char *nb = realloc(buf, cap + 65536 * 2);
      if (!nb)
        break;
      buf = nb;
      cap += 65536 * 2;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    if (!r)
      break;
    n += r;
  }
  fclose(f);
  enum MHD_Result ret = send_text(q, 200, ctype, buf ? buf : "", n, NULL,
                                  "Cache-Control", "no-cache");
  free(buf);
  return ret;
}

/* ---- dispatch ------------------------------------------------------- */

static enum MHD_Result route(req *q) {
  const char *u = q->url;
  bool get = !strcmp(q->method, "GET") || !strcmp(q->method, "HEAD");
  bool post = !strcmp(q->method, "POST");
  if (get && (!strcmp(u, "/") || !strcmp(u, "/index.html")))
    return h_static(q, "index.html", "text/html; charset=utf-8");
  if (get && !strcmp(u, "/app.js"))
    return h_static(q, "app.js", "text/javascript; charset=utf-8");
  if (get && !strcmp(u, "/app.css"))
    return h_static(q, "app.css", "text/css; charset=utf-8");
  if (get && !strcmp(u, "/favicon.svg"))
    return h_static(q, "favicon.svg", "image/svg+xml");
  if (get && !strcmp(u, "/healthz"))
    return send_text(q, 200, "text/plain", "ok\n", 3, NULL, NULL, NULL);
  if (get && !strcmp(u, "/readyz")) {
    bool ok = con_tail_caught_up(q->s->o.tail);
    return send_text(q, ok ? 200 : 503, "text/plain",
                     ok ? "ready\n" : "catching up\n", ok ? 6 : 12, NULL, NULL,
                     NULL);
  }
  if (get && !strcmp(u, "/metrics")) {
    size_t len = 0;
    char *text = ls_metrics_render(q->s->o.metrics, &len);
    enum MHD_Result r = send_text(q, 200, "text/plain; version=0.0.4",
                                  text ? text : "", len, NULL, NULL, NULL);
    free(text);
    return r;
  }
  if (strncmp(u, "/api/v1/", 8))
    return send_error(q, 404, "not_found", "no such page");
  const char *api = u + 8;
  if (!strcmp(api, "login")) {
    if (!post)
      return send_error(q, 405, "method_not_allowed", "POST only");
    return h_login(q);
  }
  authenticate(q);
  if (!q->authed)
    return unauthorized(q);
  if (post) {
    enum MHD_Result ret;
    if (state_change_refused(q, &ret))
      return ret;
    if (!strcmp(api, "logout"))
      return h_logout(q);
    if (!strcmp(api, "dlq/replay"))
      return h_replay(q, "dlq");
    if (!strcmp(api, "quarantine/replay"))
      return h_replay(q, "quarantine");
    if (!strcmp(api, "sources"))
      return h_source_add(q);
    if (!strncmp(api, "sources/", 8))
      return h_source_change(q, api + 8);
    return send_error(q, 404, "not_found", "no such endpoint");
  }
  if (!get)
    return send_error(q, 405, "method_not_allowed", "GET or POST");
  if (!strcmp(api, "me"))
    return send_json(q, 200, me_json(&q->who));
  if (!strcmp(api, "status"))
    return h_status(q);
  if (!strcmp(api, "events"))
    return h_events(q);
  if (!strncmp(api, "events/", 7))
    return h_event(q, api + 7);
  if (!strcmp(api, "dlq"))
    return h_parked(q, "dlq");
  if (!strcmp(api, "quarantine"))
    return h_parked(q, "quarantine");
  if (!strcmp(api, "sources"))
    return h_sources(q);
  if (!strcmp(api, "tenants"))
    return h_tenants(q);
  if (!strcmp(api, "quotas"))
    return h_quotas(q);
  if (!strcmp(api, "assurance"))
    return h_assurance(q);
  return send_error(q, 404, "not_found", "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  con_server *s = cls;
  req_ctx *rc = *con_cls;
  if (!rc) {
    rc = calloc(1, sizeof *rc);
    if (!rc)
      return MHD_NO;
    *con_cls = rc;
    return MHD_YES;
  }
  if (*upload_size) {
    if (rc->len + *upload_size > BODY_MAX) {
      rc->too_big = true;
    } else {
      char *nb = realloc(rc->body, rc->len + *upload_size + 1);
      if (!nb)
        return MHD_NO;
      rc->body = nb;
      memcpy(rc->body + rc->len, upload, *upload_size);
      rc->len += *upload_size;
      rc->body[rc->len] = '\0';
    }
    *upload_size = 0;
    return MHD_YES;
  }
  req q = {.s = s,
           .c = c,
           .method = method,
           .url = url,
           .body = rc->body,
           .body_len = rc->len};
  peer_of(c, q.peer, sizeof q.peer);
  if (rc->too_big)
    return send_error(&q, 413, "too_large", "the body is over 64 KiB");
  return route(&q);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  req_ctx *rc = *con_cls;
  if (rc) {
    free(rc->body);
    free(rc);
    *con_cls = NULL;
  }
}

ls_err con_http_start(const con_http_opts *o, const char *listen,
                      con_server **out, char *url, size_t url_len, char *errstr,
                      size_t len) {
  *out = NULL;
  con_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(errstr, len, "out of memory");
    return LS_ERR_INTERNAL;
  }
  s->o = *o;
  ls_listen l;
  if (!ls_listen_resolve(listen, &l, errstr, len)) {
    free(s);
    return LS_ERR_CONFIG;
  }
  s->d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
          ls_listen_mhd_flags(&l),
      0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&l.addr, MHD_OPTION_THREAD_POOL_SIZE, 4u,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 512u,
      MHD_OPTION_NOTIFY_COMPLETED, on_done, s, MHD_OPTION_END);
  if (!s->d) {
    snprintf(errstr, len, "cannot listen on %s", listen);
    free(s);
    return LS_ERR_CONFIG;
  }
  ls_listen_url(&l, ls_mhd_port(s->d), url, url_len);
  *out = s;
  return LS_OK;
}

void con_http_stop(con_server *s) {
  if (!s)
    return;
  MHD_stop_daemon(s->d);
  free(s);
}
