/* hs_setup: `hubspot setup`: the property group and every custom property
 * leadsync writes, created idempotently (one implementation shared by
 * `leadsync-worker --setup` and `leadsync hubspot setup`). */
#ifndef HS_SETUP_H
#define HS_SETUP_H

#include <stddef.h>

#include "hs_client.h"
#include "ls_err.h"

typedef struct {
  int existed;   /* properties already present */
  int created;   /* properties and groups created now (201) */
  int conflicts; /* 409 answers, counted as success */
  int calls;     /* HubSpot calls made */
  /* Properties HubSpot refused for good (a 4xx other than 401/403/409):
   * {"contacts": ["name", ...], ...}, or NULL. Each was logged once; the
   * caller must not write them, and json_decref()s this. */
  json_t *skipped;
} hs_setup_result;

/* Lists each object's properties, then creates the missing group and
 * properties (409 = already there = success). LS_OK when every property
 * exists afterwards or was refused for good (res->skipped); otherwise
 * (auth, transient failures) errstr names the first failure (status,
 * category, message; never the token). */
ls_err hs_setup_run(hs_transport *tp, const hs_target *tgt,
                    const hs_policy *pol, hs_setup_result *res, char *errstr,
                    size_t errlen);

#endif
