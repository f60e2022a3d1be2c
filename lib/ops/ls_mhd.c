/* ls_mhd: the request-serving libmicrohttpd daemon (ls_mhd.h). */
#include "ls_mhd.h"

#include <stdint.h>
#include <stdio.h>

#include "ls_ops.h"

struct MHD_Daemon *ls_mhd_start(const char *listen, const ls_mhd_opts *o,
                                char *url, size_t urllen, char *errstr,
                                size_t errlen) {
  ls_listen l;
  if (!ls_listen_resolve(listen, &l, errstr, errlen))
    return NULL;
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                   MHD_USE_ERROR_LOG | ls_listen_mhd_flags(&l);
  struct MHD_OptionItem opt[12];
  size_t n = 0;
  /* The logger goes first: MHD logs through its default logger until it
   * has seen this option. */
  if (o->log)
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER,
                                       (intptr_t)o->log, o->log_cls};
  opt[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &l.addr};
  opt[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                     o->threads ? o->threads : 2, NULL};
  opt[n++] =
      (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, o->max_conns, NULL};
  opt[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                     o->conn_timeout_s, NULL};
  opt[n++] = (struct MHD_OptionItem){
      MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (intptr_t)(o->conn_memory ? o->conn_memory : LS_MHD_CONN_MEMORY), NULL};
  opt[n++] =
      (struct MHD_OptionItem){MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL};
  if (o->max_conns_per_ip)
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                       o->max_conns_per_ip, NULL};
  if (o->completed)
    opt[n++] = (struct MHD_OptionItem){
        MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)o->completed, o->completed_cls};
  if (o->notify)
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
                                       (intptr_t)o->notify, o->notify_cls};
  opt[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  struct MHD_Daemon *d =
      MHD_start_daemon(flags, 0, NULL, NULL, o->handler, o->handler_cls,
                       MHD_OPTION_ARRAY, opt, MHD_OPTION_END);
  if (!d) {
    snprintf(errstr, errlen, "cannot listen on %s", listen);
    return NULL;
  }
  ls_listen_url(&l, ls_mhd_port(d), url, urllen);
  return d;
}
