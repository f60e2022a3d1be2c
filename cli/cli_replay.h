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

/* What `dlq` and `quarantine` share on their command line:
 *   NAME list   [--reason R] [--tenant T] [--endpoint E] [--all] [--limit N]
 *   NAME replay [--reason R] [--tenant T] [--endpoint E] [--dry-run]
 * (--endpoint only where the caller allows it). */
typedef struct {
  bool list;           /* list, else replay */
  const char *reasons; /* comma-separated reasons, or NULL for any */
  const char *tenant;  /* NULL: any */
  const char *endpoint;
  bool all;     /* list: also the replayed records */
  bool dry_run; /* replay: count only */
  long limit;   /* list: records shown at most (default 100) */
  char cmd[32]; /* "dlq list": ctx->cmd points here */
} cli_replay_args;

/* Parses `leadsync NAME list|replay [options]` (argv[0] is NAME) into a and
 * sets ctx->cmd. Returns -1 to go on, else the exit code (usage printed or
 * the error reported). */
int cli_replay_args_parse(cli_ctx *ctx, const char *name, const char *usage,
                          bool with_endpoint, int argc, char **argv,
                          cli_replay_args *a);
/* Whether a record with these headers passes the --reason/--tenant/
 * --endpoint filter. */
bool cli_replay_match(const cli_replay_args *a, const char *reason,
                      const char *tenant, const char *endpoint);

/* In ops->emit: m produced again, unchanged (key, payload, headers), to the
 * end of its own topic, so the commit past it does not skip it. Non-zero
 * with errstr on failure. */
int cli_replay_carry(rd_kafka_t *producer, const rd_kafka_message_t *m,
                     char *errstr, size_t errlen);

/* `list`: reads the records of topic past group's committed offset (with
 * all, the whole topic) and hands each to on_record, which is told through
 * the range whether the group has passed it. CLI_EXIT_OK, or the exit code
 * of a failure already reported with cli_fail. */
int cli_replay_list(cli_ctx *ctx, const ls_config *cfg, const char *group,
                    const char *topic, bool all, cli_record_fn on_record,
                    void *ud);

/* Plans, and unless dry_run (or nothing was chosen) produces, flushes and
 * commits. CLI_EXIT_OK, or the exit code of a failure already reported
 * with cli_fail. */
int cli_replay_run(cli_ctx *ctx, const ls_config *cfg, const char *group,
                   const char *topic, bool dry_run, const cli_replay_ops *ops);

#endif
