/* fl_snap: checkpoints of the filter's per-partition state on
 * leadsync.filter_state (docs/filter.md "Checkpoints"). A snapshot of
 * leadsync.held partition p is written to partition p of
 * leadsync.filter_state: binary chunks (fl_state_encode), then one end
 * record (JSON) naming the chunks and the held offset the state is at.
 * A restore loads the newest complete snapshot of its group and replays
 * leadsync.held only from that offset, so its cost is the partition's
 * current state plus the records since the snapshot, never the held
 * topic's retention. */
#ifndef FL_SNAP_H
#define FL_SNAP_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fl_readback.h"
#include "fl_state.h"
#include "ls_config.h"

/* What a partition knows of its newest snapshot (written or loaded). */
typedef struct {
  int64_t held_offset; /* the state is leadsync.held [.., held_offset) */
  int64_t end_offset;  /* its end record in leadsync.filter_state, or -1 */
  char id[24];         /* its id ("" none): chunk keys carry it */
  uint32_t chunks;
  int64_t written_us; /* wall clock when written */
  size_t bytes;       /* chunk bytes */
  size_t entries;     /* leads + held records in it */
  size_t records;     /* filter_state records read to find and load it */
} fl_snap_info;

/* Delivery reports of snapshot records: the producer's on_delivery hands
 * the reports whose opaque is this struct to fl_snap_on_delivery. */
typedef struct {
  int64_t first, last; /* lowest and highest acknowledged offsets */
  bool failed;
  char err[128];
} fl_snap_dr;

void fl_snap_on_delivery(fl_snap_dr *d, const rd_kafka_message_t *m);

/* Writes s, the state of leadsync.held partition p for records before
 * upto, as a snapshot of group, and waits until every record of it is
 * acknowledged (until deadline_us, mono, or *stop). prev (the partition's
 * newest snapshot, may be empty) is linked from the new one and its
 * chunks are deleted (tombstones) once the new one is complete; on
 * success *prev describes the new one. false, with errstr, when it could
 * not be written (the previous one stays the newest). */
bool fl_snap_write(rd_kafka_t *producer, fl_snap_dr *dr, const ls_config *cfg,
                   const char *group, int32_t p, const fl_state *s,
                   int64_t upto, fl_snap_info *prev, int64_t deadline_us,
                   volatile sig_atomic_t *stop, char *errstr, size_t errlen);

typedef enum { FL_SNAP_LOADED, FL_SNAP_NONE, FL_SNAP_ERROR } fl_snap_result;

/* Loads the newest complete snapshot of group for partition p into a new
 * state (*out) and describes it (*info). FL_SNAP_NONE (with the reason in
 * errstr) when there is none usable: the caller rebuilds from history;
 * FL_SNAP_ERROR when reading failed (try again later). */
fl_snap_result fl_snap_load(fl_reader *rd, const ls_config *cfg,
                            const char *group, int32_t p, fl_state **out,
                            fl_snap_info *info, char *errstr, size_t errlen);

#endif
