/* cmd_audit: `leadsync audit`: "did every event the ingress acknowledged
 * reach a final outcome?" Reads the smartlead.* event topics (what the
 * ingress answered 200 for) and the places an outcome is written
 * (leadsync.sync_log, leadsync.dlq, the quarantine topic), and lists every
 * acknowledged event without one that is older than a grace period. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "cli_kafka.h"
#include "kq.h"
#include "ls_time.h"

static const char usage_text[] =
    "usage: leadsync audit [--since TIME] [--grace AGE] [--limit N]\n"
    "                      [--config FILE] [--json]\n"
    "\n"
    "Reconciles every event the ingress acknowledged since TIME (the\n"
    "records of the smartlead.* event topics) with a final outcome: a\n"
    "leadsync.sync_log record (synced, filtered, held, released, expired,\n"
    "dlq, duplicate), a leadsync.dlq record (full copy or stub) or a\n"
    "quarantine record. Lists the acknowledged events that have none and\n"
    "are older than the grace period (younger ones may still be on their\n"
    "way through a worker).\n"
    "\n"
    "  --since TIME   RFC 3339 time, or an age: 30m, 1h (default), 7d\n"
    "  --grace AGE    how long an event may take (default 5m)\n"
    "  --limit N      list at most N missing events (default 50, 0 = all)\n"
    "\n"
    "Exit 0 when nothing is missing, 1 when some acknowledged event has no\n"
    "final outcome (or Kafka cannot be read), 2 on bad flags.\n";

/* Outcomes that end an event's way (sync_log "outcome"). "held" counts:
 * the event waits in leadsync.held where operators see it, and its
 * release or expiry is logged again. */
static bool final_outcome(const char *o) {
  static const char *const fin[] = {
      "synced", "filtered", "held", "released", "expired", "dlq", "duplicate"};
  for (size_t i = 0; o && i < sizeof fin / sizeof fin[0]; i++)
    if (!strcmp(o, fin[i]))
      return true;
  return false;
}

typedef struct {
  json_t *acked;    /* event id -> {topic, partition, offset, at_us} */
  json_t *outcomes; /* event id -> where its outcome was found */
  char quarantine[LS_TOPIC_MAX];
  size_t n_records, n_events_topics;
} audit;

static int64_t record_time_us(const rd_kafka_message_t *m) {
  rd_kafka_timestamp_type_t tt;
  int64_t ms = rd_kafka_message_timestamp(m, &tt);
  return ms >= 0 ? ms * 1000 : 0;
}

static void outcome(audit *a, const char *id, const char *where) {
  if (id && *id && !json_object_get(a->outcomes, id))
    json_object_set_new(a->outcomes, id, json_string(where));
}

static int on_record(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  (void)rg;
  audit *a = op;
  const char *topic = rd_kafka_topic_name(m->rkt);
  char id[80];
  a->n_records++;
  if (!strcmp(topic, KQ_TOPIC_SYNC_LOG)) {
    json_t *o = json_loadb(m->payload, m->len, 0, NULL);
    const char *oc = json_string_value(json_object_get(o, "outcome"));
    if (final_outcome(oc))
      outcome(a, json_string_value(json_object_get(o, "event_id")), "sync_log");
    json_decref(o);
    return 0;
  }
  cli_header(m, "ce_id", id, sizeof id);
  if (!strcmp(topic, KQ_TOPIC_DLQ)) {
    outcome(a, id, "dlq");
    return 0;
  }
  if (!strcmp(topic, a->quarantine)) {
    outcome(a, id, "quarantine");
    return 0;
  }
  /* An event topic: acknowledged by the ingress (records the filter or a
   * replay re-published carry the same id). */
  if (!id[0] || json_object_get(a->acked, id))
    return 0;
  json_object_set_new(a->acked, id,
                      json_pack("{s:s,s:i,s:I,s:I}", "topic", topic,
                                "partition", (int)m->partition, "offset",
                                (json_int_t)m->offset, "at_us",
                                (json_int_t)record_time_us(m)));
  return 0;
}

int cmd_audit(cli_ctx *ctx, int argc, char **argv) {
  int64_t now = ls_now_us();
  int64_t since_us = now - 3600LL * 1000000, grace_us = 300LL * 1000000;
  long limit = 50;
  const char *grace = NULL;
  const cli_arg args[] = {
      CLI_TIME_ARG("since", &since_us), CLI_STRING_ARG("grace", &grace),
      CLI_LONG_ARG("limit", &limit, 0, 1000000), CLI_ARGS_END};
  int end = cli_args_parse(ctx, usage_text, args, NULL, argc, argv);
  if (end >= 0)
    return end;
  if (grace) {
    int64_t t;
    if (!cli_parse_time(grace, now, &t) || t > now)
      return cli_usage_error(ctx, "--grace: not an age: %s", grace);
    grace_us = now - t;
  }

  ls_config *cfg = NULL;
  rd_kafka_t *rk = NULL;
  cli_ranges ranges = {0};
  audit a = {json_object(), json_object(), "", 0, 0};
  char errstr[LS_ERRSTR_SIZE];
  char topic_names[LS_EV__COUNT][LS_TOPIC_MAX];
  const char *topics[LS_EV__COUNT + 3];
  size_t nt = 0;
  int rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    goto out;
  if (!a.acked || !a.outcomes) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "out of memory");
    goto out;
  }
  snprintf(a.quarantine, sizeof a.quarantine, "%squarantine",
           cfg->topic_prefix);
  for (int t = 0; t < LS_EV_UNKNOWN; t++) {
    snprintf(topic_names[t], sizeof topic_names[t], "%s%s", cfg->topic_prefix,
             ls_event_type_slug((ls_event_type)t));
    topics[nt++] = topic_names[t];
  }
  a.n_events_topics = nt;
  topics[nt++] = KQ_TOPIC_SYNC_LOG;
  topics[nt++] = KQ_TOPIC_DLQ;
  topics[nt++] = a.quarantine;
  rk = cli_kafka_consumer(cfg, NULL, errstr, sizeof errstr);
  if (!rk) {
    rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
    goto out;
  }
  /* Outcomes are written after the event: the same lower bound finds
   * them; reading to the end finds the latest. */
  if (cli_kafka_plan(rk, topics, nt, since_us / 1000, CLI_NO_TIME, false, 10000,
                     &ranges, errstr, sizeof errstr) != LS_OK ||
      cli_kafka_read(rk, &ranges, on_record, &a, 15000, 0, errstr,
                     sizeof errstr) != LS_OK) {
    rc =
        cli_fail(ctx, CLI_EXIT_FAIL, "%s (brokers %s)", errstr, cfg->bootstrap);
    goto out;
  }
  json_t *missing = json_array();
  size_t young = 0, done = 0;
  const char *id;
  json_t *v;
  json_object_foreach(a.acked, id, v) {
    if (json_object_get(a.outcomes, id)) {
      done++;
      continue;
    }
    int64_t at = json_integer_value(json_object_get(v, "at_us"));
    if (at > now - grace_us) {
      young++;
      continue;
    }
    json_t *e = json_deep_copy(v);
    json_object_set_new(e, "event_id", json_string(id));
    json_object_set_new(e, "age_s", json_integer((now - at) / 1000000));
    json_object_del(e, "at_us");
    json_array_append_new(missing, e);
  }
  size_t n_missing = json_array_size(missing);
  char since_s[40];
  ls_time_format_ms(since_us, since_s, sizeof since_s);
  if (ctx->json) {
    cli_print_json(json_pack("{s:s,s:I,s:i,s:i,s:i,s:i,s:o}", "since", since_s,
                             "grace_s", (json_int_t)(grace_us / 1000000),
                             "acknowledged", (int)json_object_size(a.acked),
                             "with_outcome", (int)done, "within_grace",
                             (int)young, "missing", (int)n_missing,
                             "missing_events", missing));
  } else {
    printf("audit since %s: %zu acknowledged events, %zu with a final "
           "outcome, %zu younger than the grace period (%llds), %zu "
           "missing\n",
           since_s, json_object_size(a.acked), done, young,
           (long long)(grace_us / 1000000), n_missing);
    size_t i;
    json_t *e;
    json_array_foreach(missing, i, e) {
      if (limit && i >= (size_t)limit) {
        printf("... and %zu more\n", n_missing - i);
        break;
      }
      printf("MISSING %s  %s [%d] offset %lld  %llds old\n",
             json_string_value(json_object_get(e, "event_id")),
             json_string_value(json_object_get(e, "topic")),
             (int)json_integer_value(json_object_get(e, "partition")),
             (long long)json_integer_value(json_object_get(e, "offset")),
             (long long)json_integer_value(json_object_get(e, "age_s")));
    }
    json_decref(missing);
  }
  rc = n_missing ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
  cli_kafka_done(rk, &ranges);
  json_decref(a.acked);
  json_decref(a.outcomes);
  ls_config_free(cfg);
  return rc;
}
