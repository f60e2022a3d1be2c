/* fl_obs: the filter role's gauges. */
#include "fl_obs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_time.h"

#define M_HELD_AGE "leadsync_filter_oldest_held_age_seconds"
#define M_HELD_TENANT "leadsync_filter_held_events"
#define M_HELD_MAX "leadsync_filter_held_max_age_seconds"

void fl_obs_declare(ls_metrics *m) {
  /* The consumer lag families are filled by wrk_obs_lag, as in the sync
   * role; their help text is the same. */
  ls_metrics_declare(m, LS_GAUGE, "leadsync_worker_consumer_lag",
                     "Records not yet consumed per partition of the group",
                     NULL);
  ls_metrics_declare(
      m, LS_GAUGE, "leadsync_worker_consumer_lag_seconds",
      "Seconds behind per partition: the age of the newest record consumed "
      "while records remain (0 when caught up)",
      NULL);
  ls_metrics_declare(m, LS_COUNTER, "leadsync_filter_outcomes_total",
                     "Filter outcomes by kind", NULL);
  ls_metrics_declare(m, LS_GAUGE, "leadsync_filter_leads",
                     "Leads with filter state in memory", NULL);
  ls_metrics_declare(m, LS_GAUGE, "leadsync_filter_held",
                     "Events held in memory", NULL);
  ls_metrics_declare(m, LS_GAUGE, M_HELD_TENANT,
                     "Events held by the category filter per tenant", NULL);
  ls_metrics_declare(m, LS_GAUGE, M_HELD_AGE,
                     "Age of the tenant's oldest held event (0: none)", NULL);
  ls_metrics_declare(m, LS_GAUGE, M_HELD_MAX,
                     "Held events older than this expire "
                     "(worker.held_max_age_days)",
                     NULL);
}

typedef struct {
  const ls_config *cfg;
  int64_t *oldest;
  double *count;
} held_acc;

static void held_one(const char *lead_key, const ls_held_item *it, void *ud) {
  held_acc *a = ud;
  const char *colon = strchr(lead_key, ':');
  size_t len = colon ? (size_t)(colon - lead_key) : strlen(lead_key);
  for (size_t i = 0; i < a->cfg->n_tenants; i++) {
    const char *id = a->cfg->tenants[i].id;
    if (strlen(id) == len && !strncmp(id, lead_key, len)) {
      a->count[i]++;
      if (it->held_us > 0 && (!a->oldest[i] || it->held_us < a->oldest[i]))
        a->oldest[i] = it->held_us;
      return;
    }
  }
}

void fl_obs_held(ls_metrics *m, const ls_config *cfg, ls_filter *const *parts,
                 size_t nparts, long max_age_s) {
  size_t n = cfg->n_tenants;
  held_acc a = {cfg, calloc(n ? n : 1, sizeof(int64_t)),
                calloc(n ? n : 1, sizeof(double))};
  if (a.oldest && a.count) {
    for (size_t p = 0; p < nparts; p++)
      if (parts[p])
        ls_filter_foreach_held(parts[p], held_one, &a);
    int64_t now = ls_now_us();
    for (size_t i = 0; i < n; i++) {
      if (!cfg->tenants[i].has_filter)
        continue;
      char lab[160];
      snprintf(lab, sizeof lab, "tenant=\"%s\"", cfg->tenants[i].id);
      ls_metrics_set(m, M_HELD_TENANT, NULL, lab, a.count[i]);
      ls_metrics_set(m, M_HELD_AGE, NULL, lab,
                     a.oldest[i] && now > a.oldest[i]
                         ? (double)(now - a.oldest[i]) / 1e6
                         : 0);
    }
    ls_metrics_set(m, M_HELD_MAX, NULL, NULL, (double)max_age_s);
  }
  free(a.oldest);
  free(a.count);
}
