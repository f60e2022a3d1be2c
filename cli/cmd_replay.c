/* cmd_replay: `leadsync replay`: re-publishes a time window of an event
 * topic to the same topic (for instance after a property-mapping fix), so
 * the workers sync those events again. Safe because the worker treats
 * re-deliveries idempotently (ledger, upsert by email). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "cli_kafka.h"
#include "ls_time.h"

static const char usage_text[] =
    "usage: leadsync replay --topic T[,T...] --from TIME [--to TIME]\n"
    "                       [--tenant T] [--dry-run] [--config FILE] [--json]\n"
    "\n"
    "Re-publishes the records of a time window (Kafka record time) of event\n"
    "topics to the same topics, with headers kept plus ls_replay=window.\n"
    "Same key, so each lead stays on its partition and in order. The\n"
    "workers' ledger makes the re-delivery idempotent.\n"
    "\n"
    "  --topic T    smartlead.email_reply or EMAIL_REPLY (several: commas;\n"
    "               \"all\" for every event topic)\n"
    "  --from TIME  RFC 3339 time or an age (2h, 1d); --to likewise\n"
    "               (default: now, records already there when it starts)\n"
    "  --tenant T   only that tenant's records\n"
    "  --dry-run    count, publish nothing\n"
    "\n"
    "Windows are found with offsets_for_times; a cluster that cannot answer\n"
    "(the dev broker) is scanned and filtered by record time instead.\n"
    "Exit 0 when done, 1 when Kafka refused a record.\n";

#define MAX_TOPICS (LS_EV__COUNT + 1)

typedef struct {
  const char *tenant;
  rd_kafka_t *producer;
  bool dry_run, failed;
  int matched;
  int per_topic[MAX_TOPICS];
  char **topics;
  size_t n_topics;
  char errstr[LS_ERRSTR_SIZE];
} replay_state;

/* "EMAIL_REPLY" or "smartlead.email_reply" -> the topic, if it is one of
 * the event topics (the only ones a window replay may write to). */
static bool resolve_topic(const char *prefix, const char *arg, char *out,
                          size_t len) {
  for (int t = 0; t < LS_EV__COUNT; t++) {
    const char *slug = ls_event_type_slug((ls_event_type)t);
    snprintf(out, len, "%s%s", prefix, slug);
    if (!strcmp(arg, out) || !strcasecmp(arg, slug) ||
        !strcmp(arg, ls_event_type_name((ls_event_type)t)))
      return true;
  }
  return false;
}

static int on_record(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  replay_state *s = op;
  if (s->tenant) {
    char t[LS_TENANT_MAX + 1], c[64], e[LS_EMAIL_MAX + 1];
    cli_key_parts(m, t, sizeof t, c, sizeof c, e, sizeof e);
    char h[LS_TENANT_MAX + 1];
    if (cli_header(m, "ce_tenant", h, sizeof h)[0])
      snprintf(t, sizeof t, "%s", h);
    if (strcmp(t, s->tenant))
      return 0;
  }
  s->matched++;
  for (size_t i = 0; i < s->n_topics; i++)
    if (!strcmp(s->topics[i], rg->topic))
      s->per_topic[i]++;
  if (s->dry_run)
    return 0;
  if (cli_kafka_produce(s->producer, rg->topic, m->key, m->key_len, m->payload,
                        m->len, cli_replay_headers(m, "window", false),
                        s->errstr, sizeof s->errstr) != LS_OK) {
    s->failed = true;
    return 1;
  }
  rd_kafka_poll(s->producer, 0);
  return 0;
}

int cmd_replay(cli_ctx *ctx, int argc, char **argv) {
  const char *topic_arg = NULL;
  int64_t from_us = CLI_NO_TIME, to_us = CLI_NO_TIME, now = ls_now_us();
  replay_state s;
  memset(&s, 0, sizeof s);
  const cli_arg args[] = {CLI_STRING_ARG("topic", &topic_arg),
                          CLI_TIME_ARG("from", &from_us),
                          CLI_TIME_ARG("to", &to_us),
                          CLI_STRING_ARG("tenant", &s.tenant),
                          CLI_FLAG_ARG("dry-run", &s.dry_run, NULL),
                          CLI_ARGS_END};
  int end = cli_args_parse(ctx, usage_text, args, NULL, argc, argv);
  if (end >= 0)
    return end;
  if (!topic_arg || from_us == CLI_NO_TIME)
    return cli_usage_error(ctx, "--topic and --from are required");
  if (to_us != CLI_NO_TIME && to_us < from_us)
    return cli_usage_error(ctx, "--to is before --from");

  ls_config *cfg = NULL;
  rd_kafka_t *rk = NULL;
  cli_ranges ranges = {0};
  cli_delivery dr;
  char errstr[LS_ERRSTR_SIZE];
  char names[MAX_TOPICS][LS_TOPIC_MAX];
  char *topic_ptrs[MAX_TOPICS];
  int rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  /* Parse the topic list now that the prefix is known. */
  char list[1024];
  snprintf(list, sizeof list, "%s", topic_arg);
  char *save = NULL;
  for (char *t = strtok_r(list, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    if (!strcmp(t, "all")) {
      for (int e = 0; e < LS_EV__COUNT && s.n_topics < MAX_TOPICS; e++) {
        snprintf(names[s.n_topics], LS_TOPIC_MAX, "%s%s", cfg->topic_prefix,
                 ls_event_type_slug((ls_event_type)e));
        s.n_topics++;
      }
      continue;
    }
    if (s.n_topics >= MAX_TOPICS ||
        !resolve_topic(cfg->topic_prefix, t, names[s.n_topics], LS_TOPIC_MAX)) {
      rc = cli_usage_error(ctx,
                           "--topic %s: not an event topic (replay writes "
                           "only to %s<event_type> topics)",
                           t, cfg->topic_prefix);
      goto out;
    }
    bool dup = false;
    for (size_t i = 0; i < s.n_topics; i++)
      dup = dup || !strcmp(names[i], names[s.n_topics]);
    if (!dup)
      s.n_topics++;
  }
  for (size_t i = 0; i < s.n_topics; i++)
    topic_ptrs[i] = names[i];
  s.topics = topic_ptrs;

  rk = cli_kafka_consumer(cfg, NULL, errstr, sizeof errstr);
  if (!rk) {
    rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
    goto out;
  }
  if (cli_kafka_plan(rk, (const char *const *)topic_ptrs, s.n_topics,
                     from_us / 1000,
                     to_us == CLI_NO_TIME ? CLI_NO_TIME : to_us / 1000, false,
                     10000, &ranges, errstr, sizeof errstr) != LS_OK) {
    rc =
        cli_fail(ctx, CLI_EXIT_FAIL, "%s (brokers %s)", errstr, cfg->bootstrap);
    goto out;
  }
  if (!s.dry_run) {
    s.producer = cli_kafka_producer(cfg, &dr, errstr, sizeof errstr);
    if (!s.producer) {
      rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
      goto out;
    }
  }
  if (cli_kafka_read(rk, &ranges, on_record, &s, 15000, 0, errstr,
                     sizeof errstr) != LS_OK) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
    goto out;
  }
  if (s.failed) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "%s", s.errstr);
    goto out;
  }
  if (s.producer &&
      !cli_kafka_flush(s.producer, &dr, 30000, errstr, sizeof errstr)) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
    goto out;
  }
  char from_s[40], to_s[40];
  ls_time_format_ms(from_us, from_s, sizeof from_s);
  ls_time_format_ms(to_us == CLI_NO_TIME ? now : to_us, to_s, sizeof to_s);
  if (ctx->json) {
    json_t *per = json_object();
    for (size_t i = 0; i < s.n_topics; i++)
      json_object_set_new(per, s.topics[i], json_integer(s.per_topic[i]));
    cli_print_json(json_pack(
        "{s:b,s:s,s:s,s:i,s:o,s:b}", "dry_run", s.dry_run, "from", from_s, "to",
        to_s, s.dry_run ? "would_replay" : "replayed", s.matched, "by_topic",
        per, "timestamp_lookup", ranges.times_supported));
  } else {
    printf("%s %d record(s) from %s to %s%s%s\n",
           s.dry_run ? "would replay" : "replayed", s.matched, from_s, to_s,
           s.tenant ? " for tenant " : "", s.tenant ? s.tenant : "");
    for (size_t i = 0; i < s.n_topics; i++)
      if (s.per_topic[i])
        printf("  %s: %d\n", s.topics[i], s.per_topic[i]);
    if (!ranges.times_supported)
      printf("  (the cluster has no timestamp index: scanned the topics and "
             "filtered by record time)\n");
  }
  rc = CLI_EXIT_OK;
out:
  if (s.producer)
    rd_kafka_destroy(s.producer);
  cli_kafka_done(rk, &ranges);
  ls_config_free(cfg);
  return rc;
}
