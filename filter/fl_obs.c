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
#define M_P_LEADS "leadsync_filter_state_leads"
#define M_P_HELD "leadsync_filter_state_held"
#define M_P_BYTES "leadsync_filter_state_bytes"
#define M_P_RESTORE "leadsync_filter_restore_seconds"
#define M_P_RESTORE_REC "leadsync_filter_restore_records"
#define M_P_TAIL "leadsync_filter_snapshot_tail_records"
#define M_P_SNAP_BYTES "leadsync_filter_snapshot_bytes"

/* Every family the role exports: type, name, help. */
static const struct {
  ls_metric_kind type;
  const char *name, *help;
} FAMILIES[] = {
    /* The consumer lag families are filled by wrk_obs_lag, as in the sync
     * role; their help text is the same. */
    {LS_GAUGE, "leadsync_worker_consumer_lag",
     "Records not yet consumed per partition of the group"},
    {LS_GAUGE, "leadsync_worker_consumer_lag_seconds",
     "Seconds behind per partition: the age of the newest record consumed "
     "while records remain (0 when caught up)"},
    {LS_COUNTER, "leadsync_filter_outcomes_total", "Filter outcomes by kind"},
    {LS_GAUGE, "leadsync_filter_leads", "Leads with filter state in memory"},
    {LS_GAUGE, "leadsync_filter_held",
     "Events held (their offsets; the records stay in leadsync.held)"},
    {LS_GAUGE, M_P_LEADS, "Leads in the filter state of an assigned partition"},
    {LS_GAUGE, M_P_HELD,
     "Held records in the filter state of an assigned partition"},
    {LS_GAUGE, M_P_BYTES,
     "Bytes of the filter state of an assigned partition (its tables at "
     "capacity)"},
    {LS_GAUGE, M_P_RESTORE,
     "Seconds the last restore of an assigned partition's filter state took"},
    {LS_GAUGE, M_P_RESTORE_REC,
     "Records the last restore of an assigned partition read, by topic "
     "(snapshot: leadsync.filter_state, held: leadsync.held replayed, "
     "lead_state)"},
    {LS_GAUGE, M_P_TAIL,
     "leadsync.held records of an assigned partition since its newest "
     "snapshot (what a restore would replay)"},
    {LS_GAUGE, M_P_SNAP_BYTES,
     "Bytes of the newest snapshot of an assigned partition's filter state "
     "(0: none)"},
    {LS_COUNTER, "leadsync_filter_snapshots_total",
     "Snapshots of the filter state written, by result"},
    {LS_GAUGE, M_HELD_TENANT, "Events held by the category filter per tenant"},
    {LS_GAUGE, M_HELD_AGE, "Age of the tenant's oldest held event (0: none)"},
    {LS_GAUGE, M_HELD_MAX,
     "Held events older than this expire (worker.held_max_age_days)"},
};

void fl_obs_declare(ls_metrics *m) {
  for (size_t i = 0; i < sizeof FAMILIES / sizeof *FAMILIES; i++)
    ls_metrics_declare(m, FAMILIES[i].type, FAMILIES[i].name, FAMILIES[i].help,
                       NULL);
}

static const char *const FROM[] = {"snapshot", "held", "lead_state"};

void fl_obs_partition(ls_metrics *m, int32_t p, const fl_state *s,
                      const fl_obs_restore *rs) {
  char lab[32], lab2[80];
  snprintf(lab, sizeof lab, "partition=\"%d\"", (int)p);
  ls_metrics_set(m, M_P_LEADS, NULL, lab, (double)fl_state_leads(s));
  ls_metrics_set(m, M_P_HELD, NULL, lab, (double)fl_state_held(s));
  ls_metrics_set(m, M_P_BYTES, NULL, lab, (double)fl_state_bytes(s));
  ls_metrics_set(m, M_P_RESTORE, NULL, lab, rs->seconds);
  size_t n[] = {rs->snapshot_records, rs->held_records, rs->lead_state_records};
  for (int i = 0; i < 3; i++) {
    snprintf(lab2, sizeof lab2, "partition=\"%d\",from=\"%s\"", (int)p,
             FROM[i]);
    ls_metrics_set(m, M_P_RESTORE_REC, NULL, lab2, (double)n[i]);
  }
  ls_metrics_set(m, M_P_TAIL, NULL, lab,
                 (double)(rs->tail_records > 0 ? rs->tail_records : 0));
  ls_metrics_set(m, M_P_SNAP_BYTES, NULL, lab, (double)rs->snapshot_bytes);
}

void fl_obs_partition_drop(ls_metrics *m, int32_t p) {
  char lab[32];
  snprintf(lab, sizeof lab, "partition=\"%d\"", (int)p);
  ls_metrics_remove(m, M_P_LEADS, lab);
  ls_metrics_remove(m, M_P_HELD, lab);
  ls_metrics_remove(m, M_P_BYTES, lab);
  ls_metrics_remove(m, M_P_RESTORE, lab);
  ls_metrics_remove(m, M_P_TAIL, lab);
  ls_metrics_remove(m, M_P_SNAP_BYTES, lab);
  for (int i = 0; i < 3; i++) {
    char lab2[80];
    snprintf(lab2, sizeof lab2, "partition=\"%d\",from=\"%s\"", (int)p,
             FROM[i]);
    ls_metrics_remove(m, M_P_RESTORE_REC, lab2);
  }
}

typedef struct {
  size_t n;
  int64_t *oldest;
  double *count;
} held_acc;

static void held_one(uint16_t tenant, const fl_item *it, void *ud) {
  held_acc *a = ud;
  if (tenant >= a->n)
    return;
  a->count[tenant]++;
  if (it->held_us > 0 &&
      (!a->oldest[tenant] || it->held_us < a->oldest[tenant]))
    a->oldest[tenant] = it->held_us;
}

void fl_obs_held(ls_metrics *m, const ls_config *cfg, fl_state *const *parts,
                 size_t nparts, long max_age_s) {
  size_t n = cfg->n_tenants;
  held_acc a = {n, calloc(n ? n : 1, sizeof(int64_t)),
                calloc(n ? n : 1, sizeof(double))};
  if (a.oldest && a.count) {
    for (size_t p = 0; p < nparts; p++)
      if (parts[p])
        fl_state_foreach_held(parts[p], held_one, &a);
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
