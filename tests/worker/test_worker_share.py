"""Four workers of one group share one HubSpot portal (docs/worker.md,
"Rate limiting"): each is guaranteed its share of the 10-second window
(the fraction of the group's partitions it owns) and, with borrowing on
(the default), may borrow what the others leave unused as far as its
in-flight accounting allows; a share that grows waits until the old one
has left the window, and a share that shrinks applies at once. The
portal is small (60 requests / 10 s) and the calls small (batch_max 5),
so the four workers press against the limit; one worker
leaves halfway, so the shares move under load. Every event must sync and
no request may land in an exhausted window (nor get a 429)."""
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, HUBSPOT_TOKEN, http_request  # noqa: E402

c = Checks("worker_share")
PER_10S = 60
EVENTS = ["EMAIL_SENT", "EMAIL_OPEN"]
N_EVENTS = 360


def small_portal(cfg):
    for t in cfg["tenants"]:
        t["hubspot"]["requests_per_10s"] = PER_10S


def shares(proc):
    """The last "rate-limit share" line of a worker's log (None if none)."""
    last = None
    try:
        with open(proc.log, errors="replace") as f:
            for line in f:
                if '"rate-limit share"' not in line:
                    continue
                try:
                    last = json.loads(line)
                except ValueError:
                    pass
    except OSError:
        pass
    return last


def produce(st, n, base):
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids = []
    for k in range(n):
        body = wutil.variant(pl[EVENTS[k % 2]], base + k,
                             f"share{base + k // 2}@example-share.com")
        ids.append(p.send(body))
    p.flush()
    return ids


def synced(st, ids):
    """{event id: set of outcomes}. A rebalance re-reads what was synced
    after the last commit: those are logged again as duplicate."""
    want = set(ids)
    out = collections.defaultdict(set)
    for r in wutil.sync_log(st, timeout=3):
        if r["event_id"] in want:
            out[r["event_id"]].add(r["outcome"])
    return out


t0 = time.monotonic()
with Stack() as st:
    st.broker(partitions=4)
    st.emulator()
    st_, _, body = http_request(st.hubspot_url, "POST", "/_emulator/portals",
                                {"token": HUBSPOT_TOKEN, "tier": "free",
                                 "requests_per_10s": PER_10S})
    c.eq(st_, 200, "emulator portal set to 60 requests / 10 s")
    st.hubspot_faults({"latency_ms": 30})
    # The group owns the whole portal (its default share would be its 2 of
    # the 11 event types).
    cfg = wutil.fast_config(st, small_portal, batch_max=5, flush_max=50,
                            portal_share=1)
    workers = [st.worker(cfg, "share", ",".join(EVENTS)) for _ in range(4)]
    total = 2 * 4  # two topics of four partitions

    def settled():
        s = [shares(w) for w in workers]
        return (all(x and x.get("partitions", 0) > 0 for x in s) and
                sum(x["partitions"] for x in s) == total) and s
    s = wutil.wait_for(settled, timeout=60, interval=0.2,
                       what="four workers sharing the partitions")
    print(f"share: group settled after {time.monotonic() - t0:.1f} s",
          flush=True)
    c.true(abs(sum(x["share"] for x in s) - 1.0) < 1e-6,
           "the four shares sum to 1", [x["share"] for x in s])

    before = st.hubspot_state()["counters"]
    ids = produce(st, N_EVENTS, 700000)
    wutil.wait_for(lambda: len(synced(st, ids)) >= N_EVENTS // 3,
                   timeout=150, what="a third of the events synced")
    print(f"share: a third synced after {time.monotonic() - t0:.1f} s",
          flush=True)
    leaving = workers.pop()
    leaving.stop()
    c.eq(leaving.p.returncode, 0, "the leaving worker exits 0")
    outcomes = wutil.wait_for(
        lambda: (lambda d: d if len(d) >= N_EVENTS else None)(
            synced(st, ids)), timeout=240, interval=0.5,
        what="every event synced by the three remaining workers")
    c.eq(sum(1 for o in outcomes.values() if "synced" in o), N_EVENTS,
         "every event synced")
    c.eq(set().union(*outcomes.values()) - {"synced", "duplicate"}, set(),
         "no other outcome than synced (and duplicate after the rebalance)")
    print(f"share: all synced after {time.monotonic() - t0:.1f} s",
          flush=True)
    after = st.hubspot_state()["counters"]
    calls = after["requests_total"] - before["requests_total"]
    print(f"share: {calls} HubSpot calls, "
          f"429s={after['rate_limited_429'] - before['rate_limited_429']}, "
          f"into_exhausted={after['requests_into_exhausted_window']}",
          flush=True)
    c.true(calls > PER_10S, "the run needed more than one window of calls",
           calls)
    c.eq(after["requests_into_exhausted_window"], 0,
         "no request into an exhausted window")
    c.eq(after["rate_limited_429"] - before["rate_limited_429"], 0,
         "no 429 answers")
    s = [shares(w) for w in workers]
    c.true(all(x and x["partitions"] > 0 for x in s) and
           sum(x["partitions"] for x in s) == total,
           "the three remaining workers took over every partition",
           [x and x.get("partitions") for x in s])
    waits = sum(wutil.metric(w.url, "leadsync_hubspot_ratelimit_waits_total")
                for w in workers)
    c.true(waits > 0, "the limiter made calls wait for their share", waits)
    for w in workers:
        w.stop()
        c.eq(w.p.returncode, 0, f"{w.name} exits 0")
c.done()
