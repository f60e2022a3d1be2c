/* cli_replay: the two-pass replay `dlq replay` and `quarantine replay` run
 * over one topic, with a consumer group's committed offset as progress.
 *
 * Pass 1 reads every waiting record and asks ops->chosen which are to be
 * replayed. Pass 2 re-reads each partition up to its last chosen record and
 * hands every record to ops->emit, which re-publishes the chosen ones and
 * carries the others forward to the end of the topic (so the commit never
 * skips a record that still waits). After the copies are acknowledged the
 * group commits just past each partition's last chosen record. A crash in
 * between leaves duplicates, never gaps. */
#ifndef CLI_REPLAY_H
#define CLI_REPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "cli_kafka.h"

typedef struct {
  bool (*chosen)(const rd_kafka_message_t *m, void *ud);
  /* Produces m (replayed or carried forward); non-zero stops, with errstr. */
  int (*emit)(rd_kafka_t *producer, const rd_kafka_message_t *m, void *ud,
              char *errstr, size_t errlen);
  void *ud;
} cli_replay_ops;

/* Plans, and unless dry_run (or nothing was chosen) produces, flushes and
 * commits. CLI_EXIT_OK, or the exit code of a failure already reported
 * with cli_fail. */
int cli_replay_run(cli_ctx *ctx, const ls_config *cfg, const char *group,
                   const char *topic, bool dry_run, const cli_replay_ops *ops);

#endif
