/* bench_mhd: the ingress's libmicrohttpd daemon (ls_mhd) for bench
 * servers, with the ingress's default limits. */
#include "bench_mhd.h"

#include <stdarg.h>
#include <stdio.h>

#include "ls_mhd.h"

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  fprintf(stderr, "%s: ", (const char *)cls);
  vfprintf(stderr, fmt, ap);
}

struct MHD_Daemon *bench_mhd_start(const char *prog, const char *listen,
                                   unsigned threads,
                                   MHD_AccessHandlerCallback handler,
                                   MHD_RequestCompletedCallback completed,
                                   char *url, size_t urllen) {
  char err[512];
  ls_mhd_opts o = {.threads = threads,
                   .max_conns = BENCH_MAX_CONNS,
                   .conn_timeout_s = BENCH_CONN_TIMEOUT_S,
                   .handler = handler,
                   .completed = completed,
                   .log = mhd_log,
                   .log_cls = (void *)prog};
  struct MHD_Daemon *d = ls_mhd_start(listen, &o, url, urllen, err, sizeof err);
  if (!d)
    fprintf(stderr, "%s: %s\n", prog, err);
  return d;
}
