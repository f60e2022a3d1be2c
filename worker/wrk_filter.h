/* wrk_filter: the seam where the tenant's category filter (hold and
 * release, docs/filter.md) decides, per event and before any HubSpot
 * call, whether the event syncs now. The default lets everything through;
 * the hold/release implementation plugs in its own ops. */
#ifndef WRK_FILTER_H
#define WRK_FILTER_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "ls_config.h"
#include "ls_event.h"

typedef enum {
  WRK_VERDICT_SYNC,    /* sync now */
  WRK_VERDICT_HELD,    /* the filter kept it (leadsync.held); store offset */
  WRK_VERDICT_FILTERED /* never syncs; store offset */
} wrk_verdict;

typedef struct wrk_filter_ops {
  /* Called once per consumed event, in partition order, before sync.
   * reason (may stay "") goes to the sync_log record. The implementation
   * owns any Kafka writes a hold needs and must have them acknowledged
   * before returning HELD (the worker stores the offset after its own
   * outputs are acknowledged). */
  wrk_verdict (*decide)(void *ctx, const ls_tenant *t, const ls_event *ev,
                        const json_t *root, const rd_kafka_message_t *m,
                        char *reason, size_t reason_len);
  void (*destroy)(void *ctx);
} wrk_filter_ops;

typedef struct wrk_filter {
  const wrk_filter_ops *ops;
  void *ctx;
} wrk_filter;

/* Headers of the filter path (docs/filter.md), shared with the filter
 * role (filter/). */
#define WRK_H_FILTER "ls_filter"     /* "passed": decided, sync it */
#define WRK_H_RELEASED "ls_released" /* "1": it had been held */
#define WRK_H_ORIG_TOPIC "ls_original_topic"
#define WRK_H_MARKER "ls_marker" /* "done": ids no longer held */

struct wrk_out;

/* Every tenant syncs everything (tools, tests). */
wrk_filter *wrk_filter_pass_all(void);
/* Hold and release (docs/filter.md): a record of a tenant with a category
 * filter that nobody has decided on yet is forwarded to leadsync.held
 * through the worker's producer (so the batch's wait covers its ack) and
 * reported HELD; the filter role decides and re-publishes it. */
wrk_filter *wrk_filter_hold_new(struct wrk_out *out);
wrk_verdict wrk_filter_decide(wrk_filter *f, const ls_tenant *t,
                              const ls_event *ev, const json_t *root,
                              const rd_kafka_message_t *m, char *reason,
                              size_t reason_len);
void wrk_filter_free(wrk_filter *f);

#endif
