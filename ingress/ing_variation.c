/* ing_variation: drift and unknown-type counters (ing_variation.h). */
#include "ing_variation.h"

#include <stdio.h>

#include "ls_log.h"

static const char h_drift[] =
    "Events accepted although a field did not match its schema (the field "
    "is not needed to process them)";
static const char h_unknown[] =
    "Events of a type leadsync does not know, kept in smartlead.unknown";

void ing_variation_declare(ls_metrics *m) {
  ls_metrics_declare(m, LS_COUNTER, ING_M_DRIFT, h_drift, NULL);
  ls_metrics_declare(m, LS_COUNTER, ING_M_UNKNOWN, h_unknown, NULL);
}

void ing_metrics_variation(ls_metrics *m, const ls_source *src,
                           const ing_verdict *v) {
  char lab[256];
  const char *tenant = src ? src->tenant->id : "-";
  if (v->drift[0]) {
    snprintf(lab, sizeof lab, "event_type=\"%s\",field=\"%s\"", v->ev.type_name,
             v->drift);
    ls_metrics_inc(m, ING_M_DRIFT, h_drift, lab, 1);
  }
  if (v->ev.type == LS_EV_UNKNOWN) {
    /* The type name is reduced to [A-Z0-9_] by ls_event_identify; it goes
     * to the log, the tenant to the label (bounded). */
    snprintf(lab, sizeof lab, "tenant=\"%s\"", tenant);
    ls_metrics_inc(m, ING_M_UNKNOWN, h_unknown, lab, 1);
    ls_warn("unknown Smartlead event type kept in the unknown topic",
            "{s:s,s:s,s:s}", "tenant", tenant, "event_type", v->ev.type_name,
            "event_id", v->ev.event_id);
  }
}
