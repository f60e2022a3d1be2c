/* main.c: hubspot-emulator's flags, config file, signal flag and wait loop.
 * Everything else lives in the emu_*.c modules. */
#include "dev_http.h"
#include "emu.h"
#include "ls_version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out) {
  fprintf(out,
          "usage: hubspot-emulator [options]\n"
          "  --listen HOST:PORT        listen address (default 127.0.0.1:8091;"
          " port 0 = any free port)\n"
          "  --ready-file PATH         once listening, write the base URL to "
          "PATH (atomically)\n"
          "  --token TOKEN[:TIER[:PORTAL_ID]]  a private-app token "
          "(repeatable); TIER is\n"
          "                            free|starter|professional|enterprise|"
          "increase\n"
          "  --config FILE             JSON: {\"portals\":[{token, portal_id, "
          "tier, requests_per_10s,\n"
          "                            daily_limit, scopes, oauth}], "
          "search_lag_ms, retry_after, latency_ms}\n"
          "  --retry-after             send Retry-After on 429 and 423\n"
          "  --search-lag-ms N         search index lag (default %d)\n"
          "  --latency-ms N            latency added to every API answer\n"
          "  --quiet                   no log lines\n"
          "  --version                 print the version and exit\n"
          "Without --token/--config: token %s, portal %d, professional.\n",
          EMU_DEFAULT_SEARCH_LAG_MS, EMU_DEFAULT_TOKEN, EMU_DEFAULT_PORTAL);
}

static bool parse_nonneg(const char *flag, const char *s, int *out) {
  long v;
  if (!emu_parse_long(s, &v) || v < 0 || v > 3600000) {
    fprintf(stderr,
            "hubspot-emulator: %s wants a non-negative integer, got "
            "\"%s\"\n",
            flag, s);
    return false;
  }
  *out = (int)v;
  return true;
}

/* TOKEN[:TIER[:PORTAL_ID]] */
static bool add_token_flag(struct emu *e, const char *arg) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", arg);
  char *tier = strchr(buf, ':'), *pid = NULL;
  if (tier) {
    *tier++ = '\0';
    pid = strchr(tier, ':');
    if (pid)
      *pid++ = '\0';
  }
  json_t *entry = json_pack("{s:s}", "token", buf);
  if (tier && *tier)
    json_object_set_new(entry, "tier", json_string(tier));
  if (pid) {
    long v;
    if (!emu_parse_long(pid, &v) || v <= 0) {
      fprintf(stderr, "hubspot-emulator: --token %s: bad portal id\n", buf);
      json_decref(entry);
      return false;
    }
    json_object_set_new(entry, "portal_id", json_integer(v));
  }
  char err[200];
  bool ok = emu_portal_apply(e, entry, err, sizeof err);
  if (!ok)
    fprintf(stderr, "hubspot-emulator: --token: %s\n", err);
  json_decref(entry);
  return ok;
}

static bool load_config(struct emu *e, const char *path) {
  json_error_t jerr;
  json_t *cfg = json_load_file(path, 0, &jerr);
  if (!cfg) {
    fprintf(stderr, "hubspot-emulator: %s:%d:%d: %s\n", path, jerr.line,
            jerr.column, jerr.text);
    return false;
  }
  bool ok = false;
  json_t *portals = json_object_get(cfg, "portals");
  if (!json_is_object(cfg) || (portals && !json_is_array(portals))) {
    fprintf(stderr,
            "hubspot-emulator: %s: want an object with a portals "
            "array\n",
            path);
    goto out;
  }
  size_t i;
  json_t *p;
  json_array_foreach(portals, i, p) {
    char err[200];
    if (!emu_portal_apply(e, p, err, sizeof err)) {
      fprintf(stderr, "hubspot-emulator: %s: portals[%zu]: %s\n", path, i, err);
      goto out;
    }
  }
  json_t *v;
  if (json_is_integer(v = json_object_get(cfg, "search_lag_ms")))
    e->search_lag_ms = (int)json_integer_value(v);
  if (json_is_integer(v = json_object_get(cfg, "latency_ms")))
    e->base_latency_ms = (int)json_integer_value(v);
  if (json_is_boolean(v = json_object_get(cfg, "retry_after")))
    e->retry_after = json_is_true(v);
  if (json_is_boolean(v = json_object_get(cfg, "upsert_echo")))
    e->upsert_no_echo = !json_is_true(v);
  if (json_is_boolean(v = json_object_get(cfg, "shuffle_results")))
    e->shuffle_results = json_is_true(v);
  ok = true;
out:
  json_decref(cfg);
  return ok;
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "hubspot-emulator"))
    return 0;
  struct emu e;
  emu_init(&e);
  const char *listen = "127.0.0.1:8091", *ready = NULL;
  int rc = 2;
  void *daemon = NULL;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    bool takes = strcmp(a, "--listen") == 0 || strcmp(a, "--ready-file") == 0 ||
                 strcmp(a, "--token") == 0 || strcmp(a, "--config") == 0 ||
                 strcmp(a, "--search-lag-ms") == 0 ||
                 strcmp(a, "--latency-ms") == 0;
    if (takes && !val) {
      fprintf(stderr, "hubspot-emulator: %s needs a value\n", a);
      goto out;
    }
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      rc = 0;
      goto out;
    } else if (strcmp(a, "--listen") == 0) {
      listen = val;
    } else if (strcmp(a, "--ready-file") == 0) {
      ready = val;
    } else if (strcmp(a, "--token") == 0) {
      if (!add_token_flag(&e, val))
        goto out;
    } else if (strcmp(a, "--config") == 0) {
      if (!load_config(&e, val))
        goto out;
    } else if (strcmp(a, "--search-lag-ms") == 0) {
      if (!parse_nonneg(a, val, &e.search_lag_ms))
        goto out;
    } else if (strcmp(a, "--latency-ms") == 0) {
      if (!parse_nonneg(a, val, &e.base_latency_ms))
        goto out;
    } else if (strcmp(a, "--retry-after") == 0) {
      e.retry_after = true;
    } else if (strcmp(a, "--quiet") == 0) {
      e.quiet = true;
    } else {
      fprintf(stderr, "hubspot-emulator: unknown option %s\n", a);
      usage(stderr);
      goto out;
    }
    if (takes)
      i++;
  }
  if (e.n_apps == 0 && !add_token_flag(&e, EMU_DEFAULT_TOKEN ":professional"
                                                             ":1000001"))
    goto out;

  char host[256];
  int port;
  if (!dev_parse_listen(listen, host, sizeof host, &port)) {
    fprintf(stderr, "hubspot-emulator: --listen wants HOST:PORT, got \"%s\"\n",
            listen);
    goto out;
  }
  dev_install_signals();

  char err[200];
  int bound;
  if (emu_http_start(&e, host, port, &bound, &daemon, err, sizeof err)) {
    fprintf(stderr, "hubspot-emulator: %s\n", err);
    rc = 1;
    goto out;
  }
  char url[300];
  dev_base_url(url, sizeof url, host, bound, "");
  emu_logf(&e, "listening on %s (%zu portal(s), search lag %d ms)", url,
           e.n_portals, e.search_lag_ms);
  if (ready && !dev_write_ready_file(ready, url)) {
    fprintf(stderr, "hubspot-emulator: %s: %s\n", ready, strerror(errno));
    rc = 1;
    goto out;
  }
  dev_wait_for_stop();
  emu_logf(&e, "stopping");
  rc = 0;
out:
  dev_http_stop(daemon);
  emu_free(&e);
  return rc;
}
