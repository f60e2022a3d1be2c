/* wrk_obs: worker gauges computed from the consumer and the limiters. */
#include "wrk_obs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_time.h"
#include "wrk.h"
#include "wrk_consumer.h"

#define M_LAG "leadsync_worker_consumer_lag"
#define M_LAG_S "leadsync_worker_consumer_lag_seconds"
#define M_DAILY_LEFT "leadsync_hubspot_daily_remaining"
#define M_DAILY_LIMIT "leadsync_hubspot_daily_limit"
#define M_WINDOW_LEFT "leadsync_hubspot_window_remaining"
#define M_WINDOW_LIMIT "leadsync_hubspot_window_limit"
#define M_PAUSED "leadsync_hubspot_daily_paused"
#define M_RL_TIME "leadsync_hubspot_ratelimit_seconds_total"
#define M_DEFER_AGE "leadsync_worker_oldest_deferred_age_seconds"
#define M_DEFER_PARTS "leadsync_worker_deferred_partitions"

static const char h_lag[] =
    "Records not yet consumed per partition of the group";
static const char h_lag_s[] =
    "Seconds behind per partition: the age of the newest record consumed "
    "while records remain (0 when caught up)";

void wrk_obs_declare(ls_metrics *m) {
  static const struct {
    ls_metric_kind k;
    const char *name, *help;
  } fams[] = {
      {LS_COUNTER, "leadsync_worker_consumed_total", "Events consumed"},
      {LS_COUNTER, "leadsync_worker_synced_total", "Events synced"},
      {LS_COUNTER, "leadsync_worker_filtered_total",
       "Events that write nothing to HubSpot"},
      {LS_COUNTER, "leadsync_worker_to_filter_total",
       "Events handed to the category filter (leadsync.held)"},
      {LS_COUNTER, "leadsync_worker_duplicates_total",
       "Events skipped because the ledger holds them"},
      {LS_COUNTER, "leadsync_worker_deferred_total",
       "Events left in Kafka for later (daily budget spent, shutdown)"},
      {LS_COUNTER, "leadsync_worker_dlq_total", "Events sent to the DLQ"},
      {LS_COUNTER, "leadsync_worker_auth_failures_total",
       "HubSpot rejected the tenant's token (401/403)"},
      {LS_COUNTER, "leadsync_worker_recovered_total",
       "Engagements found by search instead of re-created"},
      {LS_COUNTER, "leadsync_worker_ambiguous_creates_total",
       "Creates whose outcome was unknown (searched before retry)"},
      {LS_COUNTER, "leadsync_worker_dropped_properties_total",
       "Property values HubSpot rejected and the event synced without"},
      {LS_COUNTER, "leadsync_worker_upsert_unechoed_total",
       "Upsert results matched without their echoed email (secondary email, "
       "merged contact, no echo)"},
      {LS_COUNTER, "leadsync_worker_batches_total", "Batches flushed"},
      {LS_COUNTER, "leadsync_worker_batch_events_total",
       "Events in flushed batches (sum; / batches = mean size)"},
      {LS_COUNTER, "leadsync_worker_flush_seconds_total",
       "Wall time of the flush cycle, per phase (docs/worker.md "
       "\"Where a flush's time goes\")"},
      {LS_GAUGE, "leadsync_worker_last_batch_size",
       "Events in the last flushed batch"},
      {LS_GAUGE, "leadsync_worker_ledger_events",
       "Event ids known to the ledger"},
      {LS_GAUGE, M_LAG, h_lag},
      {LS_GAUGE, M_LAG_S, h_lag_s},
      {LS_GAUGE, M_DEFER_AGE,
       "Age of the tenant's oldest event left in Kafka for later (0: none)"},
      {LS_GAUGE, M_DEFER_PARTS,
       "Partitions stopped at a deferred event of the tenant"},
      {LS_COUNTER, "leadsync_hubspot_requests_total",
       "HubSpot API calls by route and status"},
      {LS_COUNTER, "leadsync_hubspot_rate_limited_total",
       "429 answers from HubSpot"},
      {LS_COUNTER, "leadsync_hubspot_retries_total",
       "HubSpot calls retried after a transient failure"},
      {LS_COUNTER, "leadsync_hubspot_ratelimit_waits_total",
       "Times a call waited for the portal's budget"},
      {LS_GAUGE, M_DAILY_LEFT,
       "Requests left of the portal's daily budget as this process sees it "
       "(-1: unlimited)"},
      {LS_GAUGE, M_DAILY_LIMIT,
       "The portal's daily request budget (-1: unlimited)"},
      {LS_GAUGE, M_WINDOW_LEFT,
       "Requests left in the portal's current 10-second window"},
      {LS_GAUGE, M_WINDOW_LIMIT, "Requests per 10-second window"},
      {LS_GAUGE, M_PAUSED,
       "1 while the portal's daily budget is spent (calls wait for reset)"},
      {LS_COUNTER, M_RL_TIME,
       "Seconds this process spent per rate-limit state at the tenant's "
       "portal (docs/worker.md \"Rate limiting\")"},
  };
  for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++)
    ls_metrics_declare(m, fams[i].k, fams[i].name, fams[i].help, NULL);
  ls_metrics_declare(m, LS_HISTOGRAM, "leadsync_hubspot_request_seconds",
                     "HubSpot API call latency", &LS_BUCKETS_REQUEST);
  /* Events can wait hours for a daily reset or days in a hold. */
  ls_metrics_declare(m, LS_HISTOGRAM, "leadsync_worker_event_latency_seconds",
                     "From ingress receipt to HubSpot answer",
                     &LS_BUCKETS_EVENT);
}

/* -- consumed timestamps and lag -------------------------------------- */

#define MAX_TP 2048

typedef struct {
  char topic[LS_TOPIC_MAX];
  int32_t partition;
  int64_t ts_ms; /* timestamp of the newest record consumed */
  bool reported; /* has series in the registry */
  bool assigned; /* seen in the current assignment */
} tp_state;

static pthread_mutex_t tp_lock = PTHREAD_MUTEX_INITIALIZER;
static tp_state tps[MAX_TP];
static size_t n_tps;

/* Called with tp_lock held. */
static tp_state *tp_find(const char *topic, int32_t partition, bool create) {
  for (size_t i = 0; i < n_tps; i++)
    if (tps[i].partition == partition && !strcmp(tps[i].topic, topic))
      return &tps[i];
  if (!create || n_tps == MAX_TP)
    return NULL;
  tp_state *t = &tps[n_tps++];
  memset(t, 0, sizeof *t);
  snprintf(t->topic, sizeof t->topic, "%s", topic);
  t->partition = partition;
  return t;
}

void wrk_obs_consumed(const rd_kafka_message_t *m) {
  if (!m || m->err || !m->rkt)
    return;
  int64_t ts = rd_kafka_message_timestamp(m, NULL);
  if (ts <= 0)
    return;
  pthread_mutex_lock(&tp_lock);
  tp_state *t = tp_find(rd_kafka_topic_name(m->rkt), m->partition, true);
  if (t && ts > t->ts_ms)
    t->ts_ms = ts;
  pthread_mutex_unlock(&tp_lock);
}

/* The lag series' labels; false when they do not fit (a cut label would
 * name another series). */
static bool lag_label(char *lab, size_t len, const char *group,
                      const char *topic, int32_t partition) {
  int n = snprintf(lab, len, "group=\"%s\",topic=\"%s\",partition=\"%d\"",
                   group ? group : "-", topic, (int)partition);
  return n >= 0 && (size_t)n < len;
}

void wrk_obs_lag(ls_metrics *m, rd_kafka_t *rk, const char *group) {
  rd_kafka_topic_partition_list_t *a = NULL;
  if (!rk || rd_kafka_assignment(rk, &a) || !a)
    return;
  rd_kafka_position(rk, a);
  int64_t now_ms = ls_now_us() / 1000;
  char lab[LS_TOPIC_MAX + 200];
  pthread_mutex_lock(&tp_lock);
  for (size_t i = 0; i < n_tps; i++)
    tps[i].assigned = false;
  for (int i = 0; i < a->cnt; i++) {
    int64_t lo = 0, hi = 0;
    rd_kafka_topic_partition_t *tp = &a->elems[i];
    if (rd_kafka_get_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi))
      continue;
    int64_t pos = tp->offset >= 0 ? tp->offset : lo;
    int64_t behind = hi > pos ? hi - pos : 0;
    tp_state *t = tp_find(tp->topic, tp->partition, true);
    double secs = 0;
    if (t && behind > 0 && t->ts_ms > 0 && now_ms > t->ts_ms)
      secs = (double)(now_ms - t->ts_ms) / 1000.0;
    if (!lag_label(lab, sizeof lab, group, tp->topic, tp->partition))
      continue;
    ls_metrics_set(m, M_LAG, h_lag, lab, (double)behind);
    ls_metrics_set(m, M_LAG_S, h_lag_s, lab, secs);
    if (t) {
      t->assigned = true;
      t->reported = true;
    }
  }
  /* Partitions this member no longer owns: their lag is someone else's. */
  for (size_t i = 0; i < n_tps; i++)
    if (tps[i].reported && !tps[i].assigned) {
      if (lag_label(lab, sizeof lab, group, tps[i].topic, tps[i].partition)) {
        ls_metrics_remove(m, M_LAG, lab);
        ls_metrics_remove(m, M_LAG_S, lab);
      }
      tps[i].reported = false;
      tps[i].ts_ms = 0;
    }
  pthread_mutex_unlock(&tp_lock);
  rd_kafka_topic_partition_list_destroy(a);
}

/* -- budgets and deferred events -------------------------------------- */

static void budgets(wrk *w) {
  int64_t now = ls_mono_us();
  for (size_t i = 0; i < w->cfg->n_tenants; i++) {
    if (!w->targets || !w->targets[i].lim)
      continue;
    hs_rl_snapshot s;
    hs_limiter_snapshot(w->targets[i].lim, now, &s);
    char lab[160];
    snprintf(lab, sizeof lab, "tenant=\"%s\"", w->cfg->tenants[i].id);
    ls_metrics_set(w->metrics, M_DAILY_LEFT, NULL, lab,
                   (double)s.daily_remaining);
    ls_metrics_set(w->metrics, M_DAILY_LIMIT, NULL, lab, (double)s.daily_limit);
    ls_metrics_set(w->metrics, M_WINDOW_LEFT, NULL, lab,
                   (double)s.window_remaining);
    ls_metrics_set(w->metrics, M_WINDOW_LIMIT, NULL, lab,
                   (double)s.window_limit);
    ls_metrics_set(w->metrics, M_PAUSED, NULL, lab, s.daily_blocked ? 1 : 0);
    double ts[HS_RL_T_N];
    hs_limiter_times(w->targets[i].lim, now, ts);
    for (int k = 0; k < HS_RL_T_N; k++) {
      char sl[200];
      snprintf(sl, sizeof sl, "%s,state=\"%s\"", lab, hs_rl_time_name(k));
      ls_metrics_set(w->metrics, M_RL_TIME, NULL, sl, ts[k]);
    }
  }
}

static void deferred(wrk *w) {
  size_t n = w->cfg->n_tenants;
  int64_t *oldest = calloc(n ? n : 1, sizeof *oldest);
  int *parts = calloc(n ? n : 1, sizeof *parts);
  if (!oldest || !parts)
    goto out;
  for (size_t k = 0; k < w->cons->n_stuck; k++) {
    int ti = w->cons->stuck[k].tenant;
    int64_t since = w->cons->stuck[k].since_us;
    if (ti < 0 || (size_t)ti >= n)
      continue;
    parts[ti]++;
    if (since > 0 && (!oldest[ti] || since < oldest[ti]))
      oldest[ti] = since;
  }
  int64_t now = ls_now_us();
  for (size_t i = 0; i < n; i++) {
    char lab[160];
    snprintf(lab, sizeof lab, "tenant=\"%s\"", w->cfg->tenants[i].id);
    ls_metrics_set(
        w->metrics, M_DEFER_AGE, NULL, lab,
        oldest[i] && now > oldest[i] ? (double)(now - oldest[i]) / 1e6 : 0);
    ls_metrics_set(w->metrics, M_DEFER_PARTS, NULL, lab, parts[i]);
  }
out:
  free(oldest);
  free(parts);
}

void wrk_obs_tick(wrk *w) {
  wrk_obs_lag(w->metrics, w->cons->rk, w->s.group);
  budgets(w);
  deferred(w);
}
