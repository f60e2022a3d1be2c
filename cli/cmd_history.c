/* cmd_history: `leadsync history`: "did this lead's reply reach HubSpot, and
 * if not, why?" Reads leadsync.sync_log (outcome records), leadsync.dlq
 * (with whether each record is still waiting for a replay) and the
 * quarantine topic, filters, and prints newest first. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "ls_array.h"
#include "cli_cmds.h"
#include "cli_kafka.h"
#include "kq.h"
#include "ls_time.h"

#define DLQ_GROUP "leadsync-dlq-replay"

static const char usage_text[] =
    "usage: leadsync history [--email E] [--event-id ID] [--campaign C]\n"
    "                        [--status S] [--tenant T] [--type EVENT_TYPE]\n"
    "                        [--since TIME] [--limit N] [--config FILE]\n"
    "                        [--json]\n"
    "\n"
    "Searches leadsync.sync_log (one outcome per event: synced, filtered,\n"
    "held, released, expired, dlq, duplicate; per fan-out endpoint:\n"
    "delivered, dlq), leadsync.dlq and the\n"
    "quarantine and unknown-type topics, newest first: one line per event\n"
    "with its type,\n"
    "outcome, HubSpot ids or the error. DLQ entries say whether they still\n"
    "wait for `leadsync dlq replay`.\n"
    "\n"
    "  --email E       lead e-mail (case-insensitive)\n"
    "  --event-id ID   event id, or a prefix of at least 6 hex digits\n"
    "  --status S      outcome: synced|filtered|held|released|expired|dlq|\n"
    "                  duplicate|quarantined|delivered|unknown\n"
    "  --since TIME    RFC 3339 time, or an age: 30m, 2h, 7d\n"
    "  --limit N       at most N lines (default 50, 0 = all)\n"
    "\n"
    "Exit 0 when something matched, 1 when nothing did.\n";

typedef struct {
  const char *email;
  const char *event_id;
  const char *campaign;
  const char *status;
  const char *tenant;
  const char *type;
  int64_t since_us;
} filter;

typedef struct {
  int64_t at_us;
  json_t *o;
} entry;

typedef struct {
  const filter *f;
  entry *v;
  size_t n, cap;
  char dlq_topic[LS_TOPIC_MAX];
  char quarantine_topic[LS_TOPIC_MAX];
  char unknown_topic[LS_TOPIC_MAX];
  size_t scanned;
} scan;

static bool ieq(const char *a, const char *b) {
  return a && b && !strcasecmp(a, b);
}

static bool matches(const filter *f, const char *email, const char *event_id,
                    const char *campaign, const char *outcome,
                    const char *tenant, const char *type, int64_t at_us) {
  if (f->email) {
    char want[LS_EMAIL_MAX + 1];
    ls_normalize_email(f->email, want, sizeof want);
    if (!ieq(email, want))
      return false;
  }
  if (f->event_id &&
      (!event_id || strncasecmp(event_id, f->event_id, strlen(f->event_id))))
    return false;
  if (f->campaign && (!campaign || strcmp(campaign, f->campaign)))
    return false;
  if (f->status && !ieq(outcome, f->status))
    return false;
  if (f->tenant && (!tenant || strcmp(tenant, f->tenant)))
    return false;
  if (f->type && !ieq(type, f->type))
    return false;
  if (f->since_us != CLI_NO_TIME && at_us < f->since_us)
    return false;
  return true;
}

static bool push(scan *s, int64_t at_us, json_t *o) {
  if (!o)
    return false;
  if (!LS_ARRAY_GROW(s->v, s->cap, s->n + 1)) {
    json_decref(o);
    return false;
  }
  s->v[s->n].at_us = at_us;
  s->v[s->n++].o = o;
  return true;
}

static int64_t record_time_us(const rd_kafka_message_t *m) {
  rd_kafka_timestamp_type_t tt;
  int64_t ms = rd_kafka_message_timestamp(m, &tt);
  return ms >= 0 ? ms * 1000 : 0;
}

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

/* "ai.smartlead.email_reply" -> "EMAIL_REPLY". */
static void type_from_ce(const char *ce, char *out, size_t len) {
  const char *p = strncmp(ce, "ai.smartlead.", 13) ? ce : ce + 13;
  size_t i = 0;
  for (; p[i] && i + 1 < len; i++)
    out[i] = (char)toupper((unsigned char)p[i]);
  out[i] = '\0';
}

static void on_sync_log(scan *s, const rd_kafka_message_t *m) {
  json_error_t jerr;
  json_t *o = json_loadb(m->payload, m->len, 0, &jerr);
  if (!json_is_object(o)) {
    json_decref(o);
    return;
  }
  int64_t at = record_time_us(m);
  const char *logged = jstr(o, "logged_at");
  int64_t t;
  if (logged && ls_time_parse(logged, &t))
    at = t;
  char campaign[32];
  ls_json_id(json_object_get(o, "campaign_id"), campaign, sizeof campaign);
  if (!matches(s->f, jstr(o, "lead_email"), jstr(o, "event_id"), campaign,
               jstr(o, "outcome"), jstr(o, "tenant"), jstr(o, "event_type"),
               at)) {
    json_decref(o);
    return;
  }
  json_object_set_new(o, "source", json_string("sync_log"));
  if (!jstr(o, "logged_at")) {
    char ts[40];
    ls_time_format_ms(at, ts, sizeof ts);
    json_object_set_new(o, "logged_at", json_string(ts));
  }
  push(s, at, o);
}

/* DLQ and quarantine records: the original body, the story in headers. */
static void on_side_topic(scan *s, const rd_kafka_message_t *m,
                          const cli_range *rg, bool dlq, bool unknown) {
  char tenant[LS_TENANT_MAX + 1], campaign[64], email[LS_EMAIL_MAX + 1];
  char id[64], ce_type[LS_TOPIC_MAX], type[LS_TYPE_NAME_MAX], h[600];
  cli_key_parts(m, tenant, sizeof tenant, campaign, sizeof campaign, email,
                sizeof email);
  cli_header(m, "ce_id", id, sizeof id);
  cli_header(m, "ce_tenant", h, sizeof h);
  if (h[0])
    snprintf(tenant, sizeof tenant, "%.*s", (int)sizeof tenant - 1, h);
  cli_header(m, "ce_type", ce_type, sizeof ce_type);
  type_from_ce(ce_type, type, sizeof type);
  /* smartlead.unknown: a type leadsync does not know, kept unsynced. */
  const char *outcome = dlq ? "dlq" : unknown ? "unknown" : "quarantined";
  int64_t at = record_time_us(m);
  if (!matches(s->f, email, id, campaign, outcome, tenant, type, at))
    return;
  char ts[40];
  ls_time_format_ms(at, ts, sizeof ts);
  json_t *o = json_pack(
      "{s:s,s:s?,s:s,s:s,s:s?,s:s?,s:s,s:s,s:s,s:i,s:I}", "source",
      dlq       ? "dlq"
      : unknown ? "unknown"
                : "quarantine",
      "event_id", id[0] ? id : NULL, "tenant", tenant, "event_type",
      type[0] ? type : "UNKNOWN", "lead_email", email[0] ? email : NULL,
      "campaign_id", campaign[0] ? campaign : NULL, "outcome", outcome,
      "logged_at", ts, "topic", rd_kafka_topic_name(m->rkt), "partition",
      (int)m->partition, "offset", (json_int_t)m->offset);
  if (!o)
    return;
  if (dlq) {
    char status[16], cat[64], msg[512], attempts[16], orig[LS_TOPIC_MAX];
    cli_header(m, "ls_dlq_reason", h, sizeof h);
    json_object_set_new(o, "reason", h[0] ? json_string(h) : json_null());
    cli_header(m, "ls_dlq_http_status", status, sizeof status);
    cli_header(m, "ls_dlq_hubspot_category", cat, sizeof cat);
    cli_header(m, "ls_dlq_hubspot_message", msg, sizeof msg);
    long st = 0;
    cli_parse_long(status, 0, 999, &st);
    json_object_set_new(o, "error",
                        json_pack("{s:i,s:s?,s:s?}", "http_status", (int)st,
                                  "category", cat[0] ? cat : NULL, "message",
                                  msg[0] ? msg : NULL));
    cli_header(m, "ls_dlq_attempts", attempts, sizeof attempts);
    long a = 0;
    if (cli_parse_long(attempts, 0, 1000000, &a))
      json_object_set_new(o, "attempts", json_integer(a));
    cli_header(m, "ls_dlq_original_topic", orig, sizeof orig);
    if (orig[0])
      json_object_set_new(o, "original_topic", json_string(orig));
    bool pending = rg->committed < 0 || m->offset >= rg->committed;
    json_object_set_new(o, "dlq_state",
                        json_string(pending ? "pending" : "replayed"));
  } else if (unknown) {
    json_object_set_new(o, "reason", json_string("unknown_event_type"));
    json_object_set_new(
        o, "error",
        json_pack("{s:s}", "message",
                  "a type leadsync does not know: kept in the unknown topic, "
                  "not synced"));
  } else {
    char detail[512];
    cli_header(m, "ls_quarantine_reason", h, sizeof h);
    cli_header(m, "ls_quarantine_detail", detail, sizeof detail);
    json_object_set_new(o, "reason", h[0] ? json_string(h) : json_null());
    json_object_set_new(
        o, "error", json_pack("{s:s?}", "message", detail[0] ? detail : NULL));
  }
  push(s, at, o);
}

static int on_record(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  scan *s = op;
  s->scanned++;
  const char *topic = rd_kafka_topic_name(m->rkt);
  if (!strcmp(topic, KQ_TOPIC_SYNC_LOG))
    on_sync_log(s, m);
  else
    on_side_topic(s, m, rg, !strcmp(topic, s->dlq_topic),
                  !strcmp(topic, s->unknown_topic));
  return 0;
}

/* The worker writes a sync_log "dlq" record and the DLQ copy of the same
 * event: fold the copy's replay state into the log line. */
static void fold_dlq(scan *s) {
  for (size_t i = 0; i < s->n; i++) {
    json_t *d = s->v[i].o;
    if (strcmp(jstr(d, "source"), "dlq") || !jstr(d, "event_id"))
      continue;
    for (size_t k = 0; k < s->n; k++) {
      json_t *l = s->v[k].o;
      if (k == i || strcmp(jstr(l, "source"), "sync_log") ||
          !ieq(jstr(l, "outcome"), "dlq") || json_object_get(l, "dlq_state") ||
          json_object_get(l, "endpoint") ||
          !ieq(jstr(l, "event_id"), jstr(d, "event_id")))
        continue;
      json_object_set(l, "dlq_state", json_object_get(d, "dlq_state"));
      if (!json_object_get(l, "reason") ||
          json_is_null(json_object_get(l, "reason")))
        json_object_set(l, "reason", json_object_get(d, "reason"));
      json_object_set_new(d, "folded", json_true());
      break;
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < s->n; i++) {
    if (json_is_true(json_object_get(s->v[i].o, "folded"))) {
      json_decref(s->v[i].o);
      continue;
    }
    s->v[w++] = s->v[i];
  }
  s->n = w;
}

static int newest_first(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return x->at_us < y->at_us ? 1 : x->at_us > y->at_us ? -1 : 0;
}

static void print_line(const json_t *o) {
  const char *outcome = jstr(o, "outcome");
  char campaign[32] = "";
  ls_json_id(json_object_get(o, "campaign_id"), campaign, sizeof campaign);
  printf("%s  %-11s %-22s %s  %s",
         jstr(o, "logged_at") ? jstr(o, "logged_at") : "?",
         outcome ? outcome : "?",
         jstr(o, "event_type") ? jstr(o, "event_type") : "?",
         jstr(o, "tenant") ? jstr(o, "tenant") : "?",
         jstr(o, "lead_email") ? jstr(o, "lead_email") : "(no lead)");
  if (campaign[0])
    printf(" campaign %s", campaign);
  if (jstr(o, "endpoint"))
    printf(" -> endpoint %s", jstr(o, "endpoint"));
  const json_t *hs = json_object_get(o, "hubspot");
  const json_t *err = json_object_get(o, "error");
  if (json_is_object(hs)) {
    const char *cid = jstr(hs, "contact_id");
    printf(": contact %s", cid ? cid : "-");
    size_t i;
    const json_t *ob;
    json_array_foreach(json_object_get(hs, "objects"), i, ob)
        printf(", %s %s", jstr(ob, "type") ? jstr(ob, "type") : "?",
               jstr(ob, "id") ? jstr(ob, "id") : "?");
  }
  if (json_is_object(err)) {
    const json_t *st = json_object_get(err, "http_status");
    printf(":");
    if (json_is_integer(st) && json_integer_value(st) > 0)
      printf(" %s %" JSON_INTEGER_FORMAT,
             jstr(o, "endpoint") ? "HTTP" : "HubSpot", json_integer_value(st));
    if (jstr(err, "category"))
      printf(" %s", jstr(err, "category"));
    if (jstr(err, "message"))
      printf(" \"%s\"", jstr(err, "message"));
  }
  const char *reason = jstr(o, "reason");
  const char *state = jstr(o, "dlq_state");
  if (reason || state) {
    printf(" [");
    if (reason)
      printf("reason %s", reason);
    if (state)
      printf("%s%s", reason ? ", " : "",
             !strcmp(state, "pending") ? "in DLQ, waiting for replay"
                                       : "replayed from DLQ");
    printf("]");
  }
  const char *id = jstr(o, "event_id");
  const json_t *lat = json_object_get(o, "latency_ms");
  /* Back-filled by the assurance role: its webhook never arrived. */
  if (json_is_true(json_object_get(o, "backfilled")))
    printf(" [backfilled: webhook never arrived]");
  printf("  (event %s", id ? id : "-");
  if (json_is_integer(lat))
    printf(", %" JSON_INTEGER_FORMAT " ms", json_integer_value(lat));
  printf(")\n");
}

int cmd_history(cli_ctx *ctx, int argc, char **argv) {
  filter f = {.since_us = CLI_NO_TIME};
  long limit = 50;
  const cli_arg args[] = {CLI_STRING_ARG("email", &f.email),
                          CLI_STRING_ARG("event-id", &f.event_id),
                          CLI_STRING_ARG("campaign", &f.campaign),
                          CLI_STRING_ARG("status", &f.status),
                          CLI_STRING_ARG("tenant", &f.tenant),
                          CLI_STRING_ARG("type", &f.type),
                          CLI_TIME_ARG("since", &f.since_us),
                          CLI_LONG_ARG("limit", &limit, 0, 1000000),
                          CLI_ARGS_END};
  int end = cli_args_parse(ctx, usage_text, args, NULL, argc, argv);
  if (end >= 0)
    return end;
  if (f.event_id && strlen(f.event_id) < 6)
    return cli_usage_error(ctx, "--event-id: give at least 6 hex digits");

  ls_config *cfg = NULL;
  rd_kafka_t *rk = NULL;
  cli_ranges ranges = {0};
  scan s = {.f = &f};
  char errstr[LS_ERRSTR_SIZE];
  int rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  snprintf(s.dlq_topic, sizeof s.dlq_topic, "%s", KQ_TOPIC_DLQ);
  snprintf(s.quarantine_topic, sizeof s.quarantine_topic, "%squarantine",
           cfg->topic_prefix);
  snprintf(s.unknown_topic, sizeof s.unknown_topic, "%sunknown",
           cfg->topic_prefix);
  const char *topics[] = {KQ_TOPIC_SYNC_LOG, s.dlq_topic, s.quarantine_topic,
                          s.unknown_topic};
  /* The replay group's committed offsets tell replayed from pending. */
  rk = cli_kafka_consumer(cfg, DLQ_GROUP, errstr, sizeof errstr);
  if (!rk) {
    rc = cli_fail(ctx, CLI_EXIT_USAGE, "%s", errstr);
    goto out;
  }
  int64_t since_ms =
      f.since_us == CLI_NO_TIME ? CLI_NO_TIME : f.since_us / 1000;
  if (cli_kafka_plan(rk, topics, 4, since_ms, CLI_NO_TIME, false, 10000,
                     &ranges, errstr, sizeof errstr) != LS_OK ||
      cli_kafka_committed(rk, &ranges, 10000, errstr, sizeof errstr) != LS_OK) {
    rc =
        cli_fail(ctx, CLI_EXIT_FAIL, "%s (brokers %s)", errstr, cfg->bootstrap);
    goto out;
  }
  if (cli_kafka_read(rk, &ranges, on_record, &s, 15000, 0, errstr,
                     sizeof errstr) != LS_OK) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "%s", errstr);
    goto out;
  }
  fold_dlq(&s);
  if (s.n)
    qsort(s.v, s.n, sizeof *s.v, newest_first);
  size_t shown = limit && (size_t)limit < s.n ? (size_t)limit : s.n;
  if (ctx->json) {
    json_t *arr = json_array();
    for (size_t i = 0; i < shown; i++)
      json_array_append(arr, s.v[i].o);
    cli_print_json(json_pack("{s:i,s:i,s:o}", "matches", (int)s.n, "shown",
                             (int)shown, "events", arr));
  } else {
    for (size_t i = 0; i < shown; i++)
      print_line(s.v[i].o);
    if (!s.n)
      printf("no matching event (%zu records searched)\n", s.scanned);
    else if (shown < s.n)
      printf("... %zu more (use --limit 0 for all)\n", s.n - shown);
  }
  rc = s.n ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
  for (size_t i = 0; i < s.n; i++)
    json_decref(s.v[i].o);
  free(s.v);
  cli_kafka_done(rk, &ranges);
  ls_config_free(cfg);
  return rc;
}
