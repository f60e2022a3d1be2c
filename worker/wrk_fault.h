/* wrk_fault: test-only fault injection at the worker's seams (allocation,
 * output produce, seek, filter rebuild). Inactive unless the environment
 * variable LEADSYNC_TEST_FAULTS is set, e.g. "alloc_intake:2,seek:1": the
 * next N calls at each named seam fail. Used by tests/worker/
 * test_worker_lossless.py; never set it in production. */
#ifndef WRK_FAULT_H
#define WRK_FAULT_H

#include <stdbool.h>

/* true when the seam's next call must fail (and counts it down). */
bool wrk_fault(const char *seam);

#endif
