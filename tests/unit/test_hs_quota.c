/* test_hs_quota: the work-conserving portal quota of hs_ratelimit (share
 * mode with borrowing, docs/worker.md "Rate limiting"): a share is a
 * guarantee, what others leave unused is borrowed as far as the headers
 * show room, bulk borrowing leaves the headroom to priority processes,
 * and no request lands in an exhausted window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hs_ratelimit.h"

#define SEC 1000000LL
#define L 190 /* professional: reserve 11, headroom 5 */
#define BULK_CAP (L - 11 - 5)

static hs_limiter *mk(hs_rl_class cls) {
  hs_limiter_conf c = {L, 10000, 0, 500, 4, 0, 0};
  hs_limiter *l = hs_limiter_new(&c);
  hs_limiter_set_class(l, cls);
  return l;
}

static hs_rl_headers hdr(long remaining) {
  hs_rl_headers h;
  hs_rl_headers_clear(&h);
  h.remaining = remaining;
  h.max = L;
  h.interval_ms = 10000;
  return h;
}

/* Sends waves of up to 8 requests (as hs_run does), each answered with
 * the window the server would count if nobody else used the portal
 * beyond `others`; returns how many went before the limiter said wait. */
static int drain(hs_limiter *l, int64_t *t, long others, int waves) {
  int sent = 0;
  for (int w = 0; w < waves; w++) {
    int64_t t0 = *t, got = 0;
    while (got < 8 && hs_limiter_acquire(l, false, t0) == 0)
      got++;
    if (!got)
      break;
    sent += (int)got;
    *t += 100000;
    for (int i = 0; i < got; i++) {
      hs_rl_headers h =
          hdr(L - others - hs_limiter_in_window(l, *t) + (got - 1 - i));
      hs_limiter_observe(l, false, t0, *t, &h);
    }
    *t += 1000;
  }
  return sent;
}

/* A bulk process with half the portal, alone on it: it borrows the other
 * half, up to the window less the reserve and the headroom. */
static void test_bulk_borrows_idle_portal(void **st) {
  (void)st;
  hs_limiter *l = mk(HS_RL_BULK);
  int64_t t = 100 * SEC;
  hs_limiter_set_share(l, 0.0, t);
  hs_limiter_set_share(l, 0.5, t + 1);
  t += 10;
  int sent = drain(l, &t, 0, 200);
  /* The fixed share would stop at 0.5 x 179 = 89. */
  assert_true(sent > 89);
  assert_true(sent <= BULK_CAP);
  assert_true(sent >= BULK_CAP - 8);
  hs_limiter_free(l);
}

/* The same process when the headers show the others spending their own
 * share: it keeps to its guarantee. */
static void test_bulk_keeps_to_share_when_others_busy(void **st) {
  (void)st;
  hs_limiter *l = mk(HS_RL_BULK);
  int64_t t = 200 * SEC;
  hs_limiter_set_share(l, 0.0, t);
  hs_limiter_set_share(l, 0.5, t + 1);
  t += 10;
  int sent = drain(l, &t, 89, 200); /* the others hold 89 */
  assert_true(sent <= BULK_CAP - 89);
  assert_true(sent >= BULK_CAP - 89 - 8);
  hs_limiter_free(l);
}

/* The window holds what a bulk borrower may fill (the cap less the
 * headroom): the bulk process waits, the priority process still finds
 * room, so it is served first. */
static void test_priority_served_first(void **st) {
  (void)st;
  hs_limiter *bulk = mk(HS_RL_BULK);
  hs_limiter *prio = mk(HS_RL_PRIORITY);
  int64_t t = 300 * SEC;
  hs_limiter_set_share(bulk, 0.0, t);
  hs_limiter_set_share(bulk, 0.8, t + 1);
  hs_limiter_set_share(prio, 0.0, t);
  hs_limiter_set_share(prio, 0.2, t + 1);
  t += 10;
  int sent = drain(bulk, &t, 0, 200);
  assert_true(sent > 0.8 * 179); /* borrowed past its own share */
  assert_true(hs_limiter_acquire(bulk, false, t) > 0);
  /* The priority process sees the same window in its answers. */
  long used = BULK_CAP; /* what bulk filled, at most */
  assert_int_equal(hs_limiter_acquire(prio, false, t), 0); /* blind */
  hs_rl_headers h = hdr(L - used - 1);
  hs_limiter_observe(prio, false, t, t + 100000, &h);
  t += 100001;
  assert_int_equal(hs_limiter_acquire(prio, false, t), 0);
  assert_true(hs_limiter_room(prio, t) >= 0);
  assert_true(hs_limiter_acquire(bulk, false, t) > 0);
  hs_limiter_free(bulk);
  hs_limiter_free(prio);
}

/* A bulk borrower at its cap sends nothing into a window its answers show
 * full (no lookouts): only as its own sends leave the window does it
 * replace them. */
static void test_full_window_then_replace(void **st) {
  (void)st;
  hs_limiter *l = mk(HS_RL_BULK);
  int64_t t = 400 * SEC;
  hs_limiter_set_share(l, 0.0, t);
  hs_limiter_set_share(l, 0.3, t + 1);
  t += 10;
  int64_t first = t;
  /* Waves for nine seconds: answered sends leave our count a window after
   * their answer, so a longer drain would keep replacing them. */
  int sent = drain(l, &t, 0, 89);
  assert_true(sent > 0.3 * 179);
  int more = 0, hi = -1;
  for (int64_t end = t + 4 * SEC; t < end; t += 50000)
    if (hs_limiter_acquire(l, false, t) == 0) {
      more++;
      /* Once an answer showed the window full, only in place of one of
       * ours that left. */
      if (hi >= 0)
        assert_true(hs_limiter_in_window(l, t) <= hi);
      hs_rl_headers h = hdr(L - BULK_CAP - more); /* nothing drained */
      hs_limiter_observe(l, false, t, t + 100000, &h);
      if (hi < 0)
        hi = hs_limiter_in_window(l, t);
    }
  assert_true(hi <= BULK_CAP);
  /* Our first wave has left the window: it may be replaced. */
  t = first + 10 * SEC + 900000 + 4 * SEC;
  assert_int_equal(hs_limiter_acquire(l, false, t), 0);
  hs_limiter_free(l);
}

/* An answered request reached the server before its answer, so it leaves
 * our count of the server's window a window (and 50 ms) after the answer;
 * one without an answer from the server (no rate-limit headers: a
 * transport failure) stays for the window and the guard after its send. */
static void test_answered_leave_window(void **st) {
  (void)st;
  hs_limiter *l = mk(HS_RL_BULK);
  int64_t t = 500 * SEC;
  hs_limiter_set_share(l, 0.0, t);
  hs_limiter_set_share(l, 1.0, t + 1);
  t += 10;
  assert_int_equal(hs_limiter_acquire(l, false, t), 0);
  hs_rl_headers h = hdr(L - 1);
  hs_limiter_observe(l, false, t, t + 100000, &h);
  int64_t u = t + 1000000;
  assert_int_equal(hs_limiter_acquire(l, false, u), 0);
  hs_rl_headers none;
  hs_rl_headers_clear(&none);
  hs_limiter_observe(l, false, u, u + 100000, &none);
  assert_int_equal(hs_limiter_in_window(l, t + 100000 + 10 * SEC + 49000), 2);
  assert_int_equal(hs_limiter_in_window(l, t + 100000 + 10 * SEC + 51000), 1);
  assert_int_equal(hs_limiter_in_window(l, u + 10 * SEC + 499000), 1);
  assert_int_equal(hs_limiter_in_window(l, u + 10 * SEC + 501000), 0);
  hs_limiter_free(l);
}

/* Where the time goes (leadsync_hubspot_ratelimit_seconds_total): in
 * flight, idle between calls, waiting on a view whose room is taken. */
static void test_times(void **st) {
  (void)st;
  hs_limiter *l = mk(HS_RL_BULK);
  int64_t t = 600 * SEC;
  hs_limiter_set_share(l, 0.0, t);
  hs_limiter_set_share(l, 0.5, t + 1);
  t += 10;
  assert_int_equal(hs_limiter_acquire(l, false, t), 0);
  hs_rl_headers h = hdr(L - 1 - 160); /* others spent 160 */
  hs_limiter_observe(l, false, t, t + 100000, &h);
  /* Idle 200 ms, then a view with 13 free under the cap: a third goes
   * (share 1/2), the next waits for an answer. */
  t += 300000;
  int n = 0;
  while (hs_limiter_acquire(l, false, t) == 0)
    n++;
  assert_int_equal(n, 4);
  double ts[HS_RL_T_N];
  hs_limiter_times(l, t + 50000, ts);
  assert_true(ts[HS_RL_T_SENDING] > 0.099 && ts[HS_RL_T_SENDING] < 0.101);
  assert_true(ts[HS_RL_T_IDLE] > 0.199 && ts[HS_RL_T_IDLE] < 0.201);
  assert_true(ts[HS_RL_T_SHARE] > 0.049 && ts[HS_RL_T_SHARE] < 0.051);
  assert_string_equal(hs_rl_time_name(HS_RL_T_PACED), "paced");
  hs_limiter_free(l);
}

/* The race of issue 19 (worker_share, borrowing on): every process acts
 * on a view that cannot show the others' requests on their way. Scripted
 * rounds 40 ms apart: each process sends what its limiter allows, then
 * every request of the round arrives (in a scripted order), then the
 * answers come with the Remaining the server counted. A lender that was
 * idle (its view shows the portal empty, a borrower filling it since)
 * resumes on that view. The server's window never holds more than the
 * portal allows, and the processes together still come close to the
 * bulk cap. */
static void race_rounds(int n, const double *share, int idle_rounds,
                        bool prio_first) {
  enum { PER = 60, RES = 4, HEAD = 4, ROUNDS = 60 };
  hs_limiter *p[4];
  for (int i = 0; i < n; i++) {
    hs_limiter_conf c = {PER, 10000, 0, 500, 4, 0, 0};
    p[i] = hs_limiter_new(&c);
    hs_limiter_set_class(p[i],
                         prio_first && i == 0 ? HS_RL_PRIORITY : HS_RL_BULK);
    hs_limiter_set_share(p[i], 0.0, 0);
    hs_limiter_set_share(p[i], share[i], 1);
  }
  /* Everyone starts with a view of the empty portal. */
  int64_t t = 2 * SEC;
  for (int i = 0; i < n; i++) {
    assert_int_equal(hs_limiter_acquire(p[i], false, t), 0);
  }
  long server = n;
  for (int i = 0; i < n; i++) {
    hs_rl_headers h = hdr(0);
    h.max = PER;
    h.remaining = PER - server;
    hs_limiter_observe(p[i], false, t, t + 20000, &h);
  }
  long peak = 0;
  for (int r = 0; r < ROUNDS; r++) {
    t += 40000;
    int got[4] = {0};
    for (int i = 0; i < n; i++) {
      if (i == n - 1 && r < idle_rounds)
        continue; /* the lender is idle; its view ages */
      while (got[i] < 16 && hs_limiter_acquire(p[i], false, t) == 0)
        got[i]++;
    }
    /* All of this round's requests arrive before any answer. */
    long first[4];
    for (int i = 0; i < n; i++) {
      first[i] = server;
      server += got[i];
    }
    if (server > peak)
      peak = server;
    if (getenv("SIM_DEBUG"))
      print_message("n %d idle %d round %d: got %d %d %d %d server %ld\n", n,
                    idle_rounds, r, got[0], got[1], got[2], got[3], server);
    assert_true(server <= PER);
    for (int i = 0; i < n; i++)
      for (int k = 0; k < got[i]; k++) {
        hs_rl_headers h = hdr(0);
        h.max = PER;
        h.remaining = PER - (first[i] + k + 1);
        hs_limiter_observe(p[i], false, t, t + 30000, &h);
      }
  }
  /* Nothing left the window (2.4 s): work-conserving up to the cap. */
  assert_true(peak >= PER - RES - HEAD - n);
  for (int i = 0; i < n; i++)
    hs_limiter_free(p[i]);
}

static void test_race_stale_views(void **st) {
  (void)st;
  const double four[] = {0.25, 0.25, 0.25, 0.25};
  const double two[] = {0.5, 0.5};
  const double skew[] = {0.2, 0.8};
  race_rounds(4, four, 0, false);
  race_rounds(4, four, 10, false); /* a lender resumes on an old view */
  race_rounds(2, two, 12, false);
  race_rounds(2, skew, 0, true); /* replies and activity */
  race_rounds(2, skew, 15, true);
}

/* With borrowing off (headroom -1) the share is a fixed cap. */
static void test_fixed_share_does_not_borrow(void **st) {
  (void)st;
  hs_limiter_conf c = {L, 10000, 0, 500, 4, 0, -1};
  hs_limiter *l = hs_limiter_new(&c);
  int64_t t = 500 * SEC;
  hs_limiter_set_share(l, 0.0, t);
  hs_limiter_set_share(l, 0.5, t + 1);
  t += 10;
  int sent = drain(l, &t, 0, 200);
  assert_true(sent <= 89 + 1);
  hs_limiter_free(l);
}

/* -- a simulated portal -----------------------------------------------------
 * Bulk processes with endless backlogs and one priority process whose
 * work arrives at random (a flush of two calls, one after the other, like
 * a reply's upsert and email), each sending in waves like hs_run, with
 * random latencies to the server and back; some bulk processes stop and
 * start. The server counts arrivals in a 10 s window. */
typedef struct {
  int64_t arrive, answer, sent;
  long remaining;
  bool limited;
  bool done;
} sreq;

typedef struct {
  hs_limiter *lim;
  bool prio;
  sreq *wave[8];
  int nwave, answered;
  int64_t wave_sent;
  long sends;
  /* priority work: flushes of two calls, one after the other */
  int64_t ready_since; /* the next call is ready since (-1: none) */
  int stage;           /* 0: the flush's first call, 1: its second */
  int queued;          /* flushes waiting */
} sproc;

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static int64_t rnd(int64_t lo, int64_t hi) {
  rng_s ^= rng_s << 13;
  rng_s ^= rng_s >> 7;
  rng_s ^= rng_s << 17;
  return lo + (int64_t)(rng_s % (uint64_t)(hi - lo + 1));
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void simulate(uint64_t seed, int nbulk, double prio_share,
                     bool bulk_pauses) {
  enum { MAXP = 5, MAXQ = 60000 };
  const int64_t W = 10 * SEC, END = 120 * SEC, STEP = 1000;
  rng_s = seed;
  sproc p[MAXP] = {{0}};
  int np = nbulk + 1;
  for (int i = 0; i < np; i++) {
    p[i].prio = i == 0;
    p[i].lim = mk(p[i].prio ? HS_RL_PRIORITY : HS_RL_BULK);
    hs_limiter_set_share(p[i].lim, 0.0, 0);
    hs_limiter_set_share(
        p[i].lim, p[i].prio ? prio_share : (1.0 - prio_share) / nbulk, 1);
  }
  sreq *q = calloc(MAXQ, sizeof *q);
  int64_t *win = calloc(MAXQ, sizeof *win);
  int64_t *waits = calloc(MAXQ, sizeof *waits);
  size_t nq = 0, nwin = 0, whead = 0, nwaits = 0;
  long exhausted = 0, bulk_sends_late = 0, prio_sends_late = 0;
  for (int64_t now = 0; now < END && nq < MAXQ - 64; now += STEP) {
    /* Priority work: about 2 flushes a second (5 replies/s batched). */
    if (rnd(0, 499) == 0) {
      if (!p[0].queued && !p[0].nwave)
        p[0].ready_since = now;
      p[0].queued++;
    }
    /* Server arrivals, then answers. */
    for (size_t k = 0; k < nq; k++) {
      sreq *r = &q[k];
      if (r->arrive == now) {
        while (nwin > 0 && win[whead] <= now - W) {
          whead++;
          nwin--;
        }
        if ((long)nwin >= L) {
          exhausted++;
          if (getenv("SIM_DEBUG"))
            for (int d = 0; d < np; d++)
              print_message("exhausted t=%lld: p%d inw %d room %d\n",
                            (long long)(now / 1000), d,
                            hs_limiter_in_window(p[d].lim, now),
                            hs_limiter_room(p[d].lim, now));
          r->limited = true;
          r->remaining = 0;
        } else {
          win[whead + nwin++] = now;
          r->remaining = L - (long)nwin;
        }
      }
      if (r->answer == now)
        r->done = true;
    }
    for (int i = 0; i < np; i++) {
      sproc *s = &p[i];
      if (s->nwave) {
        int done = 0;
        for (int k = 0; k < s->nwave; k++)
          done += s->wave[k]->done;
        if (done < s->nwave)
          continue;
        for (int k = 0; k < s->nwave; k++) {
          hs_rl_headers h = hdr(s->wave[k]->remaining);
          hs_limiter_observe(s->lim, false, s->wave_sent, now, &h);
          if (s->wave[k]->limited)
            hs_limiter_on_429(s->lim, false, false, now, -1);
        }
        s->nwave = 0;
        if (s->prio) {
          if (s->stage == 0) {
            s->stage = 1;
          } else {
            s->stage = 0;
            s->queued--;
          }
          s->ready_since = now;
        }
      }
      bool paused = bulk_pauses && !s->prio &&
                    ((now / (15 * SEC)) % 3 == (i % 3)) && i > 1;
      int want = s->prio ? (s->queued > 0 ? 1 : 0) : (paused ? 0 : 8);
      while (s->nwave < want && hs_limiter_acquire(s->lim, false, now) == 0) {
        sreq *r = &q[nq++];
        r->sent = now;
        r->arrive = now + rnd(20, 150) * 1000 / STEP * STEP;
        r->answer = r->arrive + rnd(1, 80) * 1000 / STEP * STEP;
        s->wave[s->nwave++] = r;
        s->wave_sent = now;
        s->sends++;
        if (now >= 20 * SEC && s->prio)
          prio_sends_late++;
        else if (now >= 20 * SEC)
          bulk_sends_late++;
        if (s->prio)
          waits[nwaits++] = now - s->ready_since;
      }
    }
  }
  qsort(waits, nwaits, sizeof *waits, cmp_i64);
  int64_t p99 = nwaits ? waits[nwaits * 99 / 100] : 0;
  double windows = (double)((END - 20 * SEC) / W);
  double bulk_per_window = (double)bulk_sends_late / windows;
  double all_per_window = (double)(bulk_sends_late + prio_sends_late) / windows;
  print_message("seed %llu, %d bulk%s: into exhausted %ld, per window bulk "
                "%.0f all %.0f, priority calls %zu, wait p99 %lld ms\n",
                (unsigned long long)seed, nbulk, bulk_pauses ? " pausing" : "",
                exhausted, bulk_per_window, all_per_window, nwaits,
                (long long)(p99 / 1000));
  assert_int_equal(exhausted, 0);
  assert_true(nwaits > 200);
  /* The priority process never waits behind the bulk ones for long: at
   * most half a second with one bulk borrower (the age after which it
   * trusts the bulk cap). Several bulk processes borrowing at once race
   * past their cap between answers, and the priority one then waits for
   * the window to drain: several seconds at worst. */
  assert_true(p99 <= (nbulk == 1 ? 1000000 : 10000000));
  /* Work-conserving: the bulk processes together use nearly the whole
   * window less reserve, headroom and what the priority one spends. */
  if (!bulk_pauses)
    assert_true(all_per_window >= 0.75 * L);
  for (int i = 0; i < np; i++)
    hs_limiter_free(p[i].lim);
  free(q);
  free(win);
  free(waits);
}

static void test_sim_one_bulk(void **st) {
  (void)st;
  simulate(1, 1, 0.2, false);
  simulate(2, 1, 0.1, false);
}

static void test_sim_three_bulk(void **st) {
  (void)st;
  simulate(3, 3, 0.2, false);
  simulate(4, 3, 0.2, true);
  simulate(5, 2, 0.3, true);
}

/* -- the bench's part priority in simulated time ---------------------------
 * docs/bench.md section 7: the activity group (bulk, share 5/11) syncs a
 * backlog in flushes whose HubSpot phases are waves of up to 16 calls
 * with an idle gap every `waves` waves (intake, Kafka acknowledgements),
 * the replies group (priority, 2/11) gets a reply every 200 ms and
 * flushes 100 ms after its oldest one: two calls in sequence, then 100 ms
 * of outputs. Answers take the emulator's 100-115 ms. Per window after
 * the first 20 s: the calls of each, and where the bulk one's time went
 * (HS_QUOTA_BENCH=1 prints it for gaps of 0-400 ms). */
typedef struct {
  long bulk, prio, exhausted;
  double bulk_s[HS_RL_T_N];
} psim;

static void prio_sim(uint64_t seed, int gap_ms, int waves, psim *out) {
  enum { MAXQ = 60000 };
  const int64_t W = 10 * SEC, END = 90 * SEC, STEP = 1000;
  rng_s = seed;
  hs_limiter *lb = mk(HS_RL_BULK), *lp = mk(HS_RL_PRIORITY);
  hs_limiter_set_share(lb, 0.0, 0);
  hs_limiter_set_share(lb, 5.0 / 11, 1);
  hs_limiter_set_share(lp, 0.0, 0);
  hs_limiter_set_share(lp, 2.0 / 11, 1);
  sreq *q = calloc(MAXQ, sizeof *q);
  int64_t *win = calloc(MAXQ, sizeof *win);
  size_t nq = 0, nwin = 0, wh = 0, qlo = 0;
  sreq *bw[16], *pw = NULL;
  int nbw = 0, nwaves = 0, stage = 0, pending = 0;
  int64_t bsent = 0, psent = 0, bulk_idle = 0, pbusy = 0, first = 0;
  int64_t next_reply = 0;
  memset(out, 0, sizeof *out);
  for (int64_t now = 0; now < END && nq < MAXQ - 32; now += STEP) {
    if (now >= next_reply) {
      if (!pending)
        first = now;
      pending++;
      next_reply = now + 200000;
    }
    while (qlo < nq && q[qlo].done)
      qlo++;
    for (size_t k = qlo; k < nq; k++) {
      sreq *r = &q[k];
      if (r->arrive == now) {
        while (nwin && win[wh] <= now - W) {
          wh++;
          nwin--;
        }
        if ((long)nwin >= L) {
          out->exhausted++;
          r->limited = true;
          r->remaining = 0;
        } else {
          win[wh + nwin++] = now;
          r->remaining = L - (long)nwin;
        }
      }
      if (r->answer == now)
        r->done = true;
    }
    int done = 0;
    for (int k = 0; k < nbw; k++)
      done += bw[k]->done;
    if (nbw && done == nbw) {
      for (int k = 0; k < nbw; k++) {
        hs_rl_headers h = hdr(bw[k]->remaining);
        hs_limiter_observe(lb, false, bsent, now, &h);
        if (bw[k]->limited)
          hs_limiter_on_429(lb, false, false, now, -1);
      }
      nbw = 0;
      if (++nwaves >= waves) {
        nwaves = 0;
        bulk_idle = now + gap_ms * 1000;
      }
    }
    while (!nbw && now >= bulk_idle && nbw < 16 &&
           hs_limiter_acquire(lb, false, now) == 0) {
      /* one wave: take what the limiter allows now */
      do {
        sreq *r = &q[nq++];
        r->arrive = now + rnd(1, 3) * 1000;
        r->answer = r->arrive + rnd(100, 115) * 1000;
        bw[nbw++] = r;
        bsent = now;
        out->bulk += now >= 20 * SEC;
      } while (nbw < 16 && hs_limiter_acquire(lb, false, now) == 0);
    }
    if (pw && pw->done) {
      hs_rl_headers h = hdr(pw->remaining);
      hs_limiter_observe(lp, false, psent, now, &h);
      if (pw->limited)
        hs_limiter_on_429(lp, false, false, now, -1);
      pw = NULL;
      if (stage == 2)
        pbusy = now + 100000;
      stage = stage == 1 ? 2 : 0;
    }
    if (!pw && !stage && pending && now >= pbusy && now - first >= 100000) {
      stage = 1;
      pending = 0;
    }
    if (!pw && stage && hs_limiter_acquire(lp, false, now) == 0) {
      pw = &q[nq++];
      pw->arrive = now + rnd(1, 3) * 1000;
      pw->answer = pw->arrive + rnd(100, 115) * 1000;
      psent = now;
      out->prio += now >= 20 * SEC;
    }
  }
  hs_limiter_times(lb, END, out->bulk_s);
  hs_limiter_free(lb);
  hs_limiter_free(lp);
  free(q);
  free(win);
}

static void test_sim_priority_part(void **st) {
  (void)st;
  const double windows = 7.0;
  bool wide = getenv("HS_QUOTA_BENCH") != NULL;
  for (int gap = 0; gap <= 400; gap += wide ? 100 : 300) {
    psim r;
    prio_sim(7 + (uint64_t)gap, gap, 4, &r);
    print_message("priority part, bulk gaps of %d ms every 4 waves: per "
                  "window bulk %.1f priority %.1f all %.1f; into exhausted "
                  "%ld; bulk s: idle %.0f sending %.0f share %.0f paced %.0f "
                  "full %.0f stale %.0f other %.0f\n",
                  gap, r.bulk / windows, r.prio / windows,
                  (r.bulk + r.prio) / windows, r.exhausted,
                  r.bulk_s[HS_RL_T_IDLE], r.bulk_s[HS_RL_T_SENDING],
                  r.bulk_s[HS_RL_T_SHARE], r.bulk_s[HS_RL_T_PACED],
                  r.bulk_s[HS_RL_T_FULL], r.bulk_s[HS_RL_T_STALE],
                  r.bulk_s[HS_RL_T_OTHER]);
    assert_int_equal(r.exhausted, 0);
    /* The replies flush about three times a second, two calls each. */
    assert_true(r.prio / windows > 45);
    /* Work-conserving: the window less the reserve and headroom, less
     * what the flush gaps leave (docs/bench.md section 7). */
    assert_true((r.bulk + r.prio) / windows >= (gap ? 0.82 : 0.87) * L);
  }
}

/* -- replicas of groups on a small portal --------------------------------
 * worker_share's setting (tests/worker/test_worker_share.py) in simulated
 * time: replicas of bulk and priority groups with endless backlogs send
 * waves of up to `wave` requests (hs_run), a replica leaves under load
 * and the group rebalances (every share 0, then the new ones a moment
 * later), with random latencies. The server counts arrivals. */
typedef struct {
  int per;       /* the portal's window */
  int nproc;     /* replicas */
  int nprio;     /* of which the first nprio are priority */
  int wave;      /* requests per wave */
  int lat_lo_ms; /* one-way latency range */
  int lat_hi_ms;
  int64_t leave_us; /* the last replica leaves then (0: never) */
  bool idle_turns;  /* replicas go idle and resume in turns */
} gsim;

static long group_sim(const gsim *g, uint64_t seed, double *per_window) {
  enum { MAXP = 8, MAXQ = 40000 };
  const int64_t W = 10 * SEC, END = 90 * SEC, STEP = 1000;
  rng_s = seed;
  hs_limiter *lim[MAXP];
  sreq *wave[MAXP][16];
  int nw[MAXP] = {0};
  int64_t wsent[MAXP] = {0};
  bool gone[MAXP] = {0};
  for (int i = 0; i < g->nproc; i++) {
    hs_limiter_conf c = {g->per, 10000, 0, 500, 4, 0, 0};
    lim[i] = hs_limiter_new(&c);
    hs_limiter_set_class(lim[i], i < g->nprio ? HS_RL_PRIORITY : HS_RL_BULK);
    hs_limiter_set_share(lim[i], 0.0, 0);
    hs_limiter_set_share(lim[i], 1.0 / g->nproc, 1);
  }
  sreq *q = calloc(MAXQ, sizeof *q);
  int64_t *win = calloc(MAXQ, sizeof *win);
  size_t nq = 0, nwin = 0, whead = 0, qlo = 0;
  long exhausted = 0, late = 0;
  int64_t rebal = g->leave_us ? g->leave_us + 2 * SEC : -1;
  for (int64_t now = 0; now < END && nq < MAXQ - 64; now += STEP) {
    if (g->leave_us && now == g->leave_us) {
      gone[g->nproc - 1] = true;
      for (int i = 0; i < g->nproc - 1; i++)
        hs_limiter_set_share(lim[i], 0.0, now);
    }
    if (now == rebal)
      for (int i = 0; i < g->nproc - 1; i++)
        hs_limiter_set_share(lim[i], 1.0 / (g->nproc - 1), now);
    while (qlo < nq && q[qlo].done)
      qlo++;
    for (size_t k = qlo; k < nq; k++) {
      sreq *r = &q[k];
      if (r->arrive == now) {
        while (nwin > 0 && win[whead] <= now - W) {
          whead++;
          nwin--;
        }
        if ((long)nwin >= g->per) {
          exhausted++;
          r->limited = true;
          r->remaining = 0;
        } else {
          win[whead + nwin++] = now;
          r->remaining = g->per - (long)nwin;
        }
      }
      if (r->answer == now)
        r->done = true;
    }
    for (int i = 0; i < g->nproc; i++) {
      if (nw[i]) {
        int done = 0;
        for (int k = 0; k < nw[i]; k++)
          done += wave[i][k]->done;
        if (done < nw[i])
          continue;
        for (int k = 0; k < nw[i]; k++) {
          hs_rl_headers h;
          hs_rl_headers_clear(&h);
          h.remaining = wave[i][k]->remaining;
          h.max = g->per;
          hs_limiter_observe(lim[i], false, wsent[i], now, &h);
          if (wave[i][k]->limited)
            hs_limiter_on_429(lim[i], false, false, now, -1);
        }
        nw[i] = 0;
      }
      bool idle = gone[i] || (g->idle_turns &&
                              ((now / (7 * SEC)) % g->nproc == (int64_t)i));
      if (idle || (now < rebal + 1 && now >= g->leave_us && g->leave_us &&
                   now > g->leave_us))
        continue; /* no partitions while the group rebalances */
      while (nw[i] < g->wave && hs_limiter_acquire(lim[i], false, now) == 0) {
        sreq *r = &q[nq++];
        r->sent = now;
        r->arrive = now + rnd(g->lat_lo_ms, g->lat_hi_ms) * 1000;
        r->answer = r->arrive + rnd(g->lat_lo_ms, g->lat_hi_ms) * 1000;
        wave[i][nw[i]++] = r;
        wsent[i] = now;
        if (now >= 20 * SEC)
          late++;
      }
    }
  }
  *per_window = (double)late / ((double)(END - 20 * SEC) / (double)W);
  if (getenv("SIM_DEBUG"))
    print_message("group sim seed %llu, %d replicas (%d priority) on %d: "
                  "into exhausted %ld, %.1f per window\n",
                  (unsigned long long)seed, g->nproc, g->nprio, g->per,
                  exhausted, *per_window);
  for (int i = 0; i < g->nproc; i++)
    hs_limiter_free(lim[i]);
  free(q);
  free(win);
  return exhausted;
}

/* worker_share: four replicas of one bulk group on 60 requests, one
 * leaving under load; waves of 8, 30-60 ms each way. */
static void test_group_replicas_leave(void **st) {
  (void)st;
  gsim g = {60, 4, 0, 8, 30, 60, 40 * SEC, false};
  long bad = 0;
  double pw = 0, lo = 1e9;
  for (uint64_t seed = 11; seed < 31; seed++) {
    bad += group_sim(&g, seed, &pw);
    if (pw < lo)
      lo = pw;
  }
  assert_int_equal(bad, 0);
  assert_true(lo >= 0.7 * 60);
}

/* Replicas that go idle and resume their guarantee in turns while the
 * others borrow it: the lenders' views lag behind the borrowers' sends. */
static void test_group_lenders_resume(void **st) {
  (void)st;
  /* HS_QUOTA_SWEEP=1: a wider sweep (minutes), for changes to the rule. */
  if (getenv("HS_QUOTA_SWEEP")) {
    const int per[] = {60, 100, 190}, lo[] = {5, 20, 30}, hi[] = {300, 80, 40};
    long tot = 0;
    double pw = 0;
    for (int a = 0; a < 3; a++)
      for (int np = 2; np <= 6; np++)
        for (int npr = 0; npr <= 2; npr++)
          for (int lat = 0; lat < 3; lat++)
            for (int idle = 0; idle < 2; idle++)
              for (int wv = 4; wv <= 16; wv *= 2) {
                gsim g = {
                    per[a], np, npr, wv, lo[lat], hi[lat], idle ? 0 : 30 * SEC,
                    idle};
                long b = 0;
                for (uint64_t sd = 1; sd < 4; sd++)
                  b += group_sim(&g, sd * 7919 + (uint64_t)np, &pw);
                tot += b;
                if (b)
                  print_message("sweep: per %d, %d replicas (%d priority), "
                                "latency %d-%d ms, idle %d, wave %d: %ld\n",
                                per[a], np, npr, lo[lat], hi[lat], idle, wv, b);
              }
    print_message("sweep: into exhausted %ld\n", tot);
    assert_int_equal(tot, 0);
  }
  gsim g = {60, 4, 0, 8, 20, 80, 0, true};
  long bad = 0;
  double pw = 0;
  for (uint64_t seed = 31; seed < 51; seed++)
    bad += group_sim(&g, seed, &pw);
  assert_int_equal(bad, 0);
  gsim p = {60, 4, 2, 8, 20, 80, 0, true};
  for (uint64_t seed = 51; seed < 71; seed++)
    bad += group_sim(&p, seed, &pw);
  assert_int_equal(bad, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bulk_borrows_idle_portal),
      cmocka_unit_test(test_bulk_keeps_to_share_when_others_busy),
      cmocka_unit_test(test_priority_served_first),
      cmocka_unit_test(test_full_window_then_replace),
      cmocka_unit_test(test_answered_leave_window),
      cmocka_unit_test(test_times),
      cmocka_unit_test(test_race_stale_views),
      cmocka_unit_test(test_fixed_share_does_not_borrow),
      cmocka_unit_test(test_sim_one_bulk),
      cmocka_unit_test(test_sim_three_bulk),
      cmocka_unit_test(test_sim_priority_part),
      cmocka_unit_test(test_group_replicas_leave),
      cmocka_unit_test(test_group_lenders_resume),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
