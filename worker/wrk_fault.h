/* wrk_fault: test-only fault injection at the worker's seams: allocation
 * (alloc_intake, alloc_stash, alloc_output), outputs refused by topic
 * (produce_held, produce_ledger, produce_sync_log, produce_dlq), seek,
 * a restore held back N times 100 ms (restore_stall), and the filter
 * role (rebuild, filter_produce, filter_restore_stall: a partition's
 * restore held back N times 100 ms, filter_snapshot_end: a snapshot
 * written without its end record). Inactive unless the
 * environment variable LEADSYNC_TEST_FAULTS is set, e.g.
 * "alloc_intake:2,seek:1": the next N calls at each named seam fail. Used by
 * tests/worker/ test_worker_lossless.py; never set it in production.
 * A seam may name one subject: "filter_publish@EVENT_ID:1000" fails only
 * that event's re-publications (wrk_fault_for); alloc_job@KIND (read,
 * upsert, create, search, first_touch) fails a flush's HubSpot job of that
 * kind. */
#ifndef WRK_FAULT_H
#define WRK_FAULT_H

#include <stdbool.h>

/* true when the seam's next call must fail (and counts it down). */
bool wrk_fault(const char *seam);
/* The same for the seam "seam@subject" (one record's calls only). */
bool wrk_fault_for(const char *seam, const char *subject);
/* Reads LEADSYNC_TEST_FAULTS again at the next call (unit tests that set
 * it between cases). */
void wrk_fault_reset(void);

#endif
