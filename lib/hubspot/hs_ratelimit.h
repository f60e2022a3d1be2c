/* hs_ratelimit: one request budget per HubSpot portal (10 s window, daily
 * budget, search bucket), corrected by the X-HubSpot-RateLimit-* headers. */
#ifndef HS_RATELIMIT_H
#define HS_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a response said about the budget; -1 marks an absent header. */
typedef struct {
  long remaining;       /* X-HubSpot-RateLimit-Remaining */
  long max;             /* X-HubSpot-RateLimit-Max */
  long interval_ms;     /* X-HubSpot-RateLimit-Interval-Milliseconds */
  long daily;           /* X-HubSpot-RateLimit-Daily */
  long daily_remaining; /* X-HubSpot-RateLimit-Daily-Remaining */
  long retry_after_ms;  /* Retry-After (seconds on the wire) */
} hs_rl_headers;

void hs_rl_headers_clear(hs_rl_headers *h);

/* Bounds on what HubSpot's answers may make us do (issue 12): a daily
 * block never outlasts 25 h, a 10-secondly or search wait never outlasts
 * the window plus its guard, whatever Retry-After says. */
#define HS_DAILY_WAIT_MAX_MS (25L * 3600 * 1000)
/* A rate-limit header value: negative -> -1 (absent), else at most 1e9. */
long hs_rl_clamp(long v);
/* Retry-After seconds -> milliseconds without overflow, at most
 * HS_DAILY_WAIT_MAX_MS; -1 when absent or negative. */
long hs_rl_retry_after_ms(long seconds);

typedef struct hs_limiter hs_limiter;

typedef struct {
  int per_window;   /* requests per window (tier: 100/190/250) */
  long window_ms;   /* 10000 */
  long daily;       /* daily budget; <= 0 = unlimited */
  long guard_ms;    /* added to the window: send/arrival clock skew */
  int search_per_s; /* search bucket (HubSpot: 5/s per account) */
  int reserve;      /* share mode: requests per window kept out of every
                       share, for probes and setup (0: max(4, 1/16)) */
  int headroom;     /* share mode: requests per window that bulk
                       processes leave free for the priority ones
                       (0: max(4, 1/32)); -1: no borrowing, the shares
                       are fixed caps */
} hs_limiter_conf;

hs_limiter *hs_limiter_new(const hs_limiter_conf *c);
void hs_limiter_free(hs_limiter *l);

/* Asks to send one request now (mono microseconds). Returns 0 and counts
 * the request when it may go, else the microseconds to wait first. A
 * portal blocked for the day returns the wait until its reset. */
int64_t hs_limiter_acquire(hs_limiter *l, bool search, int64_t now_us);
/* A request sent at sent_us is over (answered or failed); h may hold
 * only -1 fields. Every acquired request must be observed once. */
void hs_limiter_observe(hs_limiter *l, bool search, int64_t sent_us,
                        int64_t now_us, const hs_rl_headers *h);
/* A 429. daily=true blocks the portal until the daily reset (or the
 * Retry-After); otherwise the window is treated as exhausted until it
 * frees (Retry-After wins when present). */
void hs_limiter_on_429(hs_limiter *l, bool search, bool daily, int64_t now_us,
                       long retry_after_ms);
/* True while the daily budget is spent; *until_us gets the reset time. */
bool hs_limiter_daily_blocked(hs_limiter *l, int64_t now_us, int64_t *until_us);
/* The portal's UTC offset (account-info): the daily budget resets at
 * midnight there. Default 0 (UTC). */
void hs_limiter_set_utc_offset(hs_limiter *l, int64_t offset_ms);
/* Microseconds from wall-clock time now_wall_us to the portal's next
 * midnight (tests). */
int64_t hs_limiter_until_midnight_us(const hs_limiter *l, int64_t now_wall_us);
/* Requests counted in the last window (tests, metrics). */
int hs_limiter_in_window(hs_limiter *l, int64_t now_us);

/* Share mode: several processes spend one portal, and each may use only
 * `share` (0..1) of the window less the reserve. The shares of all
 * processes must sum to at most 1 at every instant (the worker derives its
 * share from the Kafka partitions it owns). A share that grows takes
 * effect only once the old one has left the window (the quota is the
 * smallest share held during the last window), unless an answer to a
 * request sent after the change shows that nobody else spent the window;
 * a share that shrinks applies at once. A process over its quota may
 * send a lone probe on the reserve (one per window once it had a share)
 * while the headers show more than half of the reserve left (the first
 * one blind). Until the first call the limiter is in header mode (one
 * process per portal, or the worker's setup before it owns partitions):
 * the whole window, capped by what the headers say is left. */
void hs_limiter_set_share(hs_limiter *l, double share, int64_t now_us);
/* The requests this process may have in the current window (tests). */
int hs_limiter_quota(hs_limiter *l, int64_t now_us);

/* Work-conserving quota (share mode, docs/worker.md "Rate limiting"):
 * the share is a guarantee, not a cap. A process may send while the
 * window, as the last X-HubSpot-RateLimit-Max / -Remaining it saw and its
 * own sends since show it, stays under a cap: the window less the reserve
 * for a PRIORITY process (replies, category updates), less the reserve
 * and the headroom for a BULK one, so when both wait the priority one is
 * served first. Of the room a fresh view shows it takes share/(2-share)
 * before the next answer, so processes acting on views that cannot show
 * each other's requests in flight never overfill it together (file
 * comment of hs_ratelimit.c). BULK is the default. */
typedef enum { HS_RL_BULK, HS_RL_PRIORITY } hs_rl_class;
void hs_limiter_set_class(hs_limiter *l, hs_rl_class c);
/* Requests this process may still send now by a fresh header view, -1
 * without one (tests). */
int hs_limiter_room(hs_limiter *l, int64_t now_us);

/* Where a process's time goes at a portal (the quota gauges; docs/worker.md
 * "Rate limiting"): from its first call, the time since each call to
 * hs_limiter_acquire or _observe goes to the state that left it in. */
enum {
  HS_RL_T_IDLE,    /* nothing waiting, nothing in flight */
  HS_RL_T_SENDING, /* requests in flight, none waiting for the budget */
  HS_RL_T_SHARE,   /* waiting: a fresh view's room taken (share/(2-share)) */
  HS_RL_T_PACED,   /* waiting: bulk pacing (an eighth per eighth) */
  HS_RL_T_FULL,    /* waiting: a fresh view shows the window at our cap */
  HS_RL_T_STALE,   /* waiting: no fresh view, one request at a time */
  HS_RL_T_OTHER,   /* waiting: quota, old view full, 429, daily, fixed */
  HS_RL_T_N
};
/* Seconds per state so far (counters), and the states' label values. */
void hs_limiter_times(hs_limiter *l, int64_t now_us, double out_s[HS_RL_T_N]);
const char *hs_rl_time_name(int state);

/* What is left of a portal's budget, for the quota gauges. */
typedef struct {
  long window_limit;     /* requests per window (config or header Max) */
  long window_remaining; /* of the current window, as far as we know */
  long daily_limit;      /* -1: unlimited */
  long daily_remaining;  /* -1: unlimited */
  bool daily_blocked;    /* paused until the daily reset */
} hs_rl_snapshot;
void hs_limiter_snapshot(hs_limiter *l, int64_t now_us, hs_rl_snapshot *out);

/* A registry keyed by base URL + token: tenants that share a portal share
 * its limiter. The token is hashed, never stored. */
typedef struct hs_limiters hs_limiters;
hs_limiters *hs_limiters_new(void);
void hs_limiters_free(hs_limiters *r);
hs_limiter *hs_limiters_get(hs_limiters *r, const char *base_url,
                            const char *token, const hs_limiter_conf *c);

#endif
