/* ls_metrics: a tiny thread-safe Prometheus registry (text format 0.0.4).
 *
 * Every registry exports, without any call from its owner,
 * leadsync_build_info{version,commit} and the standard process_* metrics
 * (CPU, RSS, open fds, start time; read from /proc on each render), so any
 * daemon that serves ls_metrics_render() on /metrics has them. */
#ifndef LS_METRICS_H
#define LS_METRICS_H

#include <stddef.h>

typedef struct ls_metrics ls_metrics;

/* A histogram's upper bounds in seconds, ascending (+Inf is implied). */
typedef struct {
  const double *le;
  size_t n;
} ls_buckets;

/* Calls that return in milliseconds to seconds: HTTP requests, Kafka
 * delivery reports (1 ms .. 30 s). The default for ls_metrics_observe. */
extern const ls_buckets LS_BUCKETS_REQUEST;
/* Latencies that can be days: events held by the filter, deferred by a
 * daily HubSpot budget, re-driven from the DLQ (50 ms .. 14 days). */
extern const ls_buckets LS_BUCKETS_EVENT;

typedef enum { LS_COUNTER, LS_GAUGE, LS_HISTOGRAM } ls_metric_kind;

ls_metrics *ls_metrics_new(void);
void ls_metrics_free(ls_metrics *m);

/* Registers a family so /metrics shows its HELP and TYPE from the start,
 * before the first sample (docs/metrics.md is generated from /metrics, so
 * declare every family a daemon can export when it starts). buckets: for
 * histograms, NULL for LS_BUCKETS_REQUEST; ignored for other kinds. A
 * family that already exists keeps its help; its buckets change only
 * while it has no series. */
void ls_metrics_declare(ls_metrics *m, ls_metric_kind kind, const char *name,
                        const char *help, const ls_buckets *buckets);

/* labels: the inside of the braces, already formatted, e.g.
 * "status=\"200\",event_type=\"EMAIL_SENT\"" or NULL/"" for none.
 * The first call for a name fixes its help text and type. */
void ls_metrics_inc(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v);
void ls_metrics_set(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v);
/* Histogram in seconds, in the family's buckets (declared, or
 * LS_BUCKETS_REQUEST). */
void ls_metrics_observe(ls_metrics *m, const char *name, const char *help,
                        const char *labels, double seconds);
/* n observations of one series under one lock (a batch of delivery
 * reports). */
void ls_metrics_observe_n(ls_metrics *m, const char *name, const char *help,
                          const char *labels, const double *seconds, size_t n);
/* Removes one series (a gauge whose subject went away, e.g. a partition
 * no longer assigned). */
void ls_metrics_remove(ls_metrics *m, const char *name, const char *labels);
/* Value of a counter or gauge series (tests, status lines); 0 if absent.
 * For a histogram series, its count. */
double ls_metrics_get(ls_metrics *m, const char *name, const char *labels);
/* The whole registry as text; the caller frees it. NULL when it would
 * not fit in memory (never a cut exposition). */
char *ls_metrics_render(ls_metrics *m, size_t *len);

#endif
