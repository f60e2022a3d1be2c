/* ls_metrics: a tiny thread-safe Prometheus registry (text format 0.0.4). */
#ifndef LS_METRICS_H
#define LS_METRICS_H

#include <stddef.h>

typedef struct ls_metrics ls_metrics;

ls_metrics *ls_metrics_new(void);
void ls_metrics_free(ls_metrics *m);

/* labels: the inside of the braces, already formatted, e.g.
 * "status=\"200\",event_type=\"EMAIL_SENT\"" or NULL/"" for none.
 * The first call for a name fixes its help text and type. */
void ls_metrics_inc(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v);
void ls_metrics_set(ls_metrics *m, const char *name, const char *help,
                    const char *labels, double v);
/* Histogram in seconds with fixed latency buckets (1 ms .. 30 s). */
void ls_metrics_observe(ls_metrics *m, const char *name, const char *help,
                        const char *labels, double seconds);
/* Value of a counter or gauge series (tests, status lines); 0 if absent. */
double ls_metrics_get(ls_metrics *m, const char *name, const char *labels);
/* The whole registry as text; the caller frees it. */
char *ls_metrics_render(ls_metrics *m, size_t *len);

#endif
