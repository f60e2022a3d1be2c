/* leadsync-ingress: Smartlead webhooks -> Kafka (flags, config, loop). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ing_http.h"
#include "ing_metrics.h"
#include "ing_variation.h"
#include "ing_produce.h"
#include "ing_ratelimit.h"
#include "ing_route.h"
#include "ls_config.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_metrics.h"
#include "ls_time.h"
#include "ls_version.h"
#include "ls_signals.h"

static volatile sig_atomic_t stop_flag = 0;

static void usage(FILE *f) {
  fprintf(
      f, "usage: leadsync-ingress [--config FILE] [--listen HOST:PORT]\n"
         "                        [--ready-file PATH] [--version]\n"
         "Accepts Smartlead webhooks on POST /v1/webhooks/smartlead/TOKEN\n"
         "and publishes them to Kafka. --config defaults to $LEADSYNC_CONFIG;\n"
         "--listen overrides ingress.listen; the ready file receives the\n"
         "base URL once Kafka metadata is known. SIGTERM drains and exits.\n");
}

static void nap_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* 1000+ concurrent connections need more descriptors than the usual
 * soft limit of 1024. */
static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* SIGTERM: refuse new work, let every waiting request get its answer, then
 * keep answering (503) until the clients go quiet. */
static void drain(ing_server *srv, long drain_timeout_s) {
  long long start = ls_mono_us();
  long long deadline = start + drain_timeout_s * 1000000LL;
  ing_http_drain(srv);
  ls_info("draining", "{s:i}", "waiting", (int)ing_http_waiting(srv));
  while (ls_mono_us() < deadline) {
    ing_http_tick(srv);
    long long idle = ls_mono_us() - ing_http_last_request_us(srv);
    if (ing_http_waiting(srv) == 0 && idle > 300000)
      break;
    nap_ms(20);
  }
  ing_http_quiesce(srv);
  while (ls_mono_us() < deadline && ing_http_open_requests(srv) > 0) {
    ing_http_tick(srv);
    nap_ms(20);
  }
}

int main(int argc, char **argv) {
  const char *config_path = getenv("LEADSYNC_CONFIG");
  const char *listen = NULL, *ready_file = NULL;
  char errstr[LS_ERRSTR_SIZE];
  int rc = 1;
  ls_config *cfg = NULL;
  ls_metrics *metrics = NULL;
  ing_schemas *schemas = NULL;
  ing_ratelimit *rl = NULL;
  ing_server *srv = NULL;
  ing_producer *prod = NULL;
  ing_sources *sources = NULL;

  if (ls_version_flag(argc, argv, "leadsync-ingress"))
    return 0;
  ls_log_init("ingress");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--config") && v) {
      config_path = v;
      i++;
    } else if (!strcmp(a, "--listen") && v) {
      listen = v;
      i++;
    } else if (!strcmp(a, "--ready-file") && v) {
      ready_file = v;
      i++;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (!config_path || !*config_path) {
    fprintf(stderr, "leadsync-ingress: no config (--config or "
                    "LEADSYNC_CONFIG)\n");
    return 2;
  }
  if (ls_config_load(config_path, &cfg, errstr, sizeof errstr) != LS_OK) {
    ls_error("invalid configuration", "{s:s}", "error", errstr);
    fprintf(stderr, "leadsync-ingress: %s\n", errstr);
    return 2;
  }
  ls_config_log_problems(cfg);
  if (!listen)
    listen = cfg->ingress.listen;

  char sdir[1024];
  snprintf(sdir, sizeof sdir, "%s/smartlead", ls_schema_dir());
  schemas = ing_schemas_load(sdir, errstr, sizeof errstr);
  if (!schemas) {
    ls_error("cannot load the event schemas", "{s:s}", "error", errstr);
    goto out;
  }
  raise_nofile();
  ls_signals_install(&stop_flag);

  metrics = ls_metrics_new();
  if (metrics) {
    ing_metrics_declare(metrics, cfg);
    ing_variation_declare(metrics);
  }
  rl = ing_ratelimit_new(cfg);
  /* Sources added or rotated on leadsync.sources apply without a restart. */
  sources = ing_sources_start(cfg, errstr, sizeof errstr);
  if (!sources)
    ls_warn("leadsync.sources not followed: config sources only", "{s:s}",
            "error", errstr);
  /* Sizes agree end to end: a body plus the room for key and headers must
   * fit the producer's message.max.bytes, or Kafka would refuse it. */
  long msg_max = ing_producer_message_max(cfg, errstr, sizeof errstr);
  if (msg_max < 0) {
    ls_error("invalid kafka properties", "{s:s}", "error", errstr);
    fprintf(stderr, "leadsync-ingress: %s\n", errstr);
    rc = 2;
    goto out;
  }
  long body_cap = msg_max - ING_KAFKA_ROOM;
  long max_body = cfg->ingress.max_body_bytes;
  if (max_body < 0)
    max_body = body_cap;
  if (body_cap < 1 || max_body > body_cap) {
    snprintf(errstr, sizeof errstr,
             "ingress.max_body_bytes %ld does not fit kafka message.max.bytes "
             "%ld minus %ld bytes kept for key and headers (at most %ld)",
             max_body, msg_max, ING_KAFKA_ROOM, body_cap);
    ls_error("invalid configuration", "{s:s}", "error", errstr);
    fprintf(stderr, "leadsync-ingress: %s\n", errstr);
    rc = 2;
    goto out;
  }
  /* The typed "ingress" section: in range, or the config did not load. */
  const ls_ingress_conf *ic = &cfg->ingress;
  ing_http_opts o = {
      .cfg = cfg,
      .schemas = schemas,
      .rl = rl,
      .metrics = metrics,
      .max_body = (size_t)max_body,
      .kafka_timeout_ms = (int)ic->kafka_timeout_ms,
      .max_depth = (int)ic->max_json_depth,
      .max_conns = (unsigned)ic->max_connections,
      .conn_timeout_s = (unsigned)ic->connection_timeout_s,
      .threads = (unsigned)ic->threads,
      .retry_after_s = (int)ic->retry_after_s,
      .sources = sources,
      .header_timeout_ms = ic->header_timeout_ms,
      .request_timeout_ms = ic->request_timeout_ms,
      .max_conns_per_ip = (unsigned)ic->max_connections_per_ip,
      .body_budget = (size_t)ic->max_body_bytes_in_flight,
  };
  if (o.body_budget < o.max_body) {
    snprintf(errstr, sizeof errstr,
             "ingress.max_body_bytes_in_flight %zu is below max_body_bytes %zu",
             o.body_budget, o.max_body);
    ls_error("invalid configuration", "{s:s}", "error", errstr);
    fprintf(stderr, "leadsync-ingress: %s\n", errstr);
    rc = 2;
    goto out;
  }
  long drain_s = ic->drain_timeout_s;
  if (!metrics || !rl || !(srv = ing_http_new(&o))) {
    ls_error("out of memory", NULL);
    goto out;
  }
  prod = ing_producer_new(cfg, o.kafka_timeout_ms, metrics, ing_http_delivered,
                          srv, errstr, sizeof errstr);
  if (!prod) {
    ls_error("cannot create the kafka producer", "{s:s}", "error", errstr);
    goto out;
  }
  ing_http_set_sink(srv, ing_producer_sink(prod));
  char url[300];
  if (!ing_http_listen(srv, listen, url, sizeof url, errstr, sizeof errstr)) {
    ls_error("cannot start the http server", "{s:s}", "error", errstr);
    goto out;
  }
  ls_info("listening, waiting for kafka metadata", "{s:s,s:s}", "url", url,
          "bootstrap", cfg->bootstrap);
  while (!stop_flag && !ing_producer_warm_up(prod, 2000))
    nap_ms(200);
  /* Ready once the sources that exist are known (bounded: an unreachable
   * topic leaves the config's sources in force). */
  for (int i = 0;
       sources && i < 150 && !stop_flag && !ing_sources_caught_up(sources); i++)
    nap_ms(100);
  if (!stop_flag) {
    if (ready_file && ls_write_file_atomic(ready_file, url) != 0) {
      ls_error("cannot write the ready file", "{s:s}", "path", ready_file);
      goto out;
    }
    ls_info("ready", "{s:s}", "url", url);
  }
  rc = 0;
  while (!stop_flag) {
    ing_http_tick(srv);
    if (ing_producer_fatal(prod)) {
      ls_error("kafka producer failed fatally, shutting down", NULL);
      rc = 1;
      break;
    }
    nap_ms(100);
  }
  drain(srv, drain_s);
  /* Whatever is still queued gets its report (or a purge) now, so no
   * suspended connection is left behind when the server stops. */
  int left = ing_producer_flush(prod, 5000);
  for (int i = 0; i < 100 && ing_http_waiting(srv) > 0; i++) {
    ing_http_tick(srv);
    nap_ms(20);
  }
  ing_http_stop(srv);
  ls_info("stopped", "{s:i}", "undelivered", left);
out:
  ing_producer_free(prod);
  ing_http_free(srv);
  ing_sources_stop(sources);
  ing_ratelimit_free(rl);
  ing_schemas_free(schemas);
  ls_metrics_free(metrics);
  ls_config_free(cfg);
  return rc;
}
