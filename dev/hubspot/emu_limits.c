/* emu_limits.c: HubSpot's rate limits (docs/hubspot-emulator.md): a rolling
 * 10-second window per app, a daily budget per account that resets at
 * midnight (UTC here), and a 5/s bucket for search, which is exempt from
 * the 10-second window. Callers hold emu->mu. */
#include "emu.h"

#include <stdlib.h>
#include <string.h>

int emu_window_init(struct emu_window *w, size_t cap, int64_t span_ms) {
  memset(w, 0, sizeof *w);
  w->cap = cap ? cap : 1;
  w->span_ms = span_ms;
  w->ts = calloc(w->cap, sizeof *w->ts);
  return w->ts ? 0 : -1;
}

void emu_window_free(struct emu_window *w) {
  free(w->ts);
  memset(w, 0, sizeof *w);
}

void emu_window_clear(struct emu_window *w) {
  w->head = 0;
  w->n = 0;
}

/* Entries admitted within the last `span` ms. With the window's own span
 * the expired entries are dropped on the way. */
size_t emu_window_count(struct emu_window *w, int64_t now, int64_t span) {
  if (span == w->span_ms) {
    while (w->n > 0 && w->ts[w->head] <= now - span) {
      w->head = (w->head + 1) % w->cap;
      w->n--;
    }
    return w->n;
  }
  size_t k = 0;
  for (size_t i = 0; i < w->n; i++) {
    size_t ix = (w->head + w->n - 1 - i) % w->cap;
    if (w->ts[ix] <= now - span)
      break;
    k++;
  }
  return k;
}

void emu_window_push(struct emu_window *w, int64_t now) {
  if (w->n == w->cap) { /* full: forget the oldest */
    w->head = (w->head + 1) % w->cap;
    w->n--;
  }
  w->ts[(w->head + w->n) % w->cap] = now;
  w->n++;
}

void emu_daily_roll(struct emu_portal *p) {
  /* The daily budget resets at midnight in the portal's time zone. */
  int64_t day = emu_portal_day(p, emu_wall_ms());
  if (day != p->day) {
    p->day = day;
    p->daily_used = 0;
  }
}

static void count_429(struct emu_call *c) {
  c->emu->rate_limited_429++;
  c->p->rate_limited_429++;
}

static void set_headers(struct emu_call *c, int64_t now) {
  struct emu_app *a = c->app;
  struct emu_portal *p = c->p;
  long used = (long)emu_window_count(&a->win, now, EMU_WINDOW_MS);
  long secondly = a->per_10s / 10;
  long sec_used = (long)emu_window_count(&a->win, now, 1000);
  c->rl_headers = true;
  c->hdr_max = a->per_10s;
  c->hdr_win_rem = a->per_10s - used > 0 ? a->per_10s - used : 0;
  c->hdr_sec_rem = secondly - sec_used > 0 ? secondly - sec_used : 0;
  c->hdr_daily = p->daily_limit;
  c->hdr_daily_rem =
      p->daily_limit - p->daily_used > 0 ? p->daily_limit - p->daily_used : 0;
  c->hdr_oauth = a->oauth;
}

static void reply_ten_secondly(struct emu_call *c) {
  json_t *b =
      json_pack("{s:s, s:s, s:s, s:s, s:s}", "status", "error", "message",
                "You have reached your ten_secondly_rolling limit.",
                "errorType", "RATE_LIMIT", "correlationId", c->corr,
                "policyName", "TEN_SECONDLY_ROLLING");
  emu_reply(c, 429, b);
}

bool emu_limit_check(struct emu_call *c, bool is_search) {
  struct emu *e = c->emu;
  struct emu_portal *p = c->p;
  struct emu_app *a = c->app;
  int64_t now = emu_mono_ms();
  emu_daily_roll(p);

  if (p->faults.force_429 > 0) {
    p->faults.force_429--;
    e->faults_injected++;
    count_429(c);
    set_headers(c, now);
    c->hdr_win_rem = 0;
    c->rl_headers = !is_search;
    if (e->retry_after)
      c->retry_after_s = EMU_WINDOW_MS / 1000;
    reply_ten_secondly(c);
    return false;
  }

  if (p->daily_used >= p->daily_limit) {
    count_429(c);
    set_headers(c, now);
    c->rl_headers = !is_search;
    if (e->retry_after)
      c->retry_after_s = emu_seconds_to_local_midnight(c->p);
    char rid[40];
    emu_uuid(rid);
    emu_reply(c, 429,
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "status", "error",
                        "message", "You have reached your daily limit.",
                        "errorType", "RATE_LIMIT", "correlationId", c->corr,
                        "policyName", "DAILY", "requestId", rid));
    return false;
  }

  if (is_search) {
    /* The recorded search 429 has no policyName and no rate headers. */
    if (emu_window_count(&p->search, now, 1000) >= EMU_SEARCH_PER_SEC) {
      count_429(c);
      if (e->retry_after)
        c->retry_after_s = 1;
      emu_reply(c, 429,
                json_pack("{s:s, s:s, s:s, s:s}", "status", "error", "message",
                          "You have reached your secondly limit.",
                          "correlationId", c->corr, "category", "RATE_LIMITS"));
      return false;
    }
    emu_window_push(&p->search, now);
    p->daily_used++;
    return true;
  }

  if ((long)emu_window_count(&a->win, now, EMU_WINDOW_MS) >= a->per_10s) {
    e->into_exhausted++;
    p->into_exhausted++;
    count_429(c);
    set_headers(c, now);
    if (e->retry_after) {
      int64_t wait = a->win.ts[a->win.head] + EMU_WINDOW_MS - now;
      c->retry_after_s = (int)((wait + 999) / 1000);
      if (c->retry_after_s < 1)
        c->retry_after_s = 1;
    }
    reply_ten_secondly(c);
    return false;
  }
  emu_window_push(&a->win, now);
  p->daily_used++;
  set_headers(c, now);
  return true;
}
