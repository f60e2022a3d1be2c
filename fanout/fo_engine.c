/* fo_engine: consume, order per lead, POST, retry, DLQ, store offsets. */
#include "fo_engine.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ls_array.h"
#include "fo_format.h"
#include "fo_seen.h"
#include "kq.h"
#include "kq_client.h"
#include "ls_buf.h"
#include "ls_log.h"
#include "ls_synclog.h"
#include "ls_time.h"
#include "ls_version.h"

#define LEAD_BUCKETS 8192
#define POLL_BATCH 500

typedef enum {
  IT_SKIP,     /* not for this endpoint: done at once */
  IT_QUEUED,   /* waiting behind its lead, or ready */
  IT_INFLIGHT, /* request running */
  IT_BACKOFF,  /* waiting for its retry time */
  IT_ACKWAIT,  /* outcome produced, waiting for Kafka's ack */
  IT_DONE,     /* final: its offset may be stored */
  IT_DROP,     /* its partition was revoked before it started */
} it_state;

typedef enum { OUT_DELIVERED, OUT_DLQ } outcome;

typedef struct fo_item fo_item;
typedef struct fo_lead fo_lead;
typedef struct fo_part fo_part;
typedef struct fo_ep fo_ep;

typedef struct {
  fo_item *it;
  int kind; /* 0 sync_log, 1 DLQ */
} fo_ack;

struct fo_item {
  fo_ep *ep;
  rd_kafka_message_t *m;
  fo_part *part; /* NULL when orphaned by a revoke */
  fo_item *pnext;
  fo_lead *lead;
  fo_item *lnext;
  it_state st;
  outcome out;
  ls_event ev;
  char tenant[LS_TENANT_MAX + 1];
  char *body;
  size_t body_len;
  const char *ctype;
  int attempts;
  int64_t first_fail_us, due_us, start_us, received_us;
  long status;
  char reason[32];
  char err[128];
  bool ssrf;
  bool in_timer;    /* in ep->backoff: only its timer may start it */
  bool replay;      /* from leadsync.fanout_replay: never a duplicate */
  int64_t order_us; /* per-lead order: ingress receive time, else event time */
  CURL *easy;
  struct curl_slist *hdrs;
  ls_buf resp;
  long retry_after_ms; /* -1: none */
  int acks;
  fo_ack ack[2];
};

struct fo_lead {
  char *key;
  fo_item *head, *tail;
  fo_lead *hnext, *rnext;
  bool ready;
};

struct fo_part {
  char topic[LS_TOPIC_MAX];
  int32_t partition;
  fo_item *head, *tail;
  bool eof;    /* reached its end since the last assignment */
  bool paused; /* by set_paused */
};

struct fo_ep {
  fo_engine *e;
  const ls_endpoint *cfg;
  rd_kafka_t *rk;
  CURLSH *share; /* this endpoint's own connection pool */
  char group[128];
  char label[160];
  fo_part **parts;
  size_t n_parts, cap_parts;
  fo_lead *buckets[LEAD_BUCKETS];
  fo_lead *ready_head, *ready_tail;
  fo_item **backoff;
  size_t n_backoff, cap_backoff;
  fo_item *orphans; /* revoked while in flight or unacknowledged */
  fo_seen *seen;    /* event ids finished lately: duplicates in Kafka */
  int inflight;
  long pending;
  bool paused; /* at max_pending: its started partitions are paused */
  bool late;   /* a partition started while paused: pause it too */
  int consecutive;
  /* After an assignment nothing starts until every partition was read to
   * its end (or catchup_ms passed, or max_pending filled up), so a lead's
   * backlog from several topics is sorted before its first request. */
  bool gate;
  int n_assigned, n_eof;
  int64_t gate_until_us;
};

struct fo_engine {
  fo_opts o;
  fo_ep *eps;
  CURLM *multi;
  rd_kafka_t *producer;
  int wake[2];
  long acks_pending;
  int64_t next_gauges;
  bool closing; /* purging the producer: no re-emits, no offset stores */
};

/* ---- small helpers ------------------------------------------------- */

static unsigned hash_key(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h % LEAD_BUCKETS;
}

static void metric_inc(fo_ep *ep, const char *name, const char *help,
                       const char *extra, double v) {
  char labels[256];
  snprintf(labels, sizeof labels, "%s%s%s", ep->label, extra ? "," : "",
           extra ? extra : "");
  ls_metrics_inc(ep->e->o.metrics, name, help, labels, v);
}

static void item_free(fo_item *it) {
  if (!it)
    return;
  if (it->m)
    rd_kafka_message_destroy(it->m);
  free(it->body);
  ls_buf_free(&it->resp);
  free(it);
}

static void orphan_unlink(fo_ep *ep, fo_item *it) {
  for (fo_item **pp = &ep->orphans; *pp; pp = &(*pp)->pnext)
    if (*pp == it) {
      *pp = it->pnext;
      return;
    }
}

static fo_part *part_get(fo_ep *ep, const char *topic, int32_t partition,
                         bool create) {
  for (size_t i = 0; i < ep->n_parts; i++)
    if (ep->parts[i]->partition == partition &&
        !strcmp(ep->parts[i]->topic, topic))
      return ep->parts[i];
  if (!create)
    return NULL;
  if (!LS_ARRAY_GROW(ep->parts, ep->cap_parts, ep->n_parts + 1))
    return NULL;
  fo_part *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  snprintf(p->topic, sizeof p->topic, "%s", topic);
  p->partition = partition;
  ep->parts[ep->n_parts++] = p;
  if (ep->paused)
    ep->late = true;
  return p;
}

/* Pops the finished prefix of a partition and stores the offset after it:
 * a record's offset is stored only once it and every record before it in
 * the partition reached a final outcome. */
static void part_advance(fo_ep *ep, fo_part *p) {
  int64_t next = -1;
  while (p->head && (p->head->st == IT_DONE || p->head->st == IT_SKIP)) {
    fo_item *it = p->head;
    p->head = it->pnext;
    next = it->m->offset + 1;
    ep->pending--;
    item_free(it);
  }
  if (!p->head)
    p->tail = NULL;
  if (next < 0)
    return;
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = next;
  rd_kafka_resp_err_t err = rd_kafka_offsets_store(ep->rk, l);
  if (err && err != RD_KAFKA_RESP_ERR__STATE)
    ls_warn("offset not stored", "{s:s,s:s,s:i,s:s}", "endpoint", ep->cfg->id,
            "topic", p->topic, "partition", (int)p->partition, "error",
            rd_kafka_err2str(err));
  rd_kafka_topic_partition_list_destroy(l);
}

static fo_lead *lead_get(fo_ep *ep, const char *key, bool create) {
  unsigned h = hash_key(key);
  for (fo_lead *l = ep->buckets[h]; l; l = l->hnext)
    if (!strcmp(l->key, key))
      return l;
  if (!create)
    return NULL;
  fo_lead *l = calloc(1, sizeof *l);
  if (!l || !(l->key = strdup(key))) {
    free(l);
    return NULL;
  }
  l->hnext = ep->buckets[h];
  ep->buckets[h] = l;
  return l;
}

static void lead_delete(fo_ep *ep, fo_lead *l) {
  unsigned h = hash_key(l->key);
  for (fo_lead **pp = &ep->buckets[h]; *pp; pp = &(*pp)->hnext)
    if (*pp == l) {
      *pp = l->hnext;
      break;
    }
  free(l->key);
  free(l);
}

static void ready_push(fo_ep *ep, fo_lead *l) {
  if (l->ready)
    return;
  l->ready = true;
  l->rnext = NULL;
  if (ep->ready_tail)
    ep->ready_tail->rnext = l;
  else
    ep->ready_head = l;
  ep->ready_tail = l;
}

static fo_lead *ready_pop(fo_ep *ep) {
  fo_lead *l = ep->ready_head;
  if (!l)
    return NULL;
  ep->ready_head = l->rnext;
  if (!ep->ready_head)
    ep->ready_tail = NULL;
  l->ready = false;
  return l;
}

/* Waits until it->due_us (a retry time, or the end of the order window). */
static void timer_push(fo_ep *ep, fo_item *it) {
  if (it->in_timer)
    return;
  if (!LS_ARRAY_GROW(ep->backoff, ep->cap_backoff, ep->n_backoff + 1)) {
    /* Without room to wait, go at once rather than lose the item. */
    it->st = IT_QUEUED;
    it->due_us = 0;
    ready_push(ep, it->lead);
    return;
  }
  it->in_timer = true;
  ep->backoff[ep->n_backoff++] = it;
}

/* The lead's head may go now, or when its time comes. */
static void head_eligible(fo_ep *ep, fo_lead *l) {
  fo_item *h = l->head;
  if (!h || (h->st != IT_QUEUED && h->st != IT_BACKOFF) || h->in_timer)
    return;
  if (h->due_us > ls_mono_us())
    timer_push(ep, h);
  else {
    h->st = IT_QUEUED;
    ready_push(ep, l);
  }
}

/* Appends to the lead's FIFO, but within the order window a later-read
 * record of an earlier event (another topic's partition may be read later)
 * goes before the not-yet-started ones. */
static void lead_insert(fo_ep *ep, fo_lead *l, fo_item *it) {
  fo_item *prev = NULL, *cur = l->head;
  while (cur && (cur->attempts > 0 || cur->order_us <= it->order_us)) {
    prev = cur;
    cur = cur->lnext;
  }
  it->lnext = cur;
  if (prev)
    prev->lnext = it;
  else
    l->head = it;
  if (!cur)
    l->tail = it;
  if (l->head == it)
    head_eligible(ep, l);
}

/* ---- outcomes ------------------------------------------------------ */

static void produce(fo_engine *e, fo_ack *ack, const char *topic,
                    const void *key, size_t klen, const void *val, size_t vlen,
                    rd_kafka_headers_t *h) {
  if (!h)
    h = rd_kafka_headers_new(1);
  rd_kafka_resp_err_t err =
      kq_produce(e->producer, topic, key, klen, val, vlen, h, ack, -1, NULL);
  if (err) {
    /* Not queued: the outcome stays unacknowledged, so the record's offset
     * is never stored and it is delivered again after a restart. */
    ls_error("cannot queue an output record", "{s:s,s:s}", "topic", topic,
             "error", rd_kafka_err2str(err));
    rd_kafka_headers_destroy(h);
  }
}

static void emit_sync_log(fo_item *it) {
  fo_ep *ep = it->ep;
  bool dlq = it->out == OUT_DLQ;
  ls_synclog r = {
      .event_id = it->ev.event_id,
      .tenant = it->tenant,
      .event_type = it->ev.type_name,
      .lead_email = it->ev.lead_email,
      .campaign_id = it->ev.campaign_id,
      .outcome = dlq ? "dlq" : "delivered",
      .reason = dlq ? it->reason : NULL,
      .has_error = dlq,
      .http_status = it->status,
      .error_category = it->reason,
      .error_message = it->err,
      .topic = rd_kafka_topic_name(it->m->rkt),
      .partition = it->m->partition,
      .offset = it->m->offset,
      .event_time = it->ev.event_time,
      .latency_ms =
          it->received_us > 0 ? (ls_now_us() - it->received_us) / 1000 : -1,
      .group = ep->group,
      .attempts = it->attempts,
      .endpoint = ep->cfg->id,
  };
  json_t *j = ls_synclog_json(&r);
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s)
    return;
  it->acks++;
  ep->e->acks_pending++;
  const char *key = it->m->key_len ? (const char *)it->m->key : it->ev.key;
  size_t klen = it->m->key_len ? it->m->key_len : strlen(it->ev.key);
  produce(ep->e, &it->ack[0], KQ_TOPIC_SYNC_LOG, key, klen, s, strlen(s), NULL);
  free(s);
}

static void hdr(rd_kafka_headers_t *h, const char *name, const char *v) {
  rd_kafka_header_add(h, name, -1, v ? v : "", -1);
}

/* The same record format as leadsync.dlq, plus the endpoint id. */
static void emit_dlq(fo_item *it) {
  fo_ep *ep = it->ep;
  const rd_kafka_message_t *m = it->m;
  rd_kafka_headers_t *orig = NULL, *h;
  if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig)
    h = rd_kafka_headers_copy(orig);
  else
    h = rd_kafka_headers_new(16);
  char buf[64];
  hdr(h, "ls_dlq_reason", it->reason);
  snprintf(buf, sizeof buf, "%ld", it->status);
  hdr(h, "ls_dlq_http_status", it->status ? buf : "");
  hdr(h, "ls_dlq_hubspot_category", "");
  hdr(h, "ls_dlq_hubspot_message", it->err);
  snprintf(buf, sizeof buf, "%d", it->attempts);
  hdr(h, "ls_dlq_attempts", buf);
  ls_time_format_us(it->first_fail_us ? it->first_fail_us : ls_now_us(), buf,
                    sizeof buf);
  hdr(h, "ls_dlq_first_failure", buf);
  hdr(h, "ls_dlq_original_topic", rd_kafka_topic_name(m->rkt));
  snprintf(buf, sizeof buf, "%d", (int)m->partition);
  hdr(h, "ls_dlq_original_partition", buf);
  snprintf(buf, sizeof buf, "%lld", (long long)m->offset);
  hdr(h, "ls_dlq_original_offset", buf);
  hdr(h, "ls_dlq_group", ep->group);
  hdr(h, FO_H_DLQ_ENDPOINT, ep->cfg->id);
  it->acks++;
  ep->e->acks_pending++;
  const char *key = m->key_len ? (const char *)m->key : it->ev.key;
  size_t klen = m->key_len ? m->key_len : strlen(it->ev.key);
  produce(ep->e, &it->ack[1], FO_TOPIC_DLQ, key, klen, m->payload, m->len, h);
}

/* One acknowledgement fewer to wait for; at none the item is final. */
static void ack_release(fo_item *it) {
  if (--it->acks > 0)
    return;
  it->st = IT_DONE;
  if (it->part) {
    part_advance(it->ep, it->part);
  } else {
    orphan_unlink(it->ep, it); /* its partition moved to another member */
    item_free(it);
  }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  fo_ack *ack = m->_private;
  if (!ack)
    return;
  fo_item *it = ack->it;
  fo_engine *e = it->ep->e;
  if (e->closing) {
    it->acks--;
    e->acks_pending--;
    return;
  }
  if (m->err) {
    ls_warn("output not delivered, producing it again", "{s:s,s:s}", "topic",
            rd_kafka_topic_name(m->rkt), "error", rd_kafka_err2str(m->err));
    it->acks--;
    e->acks_pending--;
    ack->kind ? emit_dlq(it) : emit_sync_log(it);
    return;
  }
  e->acks_pending--;
  ack_release(it);
}

/* The lead's head reached a final outcome: the next event of that lead may
 * go. */
static void lead_next(fo_ep *ep, fo_item *it) {
  fo_lead *l = it->lead;
  it->lead = NULL;
  if (!l)
    return;
  if (l->head == it)
    l->head = it->lnext;
  if (!l->head) {
    l->tail = NULL;
    if (!l->ready)
      lead_delete(ep, l);
    return;
  }
  head_eligible(ep, l);
}

static void finalize(fo_item *it, outcome out) {
  fo_ep *ep = it->ep;
  it->acks++; /* guard, released at the end */
  fo_seen_add(ep->seen, it->ev.event_id);
  it->out = out;
  it->st = IT_ACKWAIT;
  lead_next(ep, it);
  if (out == OUT_DELIVERED) {
    metric_inc(ep, "leadsync_fanout_delivered_total",
               "Events delivered to an endpoint", NULL, 1);
  } else {
    char extra[64];
    snprintf(extra, sizeof extra, "reason=\"%s\"", it->reason);
    metric_inc(ep, "leadsync_fanout_dlq_total",
               "Events sent to the endpoint's DLQ", extra, 1);
    ls_warn("event to the endpoint DLQ", "{s:s,s:s,s:s,s:i,s:i}", "endpoint",
            ep->cfg->id, "event_id", it->ev.event_id, "reason", it->reason,
            "http_status", (int)it->status, "attempts", it->attempts);
    emit_dlq(it);
  }
  emit_sync_log(it);
  /* The guard taken above: acknowledgements that arrive while the records
   * are produced (a full queue polls) cannot free the item under us. */
  ack_release(it);
}

/* ---- HTTP ---------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud) {
  fo_item *it = ud;
  /* Bounded: a response over the limit ends the transfer. */
  return ls_buf_append(&it->resp, p, size * n) == LS_OK ? size * n : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  fo_item *it = ud;
  size_t len = size * n;
  if (len > 12 && !strncasecmp(p, "retry-after:", 12)) {
    char v[64];
    size_t k = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
    memcpy(v, p + 12, k);
    v[k] = '\0';
    char *s = v;
    while (*s == ' ' || *s == '\t')
      s++;
    for (char *t = s + strlen(s);
         t > s && (t[-1] == '\r' || t[-1] == '\n' || t[-1] == ' ');)
      *--t = '\0';
    char *end;
    long secs = strtol(s, &end, 10);
    if (end != s && !*end && secs >= 0) {
      it->retry_after_ms = secs > 100000000L ? 100000000L * 1000 : secs * 1000;
    } else {
      time_t when = curl_getdate(s, NULL);
      if (when > 0) {
        long d = (long)(when - time(NULL));
        it->retry_after_ms = d > 0 ? d * 1000 : 0;
      }
    }
  }
  return len;
}

/* The SSRF guard: curl hands over each resolved address before it
 * connects; private and loopback ones are refused unless the endpoint is
 * internal. Checking here (not the host name) covers DNS that resolves a
 * public-looking name to a private address. */
static curl_socket_t open_socket(void *ud, curlsocktype purpose,
                                 struct curl_sockaddr *a) {
  fo_item *it = ud;
  if (purpose != CURLSOCKTYPE_IPCXN)
    return CURL_SOCKET_BAD;
  if (!it->ep->cfg->internal && ls_addr_is_private(&a->addr)) {
    it->ssrf = true;
    return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype, a->protocol);
}

static void duplicate(fo_ep *ep) {
  metric_inc(ep, "leadsync_fanout_duplicates_total",
             "Records of an event the endpoint already took (not sent again)",
             NULL, 1);
}

static void item_start(fo_ep *ep, fo_item *it) {
  const ls_endpoint *c = ep->cfg;
  char line[1024];
  if (!it->attempts && !it->replay && fo_seen_has(ep->seen, it->ev.event_id)) {
    /* A second copy queued behind the first one of the same lead. */
    duplicate(ep);
    it->st = IT_DONE;
    lead_next(ep, it);
    if (it->part)
      part_advance(ep, it->part);
    else
      item_free(it);
    return;
  }
  it->attempts++;
  it->st = IT_INFLIGHT;
  it->ssrf = false;
  it->status = 0;
  it->retry_after_ms = -1;
  ls_buf_init(&it->resp, c->max_response_bytes);
  it->easy = curl_easy_init();
  if (!it->easy) {
    snprintf(it->reason, sizeof it->reason, "internal");
    snprintf(it->err, sizeof it->err, "out of memory");
    it->st = IT_BACKOFF;
    it->due_us = ls_mono_us() + 1000000;
    timer_push(ep, it);
    return;
  }
  struct curl_slist *h = NULL;
  snprintf(line, sizeof line, "Content-Type: %s", it->ctype);
  h = curl_slist_append(h, line);
  h = curl_slist_append(h, "Expect:");
  snprintf(line, sizeof line, "User-Agent: leadsync-fanout/%s", ls_version());
  h = curl_slist_append(h, line);
  snprintf(line, sizeof line, "webhook-id: %s", it->ev.event_id);
  h = curl_slist_append(h, line);
  long long ts = (long long)(ls_now_us() / 1000000);
  snprintf(line, sizeof line, "webhook-timestamp: %lld", ts);
  h = curl_slist_append(h, line);
  if (c->n_secrets) {
    char sig[400];
    ls_webhook_sign(c, it->ev.event_id, ts, it->body, it->body_len, sig,
                    sizeof sig);
    snprintf(line, sizeof line, "webhook-signature: %s", sig);
    h = curl_slist_append(h, line);
  }
  for (size_t i = 0; i < c->n_headers; i++)
    h = curl_slist_append(h, c->headers[i]);
  it->hdrs = h;
  CURL *x = it->easy;
  curl_easy_setopt(x, CURLOPT_URL, c->url);
  curl_easy_setopt(x, CURLOPT_SHARE, ep->share);
  curl_easy_setopt(x, CURLOPT_POST, 1L);
  curl_easy_setopt(x, CURLOPT_POSTFIELDS, it->body);
  curl_easy_setopt(x, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)it->body_len);
  curl_easy_setopt(x, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(x, CURLOPT_TIMEOUT_MS, c->timeout_ms);
  curl_easy_setopt(x, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
  curl_easy_setopt(x, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(x, CURLOPT_PROTOCOLS_STR,
                   c->internal ? "http,https" : "https");
  curl_easy_setopt(x, CURLOPT_PROXY, "");
  curl_easy_setopt(x, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(x, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(x, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(x, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(x, CURLOPT_OPENSOCKETDATA, it);
  curl_easy_setopt(x, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(x, CURLOPT_WRITEDATA, it);
  curl_easy_setopt(x, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(x, CURLOPT_HEADERDATA, it);
  curl_easy_setopt(x, CURLOPT_PRIVATE, it);
  it->start_us = ls_mono_us();
  ep->inflight++;
  curl_multi_add_handle(ep->e->multi, x);
}

static long backoff_ms(const ls_endpoint *c, int attempt, long retry_after) {
  long d = c->backoff_base_ms;
  for (int i = 1; i < attempt && d < c->backoff_max_ms; i++)
    d *= 2;
  if (d > c->backoff_max_ms)
    d = c->backoff_max_ms;
  /* Jitter: somewhere in the upper half, so retries of many leads spread. */
  d = d / 2 + (long)((double)(d - d / 2) * ((double)rand() / RAND_MAX));
  if (retry_after >= 0) {
    long ra = retry_after > c->retry_after_max_ms ? c->retry_after_max_ms
                                                  : retry_after;
    if (ra > d)
      d = ra;
  }
  return d;
}

static void item_finished(fo_item *it, CURLcode rc) {
  fo_ep *ep = it->ep;
  const ls_endpoint *c = ep->cfg;
  long code = 0;
  curl_easy_getinfo(it->easy, CURLINFO_RESPONSE_CODE, &code);
  double secs = (double)(ls_mono_us() - it->start_us) / 1e6;
  curl_multi_remove_handle(ep->e->multi, it->easy);
  curl_easy_cleanup(it->easy);
  it->easy = NULL;
  curl_slist_free_all(it->hdrs);
  it->hdrs = NULL;
  ls_buf_free(&it->resp);
  ep->inflight--;
  it->status = code;
  if (!it->part && !(code >= 200 && code < 300)) {
    /* Orphaned and not delivered: the partition's new owner sends it. */
    lead_next(ep, it);
    orphan_unlink(ep, it);
    item_free(it);
    return;
  }
  bool ok =
      code >= 200 && code < 300 && (rc == CURLE_OK || rc == CURLE_WRITE_ERROR);
  bool permanent = false;
  if (ok) {
    ep->consecutive = 0;
    ls_metrics_observe(ep->e->o.metrics, "leadsync_fanout_latency_seconds",
                       "Request time of delivered events", ep->label, secs);
    finalize(it, OUT_DELIVERED);
    return;
  }
  if (it->ssrf) {
    snprintf(it->reason, sizeof it->reason, "ssrf");
    snprintf(it->err, sizeof it->err,
             "the endpoint resolved to a private or loopback address and is "
             "not marked internal");
    permanent = true;
    it->status = 0;
  } else if (rc != CURLE_OK && !code) {
    snprintf(it->reason, sizeof it->reason, "%s",
             rc == CURLE_OPERATION_TIMEDOUT ? "timeout"
             : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST
                 ? "connect"
                 : "network");
    snprintf(it->err, sizeof it->err, "%s", curl_easy_strerror(rc));
    permanent = rc == CURLE_UNSUPPORTED_PROTOCOL;
  } else if (rc != CURLE_OK) {
    snprintf(it->reason, sizeof it->reason, "network");
    snprintf(it->err, sizeof it->err, "HTTP %ld, then %s", code,
             curl_easy_strerror(rc));
  } else if (code >= 300 && code < 400) {
    snprintf(it->reason, sizeof it->reason, "redirect");
    snprintf(it->err, sizeof it->err, "HTTP %ld: redirects are not followed",
             code);
    permanent = true;
  } else {
    permanent = code < 500 && code != 408 && code != 429;
    snprintf(it->reason, sizeof it->reason, "http_%ld", code);
    snprintf(it->err, sizeof it->err, "HTTP %ld", code);
  }
  ep->consecutive++;
  if (!it->first_fail_us)
    it->first_fail_us = ls_now_us();
  char extra[64];
  snprintf(extra, sizeof extra, "reason=\"%s\"", it->reason);
  metric_inc(ep, "leadsync_fanout_failed_total", "Failed delivery attempts",
             extra, 1);
  if (permanent || it->attempts >= c->max_attempts) {
    if (!permanent)
      snprintf(it->reason, sizeof it->reason, "retries_exhausted");
    else if (strcmp(it->reason, "ssrf") && strcmp(it->reason, "redirect"))
      snprintf(it->reason, sizeof it->reason, "permanent");
    finalize(it, OUT_DLQ);
    return;
  }
  long wait = backoff_ms(c, it->attempts, it->retry_after_ms);
  metric_inc(ep, "leadsync_fanout_retries_total", "Delivery retries", NULL, 1);
  it->st = IT_BACKOFF;
  it->due_us = ls_mono_us() + wait * 1000;
  timer_push(ep, it);
}

/* ---- consuming ----------------------------------------------------- */

static bool header_is(const rd_kafka_message_t *m, const char *name,
                      const char *want) {
  char v[128];
  kq_header(m, name, v, sizeof v);
  return want ? !strcmp(v, want) : v[0] != '\0';
}

/* Whether this endpoint wants the record (and the record's parsed body). */
static bool wanted(fo_ep *ep, fo_item *it, json_t **root) {
  const ls_endpoint *c = ep->cfg;
  const rd_kafka_message_t *m = it->m;
  const char *topic = rd_kafka_topic_name(m->rkt);
  bool replayed = !strcmp(topic, FO_TOPIC_REPLAY);
  if (replayed) {
    if (!header_is(m, FO_H_ENDPOINT, c->id))
      return false;
  } else if (header_is(m, "ls_replay", NULL)) {
    return false; /* a HubSpot DLQ or window replay, not a new event */
  }
  kq_header(m, "ce_tenant", it->tenant, sizeof it->tenant);
  if (!it->tenant[0] && m->key_len) {
    size_t k = strcspn((const char *)m->key, ":");
    if (k > m->key_len)
      k = m->key_len;
    if (k >= sizeof it->tenant)
      k = sizeof it->tenant - 1;
    memcpy(it->tenant, m->key, k);
    it->tenant[k] = '\0';
  }
  if (strcmp(it->tenant, c->tenant->id))
    return false;
  if (!replayed) {
    /* Filter semantics: the tenant's filter re-publishes decided events
     * with ls_filter=passed. "filter": "tenant" takes only those when the
     * tenant has a filter; "raw" takes only the originals. */
    bool passed = header_is(m, "ls_filter", NULL);
    if (c->after_filter && c->tenant->has_filter ? !passed : passed)
      return false;
  }
  json_error_t jerr;
  *root = json_loadb(m->payload, m->len, 0, &jerr);
  const json_t *et = json_object_get(*root, "event_type");
  if (!json_is_object(*root) || !json_is_string(et))
    return false;
  if (ls_event_identify(*root, m->payload, m->len, it->tenant, "", &it->ev) !=
      LS_OK)
    return false;
  char id[40];
  if (kq_header(m, "ce_id", id, sizeof id)[0] && strlen(id) == 32)
    memcpy(it->ev.event_id, id, 33);
  return replayed || c->types[it->ev.type];
}

static void on_message(fo_ep *ep, rd_kafka_message_t *m) {
  fo_part *p = part_get(ep, rd_kafka_topic_name(m->rkt), m->partition, true);
  fo_item *it = p ? calloc(1, sizeof *it) : NULL;
  if (!it) {
    ls_error("out of memory: record left for a later delivery", NULL);
    rd_kafka_message_destroy(m);
    return;
  }
  it->ep = ep;
  it->m = m;
  it->part = p;
  it->ack[0].it = it->ack[1].it = it;
  it->ack[1].kind = 1;
  if (p->tail)
    p->tail->pnext = it;
  else
    p->head = it;
  p->tail = it;
  ep->pending++;
  json_t *root = NULL;
  it->st = IT_SKIP;
  it->replay = !strcmp(rd_kafka_topic_name(m->rkt), FO_TOPIC_REPLAY);
  if (wanted(ep, it, &root) &&
      (it->replay || !fo_seen_has(ep->seen, it->ev.event_id))) {
    fo_meta meta;
    char id[40], src[256], type[LS_TOPIC_MAX], tm[48], recv[48];
    meta.id = kq_header(m, "ce_id", id, sizeof id);
    meta.source = kq_header(m, "ce_source", src, sizeof src);
    meta.type = kq_header(m, "ce_type", type, sizeof type);
    meta.time = kq_header(m, "ce_time", tm, sizeof tm);
    meta.tenant = it->tenant;
    if (kq_header(m, "ls_received_at", recv, sizeof recv)[0])
      ls_time_parse(recv, &it->received_us);
    it->body = fo_format_body(ep->cfg, &meta, m->payload, m->len, root, &it->ev,
                              &it->body_len, &it->ctype);
    if (it->body) {
      it->lead =
          lead_get(ep, it->ev.key[0] ? it->ev.key : it->ev.event_id, true);
      if (!it->lead) {
        free(it->body);
        it->body = NULL;
      }
    }
    if (it->body) {
      int64_t et = it->ev.event_time_us;
      it->st = IT_QUEUED;
      it->order_us = it->received_us ? it->received_us : et;
      it->due_us = ls_mono_us() + ep->e->o.order_window_ms * 1000;
      lead_insert(ep, it->lead, it);
    }
  } else if (it->ev.event_id[0] && fo_seen_has(ep->seen, it->ev.event_id)) {
    duplicate(ep);
  } else {
    metric_inc(ep, "leadsync_fanout_skipped_total",
               "Records not meant for the endpoint (tenant, type, filter)",
               NULL, 1);
  }
  json_decref(root);
  if (it->st == IT_SKIP)
    part_advance(ep, p);
}

/* Drops what was queued for revoked partitions; requests in flight finish
 * and report, but their offsets belong to the next owner now. */
static void drop_revoked(fo_ep *ep, const rd_kafka_topic_partition_list_t *l) {
  for (int i = 0; i < l->cnt; i++) {
    fo_part *p = part_get(ep, l->elems[i].topic, l->elems[i].partition, false);
    if (!p)
      continue;
    for (fo_item *it = p->head, *nx; it; it = nx) {
      nx = it->pnext;
      it->part = NULL;
      it->pnext = NULL;
      ep->pending--;
      if (it->st == IT_SKIP || it->st == IT_DONE) {
        item_free(it);
      } else if (it->st == IT_QUEUED || it->st == IT_BACKOFF) {
        it->st = IT_DROP;
      } else {
        it->pnext = ep->orphans;
        ep->orphans = it;
      }
    }
    for (size_t k = 0; k < ep->n_parts; k++)
      if (ep->parts[k] == p) {
        ep->parts[k] = ep->parts[--ep->n_parts];
        break;
      }
    free(p);
  }
  /* Rebuild the lead lists, the ready list and the timers without the
   * dropped items. */
  ep->ready_head = ep->ready_tail = NULL;
  ep->n_backoff = 0;
  for (size_t b = 0; b < LEAD_BUCKETS; b++) {
    for (fo_lead *ld = ep->buckets[b], *nl; ld; ld = nl) {
      nl = ld->hnext;
      ld->ready = false;
      fo_item *keep = NULL, *tail = NULL;
      for (fo_item *it = ld->head, *nx; it; it = nx) {
        nx = it->lnext;
        it->lnext = NULL;
        if (it->st == IT_DROP) {
          item_free(it);
          continue;
        }
        tail ? (tail->lnext = it) : (keep = it);
        tail = it;
      }
      ld->head = keep;
      ld->tail = tail;
      for (fo_item *it = keep; it; it = it->lnext)
        it->in_timer = false;
      if (!keep)
        lead_delete(ep, ld);
      else
        head_eligible(ep, ld);
    }
  }
}

/* Pauses (or resumes) the partitions that delivered a record or their end
 * since the assignment (ep->parts: a revoke frees its partitions), never
 * the whole assignment. librdkafka 2.0.2 starts a partition's fetch on its
 * own thread once the committed offset is known; a pause or resume of it
 * taken before that start is served outdates the start, which is dropped,
 * and the partition is never fetched (nothing is logged). A partition that
 * has delivered something has started; one that starts while the endpoint
 * is paused is paused at the next poll (ep->late). */
static void set_paused(fo_ep *ep, bool pause) {
  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new((int)ep->n_parts);
  if (!l)
    return;
  for (size_t i = 0; i < ep->n_parts; i++) {
    fo_part *p = ep->parts[i];
    if (p->paused != pause)
      rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    p->paused = pause;
  }
  if (l->cnt)
    pause ? rd_kafka_pause_partitions(ep->rk, l)
          : rd_kafka_resume_partitions(ep->rk, l);
  rd_kafka_topic_partition_list_destroy(l);
  ep->paused = pause;
  ep->late = false;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  fo_ep *ep = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    ls_info("partitions assigned", "{s:s,s:i}", "endpoint", ep->cfg->id,
            "count", parts->cnt);
    rd_kafka_assign(rk, parts);
    ep->paused = ep->late = false;
    ep->gate = true;
    ep->n_assigned = parts->cnt;
    ep->n_eof = 0;
    ep->gate_until_us = ls_mono_us() + ep->e->o.catchup_ms * 1000;
    for (size_t i = 0; i < ep->n_parts; i++)
      ep->parts[i]->eof = false;
  } else {
    ls_info("partitions revoked", "{s:s,s:i}", "endpoint", ep->cfg->id, "count",
            parts->cnt);
    /* librdkafka keeps an application's pause across an unassign: paused
     * now, a partition assigned again would never be fetched (the flags
     * restart unpaused). Resumed before the unassign, so the resume cannot
     * race the next assignment's fetch start. */
    if (ep->paused)
      set_paused(ep, false);
    drop_revoked(ep, parts);
    rd_kafka_assign(rk, NULL);
  }
}

static void poll_ep(fo_ep *ep) {
  long max = ep->e->o.max_pending;
  if (ep->pending >= max && (!ep->paused || ep->late))
    set_paused(ep, true);
  else if (ep->paused && ep->pending <= max / 2)
    set_paused(ep, false);
  for (int i = 0; i < POLL_BATCH; i++) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(ep->rk, 0);
    if (!m)
      break;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && ep->gate && m->rkt) {
      fo_part *p =
          part_get(ep, rd_kafka_topic_name(m->rkt), m->partition, true);
      if (p && !p->eof) {
        p->eof = true;
        ep->n_eof++;
      }
    } else if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      ls_warn("consumer error", "{s:s,s:s}", "endpoint", ep->cfg->id, "error",
              rd_kafka_message_errstr(m));
    }
    if (m->err) {
      rd_kafka_message_destroy(m);
      continue;
    }
    on_message(ep, m);
  }
}

static int64_t run_timers(fo_ep *ep, int64_t now) {
  int64_t next = now + 100000;
  size_t w = 0;
  for (size_t i = 0; i < ep->n_backoff; i++) {
    fo_item *it = ep->backoff[i];
    if (it->due_us <= now) {
      it->in_timer = false;
      if (it->lead && it->lead->head == it)
        head_eligible(ep, it->lead);
    } else {
      if (it->due_us < next)
        next = it->due_us;
      ep->backoff[w++] = it;
    }
  }
  ep->n_backoff = w;
  return next;
}

static void start_ready(fo_ep *ep, bool stopping) {
  while (!stopping && ep->inflight < ep->cfg->max_in_flight) {
    fo_lead *l = ready_pop(ep);
    if (!l)
      break;
    if (!l->head)
      lead_delete(ep, l);
    else if (l->head->st == IT_QUEUED && !l->head->in_timer &&
             l->head->due_us <= ls_mono_us())
      item_start(ep, l->head);
  }
}

static void gauges(fo_engine *e) {
  for (size_t i = 0; i < e->o.n_eps; i++) {
    fo_ep *ep = &e->eps[i];
    ls_metrics_set(e->o.metrics, "leadsync_fanout_consecutive_failures",
                   "Failed attempts since the last delivery", ep->label,
                   ep->consecutive);
    ls_metrics_set(e->o.metrics, "leadsync_fanout_in_flight",
                   "Requests running", ep->label, ep->inflight);
    ls_metrics_set(e->o.metrics, "leadsync_fanout_pending",
                   "Records read and not yet final", ep->label,
                   (double)ep->pending);
  }
}

static void curl_done(fo_engine *e) {
  int left;
  CURLMsg *msg;
  while ((msg = curl_multi_info_read(e->multi, &left))) {
    if (msg->msg != CURLMSG_DONE)
      continue;
    fo_item *it = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&it);
    if (it)
      item_finished(it, msg->data.result);
  }
}

/* One turn: read what arrived, start what may start, wait a little. */
static void turn(fo_engine *e, bool stopping) {
  int64_t now = ls_mono_us(), next = now + 100000;
  for (size_t i = 0; i < e->o.n_eps; i++) {
    fo_ep *ep = &e->eps[i];
    if (!stopping)
      poll_ep(ep);
    if (ep->gate && (ep->n_eof >= ep->n_assigned || now >= ep->gate_until_us ||
                     ep->pending >= e->o.max_pending)) {
      ep->gate = false;
      ls_info("caught up: delivering", "{s:s,s:i,s:i}", "endpoint", ep->cfg->id,
              "partitions_at_end", ep->n_eof, "pending", (int)ep->pending);
    }
    int64_t t = run_timers(ep, now);
    if (t < next)
      next = t;
    start_ready(ep, stopping || ep->gate);
  }
  int running = 0;
  curl_multi_perform(e->multi, &running);
  curl_done(e);
  rd_kafka_poll(e->producer, 0);
  if (now >= e->next_gauges) {
    gauges(e);
    e->next_gauges = now + 1000000;
  }
  bool work = false;
  for (size_t i = 0; i < e->o.n_eps && !work; i++)
    work = e->eps[i].ready_head && !e->eps[i].gate &&
           e->eps[i].inflight < e->eps[i].cfg->max_in_flight;
  long timeout = work ? 0 : (long)((next - ls_mono_us()) / 1000);
  if (e->acks_pending && timeout > 5)
    timeout = 5;
  if (timeout < 0)
    timeout = 0;
  struct curl_waitfd wfd = {e->wake[0], CURL_WAIT_POLLIN, 0};
  curl_multi_poll(e->multi, &wfd, 1, (int)timeout, NULL);
  char buf[256];
  while (read(e->wake[0], buf, sizeof buf) > 0)
    ;
}

/* ---- lifecycle ----------------------------------------------------- */

static bool ep_open(fo_engine *e, fo_ep *ep, const ls_endpoint *c, char *errstr,
                    size_t errlen) {
  ep->e = e;
  ep->cfg = c;
  snprintf(ep->group, sizeof ep->group, "leadsync-fanout-%s", c->id);
  snprintf(ep->label, sizeof ep->label, "endpoint=\"%s\"", c->id);
  ep->seen = fo_seen_new((size_t)e->o.seen_max);
  ep->share = curl_share_init();
  if (!ep->share) {
    snprintf(errstr, errlen, "out of memory");
    return false;
  }
  curl_share_setopt(ep->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(ep->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  /* Stored offsets are committed four times a second: after a crash about
   * the last quarter second of deliveries (and those in flight) is sent
   * again. */
  bool own_interval =
      json_object_get(e->o.cfg->kafka_props, "auto.commit.interval.ms");
  const char *props[] = {"enable.partition.eof", "true",
                         own_interval ? NULL : "auto.commit.interval.ms", "250",
                         NULL};
  kq_consumer_opts co = {.kind = KQ_GROUP_MEMBER,
                         .group_id = ep->group,
                         .props = props,
                         .on_rebalance = on_rebalance,
                         .opaque = ep,
                         .poll_set_consumer = true};
  ep->rk = kq_consumer_new(e->o.cfg, &co, errstr, errlen);
  if (!ep->rk)
    return false;
  rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(ep->rk);
  if (q) {
    rd_kafka_queue_io_event_enable(q, e->wake[1], "1", 1);
    rd_kafka_queue_destroy(q);
  }
  rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(16);
  for (int t = 0; t < LS_EV_UNKNOWN; t++) {
    if (!c->types[t])
      continue;
    char topic[LS_TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s%s", e->o.cfg->topic_prefix,
             ls_event_type_slug((ls_event_type)t));
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_topic_partition_list_add(subs, FO_TOPIC_REPLAY,
                                    RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(ep->rk, subs);
  rd_kafka_topic_partition_list_destroy(subs);
  if (err) {
    snprintf(errstr, errlen, "subscribe %s: %s", c->id, rd_kafka_err2str(err));
    return false;
  }
  return true;
}

/* Every family this role exports, visible on /metrics from the start. */
static void declare_metrics(ls_metrics *m) {
  static const struct {
    ls_metric_kind kind;
    const char *name, *help;
  } fams[] = {
      {LS_COUNTER, "leadsync_fanout_delivered_total",
       "Events delivered to an endpoint"},
      {LS_COUNTER, "leadsync_fanout_failed_total", "Failed delivery attempts"},
      {LS_COUNTER, "leadsync_fanout_retries_total", "Delivery retries"},
      {LS_COUNTER, "leadsync_fanout_dlq_total",
       "Events sent to the endpoint's DLQ"},
      {LS_COUNTER, "leadsync_fanout_skipped_total",
       "Records not meant for the endpoint (tenant, type, filter)"},
      {LS_COUNTER, "leadsync_fanout_duplicates_total",
       "Records of an event the endpoint already took (not sent again)"},
      {LS_HISTOGRAM, "leadsync_fanout_latency_seconds",
       "Request time of delivered events"},
      {LS_GAUGE, "leadsync_fanout_consecutive_failures",
       "Failed attempts since the last delivery"},
      {LS_GAUGE, "leadsync_fanout_in_flight", "Requests running"},
      {LS_GAUGE, "leadsync_fanout_pending", "Records read and not yet final"},
  };
  for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
    ls_metrics_declare(m, fams[i].kind, fams[i].name, fams[i].help, NULL);
}

fo_engine *fo_engine_new(const fo_opts *o, char *errstr, size_t errlen) {
  fo_engine *e = calloc(1, sizeof *e);
  if (!e) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  e->o = *o;
  e->wake[0] = e->wake[1] = -1;
  if (pipe2(e->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
    snprintf(errstr, errlen, "pipe: %s", strerror(errno));
    goto fail;
  }
  srand((unsigned)ls_now_us());
  e->multi = curl_multi_init();
  e->eps = calloc(o->n_eps ? o->n_eps : 1, sizeof *e->eps);
  if (!e->multi || !e->eps) {
    snprintf(errstr, errlen, "out of memory");
    goto fail;
  }
  kq_producer_opts po = {.on_delivery = on_delivery};
  e->producer = kq_producer_new(o->cfg, &po, errstr, errlen);
  if (!e->producer)
    goto fail;
  declare_metrics(o->metrics);
  for (size_t i = 0; i < o->n_eps; i++)
    if (!ep_open(e, &e->eps[i], &o->eps[i], errstr, errlen))
      goto fail;
  return e;
fail:
  fo_engine_free(e);
  return NULL;
}

int fo_engine_run(fo_engine *e) {
  for (size_t i = 0; i < e->o.n_eps; i++)
    ls_info("endpoint ready", "{s:s,s:s,s:s,s:s,s:b,s:i}", "endpoint",
            e->eps[i].cfg->id, "tenant", e->eps[i].cfg->tenant->id, "group",
            e->eps[i].group, "kind",
            e->eps[i].cfg->kind == LS_EP_SLACK ? "slack" : "webhook",
            "internal", e->eps[i].cfg->internal, "signed",
            e->eps[i].cfg->n_secrets);
  while (!*e->o.stop)
    turn(e, false);
  /* Drain: requests in flight finish (or time out), their outcomes are
   * acknowledged, then the stored offsets are committed at close. Records
   * still waiting or backing off are read again by the next owner. */
  int64_t deadline = ls_mono_us() + e->o.drain_ms * 1000;
  for (;;) {
    int inflight = 0;
    for (size_t i = 0; i < e->o.n_eps; i++)
      inflight += e->eps[i].inflight;
    if ((!inflight && !e->acks_pending) || ls_mono_us() >= deadline)
      break;
    turn(e, true);
  }
  rd_kafka_flush(e->producer, 5000);
  return 0;
}

static void free_live(fo_ep *ep, fo_item *it) {
  if (it->easy) {
    curl_multi_remove_handle(ep->e->multi, it->easy);
    curl_easy_cleanup(it->easy);
    curl_slist_free_all(it->hdrs);
  }
  item_free(it);
}

static void ep_close(fo_ep *ep) {
  if (ep->rk) {
    rd_kafka_consumer_close(ep->rk);
    rd_kafka_destroy(ep->rk);
    ep->rk = NULL;
  }
  for (fo_item *it = ep->orphans, *nx; it; it = nx) {
    nx = it->pnext;
    free_live(ep, it);
  }
  for (size_t b = 0; b < LEAD_BUCKETS; b++)
    for (fo_lead *l = ep->buckets[b], *nl; l; l = nl) {
      nl = l->hnext;
      free(l->key);
      free(l);
    }
  for (size_t i = 0; i < ep->n_parts; i++) {
    for (fo_item *it = ep->parts[i]->head, *nx; it; it = nx) {
      nx = it->pnext;
      free_live(ep, it);
    }
    free(ep->parts[i]);
  }
  free(ep->parts);
  free(ep->backoff);
  fo_seen_free(ep->seen);
  if (ep->share)
    curl_share_cleanup(ep->share);
}

void fo_engine_free(fo_engine *e) {
  if (!e)
    return;
  e->closing = true;
  if (e->producer) {
    rd_kafka_flush(e->producer, 2000);
    rd_kafka_purge(e->producer,
                   RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(e->producer, 0);
  }
  for (size_t i = 0; e->eps && i < e->o.n_eps; i++)
    ep_close(&e->eps[i]);
  if (e->producer)
    rd_kafka_destroy(e->producer);
  if (e->multi)
    curl_multi_cleanup(e->multi);
  free(e->eps);
  if (e->wake[0] >= 0)
    close(e->wake[0]);
  if (e->wake[1] >= 0)
    close(e->wake[1]);
  free(e);
}
