/* fl_role: the filter role's process around fl_release. */
#include "fl_role.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "fl_obs.h"
#include "fl_release.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_metrics.h"
#include "wrk_dlqwatch.h"
#include "ls_ops.h"

typedef struct {
  const fl_role_args *a;
  volatile int ready;
  const char *url;
  bool failed;
} ready_ctx;

static void on_ready(void *arg) {
  ready_ctx *rc = arg;
  rc->ready = 1;
  if (rc->a->ready_file &&
      ls_write_file_atomic(rc->a->ready_file, rc->url) != 0) {
    ls_error("cannot write the ready file", "{s:s}", "path", rc->a->ready_file);
    rc->failed = true;
    *rc->a->stop = 1;
  }
}

int fl_role_run(const fl_role_args *a) {
  char err[LS_ERRSTR_SIZE], url[160] = "";
  int rc = 1;
  ls_metrics *m = ls_metrics_new();
  if (!m)
    return 1;
  fl_obs_declare(m);
  ready_ctx ctx = {a, 0, url, false};
  ls_ops *http = ls_ops_start(a->listen ? a->listen : a->cfg->worker.listen, m,
                              &ctx.ready, url, sizeof url, err, sizeof err);
  if (!http) {
    ls_error("cannot start the HTTP server", "{s:s}", "error", err);
    goto out;
  }
  fl_release_opts o = {
      .cfg = a->cfg,
      .group = a->group_id,
      .metrics = m,
      .stop = a->stop,
      .on_ready = on_ready,
      .ready_arg = &ctx,
      /* held_max_age_s (seconds) overrides the days, for tests. */
      .max_age_s = a->cfg->worker.held_max_age_s,
      .expiry_every_ms = a->cfg->worker.held_expiry_interval_ms,
      .poison_after = a->poison_after,
      .max_msg_bytes = a->max_msg_bytes,
      .snapshot_bytes = 256 * 1024,
  };
  /* Tests lower the checkpoint floor to see snapshots with few records
   * (docs/filter.md "Checkpoints"). */
  const char *sb = getenv("LEADSYNC_FILTER_SNAPSHOT_BYTES");
  if (sb && atol(sb) > 0)
    o.snapshot_bytes = atol(sb);
  /* The DLQ's pending records and their ages (docs/operations.md). */
  wrk_dlqwatch *dw =
      wrk_dlqwatch_start(a->cfg, m, a->cfg->worker.dlq_watch_interval_ms);
  int r = fl_release_run(&o, err, sizeof err);
  if (r != 0)
    ls_error("filter role failed", "{s:s}", "error", err);
  wrk_dlqwatch_stop(dw);
  ctx.ready = 0;
  rc = r != 0 || ctx.failed ? 1 : 0;
out:
  ls_ops_stop(http);
  ls_metrics_free(m);
  return rc;
}
