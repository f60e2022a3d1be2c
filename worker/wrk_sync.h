/* wrk_sync: the HubSpot side of a flush: (update_only lookups), contact
 * upserts merged per email, engagements batch-created with their contact
 * association, crash-window searches, bisection of failing batches, and
 * the first-touch properties carried to the next upsert. */
#ifndef WRK_SYNC_H
#define WRK_SYNC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ls_event.h"
#include "wrk_event.h"

struct wrk;

/* First-touch properties of one contact an upsert created, waiting for
 * the tenant's next upsert (docs/worker.md "First-touch"). */
typedef struct wrk_ft {
  size_t tenant;
  char id[32];                  /* HubSpot contact id */
  char email[LS_EMAIL_MAX + 1]; /* its input's id */
  json_t *props;                /* owned */
  int64_t t;                    /* event time: the earliest names it */
} wrk_ft;

typedef struct wrk_carry {
  wrk_ft *v;
  size_t n, cap;
  int64_t since_us; /* mono time the oldest entry arrived */
} wrk_carry;

void wrk_carry_clear(wrk_carry *c);

/* Syncs the pending events of evs; every one ends SYNCED, DLQ, FILTERED
 * or DEFERRED. */
void wrk_sync(struct wrk *w, wrk_event **evs, size_t n);
/* First-touch properties of new contacts ride the next upsert; these send
 * them on their own when none came within the linger. */
/* Adds the wall time since since_us (mono) to the flush phase's counter
 * leadsync_worker_flush_seconds_total{phase}. */
void wrk_sync_phase(struct wrk *w, const char *phase, int64_t since_us);
bool wrk_sync_carry_due(const struct wrk *w, int64_t now_us);
void wrk_sync_carry(struct wrk *w);

#endif
