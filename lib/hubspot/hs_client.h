/* hs_client: the HubSpot CRM API client: requests over a transport seam
 * (libcurl multi in production, scripted fakes in tests), error bodies,
 * rate limiting and retries with capped jittered exponential backoff. */
#ifndef HS_CLIENT_H
#define HS_CLIENT_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hs_ratelimit.h"
#include "ls_buf.h"
#include "ls_err.h"
#include "ls_metrics.h"

/* What an answer means for the caller. */
#define HS_CLASS_MAP(X)                                                        \
  X(HS_C_OK, "ok")                       /* 2xx (207: look at errors[]) */     \
  X(HS_C_TRANSIENT, "transient")         /* 5xx, 423, 477, timeouts, resets */ \
  X(HS_C_RATE_WINDOW, "rate_window")     /* 429 TEN_SECONDLY_ROLLING */        \
  X(HS_C_RATE_SECONDLY, "rate_secondly") /* 429 search secondly */             \
  X(HS_C_RATE_DAILY, "rate_daily")       /* 429 DAILY */                       \
  X(HS_C_AUTH, "auth")                   /* 401, 403 */                        \
  X(HS_C_VALIDATION, "validation")       /* 400 */                             \
  X(HS_C_NOT_FOUND, "not_found")         /* 404 */                             \
  X(HS_C_CONFLICT, "conflict")           /* 409 */                             \
  X(HS_C_PERMANENT, "permanent")         /* any other 4xx, oversized answers */

typedef enum {
#define HS_C_ENUM(code, name) code,
  HS_CLASS_MAP(HS_C_ENUM)
#undef HS_C_ENUM
      HS_C__COUNT
} hs_class;

const char *hs_class_name(hs_class c);

/* A parsed HubSpot error body (every field optional). */
typedef struct {
  char category[64];
  char sub_category[64];
  char message[512];
  char policy[48]; /* 429 policyName: TEN_SECONDLY_ROLLING, DAILY */
  char correlation_id[64];
  char code[64];        /* first errors[].code */
  char property[128];   /* first errors[].context.propertyName[0] */
  char existing_id[32]; /* 409 "Existing ID: N" */
  json_t *body;         /* the whole body, for errors[] / context */
} hs_error;

/* Parses any error body; never fails (a non-JSON body leaves the message
 * as a bounded, printable excerpt of it). */
void hs_error_parse(const char *body, size_t len, hs_error *e);
void hs_error_clear(hs_error *e);
/* Classifies a status + parsed body. status 0 = transport failure. */
hs_class hs_classify(long status, const hs_error *e);

/* Where a request goes: one per tenant (base URL, token) and its portal
 * limiter. The token is only ever put into the Authorization header. */
typedef struct {
  const char *base_url;
  const char *token;
  hs_limiter *lim;
  const char *label;          /* tenant id, for logs and metrics */
  struct ls_token *token_src; /* a token_file followed for changes; wins */
} hs_target;

typedef enum {
  HS_R_PENDING,
  HS_R_DONE,     /* an answer that is final: look at cls/status */
  HS_R_DEFERRED, /* not sent or not finished: daily budget, shutdown */
  HS_R_AMBIGUOUS /* a non-idempotent request may or may not have applied */
} hs_req_state;

typedef struct hs_req {
  /* in */
  const hs_target *tgt;
  const char *method; /* "GET", "POST", "PATCH" */
  char path[256];     /* "/crm/v3/objects/contacts/batch/upsert" */
  const char *route;  /* metric label, e.g. "contacts_upsert" */
  char *body;         /* owned JSON text or NULL */
  size_t body_len;
  bool search;             /* counts against the search bucket */
  bool idempotent;         /* false: creates, never blindly re-sent */
  bool conflict_transient; /* a 409 is a race to retry (upserts: two
                              writers creating one email at once) */
  void *user;
  /* Log context: the events the call is about (ids, comma-separated, maybe
   * shortened) and a W3C traceparent one of them carried; "" when none.
   * Set with hs_req_set_context; the client's log lines carry both. */
  char event_ids[160];
  char traceparent[56];
  /* transport output (one attempt) */
  long status;     /* 0 = no HTTP answer */
  bool sent_maybe; /* transport failure after the body went out */
  ls_buf resp;
  hs_rl_headers rl;
  char transport_err[160];
  /* run output */
  hs_req_state state;
  hs_class cls;
  hs_error err;
  int attempts;
  int rate_waits;
  int64_t first_failure_us; /* wall clock; 0 = never failed */
  int64_t sent_us, next_us; /* mono */
} hs_req;

/* Builds a request; body (may be NULL) is serialised compactly. */
hs_req *hs_req_new(const hs_target *tgt, const char *method, const char *path,
                   const char *route, const json_t *body);
void hs_req_free(hs_req *r);
/* Adds one event to the request's log context (event_id, traceparent may
 * be NULL or ""); ids past the room left are counted as "+N". */
void hs_req_add_context(hs_req *r, const char *event_id,
                        const char *traceparent);
/* The answer body parsed (NULL when empty or not JSON); caller decrefs. */
json_t *hs_req_json(const hs_req *r);

/* The transport seam: performs every request of the wave concurrently and
 * returns when each has an answer or a transport error (filling status,
 * resp, rl, transport_err, sent_maybe). */
typedef struct hs_transport {
  void (*perform)(struct hs_transport *t, hs_req **reqs, size_t n);
  void (*destroy)(struct hs_transport *t);
} hs_transport;

/* libcurl multi transport: one multi handle, so connections are reused
 * across waves. timeout_ms per request; max_resp caps answer bodies. */
hs_transport *hs_transport_curl_new(long timeout_ms, long connect_timeout_ms,
                                    size_t max_resp);
void hs_transport_free(hs_transport *t);

typedef struct {
  int max_retries;              /* transient failures per request */
  long backoff_base_ms;         /* first retry delay */
  long backoff_max_ms;          /* cap */
  long max_rate_waits;          /* 429 window waits per request before giving up
                                   (<= 0: unlimited) */
  int max_in_flight;            /* requests sent concurrently (<= 0: all) */
  volatile sig_atomic_t *stop;  /* abandon pending requests when set */
  volatile sig_atomic_t *abort; /* the same, for the caller's own reasons
                                   (the worker: partitions revoked) */
  /* Called instead of idling while requests wait for the limiter or a
   * backoff (at most every 100 ms): the worker serves its consumer group
   * there, so a long wait never keeps it from a rebalance. */
  void (*idle)(void *ud);
  void *idle_ud;
  ls_metrics *metrics; /* may be NULL */
} hs_policy;

void hs_policy_defaults(hs_policy *p);

/* Runs requests to completion: waits for the limiter, sends in waves,
 * retries transient failures and 429 windows, blocks a portal on DAILY.
 * On return every request is DONE, DEFERRED or AMBIGUOUS. */
void hs_run(hs_transport *tp, hs_req **reqs, size_t n, const hs_policy *pol);

/* One request, run to completion (setup, CLI). */
void hs_run1(hs_transport *tp, hs_req *r, const hs_policy *pol);

/* Backoff for attempt n (1-based): min(max, base * 2^(n-1)), jittered to
 * [50%, 100%]. Exposed for tests. */
long hs_backoff_ms(const hs_policy *p, int attempt);

/* "METHOD path -> status category: message" for logs (no secrets). */
void hs_req_describe(const hs_req *r, char *out, size_t outlen);

#endif
