/* ing_http: MHD handlers; a webhook is answered from its delivery report. */
#include "ing_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ing_guard.h"
#include "ing_mask.h"
#include "ing_metrics.h"
#include "ing_variation.h"
#include "ls_buf.h"
#include "ls_hash.h"
#include "ls_log.h"
#include "ls_mhd.h"
#include "ls_ops.h"
#include "ls_time.h"

#define WEBHOOK_PREFIX "/v1/webhooks/smartlead/"
#define M_REQUESTS ING_M_REQUESTS
#define M_DELIVERY ING_M_DELIVERY
#define M_IN_FLIGHT ING_M_IN_FLIGHT
#define M_QUEUE ING_M_QUEUE
#define M_QUARANTINED ING_M_QUARANTINED
#define M_SCOPE ING_M_SCOPE
#define M_READY ING_M_READY
#define M_BODY_BYTES "leadsync_ingress_body_bytes_in_flight"
#define M_DEADLINE "leadsync_ingress_deadline_closed_total"
#define M_CONNS "leadsync_ingress_open_connections"

/* One HTTP request. refs: the connection holds one until MHD reports the
 * request completed; a record in Kafka holds one until its delivery report.
 * Whoever drops the last one frees it (both under srv->mu). */
typedef struct ing_req {
  struct ing_server *srv;
  struct MHD_Connection *conn; /* NULL once MHD completed the request */
  int refs;
  bool webhook;
  bool responded;
  const ls_source *src;
  size_t reserved; /* body bytes held from the budget */
  ls_buf body;
  char traceparent[56];
  long long arrived_us; /* monotonic, when its headers were complete */
  ing_verdict v;
  /* between suspend and the response */
  bool suspended, done;
  ls_err result;
  long long produced_us, deadline_us;
  struct ing_req *prev, *next;
} ing_req;

/* The hot path's counters, added up here and handed to ls_metrics by
 * ing_http_tick (every 100 ms and before every /metrics answer, so a
 * scrape sees them all): an accepted request pays for two atomic updates,
 * no lock, no label formatting and no lookup in the shared registry. One
 * slot per source, claimed once (the pointers live as long as the server);
 * a source beyond the table is counted directly. */
#define ING_STAT_SLOTS 512
typedef struct {
  _Atomic(const ls_source *) src; /* set once, never cleared */
  atomic_llong received_us; /* latest arrival, 0: none since the last flush */
  atomic_ulong accepted;    /* 200s since the last flush */
} ing_src_stat;

struct ing_server {
  ing_http_opts o;
  pthread_mutex_t flush_mu; /* one stat_flush at a time */
  ing_src_stat stats[ING_STAT_SLOTS];
  atomic_ulong accepted_by_type[LS_EV__COUNT]; /* since the last flush */
  ing_sink *sink;
  ing_guard *guard;
  struct MHD_Daemon *d;
  pthread_mutex_t mu;
  ing_req *head, *tail; /* waiting for Kafka, oldest first */
  size_t n_waiting;     /* suspended, not yet answered */
  size_t n_open;        /* allocated requests */
  ing_req *spare;       /* finished requests kept for reuse (next-linked) */
  size_t n_spare;
  atomic_bool draining;
  atomic_llong last_request_us;
};

int ing_http_status(ls_err e) {
  switch (e) {
  case LS_OK:
    return MHD_HTTP_OK;
  case LS_ERR_BAD_JSON:
  case LS_ERR_BAD_UTF8:
  case LS_ERR_TOO_DEEP:
  case LS_ERR_NOT_OBJECT:
  case LS_ERR_NO_EVENT_TYPE:
  case LS_ERR_SCHEMA:
  case LS_ERR_INVALID:
    return MHD_HTTP_BAD_REQUEST;
  case LS_ERR_UNAUTHORIZED:
    return MHD_HTTP_UNAUTHORIZED;
  case LS_ERR_NOT_FOUND:
    return MHD_HTTP_NOT_FOUND;
  case LS_ERR_METHOD:
    return MHD_HTTP_METHOD_NOT_ALLOWED;
  case LS_ERR_TOO_LARGE:
    return MHD_HTTP_CONTENT_TOO_LARGE;
  case LS_ERR_MEDIA_TYPE:
    return MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
  case LS_ERR_RATE_LIMITED:
    return MHD_HTTP_TOO_MANY_REQUESTS;
  case LS_ERR_KAFKA:
  case LS_ERR_TIMEOUT:
  case LS_ERR_DRAINING:
  case LS_ERR_NOMEM:
    return MHD_HTTP_SERVICE_UNAVAILABLE;
  default:
    return MHD_HTTP_INTERNAL_SERVER_ERROR;
  }
}

/* ---- request lifetime ------------------------------------------------ */

/* Finished requests are kept, with their body buffer, for the next ones:
 * an accepted webhook then costs no allocation of the request (1.5 KiB,
 * glibc's large-chunk path) nor of its body. At most ING_SPARE_MAX are
 * kept, and only bodies of up to ING_SPARE_BODY bytes of capacity, so
 * the cache holds at most 6 MiB. */
#define ING_SPARE_MAX 256
#define ING_SPARE_BODY (16u * 1024u)

static void req_free(ing_req *r) {
  ls_buf_free(&r->body);
  free(r);
}

/* Drops one reference; srv->mu must be held. True when r was released. */
static bool req_unref_locked(ing_req *r) {
  if (--r->refs > 0)
    return false;
  ing_server *s = r->srv;
  s->n_open--;
  if (r->reserved)
    ing_guard_release(s->guard, r->reserved);
  r->reserved = 0;
  if (s->n_spare < ING_SPARE_MAX && r->body.cap <= ING_SPARE_BODY + 1) {
    r->next = s->spare;
    s->spare = r;
    s->n_spare++;
  } else {
    req_free(r);
  }
  return true;
}

/* A zeroed request, from the spares when there is one (its body buffer
 * kept, emptied); srv->mu must be held. NULL when out of memory. */
static ing_req *req_new_locked(ing_server *s) {
  ing_req *r = s->spare;
  if (!r)
    return calloc(1, sizeof(ing_req));
  s->spare = r->next;
  s->n_spare--;
  ls_buf body = r->body;
  memset(r, 0, sizeof *r);
  r->body = body;
  ls_buf_reset(&r->body);
  return r;
}

static void unlink_locked(ing_server *s, ing_req *r) {
  if (r->prev)
    r->prev->next = r->next;
  else if (s->head == r)
    s->head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else if (s->tail == r)
    s->tail = r->prev;
  r->prev = r->next = NULL;
}

/* Records the outcome of a waiting request once (delivery report, refused
 * produce or deadline, whichever comes first) and returns the connection to
 * resume, or NULL. srv->mu must be held. */
static struct MHD_Connection *settle_locked(ing_server *s, ing_req *r,
                                            ls_err e) {
  if (r->done)
    return NULL;
  r->done = true;
  r->result = e;
  unlink_locked(s, r);
  return r->conn;
}

/* ---- responses ------------------------------------------------------- */

static enum MHD_Result send_body(struct MHD_Connection *c, int status,
                                 const char *ctype, const char *body,
                                 int retry_after, bool close_conn,
                                 const char *allow) {
  struct MHD_Response *resp = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  if (!resp)
    return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", retry_after);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
  }
  if (allow)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
  if (close_conn)
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
  enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static void count_request(ing_server *s, int status, const char *etype) {
  char labels[128];
  snprintf(labels, sizeof labels, "status=\"%d\",event_type=\"%s\"", status,
           etype);
  ls_metrics_inc(s->o.metrics, M_REQUESTS,
                 "Webhook requests by HTTP status and event type", labels, 1);
}

/* Answers a webhook with an error; logs one line naming the reason. */
static enum MHD_Result reject(ing_server *s, ing_req *r, ls_err e,
                              const char *detail, int retry_after,
                              const char *allow) {
  int status = ing_http_status(e);
  const char *etype =
      r->v.have_event ? ls_event_type_name(r->v.ev.type) : "none";
  if (!detail || !*detail)
    detail = ls_err_msg(e);
  /* 401 says nothing about which check failed. */
  if (e == LS_ERR_UNAUTHORIZED)
    detail = ls_err_msg(e);
  json_t *o = json_pack("{s:s,s:s,s:s}", "status",
                        status == 503 ? "unavailable" : "rejected", "error",
                        ls_err_name(e), "message", detail);
  char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  ls_warn("request rejected", "{s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "status", status,
          "reason", ls_err_name(e), "detail", detail, "tenant",
          r->src ? r->src->tenant->id : "-", "source",
          r->src ? r->src->id : "-", "event_type", etype, "event_id",
          r->v.have_event ? r->v.ev.event_id : "-");
  count_request(s, status, etype);
  r->responded = true;
  enum MHD_Result ret =
      send_body(r->conn, status, "application/json",
                txt ? txt : "{\"status\":\"rejected\"}", retry_after,
                atomic_load(&s->draining), allow);
  free(txt);
  return ret;
}

/* True when s can stand in a JSON string as it is. */
static bool json_plain(const char *s) {
  for (; *s; s++)
    if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
      return false;
  return true;
}

/* src's slot (claimed when missing); NULL when the table is full. */
static ing_src_stat *stat_slot(ing_server *s, const ls_source *src) {
  uint64_t h = (uint64_t)(uintptr_t)src * 0x9E3779B97F4A7C15ull;
  size_t i = (size_t)(h >> 40) & (ING_STAT_SLOTS - 1);
  for (size_t n = 0; n < ING_STAT_SLOTS;
       n++, i = (i + 1) & (ING_STAT_SLOTS - 1)) {
    const ls_source *cur = atomic_load(&s->stats[i].src);
    if (cur == src)
      return &s->stats[i];
    if (!cur && (atomic_compare_exchange_strong(&s->stats[i].src, &cur, src) ||
                 cur == src))
      return &s->stats[i];
  }
  return NULL;
}

/* An authenticated body of src arrived at now (wall clock, whatever its
 * fate). */
static void stat_received(ing_server *s, const ls_source *src, long long now) {
  ing_src_stat *st = stat_slot(s, src);
  if (st)
    atomic_store(&st->received_us, now);
  else
    ing_metrics_received_at(s->o.metrics, src, now);
}

/* Kafka acknowledged an event of src: the 200 is counted. */
static void stat_accepted(ing_server *s, const ls_source *src,
                          ls_event_type t) {
  ing_src_stat *st = stat_slot(s, src);
  if (st) {
    atomic_fetch_add(&st->accepted, 1);
    atomic_fetch_add(&s->accepted_by_type[t], 1);
  } else {
    count_request(s, 200, ls_event_type_name(t));
    ing_metrics_accepted(s->o.metrics, src);
  }
}

/* Hands what the requests added up to ls_metrics (one caller at a time:
 * the main loop's tick, or a /metrics answer, under flush_mu). */
static void stat_flush(ing_server *s) {
  pthread_mutex_lock(&s->flush_mu);
  for (size_t i = 0; i < ING_STAT_SLOTS; i++) {
    ing_src_stat *st = &s->stats[i];
    const ls_source *src = atomic_load(&st->src);
    if (!src)
      continue;
    long long rx = atomic_exchange(&st->received_us, 0);
    unsigned long acc = atomic_exchange(&st->accepted, 0);
    if (rx)
      ing_metrics_received_at(s->o.metrics, src, rx);
    if (acc)
      ing_metrics_accepted_n(s->o.metrics, src, acc);
  }
  for (int t = 0; t < LS_EV__COUNT; t++) {
    unsigned long n = atomic_exchange(&s->accepted_by_type[t], 0);
    if (n) {
      char labels[128];
      snprintf(labels, sizeof labels, "status=\"200\",event_type=\"%s\"",
               ls_event_type_name((ls_event_type)t));
      ls_metrics_inc(s->o.metrics, M_REQUESTS,
                     "Webhook requests by HTTP status and event type", labels,
                     (double)n);
    }
  }
  pthread_mutex_unlock(&s->flush_mu);
}

/* Appends n bytes of p at *o in out (the caller sized out for all). */
static void put(char *out, size_t *o, const char *p, size_t n) {
  memcpy(out + *o, p, n);
  *o += n;
}
#define PUT_LIT(out, o, lit) put(out, o, lit, sizeof lit - 1)

static enum MHD_Result accept_response(ing_server *s, ing_req *r) {
  char plain[96 + sizeof r->v.ev.event_id + LS_TOPIC_MAX], *txt = NULL;
  bool is_plain = json_plain(r->v.ev.topic);
  /* The event id is hex and topic names are [A-Za-z0-9._-]: the answer is
   * put together directly (the same bytes jansson would write). */
  if (is_plain) {
    size_t o = 0;
    PUT_LIT(plain, &o, "{\"status\":\"accepted\",\"event_id\":\"");
    put(plain, &o, r->v.ev.event_id,
        strnlen(r->v.ev.event_id, sizeof r->v.ev.event_id - 1));
    PUT_LIT(plain, &o, "\",\"topic\":\"");
    put(plain, &o, r->v.ev.topic,
        strnlen(r->v.ev.topic, sizeof r->v.ev.topic - 1));
    PUT_LIT(plain, &o, "\"}");
    plain[o] = '\0';
  } else {
    json_t *o = json_pack("{s:s,s:s,s:s}", "status", "accepted", "event_id",
                          r->v.ev.event_id, "topic", r->v.ev.topic);
    txt = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
  }
  stat_accepted(s, r->src, r->v.ev.type);
  ls_log(LS_LOG_DEBUG, "accepted", "{s:s,s:s,s:s}", "event_id",
         r->v.ev.event_id, "topic", r->v.ev.topic, "tenant",
         r->src->tenant->id);
  r->responded = true;
  const char *body =
      is_plain ? plain : (txt ? txt : "{\"status\":\"accepted\"}");
  enum MHD_Result ret = send_body(r->conn, 200, "application/json", body, 0,
                                  atomic_load(&s->draining), NULL);
  free(txt);
  return ret;
}

/* ---- Kafka records --------------------------------------------------- */

static bool valid_traceparent(const char *t) {
  /* version-traceid-parentid-flags, lower-case hex (W3C Trace Context). */
  static const int lens[] = {2, 32, 16, 2};
  const char *p = t;
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < lens[k]; i++, p++)
      if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
        return false;
    if (k < 3 && *p++ != '-')
      return false;
  }
  return *p == '\0';
}

/* A header whose name is a string literal (its length known here). */
#define hdr(h, name, value)                                                    \
  rd_kafka_header_add(h, name, sizeof name - 1, value, -1)

/* The current time as ls_time_format_us writes it; the date and time of
 * day are formatted once per second per thread, the microseconds here. */
static void received_at(long long us, char *out, size_t cap) {
  static _Thread_local long long cached_sec = -1;
  static _Thread_local char head[40];
  long long sec = us / 1000000;
  long frac = (long)(us % 1000000);
  if (sec != cached_sec || us < 0 || cap < 28) {
    ls_time_format_us(us, out, cap);
    if (us >= 0 && strlen(out) == 27) {
      memcpy(head, out, 19);
      cached_sec = sec;
    }
    return;
  }
  memcpy(out, head, 19);
  out[19] = '.';
  for (int i = 25; i >= 20; i--) {
    out[i] = (char)('0' + frac % 10);
    frac /= 10;
  }
  out[26] = 'Z';
  out[27] = '\0';
}

/* The record's headers; wall_us (ls_now_us) is its ls_received_at. */
static rd_kafka_headers_t *record_headers(ing_req *r, long long wall_us,
                                          const char *reason,
                                          const char *detail) {
  rd_kafka_headers_t *h = rd_kafka_headers_new(12);
  const ing_verdict *v = &r->v;
  char buf[512], now[40];
  hdr(h, "ce_specversion", "1.0");
  if (v->have_event) {
    hdr(h, "ce_id", v->ev.event_id);
    hdr(h, "ce_type", v->ev.ce_type);
    if (v->ev.event_time[0])
      hdr(h, "ce_time", v->ev.event_time);
  } else {
    /* Nothing derivable: the body's own hash identifies the record. */
    char hex[65];
    ls_sha256_hex(r->body.data ? r->body.data : "", r->body.len, hex);
    hex[32] = '\0';
    hdr(h, "ce_id", hex);
  }
  size_t tl = strlen(r->src->tenant->id), sl = strlen(r->src->id);
  if (sizeof "/smartlead///" + tl + sl <= sizeof buf) {
    size_t o = 0;
    PUT_LIT(buf, &o, "/smartlead/");
    put(buf, &o, r->src->tenant->id, tl);
    PUT_LIT(buf, &o, "/");
    put(buf, &o, r->src->id, sl);
    buf[o] = '\0';
  } else {
    snprintf(buf, sizeof buf, "/smartlead/%s/%s", r->src->tenant->id,
             r->src->id);
  }
  hdr(h, "ce_source", buf);
  hdr(h, "content-type", "application/json");
  hdr(h, "ce_tenant", r->src->tenant->id);
  hdr(h, "ce_sourcelevel", ls_level_name(r->src->level));
  if (r->traceparent[0])
    hdr(h, "traceparent", r->traceparent);
  if (v->scope_mismatch)
    hdr(h, "ls_scope_mismatch", "1");
  received_at(wall_us, now, sizeof now);
  hdr(h, "ls_received_at", now);
  if (reason) {
    hdr(h, "ls_quarantine_reason", reason);
    hdr(h, "ls_quarantine_detail", detail);
  }
  return h;
}

static void quarantine(ing_server *s, ing_req *r) {
  const char *reason = ing_quarantine_reason(r->v.err);
  char topic[LS_TOPIC_MAX], key[LS_KEY_MAX];
  snprintf(topic, sizeof topic, "%squarantine", s->o.cfg->topic_prefix);
  if (r->v.have_event)
    snprintf(key, sizeof key, "%s", r->v.ev.key);
  else
    snprintf(key, sizeof key, "%s:-:-", r->src->tenant->id);
  ing_msg m = {.topic = topic,
               .key = key,
               .value = r->body.data ? r->body.data : "",
               .len = r->body.len,
               .hdrs = record_headers(r, ls_now_us(), reason, r->v.detail),
               .copy = true,
               .opaque = NULL};
  char labels[64];
  snprintf(labels, sizeof labels, "reason=\"%s\"", reason);
  ls_metrics_inc(s->o.metrics, M_QUARANTINED,
                 "Authenticated bodies copied to the quarantine topic", labels,
                 1);
  /* Best effort: the sender gets its 400 whether or not this lands. */
  s->sink->send(s->sink, &m);
}

void ing_http_delivered(const ing_delivery *d, size_t n, void *ctx) {
  ing_server *s = ctx;
  long long now = ls_mono_us();
  struct MHD_Connection *conns[256];
  double secs[256];
  /* In chunks that fit on the stack: every outcome of the chunk recorded
   * under one lock, then the connections resumed back to back, so an HTTP
   * thread asleep in epoll wakes once for all of them. */
  for (size_t base = 0; base < n; base += 256) {
    size_t m = n - base < 256 ? n - base : 256, nc = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < m; i++) {
      ing_req *r = d[base + i].opaque;
      secs[i] = (double)(now - r->produced_us) / 1e6;
      struct MHD_Connection *c = settle_locked(s, r, d[base + i].err);
      req_unref_locked(r); /* the record's reference */
      if (c)
        conns[nc++] = c;
    }
    pthread_mutex_unlock(&s->mu);
    /* Outside the lock: a suspended connection cannot go away until it is
     * resumed, so every c stays valid. */
    for (size_t i = 0; i < nc; i++)
      MHD_resume_connection(conns[i]);
    ls_metrics_observe_n(s->o.metrics, M_DELIVERY,
                         "Time from produce to the Kafka delivery report", NULL,
                         secs, m);
  }
}

/* ---- webhook handling ------------------------------------------------ */

static bool is_json_ctype(const char *ct) {
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, "application/json", 16) != 0)
    return false;
  ct += 16;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

/* First call, headers known: everything that can be decided before the
 * body is read is decided here (so a 401/413/415/429 never reads it). */
static enum MHD_Result begin_webhook(ing_server *s, ing_req *r,
                                     const char *token, const char *method) {
  struct MHD_Connection *c = r->conn;
  if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
    return reject(s, r, LS_ERR_METHOD, NULL, 0, "POST");
  /* Token probing learns nothing: an empty, malformed or unknown token all
   * take the same path (hash, compare with every source) and get the same
   * 401, before any body byte is read. */
  char th[65];
  ls_sha256_hex(token, strlen(token), th);
  r->src = s->o.sources ? ing_sources_find(s->o.sources, th)
                        : ls_config_find_source(s->o.cfg, th);
  if (!r->src || !*token || strchr(token, '/')) {
    r->src = NULL;
    return reject(s, r, LS_ERR_UNAUTHORIZED, NULL, 0, NULL);
  }
  if (atomic_load(&s->draining))
    return reject(s, r, LS_ERR_DRAINING, NULL, s->o.retry_after_s, NULL);
  /* A missing Content-Type is tolerated (the body is checked anyway);
   * a declared non-JSON one is not. */
  const char *ct =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  if (ct && !is_json_ctype(ct))
    return reject(s, r, LS_ERR_MEDIA_TYPE, NULL, 0, NULL);
  const char *cl =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  size_t want = s->o.max_body; /* chunked: the most it may become */
  if (cl) {
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno || end == cl || n > s->o.max_body) {
      char d[96];
      snprintf(d, sizeof d, "body larger than %zu bytes", s->o.max_body);
      return reject(s, r, LS_ERR_TOO_LARGE, d, 0, NULL);
    }
    want = (size_t)n;
    /* The buffer never grows past what was declared (and reserved). */
    r->body.max = want;
  }
  /* The global budget of body bytes: over it, 503 before reading any. */
  if (want && !ing_guard_reserve(s->guard, want))
    return reject(s, r, LS_ERR_NOMEM,
                  "too many request bodies in flight, retry later",
                  s->o.retry_after_s, NULL);
  r->reserved = want;
  /* A declared length is allocated once (pages are touched as it arrives),
   * not grown by copies. */
  if (cl && want && ls_buf_reserve(&r->body, want) != LS_OK)
    return reject(s, r, LS_ERR_NOMEM, "out of memory, retry later",
                  s->o.retry_after_s, NULL);
  int retry = 1;
  if (!ing_ratelimit_take(s->o.rl, r->src, r->arrived_us, &retry))
    return reject(s, r, LS_ERR_RATE_LIMITED, NULL, retry, NULL);
  const char *tp =
      MHD_lookup_connection_value(c, MHD_HEADER_KIND, "traceparent");
  if (tp && strlen(tp) < sizeof r->traceparent && valid_traceparent(tp))
    snprintf(r->traceparent, sizeof r->traceparent, "%s", tp);
  return MHD_YES;
}

/* Last call, body complete: route it, then publish and suspend until the
 * delivery report (or answer the rejection right away). */
static enum MHD_Result finish_webhook(ing_server *s, ing_req *r) {
  long long wall = ls_now_us();
  stat_received(s, r->src, wall);
  ing_guard_body_done(s->guard, r->conn);
  if (r->reserved > r->body.len) {
    /* A chunked body holds only what it turned out to be. */
    ing_guard_release(s->guard, r->reserved - r->body.len);
    r->reserved = r->body.len;
  }
  ing_route(s->o.schemas, r->src, s->o.cfg->topic_prefix, s->o.max_depth,
            r->body.data ? r->body.data : "", r->body.len, &r->v);
  /* Checked; from here on the body is stored (topic or quarantine) with its
   * secret_key masked in place (same length, still valid JSON). ce_id was
   * derived from the body as received. */
  ing_mask_apply(r->body.data, r->body.len, &r->v.secrets);
  if (r->v.err != LS_OK) {
    if (r->v.quarantine)
      quarantine(s, r);
    return reject(s, r, r->v.err, r->v.detail, 0, NULL);
  }
  if (r->v.drift[0] || r->v.ev.type == LS_EV_UNKNOWN)
    ing_metrics_variation(s->o.metrics, r->src, &r->v);
  if (r->v.scope_mismatch) {
    char labels[200];
    snprintf(labels, sizeof labels, "tenant=\"%s\",source=\"%s\"",
             r->src->tenant->id, r->src->id);
    ls_metrics_inc(s->o.metrics, M_SCOPE,
                   "Events whose client or campaign contradicts the source "
                   "scope",
                   labels, 1);
    ls_warn("scope mismatch", "{s:s,s:s,s:s,s:s,s:s,s:s}", "tenant",
            r->src->tenant->id, "source", r->src->id, "level",
            ls_level_name(r->src->level), "scope_id",
            r->src->scope_id ? r->src->scope_id : "-", "event_id",
            r->v.ev.event_id, "event_type", r->v.ev.type_name);
  }
  ing_msg m = {.topic = r->v.ev.topic,
               .key = r->v.ev.key,
               .value = r->body.data ? r->body.data : "",
               .len = r->body.len,
               .hdrs = record_headers(r, wall, NULL, NULL),
               .copy = false,
               .opaque = r};
  long long now = ls_mono_us();
  pthread_mutex_lock(&s->mu);
  r->refs++; /* the record's reference */
  r->suspended = true;
  r->produced_us = now;
  r->deadline_us = now + (long long)s->o.kafka_timeout_ms * 1000;
  r->prev = s->tail;
  if (s->tail)
    s->tail->next = r;
  else
    s->head = r;
  s->tail = r;
  s->n_waiting++;
  pthread_mutex_unlock(&s->mu);
  /* Suspend before producing: the report may arrive on the poller thread
   * at any moment after send and must find the connection suspended. */
  MHD_suspend_connection(r->conn);
  ls_err e = s->sink->send(s->sink, &m);
  if (e != LS_OK) {
    pthread_mutex_lock(&s->mu);
    struct MHD_Connection *c = settle_locked(s, r, e);
    req_unref_locked(r); /* no report will come */
    pthread_mutex_unlock(&s->mu);
    if (c)
      MHD_resume_connection(c);
  }
  return MHD_YES;
}

/* Called again after MHD_resume_connection: answer from the outcome. */
static enum MHD_Result answer_waiting(ing_server *s, ing_req *r) {
  pthread_mutex_lock(&s->mu);
  bool done = r->done;
  ls_err e = r->result;
  if (done) {
    r->suspended = false;
    s->n_waiting--;
  }
  pthread_mutex_unlock(&s->mu);
  if (!done)
    return MHD_YES; /* not ours to answer yet */
  if (e == LS_OK)
    return accept_response(s, r);
  if (e == LS_ERR_TOO_LARGE)
    return reject(s, r, e, "body too large for kafka; it will never be stored",
                  0, NULL);
  char d[128];
  snprintf(d, sizeof d, "%s",
           e == LS_ERR_TIMEOUT
               ? "kafka did not acknowledge the event in time, retry later"
               : "kafka did not store the event, retry later");
  return reject(s, r, e, d, s->o.retry_after_s, NULL);
}

/* ---- other endpoints ------------------------------------------------- */

static enum MHD_Result serve_other(ing_server *s, ing_req *r, const char *url,
                                   const char *method) {
  struct MHD_Connection *c = r->conn;
  bool get = !strcmp(method, MHD_HTTP_METHOD_GET) ||
             !strcmp(method, MHD_HTTP_METHOD_HEAD);
  bool known = !strcmp(url, "/healthz") || !strcmp(url, "/readyz") ||
               !strcmp(url, "/metrics");
  r->responded = true;
  if (!known)
    return send_body(c, 404, "application/json",
                     "{\"status\":\"rejected\",\"error\":\"not_found\","
                     "\"message\":\"not found\"}",
                     0, false, NULL);
  if (!get)
    return send_body(c, 405, "application/json",
                     "{\"status\":\"rejected\",\"error\":"
                     "\"method_not_allowed\",\"message\":\"method not "
                     "allowed\"}",
                     0, false, "GET, HEAD");
  if (!strcmp(url, "/healthz"))
    return send_body(c, 200, "application/json", "{\"status\":\"ok\"}", 0,
                     false, NULL);
  if (!strcmp(url, "/readyz")) {
    bool draining = atomic_load(&s->draining);
    bool kafka = s->sink && s->sink->ready(s->sink);
    if (!draining && kafka)
      return send_body(c, 200, "application/json", "{\"status\":\"ready\"}", 0,
                       false, NULL);
    return send_body(c, 503, "application/json",
                     draining ? "{\"status\":\"not_ready\",\"reason\":"
                                "\"draining\"}"
                              : "{\"status\":\"not_ready\",\"reason\":"
                                "\"kafka_unreachable\"}",
                     s->o.retry_after_s, false, NULL);
  }
  ing_http_tick(s);
  size_t len = 0;
  char *txt = ls_metrics_render(s->o.metrics, &len);
  enum MHD_Result ret =
      send_body(c, 200, "text/plain; version=0.0.4; charset=utf-8",
                txt ? txt : "", 0, false, NULL);
  free(txt);
  return ret;
}

/* ---- MHD callbacks --------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  (void)version;
  ing_server *s = cls;
  ing_req *r = *con_cls;
  if (!r) {
    pthread_mutex_lock(&s->mu);
    r = req_new_locked(s);
    if (r)
      s->n_open++;
    pthread_mutex_unlock(&s->mu);
    if (!r)
      return MHD_NO;
    r->srv = s;
    r->conn = c;
    r->refs = 1;
    r->body.max = s->o.max_body;
    r->arrived_us = ls_mono_us();
    atomic_store(&s->last_request_us, r->arrived_us);
    *con_cls = r;
    ing_guard_headers_done(s->guard, c);
    const char *why = NULL;
    if (!ing_guard_framing_ok(c, &why)) {
      /* Where a proxy and we could disagree on where this message ends,
       * nothing on this connection is trusted: 400 and close. */
      r->responded = true;
      ls_warn("request rejected", "{s:i,s:s,s:s}", "status", 400, "reason",
              "framing", "detail", why);
      if (!strncmp(url, WEBHOOK_PREFIX, strlen(WEBHOOK_PREFIX)))
        count_request(s, 400, "none");
      return send_body(c, 400, "application/json",
                       "{\"status\":\"rejected\",\"error\":\"invalid\","
                       "\"message\":\"conflicting message framing\"}",
                       0, true, NULL);
    }
    if (!strncmp(url, WEBHOOK_PREFIX, strlen(WEBHOOK_PREFIX))) {
      r->webhook = true;
      return begin_webhook(s, r, url + strlen(WEBHOOK_PREFIX), method);
    }
    if (!strcmp(url, "/v1/webhooks/smartlead")) {
      r->webhook = true;
      return reject(s, r, LS_ERR_NOT_FOUND, NULL, 0, NULL);
    }
    return serve_other(s, r, url, method);
  }
  if (r->responded) {
    /* Answered early: whatever body follows is discarded. */
    *upload_size = 0;
    return MHD_YES;
  }
  if (*upload_size) {
    ls_err e = ls_buf_append(&r->body, upload, *upload_size);
    *upload_size = 0;
    if (e == LS_OK)
      return MHD_YES;
    char d[96];
    snprintf(d, sizeof d, "body larger than %zu bytes", s->o.max_body);
    if (reject(s, r, e == LS_ERR_TOO_LARGE ? e : LS_ERR_NOMEM, d, 0, NULL) ==
        MHD_YES)
      return MHD_YES;
    /* MHD cannot answer in the middle of a chunked upload: drop it
     * rather than read the rest. */
    return MHD_NO;
  }
  if (r->suspended)
    return answer_waiting(s, r);
  return finish_webhook(s, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)toe;
  ing_server *s = cls;
  /* The next request on a kept-alive connection starts its clock now. */
  ing_guard_request_done(s->guard, c);
  ing_req *r = *con_cls;
  if (!r)
    return;
  *con_cls = NULL;
  pthread_mutex_lock(&s->mu);
  r->conn = NULL;
  if (r->suspended && !r->done) {
    /* Only on daemon shutdown: the record's report will find no one. */
    r->done = true;
    unlink_locked(s, r);
  }
  if (r->suspended) {
    r->suspended = false;
    s->n_waiting--;
  }
  req_unref_locked(r);
  pthread_mutex_unlock(&s->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  (void)cls;
  char buf[256];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  ls_log(LS_LOG_DEBUG, "libmicrohttpd", "{s:s}", "message", buf);
}

/* ---- public ---------------------------------------------------------- */

ing_server *ing_http_new(const ing_http_opts *o) {
  ing_server *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->o = *o;
  s->guard = ing_guard_new(o->header_timeout_ms * 1000LL,
                           o->request_timeout_ms * 1000LL,
                           o->body_budget ? o->body_budget : (size_t)-1);
  if (!s->guard) {
    free(s);
    return NULL;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_mutex_init(&s->flush_mu, NULL);
  atomic_store(&s->last_request_us, ls_mono_us());
  return s;
}

void ing_http_set_sink(ing_server *s, ing_sink *sink) {
  s->sink = sink;
}

bool ing_http_listen(ing_server *s, const char *listen, char *url,
                     size_t urllen, char *errstr, size_t errlen) {
  ls_mhd_opts mo = {.threads = s->o.threads,
                    .max_conns = s->o.max_conns,
                    .conn_timeout_s = s->o.conn_timeout_s,
                    .max_conns_per_ip = s->o.max_conns_per_ip,
                    .handler = on_request,
                    .handler_cls = s,
                    .completed = on_completed,
                    .completed_cls = s,
                    .notify = ing_guard_notify,
                    .notify_cls = s->guard,
                    .log = mhd_log};
  s->d = ls_mhd_start(listen, &mo, url, urllen, errstr, errlen);
  return s->d != NULL;
}

void ing_http_tick(ing_server *s) {
  stat_flush(s);
  long long now = ls_mono_us();
  size_t late_h = 0, late_b = 0;
  ing_guard_sweep(s->guard, now, &late_h, &late_b);
  if (late_h)
    ls_metrics_inc(s->o.metrics, M_DEADLINE,
                   "Connections closed for missing a deadline",
                   "phase=\"headers\"", (double)late_h);
  if (late_b)
    ls_metrics_inc(s->o.metrics, M_DEADLINE,
                   "Connections closed for missing a deadline",
                   "phase=\"body\"", (double)late_b);
  if (late_h || late_b)
    ls_info("closed late connections", "{s:i,s:i}", "headers", (int)late_h,
            "body", (int)late_b);
  ls_metrics_set(s->o.metrics, M_BODY_BYTES,
                 "Request body bytes held (reserved) right now", NULL,
                 (double)ing_guard_reserved(s->guard));
  ls_metrics_set(s->o.metrics, M_CONNS, "Open HTTP connections", NULL,
                 (double)ing_guard_open(s->guard));
  for (;;) {
    struct MHD_Connection *c = NULL;
    pthread_mutex_lock(&s->mu);
    ing_req *r = s->head;
    /* All requests share one deadline, so the list is in deadline order. */
    if (r && r->deadline_us <= now)
      c = settle_locked(s, r, LS_ERR_TIMEOUT);
    else
      r = NULL;
    pthread_mutex_unlock(&s->mu);
    if (!r)
      break;
    if (c)
      MHD_resume_connection(c);
  }
  pthread_mutex_lock(&s->mu);
  size_t waiting = s->n_waiting;
  pthread_mutex_unlock(&s->mu);
  ls_metrics_set(s->o.metrics, M_IN_FLIGHT,
                 "Webhook requests waiting for the Kafka acknowledgement", NULL,
                 (double)waiting);
  if (s->sink) {
    ls_metrics_set(s->o.metrics, M_QUEUE,
                   "Records in the producer queue, not yet acknowledged", NULL,
                   (double)s->sink->queue_len(s->sink));
    ls_metrics_set(s->o.metrics, M_READY, "1 when /readyz answers 200", NULL,
                   (!atomic_load(&s->draining) && s->sink->ready(s->sink)) ? 1
                                                                           : 0);
  }
}

void ing_http_drain(ing_server *s) {
  atomic_store(&s->draining, true);
}

size_t ing_http_waiting(ing_server *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->n_waiting;
  pthread_mutex_unlock(&s->mu);
  return n;
}

size_t ing_http_open_requests(ing_server *s) {
  pthread_mutex_lock(&s->mu);
  size_t n = s->n_open;
  pthread_mutex_unlock(&s->mu);
  return n;
}

long long ing_http_last_request_us(ing_server *s) {
  return atomic_load(&s->last_request_us);
}

void ing_http_quiesce(ing_server *s) {
  if (!s->d)
    return;
  MHD_socket fd = MHD_quiesce_daemon(s->d);
  if (fd != MHD_INVALID_SOCKET)
    close(fd);
}

void ing_http_stop(ing_server *s) {
  if (s->d) {
    MHD_stop_daemon(s->d);
    s->d = NULL;
  }
}

void ing_http_free(ing_server *s) {
  if (!s)
    return;
  ing_http_stop(s);
  while (s->spare) {
    ing_req *r = s->spare;
    s->spare = r->next;
    req_free(r);
  }
  ing_guard_free(s->guard);
  pthread_mutex_destroy(&s->mu);
  pthread_mutex_destroy(&s->flush_mu);
  free(s);
}
