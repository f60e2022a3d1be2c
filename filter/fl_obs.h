/* fl_obs: the filter role's metric families, declared at start, and the
 * gauges over its state: per partition (leads, held records, bytes, the
 * last restore's duration) and per tenant (held records, the oldest held
 * one's age). */
#ifndef FL_OBS_H
#define FL_OBS_H

#include <stddef.h>
#include <stdint.h>

#include "fl_state.h"
#include "ls_config.h"
#include "ls_metrics.h"

/* Declares every family the filter role exports. */
void fl_obs_declare(ls_metrics *m);
/* What the last restore of a partition read, and where it stands. */
typedef struct {
  double seconds;            /* the last restore's duration */
  size_t snapshot_records;   /* leadsync.filter_state records read */
  size_t held_records;       /* leadsync.held records replayed */
  size_t lead_state_records; /* leadsync.lead_state records read */
  int64_t tail_records;      /* held records since the newest snapshot */
  size_t snapshot_bytes;     /* its chunks' bytes (0: none) */
} fl_obs_restore;

/* The state gauges of one assigned partition. */
void fl_obs_partition(ls_metrics *m, int32_t p, const fl_state *s,
                      const fl_obs_restore *rs);
/* Removes them when the partition is revoked. */
void fl_obs_partition_drop(ls_metrics *m, int32_t p);
/* Per-tenant held counts and the oldest held event's age, over the
 * partitions' states (NULL entries: not assigned). */
void fl_obs_held(ls_metrics *m, const ls_config *cfg, fl_state *const *parts,
                 size_t nparts, long max_age_s);

#endif
