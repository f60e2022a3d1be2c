/* hs_client: HubSpot requests, error bodies, the curl multi transport and
 * the run loop (limiter, waves, retries). */
#include "hs_client.h"
#include "ls_mask.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ls_json.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_token.h"

static const char *const class_names[] = {
#define HS_C_NAME(code, name) name,
    HS_CLASS_MAP(HS_C_NAME)
#undef HS_C_NAME
};

const char *hs_class_name(hs_class c) {
  return c < HS_C__COUNT ? class_names[c] : "unknown";
}

/* -- error bodies ------------------------------------------------------- */

static void copy_str(char *dst, size_t cap, const json_t *v) {
  const char *s = json_string_value(v);
  snprintf(dst, cap, "%s", s ? s : "");
}

/* "Existing ID: 12345" anywhere in s. */
static void find_existing_id(const char *s, char *out, size_t cap) {
  if (!s || out[0])
    return;
  const char *p = strstr(s, "Existing ID: ");
  if (!p)
    return;
  p += strlen("Existing ID: ");
  size_t n = 0;
  while (isdigit((unsigned char)p[n]) && n + 1 < cap)
    n++;
  if (n) {
    memcpy(out, p, n);
    out[n] = '\0';
  }
}

void hs_error_clear(hs_error *e) {
  json_decref(e->body);
  memset(e, 0, sizeof *e);
}

void hs_error_parse(const char *body, size_t len, hs_error *e) {
  memset(e, 0, sizeof *e);
  if (!body || !len)
    return;
  json_t *j = ls_json_loadb(body, len);
  if (!json_is_object(j)) {
    json_decref(j);
    /* An edge's HTML page or plain text: keep a printable excerpt. */
    size_t k = 0;
    for (size_t i = 0; i < len && k + 1 < 160; i++) {
      unsigned char c = (unsigned char)body[i];
      e->message[k++] = (c >= 32 && c < 127) ? (char)c : ' ';
    }
    e->message[k] = '\0';
    return;
  }
  e->body = j;
  copy_str(e->category, sizeof e->category, json_object_get(j, "category"));
  if (!e->category[0])
    copy_str(e->category, sizeof e->category, json_object_get(j, "errorType"));
  copy_str(e->sub_category, sizeof e->sub_category,
           json_object_get(j, "subCategory"));
  copy_str(e->message, sizeof e->message, json_object_get(j, "message"));
  copy_str(e->policy, sizeof e->policy, json_object_get(j, "policyName"));
  copy_str(e->correlation_id, sizeof e->correlation_id,
           json_object_get(j, "correlationId"));
  find_existing_id(e->message, e->existing_id, sizeof e->existing_id);
  const json_t *errs = json_object_get(j, "errors");
  size_t i;
  const json_t *it;
  json_array_foreach(errs, i, it) {
    if (!e->code[0])
      copy_str(e->code, sizeof e->code, json_object_get(it, "code"));
    find_existing_id(json_string_value(json_object_get(it, "message")),
                     e->existing_id, sizeof e->existing_id);
    const json_t *pn =
        json_object_get(json_object_get(it, "context"), "propertyName");
    if (!e->property[0] && json_is_array(pn))
      copy_str(e->property, sizeof e->property, json_array_get(pn, 0));
  }
}

hs_class hs_classify(long status, const hs_error *e) {
  if (status == 0)
    return HS_C_TRANSIENT;
  if (status >= 200 && status < 300)
    return HS_C_OK;
  if (status == 429) {
    if (!strcasecmp(e->policy, "DAILY"))
      return HS_C_RATE_DAILY;
    if (!strcasecmp(e->policy, "TEN_SECONDLY_ROLLING"))
      return HS_C_RATE_WINDOW;
    if (strstr(e->message, "secondly limit") &&
        !strstr(e->message, "ten_secondly"))
      return HS_C_RATE_SECONDLY;
    return HS_C_RATE_WINDOW;
  }
  if (status == 401 || status == 403)
    return HS_C_AUTH;
  if (status == 400)
    return HS_C_VALIDATION;
  if (status == 404)
    return HS_C_NOT_FOUND;
  if (status == 409)
    return HS_C_CONFLICT;
  if (status == 408 || status == 423 || status == 477 || status >= 500)
    return HS_C_TRANSIENT;
  return HS_C_PERMANENT;
}

/* -- requests ----------------------------------------------------------- */

#define HS_RESP_MAX_DEFAULT (8u * 1024u * 1024u)

hs_req *hs_req_new(const hs_target *tgt, const char *method, const char *path,
                   const char *route, const json_t *body) {
  hs_req *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->tgt = tgt;
  r->method = method;
  snprintf(r->path, sizeof r->path, "%s", path);
  r->route = route ? route : "other";
  r->idempotent = true;
  ls_buf_init(&r->resp, HS_RESP_MAX_DEFAULT);
  hs_rl_headers_clear(&r->rl);
  if (body) {
    r->body = ls_json_dumps(body, &r->body_len);
    if (!r->body) {
      free(r);
      return NULL;
    }
  }
  return r;
}

void hs_req_free(hs_req *r) {
  if (!r)
    return;
  free(r->body);
  ls_buf_free(&r->resp);
  hs_error_clear(&r->err);
  free(r);
}

json_t *hs_req_json(const hs_req *r) {
  if (!r->resp.len)
    return NULL;
  return ls_json_loadb(r->resp.data, r->resp.len);
}

void hs_req_add_context(hs_req *r, const char *event_id,
                        const char *traceparent) {
  if (traceparent && *traceparent && !r->traceparent[0])
    snprintf(r->traceparent, sizeof r->traceparent, "%s", traceparent);
  if (!event_id || !*event_id)
    return;
  size_t len = strlen(r->event_ids);
  char *plus = strrchr(r->event_ids, '+');
  if (plus) { /* already shortened: count one more */
    long n = strtol(plus + 1, NULL, 10);
    snprintf(plus, sizeof r->event_ids - (size_t)(plus - r->event_ids), "+%ld",
             n + 1);
    return;
  }
  /* Keep room for ",+NNNN". */
  if (len + strlen(event_id) + 1 + 7 < sizeof r->event_ids)
    snprintf(r->event_ids + len, sizeof r->event_ids - len, "%s%s",
             len ? "," : "", event_id);
  else
    snprintf(r->event_ids + len, sizeof r->event_ids - len, ",+1");
}

/* A log line about one call: tenant, its events and traceparent. */
static void log_call(ls_log_level lvl, const char *msg, const hs_req *r,
                     json_t *fields) {
  if (!fields)
    fields = json_object();
  json_object_set_new(
      fields, "tenant",
      json_string(r->tgt && r->tgt->label ? r->tgt->label : "-"));
  if (r->event_ids[0])
    json_object_set_new(fields, "event_ids", json_string(r->event_ids));
  if (r->traceparent[0])
    json_object_set_new(fields, "traceparent", json_string(r->traceparent));
  ls_log_json(lvl, msg, fields);
}

void hs_req_describe(const hs_req *r, char *out, size_t outlen) {
  /* For log lines: HubSpot's message quotes what was sent, so addresses
   * are masked (ls_mask_pii). */
  char msg[320];
  ls_mask_pii(r->err.message, msg, sizeof msg);
  int n;
  if (r->status == 0)
    n = snprintf(out, outlen, "%s %s -> %s", r->method, r->path,
                 r->transport_err[0] ? r->transport_err : "no answer");
  else
    n = snprintf(out, outlen, "%s %s -> %ld %s: %s", r->method, r->path,
                 r->status, r->err.category[0] ? r->err.category : "-", msg);
  /* A description longer than the caller's buffer ends in "..." so a
   * reader knows HubSpot's message was cut. */
  if (n >= 0 && (size_t)n >= outlen && outlen > 3)
    memcpy(out + outlen - 4, "...", 4);
}

/* -- curl multi transport ----------------------------------------------- */

typedef struct {
  hs_transport base;
  CURLM *multi;
  long timeout_ms, connect_timeout_ms;
  size_t max_resp;
  /* The caller's idle hook (hs_policy), called about every IDLE_MS while
   * a wave waits for its answers: the worker reads Kafka ahead then. */
  void (*idle)(void *ud);
  void *idle_ud;
} curl_tp;
#define IDLE_MS 10

typedef struct {
  hs_req *req;
  CURL *easy;
  struct curl_slist *hdrs;
  char *url;
  char errbuf[CURL_ERROR_SIZE];
  bool too_large;
} xfer;

static size_t on_body(char *p, size_t sz, size_t nm, void *ud) {
  xfer *x = ud;
  size_t n = sz * nm;
  if (ls_buf_append(&x->req->resp, p, n) != LS_OK) {
    x->too_large = true;
    return 0;
  }
  return n;
}

static bool header_is(const char *line, size_t len, const char *name,
                      const char **val) {
  size_t nl = strlen(name);
  if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
    return false;
  *val = line + nl + 1;
  return true;
}

static long header_long(const char *v, const char *end) {
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  char tmp[32];
  size_t n = 0;
  while (v < end && n + 1 < sizeof tmp && *v != '\r' && *v != '\n')
    tmp[n++] = *v++;
  tmp[n] = '\0';
  char *ep;
  errno = 0;
  long x = strtol(tmp, &ep, 10);
  if (errno || ep == tmp)
    return -1;
  return x;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud) {
  xfer *x = ud;
  size_t n = sz * nm;
  hs_rl_headers *h = &x->req->rl;
  const char *v, *end = p + n;
  /* Every number is clamped (hs_rl_clamp): absurd values cannot
   * overflow or block a portal for years. */
  if (header_is(p, n, "X-HubSpot-RateLimit-Remaining", &v))
    h->remaining = hs_rl_clamp(header_long(v, end));
  else if (header_is(p, n, "X-HubSpot-RateLimit-Max", &v))
    h->max = hs_rl_clamp(header_long(v, end));
  else if (header_is(p, n, "X-HubSpot-RateLimit-Interval-Milliseconds", &v))
    h->interval_ms = hs_rl_clamp(header_long(v, end));
  else if (header_is(p, n, "X-HubSpot-RateLimit-Daily", &v))
    h->daily = hs_rl_clamp(header_long(v, end));
  else if (header_is(p, n, "X-HubSpot-RateLimit-Daily-Remaining", &v))
    h->daily_remaining = hs_rl_clamp(header_long(v, end));
  else if (header_is(p, n, "Retry-After", &v))
    /* CRM Retry-After is in seconds (docs/hubspot-client.md). */
    h->retry_after_ms = hs_rl_retry_after_ms(header_long(v, end));
  return n;
}

static xfer *xfer_new(curl_tp *t, hs_req *r) {
  xfer *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  x->req = r;
  /* worker.max_response_bytes: the answer body's ceiling (on_body). */
  r->resp.max = t->max_resp;
  size_t ul = strlen(r->tgt->base_url) + strlen(r->path) + 1;
  x->url = malloc(ul);
  x->easy = curl_easy_init();
  if (!x->url || !x->easy)
    goto fail;
  snprintf(x->url, ul, "%s%s", r->tgt->base_url, r->path);
  /* The Authorization header is built here and handed to curl only. */
  const char *tok = r->tgt->token ? r->tgt->token : "";
  char fresh[4096];
  if (r->tgt->token_src && ls_token_get(r->tgt->token_src, fresh, sizeof fresh))
    tok = fresh;
  size_t al = strlen(tok) + 32;
  char *auth = malloc(al);
  if (!auth)
    goto fail;
  snprintf(auth, al, "Authorization: Bearer %s", tok);
  x->hdrs = curl_slist_append(NULL, auth);
  memset(auth, 0, al);
  free(auth);
  OPENSSL_cleanse(fresh, sizeof fresh);
  x->hdrs = curl_slist_append(x->hdrs, "Content-Type: application/json");
  x->hdrs = curl_slist_append(x->hdrs, "Accept: application/json");
  x->hdrs = curl_slist_append(x->hdrs, "Expect:");
  CURL *e = x->easy;
  curl_easy_setopt(e, CURLOPT_URL, x->url);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(e, CURLOPT_PRIVATE, x);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "leadsync/0.1");
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  /* libcurl silently re-sends a request whose reused connection died
   * before any answer byte; for a create that may have been applied, that
   * would be a duplicate. Creates get a connection of their own (which
   * then joins the pool for the idempotent calls). */
  if (!r->idempotent)
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
  if (!strcmp(r->method, "POST") || !strcmp(r->method, "PATCH") ||
      !strcmp(r->method, "PUT")) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE,
                     (long)(r->body ? r->body_len : 0));
    if (strcmp(r->method, "POST"))
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  } else if (strcmp(r->method, "GET")) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
  }
  return x;
fail:
  if (x->easy)
    curl_easy_cleanup(x->easy);
  free(x->url);
  free(x);
  return NULL;
}

static void xfer_free(xfer *x) {
  curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->hdrs);
  free(x->url);
  free(x);
}

static void xfer_finish(xfer *x, CURLcode rc) {
  hs_req *r = x->req;
  long code = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
  if (rc == CURLE_OK) {
    r->status = code;
    return;
  }
  r->status = 0;
  long reqsize = 0;
  curl_easy_getinfo(x->easy, CURLINFO_REQUEST_SIZE, &reqsize);
  r->sent_maybe = reqsize > 0 && rc != CURLE_COULDNT_CONNECT &&
                  rc != CURLE_COULDNT_RESOLVE_HOST;
  if (x->too_large)
    snprintf(r->transport_err, sizeof r->transport_err,
             "answer larger than %zu bytes", r->resp.max);
  else
    snprintf(r->transport_err, sizeof r->transport_err, "curl %d: %.120s",
             (int)rc, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
}

static void curl_perform(hs_transport *base, hs_req **reqs, size_t n) {
  curl_tp *t = (curl_tp *)base;
  size_t active = 0;
  int64_t next_idle = ls_mono_us() + IDLE_MS * 1000;
  for (size_t i = 0; i < n; i++) {
    xfer *x = xfer_new(t, reqs[i]);
    if (!x) {
      reqs[i]->status = 0;
      snprintf(reqs[i]->transport_err, sizeof reqs[i]->transport_err,
               "out of memory");
      continue;
    }
    curl_multi_add_handle(t->multi, x->easy);
    active++;
  }
  while (active > 0) {
    int running = 0;
    curl_multi_perform(t->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(t->multi, &left))) {
      if (m->msg != CURLMSG_DONE)
        continue;
      xfer *x = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      CURLcode rc = m->data.result;
      curl_multi_remove_handle(t->multi, m->easy_handle);
      xfer_finish(x, rc);
      xfer_free(x);
      active--;
    }
    if (active > 0 && running > 0) {
      /* The caller's work while the answers travel (the worker reads
       * Kafka ahead into its stash). */
      curl_multi_poll(t->multi, NULL, 0, t->idle ? IDLE_MS : 100, NULL);
      if (t->idle && ls_mono_us() >= next_idle) {
        t->idle(t->idle_ud);
        next_idle = ls_mono_us() + IDLE_MS * 1000;
      }
    }
  }
}

static void curl_destroy(hs_transport *base) {
  curl_tp *t = (curl_tp *)base;
  curl_multi_cleanup(t->multi);
  free(t);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

hs_transport *hs_transport_curl_new(long timeout_ms, long connect_timeout_ms,
                                    size_t max_resp) {
  pthread_once(&curl_once, curl_init_once);
  curl_tp *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->base.perform = curl_perform;
  t->base.destroy = curl_destroy;
  t->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
  t->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 5000;
  t->max_resp = max_resp ? max_resp : HS_RESP_MAX_DEFAULT;
  t->multi = curl_multi_init();
  if (!t->multi) {
    free(t);
    return NULL;
  }
  curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
  return &t->base;
}

void hs_transport_free(hs_transport *t) {
  if (t)
    t->destroy(t);
}

/* -- the run loop ------------------------------------------------------- */

void hs_policy_defaults(hs_policy *p) {
  memset(p, 0, sizeof *p);
  p->max_retries = 8;
  p->backoff_base_ms = 200;
  p->backoff_max_ms = 30000;
  p->max_rate_waits = 0;
}

static uint64_t rng_next(void) {
  static __thread uint64_t s;
  if (!s)
    s = (uint64_t)ls_now_us() ^ (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15u;
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

long hs_backoff_ms(const hs_policy *p, int attempt) {
  long d = p->backoff_base_ms > 0 ? p->backoff_base_ms : 1;
  for (int i = 1; i < attempt && d < p->backoff_max_ms; i++)
    d *= 2;
  if (d > p->backoff_max_ms)
    d = p->backoff_max_ms;
  long half = d / 2;
  return half + (long)(rng_next() % (uint64_t)(d - half + 1));
}

static void sleep_us(int64_t us) {
  if (us <= 0)
    return;
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

static void count(const hs_policy *pol, const char *name, const char *help,
                  const char *labels) {
  if (pol->metrics)
    ls_metrics_inc(pol->metrics, name, help, labels, 1);
}

static void record_answer(const hs_policy *pol, hs_req *r, int64_t now) {
  if (!pol->metrics)
    return;
  char lab[160];
  char st[16];
  if (r->status)
    snprintf(st, sizeof st, "%ld", r->status);
  else
    snprintf(st, sizeof st, "error");
  snprintf(lab, sizeof lab, "route=\"%s\",status=\"%s\"", r->route, st);
  ls_metrics_inc(pol->metrics, "leadsync_hubspot_requests_total",
                 "HubSpot API calls by route and status", lab, 1);
  snprintf(lab, sizeof lab, "route=\"%s\"", r->route);
  ls_metrics_observe(pol->metrics, "leadsync_hubspot_request_seconds",
                     "HubSpot API call latency", lab,
                     (double)(now - r->sent_us) / 1e6);
}

static void reset_attempt(hs_req *r) {
  r->status = 0;
  r->sent_maybe = false;
  ls_buf_reset(&r->resp);
  hs_rl_headers_clear(&r->rl);
  r->transport_err[0] = '\0';
  hs_error_clear(&r->err);
}

static void settle(hs_req *r, const hs_policy *pol, int64_t now) {
  char lab[160];
  hs_error_clear(&r->err);
  if (r->status < 200 || r->status >= 300)
    hs_error_parse(r->resp.data, r->resp.len, &r->err);
  r->cls = hs_classify(r->status, &r->err);
  if (r->cls == HS_C_CONFLICT && r->conflict_transient)
    r->cls = HS_C_TRANSIENT;
  record_answer(pol, r, now);
  switch (r->cls) {
  case HS_C_OK:
    r->state = HS_R_DONE;
    return;
  case HS_C_RATE_WINDOW:
  case HS_C_RATE_SECONDLY:
    hs_limiter_on_429(r->tgt->lim, r->search, false, now, r->rl.retry_after_ms);
    r->rate_waits++;
    snprintf(lab, sizeof lab, "tenant=\"%s\",policy=\"%s\"",
             r->tgt->label ? r->tgt->label : "-",
             r->cls == HS_C_RATE_WINDOW ? "ten_secondly" : "secondly");
    count(pol, "leadsync_hubspot_rate_limited_total",
          "429 answers from HubSpot", lab);
    if (pol->max_rate_waits > 0 && r->rate_waits > pol->max_rate_waits)
      r->state = HS_R_DONE;
    return; /* the limiter now holds it back */
  case HS_C_RATE_DAILY:
    hs_limiter_on_429(r->tgt->lim, r->search, true, now, r->rl.retry_after_ms);
    snprintf(lab, sizeof lab, "tenant=\"%s\",policy=\"daily\"",
             r->tgt->label ? r->tgt->label : "-");
    count(pol, "leadsync_hubspot_rate_limited_total",
          "429 answers from HubSpot", lab);
    log_call(LS_LOG_ERROR,
             "hubspot daily limit reached; portal paused until its reset", r,
             NULL);
    r->state = HS_R_DEFERRED;
    return;
  case HS_C_TRANSIENT: {
    if (!r->first_failure_us)
      r->first_failure_us = ls_now_us();
    bool maybe_applied = r->sent_maybe || r->status >= 500;
    if (!r->idempotent && maybe_applied) {
      r->state = HS_R_AMBIGUOUS;
      return;
    }
    int fails = r->attempts - r->rate_waits;
    if (fails > pol->max_retries) {
      r->state = HS_R_DONE;
      return;
    }
    long wait = hs_backoff_ms(pol, fails);
    long ra = r->rl.retry_after_ms < pol->backoff_max_ms
                  ? r->rl.retry_after_ms
                  : pol->backoff_max_ms; /* bounded like the backoff */
    if (ra > wait)
      wait = ra;
    r->next_us = now + (int64_t)wait * 1000;
    snprintf(lab, sizeof lab, "route=\"%s\"", r->route);
    count(pol, "leadsync_hubspot_retries_total",
          "HubSpot calls retried after a transient failure", lab);
    char d[512];
    hs_req_describe(r, d, sizeof d);
    log_call(LS_LOG_WARN, "hubspot call failed, retrying", r,
             json_pack("{s:s,s:i,s:i}", "call", d, "attempt", r->attempts,
                       "backoff_ms", (int)wait));
    return;
  }
  default:
    if (!r->first_failure_us)
      r->first_failure_us = ls_now_us();
    r->state = HS_R_DONE;
    return;
  }
}

void hs_run(hs_transport *tp, hs_req **reqs, size_t n, const hs_policy *pol) {
  hs_req **wave = calloc(n ? n : 1, sizeof *wave);
  if (!wave) {
    for (size_t i = 0; i < n; i++)
      reqs[i]->state = HS_R_DEFERRED;
    return;
  }
  for (size_t i = 0; i < n; i++) {
    reqs[i]->state = HS_R_PENDING;
    reqs[i]->next_us = 0;
  }
  for (;;) {
    size_t pending = 0, nw = 0;
    int64_t now = ls_mono_us(), wake = now + 100000;
    bool stopping = (pol->stop && *pol->stop) || (pol->abort && *pol->abort);
    for (size_t i = 0; i < n; i++) {
      hs_req *r = reqs[i];
      if (r->state != HS_R_PENDING)
        continue;
      if (stopping) {
        r->state = HS_R_DEFERRED;
        continue;
      }
      pending++;
      if (r->next_us > now) {
        if (r->next_us < wake)
          wake = r->next_us;
        continue;
      }
      if (pol->max_in_flight > 0 && nw >= (size_t)pol->max_in_flight)
        continue; /* the next wave takes it */
      if (hs_limiter_daily_blocked(r->tgt->lim, now, NULL)) {
        r->state = HS_R_DEFERRED;
        pending--;
        continue;
      }
      int64_t w = hs_limiter_acquire(r->tgt->lim, r->search, now);
      if (w > 0) {
        if (now + w < wake)
          wake = now + w;
        if (pol->metrics) {
          char lab[96];
          snprintf(lab, sizeof lab, "tenant=\"%s\"",
                   r->tgt->label ? r->tgt->label : "-");
          ls_metrics_inc(pol->metrics, "leadsync_hubspot_ratelimit_waits_total",
                         "Times a call waited for the portal's budget", lab, 1);
        }
        continue;
      }
      reset_attempt(r);
      r->attempts++;
      r->sent_us = now;
      wave[nw++] = r;
    }
    if (!pending)
      break;
    if (!nw) {
      if (pol->idle) {
        pol->idle(pol->idle_ud);
        now = ls_mono_us();
      }
      sleep_us(wake - now);
      continue;
    }
    if (tp->perform == curl_perform) {
      ((curl_tp *)tp)->idle = pol->idle;
      ((curl_tp *)tp)->idle_ud = pol->idle_ud;
    }
    tp->perform(tp, wave, nw);
    now = ls_mono_us();
    for (size_t i = 0; i < nw; i++) {
      hs_limiter_observe(wave[i]->tgt->lim, wave[i]->search, wave[i]->sent_us,
                         now, &wave[i]->rl);
      settle(wave[i], pol, now);
    }
  }
  free(wave);
}

void hs_run1(hs_transport *tp, hs_req *r, const hs_policy *pol) {
  hs_run(tp, &r, 1, pol);
}
