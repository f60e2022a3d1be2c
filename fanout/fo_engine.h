/* fo_engine: the fan-out role's loop. One Kafka consumer group per
 * endpoint (leadsync-fanout-<id>), per-lead FIFOs with one request in
 * flight per lead, libcurl multi for concurrency across leads, retries
 * with capped jittered backoff, a per-endpoint DLQ, and offsets stored
 * only behind records that reached delivered or dlq (docs/fanout.md). */
#ifndef FO_ENGINE_H
#define FO_ENGINE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "kq.h"
#include "ls_config.h"
#include "ls_endpoint.h"
#include "ls_metrics.h"

#define FO_TOPIC_DLQ KQ_TOPIC_FANOUT_DLQ
#define FO_TOPIC_REPLAY KQ_TOPIC_FANOUT_REPLAY
#define FO_H_ENDPOINT "ls_endpoint" /* replayed for this endpoint only */
#define FO_H_DLQ_ENDPOINT "ls_dlq_endpoint"

typedef struct fo_engine fo_engine;

typedef struct {
  const ls_config *cfg;
  ls_endpoint *eps; /* the endpoint set this process serves */
  size_t n_eps;
  ls_metrics *metrics;
  volatile sig_atomic_t *stop;
  long max_pending;     /* records held per endpoint before pausing */
  long drain_ms;        /* SIGTERM: time for in-flight requests */
  long order_window_ms; /* how long a record waits for earlier ones of
                           its lead read from other topics */
  long catchup_ms;      /* longest wait for the backlog after assignment */
  long seen_max;        /* event ids remembered per endpoint (duplicates) */
} fo_opts;

fo_engine *fo_engine_new(const fo_opts *o, char *errstr, size_t errlen);
/* Runs until *stop; 0 on a clean stop. */
int fo_engine_run(fo_engine *e);
void fo_engine_free(fo_engine *e);

#endif
