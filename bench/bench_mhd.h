/* bench_mhd: the ingress's libmicrohttpd daemon setup, shared by the
 * bench servers so they differ from the ingress only in their handler. */
#ifndef BENCH_MHD_H
#define BENCH_MHD_H

#include <microhttpd.h>
#include <stddef.h>

/* The ingress's defaults (config/dev.json "ingress"). */
#define BENCH_MAX_BODY (2u * 1024u * 1024u)
#define BENCH_MAX_CONNS 4096u
#define BENCH_CONN_TIMEOUT_S 10u

/* Starts ls_mhd's daemon (the ingress's flags and options) on listen
 * ("HOST:PORT", port 0: any) with the ingress's default limits; url
 * receives the base URL. NULL with a message on stderr naming prog. */
struct MHD_Daemon *bench_mhd_start(const char *prog, const char *listen,
                                   unsigned threads,
                                   MHD_AccessHandlerCallback handler,
                                   MHD_RequestCompletedCallback completed,
                                   char *url, size_t urllen);

#endif
