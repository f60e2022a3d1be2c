/* bench_mhd: the ingress's libmicrohttpd daemon setup for bench servers. */
#include "bench_mhd.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ls_ops.h"

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  fprintf(stderr, "%s: ", (const char *)cls);
  vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *bench_mhd_start(const char *prog, const char *listen,
                                   unsigned threads,
                                   MHD_AccessHandlerCallback handler,
                                   MHD_RequestCompletedCallback completed,
                                   char *url, size_t urllen) {
  ls_listen l;
  struct MHD_Daemon *d = NULL;
  char err[512];
  if (!ls_listen_resolve(listen, &l, err, sizeof err)) {
    fprintf(stderr, "%s: %s\n", prog, err);
    return NULL;
  }
  /* The ingress's flags, suspend/resume included (it changes how MHD
   * wakes its threads), so the two differ only in the handler. */
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG | ls_listen_mhd_flags(&l);
  /* The logger goes first: MHD logs through its default logger until it
   * has seen this option. */
  d = MHD_start_daemon(
      flags, 0, NULL, NULL, handler, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
      (void *)prog, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&l.addr,
      MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT,
      BENCH_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT, BENCH_CONN_TIMEOUT_S,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
      completed, NULL, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "%s: cannot listen on %s\n", prog, listen);
    return NULL;
  }
  ls_listen_url(&l, ls_mhd_port(d), url, urllen);
  return d;
}
