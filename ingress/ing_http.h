/* ing_http: the ingress HTTP server (libmicrohttpd) and its one status map. */
#ifndef ING_HTTP_H
#define ING_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "ing_produce.h"
#include "ing_ratelimit.h"
#include "ing_route.h"
#include "ing_sources.h"
#include "ls_config.h"
#include "ls_err.h"
#include "ls_metrics.h"

typedef struct {
  const ls_config *cfg;
  const ing_schemas *schemas;
  ing_ratelimit *rl;
  ls_metrics *metrics;
  size_t max_body;      /* bytes; larger bodies get 413 */
  int kafka_timeout_ms; /* 503 when the ack takes longer */
  int max_depth;        /* JSON nesting limit */
  unsigned max_conns;
  unsigned conn_timeout_s; /* idle/slow client timeout */
  unsigned threads;        /* MHD worker threads (epoll each) */
  int retry_after_s;       /* Retry-After on 503 */
  ing_sources *sources;    /* leadsync.sources; NULL: the config's only */
  /* Hostile clients (measured from accept, or from the end of the previous
   * request on a kept-alive connection): */
  long header_timeout_ms;    /* headers complete within this */
  long request_timeout_ms;   /* body complete within this */
  unsigned max_conns_per_ip; /* 0 = unlimited */
  size_t body_budget;        /* body bytes held at once, over: 503 */
} ing_http_opts;

typedef struct ing_server ing_server;

/* The one place an error becomes an HTTP status. */
int ing_http_status(ls_err e);

ing_server *ing_http_new(const ing_http_opts *o);
/* The Kafka side; set before listening. */
void ing_http_set_sink(ing_server *s, ing_sink *sink);
/* Starts serving on "HOST:PORT" (port 0: any free one); url receives the
 * base URL ("http://127.0.0.1:PORT"). */
bool ing_http_listen(ing_server *s, const char *listen, char *url,
                     size_t urllen, char *errstr, size_t errlen);
/* ing_delivered_fn for ing_producer_new: completes the suspended requests
 * of one poll round's delivery reports. */
void ing_http_delivered(const ing_delivery *d, size_t n, void *ctx);
/* Answers requests whose ack is overdue with 503 and refreshes gauges; the
 * main loop calls it every ~100 ms. */
void ing_http_tick(ing_server *s);
/* readyz turns 503 and new webhooks are refused with 503 + Retry-After. */
void ing_http_drain(ing_server *s);
/* Requests waiting for Kafka / requests not yet fully answered. */
size_t ing_http_waiting(ing_server *s);
size_t ing_http_open_requests(ing_server *s);
/* Microseconds (monotonic) of the last request start. */
long long ing_http_last_request_us(ing_server *s);
/* Stops accepting connections (the listen socket is closed). */
void ing_http_quiesce(ing_server *s);
void ing_http_stop(ing_server *s);
void ing_http_free(ing_server *s);

#endif
