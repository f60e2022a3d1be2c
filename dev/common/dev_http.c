/* dev_http: HTTP server plumbing shared by the emulators (dev_http.h). */
#include "dev_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t dev_stop;

dev_body *dev_body_new(void) {
  return calloc(1, sizeof(dev_body));
}

static void body_drop(dev_body *b) {
  free(b->buf);
  b->buf = NULL;
  b->len = b->cap = 0;
  b->too_large = true;
}

void dev_body_add(dev_body *b, const char *data, size_t n, size_t max) {
  if (b->too_large)
    return;
  if (b->len + n > max) {
    body_drop(b);
    return;
  }
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1)
      cap *= 2;
    char *p = realloc(b->buf, cap);
    if (!p) {
      body_drop(b);
      return;
    }
    b->buf = p;
    b->cap = cap;
  }
  memcpy(b->buf + b->len, data, n);
  b->len += n;
  b->buf[b->len] = '\0';
}

bool dev_body_collect(struct MHD_Connection *c, void **con_cls,
                      const char *upload, size_t *upload_size, size_t max,
                      dev_body **body, enum MHD_Result *ret) {
  dev_body *b = *con_cls;
  *ret = MHD_YES;
  if (!b) {
    *con_cls = b = dev_body_new();
    if (!b) {
      *ret = MHD_NO;
      return true;
    }
    const char *cl = MHD_lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end = NULL;
    unsigned long long n = cl ? strtoull(cl, &end, 10) : 0;
    if (cl && end != cl && !*end && n > max)
      b->too_large = true;
    return true;
  }
  if (*upload_size) {
    /* Past the ceiling the rest is read and thrown away. */
    dev_body_add(b, upload, *upload_size, max);
    *upload_size = 0;
    return true;
  }
  *body = b;
  return false;
}

void dev_body_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  dev_body *b = *con_cls;
  if (b) {
    free(b->buf);
    free(b);
    *con_cls = NULL;
  }
}

int dev_http_start(const char *host, int port,
                   MHD_AccessHandlerCallback handler, void *cls,
                   unsigned conn_limit, unsigned timeout_s, int *bound,
                   struct MHD_Daemon **daemon, char *errstr, size_t errlen) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
    snprintf(errstr, errlen, "--listen: \"%s\" is not an IPv4 address", host);
    return -1;
  }
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
          MHD_USE_AUTO,
      0, NULL, NULL, handler, cls, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
      MHD_OPTION_NOTIFY_COMPLETED, dev_body_completed, NULL,
      MHD_OPTION_CONNECTION_LIMIT, conn_limit, MHD_OPTION_CONNECTION_TIMEOUT,
      timeout_s, MHD_OPTION_END);
  if (!d) {
    snprintf(errstr, errlen, "cannot listen on %s:%d", host, port);
    return -1;
  }
  const union MHD_DaemonInfo *info =
      MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  *bound = info ? info->port : port;
  *daemon = d;
  return 0;
}

void dev_http_stop(struct MHD_Daemon *daemon) {
  if (daemon)
    MHD_stop_daemon(daemon);
}

bool dev_parse_listen(const char *listen, char *host, size_t hostlen,
                      int *port) {
  const char *colon = strrchr(listen, ':');
  if (!colon || (size_t)(colon - listen) >= hostlen || !colon[1])
    return false;
  char *end = NULL;
  errno = 0;
  long p = strtol(colon + 1, &end, 10);
  if (errno || *end || p < 0 || p > 65535)
    return false;
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  *port = (int)p;
  return true;
}

void dev_base_url(char *out, size_t len, const char *host, int port,
                  const char *suffix) {
  snprintf(out, len, "http://%s:%d%s",
           strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1" : host, port,
           suffix ? suffix : "");
}

bool dev_write_ready_file(const char *path, const char *url) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return false;
  }
  FILE *f = fopen(tmp, "w");
  if (!f)
    return false;
  fprintf(f, "%s\n", url);
  if (fclose(f) != 0 || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    errno = e;
    return false;
  }
  return true;
}

static void on_signal(int sig) {
  (void)sig;
  dev_stop = 1;
}

void dev_install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

void dev_wait_for_stop(void) {
  while (!dev_stop) {
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
  }
}
