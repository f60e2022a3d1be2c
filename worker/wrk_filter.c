/* wrk_filter: the filter seam and its pass-all default. */
#include "wrk_filter.h"

#include <stdio.h>
#include <stdlib.h>

#include "kq.h"
#include "wrk_out.h"

static wrk_verdict pass_decide(void *ctx, const ls_tenant *t,
                               const ls_event *ev, const json_t *root,
                               const rd_kafka_message_t *m, char *reason,
                               size_t reason_len) {
  if (reason_len)
    reason[0] = '\0';
  return WRK_VERDICT_SYNC;
}

static const wrk_filter_ops pass_ops = {pass_decide, NULL};

wrk_filter *wrk_filter_pass_all(void) {
  wrk_filter *f = calloc(1, sizeof *f);
  if (f)
    f->ops = &pass_ops;
  return f;
}

/* True when this group must hand the record to the filter instead of
 * syncing it: the tenant has a filter and nobody has decided yet. */
static bool needs_filter(const ls_tenant *t, const rd_kafka_message_t *m) {
  char v[32];
  if (!t || !t->has_filter)
    return false;
  return kq_header(m, WRK_H_FILTER, v, sizeof v)[0] == '\0';
}

/* The headers a record carries on its way to leadsync.held: its own, plus
 * ls_original_topic (the caller owns the returned list). */
static rd_kafka_headers_t *forward_headers(const rd_kafka_message_t *m) {
  rd_kafka_headers_t *src = NULL, *h;
  if (rd_kafka_message_headers(m, &src) == RD_KAFKA_RESP_ERR_NO_ERROR && src)
    h = rd_kafka_headers_copy(src);
  else
    h = rd_kafka_headers_new(8);
  rd_kafka_header_remove(h, WRK_H_ORIG_TOPIC);
  rd_kafka_header_add(h, WRK_H_ORIG_TOPIC, -1, rd_kafka_topic_name(m->rkt), -1);
  return h;
}

static wrk_verdict hold_decide(void *ctx, const ls_tenant *t,
                               const ls_event *ev, const json_t *root,
                               const rd_kafka_message_t *m, char *reason,
                               size_t reason_len) {
  (void)ev;
  (void)root;
  if (!needs_filter(t, m))
    return WRK_VERDICT_SYNC;
  wrk_out_produce(ctx, KQ_TOPIC_HELD, m->key, m->key_len, m->payload, m->len,
                  forward_headers(m));
  snprintf(reason, reason_len, "to_filter");
  return WRK_VERDICT_HELD;
}

static const wrk_filter_ops hold_ops = {hold_decide, NULL};

wrk_filter *wrk_filter_hold_new(struct wrk_out *out) {
  wrk_filter *f = calloc(1, sizeof *f);
  if (f) {
    f->ops = &hold_ops;
    f->ctx = out;
  }
  return f;
}

wrk_verdict wrk_filter_decide(wrk_filter *f, const ls_tenant *t,
                              const ls_event *ev, const json_t *root,
                              const rd_kafka_message_t *m, char *reason,
                              size_t reason_len) {
  if (!f || !f->ops || !f->ops->decide)
    return WRK_VERDICT_SYNC;
  return f->ops->decide(f->ctx, t, ev, root, m, reason, reason_len);
}

void wrk_filter_free(wrk_filter *f) {
  if (!f)
    return;
  if (f->ops && f->ops->destroy)
    f->ops->destroy(f->ctx);
  free(f);
}
