/* wrk_http: the worker's small HTTP server: /metrics, /healthz, /readyz. */
#ifndef WRK_HTTP_H
#define WRK_HTTP_H

#include "ls_err.h"
#include "ls_metrics.h"

typedef struct wrk_http wrk_http;

/* listen is "HOST:PORT" (port 0 = any); *ready is read on each /readyz.
 * url_out gets "http://HOST:PORT" with the bound port. */
wrk_http *wrk_http_start(const char *listen, ls_metrics *m,
                         volatile int *ready, char *url_out, size_t url_len,
                         char *errstr, size_t errlen);
void wrk_http_stop(wrk_http *h);

#endif
