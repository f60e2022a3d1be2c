/* wrk_http: libmicrohttpd on its own thread, read-only endpoints. */
#include "wrk_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wrk_http {
  struct MHD_Daemon *d;
  ls_metrics *m;
  volatile int *ready;
};

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status,
                                 const char *ctype, char *body, size_t len,
                                 enum MHD_ResponseMemoryMode mode) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
  if (!r)
    return MHD_NO;
  MHD_add_response_header(r, "Content-Type", ctype);
  enum MHD_Result ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  wrk_http *h = cls;
  if (strcmp(method, "GET") && strcmp(method, "HEAD"))
    return send_text(c, 405, "application/json",
                     "{\"error\":\"method_not_allowed\"}", 30,
                     MHD_RESPMEM_PERSISTENT);
  if (!strcmp(url, "/metrics")) {
    size_t len = 0;
    char *txt = ls_metrics_render(h->m, &len);
    if (!txt)
      return MHD_NO;
    return send_text(c, 200, "text/plain; version=0.0.4", txt, len,
                     MHD_RESPMEM_MUST_FREE);
  }
  if (!strcmp(url, "/healthz"))
    return send_text(c, 200, "application/json", "{\"status\":\"ok\"}", 15,
                     MHD_RESPMEM_PERSISTENT);
  if (!strcmp(url, "/readyz")) {
    if (*h->ready)
      return send_text(c, 200, "application/json", "{\"status\":\"ready\"}",
                       18, MHD_RESPMEM_PERSISTENT);
    return send_text(c, 503, "application/json",
                     "{\"status\":\"not_ready\"}", 22,
                     MHD_RESPMEM_PERSISTENT);
  }
  return send_text(c, 404, "application/json", "{\"error\":\"not_found\"}",
                   21, MHD_RESPMEM_PERSISTENT);
}

wrk_http *wrk_http_start(const char *listen, ls_metrics *m,
                         volatile int *ready, char *url_out, size_t url_len,
                         char *errstr, size_t errlen) {
  char host[128];
  const char *colon = strrchr(listen, ':');
  if (!colon || (size_t)(colon - listen) >= sizeof host) {
    snprintf(errstr, errlen, "--listen %s: expected HOST:PORT", listen);
    return NULL;
  }
  snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
  char *ep;
  long port = strtol(colon + 1, &ep, 10);
  if (*ep || port < 0 || port > 65535) {
    snprintf(errstr, errlen, "--listen %s: bad port", listen);
    return NULL;
  }
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
    snprintf(errstr, errlen, "--listen %s: HOST must be an IPv4 address",
             listen);
    return NULL;
  }
  wrk_http *h = calloc(1, sizeof *h);
  if (!h) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  h->m = m;
  h->ready = ready;
  h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                              MHD_USE_ERROR_LOG,
                          0, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&sa,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                          MHD_OPTION_END);
  if (!h->d) {
    snprintf(errstr, errlen, "cannot listen on %s", listen);
    free(h);
    return NULL;
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(url_out, url_len, "http://%s:%u", host,
           di ? (unsigned)di->port : (unsigned)port);
  return h;
}

void wrk_http_stop(wrk_http *h) {
  if (!h)
    return;
  MHD_stop_daemon(h->d);
  free(h);
}
