/* smartlead-emulator: a local stand-in for Smartlead's API and for Smartlead
 * itself posting webhooks (docs/smartlead-emulator.md). */
#include "sl_emu.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev_http.h"
#include "ls_time.h"
#include "ls_version.h"

/* The account's data (what /_emulator/reset forgets). */
static void drop_data(struct sl_emu *e) {
  json_decref(e->campaigns);
  json_decref(e->webhooks);
  json_decref(e->leads);
  json_decref(e->sent);
  json_decref(e->events);
  json_decref(e->counters);
}

void sl_emu_reset_locked(struct sl_emu *e) {
  drop_data(e);
  e->campaigns = json_array();
  e->webhooks = json_array();
  e->leads = json_array();
  e->sent = json_array();
  e->events = json_array();
  e->counters = json_object();
  e->next_webhook_id = 671001;
  e->ring_len = 0;
}

void sl_emu_init(struct sl_emu *e) {
  memset(e, 0, sizeof *e);
  pthread_mutex_init(&e->mu, NULL);
  snprintf(e->api_key, sizeof e->api_key, "%s", SL_DEFAULT_API_KEY);
  snprintf(e->secret_key, sizeof e->secret_key, "%s",
           "00000000-1111-4222-8333-444444444444");
  e->rate_requests = 10;
  e->rate_window_ms = 2000;
  e->faults = json_object();
  sl_emu_reset_locked(e);
}

void sl_emu_free(struct sl_emu *e) {
  drop_data(e);
  json_decref(e->faults);
  pthread_mutex_destroy(&e->mu);
}

void sl_count(struct sl_emu *e, const char *group, const char *key, long n) {
  json_t *g = json_object_get(e->counters, group);
  if (!g) {
    g = json_object();
    json_object_set_new(e->counters, group, g);
  }
  json_object_set_new(
      g, key, json_integer(json_integer_value(json_object_get(g, key)) + n));
}

void sl_logf(struct sl_emu *e, const char *fmt, ...) {
  if (e->quiet)
    return;
  char msg[512], ts[40];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ls_time_format_ms(ls_now_us(), ts, sizeof ts);
  json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", "info",
                        "component", "smartlead-emulator", "msg", msg);
  char *line = json_dumps(o, JSON_COMPACT);
  fprintf(stderr, "%s\n", line);
  free(line);
  json_decref(o);
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: smartlead-emulator [options]\n"
          "  --listen HOST:PORT     listen address (default 127.0.0.1:8094;"
          " port 0 = any)\n"
          "  --ready-file PATH      once listening, write the API base URL"
          " (http://H:P/api/v1)\n"
          "  --api-key KEY          the account's API key (default %s)\n"
          "  --rate N/MS            API limit, N requests per MS milliseconds"
          " (default 10/2000;\n"
          "                         0/1 = unlimited)\n"
          "  --retry-after          send Retry-After on 429 (Smartlead's is"
          " undocumented)\n"
          "  --latency-ms N         latency added to every API answer\n"
          "  --webhook-url URL      user-level webhook target for campaigns"
          " without their own\n"
          "  --quiet                no log lines\n"
          "  --version              print the version\n"
          "Admin (test-only): /_emulator/state reset faults config generate"
          " deliver sink.\n",
          SL_DEFAULT_API_KEY);
}

int main(int argc, char **argv) {
  if (ls_version_flag(argc, argv, "smartlead-emulator"))
    return 0;
  struct sl_emu e;
  sl_emu_init(&e);
  const char *listen = "127.0.0.1:8094", *ready = NULL;
  int rc = 2;
  void *daemon = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    bool takes = !strcmp(a, "--listen") || !strcmp(a, "--ready-file") ||
                 !strcmp(a, "--api-key") || !strcmp(a, "--rate") ||
                 !strcmp(a, "--latency-ms") || !strcmp(a, "--webhook-url");
    if (takes && !v) {
      fprintf(stderr, "smartlead-emulator: %s needs a value\n", a);
      goto out;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      rc = 0;
      goto out;
    } else if (!strcmp(a, "--listen")) {
      listen = v;
    } else if (!strcmp(a, "--ready-file")) {
      ready = v;
    } else if (!strcmp(a, "--api-key")) {
      snprintf(e.api_key, sizeof e.api_key, "%s", v);
    } else if (!strcmp(a, "--rate")) {
      int n, ms;
      if (sscanf(v, "%d/%d", &n, &ms) != 2 || n < 0 || ms <= 0) {
        fprintf(stderr, "smartlead-emulator: --rate wants N/MS\n");
        goto out;
      }
      e.rate_requests = n;
      e.rate_window_ms = ms;
    } else if (!strcmp(a, "--latency-ms")) {
      char *end = NULL;
      long ms = strtol(v, &end, 10);
      if (end == v || *end || ms < 0 || ms > 600000) {
        fprintf(stderr, "smartlead-emulator: --latency-ms wants 0..600000\n");
        goto out;
      }
      e.latency_ms = (int)ms;
    } else if (!strcmp(a, "--webhook-url")) {
      snprintf(e.webhook_url, sizeof e.webhook_url, "%s", v);
    } else if (!strcmp(a, "--retry-after")) {
      e.retry_after = true;
    } else if (!strcmp(a, "--quiet")) {
      e.quiet = true;
    } else {
      fprintf(stderr, "smartlead-emulator: unknown option %s\n", a);
      usage(stderr);
      goto out;
    }
    if (takes)
      i++;
  }
  char host[256];
  int port;
  if (!dev_parse_listen(listen, host, sizeof host, &port)) {
    fprintf(stderr,
            "smartlead-emulator: --listen wants HOST:PORT, got \"%s\"\n",
            listen);
    goto out;
  }
  dev_install_signals();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  char err[200];
  int bound;
  if (sl_http_start(&e, host, port, &bound, &daemon, err, sizeof err)) {
    fprintf(stderr, "smartlead-emulator: %s\n", err);
    rc = 1;
    goto out;
  }
  char url[300];
  dev_base_url(url, sizeof url, host, bound, SL_API_PREFIX);
  sl_logf(&e, "listening on %s (limit %d per %d ms)", url, e.rate_requests,
          e.rate_window_ms);
  if (ready && !dev_write_ready_file(ready, url)) {
    fprintf(stderr, "smartlead-emulator: cannot write %s\n", ready);
    rc = 1;
    goto out;
  }
  dev_wait_for_stop();
  sl_logf(&e, "stopping");
  rc = 0;
out:
  dev_http_stop(daemon);
  curl_global_cleanup();
  sl_emu_free(&e);
  return rc;
}
