/* leadsync-console: the operations console (flags, config, loop). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "con_auth.h"
#include "con_http.h"
#include "con_ops.h"
#include "con_quota.h"
#include "con_store.h"
#include "con_tail.h"
#include "ing_arena.h"
#include "ls_config.h"
#include "ls_file.h"
#include "ls_log.h"
#include "ls_metrics.h"
#include "ls_net.h"
#include "ls_version.h"
#include "ls_signals.h"

#ifndef LS_CONSOLE_WWW
#define LS_CONSOLE_WWW "/usr/share/leadsync/console"
#endif

static volatile sig_atomic_t stop_flag = 0;

static void usage(FILE *f) {
  fprintf(f,
          "usage: leadsync-console [--config FILE] [--listen HOST:PORT]\n"
          "                        [--db PATH] [--rebuild] [--www DIR]\n"
          "                        [--ready-file PATH]\n"
          "       leadsync-console --hash-password   (reads it from stdin)\n"
          "       leadsync-console --version\n"
          "The operations console: a read model of the Kafka topics in\n"
          "SQLite (--db, default console.db_path), the JSON API under\n"
          "/api/v1 and the web UI. --rebuild drops the read model and reads\n"
          "Kafka again. --config defaults to $LEADSYNC_CONFIG; --listen\n"
          "overrides console.listen (default 127.0.0.1:8088). The ready\n"
          "file receives the base URL. docs/console.md has the rest.\n");
}

static int hash_password(void) {
  char pw[512];
  if (!fgets(pw, sizeof pw, stdin)) {
    fprintf(stderr, "leadsync-console: no password on stdin\n");
    return 2;
  }
  pw[strcspn(pw, "\r\n")] = '\0';
  if (strlen(pw) < 8) {
    fprintf(stderr, "leadsync-console: use at least 8 characters\n");
    return 2;
  }
  char out[256];
  if (!con_auth_hash_password(pw, 200000, out, sizeof out))
    return 1;
  printf("%s\n", out);
  return 0;
}

static const char *cstr(const json_t *c, const char *k, const char *dflt) {
  const char *v = json_string_value(json_object_get(c, k));
  return v ? v : dflt;
}

int main(int argc, char **argv) {
  const char *config_path = getenv("LEADSYNC_CONFIG");
  const char *listen = NULL, *ready_file = NULL, *db = NULL, *www = NULL;
  bool rebuild = false;
  char errstr[LS_ERRSTR_SIZE];
  int rc = 1;
  ls_config *cfg = NULL;
  ls_metrics *metrics = NULL;
  con_auth *auth = NULL;
  con_ops *ops = NULL;
  con_tail *tail = NULL;
  con_quota *quota = NULL;
  con_server *srv = NULL;

  if (ls_version_flag(argc, argv, "leadsync-console"))
    return 0;
  /* jansson's allocator is set once, before any thread (con_ops' routing
   * installs it too; ing_arena.h). */
  ing_arena_install();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--hash-password")) {
      return hash_password();
    } else if (!strcmp(a, "--rebuild")) {
      rebuild = true;
    } else if (!strcmp(a, "--config") && v) {
      config_path = argv[++i];
    } else if (!strcmp(a, "--listen") && v) {
      listen = argv[++i];
    } else if (!strcmp(a, "--ready-file") && v) {
      ready_file = argv[++i];
    } else if (!strcmp(a, "--db") && v) {
      db = argv[++i];
    } else if (!strcmp(a, "--www") && v) {
      www = argv[++i];
    } else {
      usage(stderr);
      return 2;
    }
  }
  ls_log_init("console");
  if (!config_path || !*config_path) {
    fprintf(stderr, "leadsync-console: no config (--config or "
                    "LEADSYNC_CONFIG)\n");
    return 2;
  }
  if (ls_config_load(config_path, &cfg, errstr, sizeof errstr) != LS_OK) {
    ls_error("invalid configuration", "{s:s}", "error", errstr);
    fprintf(stderr, "leadsync-console: %s\n", errstr);
    return 2;
  }
  const json_t *ccfg = json_object_get(cfg->root, "console");
  if (!listen)
    listen = cstr(ccfg, "listen", "127.0.0.1:8088");
  if (!db)
    db = cstr(ccfg, "db_path", "console.db");
  if (!www)
    www = getenv("LEADSYNC_CONSOLE_WWW") ? getenv("LEADSYNC_CONSOLE_WWW")
                                         : LS_CONSOLE_WWW;
  char host[256], port[16];
  if (!ls_split_listen(listen, host, sizeof host, port, sizeof port)) {
    fprintf(stderr, "leadsync-console: listen: want HOST:PORT, got %s\n",
            listen);
    goto out;
  }
  if (con_auth_new(ccfg, &auth, errstr, sizeof errstr) != LS_OK) {
    fprintf(stderr, "leadsync-console: %s\n", errstr);
    rc = 2;
    goto out;
  }
  ls_signals_install(&stop_flag);

  metrics = ls_metrics_new();
  if (metrics) {
    ls_metrics_declare(metrics, LS_COUNTER, "leadsync_console_requests_total",
                       "HTTP requests answered by the console", NULL);
    ls_metrics_declare(metrics, LS_COUNTER,
                       "leadsync_console_records_applied_total",
                       "Kafka records applied to the read model", NULL);
  }
  con_store *store = NULL;
  if (con_store_open(db, rebuild, &store, errstr, sizeof errstr) != LS_OK) {
    ls_error("cannot open the read model", "{s:s}", "error", errstr);
    goto out;
  }
  if (con_tail_start(cfg, store, metrics, &tail, errstr, sizeof errstr) !=
          LS_OK ||
      con_ops_new(cfg, &ops, errstr, sizeof errstr) != LS_OK) {
    ls_error("cannot start Kafka clients", "{s:s}", "error", errstr);
    goto out;
  }
  json_t *probe = json_object_get(ccfg, "quota_probe_s");
  quota = con_quota_start(cfg, probe ? (int)json_integer_value(probe) : 60);
  con_http_opts o = {
      .cfg = cfg,
      .db_path = db,
      .www_dir = www,
      .ingress_url = cstr(ccfg, "ingress_url", ""),
      .hubspot_app_url =
          cstr(ccfg, "hubspot_app_url", "https://app.hubspot.com"),
      .portals = json_object_get(ccfg, "hubspot_portals"),
      .cookie_secure = !json_is_false(json_object_get(ccfg, "cookie_secure")),
      .auth = auth,
      .ops = ops,
      .tail = tail,
      .quota = quota,
      .metrics = metrics,
  };
  char url[300];
  if (con_http_start(&o, listen, &srv, url, sizeof url, errstr,
                     sizeof errstr) != LS_OK) {
    ls_error("cannot listen", "{s:s}", "error", errstr);
    goto out;
  }
  /* The config's sources go onto the topic once, so it lists them all. */
  if (con_ops_seed_sources(ops, errstr, sizeof errstr) != LS_OK)
    ls_warn("sources not seeded", "{s:s}", "error", errstr);
  ls_info("listening", "{s:s,s:s}", "url", url, "db", db);
  if (ready_file) {
    char line[320];
    snprintf(line, sizeof line, "%s\n", url);
    ls_write_file_atomic(ready_file, line);
  }
  while (!stop_flag) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
  ls_info("stopping", NULL);
  rc = 0;
out:
  con_http_stop(srv);
  con_quota_stop(quota);
  con_tail_stop(tail);
  con_ops_free(ops);
  con_auth_free(auth);
  ls_metrics_free(metrics);
  ls_config_free(cfg);
  return rc;
}
