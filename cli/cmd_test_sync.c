/* cmd_test_sync: `leadsync test-sync`: posts one synthetic Smartlead event
 * (a test lead under @leadsync-test.invalid) to the ingress and follows it
 * through Kafka, the worker (leadsync.sync_log / leadsync.dlq) and HubSpot,
 * printing each stage with its latency, or where and why it stopped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_cmds.h"
#include "cli_http.h"
#include "cli_kafka.h"
#include "kq.h"
#include "ls_hash.h"
#include "ls_time.h"

#define TEST_DOMAIN "leadsync-test.invalid"

static const char usage_text[] =
    "usage: leadsync test-sync [--url URL | --source ID [--token TOKEN]\n"
    "                          [--ingress BASE_URL]] [--secret-key KEY]\n"
    "                          [--type EMAIL_REPLY|EMAIL_SENT] [--timeout S]\n"
    "                          [--cleanup] [--config FILE] [--json]\n"
    "\n"
    "Posts a synthetic Smartlead event, marked as a test (lead\n"
    "test-<random>@" TEST_DOMAIN ", \"leadsync_test\": true), and follows\n"
    "it: ingress (HTTP answer), Kafka (the record on its topic), worker (its\n"
    "outcome in leadsync.sync_log or the DLQ) and HubSpot (the contact, read\n"
    "back when this shell has the tenant's token). Prints each stage with\n"
    "its latency, or the stage where it stopped and why.\n"
    "\n"
    "  --url URL        the full webhook URL handed to Smartlead\n"
    "  --source ID      a source of the config; its plain token comes from\n"
    "                   --token or LEADSYNC_SOURCE_TOKEN (the config holds\n"
    "                   only its hash) or from .run/ under `make run`; the\n"
    "                   ingress from --ingress or .run/webhook_url\n"
    "  (neither)        .run/webhook_url, the demo source of `make run`\n"
    "  --secret-key K   the source's secret_key (or LEADSYNC_SOURCE_SECRET)\n"
    "  --timeout S      how long to wait for the worker (default 30)\n"
    "  --cleanup        delete the test contact and its engagements from\n"
    "                   HubSpot afterwards (needs the tenant's token)\n"
    "\n"
    "Exit 0 only when the event reached HubSpot; 1 when it stopped on the\n"
    "way (the reason is printed); 2 on usage or config errors.\n";

typedef struct {
  char name[16];
  bool ok;
  double at_ms;      /* since the POST started */
  char detail[1024]; /* holds ids[600] and why[300] with their text */
} stage;

typedef struct {
  stage st[6];
  int n;
  int64_t t0_mono, t0_wall_ms;
  /* what we follow */
  char event_id[64];
  char topic[LS_TOPIC_MAX];
  bool seen_kafka, done;
  json_t *outcome;     /* the sync_log record, or NULL */
  char dlq_reason[64]; /* from a DLQ record seen before the log line */
  char dlq_detail[700];
  bool seen_dlq;
  int32_t partition;
  int64_t offset, kafka_ts_ms;
} follow;

static stage *add_stage(follow *f, const char *name, bool ok, double at_ms) {
  stage *s = &f->st[f->n < 5 ? f->n++ : 5];
  snprintf(s->name, sizeof s->name, "%s", name);
  s->ok = ok;
  s->at_ms = at_ms;
  s->detail[0] = '\0';
  return s;
}

static double since_ms(const follow *f) {
  return (double)(ls_mono_us() - f->t0_mono) / 1000.0;
}

static void random_hex(char *out, size_t nbytes) {
  unsigned char b[32];
  if (nbytes > sizeof b)
    nbytes = sizeof b;
  if (getrandom(b, nbytes, 0) != (ssize_t)nbytes) {
    /* No entropy source: the clock still makes the lead unique enough. */
    int64_t t = ls_now_us();
    for (size_t i = 0; i < nbytes; i++)
      b[i] = (unsigned char)(t >> (8 * (i % 8)));
  }
  for (size_t i = 0; i < nbytes; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* A payload shaped like Smartlead's (tests/fixtures/smartlead and
 * 2.4), with nothing that could reach a real person. */
static json_t *build_payload(const char *type, const char *email,
                             const ls_source *src, const char *secret,
                             const char *run_id) {
  char now[40], stats[40], msgid[128], replyid[128];
  ls_time_format_ms(ls_now_us(), now, sizeof now);
  snprintf(stats, sizeof stats, "%.8s-%.4s-4%.3s-8%.3s-%.12s", run_id,
           run_id + 8, run_id + 12, run_id + 15, run_id + 18);
  snprintf(msgid, sizeof msgid, "<%s@" TEST_DOMAIN ">", stats);
  snprintf(replyid, sizeof replyid, "<reply-%s@" TEST_DOMAIN ">", stats);
  json_int_t campaign = 0, client = 0;
  if (src && src->level == LS_LEVEL_CAMPAIGN && src->scope_id)
    campaign = strtoll(src->scope_id, NULL, 10);
  if (src && src->level == LS_LEVEL_CLIENT && src->scope_id)
    client = strtoll(src->scope_id, NULL, 10);
  if (!campaign)
    campaign = 900000001; /* the test campaign: no real campaign has it */
  char desc[256];
  snprintf(desc, sizeof desc, "leadsync test-sync %s for %s", run_id, email);
  json_t *p = json_pack(
      "{s:s,s:b,s:s,s:I,s:s,s:s,s:s,s:I,s:o,s:i,s:s,s:s,s:s,s:s,s:s,s:s,"
      "s:{s:s,s:s,s:s,s:s},s:s,s:s,s:{s:s},s:i,s:s}",
      "event_type", type, "leadsync_test", 1, "stats_id", stats,
      "sl_email_lead_map_id", (json_int_t)0, "sl_email_lead_id", "0",
      "campaign_name", "leadsync test-sync", "campaign_status", "ACTIVE",
      "campaign_id", campaign, "client_id",
      client ? json_integer(client) : json_null(), "sequence_number", 1,
      "from_email", "test-sync@" TEST_DOMAIN, "to_email", email, "to_name",
      "leadsync test", "subject", "leadsync test-sync", "event_timestamp", now,
      "message_id", msgid, "sent_message", "message_id", msgid, "html",
      "<p>leadsync test-sync</p>", "text", "leadsync test-sync", "time", now,
      "description", desc, "app_url",
      "https://app.smartlead.ai/app/master-inbox", "metadata",
      "webhook_created_at", now, "webhook_id", 0, "webhook_name",
      "leadsync test-sync");
  if (!p)
    return NULL;
  if (secret)
    json_object_set_new(p, "secret_key", json_string(secret));
  if (!strcmp(type, "EMAIL_REPLY")) {
    json_object_set_new(p, "sl_lead_email", json_string(email));
    json_object_set_new(p, "time_replied", json_string(now));
    json_object_set_new(p, "message_id", json_string(replyid));
    json_object_set_new(p, "preview_text", json_string("leadsync test reply"));
    json_object_set_new(p, "reply_body",
                        json_string("<p>leadsync test reply</p>"));
    json_object_set_new(p, "cc_emails", json_array());
    json_object_set_new(p, "reply_source", json_string("CAMPAIGN"));
    json_object_set_new(p, "reply_message",
                        json_pack("{s:s,s:s,s:s,s:s}", "message_id", replyid,
                                  "html", "<p>leadsync test reply</p>", "text",
                                  "leadsync test reply", "time", now));
    json_object_set_new(p, "leadCorrespondence",
                        json_pack("{s:s,s:s,s:s}", "targetLeadEmail", email,
                                  "replyReceivedFrom", email,
                                  "repliedCompanyDomain", "SameCompany"));
  } else {
    json_object_set_new(p, "time_sent", json_string(now));
    json_object_set_new(p, "sent_message_body",
                        json_string("<p>leadsync test-sync</p>"));
  }
  return p;
}

static const char *jstr(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool final_outcome(const char *o) {
  return o && (!strcmp(o, "synced") || !strcmp(o, "filtered") ||
               !strcmp(o, "held") || !strcmp(o, "dlq") ||
               !strcmp(o, "duplicate") || !strcmp(o, "expired"));
}

static int on_record(const rd_kafka_message_t *m, cli_range *rg, void *op) {
  follow *f = op;
  const char *topic = rg->topic;
  char id[64];
  if (!strcmp(topic, KQ_TOPIC_SYNC_LOG)) {
    json_error_t jerr;
    json_t *o = json_loadb(m->payload, m->len, 0, &jerr);
    if (o &&
        !strcmp(jstr(o, "event_id") ? jstr(o, "event_id") : "", f->event_id) &&
        final_outcome(jstr(o, "outcome"))) {
      json_decref(f->outcome);
      f->outcome = o;
      f->done = true;
      /* Partitions interleave: keep reading until the event record too
       * has been seen, for the kafka stage. */
      return f->seen_kafka;
    }
    json_decref(o);
    return 0;
  }
  cli_header(m, "ce_id", id, sizeof id);
  if (strcmp(id, f->event_id))
    return 0;
  if (!strcmp(topic, KQ_TOPIC_DLQ)) {
    /* The log line follows; keep the DLQ's view in case it does not. */
    char st[16], cat[64], msg[512];
    cli_header(m, "ls_dlq_reason", f->dlq_reason, sizeof f->dlq_reason);
    cli_header(m, "ls_dlq_http_status", st, sizeof st);
    cli_header(m, "ls_dlq_hubspot_category", cat, sizeof cat);
    cli_header(m, "ls_dlq_hubspot_message", msg, sizeof msg);
    snprintf(f->dlq_detail, sizeof f->dlq_detail, "%s %s \"%s\"", st, cat, msg);
    f->seen_dlq = true;
    return 0;
  }
  if (!f->seen_kafka) {
    rd_kafka_timestamp_type_t tt;
    f->seen_kafka = true;
    f->partition = m->partition;
    f->offset = m->offset;
    f->kafka_ts_ms = rd_kafka_message_timestamp(m, &tt);
  }
  return f->done;
}

/* The HubSpot stage of a dlq/failed outcome: what it means, what to do. */
static void explain_failure(const ls_tenant *t, const char *reason,
                            const json_t *err, char *out, size_t len) {
  long st = (long)json_integer_value(json_object_get(err, "http_status"));
  const char *cat = jstr(err, "category");
  const char *msg = jstr(err, "message");
  const char *tid = t ? t->id : "?";
  char base[600];
  snprintf(base, sizeof base, "HubSpot %ld %s \"%s\"", st, cat ? cat : "",
           msg ? msg : "");
  if (st == 401 || st == 403 || (reason && !strcmp(reason, "auth")))
    snprintf(out, len,
             "%s: HubSpot refused tenant %s's token (%s). Fix the token, "
             "then `leadsync dlq replay --reason auth --tenant %s`",
             base, tid, t && t->hs_token_ref ? t->hs_token_ref : "?", tid);
  else if ((msg && (strstr(msg, "does not exist") ||
                    strstr(msg, "PROPERTY_DOESNT_EXIST"))) ||
           (reason && !strcmp(reason, "mapping")))
    snprintf(out, len,
             "%s: a property is missing in HubSpot. Run `leadsync hubspot "
             "setup --tenant %s`, then `leadsync dlq replay --tenant %s`",
             base, tid, tid);
  else
    snprintf(out, len, "%s (reason %s); see `leadsync dlq list`", base,
             reason ? reason : "?");
}

/* GET the contact by e-mail: proof the event reached HubSpot. */
static bool verify_contact(const ls_tenant *t, const char *email,
                           char *contact_id, size_t idlen, double *ms,
                           char *why, size_t whylen) {
  char url[1200];
  snprintf(url, sizeof url, "%s/crm/v3/objects/contacts/%s?idProperty=email",
           t->hs_base_url, email);
  cli_http_resp r;
  ls_err e = cli_http("GET", url, t->hs_token, NULL, 0, 15000, &r);
  *ms = r.ms;
  bool ok = false;
  if (e != LS_OK) {
    snprintf(why, whylen, "HubSpot unreachable: %s", r.error);
  } else if (r.status != 200) {
    snprintf(why, whylen, "HubSpot answered %ld to the contact read", r.status);
  } else {
    json_error_t jerr;
    json_t *o = json_loadb(r.body.data, r.body.len, 0, &jerr);
    const char *id = jstr(o, "id");
    snprintf(contact_id, idlen, "%s", id ? id : "?");
    ok = true;
    json_decref(o);
  }
  cli_http_resp_free(&r);
  return ok;
}

/* DELETE url, counted as deleted (204) or failed (last: its status). */
static void delete_object(const ls_tenant *t, const char *url, int *deleted,
                          int *failed, long *last) {
  cli_http_resp r;
  if (cli_http("DELETE", url, t->hs_token, NULL, 0, 15000, &r) == LS_OK &&
      r.status == 204)
    (*deleted)++;
  else {
    (*failed)++;
    *last = r.status;
  }
  cli_http_resp_free(&r);
}

static void cleanup_hubspot(const ls_tenant *t, const json_t *hs, char *out,
                            size_t len) {
  int deleted = 0, failed = 0;
  long last = 0;
  char url[1200];
  size_t i;
  const json_t *ob;
  json_array_foreach(json_object_get(hs, "objects"), i, ob) {
    snprintf(url, sizeof url, "%s/crm/v3/objects/%s/%s", t->hs_base_url,
             jstr(ob, "type") ? jstr(ob, "type") : "x",
             jstr(ob, "id") ? jstr(ob, "id") : "x");
    delete_object(t, url, &deleted, &failed, &last);
  }
  const char *cid = jstr(hs, "contact_id");
  if (cid) {
    snprintf(url, sizeof url, "%s/crm/v3/objects/contacts/%s", t->hs_base_url,
             cid);
    delete_object(t, url, &deleted, &failed, &last);
  }
  if (failed)
    snprintf(out, len,
             "cleanup: %d object(s) deleted, %d not (HubSpot "
             "answered %ld); delete the test contact by hand",
             deleted, failed, last);
  else
    snprintf(out, len, "cleanup: %d object(s) deleted", deleted);
}

/* base URL of a webhook URL: "http://h:p/v1/webhooks/..." -> "http://h:p" */
static void base_of(const char *url, char *out, size_t len) {
  const char *p = strstr(url, "://");
  const char *slash = p ? strchr(p + 3, '/') : NULL;
  size_t n = slash ? (size_t)(slash - url) : strlen(url);
  snprintf(out, len, "%.*s", (int)n, url);
}

typedef struct {
  const char *url, *source, *token, *ingress, *secret, *type;
  long timeout_s;
  bool cleanup;
} opts_t;

/* The webhook URL to post to, from the flags or .run/. */
static int resolve_url(cli_ctx *ctx, const ls_config *cfg, const opts_t *o,
                       char *url, size_t len) {
  char run_url[2048] = "", tok[512];
  if (o->url) {
    snprintf(url, len, "%s", o->url);
    return CLI_EXIT_OK;
  }
  if (!o->source) {
    if (!cli_run_file(ctx, "webhook_url", url, len))
      return cli_usage_error(ctx,
                             "give --url URL or --source ID (no "
                             "%s/webhook_url: is `make run` up?)",
                             ctx->run_dir);
    return CLI_EXIT_OK;
  }
  const ls_source *src = NULL;
  for (size_t i = 0; i < cfg->n_tenants && !src; i++)
    for (size_t k = 0; k < cfg->tenants[i].n_sources; k++)
      if (!strcmp(cfg->tenants[i].sources[k].id, o->source))
        src = &cfg->tenants[i].sources[k];
  if (!src)
    return cli_fail(ctx, CLI_EXIT_USAGE, "no source \"%s\" in %s", o->source,
                    cfg->path);
  const char *token = o->token ? o->token : getenv("LEADSYNC_SOURCE_TOKEN");
  if (!token) {
    /* make run hands out the dev sources' URLs: use one if it fits. */
    const char *files[] = {"webhook_url", "webhook_url_filtered"};
    for (int i = 0; i < 2 && !token; i++) {
      char sha[65];
      if (cli_run_file(ctx, files[i], run_url, sizeof run_url) &&
          cli_url_token(run_url, tok, sizeof tok)) {
        ls_sha256_hex(tok, strlen(tok), sha);
        if (ls_const_eq(sha, src->token_sha256))
          token = tok;
      }
    }
  }
  if (!token)
    return cli_usage_error(ctx,
                           "--source %s needs its plain URL token: --token or "
                           "LEADSYNC_SOURCE_TOKEN (the config keeps only its "
                           "SHA-256)",
                           o->source);
  char base[1024];
  if (o->ingress)
    snprintf(base, sizeof base, "%s", o->ingress);
  else if (run_url[0] ||
           cli_run_file(ctx, "webhook_url", run_url, sizeof run_url))
    base_of(run_url, base, sizeof base);
  else
    return cli_usage_error(ctx, "where is the ingress? give --ingress "
                                "BASE_URL");
  size_t bl = strlen(base);
  while (bl && base[bl - 1] == '/')
    base[--bl] = '\0';
  snprintf(url, len, "%s/v1/webhooks/smartlead/%s", base, token);
  return CLI_EXIT_OK;
}

static void print_report(const cli_ctx *ctx, const follow *f, bool reached,
                         const char *tenant, const char *source,
                         const char *type, const char *email,
                         const char *extra) {
  if (ctx->json) {
    json_t *stages = json_array();
    for (int i = 0; i < f->n; i++)
      json_array_append_new(stages, json_pack("{s:s,s:b,s:f,s:s}", "stage",
                                              f->st[i].name, "ok", f->st[i].ok,
                                              "at_ms", f->st[i].at_ms, "detail",
                                              f->st[i].detail));
    const stage *last = f->n ? &f->st[f->n - 1] : NULL;
    cli_print_json(json_pack(
        "{s:b,s:s?,s:s?,s:s,s:s,s:s?,s:o,s:s?,s:s?,s:s?}", "reached_hubspot",
        reached, "tenant", tenant, "source", source, "event_type", type,
        "lead_email", email, "event_id", f->event_id[0] ? f->event_id : NULL,
        "stages", stages, "stopped_at", reached || !last ? NULL : last->name,
        "reason", reached || !last ? NULL : last->detail, "note", extra));
    return;
  }
  printf("test-sync: %s for %s (tenant %s, source %s)\n", type, email,
         tenant ? tenant : "?", source ? source : "?");
  /* "at": milliseconds since the POST started. The record reaches Kafka
   * before the ingress answers (it answers after the ack). */
  for (int i = 0; i < f->n; i++) {
    const stage *s = &f->st[i];
    printf("  %-4s  %-8s at %5.0f ms  %s\n", s->ok ? "ok" : "FAIL", s->name,
           s->at_ms, s->detail);
  }
  if (reached)
    printf("reached HubSpot in %.0f ms\n", f->n ? f->st[f->n - 1].at_ms : 0.0);
  else if (f->n)
    printf("stopped at %s\n", f->st[f->n - 1].name);
  if (extra)
    printf("%s\n", extra);
}

int cmd_test_sync(cli_ctx *ctx, int argc, char **argv) {
  opts_t o = {.type = "EMAIL_REPLY", .timeout_s = 30};
  const char *timeout = NULL;
  const cli_arg args[] = {CLI_STRING_ARG("url", &o.url),
                          CLI_STRING_ARG("source", &o.source),
                          CLI_STRING_ARG("token", &o.token),
                          CLI_STRING_ARG("ingress", &o.ingress),
                          CLI_STRING_ARG("secret-key", &o.secret),
                          CLI_STRING_ARG("type", &o.type),
                          CLI_STRING_ARG("timeout", &timeout),
                          CLI_FLAG_ARG("cleanup", &o.cleanup, NULL),
                          CLI_ARGS_END};
  int end = cli_args_parse(ctx, usage_text, args, NULL, argc, argv);
  if (end >= 0)
    return end;
  if (timeout && !cli_parse_long(timeout, 1, 3600, &o.timeout_s))
    return cli_usage_error(ctx, "--timeout: seconds, 1..3600");
  if (o.url && o.source)
    return cli_usage_error(ctx, "--url and --source exclude each other");
  if (strcmp(o.type, "EMAIL_REPLY") && strcmp(o.type, "EMAIL_SENT"))
    return cli_usage_error(ctx, "--type: EMAIL_REPLY or EMAIL_SENT");
  if (!o.secret)
    o.secret = getenv("LEADSYNC_SOURCE_SECRET");

  ls_config *cfg = NULL;
  rd_kafka_t *rk = NULL;
  cli_ranges ranges = {0};
  json_t *payload = NULL;
  char *body = NULL;
  char url[2048], shown[400], errstr[LS_ERRSTR_SIZE], email[128], run_id[48];
  char extra[600] = "";
  follow f;
  memset(&f, 0, sizeof f);
  bool reached = false;
  int rc = cli_config_load(ctx, &cfg);
  if (rc != CLI_EXIT_OK)
    return rc;
  if ((rc = resolve_url(ctx, cfg, &o, url, sizeof url)) != CLI_EXIT_OK)
    goto out;
  rc = CLI_EXIT_FAIL;
  cli_redact_url(url, shown, sizeof shown);

  /* Which source and tenant the token opens, as far as this config knows. */
  const ls_source *src = NULL;
  char tok[512], sha[65];
  if (cli_url_token(url, tok, sizeof tok)) {
    ls_sha256_hex(tok, strlen(tok), sha);
    src = ls_config_find_source(cfg, sha);
  }
  const ls_tenant *tenant = src ? src->tenant : NULL;
  random_hex(run_id, 12);
  snprintf(email, sizeof email, "test-%.12s@" TEST_DOMAIN, run_id);
  if (src && src->has_secret && !o.secret)
    snprintf(extra, sizeof extra,
             "note: source %s expects a secret_key; pass --secret-key",
             src->id);

  /* Snapshot the topics before posting, so only new records are read. */
  snprintf(f.topic, sizeof f.topic, "%s%s", cfg->topic_prefix,
           !strcmp(o.type, "EMAIL_REPLY") ? "email_reply" : "email_sent");
  const char *topics[] = {f.topic, KQ_TOPIC_SYNC_LOG, KQ_TOPIC_DLQ};
  bool kafka_ok = false;
  rk = cli_kafka_consumer(cfg, NULL, errstr, sizeof errstr);
  if (rk && cli_kafka_plan(rk, topics, 3, CLI_NO_TIME, CLI_NO_TIME, false, 5000,
                           &ranges, errstr, sizeof errstr) == LS_OK) {
    kafka_ok = true;
    for (size_t i = 0; i < ranges.n; i++) {
      ranges.v[i].start = ranges.v[i].high;
      ranges.v[i].end = CLI_FOLLOW;
    }
  }

  payload = build_payload(o.type, email, src, o.secret, run_id);
  body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
  if (!body) {
    rc = cli_fail(ctx, CLI_EXIT_FAIL, "out of memory");
    goto out;
  }
  f.t0_mono = ls_mono_us();
  f.t0_wall_ms = ls_now_us() / 1000;
  cli_http_resp resp;
  ls_err he = cli_http("POST", url, NULL, body, strlen(body), 15000, &resp);
  stage *s = add_stage(&f, "ingress", false, since_ms(&f));
  if (he != LS_OK) {
    snprintf(s->detail, sizeof s->detail, "%s unreachable: %s", shown,
             resp.error);
  } else if (resp.status == 200) {
    json_error_t jerr;
    json_t *a = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len,
                           0, &jerr);
    snprintf(f.event_id, sizeof f.event_id, "%s",
             jstr(a, "event_id") ? jstr(a, "event_id") : "");
    if (jstr(a, "topic"))
      snprintf(f.topic, sizeof f.topic, "%s", jstr(a, "topic"));
    json_decref(a);
    s->ok = true;
    snprintf(s->detail, sizeof s->detail, "200 accepted by %s, event %s", shown,
             f.event_id);
  } else {
    const char *why =
        resp.status == 401   ? "the ingress rejected the URL token or the "
                               "secret_key (check the token / --secret-key)"
        : resp.status == 400 ? "the payload was rejected and quarantined"
        : resp.status == 503 ? "the ingress could not store the event in "
                               "Kafka (Kafka down, or the ingress draining)"
        : resp.status == 429 ? "rate limited for this source"
                             : "unexpected answer";
    char excerpt[200] = "";
    if (resp.status == 400 && resp.body.data)
      snprintf(excerpt, sizeof excerpt, ": %.180s", resp.body.data);
    snprintf(s->detail, sizeof s->detail, "%ld from %s: %s%s", resp.status,
             shown, why, excerpt);
    if (resp.retry_after_s >= 0)
      snprintf(s->detail + strlen(s->detail),
               sizeof s->detail - strlen(s->detail), " (Retry-After %ld s)",
               resp.retry_after_s);
  }
  cli_http_resp_free(&resp);
  if (!s->ok)
    goto report;
  if (!kafka_ok) {
    s = add_stage(&f, "kafka", false, since_ms(&f));
    snprintf(s->detail, sizeof s->detail,
             "accepted, but this shell cannot read Kafka (%s): follow it with "
             "`leadsync history --event-id %s`",
             errstr, f.event_id);
    goto report;
  }
  if (!tenant)
    snprintf(extra, sizeof extra,
             "note: the URL token matches no source in %s: is it the config "
             "the ingress runs with?",
             cfg->path);

  /* Follow: event topic, then the worker's outcome. */
  int64_t deadline = f.t0_mono + (int64_t)o.timeout_s * 1000000;
  cli_kafka_read(rk, &ranges, on_record, &f, (int)o.timeout_s * 1000, deadline,
                 errstr, sizeof errstr);
  double kafka_at = f.st[0].at_ms;
  if (f.seen_kafka && f.kafka_ts_ms >= f.t0_wall_ms &&
      (double)(f.kafka_ts_ms - f.t0_wall_ms) < kafka_at)
    kafka_at = (double)(f.kafka_ts_ms - f.t0_wall_ms);
  s = add_stage(&f, "kafka", f.seen_kafka, kafka_at);
  if (f.seen_kafka)
    snprintf(s->detail, sizeof s->detail, "%s [%d] @%lld", f.topic,
             (int)f.partition, (long long)f.offset);
  else
    snprintf(s->detail, sizeof s->detail,
             "not seen on %s within %ld s although the ingress said it was "
             "stored",
             f.topic, o.timeout_s);
  if (!f.seen_kafka)
    goto report;
  if (!f.outcome) {
    s = add_stage(&f, "worker", false, since_ms(&f));
    if (f.seen_dlq) {
      snprintf(s->detail, sizeof s->detail,
               "in the DLQ (reason %s): HubSpot %s, but no sync_log line",
               f.dlq_reason, f.dlq_detail);
    } else {
      snprintf(s->detail, sizeof s->detail,
               "no outcome in %s within %ld s: is a worker consuming %s "
               "running, and is HubSpot answering? Check later with "
               "`leadsync history --event-id %s`",
               KQ_TOPIC_SYNC_LOG, o.timeout_s, f.topic, f.event_id);
    }
    goto report;
  }
  const char *outcome = jstr(f.outcome, "outcome");
  const char *group = jstr(f.outcome, "group");
  const json_t *lat = json_object_get(f.outcome, "latency_ms");
  double worker_at = since_ms(&f);
  const char *logged = jstr(f.outcome, "logged_at");
  int64_t lus;
  if (logged && ls_time_parse(logged, &lus) && lus / 1000 >= f.t0_wall_ms)
    worker_at = (double)(lus / 1000 - f.t0_wall_ms);
  bool synced = !strcmp(outcome, "synced") || !strcmp(outcome, "duplicate");
  bool worker_ok = synced || !strcmp(outcome, "dlq");
  s = add_stage(&f, "worker", worker_ok, worker_at);
  snprintf(s->detail, sizeof s->detail, "%s by group %s", outcome,
           group ? group : "?");
  if (json_is_integer(lat))
    snprintf(s->detail + strlen(s->detail),
             sizeof s->detail - strlen(s->detail),
             " (worker latency %" JSON_INTEGER_FORMAT " ms)",
             json_integer_value(lat));
  if (!strcmp(outcome, "held")) {
    snprintf(s->detail, sizeof s->detail,
             "held by the category filter of tenant %s: a test lead has no "
             "Smartlead category yet, and this tenant syncs only leads in "
             "its allowed categories",
             tenant ? tenant->id : "?");
    goto report;
  }
  if (!strcmp(outcome, "filtered") || !strcmp(outcome, "expired")) {
    const char *reason = jstr(f.outcome, "reason");
    snprintf(s->detail + strlen(s->detail),
             sizeof s->detail - strlen(s->detail), ": %s",
             reason ? reason
                    : "the tenant's options write nothing "
                      "for this event");
    goto report;
  }
  if (!strcmp(outcome, "dlq")) {
    s = add_stage(&f, "hubspot", false, worker_at);
    explain_failure(tenant, jstr(f.outcome, "reason"),
                    json_object_get(f.outcome, "error"), s->detail,
                    sizeof s->detail);
    goto report;
  }
  /* Synced: say what HubSpot holds, and read it back when we can. */
  const json_t *hs = json_object_get(f.outcome, "hubspot");
  char ids[600];
  int n = snprintf(ids, sizeof ids, "contact %s",
                   jstr(hs, "contact_id") ? jstr(hs, "contact_id") : "?");
  size_t i;
  const json_t *ob;
  json_array_foreach(json_object_get(hs, "objects"), i, ob) {
    if (n > 0 && (size_t)n < sizeof ids)
      n += snprintf(ids + n, sizeof ids - (size_t)n, ", %s %s",
                    jstr(ob, "type") ? jstr(ob, "type") : "?",
                    jstr(ob, "id") ? jstr(ob, "id") : "?");
  }
  reached = true;
  if (tenant && tenant->hs_token) {
    char cid[64] = "", why[300] = "";
    double ms = 0;
    bool ok =
        verify_contact(tenant, email, cid, sizeof cid, &ms, why, sizeof why);
    s = add_stage(&f, "hubspot", ok, since_ms(&f));
    if (ok)
      snprintf(s->detail, sizeof s->detail, "%s; read back from %s (%.0f ms)",
               ids, tenant->hs_base_url, ms);
    else
      snprintf(s->detail, sizeof s->detail,
               "%s, but reading it back failed: %s", ids, why);
    reached = ok;
    if (ok && o.cleanup)
      cleanup_hubspot(tenant, hs, extra, sizeof extra);
  } else {
    s = add_stage(&f, "hubspot", true, worker_at);
    snprintf(s->detail, sizeof s->detail,
             "%s (per the sync log; no HubSpot token in this shell to read "
             "it back)",
             ids);
    if (o.cleanup)
      snprintf(extra, sizeof extra,
               "cleanup skipped: no HubSpot token for tenant %s here",
               tenant ? tenant->id : "?");
  }
report:
  print_report(ctx, &f, reached, tenant ? tenant->id : NULL,
               src ? src->id : NULL, o.type, email, extra[0] ? extra : NULL);
  rc = reached ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
  json_decref(f.outcome);
  free(body);
  json_decref(payload);
  cli_kafka_done(rk, &ranges);
  ls_config_free(cfg);
  return rc;
}
