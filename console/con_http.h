/* con_http: the console's HTTP server: the JSON API under /api/v1, the
 * static web UI, /healthz, /readyz and /metrics. */
#ifndef CON_HTTP_H
#define CON_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "con_auth.h"
#include "con_ops.h"
#include "con_quota.h"
#include "con_tail.h"
#include "ls_config.h"
#include "ls_err.h"
#include "ls_metrics.h"

typedef struct {
  const ls_config *cfg;
  const char *db_path;         /* the read model; each request opens a reader */
  const char *www_dir;         /* index.html, app.js, app.css */
  const char *ingress_url;     /* public base of webhook URLs ("" unknown) */
  const char *hubspot_app_url; /* portal links, https://app.hubspot.com */
  const json_t *portals;       /* {tenant: portal id} or NULL */
  bool cookie_secure;
  con_auth *auth;
  con_ops *ops;
  con_tail *tail;
  con_quota *quota;
  ls_metrics *metrics;
} con_http_opts;

typedef struct con_server con_server;

/* Starts listening on listen ("HOST:PORT", "[v6]:PORT"; port 0: any); url
 * receives the base URL. */
ls_err con_http_start(const con_http_opts *o, const char *listen,
                      con_server **out, char *url, size_t url_len, char *errstr,
                      size_t len);
void con_http_stop(con_server *s);

#endif
