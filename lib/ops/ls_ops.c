/* ls_ops: listen addresses and the standalone operations server. */
#include "ls_ops.h"

#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ls_net.h"

bool ls_listen_resolve(const char *listen, ls_listen *out, char *errstr,
                       size_t errlen) {
  char port[16];
  memset(out, 0, sizeof *out);
  if (!listen || !ls_split_listen(listen, out->host, sizeof out->host, port,
                                  sizeof port)) {
    snprintf(errstr, errlen, "listen address %s: expected HOST:PORT",
             listen ? listen : "(none)");
    return false;
  }
  struct addrinfo hints, *ai = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(out->host[0] ? out->host : NULL, port, &hints, &ai);
  if (gai != 0 || !ai) {
    snprintf(errstr, errlen, "listen address %s: %s", listen,
             gai != 0 ? gai_strerror(gai) : "no address");
    if (ai)
      freeaddrinfo(ai);
    return false;
  }
  memcpy(&out->addr, ai->ai_addr, ai->ai_addrlen);
  out->v6 = ai->ai_family == AF_INET6;
  freeaddrinfo(ai);
  return true;
}

unsigned ls_listen_mhd_flags(const ls_listen *l) {
  return l->v6 ? MHD_USE_IPv6 : 0;
}

void ls_listen_url(const ls_listen *l, unsigned port, char *url,
                   size_t urllen) {
  const char *h = l->host;
  if (!h[0] || !strcmp(h, "0.0.0.0") || !strcmp(h, "::"))
    h = l->v6 ? "::1" : "127.0.0.1";
  snprintf(url, urllen, l->v6 ? "http://[%s]:%u" : "http://%s:%u", h, port);
}

unsigned ls_mhd_port(struct MHD_Daemon *d) {
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  return di ? di->port : 0;
}

/* -- the standalone server ---------------------------------------------- */

struct ls_ops {
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

#define JSON_REPLY(c, status, lit)                                             \
  send_text((c), (status), "application/json", (char *)(lit), sizeof(lit) - 1, \
            MHD_RESPMEM_PERSISTENT)

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **state) {
  (void)version;
  (void)upload;
  (void)upload_size;
  (void)state;
  ls_ops *o = cls;
  if (strcmp(method, "GET") && strcmp(method, "HEAD"))
    return JSON_REPLY(c, 405, "{\"error\":\"method_not_allowed\"}");
  if (!strcmp(url, "/metrics")) {
    size_t len = 0;
    char *txt = ls_metrics_render(o->m, &len);
    if (!txt)
      return MHD_NO;
    return send_text(c, 200, "text/plain; version=0.0.4", txt, len,
                     MHD_RESPMEM_MUST_FREE);
  }
  if (!strcmp(url, "/healthz"))
    return JSON_REPLY(c, 200, "{\"status\":\"ok\"}");
  if (!strcmp(url, "/readyz")) {
    if (*o->ready)
      return JSON_REPLY(c, 200, "{\"status\":\"ready\"}");
    return JSON_REPLY(c, 503, "{\"status\":\"not_ready\"}");
  }
  return JSON_REPLY(c, 404, "{\"error\":\"not_found\"}");
}

ls_ops *ls_ops_start(const char *listen, ls_metrics *m, volatile int *ready,
                     char *url, size_t urllen, char *errstr, size_t errlen) {
  ls_listen l;
  if (!ls_listen_resolve(listen, &l, errstr, errlen))
    return NULL;
  ls_ops *o = calloc(1, sizeof *o);
  if (!o) {
    snprintf(errstr, errlen, "out of memory");
    return NULL;
  }
  o->m = m;
  o->ready = ready;
  o->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
                              MHD_USE_ERROR_LOG | ls_listen_mhd_flags(&l),
                          0, NULL, NULL, handle, o, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&l.addr,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                          MHD_OPTION_END);
  if (!o->d) {
    snprintf(errstr, errlen, "cannot listen on %s", listen);
    free(o);
    return NULL;
  }
  ls_listen_url(&l, ls_mhd_port(o->d), url, urllen);
  return o;
}

void ls_ops_stop(ls_ops *o) {
  if (!o)
    return;
  MHD_stop_daemon(o->d);
  free(o);
}
