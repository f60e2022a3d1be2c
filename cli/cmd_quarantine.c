/* cmd_quarantine: `leadsync quarantine list|replay`: bodies the ingress
 * could not route (bad JSON, no event type, no usable lead address), and
 * re-publishing them to their event topics once a fix (a new schema, the
 * drift rules, the second payload shape) lets them through.
 *
 * Like `dlq` (cmd_dlq.c): progress is the committed offset of the consumer
 * group leadsync-quarantine-replay; replay re-validates each waiting record
 * with the ingress's own routing (ing_route) and today's schemas, sends the
 * ones that pass to their topic (ce_id/ce_type/key as the ingress would
 * derive them now, ls_replay=quarantine), and carries the others forward
 * to the end of the quarantine (so the commit never skips them). The
 * copies are acknowledged before the commit; a crash in between leaves a
 * duplicate, never a gap (the worker's ledger absorbs it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_cmds.h"
#include "cli_kafka.h"
#include "cli_replay.h"
#include "cli_quarantine.h"
#include "ing_route.h"
#include "kq.h"
#include "ls_schema.h"

#define Q_GROUP "leadsync-quarantine-replay"

static const char usage_text[] =
    "usage: leadsync quarantine list   [--reason R] [--tenant T] [--all] "
    "[--limit N]\n"
    "       leadsync quarantine replay [--reason R] [--tenant T] [--dry-run]\n"
    "       (both: [--config FILE] [--json])\n"
    "\n"
    "list    shows the quarantined bodies still waiting (--all: also the\n"
    "        replayed ones) with reason, detail and whether today's rules\n"
    "        would let them through. Exit 1 when some are waiting, 0 when "
    "none.\n"
    "replay  re-validates the waiting records that match the filter with\n"
    "        today's schemas and routing and re-publishes those that pass to\n"
    "        their event topic (ls_replay=quarantine), then commits the\n"
    "        consumer group leadsync-quarantine-replay. Records that still\n"
    "        fail (or do not match) are carried forward to the end of the\n"
    "        quarantine, so the commit never skips them. --dry-run only\n"
    "        counts. Exit 0 when done, 1 when Kafka refused a record.\n"
    "\n"
    "  --reason R   "
    "bad_json|bad_utf8|too_deep|not_object|no_event_type|schema\n"
    "               (comma-separated for several)\n"
    "  --tenant T   one tenant's records\n";

/* The filter: --reason, --tenant. */
typedef cli_replay_args q_filter;

typedef struct {
  char reason[64];
  char detail[300];
  char tenant[LS_TENANT_MAX + 1];
  char source[64];
} q_meta;

static void meta_of(const rd_kafka_message_t *m, q_meta *d) {
  char ce[160];
  cli_header(m, "ls_quarantine_reason", d->reason, sizeof d->reason);
  cli_header(m, "ls_quarantine_detail", d->detail, sizeof d->detail);
  cli_header(m, "ce_tenant", d->tenant, sizeof d->tenant);
  d->source[0] = '\0';
  /* ce_source: /smartlead/<tenant>/<source> */
  if (cli_header(m, "ce_source", ce, sizeof ce)[0]) {
    const char *last = strrchr(ce, '/');
    if (last)
      snprintf(d->source, sizeof d->source, "%s", last + 1);
  }
}

static bool q_match(const q_filter *f, const q_meta *d) {
  return cli_replay_match(f, d->reason, d->tenant, NULL);
}

/* The record's source as the ingress had it; its secret check is off (the
 * stored body has secret_key masked, and it was checked on arrival). */
static bool source_of(const ls_config *cfg, const q_meta *d, ls_source *out) {
  const ls_tenant *t = ls_config_tenant(cfg, d->tenant);
  if (!t || !t->n_sources)
    return false;
  const ls_source *s = &t->sources[0];
  for (size_t i = 0; i < t->n_sources; i++)
    if (!strcmp(t->sources[i].id, d->source))
      s = &t->sources[i];
  *out = *s;
  out->has_secret = false;
  return true;
}

/* Today's verdict on one record. */
static bool revalidate(const ing_schemas *sch, const ls_config *cfg,
                       const rd_kafka_message_t *m, const q_meta *d,
                       ing_verdict *v) {
  ls_source src;
  if (!source_of(cfg, d, &src)) {
    memset(v, 0, sizeof *v);
    v->err = LS_ERR_INVALID;
    snprintf(v->detail, sizeof v->detail, "unknown tenant");
    return false;
  }
  ing_route(sch, &src, cfg->topic_prefix, 64, m->payload ? m->payload : "",
            m->len, v);
  return v->err == LS_OK;
}

/* ---- list ---------------------------------------------------------- */

typedef struct {
  const q_filter *f;
  const ls_config *cfg;
  const ing_schemas *sch;
  bool all, json;
  long limit, shown, pending, replayed, would_pass;
  json_t *arr;
} list_state;

static int on_list(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  list_state *s = op;
  q_meta d;
  meta_of(m, &d);
  if (!q_match(s->f, &d))
    return 0;
  bool pending = rg->committed < 0 || m->offset >= rg->committed;
  pending ? s->pending++ : s->replayed++;
  if (!pending && !s->all)
    return 0;
  ing_verdict v;
  bool pass = revalidate(s->sch, s->cfg, m, &d, &v);
  if (pending && pass)
    s->would_pass++;
  if (s->limit && s->shown >= s->limit)
    return 0;
  s->shown++;
  char id[64];
  cli_header(m, "ce_id", id, sizeof id);
  if (s->json) {
    json_array_append_new(
        s->arr, json_pack("{s:s,s:s,s:s,s:s,s:s?,s:b,s:s?,s:s,s:i,s:I}",
                          "state", pending ? "pending" : "replayed", "reason",
                          d.reason, "detail", d.detail, "tenant", d.tenant,
                          "event_id", id[0] ? id : NULL, "would_pass", pass,
                          "now_topic", pass ? v.ev.topic : NULL, "topic",
                          rd_kafka_topic_name(m->rkt), "partition",
                          (int)m->partition, "offset", (json_int_t)m->offset));
  } else {
    printf("%-8s %-13s %s %s \"%s\" -> %s (quarantine [%d] @%lld)\n",
           pending ? "pending" : "replayed", d.reason[0] ? d.reason : "-",
           d.tenant[0] ? d.tenant : "-", id[0] ? id : "-", d.detail,
           pass ? v.ev.topic : "still fails", (int)m->partition,
           (long long)m->offset);
  }
  return 0;
}

/* ---- replay -------------------------------------------------------- */

typedef struct {
  const q_filter *f;
  const ls_config *cfg;
  const ing_schemas *sch;
  int matched, replayed, carried, still_failing;
} replay_state;

static bool replayable(replay_state *s, const rd_kafka_message_t *m,
                       ing_verdict *v) {
  q_meta d;
  meta_of(m, &d);
  return q_match(s->f, &d) && revalidate(s->sch, s->cfg, m, &d, v);
}

static bool chosen(const rd_kafka_message_t *m, void *ud) {
  replay_state *s = ud;
  q_meta d;
  meta_of(m, &d);
  if (!q_match(s->f, &d))
    return false;
  ing_verdict v;
  if (!revalidate(s->sch, s->cfg, m, &d, &v)) {
    s->still_failing++;
    return false;
  }
  s->matched++;
  return true;
}

static rd_kafka_headers_t *requeue_headers(const rd_kafka_message_t *m,
                                           const ing_verdict *v) {
  rd_kafka_headers_t *hdrs = cli_replay_headers(m, "quarantine", true);
  rd_kafka_header_remove(hdrs, "ls_quarantine_reason");
  rd_kafka_header_remove(hdrs, "ls_quarantine_detail");
  rd_kafka_header_remove(hdrs, "ce_id");
  rd_kafka_header_remove(hdrs, "ce_type");
  rd_kafka_header_remove(hdrs, "ce_time");
  rd_kafka_header_add(hdrs, "ce_id", -1, v->ev.event_id, -1);
  rd_kafka_header_add(hdrs, "ce_type", -1, v->ev.ce_type, -1);
  if (v->ev.event_time[0])
    rd_kafka_header_add(hdrs, "ce_time", -1, v->ev.event_time, -1);
  return hdrs;
}

bool cli_quarantine_requeue(const ing_schemas *sch, const ls_config *cfg,
                            const rd_kafka_message_t *m, ing_verdict *v,
                            rd_kafka_headers_t **hdrs) {
  q_meta d;
  meta_of(m, &d);
  if (!revalidate(sch, cfg, m, &d, v))
    return false;
  if (hdrs)
    *hdrs = requeue_headers(m, v);
  return true;
}

static int emit(rd_kafka_t *producer, const rd_kafka_message_t *m, void *ud,
                char *errstr, size_t errlen) {
  replay_state *s = ud;
  ing_verdict v;
  if (!replayable(s, m, &v)) {
    s->carried++;
    return cli_replay_carry(producer, m, errstr, errlen);
  }
  rd_kafka_headers_t *hdrs = requeue_headers(m, &v);
  s->replayed++;
  return cli_kafka_produce(producer, v.ev.topic, v.ev.key, strlen(v.ev.key),
                           m->payload, m->len, hdrs, errstr, errlen) != LS_OK;
}

static int run_replay(cli_ctx *ctx, const ls_config *cfg,
                      const ing_schemas *sch, const q_filter *f, bool dry_run) {
  char qtopic[LS_TOPIC_MAX];
  snprintf(qtopic, sizeof qtopic, "%squarantine", cfg->topic_prefix);
  replay_state s;
  memset(&s, 0, sizeof s);
  s.f = f;
  s.cfg = cfg;
  s.sch = sch;
  cli_replay_ops ops = {chosen, emit, &s};
  int rc = cli_replay_run(ctx, cfg, Q_GROUP, qtopic, dry_run, &ops);
  if (rc != CLI_EXIT_OK)
    return rc;
  if (ctx->json)
    cli_print_json(json_pack("{s:b,s:i,s:i,s:i,s:i}", "dry_run", dry_run,
                             "matched", s.matched, "replayed", s.replayed,
                             "carried_forward", s.carried, "still_failing",
                             s.still_failing));
  else if (dry_run)
    printf("dry run: %d record(s) would be replayed, %d still fail today's "
           "rules\n",
           s.matched, s.still_failing);
  else
    printf("replayed %d record(s); %d record(s) carried forward in the "
           "quarantine (%d still fail today's rules)\n",
           s.replayed, s.carried, s.still_failing);
  return CLI_EXIT_OK;
}

static int run_list(cli_ctx *ctx, const ls_config *cfg, const ing_schemas *sch,
                    const q_filter *f, bool all, long limit) {
  char qtopic[LS_TOPIC_MAX];
  snprintf(qtopic, sizeof qtopic, "%squarantine", cfg->topic_prefix);
  list_state s;
  memset(&s, 0, sizeof s);
  s.f = f;
  s.cfg = cfg;
  s.sch = sch;
  s.all = all;
  s.json = ctx->json;
  s.limit = limit;
  s.arr = json_array();
  int rc = cli_replay_list(ctx, cfg, Q_GROUP, qtopic, all, on_list, &s);
  if (rc != CLI_EXIT_OK) {
    json_decref(s.arr);
    return rc;
  }
  if (ctx->json) {
    cli_print_json(json_pack("{s:i,s:i,s:i,s:o}", "pending", (int)s.pending,
                             "replayed", (int)s.replayed, "would_pass",
                             (int)s.would_pass, "records", s.arr));
  } else {
    json_decref(s.arr);
    printf("%ld record(s) waiting in the quarantine (%ld would pass "
           "today's rules)\n",
           s.pending, s.would_pass);
  }
  return s.pending ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int cmd_quarantine(cli_ctx *ctx, int argc, char **argv) {
  q_filter f;
  int prc = cli_replay_args_parse(ctx, "quarantine", usage_text, false, argc,
                                  argv, &f);
  if (prc >= 0)
    return prc;
  ls_config *cfg = NULL;
  int crc = cli_config_load(ctx, &cfg);
  if (crc != CLI_EXIT_OK)
    return crc;
  char errstr[LS_ERRSTR_SIZE], sdir[1024];
  snprintf(sdir, sizeof sdir, "%s/smartlead", ls_schema_dir());
  ing_schemas *sch = ing_schemas_load(sdir, errstr, sizeof errstr);
  if (!sch) {
    int rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
    ls_config_free(cfg);
    return rc;
  }
  int rc = f.list ? run_list(ctx, cfg, sch, &f, f.all, f.limit)
                  : run_replay(ctx, cfg, sch, &f, f.dry_run);
  ing_schemas_free(sch);
  ls_config_free(cfg);
  return rc;
}
