/* ls_mhd: the request-serving libmicrohttpd daemon of the ingress, shared
 * with the bench servers (bench/) so that they differ from it only in
 * their handler: epoll on an internal pool of threads, suspend/resume,
 * a connection limit and idle timeout, a listen backlog of 1024 and a
 * per-connection memory pool of LS_MHD_CONN_MEMORY bytes. */
#ifndef LS_MHD_H
#define LS_MHD_H

#include <microhttpd.h>
#include <stddef.h>

/* Each connection's memory pool (headers, read and write buffers), zeroed
 * by MHD after every request on a kept-alive connection: half of MHD's
 * 32 KiB default holds any webhook's headers and reads a body in 16 KiB
 * steps. */
#define LS_MHD_CONN_MEMORY (16u * 1024u)

typedef struct {
  unsigned threads;          /* pool size; 0: 2 */
  unsigned max_conns;        /* MHD_OPTION_CONNECTION_LIMIT */
  unsigned conn_timeout_s;   /* idle timeout */
  unsigned max_conns_per_ip; /* 0: no per-address limit */
  size_t conn_memory;        /* 0: LS_MHD_CONN_MEMORY */
  MHD_AccessHandlerCallback handler;
  void *handler_cls;
  MHD_RequestCompletedCallback completed; /* may be NULL */
  void *completed_cls;
  MHD_NotifyConnectionCallback notify; /* may be NULL */
  void *notify_cls;
  MHD_LogCallback log; /* MHD's own messages; NULL: stderr */
  void *log_cls;
} ls_mhd_opts;

/* Starts the daemon on listen ("HOST:PORT", port 0: any); url receives
 * the base URL of the bound port. NULL with errstr. */
struct MHD_Daemon *ls_mhd_start(const char *listen, const ls_mhd_opts *o,
                                char *url, size_t urllen, char *errstr,
                                size_t errlen);

#endif
