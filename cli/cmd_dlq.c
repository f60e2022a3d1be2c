/* cmd_dlq: `leadsync dlq list|replay`: what waits in leadsync.dlq, and
 * re-publishing it to the original topics once the cause is fixed.
 *
 * Progress is the committed offset of the consumer group
 * leadsync-dlq-replay: records before it were replayed (or carried
 * forward), records from it on are pending. A filtered replay must not let
 * that commit skip records that did not match the filter: within each
 * partition the commit advances to just past the last replayed record, and
 * the non-matching records before it are first copied, unchanged, to the
 * end of the DLQ ("carried forward"), so they stay pending. Records after
 * the last match are not touched. The copies are acknowledged before the
 * commit; a crash in between leaves a duplicate in the DLQ, never a gap
 * (the worker's ledger absorbs a replayed duplicate). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_cmds.h"
#include "cli_kafka.h"
#include "cli_replay.h"
#include "kq.h"
#include "ls_time.h"

#define DLQ_GROUP "leadsync-dlq-replay"
/* --endpoint: the fan-out's DLQ, replayed to leadsync.fanout_replay with
 * ls_endpoint=ID so only that endpoint delivers it again (docs/fanout.md). */
#define FANOUT_DLQ_GROUP "leadsync-fanout-dlq-replay"

static const char usage_text[] =
    "usage: leadsync dlq list   [--reason R] [--tenant T] [--all] [--limit N]\n"
    "       leadsync dlq replay [--reason R] [--tenant T] [--dry-run]\n"
    "       (both: [--endpoint ID] [--config FILE] [--json])\n"
    "\n"
    "list    shows the DLQ records still waiting for a replay (--all: also\n"
    "        the replayed ones) with reason, HubSpot status and message.\n"
    "        Exit 1 when some are waiting, 0 when none.\n"
    "replay  re-publishes the waiting records that match the filter to their\n"
    "        original topics (headers kept, ls_attempt incremented,\n"
    "        ls_replay=dlq), then commits the consumer group\n"
    "        leadsync-dlq-replay so nothing is replayed twice. Waiting\n"
    "        records that do not match are carried forward to the end of the\n"
    "        DLQ, so the commit never skips them. --dry-run only counts.\n"
    "        Exit 0 when done, 1 when Kafka refused a record or the commit.\n"
    "\n"
    "  --reason R   validation|auth|not_found|mapping|retries_exhausted|\n"
    "               permanent (comma-separated for several)\n"
    "  --tenant T   one tenant's records\n"
    "  --endpoint ID  the fan-out endpoint's DLQ (leadsync.fanout_dlq)\n"
    "               instead; replay re-delivers to that endpoint only\n";

/* The filter: --reason, --tenant, --endpoint (a fan-out endpoint id). */
typedef cli_replay_args dlq_filter;

static const char *dlq_topic(const dlq_filter *f) {
  return f->endpoint ? KQ_TOPIC_FANOUT_DLQ : KQ_TOPIC_DLQ;
}

static const char *dlq_group(const dlq_filter *f) {
  return f->endpoint ? FANOUT_DLQ_GROUP : DLQ_GROUP;
}

typedef struct {
  char reason[64];
  char tenant[LS_TENANT_MAX + 1];
  char target[LS_TOPIC_MAX]; /* original topic, "" when unknown */
  char endpoint[64];         /* fan-out records: the endpoint id */
} dlq_meta;

static void meta_of(const rd_kafka_message_t *m, const char *prefix,
                    dlq_meta *d) {
  char campaign[64], email[LS_EMAIL_MAX + 1], ce[LS_TOPIC_MAX];
  cli_header(m, "ls_dlq_reason", d->reason, sizeof d->reason);
  cli_key_parts(m, d->tenant, sizeof d->tenant, campaign, sizeof campaign,
                email, sizeof email);
  char t[LS_TENANT_MAX + 1];
  if (cli_header(m, "ce_tenant", t, sizeof t)[0])
    snprintf(d->tenant, sizeof d->tenant, "%s", t);
  cli_header(m, "ls_dlq_original_topic", d->target, sizeof d->target);
  if (!d->target[0] && cli_header(m, "ce_type", ce, sizeof ce)[0] &&
      !strncmp(ce, "ai.smartlead.", 13))
    snprintf(d->target, sizeof d->target, "%s%s", prefix, ce + 13);
  cli_header(m, "ls_dlq_endpoint", d->endpoint, sizeof d->endpoint);
  if (d->endpoint[0])
    snprintf(d->target, sizeof d->target, "%s", KQ_TOPIC_FANOUT_REPLAY);
  /* A stub carries no body to replay (docs/kafka-contract.md). */
  if (cli_header(m, "ls_dlq_stub", ce, sizeof ce)[0])
    d->target[0] = '\0';
}

static bool dlq_match(const dlq_filter *f, const dlq_meta *d) {
  return cli_replay_match(f, d->reason, d->tenant, d->endpoint);
}

/* Reason counts for the summary. */
typedef struct {
  char name[LS_TOPIC_MAX]; /* a reason or a target topic */
  int n;
} count;

static void bump(count *c, size_t *n, size_t cap, const char *name) {
  for (size_t i = 0; i < *n; i++)
    if (!strcmp(c[i].name, name)) {
      c[i].n++;
      return;
    }
  if (*n < cap) {
    snprintf(c[*n].name, sizeof c[*n].name, "%s", name[0] ? name : "-");
    c[(*n)++].n = 1;
  }
}

static json_t *counts_json(const count *c, size_t n) {
  json_t *o = json_object();
  for (size_t i = 0; i < n; i++)
    json_object_set_new(o, c[i].name, json_integer(c[i].n));
  return o;
}

static void print_counts(const char *what, const count *c, size_t n) {
  printf("%s", what);
  for (size_t i = 0; i < n; i++)
    printf("%s%s %d", i ? ", " : " ", c[i].name, c[i].n);
  printf("\n");
}

/* ---- list ---------------------------------------------------------- */

typedef struct {
  const dlq_filter *f;
  const char *prefix;
  bool all, json;
  long limit;
  long shown, pending, replayed;
  json_t *arr;
  count reasons[32];
  size_t n_reasons;
} list_state;

static int on_list(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  list_state *s = op;
  dlq_meta d;
  meta_of(m, s->prefix, &d);
  if (!dlq_match(s->f, &d))
    return 0;
  bool pending = rg->committed < 0 || m->offset >= rg->committed;
  pending ? s->pending++ : s->replayed++;
  if (!pending && !s->all)
    return 0;
  if (pending)
    bump(s->reasons, &s->n_reasons, 32, d.reason);
  if (s->limit && s->shown >= s->limit)
    return 0;
  s->shown++;
  char id[64], status[16], cat[64], msg[512], attempts[16], first[40];
  char campaign[64], email[LS_EMAIL_MAX + 1], tenant[LS_TENANT_MAX + 1];
  cli_header(m, "ce_id", id, sizeof id);
  cli_header(m, "ls_dlq_http_status", status, sizeof status);
  cli_header(m, "ls_dlq_hubspot_category", cat, sizeof cat);
  cli_header(m, "ls_dlq_hubspot_message", msg, sizeof msg);
  cli_header(m, "ls_dlq_attempts", attempts, sizeof attempts);
  cli_header(m, "ls_dlq_first_failure", first, sizeof first);
  cli_key_parts(m, tenant, sizeof tenant, campaign, sizeof campaign, email,
                sizeof email);
  if (s->json) {
    json_array_append_new(
        s->arr,
        json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:s,"
                  "s:i,s:I}",
                  "state", pending ? "pending" : "replayed", "reason", d.reason,
                  "tenant", d.tenant, "event_id", id[0] ? id : NULL,
                  "lead_email", email[0] ? email : NULL, "original_topic",
                  d.target[0] ? d.target : NULL, "http_status",
                  status[0] ? status : NULL, "category", cat[0] ? cat : NULL,
                  "message", msg[0] ? msg : NULL, "attempts",
                  attempts[0] ? attempts : NULL, "first_failure",
                  first[0] ? first : NULL, "topic", rd_kafka_topic_name(m->rkt),
                  "partition", (int)m->partition, "offset",
                  (json_int_t)m->offset));
  } else {
    printf("%-8s %-17s %s %s %s HubSpot %s %s \"%s\" (attempts %s, first "
           "failure %s, event %s, dlq [%d] @%lld)\n",
           pending ? "pending" : "replayed", d.reason[0] ? d.reason : "-",
           d.tenant, email[0] ? email : "(no lead)",
           d.target[0] ? d.target : "?", status[0] ? status : "-",
           cat[0] ? cat : "-", msg, attempts[0] ? attempts : "?",
           first[0] ? first : "?", id[0] ? id : "-", (int)m->partition,
           (long long)m->offset);
  }
  return 0;
}

/* ---- replay -------------------------------------------------------- */

typedef struct {
  const dlq_filter *f;
  const char *prefix;
  int matched, replayed, carried, unroutable;
  count topics[32], reasons[32];
  size_t n_topics, n_reasons;
} replay_state;

static bool replayable(const replay_state *s, const rd_kafka_message_t *m,
                       dlq_meta *d) {
  meta_of(m, s->prefix, d);
  return dlq_match(s->f, d) && d->target[0];
}

/* Pass 1 of the replay (cli_replay.h): the matching, routable records. */
static bool chosen(const rd_kafka_message_t *m, void *ud) {
  replay_state *s = ud;
  dlq_meta d;
  meta_of(m, s->prefix, &d);
  if (!dlq_match(s->f, &d))
    return false;
  if (!d.target[0]) {
    s->unroutable++;
    return false;
  }
  s->matched++;
  bump(s->topics, &s->n_topics, 32, d.target);
  bump(s->reasons, &s->n_reasons, 32, d.reason);
  return true;
}

/* Pass 2: replay a chosen record, carry any other forward. */
static int emit(rd_kafka_t *producer, const rd_kafka_message_t *m, void *ud,
                char *errstr, size_t errlen) {
  replay_state *s = ud;
  dlq_meta d;
  if (!replayable(s, m, &d)) {
    s->carried++;
    return cli_replay_carry(producer, m, errstr, errlen);
  }
  rd_kafka_headers_t *hdrs = cli_replay_headers(m, "dlq", true);
  if (d.endpoint[0]) {
    rd_kafka_header_remove(hdrs, "ls_endpoint");
    rd_kafka_header_add(hdrs, "ls_endpoint", -1, d.endpoint, -1);
  }
  s->replayed++;
  return cli_kafka_produce(producer, d.target, m->key, m->key_len, m->payload,
                           m->len, hdrs, errstr, errlen) != LS_OK;
}

static int run_replay(cli_ctx *ctx, const ls_config *cfg, const dlq_filter *f,
                      bool dry_run) {
  replay_state s;
  memset(&s, 0, sizeof s);
  s.f = f;
  s.prefix = cfg->topic_prefix;
  cli_replay_ops ops = {chosen, emit, &s};
  int rc = cli_replay_run(ctx, cfg, dlq_group(f), dlq_topic(f), dry_run, &ops);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (ctx->json) {
    cli_print_json(json_pack("{s:b,s:i,s:i,s:i,s:i,s:o,s:o}", "dry_run",
                             dry_run, "matched", s.matched, "replayed",
                             s.replayed, "carried_forward", s.carried,
                             "unroutable", s.unroutable, "by_topic",
                             counts_json(s.topics, s.n_topics), "by_reason",
                             counts_json(s.reasons, s.n_reasons)));
  } else {
    if (dry_run)
      printf("dry run: %d record(s) would be replayed\n", s.matched);
    else
      printf("replayed %d record(s); %d non-matching record(s) carried "
             "forward in the DLQ\n",
             s.replayed, s.carried);
    if (s.n_topics)
      print_counts("  by topic:", s.topics, s.n_topics);
    if (s.n_reasons)
      print_counts("  by reason:", s.reasons, s.n_reasons);
    if (s.unroutable)
      printf("  %d matching record(s) name no original topic and stay in "
             "the DLQ\n",
             s.unroutable);
  }
  return CLI_EXIT_OK;
}

static int run_list(cli_ctx *ctx, const ls_config *cfg, const dlq_filter *f,
                    bool all, long limit) {
  list_state s;
  memset(&s, 0, sizeof s);
  s.f = f;
  s.prefix = cfg->topic_prefix;
  s.all = all;
  s.json = ctx->json;
  s.limit = limit;
  s.arr = json_array();
  int rc =
      cli_replay_list(ctx, cfg, dlq_group(f), dlq_topic(f), all, on_list, &s);
  if (rc != CLI_EXIT_OK) {
    json_decref(s.arr);
    return rc;
  }
  if (ctx->json) {
    cli_print_json(json_pack("{s:i,s:i,s:o,s:o}", "pending", (int)s.pending,
                             "replayed", (int)s.replayed, "pending_by_reason",
                             counts_json(s.reasons, s.n_reasons), "records",
                             s.arr));
  } else {
    json_decref(s.arr);
    if (s.limit && s.shown >= s.limit &&
        s.pending + (all ? s.replayed : 0) > s.shown)
      printf("... (--limit %ld reached)\n", s.limit);
    printf("%ld record(s) waiting for replay", s.pending);
    if (all)
      printf(", %ld already replayed", s.replayed);
    printf("\n");
    if (s.n_reasons)
      print_counts("  by reason:", s.reasons, s.n_reasons);
  }
  return s.pending ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_dlq(cli_ctx *ctx, int argc, char **argv) {
  dlq_filter f;
  int rc = cli_replay_args_parse(ctx, "dlq", usage_text, true, argc, argv, &f);
  if (rc >= 0)
    return rc;
  ls_config *cfg = NULL;
  rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  rc = f.list ? run_list(ctx, cfg, &f, f.all, f.limit)
              : run_replay(ctx, cfg, &f, f.dry_run);
  ls_config_free(cfg);
  return rc;
}
