/* ing_metrics: ingress metric families and per-source series. */
#include "ing_metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ls_time.h"

static const char h_last[] =
    "Unix time of the last authenticated webhook body from the source";
static const char h_accepted[] =
    "Events of the source acknowledged by Kafka (answered 200)";
static const char h_silence[] =
    "Longest usual gap between webhooks of the source (config "
    "silence_seconds); LeadsyncSourceSilent fires past it";

static void source_labels(const ls_source *src, char *out, size_t len) {
  snprintf(out, len, "tenant=\"%s\",source=\"%s\"", src->tenant->id, src->id);
}

static long json_long(const json_t *o, const char *key) {
  const json_t *v = o ? json_object_get(o, key) : NULL;
  return json_is_integer(v) ? (long)json_integer_value(v) : 0;
}

long ing_metrics_silence_s(const ls_source *src) {
  const json_t *t = src->tenant->json;
  const json_t *srcs = t ? json_object_get(t, "sources") : NULL;
  size_t i;
  const json_t *s;
  json_array_foreach(srcs, i, s) {
    const json_t *id = json_object_get(s, "id");
    if (json_is_string(id) && !strcmp(json_string_value(id), src->id)) {
      long v = json_long(s, "silence_seconds");
      if (v > 0)
        return v;
    }
  }
  long v =
      json_long(t ? json_object_get(t, "alerting") : NULL, "silence_seconds");
  return v > 0 ? v : ING_SILENCE_DEFAULT_S;
}

void ing_metrics_declare(ls_metrics *m, const ls_config *cfg) {
  ls_metrics_declare(m, LS_COUNTER, ING_M_REQUESTS,
                     "Webhook requests by HTTP status and event type", NULL);
  ls_metrics_declare(m, LS_HISTOGRAM, ING_M_DELIVERY,
                     "Time from produce to the Kafka delivery report",
                     &LS_BUCKETS_REQUEST);
  ls_metrics_declare(m, LS_GAUGE, ING_M_IN_FLIGHT,
                     "Webhook requests waiting for the Kafka acknowledgement",
                     NULL);
  ls_metrics_declare(m, LS_GAUGE, ING_M_QUEUE,
                     "Records in the producer queue, not yet acknowledged",
                     NULL);
  ls_metrics_declare(m, LS_COUNTER, ING_M_QUARANTINED,
                     "Authenticated bodies copied to the quarantine topic",
                     NULL);
  ls_metrics_declare(m, LS_COUNTER, ING_M_SCOPE,
                     "Events whose client or campaign contradicts the source "
                     "scope",
                     NULL);
  ls_metrics_declare(m, LS_GAUGE, ING_M_READY, "1 when /readyz answers 200",
                     NULL);
  ls_metrics_declare(m, LS_COUNTER, ING_M_DEADLINE,
                     "Connections closed for missing a deadline", NULL);
  ls_metrics_declare(m, LS_GAUGE, ING_M_BODY_BYTES,
                     "Request body bytes held (reserved) right now", NULL);
  ls_metrics_declare(m, LS_GAUGE, ING_M_CONNS, "Open HTTP connections", NULL);
  ls_metrics_declare(m, LS_COUNTER, "leadsync_ingress_schema_drift_total",
                     "Events accepted although a field did not match its "
                     "schema (the field is not needed to process them)",
                     NULL);
  ls_metrics_declare(m, LS_COUNTER, "leadsync_ingress_unknown_events_total",
                     "Events of a type leadsync does not know, kept in "
                     "smartlead.unknown",
                     NULL);
  ls_metrics_declare(m, LS_GAUGE, ING_M_LAST_RECEIVED, h_last, NULL);
  ls_metrics_declare(m, LS_COUNTER, ING_M_ACCEPTED, h_accepted, NULL);
  ls_metrics_declare(m, LS_GAUGE, ING_M_SILENCE, h_silence, NULL);
  for (size_t t = 0; cfg && t < cfg->n_tenants; t++)
    for (size_t s = 0; s < cfg->tenants[t].n_sources; s++) {
      const ls_source *src = &cfg->tenants[t].sources[s];
      char lab[256];
      source_labels(src, lab, sizeof lab);
      ls_metrics_inc(m, ING_M_ACCEPTED, h_accepted, lab, 0);
      ls_metrics_set(m, ING_M_SILENCE, h_silence, lab,
                     (double)ing_metrics_silence_s(src));
    }
}

void ing_metrics_received(ls_metrics *m, const ls_source *src) {
  ing_metrics_received_at(m, src, ls_now_us());
}

void ing_metrics_received_at(ls_metrics *m, const ls_source *src,
                             long long now_us) {
  char lab[256];
  source_labels(src, lab, sizeof lab);
  ls_metrics_set(m, ING_M_LAST_RECEIVED, h_last, lab, (double)now_us / 1e6);
  /* A source added at run time (leadsync.sources) gets its threshold with
   * its first webhook, so LeadsyncSourceSilent covers it from then on. */
  ls_metrics_set(m, ING_M_SILENCE, h_silence, lab,
                 (double)ing_metrics_silence_s(src));
}

void ing_metrics_accepted(ls_metrics *m, const ls_source *src) {
  ing_metrics_accepted_n(m, src, 1);
}

void ing_metrics_accepted_n(ls_metrics *m, const ls_source *src,
                            unsigned long n) {
  char lab[256];
  source_labels(src, lab, sizeof lab);
  ls_metrics_inc(m, ING_M_ACCEPTED, h_accepted, lab, (double)n);
}
