"""Daily-limit deferral and the seek-back (issue 12: "the seek-back after a
daily-limit deferral can race with records of the same partition still in
the batch").

Real stack: dev broker, HubSpot emulator, one worker. The portal's time
zone is set (/_emulator/portals utc_offset_ms) so that its local midnight,
when HubSpot resets the daily budget, is ~35 s away; the worker reads it
from account-info at start. Then the budget is spent (daily_used =
daily_limit): events get the daily 429 and are left in Kafka (deferred).
More events of the same leads, hence the same partitions, arrive while
the portal is paused. At the portal's midnight the emulator lifts the
budget; every event must then be synced exactly once (one engagement
each), none lost, and `leadsync audit` finds 0 missing."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import (HUBSPOT_TOKEN, Checks, Stack,  # noqa: E402
                     SyncLogWatcher, http_request)

c = Checks("worker_daily_defer")
DAY_MS = 86400000
LEAD_S = 35  # seconds from the time-zone change to the portal's midnight


def portal(st, body):
    stt, _, resp = http_request(st.hubspot_url, "POST", "/_emulator/portals",
                                dict(body, token=HUBSPOT_TOKEN))
    assert stt == 200, (stt, resp)


with Stack() as st:
    st.broker()
    st.emulator()
    # Local time = UTC + offset = LEAD_S before midnight, now.
    now_ms = int(time.time() * 1000)
    off = (DAY_MS - LEAD_S * 1000 - now_ms % DAY_MS) % DAY_MS
    if off > 14 * 3600 * 1000:
        off -= DAY_MS
    portal(st, {"utc_offset_ms": off})
    midnight = time.monotonic() + LEAD_S
    cfg = wutil.fast_config(st, search_settle_ms=300)
    w = st.worker(cfg, "activity", wutil.GROUPS["activity"])
    watch = SyncLogWatcher(st.bootstrap)
    p = wutil.Producer(st.bootstrap)
    pl = wutil.payloads()
    left = midnight - time.monotonic()
    c.true(left > 8, "the worker started well before the portal's midnight",
           round(left, 1))

    # Spend the day's budget: the next call gets the daily 429.
    portal(st, {"daily_limit": 100000, "daily_used": 100000})
    leads = [f"daily{n}@example-daily.com" for n in range(4)]
    first = [p.send(wutil.variant(pl["EMAIL_SENT"], 91000 + n, email=e))
             for n, e in enumerate(leads)]
    p.flush()
    wutil.wait_for(lambda: wutil.metric(
        w.url, "leadsync_worker_deferred_total") >= 1, timeout=15,
        what="events deferred by the daily limit")
    # The same leads (same partitions) while the portal is paused: read
    # behind the deferred ones, they must not have their offsets stored
    # past them, nor be synced out of the deferral.
    second = [p.send(wutil.variant(pl["EMAIL_SENT"], 92000 + n, email=e))
              for n, e in enumerate(leads)]
    p.flush()
    everything = first + second
    before = time.monotonic()
    c.true(before < midnight, "still before the portal's midnight",
           round(midnight - before, 1))
    c.eq([i for i in everything if "synced" in watch.outcomes(i)], [],
         "nothing synced while the daily budget is spent")
    try:  # the budget gauges are refreshed every few seconds
        wutil.wait_for(lambda: wutil.metric(
            w.url, "leadsync_hubspot_daily_paused") >= 1,
            timeout=max(1.0, midnight - time.monotonic() - 1),
            what="leadsync_hubspot_daily_paused 1")
        paused = True
    except Exception:
        paused = False
    c.true(paused, "the worker reports the portal paused")

    # Midnight in the portal's time zone: the emulator resets the budget.
    try:
        wutil.wait_for(lambda: all(watch.last(i) == "synced"
                                   for i in everything),
                       timeout=LEAD_S + 15, what="every deferred event synced")
    except Exception:
        print("not synced:", {i[:8]: watch.outcomes(i) for i in everything
                              if watch.last(i) != "synced"}, flush=True)
        raise
    c.true(time.monotonic() >= midnight - 1,
           "synced only once the budget was lifted (portal midnight)")
    c.eq([watch.outcomes(i).count("synced") for i in everything],
         [1] * len(everything), "each deferred event synced once")
    state = st.hubspot_state()
    c.eq([len(wutil.engagements_of(state, "emails", i)) for i in everything],
         [1] * len(everything), "exactly one email engagement per event")

    wutil.check_audit(c, cfg)
    watch.close()
c.done()
