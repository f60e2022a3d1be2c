/* leadsync-assurance: the webhook-assurance role (docs/assurance.md).
 *
 * Daemon: joins the consumer group leadsync-assurance on the progress topic;
 * the member that holds partition 0 is the leader and the only one that
 * polls Smartlead. It replays the progress records, resumes an unfinished
 * run, and runs each assured tenant on its schedule. A run happens on its
 * own thread; losing partition 0 stops it before the rebalance completes, so
 * two replicas never poll at once.
 * --once: one run for one tenant (or all), no election; `leadsync assure`. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "as.h"
#include "kq.h"
#include "kq_client.h"
#include "ls_event.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_time.h"
#include "ls_version.h"
#include "ls_ops.h"
#include "ls_signals.h"

/* A run's progress record is written at least every 25 leads; one that has
 * not changed for this long is a run that died. */
#define AS_STALE_US (30 * 1000000LL)

/* g_stop: SIGTERM/SIGINT (the process ends; a --once run stops on it).
 * g_run_stop: the daemon's run thread (raised on a revoke or at the end). */
static volatile sig_atomic_t g_stop;
static volatile int g_run_stop;

static void usage(FILE *f) {
  fprintf(f,
          "usage: leadsync-assurance [--config FILE] [--listen HOST:PORT]\n"
          "                          [--ready-file PATH] [--max-known-ids N]\n"
          "       leadsync-assurance --once [--tenant T] [--since DURATION]"
          " [--config FILE]\n"
          "Finds Smartlead events leadsync never received (dropped, shadowed"
          " or\n"
          "disabled webhooks) through the Smartlead API and back-fills them"
          " into the\n"
          "smartlead.* topics (docs/assurance.md). The daemon is"
          " leader-elected through\n"
          "the consumer group " AS_GROUP " on " AS_TOPIC_PROGRESS ".\n"
          "  --once             one run now, print a JSON summary, exit 0 when"
          " complete\n"
          "  --tenant T         only tenant T (default: every tenant with"
          " smartlead settings)\n"
          "  --since D          look back D (15m, 6h, 2d; default the tenant's"
          " lookback)\n"
          "  --version          print the version\n");
}

struct tenants {
  as_tenant *v;
  size_t n;
};

static bool load_tenants(const ls_config *cfg, const char *only,
                         struct tenants *ts) {
  ts->v = calloc(cfg->n_tenants + 1, sizeof *ts->v);
  ts->n = 0;
  for (size_t i = 0; i < cfg->n_tenants; i++) {
    if (only && strcmp(cfg->tenants[i].id, only))
      continue;
    char err[300];
    as_tenant t;
    if (!as_tenant_load(&cfg->tenants[i], &t, err, sizeof err)) {
      ls_error("bad smartlead settings", "{s:s}", "error", err);
      return false;
    }
    if (!t.api_key) {
      if (only)
        ls_error("tenant has no Smartlead API key", "{s:s,s:s}", "tenant", only,
                 "key", t.key_ref[0] ? t.key_ref : "(not configured)");
      as_tenant_free(&t);
      continue;
    }
    ts->v[ts->n++] = t;
  }
  return true;
}

static void tenants_free(struct tenants *ts) {
  for (size_t i = 0; i < ts->n; i++)
    as_tenant_free(&ts->v[i]);
  free(ts->v);
}

static rd_kafka_t *make_producer(const ls_config *cfg) {
  char err[512];
  rd_kafka_t *p = kq_producer_new(cfg, NULL, err, sizeof err);
  if (!p)
    ls_error("kafka producer", "{s:s}", "error", err);
  return p;
}

/* The last progress record of every tenant: partition 0 of the progress
 * topic read to its end (no group). */
static json_t *read_progress(const ls_config *cfg) {
  json_t *out = json_object();
  char err[512];
  kq_consumer_opts o = {.kind = KQ_READER,
                        .group_id = "leadsync-assurance-read"};
  rd_kafka_t *c = kq_consumer_new(cfg, &o, err, sizeof err);
  if (!c) {
    ls_warn("progress not read", "{s:s}", "error", err);
    return out;
  }
  int64_t lo = 0, hi = 0;
  if (rd_kafka_query_watermark_offsets(c, AS_TOPIC_PROGRESS, 0, &lo, &hi,
                                       10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      hi > lo) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, AS_TOPIC_PROGRESS, 0)->offset = lo;
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t deadline = ls_mono_us() + 30 * 1000000LL;
    while (ls_mono_us() < deadline) {
      rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
      if (!m)
        continue;
      if (!m->err && m->key && m->payload) {
        char key[LS_TENANT_MAX + 1];
        snprintf(key, sizeof key, "%.*s", (int)m->key_len,
                 (const char *)m->key);
        json_t *v = json_loadb(m->payload, m->len, 0, NULL);
        if (v)
          json_object_set_new(out, key, v);
      }
      bool end = !m->err && m->offset + 1 >= hi;
      rd_kafka_message_destroy(m);
      if (end)
        break;
    }
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
  return out;
}

static void update_lag(ls_metrics *m, const char *tenant, const json_t *p) {
  if (!p || strcmp(json_string_value(json_object_get(p, "state"))
                       ? json_string_value(json_object_get(p, "state"))
                       : "",
                   "done"))
    return;
  int64_t since = json_integer_value(json_object_get(p, "started_us"));
  if (!since)
    return;
  char lab[120];
  snprintf(lab, sizeof lab, "tenant=\"%s\"", tenant);
  ls_metrics_set(m, AS_M_LAG, AS_H_LAG, lab,
                 (double)(ls_now_us() - since) / 1e6);
}

static void declare_metrics(ls_metrics *m) {
  ls_metrics_declare(m, LS_COUNTER, AS_M_BACKFILLED, AS_H_BACKFILLED, NULL);
  ls_metrics_declare(m, LS_COUNTER, AS_M_API_CALLS, AS_H_API_CALLS, NULL);
  ls_metrics_declare(m, LS_COUNTER, AS_M_API_429, AS_H_API_429, NULL);
  ls_metrics_declare(m, LS_COUNTER, AS_M_RUNS, AS_H_RUNS, NULL);
  ls_metrics_declare(m, LS_GAUGE, AS_M_LAG, AS_H_LAG, NULL);
  ls_metrics_declare(m, LS_GAUGE, AS_M_LAST_BF, AS_H_LAST_BF, NULL);
  ls_metrics_declare(m, LS_GAUGE, AS_M_LAST_CALLS, AS_H_LAST_CALLS, NULL);
}

static void record_run(ls_metrics *m, const char *tenant, const as_result *r) {
  char lab[160];
  snprintf(lab, sizeof lab, "tenant=\"%s\",result=\"%s\"", tenant,
           r->completed ? "completed" : "incomplete");
  ls_metrics_inc(m, AS_M_RUNS, AS_H_RUNS, lab, 1);
  snprintf(lab, sizeof lab, "tenant=\"%s\"", tenant);
  ls_metrics_set(m, AS_M_LAST_BF, AS_H_LAST_BF, lab, (double)r->backfilled);
  ls_metrics_set(m, AS_M_LAST_CALLS, AS_H_LAST_CALLS, lab,
                 (double)r->api_calls);
}

static int run_once(const ls_config *cfg, const char *only, const char *since_s,
                    size_t max_ids) {
  struct tenants ts;
  if (!load_tenants(cfg, only, &ts)) {
    tenants_free(&ts);
    return 2;
  }
  if (only && !ts.n) {
    tenants_free(&ts);
    return 2;
  }
  int64_t since_d = 0;
  if (since_s && !as_parse_duration(since_s, &since_d)) {
    fprintf(stderr, "leadsync-assurance: --since wants 15m, 6h, 2d...\n");
    tenants_free(&ts);
    return 2;
  }
  rd_kafka_t *p = make_producer(cfg);
  if (!p) {
    tenants_free(&ts);
    return 1;
  }
  ls_metrics *m = ls_metrics_new();
  json_t *progress = read_progress(cfg);
  as_env env = {.cfg = cfg,
                .producer = p,
                .metrics = m,
                .stop = &g_stop,
                .max_known_ids = max_ids,
                .role_name = "assurance"};
  int rc = 0;
  json_t *summary = json_array();
  for (size_t i = 0; i < ts.n; i++) {
    const as_tenant *t = &ts.v[i];
    int64_t since = ls_now_us() - (since_d ? since_d : t->lookback_us);
    char run_id[64], err[400] = "";
    snprintf(run_id, sizeof run_id, "once-%lld", (long long)ls_now_us());
    as_result r;
    /* An explicit --since starts afresh; otherwise an unfinished run of
     * this tenant is resumed. */
    const json_t *prog =
        since_s ? NULL : json_object_get(progress, t->tenant->id);
    if (as_run_tenant(&env, t, since, prog, run_id, &r, err, sizeof err))
      rc = 1;
    record_run(m, t->tenant->id, &r);
    json_array_append_new(
        summary,
        json_pack("{s:s,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "tenant",
                  t->tenant->id, "completed", r.completed, "backfilled",
                  (json_int_t)r.backfilled, "candidates",
                  (json_int_t)r.candidates, "known_ids",
                  (json_int_t)r.known_ids, "leads", (json_int_t)r.leads,
                  "campaigns", (json_int_t)r.campaigns, "api_calls",
                  (json_int_t)r.api_calls, "api_429s", (json_int_t)r.api_429s,
                  "error", err));
  }
  char *text = json_dumps(summary, JSON_INDENT(2));
  printf("%s\n", text);
  free(text);
  json_decref(summary);
  json_decref(progress);
  rd_kafka_flush(p, 30000);
  rd_kafka_destroy(p);
  ls_metrics_free(m);
  tenants_free(&ts);
  return rc;
}

/* -- the daemon --------------------------------------------------------- */

struct daemon {
  const ls_config *cfg;
  struct tenants ts;
  rd_kafka_t *producer;
  ls_metrics *m;
  size_t max_ids;
  volatile int leader;
  pthread_t th;
  volatile int running; /* a run thread exists */
  volatile int run_done;
  json_t *progress; /* tenant -> last record (leader's view) */
  pthread_mutex_t mu;
};

static struct daemon *g_d;

struct job {
  struct daemon *d;
  size_t tenant;
  int64_t since;
  json_t *prog;
};

static void *run_thread(void *arg) {
  struct job *j = arg;
  struct daemon *d = j->d;
  const as_tenant *t = &d->ts.v[j->tenant];
  as_env env = {.cfg = d->cfg,
                .producer = d->producer,
                .metrics = d->m,
                .stop = &g_run_stop,
                .max_known_ids = d->max_ids,
                .role_name = "assurance"};
  char run_id[64], err[400] = "";
  snprintf(run_id, sizeof run_id, "run-%lld", (long long)ls_now_us());
  as_result r;
  int rc =
      as_run_tenant(&env, t, j->since, j->prog, run_id, &r, err, sizeof err);
  record_run(d->m, t->tenant->id, &r);
  ls_info("assurance run finished", "{s:s,s:b,s:I,s:I,s:I,s:I,s:s}", "tenant",
          t->tenant->id, "completed", r.completed, "backfilled",
          (json_int_t)r.backfilled, "leads", (json_int_t)r.leads, "api_calls",
          (json_int_t)r.api_calls, "api_429s", (json_int_t)r.api_429s, "error",
          rc ? err : "");
  json_decref(j->prog);
  free(j);
  d->run_done = 1;
  return NULL;
}

static void stop_run(struct daemon *d) {
  if (!d->running)
    return;
  g_run_stop = 1;
  pthread_join(d->th, NULL);
  d->running = 0;
  d->run_done = 0;
  if (!g_stop)
    g_run_stop = 0;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
  struct daemon *d = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    bool lead = false;
    for (int i = 0; i < parts->cnt; i++)
      if (parts->elems[i].partition == 0)
        lead = true;
    rd_kafka_assign(rk, parts);
    if (lead) {
      /* The leader's view of progress is read fresh, not from the group. */
      json_t *p = read_progress(d->cfg);
      pthread_mutex_lock(&d->mu);
      json_decref(d->progress);
      d->progress = p;
      pthread_mutex_unlock(&d->mu);
    }
    d->leader = lead;
    ls_info(lead ? "assurance leader" : "assurance standby", NULL);
  } else {
    /* Losing the lease: the run stops before the partition moves on. */
    d->leader = 0;
    stop_run(d);
    rd_kafka_assign(rk, NULL);
  }
}

static int daemon_main(const ls_config *cfg, const char *listen,
                       const char *ready_file, size_t max_ids) {
  struct daemon d = {.cfg = cfg, .max_ids = max_ids};
  pthread_mutex_init(&d.mu, NULL);
  g_d = &d;
  d.progress = json_object();
  int rc = 1;
  ls_ops *http = NULL;
  rd_kafka_t *c = NULL;
  if (!load_tenants(cfg, NULL, &d.ts))
    goto out;
  d.m = ls_metrics_new();
  declare_metrics(d.m);
  d.producer = make_producer(cfg);
  if (!d.producer)
    goto out;
  char err[512], url[200];
  volatile int ready = 0;
  http = ls_ops_start(listen, d.m, &ready, url, sizeof url, err, sizeof err);
  if (!http) {
    ls_error("http", "{s:s}", "error", err);
    goto out;
  }
  kq_consumer_opts co = {.kind = KQ_GROUP_MEMBER,
                         .group_id = AS_GROUP,
                         .on_rebalance = on_rebalance,
                         .opaque = &d,
                         .poll_set_consumer = true};
  c = kq_consumer_new(cfg, &co, err, sizeof err);
  if (!c) {
    ls_error("kafka consumer", "{s:s}", "error", err);
    goto out;
  }
  rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, AS_TOPIC_PROGRESS,
                                    RD_KAFKA_PARTITION_UA);
  rd_kafka_subscribe(c, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  ready = 1;
  if (ready_file && ls_write_file_atomic(ready_file, url) != 0)
    goto out;
  ls_info("assurance started", "{s:s,s:i}", "url", url, "tenants", (int)d.ts.n);
  size_t next = 0;
  while (!g_stop) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
    if (m) {
      if (!m->err && m->partition == 0 && m->key && m->payload) {
        char key[LS_TENANT_MAX + 1];
        snprintf(key, sizeof key, "%.*s", (int)m->key_len,
                 (const char *)m->key);
        json_t *v = json_loadb(m->payload, m->len, 0, NULL);
        pthread_mutex_lock(&d.mu);
        if (v)
          json_object_set_new(d.progress, key, v);
        pthread_mutex_unlock(&d.mu);
      }
      rd_kafka_message_destroy(m);
    }
    for (size_t i = 0; i < d.ts.n; i++) {
      pthread_mutex_lock(&d.mu);
      update_lag(d.m, d.ts.v[i].tenant->id,
                 json_object_get(d.progress, d.ts.v[i].tenant->id));
      pthread_mutex_unlock(&d.mu);
    }
    if (d.running && d.run_done) {
      pthread_join(d.th, NULL);
      d.running = 0;
      d.run_done = 0;
    }
    if (!d.leader || d.running || !d.ts.n)
      continue;
    /* Round robin over tenants: the next one that is due. */
    for (size_t k = 0; k < d.ts.n; k++) {
      size_t i = (next + k) % d.ts.n;
      const as_tenant *t = &d.ts.v[i];
      pthread_mutex_lock(&d.mu);
      json_t *p = json_object_get(d.progress, t->tenant->id);
      const char *st = json_string_value(json_object_get(p, "state"));
      int64_t started = json_integer_value(json_object_get(p, "started_us"));
      int64_t since = ls_now_us() - t->lookback_us;
      /* A "running" record that is still being updated belongs to a live
       * run (`leadsync assure`, or a leader on its way out): resume it
       * only once it went quiet. */
      int64_t at_us = 0;
      const char *at = json_string_value(json_object_get(p, "at"));
      bool stale = !at || !ls_time_parse(at, &at_us) ||
                   ls_now_us() - at_us >= AS_STALE_US;
      bool due = !p || (st && !strcmp(st, "running") && stale) ||
                 (!(st && !strcmp(st, "running")) &&
                  ls_now_us() - started >= t->schedule_us);
      /* Cover from where the last completed run started (an hour's
       * overlap), never further back than the look-back. */
      if (p && st && !strcmp(st, "done") && started - 3600000000LL > since)
        since = started - 3600000000LL;
      json_t *copy =
          p && st && !strcmp(st, "running") ? json_deep_copy(p) : NULL;
      pthread_mutex_unlock(&d.mu);
      if (!due) {
        json_decref(copy);
        continue;
      }
      struct job *j = calloc(1, sizeof *j);
      *j = (struct job){&d, i, since, copy};
      d.running = 1;
      d.run_done = 0;
      if (pthread_create(&d.th, NULL, run_thread, j)) {
        d.running = 0;
        json_decref(copy);
        free(j);
      }
      next = i + 1;
      break;
    }
  }
  rc = 0;
out:
  g_run_stop = 1;
  stop_run(&d);
  if (c) {
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
  }
  ls_ops_stop(http);
  if (d.producer) {
    rd_kafka_flush(d.producer, 10000);
    rd_kafka_destroy(d.producer);
  }
  ls_metrics_free(d.m);
  json_decref(d.progress);
  tenants_free(&d.ts);
  pthread_mutex_destroy(&d.mu);
  return rc;
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "leadsync-assurance"))
    return 0;
  const char *config = getenv("LEADSYNC_CONFIG"), *listen = "127.0.0.1:9096",
             *ready = NULL, *tenant = NULL, *since = NULL;
  bool once = false;
  size_t max_ids = 2000000;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool takes = !strcmp(a, "--config") || !strcmp(a, "--listen") ||
                 !strcmp(a, "--ready-file") || !strcmp(a, "--tenant") ||
                 !strcmp(a, "--since") || !strcmp(a, "--max-known-ids");
    if (takes && !v) {
      fprintf(stderr, "leadsync-assurance: %s needs a value\n", a);
      return 2;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--config")) {
      config = v;
    } else if (!strcmp(a, "--listen")) {
      listen = v;
    } else if (!strcmp(a, "--ready-file")) {
      ready = v;
    } else if (!strcmp(a, "--tenant")) {
      tenant = v;
    } else if (!strcmp(a, "--since")) {
      since = v;
    } else if (!strcmp(a, "--max-known-ids")) {
      max_ids = (size_t)strtoull(v, NULL, 10);
    } else if (!strcmp(a, "--once")) {
      once = true;
    } else {
      fprintf(stderr, "leadsync-assurance: unknown option %s\n", a);
      usage(stderr);
      return 2;
    }
    if (takes)
      i++;
  }
  if (!config) {
    fprintf(stderr, "leadsync-assurance: --config FILE (or LEADSYNC_CONFIG) "
                    "is required\n");
    return 2;
  }
  ls_log_init("assurance");
  char err[1024];
  ls_config *cfg = NULL;
  if (ls_config_load(config, &cfg, err, sizeof err) != LS_OK) {
    fprintf(stderr, "leadsync-assurance: %s\n", err);
    return 2;
  }
  ls_signals_install(&g_stop);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = once ? run_once(cfg, tenant, since, max_ids)
                : daemon_main(cfg, listen, ready, max_ids);
  curl_global_cleanup();
  ls_config_free(cfg);
  return rc;
}
