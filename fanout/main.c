/* leadsync-fanout: delivers each tenant's Smartlead events to its extra
 * endpoints (webhooks, Slack) with retries, signatures and a DLQ per
 * endpoint (docs/fanout.md). */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fo_engine.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_version.h"
#include "ls_ops.h"
#include "ls_env.h"
#include "ls_signals.h"

static volatile sig_atomic_t stop_flag;

static void usage(FILE *f) {
  fprintf(f, "usage: leadsync-fanout --config FILE [--endpoints ID,ID]\n"
             "                       [--listen HOST:PORT] [--ready-file PATH]\n"
             "       leadsync-fanout --version | --help\n"
             "Delivers the smartlead.* events of each tenant to the endpoints\n"
             "in its config (tenants[].endpoints), one consumer group per\n"
             "endpoint (leadsync-fanout-<id>). --endpoints picks the set this\n"
             "process serves (default: all). Env: LEADSYNC_CONFIG,\n"
             "LEADSYNC_ENDPOINTS, LEADSYNC_LISTEN. Serves /metrics, /healthz,\n"
             "/readyz (default 127.0.0.1:9104, fanout.listen).\n");
}

static bool in_list(const char *list, const char *id) {
  size_t n = strlen(id);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ", ");
    if (k == n && !strncmp(p, id, n))
      return true;
    p += k;
    p += strspn(p, ", ");
  }
  return false;
}

/* Keeps the endpoints named in list (all when NULL); false when a name is
 * unknown. */
static bool select_set(ls_endpoint *all, size_t n, const char *list,
                       ls_endpoint **out, size_t *n_out) {
  *out = calloc(n ? n : 1, sizeof **out);
  *n_out = 0;
  if (!*out)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!list || in_list(list, all[i].id))
      (*out)[(*n_out)++] = all[i];
  if (!list)
    return true;
  size_t named = 0;
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ", ");
    named += k > 0;
    p += k;
    p += strspn(p, ", ");
  }
  return named == *n_out;
}

int main(int argc, char **argv) {
  const char *config = NULL, *listen = NULL, *ready_file = NULL;
  const char *set = NULL;
  if (ls_version_flag(argc, argv, "leadsync-fanout"))
    return 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--config") && v)
      config = v, i++;
    else if (!strcmp(a, "--endpoints") && v)
      set = v, i++;
    else if (!strcmp(a, "--listen") && v)
      listen = v, i++;
    else if (!strcmp(a, "--ready-file") && v)
      ready_file = v, i++;
    else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  config = ls_env_or(config, "LEADSYNC_CONFIG");
  set = ls_env_or(set, "LEADSYNC_ENDPOINTS");
  listen = ls_env_or(listen, "LEADSYNC_LISTEN");
  ls_log_init("fanout");
  if (!config) {
    usage(stderr);
    return 2;
  }
  ls_signals_install(&stop_flag);

  int rc = 1;
  char err[LS_ERRSTR_SIZE], url[160] = "";
  ls_config *cfg = NULL;
  ls_endpoint *all = NULL, *mine = NULL;
  size_t n_all = 0, n_mine = 0;
  ls_metrics *metrics = NULL;
  ls_ops *http = NULL;
  fo_engine *eng = NULL;
  volatile int ready = 0;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (ls_config_load(config, &cfg, err, sizeof err) != LS_OK ||
      ls_endpoints_load(cfg, &all, &n_all, err, sizeof err) != LS_OK) {
    ls_error("invalid configuration", "{s:s}", "error", err);
    goto out;
  }
  if (!select_set(all, n_all, set, &mine, &n_mine)) {
    ls_error("--endpoints names an endpoint that is not in the config", "{s:s}",
             "endpoints", set);
    goto out;
  }
  if (!n_mine) {
    ls_error("no endpoints to serve", NULL);
    goto out;
  }
  metrics = ls_metrics_new();
  if (!metrics)
    goto out;
  http = ls_ops_start(listen ? listen : cfg->fanout.listen, metrics, &ready,
                      url, sizeof url, err, sizeof err);
  if (!http) {
    ls_error("cannot start the HTTP server", "{s:s}", "error", err);
    goto out;
  }
  fo_opts o = {
      .cfg = cfg,
      .eps = mine,
      .n_eps = n_mine,
      .metrics = metrics,
      .stop = &stop_flag,
      .max_pending = cfg->fanout.max_pending,
      .drain_ms = cfg->fanout.drain_ms,
      .order_window_ms = cfg->fanout.order_window_ms,
      .catchup_ms = cfg->fanout.catchup_ms,
      .seen_max = cfg->fanout.seen_max,
  };
  eng = fo_engine_new(&o, err, sizeof err);
  if (!eng) {
    ls_error("cannot start the fan-out", "{s:s}", "error", err);
    goto out;
  }
  ready = 1;
  if (ready_file && ls_write_file_atomic(ready_file, url) != 0) {
    ls_error("cannot write the ready file", "{s:s}", "path", ready_file);
    goto out;
  }
  ls_info("fanout ready", "{s:s,s:i}", "url", url, "endpoints", (int)n_mine);
  rc = fo_engine_run(eng);
  ls_info("shutting down", NULL);
out:
  ready = 0;
  fo_engine_free(eng);
  ls_ops_stop(http);
  ls_metrics_free(metrics);
  free(mine);
  ls_endpoints_free(all, n_all);
  ls_config_free(cfg);
  curl_global_cleanup();
  ls_info("stopped", "{s:i}", "rc", rc);
  return rc;
}
