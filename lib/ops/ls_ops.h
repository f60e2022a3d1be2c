/* ls_ops: what every leadsync HTTP server shares over libmicrohttpd: the
 * listen address ("HOST:PORT", "[v6]:PORT", ":PORT") resolved for
 * MHD_OPTION_SOCK_ADDR, and the operations endpoints /metrics, /healthz
 * and /readyz, standalone on their own thread for the daemons whose only
 * HTTP is these (worker, filter, fan-out, assurance). */
#ifndef LS_OPS_H
#define LS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "ls_metrics.h"

/* A listen address resolved for binding. */
typedef struct {
  struct sockaddr_storage addr; /* pass as MHD_OPTION_SOCK_ADDR */
  bool v6;                      /* add MHD_USE_IPv6 to the daemon flags */
  char host[256];               /* as given, brackets removed; "" = any */
} ls_listen;

/* Resolves listen (a numeric port; a literal address or a host name) into
 * out. False with errstr "listen address X: why". */
bool ls_listen_resolve(const char *listen, ls_listen *out, char *errstr,
                       size_t errlen);

/* MHD_USE_IPv6 when the address needs it, else 0. */
unsigned ls_listen_mhd_flags(const ls_listen *l);

/* "http://HOST:PORT" for the bound port; an any-address host
 * (0.0.0.0, ::, "") reads as the loopback address of its family. */
void ls_listen_url(const ls_listen *l, unsigned port, char *url, size_t urllen);

/* The bound port of a daemon started on port 0. */
struct MHD_Daemon;
unsigned ls_mhd_port(struct MHD_Daemon *d);

typedef struct ls_ops ls_ops;

/* Serves /metrics (m rendered), /healthz and /readyz (200 while *ready is
 * non-zero, else 503) on listen, on libmicrohttpd's own thread. url gets
 * the bound address ("http://127.0.0.1:PORT"). NULL with errstr. */
ls_ops *ls_ops_start(const char *listen, ls_metrics *m, volatile int *ready,
                     char *url, size_t urllen, char *errstr, size_t errlen);
void ls_ops_stop(ls_ops *o);

#endif
