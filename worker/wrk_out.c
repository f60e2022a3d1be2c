/* wrk_out: idempotent producer for the worker's outputs; each record is
 * kept until its delivery report says it is stored. */
#include "wrk_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_array.h"
#include "ls_log.h"
#include "ls_time.h"
#include "wrk_fault.h"

/* FAILED is produced again within the wait; DEAD was refused for good
 * (too large, unknown topic, out of memory) and fails its owner. */
typedef enum { REC_INFLIGHT, REC_OK, REC_FAILED, REC_DEAD } rec_state;

typedef struct rec {
  char *topic;
  void *key, *val;
  size_t klen, vlen;
  rd_kafka_headers_t *hdrs;
  int32_t partition; /* RD_KAFKA_PARTITION_UA: the partitioner's */
  rec_state state;
  wrk_out_owner *owner;
  rd_kafka_resp_err_t err;
  bool late; /* in wrk_out.late: its fate was unknown at the deadline */
} rec;

struct wrk_out {
  rd_kafka_t *rk; /* NULL: a sink (wrk_out_new_sink) */
  size_t produced;
  rec **recs;
  size_t n, cap;
  wrk_out_owner *owner; /* of records produced from now on */
  /* Records a wait gave up on while Kafka still had them: owned by
   * nobody, kept until their delivery report comes (it names them). */
  rec **late;
  size_t n_late, cap_late;
};

static void owner_fail(wrk_out_owner *ow, const char *topic, const char *why) {
  if (!ow)
    return;
  if (!ow->failed)
    snprintf(ow->error, sizeof ow->error, "output to %s not stored: %s",
             topic ? topic : "?", why);
  ow->failed = true;
}

/* Errors that producing the same record again cannot fix. */
static bool permanent(rd_kafka_resp_err_t err) {
  switch (err) {
  case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
  case RD_KAFKA_RESP_ERR_INVALID_MSG:
  case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
  case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
  case RD_KAFKA_RESP_ERR__INVALID_ARG:
  case RD_KAFKA_RESP_ERR__FATAL:
    return true;
  default:
    return false;
  }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
  rec *r = m->_private;
  if (!r)
    return;
  r->err = m->err;
  r->state = !m->err ? REC_OK : permanent(m->err) ? REC_DEAD : REC_FAILED;
  if (m->err)
    ls_warn("output not delivered", "{s:s,s:s}", "topic", r->topic, "error",
            rd_kafka_err2str(m->err));
  else if (!r->owner && r->late)
    /* Its owner was failed at the wait's deadline and is read again:
     * this copy is a duplicate, nothing is final because of it. */
    ls_info("output acknowledged after its wait gave up", "{s:s}", "topic",
            r->topic);
}

void wrk_out_owner_set(wrk_out *o, wrk_out_owner *owner) {
  o->owner = owner;
}

void wrk_out_disown(wrk_out *o) {
  o->owner = NULL;
  for (size_t i = 0; i < o->n; i++)
    o->recs[i]->owner = NULL;
}

void wrk_out_fail(wrk_out *o, const char *why) {
  ls_error("output not produced", "{s:s}", "error", why);
  owner_fail(o->owner, NULL, why);
}

wrk_out *wrk_out_new(const ls_config *cfg, char *errstr, size_t errlen) {
  wrk_out *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  kq_producer_opts po = {.on_delivery = on_delivery};
  o->rk = kq_producer_new(cfg, &po, errstr, errlen);
  if (!o->rk)
    goto fail;
  return o;
fail:
  free(o);
  return NULL;
}

wrk_out *wrk_out_new_sink(void) {
  return calloc(1, sizeof(wrk_out));
}

size_t wrk_out_produced(const wrk_out *o) {
  return o->produced;
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
  /* Test seams: produce_held, produce_sync_log, produce_ledger, ... */
  char seam[64];
  const char *dot = strrchr(r->topic, '.');
  snprintf(seam, sizeof seam, "produce_%s", dot ? dot + 1 : r->topic);
  if (wrk_fault(seam)) {
    r->state = REC_DEAD;
    r->err = RD_KAFKA_RESP_ERR__FAIL;
    return;
  }
  o->produced++;
  if (!o->rk) {
    r->state = REC_OK; /* a sink acknowledges at once */
    return;
  }
  /* r->hdrs stays for a retry: the message gets a copy. */
  rd_kafka_headers_t *h = r->hdrs ? rd_kafka_headers_copy(r->hdrs) : NULL;
  rd_kafka_resp_err_t err =
      kq_produce_to(o->rk, r->topic, r->partition, r->key, r->klen, r->val,
                    r->vlen, h, r, -1, NULL);
  if (!err)
    return;
  if (h)
    rd_kafka_headers_destroy(h);
  ls_error("cannot produce output", "{s:s,s:s,s:i}", "topic", r->topic, "error",
           rd_kafka_err2str(err), "bytes", (int)(r->klen + r->vlen));
  r->err = err;
  r->state = permanent(err) || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC
                 ? REC_DEAD
                 : REC_FAILED;
}

void wrk_out_produce(wrk_out *o, const char *topic, const void *key,
                     size_t klen, const void *val, size_t vlen,
                     rd_kafka_headers_t *hdrs) {
  wrk_out_produce_to(o, topic, RD_KAFKA_PARTITION_UA, key, klen, val, vlen,
                     hdrs);
}

void wrk_out_produce_to(wrk_out *o, const char *topic, int32_t partition,
                        const void *key, size_t klen, const void *val,
                        size_t vlen, rd_kafka_headers_t *hdrs) {
  rec *r = wrk_fault("alloc_output") ? NULL : calloc(1, sizeof *r);
  if (!r)
    goto oom;
  r->owner = o->owner;
  r->partition = partition;
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
  if (!LS_ARRAY_GROW(o->recs, o->cap, o->n + 1))
    goto oom;
  o->recs[o->n++] = r;
  send_rec(o, r);
  return;
oom:
  /* The owner is not final: its offset waits (wrk_consumer_store). */
  ls_error("out of memory queueing an output", "{s:s}", "topic", topic);
  owner_fail(o->owner, topic, "out of memory");
  if (r) {
    r->hdrs = hdrs;
    rec_free(r);
  } else if (hdrs) {
    rd_kafka_headers_destroy(hdrs);
  }
}

/* Frees the late records whose delivery report came. */
static void reap_late(wrk_out *o) {
  size_t keep = 0;
  for (size_t i = 0; i < o->n_late; i++) {
    if (o->late[i]->state == REC_INFLIGHT)
      o->late[keep++] = o->late[i];
    else
      rec_free(o->late[i]);
  }
  o->n_late = keep;
}

size_t wrk_out_unsettled(wrk_out *o) {
  if (o->rk)
    rd_kafka_poll(o->rk, 0);
  reap_late(o);
  return o->n_late;
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
  for (;;) {
    if (o->rk)
      rd_kafka_poll(o->rk, 0);
    reap_late(o);
    size_t inflight = 0, failed = 0;
    for (size_t i = 0; i < o->n; i++) {
      if (o->recs[i]->state == REC_INFLIGHT)
        inflight++;
      else if (o->recs[i]->state == REC_FAILED)
        failed++;
    }
    if (!inflight && !failed)
      break;
    if (ls_mono_us() > deadline || (stop && *stop && !inflight))
      break;
    /* Produce the failed ones again: their owners' offsets wait. */
    if (!inflight)
      for (size_t i = 0; i < o->n; i++)
        if (o->recs[i]->state == REC_FAILED)
          send_rec(o, o->recs[i]);
    if (o->rk)
      rd_kafka_flush(o->rk, 100);
  }
  bool ok = true, unsettled = false;
  for (size_t i = 0; i < o->n; i++) {
    rec *r = o->recs[i];
    if (r->state == REC_OK)
      continue;
    ok = false;
    unsettled |= r->state == REC_INFLIGHT;
    owner_fail(r->owner, r->topic,
               r->state == REC_INFLIGHT ? "not acknowledged in time"
               : r->err                 ? rd_kafka_err2str(r->err)
                                        : "refused");
  }
  /* A record still in flight is Kafka's message opaque: it is kept (owned
   * by nobody) until its report comes, so a late report can neither touch
   * freed memory nor land on a record of a later wait. Its owner failed
   * above whatever the report says: stored late, the event is read again
   * (a duplicate); not stored, it was never final. */
  for (size_t i = 0; i < o->n; i++) {
    rec *r = o->recs[i];
    if (r->state == REC_INFLIGHT && o->rk &&
        LS_ARRAY_GROW(o->late, o->cap_late, o->n_late + 1)) {
      r->owner = NULL;
      r->late = true;
      o->late[o->n_late++] = r;
      continue;
    }
    if (r->state == REC_INFLIGHT && o->rk) {
      /* No room to keep it: wait it out so the report cannot outlive it. */
      ls_error("out of memory keeping an unacknowledged output; waiting it "
               "out",
               "{s:s}", "topic", r->topic);
      while (r->state == REC_INFLIGHT)
        rd_kafka_flush(o->rk, 1000);
    }
    rec_free(r);
  }
  o->n = 0;
  if (unsettled)
    ls_warn("outputs unacknowledged at the deadline are kept until Kafka "
            "reports them",
            "{s:i}", "records", (int)o->n_late);
  return ok;
}

void wrk_out_free(wrk_out *o) {
  if (!o)
    return;
  if (o->n)
    wrk_out_wait(o, 5000, NULL);
  if (o->rk) {
    rd_kafka_flush(o->rk, 5000);
    /* What is still queued is dropped; its report is served while the
     * late records are alive, and destroy reports nothing after it. */
    rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(o->rk, 0);
    rd_kafka_destroy(o->rk);
  }
  for (size_t i = 0; i < o->n_late; i++)
    rec_free(o->late[i]);
  free(o->late);
  free(o->recs);
  free(o);
}
