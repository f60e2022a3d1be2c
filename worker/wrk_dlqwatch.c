/* wrk_dlqwatch: periodic bounded scan of the DLQ's pending records. */
#include "wrk_dlqwatch.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kq.h"
#include "kq_client.h"
#include "ls_log.h"
#include "ls_time.h"

#define DLQ_REPLAY_GROUP "leadsync-dlq-replay"
#define M_PENDING "leadsync_dlq_pending_records"
#define M_OLDEST "leadsync_dlq_oldest_age_seconds"
#define M_TENANT_PENDING "leadsync_dlq_pending_events"
/* Records read per partition and scan: beyond it the per-tenant figures
 * cover the oldest records only (the total stays exact). */
#define SCAN_MAX 20000

struct wrk_dlqwatch {
  const ls_config *cfg;
  ls_metrics *m;
  long interval_ms;
  rd_kafka_t *rk;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stop;
};

static const char h_pending[] =
    "Records in leadsync.dlq not yet replayed (past the committed offset of "
    "leadsync-dlq-replay)";
static const char h_oldest[] =
    "Age of the tenant's oldest DLQ record not yet replayed (0: none)";
static const char h_tenant[] = "DLQ records of the tenant not yet replayed";

static int tenant_index(const ls_config *cfg, const char *id) {
  for (size_t i = 0; i < cfg->n_tenants; i++)
    if (!strcmp(cfg->tenants[i].id, id))
      return (int)i;
  return -1;
}

/* One scan; false when Kafka could not answer (gauges left as they were). */
static bool scan(wrk_dlqwatch *d) {
  const rd_kafka_metadata_t *md = NULL;
  rd_kafka_topic_t *t = rd_kafka_topic_new(d->rk, KQ_TOPIC_DLQ, NULL);
  if (!t)
    return false;
  rd_kafka_resp_err_t err = rd_kafka_metadata(d->rk, 0, t, &md, 5000);
  rd_kafka_topic_destroy(t);
  if (err || !md || md->topic_cnt < 1 || md->topics[0].err) {
    if (md)
      rd_kafka_metadata_destroy(md);
    return false;
  }
  int nparts = md->topics[0].partition_cnt;
  rd_kafka_metadata_destroy(md);

  rd_kafka_topic_partition_list_t *l =
      rd_kafka_topic_partition_list_new(nparts > 0 ? nparts : 1);
  for (int p = 0; p < nparts; p++)
    rd_kafka_topic_partition_list_add(l, KQ_TOPIC_DLQ, p);
  bool ok = rd_kafka_committed(d->rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
  size_t nt = d->cfg->n_tenants;
  int64_t *oldest = calloc(nt ? nt : 1, sizeof *oldest);
  double *count = calloc(nt ? nt : 1, sizeof *count);
  double pending = 0;
  if (!ok || !oldest || !count)
    goto out;
  for (int i = 0; i < l->cnt && ok; i++) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(d->rk, KQ_TOPIC_DLQ, i, &lo, &hi,
                                         5000)) {
      ok = false;
      break;
    }
    int64_t from = l->elems[i].offset >= 0 ? l->elems[i].offset : lo;
    if (from < lo)
      from = lo;
    l->elems[i].offset = from;
    pending += (double)(hi > from ? hi - from : 0);
    /* Read [from, min(hi, from + SCAN_MAX)) of this partition. */
    int64_t end = hi < from + SCAN_MAX ? hi : from + SCAN_MAX;
    if (end <= from)
      continue;
    rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(one, KQ_TOPIC_DLQ, i)->offset = from;
    rd_kafka_assign(d->rk, one);
    rd_kafka_topic_partition_list_destroy(one);
    int64_t deadline = ls_mono_us() + 10000000, next = from;
    while (next < end && ls_mono_us() < deadline) {
      rd_kafka_message_t *msg = rd_kafka_consumer_poll(d->rk, 200);
      if (!msg)
        continue;
      if (!msg->err) {
        next = msg->offset + 1;
        char tenant[128];
        kq_header(msg, "ce_tenant", tenant, sizeof tenant);
        int ti = tenant_index(d->cfg, tenant);
        int64_t ts = rd_kafka_message_timestamp(msg, NULL);
        if (ti >= 0) {
          count[ti]++;
          if (ts > 0 && (!oldest[ti] || ts < oldest[ti]))
            oldest[ti] = ts;
        }
      }
      rd_kafka_message_destroy(msg);
    }
    rd_kafka_assign(d->rk, NULL);
  }
  if (ok) {
    int64_t now_ms = ls_now_us() / 1000;
    ls_metrics_set(d->m, M_PENDING, h_pending, NULL, pending);
    for (size_t i = 0; i < nt; i++) {
      char lab[160];
      snprintf(lab, sizeof lab, "tenant=\"%s\"", d->cfg->tenants[i].id);
      ls_metrics_set(d->m, M_TENANT_PENDING, h_tenant, lab, count[i]);
      ls_metrics_set(d->m, M_OLDEST, h_oldest, lab,
                     oldest[i] && now_ms > oldest[i]
                         ? (double)(now_ms - oldest[i]) / 1000.0
                         : 0);
    }
  }
out:
  free(oldest);
  free(count);
  rd_kafka_topic_partition_list_destroy(l);
  return ok;
}

static void *run(void *arg) {
  wrk_dlqwatch *d = arg;
  pthread_mutex_lock(&d->mu);
  while (!d->stop) {
    pthread_mutex_unlock(&d->mu);
    if (!scan(d))
      ls_warn("dlq watch: Kafka did not answer; DLQ gauges not updated", NULL);
    pthread_mutex_lock(&d->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += d->interval_ms / 1000;
    until.tv_nsec += (d->interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    while (!d->stop && pthread_cond_timedwait(&d->cv, &d->mu, &until) == 0)
      ;
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

wrk_dlqwatch *wrk_dlqwatch_start(const ls_config *cfg, ls_metrics *m,
                                 long interval_ms) {
  char err[512];
  ls_metrics_declare(m, LS_GAUGE, M_PENDING, h_pending, NULL);
  ls_metrics_declare(m, LS_GAUGE, M_TENANT_PENDING, h_tenant, NULL);
  ls_metrics_declare(m, LS_GAUGE, M_OLDEST, h_oldest, NULL);
  wrk_dlqwatch *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->cfg = cfg;
  d->m = m;
  d->interval_ms = interval_ms > 0 ? interval_ms : 60000;
  /* The replay group's id only to read its committed offsets: this
   * consumer never subscribes (no group membership) and never commits. */
  kq_consumer_opts co = {.kind = KQ_READER,
                         .group_id = DLQ_REPLAY_GROUP,
                         .poll_set_consumer = true};
  d->rk = kq_consumer_new(cfg, &co, err, sizeof err);
  if (!d->rk) {
    ls_error("dlq watch: consumer", "{s:s}", "error", err);
    free(d);
    return NULL;
  }
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  if (pthread_create(&d->thread, NULL, run, d)) {
    ls_error("dlq watch: no thread", NULL);
    rd_kafka_destroy(d->rk);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
    return NULL;
  }
  return d;
}

void wrk_dlqwatch_stop(wrk_dlqwatch *d) {
  if (!d)
    return;
  pthread_mutex_lock(&d->mu);
  d->stop = true;
  pthread_cond_signal(&d->cv);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  rd_kafka_consumer_close(d->rk);
  rd_kafka_destroy(d->rk);
  pthread_mutex_destroy(&d->mu);
  pthread_cond_destroy(&d->cv);
  free(d);
}
