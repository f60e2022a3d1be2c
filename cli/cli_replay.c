/* cli_replay: the two-pass replay shared by dlq and quarantine
 * (cli_replay.h). */
#include "cli_replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"

typedef struct {
  const cli_replay_ops *ops;
  cli_ranges *ranges;
  int64_t *last; /* per range: offset of the last chosen record, or -1 */
  size_t chosen;
  rd_kafka_t *producer;
  char errstr[LS_ERRSTR_SIZE];
  bool failed;
} run_state;

static int on_plan(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  run_state *s = op;
  if (s->ops->chosen(m, s->ops->ud)) {
    s->chosen++;
    s->last[rg - s->ranges->v] = m->offset;
  }
  return 0;
}

static int on_emit(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  run_state *s = op;
  (void)rg;
  if (s->ops->emit(s->producer, m, s->ops->ud, s->errstr, sizeof s->errstr)) {
    s->failed = true;
    return 1;
  }
  rd_kafka_poll(s->producer, 0);
  return 0;
}

int cli_replay_run(cli_ctx *ctx, const ls_config *cfg, const char *group,
                   const char *topic, bool dry_run, const cli_replay_ops *ops) {
  char errstr[LS_ERRSTR_SIZE];
  const char *topics[] = {topic};
  cli_ranges ranges = {0};
  cli_delivery dr;
  rd_kafka_topic_partition_list_t *commit = NULL;
  run_state s;
  memset(&s, 0, sizeof s);
  s.ops = ops;
  int rc = CLI_EXIT_FAIL;
  rd_kafka_t *rk = cli_kafka_consumer(cfg, group, errstr, sizeof errstr);
  if (!rk)
    return cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
  if (cli_kafka_plan(rk, topics, 1, CLI_NO_TIME, CLI_NO_TIME, true, 10000,
                     &ranges, errstr, sizeof errstr) != LS_OK) {
    cli_fail(ctx, CLI_EXIT_FAIL, "%s (brokers %s)", errstr, cfg->bootstrap);
    goto out;
  }
  s.ranges = &ranges;
  s.last = calloc(ranges.n ? ranges.n : 1, sizeof *s.last);
  if (!s.last)
    goto out;
  for (size_t i = 0; i < ranges.n; i++)
    s.last[i] = -1;
  if (cli_kafka_read(rk, &ranges, on_plan, &s, 15000, 0, errstr,
                     sizeof errstr) != LS_OK) {
    cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
    goto out;
  }
  if (!dry_run && s.chosen) {
    s.producer = cli_kafka_producer(cfg, &dr, errstr, sizeof errstr);
    if (!s.producer) {
      rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
      goto out;
    }
    commit = rd_kafka_topic_partition_list_new((int)ranges.n);
    for (size_t i = 0; i < ranges.n; i++) {
      cli_range *r = &ranges.v[i];
      if (s.last[i] < 0) {
        r->end = r->start;
        continue;
      }
      r->end = s.last[i] + 1;
      rd_kafka_topic_partition_list_add(commit, r->topic, r->partition)
          ->offset = r->end;
    }
    if (cli_kafka_read(rk, &ranges, on_emit, &s, 15000, 0, errstr,
                       sizeof errstr) != LS_OK) {
      cli_fail(ctx, CLI_EXIT_FAIL, "%s; nothing committed", errstr);
      goto out;
    }
    if (s.failed) {
      cli_fail(ctx, CLI_EXIT_FAIL, "%s; nothing committed", s.errstr);
      goto out;
    }
    if (!cli_kafka_flush(s.producer, &dr, 30000, errstr, sizeof errstr)) {
      cli_fail(ctx, CLI_EXIT_FAIL,
               "%s; nothing committed, the next replay sends them again",
               errstr);
      goto out;
    }
    if (cli_kafka_commit(rk, commit, errstr, sizeof errstr) != LS_OK) {
      cli_fail(ctx, CLI_EXIT_FAIL,
               "%s: the records were re-published but the next replay will "
               "send them again (the worker's ledger de-duplicates)",
               errstr);
      goto out;
    }
  }
  rc = CLI_EXIT_OK;
out:
  if (commit)
    rd_kafka_topic_partition_list_destroy(commit);
  if (s.producer)
    rd_kafka_destroy(s.producer);
  free(s.last);
  cli_kafka_done(rk, &ranges);
  return rc;
}

int cli_replay_carry(rd_kafka_t *producer, const rd_kafka_message_t *m,
                     char *errstr, size_t errlen) {
  rd_kafka_headers_t *orig = NULL;
  rd_kafka_headers_t *hdrs =
      rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR
          ? rd_kafka_headers_copy(orig)
          : NULL;
  return cli_kafka_produce(producer, rd_kafka_topic_name(m->rkt), m->key,
                           m->key_len, m->payload, m->len, hdrs, errstr,
                           errlen) != LS_OK;
}

int cli_replay_list(cli_ctx *ctx, const ls_config *cfg, const char *group,
                    const char *topic, bool all, cli_record_fn on_record,
                    void *ud) {
  char errstr[LS_ERRSTR_SIZE];
  const char *topics[] = {topic};
  cli_ranges ranges = {0};
  int rc = CLI_EXIT_OK;
  rd_kafka_t *rk = cli_kafka_consumer(cfg, group, errstr, sizeof errstr);
  if (!rk)
    return cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
  if (cli_kafka_plan(rk, topics, 1, CLI_NO_TIME, CLI_NO_TIME, !all, 10000,
                     &ranges, errstr, sizeof errstr) != LS_OK ||
      cli_kafka_committed(rk, &ranges, 10000, errstr, sizeof errstr) != LS_OK)
    rc =
        cli_fail(ctx, CLI_EXIT_FAIL, "%s (brokers %s)", errstr, cfg->bootstrap);
  else if (cli_kafka_read(rk, &ranges, on_record, ud, 15000, 0, errstr,
                          sizeof errstr) != LS_OK)
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
  cli_kafka_done(rk, &ranges);
  return rc;
}

int cli_replay_args_parse(cli_ctx *ctx, const char *name, const char *usage,
                          bool with_endpoint, int argc, char **argv,
                          cli_replay_args *a) {
  static const char *const subs[] = {"list", "replay", NULL};
  const char *sub = NULL;
  memset(a, 0, sizeof *a);
  a->limit = 100;
  int rc = cli_args_sub(ctx, usage, subs, argc, argv, &sub);
  if (rc >= 0)
    return rc;
  a->list = !strcmp(sub, "list");
  snprintf(a->cmd, sizeof a->cmd, "%s %s", name, sub);
  ctx->cmd = a->cmd;
  const cli_arg args[] = {
      CLI_STRING_ARG("reason", &a->reasons),
      CLI_STRING_ARG("tenant", &a->tenant),
      CLI_FLAG_ARG("dry-run", &a->dry_run, "replay"),
      CLI_FLAG_ARG("all", &a->all, "list"),
      CLI_LONG_ARG("limit", &a->limit, 0, 1000000),
      /* Last: without it the table ends here. */
      CLI_STRING_ARG(with_endpoint ? "endpoint" : NULL, &a->endpoint),
      CLI_ARGS_END};
  return cli_args_parse(ctx, usage, args, sub, argc - 1, argv + 1);
}

/* Whether v is one of the comma-separated items of list. */
static bool in_list(const char *list, const char *v) {
  size_t n = strlen(v);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ",");
    if (k == n && !strncmp(p, v, n))
      return true;
    p += k;
    if (*p == ',')
      p++;
  }
  return false;
}

bool cli_replay_match(const cli_replay_args *a, const char *reason,
                      const char *tenant, const char *endpoint) {
  if (a->reasons && !in_list(a->reasons, reason))
    return false;
  if (a->tenant && strcmp(a->tenant, tenant))
    return false;
  if (a->endpoint && strcmp(a->endpoint, endpoint ? endpoint : ""))
    return false;
  return true;
}
