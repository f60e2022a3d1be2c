/* wrk_out: idempotent producer for the worker's outputs; each record is
 * kept until its delivery report says it is stored. */
#include "wrk_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "ls_log.h"
#include "ls_time.h"

typedef enum { REC_INFLIGHT, REC_OK, REC_FAILED } rec_state;

typedef struct rec {
  char *topic;
  void *key, *val;
  size_t klen, vlen;
  rd_kafka_headers_t *hdrs;
  rec_state state;
} rec;

struct wrk_out {
  rd_kafka_t *rk;
  rec **recs;
  size_t n, cap;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  rec *r = m->_private;
  if (!r)
    return;
  r->state = m->err ? REC_FAILED : REC_OK;
  if (m->err)
    ls_warn("output not delivered", "{s:s,s:s}", "topic", r->topic, "error",
            rd_kafka_err2str(m->err));
}

wrk_out *wrk_out_new(const ls_config *cfg, char *errstr, size_t errlen) {
  wrk_out *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  rd_kafka_conf_t *conf = kq_conf_new_producer(cfg, errstr, errlen);
  if (!conf)
    goto fail;
  if (!kq_producer_defaults(conf, cfg, errstr, errlen)) {
    rd_kafka_conf_destroy(conf);
    goto fail;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  char rkerr[512];
  o->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof rkerr);
  if (!o->rk) {
    rd_kafka_conf_destroy(conf);
    snprintf(errstr, errlen, "producer: %s", rkerr);
    goto fail;
  }
  return o;
fail:
  free(o);
  return NULL;
}

static void rec_free(rec *r) {
  free(r->topic);
  free(r->key);
  free(r->val);
  if (r->hdrs)
    rd_kafka_headers_destroy(r->hdrs);
  free(r);
}

static void send_rec(wrk_out *o, rec *r) {
  r->state = REC_INFLIGHT;
  for (;;) {
    rd_kafka_headers_t *h = r->hdrs ? rd_kafka_headers_copy(r->hdrs) : NULL;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        o->rk, RD_KAFKA_V_TOPIC(r->topic), RD_KAFKA_V_KEY(r->key, r->klen),
        RD_KAFKA_V_VALUE(r->val, r->vlen),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(r), RD_KAFKA_V_END);
    if (!err)
      return;
    if (h)
      rd_kafka_headers_destroy(h);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      ls_error("cannot produce output", "{s:s,s:s}", "topic", r->topic,
               "error", rd_kafka_err2str(err));
      r->state = REC_FAILED;
      return;
    }
    rd_kafka_poll(o->rk, 100);
  }
}

void wrk_out_produce(wrk_out *o, const char *topic, const void *key,
                     size_t klen, const void *val, size_t vlen,
                     rd_kafka_headers_t *hdrs) {
  rec *r = calloc(1, sizeof *r);
  if (!r)
    goto oom;
  r->topic = strdup(topic);
  r->key = klen ? malloc(klen) : NULL;
  r->val = vlen ? malloc(vlen) : NULL;
  if (!r->topic || (klen && !r->key) || (vlen && !r->val))
    goto oom;
  if (klen)
    memcpy(r->key, key, klen);
  if (vlen)
    memcpy(r->val, val, vlen);
  r->klen = klen;
  r->vlen = vlen;
  r->hdrs = hdrs;
  hdrs = NULL;
  if (o->n == o->cap) {
    size_t nc = o->cap ? o->cap * 2 : 64;
    rec **nr = realloc(o->recs, nc * sizeof *nr);
    if (!nr)
      goto oom;
    o->recs = nr;
    o->cap = nc;
  }
  o->recs[o->n++] = r;
  send_rec(o, r);
  return;
oom:
  /* Leave a failed record behind so wrk_out_wait reports the loss. */
  ls_error("out of memory queueing an output", "{s:s}", "topic", topic);
  if (r) {
    r->hdrs = hdrs;
    rec_free(r);
  } else if (hdrs) {
    rd_kafka_headers_destroy(hdrs);
  }
  if (o->n < o->cap) {
    rec *bad = calloc(1, sizeof *bad);
    if (bad) {
      bad->state = REC_FAILED;
      bad->topic = strdup(topic);
      o->recs[o->n++] = bad;
    }
  }
}

size_t wrk_out_pending(const wrk_out *o) {
  size_t k = 0;
  for (size_t i = 0; i < o->n; i++)
    if (o->recs[i]->state != REC_OK)
      k++;
  return k;
}

bool wrk_out_wait(wrk_out *o, long timeout_ms, volatile sig_atomic_t *stop) {
  int64_t deadline = ls_mono_us() + (int64_t)timeout_ms * 1000;
  bool ok = false;
  for (;;) {
    rd_kafka_poll(o->rk, 0);
    size_t inflight = 0, failed = 0;
    for (size_t i = 0; i < o->n; i++) {
      if (o->recs[i]->state == REC_INFLIGHT)
        inflight++;
      else if (o->recs[i]->state == REC_FAILED)
        failed++;
    }
    if (!inflight && !failed) {
      ok = true;
      break;
    }
    if (ls_mono_us() > deadline || (stop && *stop && !inflight))
      break;
    if (!inflight) {
      /* Produce the failed ones again: the batch's offsets wait. */
      for (size_t i = 0; i < o->n; i++)
        if (o->recs[i]->state == REC_FAILED && o->recs[i]->key)
          send_rec(o, o->recs[i]);
        else if (o->recs[i]->state == REC_FAILED)
          o->recs[i]->state = REC_FAILED; /* lost before produce: fatal */
      bool any = false;
      for (size_t i = 0; i < o->n; i++)
        any |= o->recs[i]->state == REC_INFLIGHT;
      if (!any)
        break;
    }
    rd_kafka_flush(o->rk, 100);
  }
  if (!ok) {
    /* Records still in flight keep their opaque: wait them out briefly so
     * the callback never sees freed memory. */
    rd_kafka_flush(o->rk, 5000);
    rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(o->rk, 0);
  }
  for (size_t i = 0; i < o->n; i++)
    rec_free(o->recs[i]);
  o->n = 0;
  return ok;
}

void wrk_out_free(wrk_out *o) {
  if (!o)
    return;
  if (o->n)
    wrk_out_wait(o, 5000, NULL);
  rd_kafka_flush(o->rk, 5000);
  rd_kafka_destroy(o->rk);
  free(o->recs);
  free(o);
}
