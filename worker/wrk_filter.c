/* wrk_filter: the filter seam and its pass-all default. */
#include "wrk_filter.h"

#include <stdlib.h>

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
