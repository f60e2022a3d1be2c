/* ing_metrics: the ingress's metric families, declared at start, and the
 * per-source series (one per configured source, so a silent source shows
 * as a flat line rather than as nothing). */
#ifndef ING_METRICS_H
#define ING_METRICS_H

#include "ls_config.h"
#include "ls_metrics.h"

#define ING_M_REQUESTS "leadsync_ingress_requests_total"
#define ING_M_DELIVERY "leadsync_ingress_kafka_delivery_seconds"
#define ING_M_IN_FLIGHT "leadsync_ingress_in_flight_requests"
#define ING_M_QUEUE "leadsync_ingress_producer_queue_depth"
#define ING_M_QUARANTINED "leadsync_ingress_quarantined_total"
#define ING_M_SCOPE "leadsync_ingress_scope_mismatch_total"
#define ING_M_READY "leadsync_ingress_ready"
#define ING_M_LAST_RECEIVED "leadsync_ingress_last_received_timestamp_seconds"
#define ING_M_ACCEPTED "leadsync_ingress_accepted_total"
#define ING_M_BODY_BYTES "leadsync_ingress_body_bytes_in_flight"
#define ING_M_DEADLINE "leadsync_ingress_deadline_closed_total"
#define ING_M_CONNS "leadsync_ingress_open_connections"
#define ING_M_SILENCE "leadsync_ingress_source_silence_threshold_seconds"

/* Default for tenants[].alerting.silence_seconds: 6 hours. */
#define ING_SILENCE_DEFAULT_S 21600

/* Declares every family and creates each configured source's
 * accepted counter (0) and silence threshold gauge. */
void ing_metrics_declare(ls_metrics *m, const ls_config *cfg);
/* An authenticated webhook body arrived from src (whatever its fate). */
void ing_metrics_received(ls_metrics *m, const ls_source *src);
/* The same with the time it arrived (ing_http adds requests up and hands
 * them over every tick). */
void ing_metrics_received_at(ls_metrics *m, const ls_source *src,
                             long long now_us);
/* Kafka acknowledged an event of src (the sender got its 200); n events. */
void ing_metrics_accepted(ls_metrics *m, const ls_source *src);
void ing_metrics_accepted_n(ls_metrics *m, const ls_source *src,
                            unsigned long n);
/* The silence threshold of one source: its silence_seconds, else its
 * tenant's alerting.silence_seconds, else ING_SILENCE_DEFAULT_S. */
long ing_metrics_silence_s(const ls_source *src);

#endif
