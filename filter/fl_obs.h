/* fl_obs: the filter role's metric families, declared at start, and the
 * gauges over its state: per-tenant held counts and the oldest held
 * event's age. */
#ifndef FL_OBS_H
#define FL_OBS_H

#include <stddef.h>

#include "ls_config.h"
#include "ls_filter.h"
#include "ls_metrics.h"

/* Declares every family the filter role exports. */
void fl_obs_declare(ls_metrics *m);
/* Per-tenant held counts and the oldest held event's age, over the
 * partitions' filter states (NULL entries: not assigned). */
void fl_obs_held(ls_metrics *m, const ls_config *cfg, ls_filter *const *parts,
                 size_t nparts, long max_age_s);

#endif
