/* emu_http.c: the route table, the request pipeline (auth, faults, rate
 * limits, handler, counters) and the libmicrohttpd glue. */
#include "emu.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_http.h"

enum {
  R_READ = 1,    /* needs the .read scope */
  R_WRITE = 2,   /* needs the .write scope; may be answered 423 */
  R_SEARCH = 4,  /* search bucket, no rate-limit headers */
  R_ADMIN = 8,   /* test-only, no auth, never counted */
  R_SCHEMA = 16, /* properties API: crm.schemas.* scopes */
  R_BODY = 32,   /* expects a JSON body */
};

struct route {
  const char *method;
  const char *pattern; /* ":t"/":t2" match an object type, ":id" anything */
  void (*handler)(struct emu_call *c);
  int flags;
};

static const struct route routes[] = {
    {"GET", "/_emulator/state", emu_h_admin_state, R_ADMIN},
    {"POST", "/_emulator/reset", emu_h_admin_reset, R_ADMIN},
    {"GET", "/_emulator/faults", emu_h_admin_faults_get, R_ADMIN},
    {"POST", "/_emulator/faults", emu_h_admin_faults, R_ADMIN | R_BODY},
    {"POST", "/_emulator/portals", emu_h_admin_portals, R_ADMIN | R_BODY},
    {"POST", "/_emulator/config", emu_h_admin_config, R_ADMIN | R_BODY},
    {"POST", "/_emulator/secondary_email", emu_h_admin_secondary,
     R_ADMIN | R_BODY},
    {"GET", "/account-info/v3/details", emu_h_account_info, R_READ},
    {"DELETE", "/crm/v3/objects/:t/:id", emu_h_delete, R_WRITE},
    {"GET", "/crm/v3/objects/:t", emu_h_list, R_READ},
    {"POST", "/crm/v3/objects/:t", emu_h_create, R_WRITE | R_BODY},
    {"POST", "/crm/v3/objects/:t/batch/create", emu_h_batch_create,
     R_WRITE | R_BODY},
    {"POST", "/crm/v3/objects/:t/batch/read", emu_h_batch_read,
     R_READ | R_BODY},
    {"POST", "/crm/v3/objects/:t/batch/update", emu_h_batch_update,
     R_WRITE | R_BODY},
    {"POST", "/crm/v3/objects/:t/batch/upsert", emu_h_batch_upsert,
     R_WRITE | R_BODY},
    {"POST", "/crm/v3/objects/:t/search", emu_h_search,
     R_READ | R_SEARCH | R_BODY},
    {"GET", "/crm/v3/objects/:t/:id", emu_h_get, R_READ},
    {"PATCH", "/crm/v3/objects/:t/:id", emu_h_patch, R_WRITE | R_BODY},
    {"GET", "/crm/v3/properties/:t", emu_h_props_list, R_READ | R_SCHEMA},
    {"POST", "/crm/v3/properties/:t", emu_h_props_create,
     R_WRITE | R_SCHEMA | R_BODY},
    {"GET", "/crm/v3/properties/:t/groups", emu_h_groups_list,
     R_READ | R_SCHEMA},
    {"POST", "/crm/v3/properties/:t/groups", emu_h_groups_create,
     R_WRITE | R_SCHEMA | R_BODY},
    {"GET", "/crm/v3/properties/:t/:name", emu_h_props_get, R_READ | R_SCHEMA},
    {"GET", "/crm/v4/objects/:t/:id/associations/:t2", emu_h_assoc_read,
     R_READ},
};

static const struct {
  int status;
  const char *category;
} err_map[EMU_E_COUNT] = {
#define X(name, status, category) {status, category},
    EMU_ERR_MAP(X)
#undef X
};

/* --- error bodies ------------------------------------------------------- */

json_t *emu_err_body(struct emu_call *c, const char *category,
                     const char *message, json_t *extra) {
  json_t *b = json_pack("{s:s, s:s, s:s}", "status", "error", "message",
                        message, "correlationId", c->corr);
  if (extra) {
    json_object_update(b, extra);
    json_decref(extra);
  }
  json_object_set_new(b, "category", json_string(category));
  return b;
}

void emu_reply(struct emu_call *c, int status, json_t *body) {
  json_decref(c->out);
  c->status = status;
  c->out = body;
}

void emu_fail_json(struct emu_call *c, enum emu_err kind, json_t *body) {
  emu_reply(c, err_map[kind].status, body);
}

void emu_fail(struct emu_call *c, enum emu_err kind, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  emu_reply(c, err_map[kind].status,
            emu_err_body(c, err_map[kind].category, msg, NULL));
}

const char *emu_query(struct emu_call *c, const char *key) {
  return MHD_lookup_connection_value((struct MHD_Connection *)c->conn,
                                     MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result want_iter(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value) {
  if (value && strcmp(key, "properties") == 0)
    emu_want_add_csv(cls, value);
  return MHD_YES;
}

/* ?properties=a,b or ?properties=a&properties=b. An empty array means
 * "the default properties". */
json_t *emu_want_from_query(struct emu_call *c) {
  json_t *arr = json_array();
  MHD_get_connection_values((struct MHD_Connection *)c->conn,
                            MHD_GET_ARGUMENT_KIND, want_iter, arr);
  return arr;
}

/* HubSpot answers malformed JSON with a parser message and line/column. */
bool emu_parse_body(struct emu_call *c) {
  if (c->in)
    return true;
  if (c->body_len == 0) {
    c->in = json_object();
    return true;
  }
  /* jansson, not the worker's own reader (lib/core/ls_json.c): the
   * emulator parses what the client writes with an independent parser, so a
   * writer bug shows here as it would at HubSpot. */
  json_error_t err;
  c->in = json_loadb(c->body, c->body_len, 0, &err);
  if (!c->in) {
    emu_fail(c, EMU_E_BAD_JSON, "Invalid input JSON on line %d, column %d: %s",
             err.line, err.column, err.text);
    return false;
  }
  if (!json_is_object(c->in)) {
    emu_fail(c, EMU_E_BAD_JSON,
             "Invalid input JSON on line 1, column 1: Cannot deserialize "
             "request body: expected a JSON object");
    return false;
  }
  return true;
}

/* --- routing ------------------------------------------------------------ */

static size_t split_path(char *path, const char *seg[], size_t max) {
  size_t n = 0;
  char *save = NULL;
  for (char *s = strtok_r(path, "/", &save); s && n < max;
       s = strtok_r(NULL, "/", &save))
    seg[n++] = s;
  return n;
}

/* Does `pattern` match the segments? Fills the object type and the
 * route key used by the counters ("GET /crm/v3/objects/contacts/{id}"). */
static bool route_match(const char *pattern, const char *seg[], size_t nseg,
                        enum emu_otype *t, char *key, size_t keyn) {
  char pat[128];
  const char *ps[10];
  snprintf(pat, sizeof pat, "%s", pattern);
  size_t np = split_path(pat, ps, 10);
  if (np != nseg)
    return false;
  size_t off = 0;
  key[0] = '\0';
  for (size_t i = 0; i < np; i++) {
    const char *shown = ps[i];
    enum emu_otype tt;
    if (strcmp(ps[i], ":t") == 0 || strcmp(ps[i], ":t2") == 0) {
      if (!emu_otype_parse(seg[i], &tt))
        return false;
      if (strcmp(ps[i], ":t") == 0)
        *t = tt;
      shown = emu_otype_names[tt];
    } else if (ps[i][0] == ':') {
      shown = strcmp(ps[i], ":name") == 0 ? "{name}" : "{id}";
    } else if (strcmp(ps[i], seg[i]) != 0) {
      return false;
    }
    int w = snprintf(key + off, keyn - off, "/%s", shown);
    if (w > 0 && (size_t)w < keyn - off)
      off += (size_t)w;
  }
  return true;
}

static const struct route *route_find(const char *method, const char *seg[],
                                      size_t nseg, enum emu_otype *t,
                                      bool *path_known, char *key,
                                      size_t keyn) {
  *path_known = false;
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    char k[160];
    if (!route_match(routes[i].pattern, seg, nseg, t, k, sizeof k))
      continue;
    *path_known = true;
    if (strcmp(routes[i].method, method) != 0)
      continue;
    snprintf(key, keyn, "%s %s", method, k);
    return &routes[i];
  }
  snprintf(key, keyn, "UNMATCHED");
  return NULL;
}

/* --- the pipeline ------------------------------------------------------- */

static void count_route(struct emu *e, const char *key, const char *status) {
  json_t *r = json_object_get(e->by_route, key);
  if (!r) {
    r = json_object();
    json_object_set_new(e->by_route, key, r);
  }
  json_t *n = json_object_get(r, status);
  if (n)
    json_integer_set(n, json_integer_value(n) + 1);
  else
    json_object_set_new(r, status, json_integer(1));
}

static bool has_scope(const struct emu_app *a, const char *scope) {
  if (!a->scopes)
    return true;
  size_t i;
  json_t *v;
  json_array_foreach(a->scopes, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), scope) == 0)
      return true;
  }
  return false;
}

static void reply_401(struct emu_call *c) {
  c->auth_failure = true;
  emu_fail(c, EMU_E_AUTH,
           "Authentication credentials not found. This API supports OAuth "
           "2.0 authentication and you can find more details at "
           "https://developers.hubspot.com/docs/methods/auth/oauth-overview");
}

static void reply_403(struct emu_call *c, const char *scope) {
  json_t *extra =
      json_pack("{s:[{s:s, s:{s:[s]}}], s:{s:s}}", "errors", "message",
                "One or more of the following scopes are required.", "context",
                "requiredGranularScopes", scope, "links", "scopes",
                "https://developers.hubspot.com/scopes");
  emu_fail_json(c, EMU_E_SCOPES,
                emu_err_body(c, "MISSING_SCOPES",
                             "This app hasn't been granted all required "
                             "scopes to make this call. Read more about "
                             "required scopes here: "
                             "https://developers.hubspot.com/scopes.",
                             extra));
}

static const char *html_page(int status) {
  return status == 502
             ? "<html><head><title>502 Bad Gateway</title></head><body>"
               "<center><h1>502 Bad Gateway</h1></center></body></html>\n"
             : "<html><head><title>504 Gateway Time-out</title></head><body>"
               "<center><h1>504 Gateway Time-out</h1></center></body></html>\n";
}

static void reply_fault(struct emu_call *c, int status, bool html) {
  c->emu->faults_injected++;
  if (html && (status == 502 || status == 504)) {
    c->status = status;
    c->out_raw = emu_strdup(html_page(status));
    return;
  }
  const char *msg = status == 503   ? "Service Unavailable"
                    : status == 502 ? "Bad Gateway"
                    : status == 504 ? "Gateway Timeout"
                                    : "internal error";
  emu_reply(c, status,
            emu_err_body(c, status == 500 ? "INTERNAL_ERROR" : "UNAVAILABLE",
                         msg, NULL));
}

static void add_header(struct emu_response *r, const char *name,
                       const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_header(struct emu_response *r, const char *name,
                       const char *fmt, ...) {
  if (r->nh >= sizeof r->h / sizeof r->h[0])
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->h[r->nh].value, sizeof r->h[r->nh].value, fmt, ap);
  va_end(ap);
  r->h[r->nh++].name = name;
}

/* Turn the call's answer into bytes and headers. Runs under the lock: the
 * body may reference live records. */
static void finish(struct emu_call *c, struct emu_response *r) {
  r->status = c->status ? c->status : 500;
  if (c->out_raw) {
    r->body = c->out_raw;
    r->len = strlen(c->out_raw);
    r->html = true;
    c->out_raw = NULL;
  } else if (c->out) {
    r->body = json_dumps(c->out, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
  }
  json_decref(c->out);
  c->out = NULL;
  json_decref(c->in);
  c->in = NULL;
  add_header(r, "X-HubSpot-Correlation-Id", "%s", c->corr);
  if (c->auth_failure)
    add_header(r, "x-hubspot-auth-failure", "401 Unauthorized");
  if (c->rl_headers) {
    if (!c->hdr_oauth) {
      add_header(r, "X-HubSpot-RateLimit-Daily", "%ld", c->hdr_daily);
      add_header(r, "X-HubSpot-RateLimit-Daily-Remaining", "%ld",
                 c->hdr_daily_rem);
    }
    add_header(r, "X-HubSpot-RateLimit-Interval-Milliseconds", "%d",
               EMU_WINDOW_MS);
    add_header(r, "X-HubSpot-RateLimit-Max", "%ld", c->hdr_max);
    add_header(r, "X-HubSpot-RateLimit-Remaining", "%ld", c->hdr_win_rem);
    add_header(r, "X-HubSpot-RateLimit-Secondly", "%ld", c->hdr_max / 10);
    add_header(r, "X-HubSpot-RateLimit-Secondly-Remaining", "%ld",
               c->hdr_sec_rem);
  }
  if (c->retry_after_s > 0)
    add_header(r, "Retry-After", "%d", c->retry_after_s);
}

static void sleep_ms(int ms) {
  if (ms <= 0)
    return;
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

static const char *bearer_token(void *conn) {
  const char *h = MHD_lookup_connection_value((struct MHD_Connection *)conn,
                                              MHD_HEADER_KIND, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0)
    return NULL;
  h += 7;
  while (*h == ' ')
    h++;
  return *h ? h : NULL;
}

void emu_dispatch(struct emu *e, const char *method, const char *path,
                  void *conn, const char *body, size_t len, bool too_large,
                  struct emu_response *r) {
  memset(r, 0, sizeof *r);
  struct emu_call c;
  memset(&c, 0, sizeof c);
  c.emu = e;
  c.method = method;
  c.path = path;
  c.conn = conn;
  c.body = body;
  c.body_len = len;
  emu_uuid(c.corr);

  char pathbuf[2048];
  snprintf(pathbuf, sizeof pathbuf, "%s", path);
  c.nseg = split_path(pathbuf, c.seg, sizeof c.seg / sizeof c.seg[0]);
  char key[200];
  bool path_known;
  const struct route *rt =
      route_find(method, c.seg, c.nseg, &c.otype, &path_known, key, sizeof key);

  if (rt && (rt->flags & R_ADMIN)) {
    pthread_mutex_lock(&e->mu);
    if (too_large)
      emu_fail(&c, EMU_E_TOO_LARGE, "Request body exceeds %u bytes",
               EMU_MAX_BODY);
    else if (!(rt->flags & R_BODY) || emu_parse_body(&c))
      rt->handler(&c);
    finish(&c, r);
    pthread_mutex_unlock(&e->mu);
    return;
  }

  /* Phase 1: who is calling, and which connection-level faults apply. */
  pthread_mutex_lock(&e->mu);
  e->requests_total++;
  const char *token = bearer_token(conn);
  struct emu_app *app = token ? emu_app_find(e, token) : NULL;
  int latency = e->base_latency_ms;
  bool drop_before = false, drop_after = false;
  if (app && !app->revoked) {
    struct emu_faults *f = &app->portal->faults;
    latency += f->latency_ms;
    if (f->jitter_ms > 0)
      latency += (int)(emu_rand01() * (f->jitter_ms + 1));
    drop_before = f->drop_rate > 0 && emu_rand01() < f->drop_rate;
    drop_after = f->drop_after_rate > 0 && emu_rand01() < f->drop_after_rate;
  }
  if (drop_before) {
    e->dropped++;
    e->faults_injected++;
    count_route(e, key, "dropped");
    pthread_mutex_unlock(&e->mu);
    r->drop = true;
    return;
  }
  pthread_mutex_unlock(&e->mu);

  /* Latency is spent in this connection's own thread, outside the lock. */
  sleep_ms(latency);

  /* Phase 2: limits, injected errors, the handler. */
  pthread_mutex_lock(&e->mu);
  app = token ? emu_app_find(e, token) : NULL;
  if (!app || app->revoked) {
    reply_401(&c);
    goto done;
  }
  c.app = app;
  c.p = app->portal;
  c.p->requests_total++;
  if (too_large) {
    emu_fail(&c, EMU_E_TOO_LARGE, "Request body exceeds %u bytes",
             EMU_MAX_BODY);
    goto done;
  }
  bool search = rt && (rt->flags & R_SEARCH);
  if (!emu_limit_check(&c, search))
    goto done;
  if (!rt) {
    if (path_known)
      emu_fail(&c, EMU_E_METHOD, "Method %s is not supported on %s", method,
               path);
    else
      emu_fail(&c, EMU_E_NO_ROUTE, "Unable to route %s %s", method, path);
    goto done;
  }
  const char *scope =
      (rt->flags & R_SCHEMA)
          ? ((rt->flags & R_WRITE) ? "crm.schemas.contacts.write"
                                   : "crm.schemas.contacts.read")
          : ((rt->flags & R_WRITE) ? "crm.objects.contacts.write"
                                   : "crm.objects.contacts.read");
  if (!has_scope(app, scope)) {
    reply_403(&c, scope);
    goto done;
  }
  struct emu_faults *f = &c.p->faults;
  if (f->error_rate > 0 && emu_rand01() < f->error_rate) {
    int st = 500;
    if (f->n_error_statuses > 0)
      st = f->error_statuses[(size_t)(emu_rand01() * f->n_error_statuses) %
                             f->n_error_statuses];
    reply_fault(&c, st, f->html_5xx);
    goto done;
  }
  if ((rt->flags & R_WRITE) && f->lock_423_rate > 0 &&
      emu_rand01() < f->lock_423_rate) {
    e->faults_injected++;
    if (e->retry_after)
      c.retry_after_s = 2;
    emu_fail(&c, EMU_E_LOCKED,
             "The record is locked by a concurrent sync. Retry in at least "
             "2 seconds.");
    goto done;
  }
  if ((rt->flags & R_BODY) && !emu_parse_body(&c))
    goto done;
  rt->handler(&c);

done:
  if (drop_after) {
    e->dropped++;
    e->faults_injected++;
    count_route(e, key, "dropped");
    json_decref(c.out);
    json_decref(c.in);
    free(c.out_raw);
    pthread_mutex_unlock(&e->mu);
    r->drop = true;
    return;
  }
  {
    char st[16];
    snprintf(st, sizeof st, "%d", c.status ? c.status : 500);
    count_route(e, key, st);
  }
  finish(&c, r);
  pthread_mutex_unlock(&e->mu);
}

/* --- libmicrohttpd glue -------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  struct emu *e = cls;
  dev_body *cx;
  enum MHD_Result ret;
  /* A body past the ceiling is read and thrown away, then 413. */
  if (dev_body_collect(conn, con_cls, upload, upload_size, EMU_MAX_BODY, &cx,
                       &ret))
    return ret;

  struct emu_response r;
  emu_dispatch(e, method, url, conn, cx->buf ? cx->buf : "", cx->len,
               cx->too_large, &r);
  if (r.drop) {
    free(r.body);
    return MHD_NO;
  }
  struct MHD_Response *resp;
  if (r.body)
    resp =
        MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
  else
    resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    free(r.body);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          r.html ? "text/html"
                                 : "application/json;charset=utf-8");
  for (size_t i = 0; i < r.nh; i++)
    MHD_add_response_header(resp, r.h[i].name, r.h[i].value);
  ret = MHD_queue_response(conn, (unsigned)r.status, resp);
  MHD_destroy_response(resp);
  return ret;
}

int emu_http_start(struct emu *e, const char *host, int port, int *bound_port,
                   void **daemon_out, char *errstr, size_t n) {
  return dev_http_start(host, port, on_request, e, 1024, 120, bound_port,
                        (struct MHD_Daemon **)daemon_out, errstr, n);
}
