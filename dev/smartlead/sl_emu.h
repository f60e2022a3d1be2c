/* sl_emu: smartlead-emulator's shared state (docs/smartlead-emulator.md).
 * The whole account lives in one jansson tree guarded by one mutex; the
 * HTTP layer (sl_http.c) answers the API and admin routes from it and the
 * model (sl_model.c) generates activity and delivers webhooks. */
#ifndef SL_EMU_H
#define SL_EMU_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_DEFAULT_API_KEY "sl-dev-api-key"
#define SL_API_PREFIX "/api/v1"
#define SL_RATE_RING 4096

struct sl_emu {
  pthread_mutex_t mu;
  /* configuration (POST /_emulator/config) */
  char api_key[256];
  int rate_requests;  /* per window; 0 = unlimited */
  int rate_window_ms; /* documented: 10 requests per 2 s */
  bool retry_after;   /* send Retry-After on 429 (unconfirmed for Smartlead) */
  int latency_ms;
  char webhook_url[1024]; /* user-level default target when a campaign has
                             no webhook of its own */
  char secret_key[128];
  bool quiet;
  /* faults (POST /_emulator/faults) */
  json_t *faults;
  int api_429_left; /* the next N API calls answer 429 */
  int api_500_left;
  /* rate-limit window: accepted call times (monotonic ms) */
  int64_t ring[SL_RATE_RING];
  size_t ring_head, ring_len;
  /* the account */
  json_t *campaigns; /* [{id,name,status,client_id,created_at,updated_at}] */
  json_t *webhooks;  /* [{id,campaign_id,name,webhook_url,event_types,...}] */
  json_t *leads;     /* see sl_model.c */
  json_t *sent;      /* sent emails */
  json_t *events;    /* generated events with their webhook bodies */
  json_t *counters;  /* {"api_calls":{route:n},"api_429":n,...} */
  int64_t next_webhook_id;
  uint64_t rng;
};

void sl_emu_init(struct sl_emu *e);
void sl_emu_free(struct sl_emu *e);
/* Drops the account and counters (config and faults stay). Locked. */
void sl_emu_reset_locked(struct sl_emu *e);
void sl_logf(struct sl_emu *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sl_count(struct sl_emu *e, const char *group, const char *key, long n);

/* sl_model.c */
/* {"seed","campaigns","leads","events","start"} -> summary; locked. */
json_t *sl_generate_locked(struct sl_emu *e, const json_t *req, char *err,
                           size_t errlen);
/* Sends every undelivered event's webhook with the faults; returns the
 * summary. Takes the lock itself (never held while posting). */
json_t *sl_deliver(struct sl_emu *e, const json_t *req);
/* API answers; locked; return the body and set *status. */
json_t *sl_api_campaigns(struct sl_emu *e);
json_t *sl_api_lead_statistics(struct sl_emu *e, const char *cid,
                               const char *event_time_gt, long offset,
                               long limit, int *status);
json_t *sl_api_statistics(struct sl_emu *e, const char *cid, long offset,
                          long limit, int *status);
json_t *sl_api_message_history(struct sl_emu *e, const char *cid,
                               const char *lead_id, int *status);
json_t *sl_api_lead_by_email(struct sl_emu *e, const char *email, int *status);
json_t *sl_api_categories(void);
const char *sl_category_name(int id);

/* sl_http.c */
int sl_http_start(struct sl_emu *e, const char *host, int port, int *bound,
                  void **daemon, char *err, size_t errlen);

/* xorshift64*: deterministic for a seed. */
uint64_t sl_rand(struct sl_emu *e);
double sl_rand01(struct sl_emu *e);

#endif
