/* hs_ratelimit: per-portal request budget (docs/hubspot-client.md).
 *
 * Three things limit a portal: our own sends in the rolling window (exact
 * for one process), what the last response's headers said is left, and
 * the daily budget.
 *
 * Several processes spending one portal cannot learn each other's sends
 * in time from the headers alone (an answer says nothing of requests still
 * on their way), so sharing is by quota: each process is given a share of
 * the window (the worker derives it from the Kafka partitions it owns, so
 * the shares of a group sum to 1), and a share that grows is only used
 * once the old one has left the window. Proof sketch: a process's sends
 * in any window ending at t are at most the largest quota it used in that
 * window, and each such quota is at most its share at t - W; the shares
 * at t - W sum to at most the window. A reserve outside every share pays
 * for the few requests a process sends before it has a quota (setup,
 * probes). When the headers show more traffic than the other shares can
 * explain (shares over-committed by configuration), the older rule caps
 * us as well: use only a quarter of what the server says is left.
 *
 * Work-conserving quota (the default in share mode; docs/worker.md "Rate
 * limiting"): the share is a guarantee, and a process may borrow what the
 * others leave unused. Each answer's X-HubSpot-RateLimit-Max and
 * -Remaining say how much of the portal's window the server had counted
 * when the request arrived; less our own requests that had arrived by
 * then (hs_run answers a whole wave before it sends the next), that is
 * what the other processes spent. With all our sends the server may still
 * count (an answered one arrived before its answer, so it leaves the
 * server's window at the latest a window after the answer; an unanswered
 * one is counted for the window and the guard after its send), it
 * estimates the window now, and a send goes while the estimate stays
 * under a cap: the window less the reserve for a priority process
 * (replies, category updates), less the reserve and the headroom for a
 * bulk one, so bulk processes leave the headroom free and when both wait
 * the priority process is served first.
 *
 * In-flight accounting (issue 19: with borrowing, worker_share's four
 * replicas sent 1-6 requests into an exhausted window in 2 of 5 runs). A view
 * cannot show the requests the others have on their way, and each of them
 * acts on a view that cannot show ours. So a view is used only while it
 * is fresh (two of the round trips that brought it: what the others sent
 * since is then about what they had on its way), and of the room R it
 * showed under the cap a process with share s takes at most
 * f = s / (2 - s) of R before the next answer. Why that is enough: if
 * process i has x_i requests out that the others cannot see and acts on a
 * view that misses all of theirs, x_i <= f_i (F + x - x_i), F being the
 * true room and x the sum of all x_j; so x_i <= f_i/(1 + f_i) (F + x) =
 * s_i/2 (F + x), and with the shares summing to at most 1, x <= (F + x)/2,
 * x <= F: together they never send more than the room there is. A lone
 * request (nothing else of ours out, the view showing room) is always
 * allowed, so a small share still moves; n processes sending one each at
 * the cap exceed it by at most n, which the reserve (and for bulk the
 * headroom) absorbs while the replicas sharing a portal are fewer than
 * the reserve (11 at 190, 4 at 60).
 *
 * Without a fresh view a process sends one request at a time, whose
 * answer brings one: while an older view of the window (with our sends
 * since) still showed room under the cap, or, once that window has
 * passed, within its quota. A window a view shows full gets nothing until
 * our own sends leave it (we replace them) or the view has aged out: no
 * lookouts into a full window. Bulk processes are paced (at most an
 * eighth of the cap per eighth of the window) so the window does not fill
 * and drain in bursts that leave a priority process nothing for seconds;
 * the priority processes find the headroom the bulk ones leave. */
#include "hs_ratelimit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ls_hash.h"

void hs_rl_headers_clear(hs_rl_headers *h) {
  h->remaining = h->max = h->interval_ms = -1;
  h->daily = h->daily_remaining = h->retry_after_ms = -1;
}

#define HS_SHARE_HIST 32

typedef struct {
  int64_t *ts;
  int64_t *exp; /* sends only: when it surely left the server's window */
  size_t cap, head, n;
} ring;

static int ring_init(ring *r, size_t cap) {
  memset(r, 0, sizeof *r);
  r->cap = cap ? cap : 1;
  r->ts = calloc(r->cap, sizeof *r->ts);
  return r->ts ? 0 : -1;
}

static void ring_prune(ring *r, int64_t older_than) {
  while (r->n && r->ts[r->head] <= older_than) {
    r->head = (r->head + 1) % r->cap;
    r->n--;
  }
}

static void ring_push(ring *r, int64_t t) {
  if (r->n == r->cap) {
    r->head = (r->head + 1) % r->cap;
    r->n--;
  }
  r->ts[(r->head + r->n) % r->cap] = t;
  if (r->exp)
    r->exp[(r->head + r->n) % r->cap] = INT64_MAX;
  r->n++;
}

static size_t ring_count_after(const ring *r, int64_t t) {
  size_t k = 0;
  for (size_t i = 0; i < r->n; i++) {
    size_t ix = (r->head + r->n - 1 - i) % r->cap;
    if (r->ts[ix] <= t)
      break;
    k++;
  }
  return k;
}

struct hs_limiter {
  hs_limiter_conf c;
  ring sends;  /* our sends, mono us */
  ring search; /* our search sends */
  /* Latest header view. */
  bool hdr_known;
  long hdr_remaining, hdr_max;
  int64_t hdr_sent_us, hdr_obs_us;
  int64_t others_until_us;  /* another process spends this window until */
  int64_t penalty_until_us; /* after a 10 s 429 */
  int64_t search_penalty_until_us; /* after a search 429 */
  /* Daily budget (the portal's local day of the wall clock). */
  long daily_used;
  int64_t day;
  int64_t utc_offset_us;          /* the portal's time zone (account-info) */
  int64_t daily_blocked_until_us; /* mono */
  int in_flight;                  /* acquired, not yet observed */
  /* Share mode (hs_limiter_set_share). */
  bool shared;
  struct {
    int64_t t;
    double share;
  } hist[HS_SHARE_HIST]; /* share changes; [0] was in effect a window ago */
  size_t n_hist;
  ring probes;       /* sends beyond the quota (on the reserve) */
  bool had_share;    /* a share above 0 was ever set */
  bool witness_open; /* a request sent with nothing else in flight */
  int64_t witness_sent_us;
  /* Work-conserving quota. */
  hs_rl_class cls;
  long hdr_others; /* the others' count in this view */
  /* Where the time goes (hs_limiter_times): the state since t_last_us. */
  int64_t t_us[HS_RL_T_N];
  int64_t t_last_us;
  int t_state;
  int why; /* borrowing: why the last acquire waited (HS_RL_T_*) */
};

/* Time since the last change goes to the state it was in. */
static void t_enter(hs_limiter *l, int64_t now_us, int state) {
  if (l->t_last_us > 0 && now_us > l->t_last_us)
    l->t_us[l->t_state] += now_us - l->t_last_us;
  if (now_us > l->t_last_us)
    l->t_last_us = now_us;
  l->t_state = state;
}

/* A header view is fresh for this many of the round trips that brought
 * it, and never longer than HS_VIEW_FRESH_US (view_fresh). */
#define HS_VIEW_FRESH_US 1000000
#define HS_FRESH_RTTS 2

static int64_t window_us(const hs_limiter *l) {
  return ((int64_t)l->c.window_ms + l->c.guard_ms) * 1000;
}

hs_limiter *hs_limiter_new(const hs_limiter_conf *c) {
  hs_limiter *l = calloc(1, sizeof *l);
  if (!l)
    return NULL;
  l->c = *c;
  if (l->c.per_window < 1)
    l->c.per_window = 1;
  if (l->c.window_ms <= 0)
    l->c.window_ms = 10000;
  if (l->c.search_per_s < 1)
    l->c.search_per_s = 4;
  if (l->c.reserve <= 0)
    l->c.reserve = l->c.per_window / 16 > 4 ? l->c.per_window / 16 : 4;
  if (l->c.reserve >= l->c.per_window)
    l->c.reserve = l->c.per_window - 1;
  if (l->c.headroom == 0)
    l->c.headroom = l->c.per_window / 32 > 4 ? l->c.per_window / 32 : 4;
  if (l->c.headroom > 0 && l->c.headroom >= l->c.per_window - l->c.reserve)
    l->c.headroom = l->c.per_window - l->c.reserve - 1;
  if (l->c.headroom < 0)
    l->c.headroom = -1;
  if (ring_init(&l->sends, (size_t)l->c.per_window) ||
      !(l->sends.exp = calloc(l->sends.cap, sizeof *l->sends.exp)) ||
      ring_init(&l->search, (size_t)l->c.search_per_s) ||
      ring_init(&l->probes,
                (size_t)(l->c.reserve / 2 > 1 ? l->c.reserve / 2 : 1))) {
    hs_limiter_free(l);
    return NULL;
  }
  return l;
}

void hs_limiter_free(hs_limiter *l) {
  if (!l)
    return;
  free(l->sends.ts);
  free(l->sends.exp);
  free(l->search.ts);
  free(l->probes.ts);
  free(l);
}

/* HubSpot resets the daily limit at midnight in the account's time zone
 * (hs_limiter_set_utc_offset; UTC until it is known; a Retry-After
 * overrides it). */
static int64_t local_day(const hs_limiter *l, int64_t wall_us) {
  int64_t t = wall_us + l->utc_offset_us;
  const int64_t day = 86400LL * 1000000;
  return t >= 0 ? t / day : (t - day + 1) / day;
}

int64_t hs_limiter_until_midnight_us(const hs_limiter *l, int64_t now_wall_us) {
  const int64_t day = 86400LL * 1000000;
  int64_t into = ((now_wall_us + l->utc_offset_us) % day + day) % day;
  return day - into;
}

static int64_t until_midnight_us_of(const hs_limiter *l) {
  return hs_limiter_until_midnight_us(l, (int64_t)time(NULL) * 1000000);
}

void hs_limiter_set_utc_offset(hs_limiter *l, int64_t offset_ms) {
  l->utc_offset_us = offset_ms * 1000;
  l->day = local_day(l, (int64_t)time(NULL) * 1000000);
}

static void daily_roll(hs_limiter *l) {
  int64_t d = local_day(l, (int64_t)time(NULL) * 1000000);
  if (d != l->day) {
    l->day = d;
    l->daily_used = 0;
  }
}

bool hs_limiter_daily_blocked(hs_limiter *l, int64_t now_us,
                              int64_t *until_us) {
  daily_roll(l);
  if (l->daily_blocked_until_us > now_us) {
    if (until_us)
      *until_us = l->daily_blocked_until_us;
    return true;
  }
  if (l->c.daily > 0 && l->daily_used >= l->c.daily) {
    l->daily_blocked_until_us = now_us + until_midnight_us_of(l);
    if (until_us)
      *until_us = l->daily_blocked_until_us;
    return true;
  }
  return false;
}

static int limit_of(const hs_limiter *l) {
  int lim = l->c.per_window;
  if (l->hdr_known && l->hdr_max > 0 && l->hdr_max < lim)
    lim = (int)l->hdr_max;
  return lim;
}

static int64_t acquire_search(hs_limiter *l, int64_t now_us) {
  if (l->search_penalty_until_us > now_us)
    return l->search_penalty_until_us - now_us;
  int64_t span = (1000 + l->c.guard_ms) * 1000;
  ring_prune(&l->search, now_us - span);
  if (l->search.n >= (size_t)l->c.search_per_s)
    return l->search.ts[l->search.head] + span - now_us + 1;
  ring_push(&l->search, now_us);
  l->daily_used++;
  return 0;
}

/* The smallest share held during the last window (share mode). */
static double share_floor(hs_limiter *l, int64_t now_us) {
  int64_t edge = now_us - window_us(l);
  size_t first = 0;
  while (first + 1 < l->n_hist && l->hist[first + 1].t <= edge)
    first++;
  if (first) {
    memmove(l->hist, l->hist + first, (l->n_hist - first) * sizeof l->hist[0]);
    l->n_hist -= first;
  }
  double m = 1.0;
  for (size_t i = 0; i < l->n_hist; i++)
    if (l->hist[i].share < m)
      m = l->hist[i].share;
  return l->n_hist ? m : 0.0;
}

static int quota_of(hs_limiter *l, int64_t now_us, int lim) {
  int usable = lim - l->c.reserve;
  if (usable < 1)
    usable = 1;
  return (int)(share_floor(l, now_us) * usable);
}

int hs_limiter_quota(hs_limiter *l, int64_t now_us) {
  if (!l->shared)
    return limit_of(l);
  return quota_of(l, now_us, limit_of(l));
}

void hs_limiter_set_share(hs_limiter *l, double share, int64_t now_us) {
  if (!(share >= 0.0))
    share = 0.0;
  if (share > 1.0)
    share = 1.0;
  if (share > 0.0)
    l->had_share = true;
  if (!l->shared) {
    /* Before share mode the process may have spent the whole window:
     * start from nothing, as if the share had been 0 until now. */
    l->shared = true;
    l->n_hist = 1;
    l->hist[0].t = now_us;
    l->hist[0].share = 0.0;
  }
  share_floor(l, now_us);
  if (l->n_hist == HS_SHARE_HIST) {
    /* Rebalance storm: fold the two oldest (keeping the smaller share,
     * which only makes us slower). */
    if (l->hist[1].share > l->hist[0].share)
      l->hist[1].share = l->hist[0].share;
    memmove(l->hist, l->hist + 1, (l->n_hist - 1) * sizeof l->hist[0]);
    l->n_hist--;
  }
  l->hist[l->n_hist].t = now_us;
  l->hist[l->n_hist].share = share;
  l->n_hist++;
}

/* The view from the headers (the older rule): at most Remaining minus our
 * sends since that answer, a quarter of it when others spend the window.
 * Returns 0 when a request may go, else the microseconds to wait. */
static int64_t header_wait(hs_limiter *l, int64_t now_us) {
  int64_t span = window_us(l);
  if (l->hdr_known && l->hdr_obs_us > now_us - l->c.window_ms * 1000) {
    long since = (long)ring_count_after(&l->sends, l->hdr_sent_us);
    long share = l->hdr_remaining;
    /* Other processes spend the same window and see the same headers:
     * each takes a quarter of what is left, so up to four sharers (the
     * dev stack's worker groups) cannot overrun it together, and the
     * answers keep correcting the view. */
    if (l->others_until_us > now_us)
      share /= 4;
    if (share - since <= 0) {
      if (l->in_flight > 0)
        return 20000; /* answers are on their way; look again then */
      /* Nothing in flight and nothing left: wait until every request the
       * server had counted has left the window. */
      return l->hdr_obs_us + span - now_us + 1;
    }
  } else if (l->others_until_us > now_us) {
    /* Shared window, stale view: one request at a time until an answer
     * tells us what is left. */
    if (l->in_flight > 0)
      return 20000;
  }
  return 0;
}

/* Share mode, quota spent: a lone request may still go on the reserve
 * while the last answer showed more than half of the reserve left (the
 * first one blind): reserve/2 per window before the process ever had a
 * share, one per window afterwards. It keeps the first call after a
 * rebalance moving, and its answer may show that nobody else spends the
 * window (the fast path in hs_limiter_observe). */
static bool probe_allowed(hs_limiter *l, int64_t now_us) {
  if (l->in_flight > 0)
    return false;
  ring_prune(&l->probes, now_us - window_us(l));
  size_t cap = l->had_share ? 1 : l->probes.cap;
  if (l->probes.n >= cap)
    return false;
  if (!l->hdr_known || l->hdr_obs_us <= now_us - l->c.window_ms * 1000)
    return true;
  long since = (long)ring_count_after(&l->sends, l->hdr_sent_us);
  return l->hdr_remaining - since > l->c.reserve / 2;
}

static void take(hs_limiter *l, int64_t now_us, bool probe) {
  if (l->in_flight == 0) {
    /* Everything sent before was answered, so it reached the server: the
     * answer to this one can tell other processes' traffic apart. */
    l->witness_open = true;
    l->witness_sent_us = now_us;
  }
  if (probe)
    ring_push(&l->probes, now_us);
  ring_push(&l->sends, now_us);
  l->in_flight++;
  l->daily_used++;
}

void hs_limiter_set_class(hs_limiter *l, hs_rl_class c) {
  l->cls = c;
}

static bool borrowing(const hs_limiter *l) {
  return l->shared && l->c.headroom >= 0;
}

/* An answered request reached the server before its answer, so the
 * server stops counting it at the latest a window after the answer; this
 * margin covers the server's clock granularity (the guard, which covers
 * unanswered requests of unknown arrival, bounds it). */
#define HS_ANSWERED_MARGIN_US 50000

static int64_t answered_span_us(const hs_limiter *l) {
  int64_t g = (int64_t)l->c.guard_ms * 1000;
  return (int64_t)l->c.window_ms * 1000 +
         (g < HS_ANSWERED_MARGIN_US ? g : HS_ANSWERED_MARGIN_US);
}

/* The server answered our request sent at sent_us (it carried the
 * rate-limit headers): it leaves our count of the server's window a
 * window after now instead of a window and the guard after it was sent. */
static void mark_answered(hs_limiter *l, int64_t sent_us, int64_t now_us) {
  int64_t e = now_us + answered_span_us(l);
  for (size_t i = 0; i < l->sends.n; i++) {
    size_t ix = (l->sends.head + i) % l->sends.cap;
    if (l->sends.ts[ix] == sent_us && l->sends.exp[ix] == INT64_MAX) {
      if (e < l->sends.ts[ix] + window_us(l))
        l->sends.exp[ix] = e;
      return;
    }
  }
}

/* Our sends the server may still count at now (the ring pruned to the
 * window and the guard): unanswered ones all, answered ones until a
 * window after their answer. */
static long ours_live(const hs_limiter *l, int64_t now_us) {
  long k = 0;
  for (size_t i = 0; i < l->sends.n; i++)
    if (l->sends.exp[(l->sends.head + i) % l->sends.cap] > now_us)
      k++;
  return k;
}

/* What the other processes had spent of the server's window when the
 * viewed request arrived: the server's count less ours sent up to it,
 * except those still unanswered (they may not have arrived yet). */
static long others_of(const hs_limiter *l, int64_t sent_us, long used) {
  long since = (long)ring_count_after(&l->sends, sent_us);
  long ours = (long)ring_count_after(&l->sends,
                                     sent_us - (int64_t)l->c.window_ms * 1000) -
              since;
  long unanswered = l->in_flight - since;
  if (unanswered > 0)
    ours -= unanswered < ours ? unanswered : ours;
  return used > ours ? used - ours : 0;
}

/* The largest window total a send may bring about: a bulk process
 * (within its share or borrowing) leaves the headroom to the priority
 * ones, which is what serves them first when both wait. */
static long cap_of(const hs_limiter *l, int lim) {
  long cap = lim - l->c.reserve;
  if (l->cls == HS_RL_BULK)
    cap -= l->c.headroom;
  return cap;
}

/* The share held now (the last one set), at most 1. */
static double share_now(const hs_limiter *l) {
  double s = l->n_hist ? l->hist[l->n_hist - 1].share : 0.0;
  return s > 1.0 ? 1.0 : s;
}

/* A view is fresh for two of the round trips that brought it (at least
 * 20 ms, at most a second): what the others sent since is then about what
 * they had on its way when it came (the sweep in test_hs_quota.c checks
 * the factor). */
static bool view_fresh(const hs_limiter *l, int64_t now_us) {
  if (!l->hdr_known)
    return false;
  int64_t rtt = (l->hdr_obs_us - l->hdr_sent_us) * HS_FRESH_RTTS;
  if (rtt < 20000)
    rtt = 20000;
  if (rtt > HS_VIEW_FRESH_US)
    rtt = HS_VIEW_FRESH_US;
  return now_us - l->hdr_obs_us <= rtt;
}

/* Requests a fresh view allows now in *room (may be <= 0); false without
 * a view of the last second (file comment, "in-flight accounting"). */
static bool view_room(hs_limiter *l, int64_t now_us, int lim, long *room) {
  if (!view_fresh(l, now_us))
    return false;
  long ours = ours_live(l, now_us);
  long since = (long)ring_count_after(&l->sends, l->hdr_sent_us);
  /* Under our cap, by the view: the others as they were then, all of ours
   * in the window now (those sent since the view included). */
  long free = cap_of(l, lim) - l->hdr_others - ours;
  /* Of the room the view showed, this process takes the fraction
   * s / (2 - s) of its share s before the next answer. */
  double s = share_now(l);
  long r = (long)(s / (2.0 - s) * (double)(free + since)) - since;
  l->why = free < 1 ? HS_RL_T_FULL : HS_RL_T_SHARE;

  /* Paced: a bulk process sends at most an eighth of its cap per eighth
   * of the window, so the window does not fill (and later drain) in
   * bursts that leave the priority processes nothing for seconds. */
  if (l->cls == HS_RL_BULK) {
    long eighth = (cap_of(l, lim) + 7) / 8;
    long recent = (long)ring_count_after(
        &l->sends, now_us - (int64_t)l->c.window_ms * 1000 / 8);
    if (r > eighth - recent) {
      r = eighth - recent;
      if (free >= 1)
        l->why = HS_RL_T_PACED;
    }
  }
  if (r < 1 && free >= 1 && l->in_flight == 0)
    r = 1; /* a lone request, whatever the share */
  *room = r < free ? r : free;
  return true;
}

int hs_limiter_room(hs_limiter *l, int64_t now_us) {
  ring_prune(&l->sends, now_us - window_us(l));
  int lim = limit_of(l);
  long r = 0;
  if (!view_room(l, now_us, lim, &r))
    return -1;
  return r < 0 ? 0 : (int)r;
}

/* Share mode with borrowing (hs_ratelimit.h, file comment). */
static int64_t acquire_borrowing(hs_limiter *l, int64_t now_us, int lim) {
  int64_t span = window_us(l);
  long room = 0;
  bool fresh = view_room(l, now_us, lim, &room);
  if (fresh) {
    if (room > 0) {
      take(l, now_us, false);
      return 0;
    }
  } else if (l->in_flight == 0) {
    l->why = HS_RL_T_OTHER;
    /* No fresh view: a lone request at a time, whose answer brings one,
     * while an older view of this window (if any) showed room under our
     * cap with our sends since counted, or within the quota once the
     * window that view described has passed. */
    bool old = l->hdr_known && l->hdr_obs_us > now_us - span;
    long ours = ours_live(l, now_us);
    if (old ? cap_of(l, lim) - l->hdr_others - ours >= 1
            : (int)ours < quota_of(l, now_us, lim)) {
      take(l, now_us, false);
      return 0;
    }
    if (!old && probe_allowed(l, now_us)) {
      take(l, now_us, true);
      return 0;
    }
  }
  if (!fresh)
    l->why = l->in_flight > 0 ? HS_RL_T_STALE : HS_RL_T_OTHER;
  if (l->in_flight > 0)
    return 20000; /* answers are on their way; look again then */
  /* Our oldest send leaving the window, the view ageing, or the quota
   * growing: look again within 100 ms; within 10 ms while the view is
   * fresh (our own sends that leave the window make room in it). */
  int64_t cap_us = fresh ? 10000 : 100000;
  int64_t w = cap_us;
  for (size_t i = 0; i < l->sends.n; i++) {
    size_t ix = (l->sends.head + i) % l->sends.cap;
    int64_t leave = l->sends.exp[ix] < l->sends.ts[ix] + span
                        ? l->sends.exp[ix]
                        : l->sends.ts[ix] + span;
    if (leave > now_us && leave - now_us + 1 < w)
      w = leave - now_us + 1;
  }
  return w;
}

static int64_t acquire(hs_limiter *l, bool search, int64_t now_us);

int64_t hs_limiter_acquire(hs_limiter *l, bool search, int64_t now_us) {
  l->why = HS_RL_T_OTHER;
  int64_t w = acquire(l, search, now_us);
  if (!search)
    t_enter(l, now_us, w == 0 ? HS_RL_T_SENDING : l->why);
  return w;
}

static int64_t acquire(hs_limiter *l, bool search, int64_t now_us) {
  int64_t until;
  if (hs_limiter_daily_blocked(l, now_us, &until))
    return until - now_us;
  if (search)
    return acquire_search(l, now_us);
  if (l->penalty_until_us > now_us)
    return l->penalty_until_us - now_us;
  int64_t span = window_us(l);
  ring_prune(&l->sends, now_us - span);
  int lim = limit_of(l);
  if (borrowing(l))
    return ours_live(l, now_us) >= lim ? 10000
                                       : acquire_borrowing(l, now_us, lim);
  if (l->sends.n >= (size_t)lim)
    return l->sends.ts[l->sends.head] + span - now_us + 1;
  if (l->shared) {
    int q = quota_of(l, now_us, lim);
    int64_t hw = l->others_until_us > now_us ? header_wait(l, now_us) : 0;
    if ((int)l->sends.n < q && hw == 0) {
      take(l, now_us, false);
      return 0;
    }
    if (hw == 0 && probe_allowed(l, now_us)) {
      take(l, now_us, true);
      return 0;
    }
    if (hw > 0)
      return hw;
    if (l->in_flight > 0)
      return 20000;
    /* Our oldest send leaving the window, or the quota growing. */
    int64_t w =
        l->sends.n ? l->sends.ts[l->sends.head] + span - now_us + 1 : 100000;
    return w < 100000 ? w : 100000;
  }
  int64_t hw = header_wait(l, now_us);
  if (hw > 0)
    return hw;
  take(l, now_us, false);
  return 0;
}

void hs_limiter_observe(hs_limiter *l, bool search, int64_t sent_us,
                        int64_t now_us, const hs_rl_headers *h) {
  if (!search && l->in_flight > 0)
    l->in_flight--;
  if (!search)
    t_enter(l, now_us, l->in_flight > 0 ? HS_RL_T_SENDING : HS_RL_T_IDLE);
  if (h->daily_remaining == 0)
    l->daily_blocked_until_us = now_us + until_midnight_us_of(l);
  if (h->daily > 0 && h->daily_remaining >= 0) {
    daily_roll(l);
    long used = h->daily - h->daily_remaining;
    if (used > l->daily_used)
      l->daily_used = used;
  }
  if (search || h->remaining < 0)
    return;
  mark_answered(l, sent_us, now_us);
  if (l->hdr_known && sent_us < l->hdr_sent_us)
    return; /* an older answer than the one we hold */
  if (l->hdr_known && sent_us == l->hdr_sent_us &&
      h->remaining > l->hdr_remaining && now_us - l->hdr_obs_us < 1000000)
    return; /* same wave: the lowest Remaining arrived last */
  l->hdr_known = true;
  l->hdr_remaining = h->remaining;
  l->hdr_max = h->max > 0 ? h->max : l->c.per_window;
  l->hdr_sent_us = sent_us;
  l->hdr_obs_us = now_us;
  ring_prune(&l->sends, now_us - window_us(l));
  /* What the others had spent when this request arrived; computed now,
   * as our older sends leave the ring later. */
  l->hdr_others = others_of(l, sent_us, l->hdr_max - l->hdr_remaining);
  long server_used = l->hdr_max - h->remaining;
  long ours =
      (long)ring_count_after(&l->sends, sent_us - l->c.window_ms * 1000);
  if (!l->shared) {
    /* More spent than we sent in the window: another process shares it. */
    if (server_used > ours + 1)
      l->others_until_us = now_us + 3 * (int64_t)l->c.window_ms * 1000;
    return;
  }
  int lim = limit_of(l);
  int q = quota_of(l, now_us, lim);
  /* Others spend more than every other share together may: the shares are
   * over-committed (configuration); add the header rule as a cap. With
   * borrowing, others may rightly spend more: every send checks the view. */
  if (!borrowing(l) && server_used - ours > lim - q)
    l->others_until_us = now_us + 3 * (int64_t)l->c.window_ms * 1000;
  if (l->witness_open && sent_us == l->witness_sent_us) {
    l->witness_open = false;
    /* Ours in the server's window: sent after now - W (so they arrived
     * after the start of the window this answer describes) and before
     * this request (answered before it was sent, so they had arrived);
     * requests sent with it in the same wave count as others. */
    long ours_in =
        (long)ring_count_after(&l->sends, now_us - l->c.window_ms * 1000) -
        (long)ring_count_after(&l->sends, sent_us - 1) + 1;
    long others = server_used - ours_in;
    /* Sent after the last share change and nobody else in the window: no
     * one can be spending an older, larger share, so the new share holds
     * at once instead of after a window. */
    if (l->n_hist && sent_us > l->hist[l->n_hist - 1].t &&
        others <= l->c.reserve / 2) {
      double cur = l->hist[l->n_hist - 1].share;
      l->n_hist = 1;
      l->hist[0].t = now_us;
      l->hist[0].share = cur;
    }
  }
}

long hs_rl_clamp(long v) {
  if (v < 0)
    return -1;
  return v > 1000000000L ? 1000000000L : v;
}

long hs_rl_retry_after_ms(long seconds) {
  if (seconds < 0)
    return -1;
  if (seconds > HS_DAILY_WAIT_MAX_MS / 1000)
    return HS_DAILY_WAIT_MAX_MS;
  return seconds * 1000;
}

void hs_limiter_on_429(hs_limiter *l, bool search, bool daily, int64_t now_us,
                       long retry_after_ms) {
  /* Whatever the server says, bounded (hs_ratelimit.h). */
  if (retry_after_ms > HS_DAILY_WAIT_MAX_MS)
    retry_after_ms = HS_DAILY_WAIT_MAX_MS;
  int64_t ra = retry_after_ms > 0 ? (int64_t)retry_after_ms * 1000 : 0;
  if (daily) {
    int64_t wait = ra > 0 ? ra : until_midnight_us_of(l);
    if (wait > (int64_t)HS_DAILY_WAIT_MAX_MS * 1000)
      wait = (int64_t)HS_DAILY_WAIT_MAX_MS * 1000;
    l->daily_blocked_until_us = now_us + wait;
    return;
  }
  if (ra > window_us(l))
    ra = window_us(l);
  if (search) {
    int64_t wait = ra > 0 ? ra : 1000000;
    l->search_penalty_until_us = now_us + wait;
    return;
  }
  int64_t wait = ra > 0 ? ra : window_us(l);
  if (now_us + wait > l->penalty_until_us)
    l->penalty_until_us = now_us + wait;
  /* Whatever the headers said, the window is full now. */
  l->hdr_known = true;
  l->hdr_remaining = 0;
  if (l->hdr_max <= 0)
    l->hdr_max = l->c.per_window;
  ring_prune(&l->sends, now_us - window_us(l));
  l->hdr_others =
      l->hdr_max > (long)l->sends.n ? l->hdr_max - (long)l->sends.n : 0;
  l->hdr_obs_us = now_us;
}

int hs_limiter_in_window(hs_limiter *l, int64_t now_us) {
  ring_prune(&l->sends, now_us - window_us(l));
  return (int)ours_live(l, now_us);
}

void hs_limiter_snapshot(hs_limiter *l, int64_t now_us, hs_rl_snapshot *out) {
  out->window_limit = limit_of(l);
  long left = out->window_limit - hs_limiter_in_window(l, now_us);
  /* A fresh header view also counts what other processes spent. */
  if (l->hdr_known && now_us - l->hdr_obs_us < window_us(l) &&
      l->hdr_remaining < left)
    left = l->hdr_remaining;
  if (l->penalty_until_us > now_us)
    left = 0;
  out->window_remaining = left > 0 ? left : 0;
  out->daily_blocked = hs_limiter_daily_blocked(l, now_us, NULL);
  if (l->c.daily > 0) {
    out->daily_limit = l->c.daily;
    long d = l->c.daily - l->daily_used;
    out->daily_remaining = out->daily_blocked ? 0 : (d > 0 ? d : 0);
  } else {
    out->daily_limit = -1;
    out->daily_remaining = out->daily_blocked ? 0 : -1;
  }
}

static const char *const t_names[HS_RL_T_N] = {
    "idle", "sending", "share", "paced", "full", "stale", "other"};

const char *hs_rl_time_name(int state) {
  return state >= 0 && state < HS_RL_T_N ? t_names[state] : "?";
}

void hs_limiter_times(hs_limiter *l, int64_t now_us, double out_s[HS_RL_T_N]) {
  t_enter(l, now_us, l->t_state);
  for (int i = 0; i < HS_RL_T_N; i++)
    out_s[i] = (double)l->t_us[i] / 1e6;
}

/* -- registry ----------------------------------------------------------- */

typedef struct lim_entry {
  struct lim_entry *next;
  char key[65];
  hs_limiter *lim;
} lim_entry;

struct hs_limiters {
  lim_entry *head;
};

hs_limiters *hs_limiters_new(void) {
  return calloc(1, sizeof(hs_limiters));
}

void hs_limiters_free(hs_limiters *r) {
  if (!r)
    return;
  lim_entry *e = r->head;
  while (e) {
    lim_entry *n = e->next;
    hs_limiter_free(e->lim);
    free(e);
    e = n;
  }
  free(r);
}

hs_limiter *hs_limiters_get(hs_limiters *r, const char *base_url,
                            const char *token, const hs_limiter_conf *c) {
  /* sha256(base_url NUL token): the key never holds the token itself. */
  size_t bl = strlen(base_url), tl = token ? strlen(token) : 0;
  char *k = malloc(bl + tl + 2);
  if (!k)
    return NULL;
  memcpy(k, base_url, bl + 1);
  if (tl)
    memcpy(k + bl + 1, token, tl);
  k[bl + 1 + tl] = '\0';
  char key[65];
  ls_sha256_hex(k, bl + 1 + tl, key);
  free(k);
  for (lim_entry *e = r->head; e; e = e->next)
    if (!strcmp(e->key, key)) {
      /* Tenants of one portal may configure different tiers: the
       * smallest budget wins. */
      return e->lim;
    }
  lim_entry *e = calloc(1, sizeof *e);
  if (!e)
    return NULL;
  e->lim = hs_limiter_new(c);
  if (!e->lim) {
    free(e);
    return NULL;
  }
  memcpy(e->key, key, sizeof key);
  e->next = r->head;
  r->head = e;
  return e->lim;
}
