"""Worker benchmark (not part of make test):

    /usr/bin/python3 tests/worker/bench_worker.py [--events 10000]

Against the HubSpot emulator at the professional tier (190 requests / 10 s)
with 100 ms added latency, one worker syncs N events (EMAIL_SENT, EMAIL_OPEN,
EMAIL_REPLY, LEAD_CATEGORY_UPDATED over N/4 leads), then a second run of N
events is interrupted by SIGKILL halfway and finished by a restarted worker.
Prints events per second, HubSpot calls per 1,000 events, duplicates after
the kill, the DLQ count and requests sent into an exhausted window."""
import argparse
import collections
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Stack, wait_for  # noqa: E402

TYPES = ["EMAIL_SENT", "EMAIL_OPEN", "EMAIL_REPLY", "LEAD_CATEGORY_UPDATED"]


def produce(st, n, base):
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids = []
    leads = max(1, n // 4)
    for k in range(n):
        b = wutil.variant(pl[TYPES[k % 4]], base + k,
                          f"bench{base + (k // 4) % leads}@example-bench.com")
        b["event_timestamp"] = time.strftime(
            "%Y-%m-%dT%H:%M:%S", time.gmtime(1743000000 + k)) + "Z"
        ids.append(p.send(b))
    p.flush()
    return ids


def synced(st, ids):
    want = set(ids)
    return len({r["event_id"] for r in wutil.sync_log(st, timeout=5.0)
                if r["event_id"] in want
                and r["outcome"] in ("synced", "duplicate")})


def requests_total(st):
    return st.hubspot_state()["counters"]["requests_total"]


def dup_count(st, ids):
    state = st.hubspot_state()
    n = collections.Counter()
    for kind in ("emails", "notes"):
        for o in wutil.objects(state, kind):
            n[wutil.props(o).get("leadsync_event_id")] += 1
    return sum(n[i] - 1 for i in ids if n[i] > 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--latency-ms", type=int, default=100)
    a = ap.parse_args()
    res = {}
    with Stack() as st:
        st.broker(partitions=6)
        st.emulator()
        cfg = wutil.fast_config(st, batch_max=100, batch_linger_ms=200)
        events = ",".join(TYPES)
        # Setup once, outside the measurement.
        w = st.worker(cfg, "bench", events)
        st.hubspot_faults({"latency_ms": a.latency_ms})
        ids = produce(st, a.events, 1000000)
        before = requests_total(st)
        t0 = time.monotonic()
        wait_for(lambda: synced(st, ids) >= len(ids), timeout=1800,
                 interval=2.0, what="clean run synced")
        dt = time.monotonic() - t0
        calls = requests_total(st) - before
        res["clean"] = {"events": len(ids), "seconds": round(dt, 1),
                        "events_per_s": round(len(ids) / dt, 1),
                        "calls": calls,
                        "calls_per_1000_events":
                            round(calls * 1000 / len(ids), 1)}
        # Second run: SIGKILL halfway, restart, finish.
        ids2 = produce(st, a.events, 3000000)
        wait_for(lambda: synced(st, ids2) >= len(ids2) // 2, timeout=1800,
                 interval=1.0, what="half of the second run")
        w.signal(signal.SIGKILL)
        w.p.wait()
        w.expected_exit = True
        w2 = st.worker(cfg, "bench", events)
        wait_for(lambda: synced(st, ids2) >= len(ids2), timeout=1800,
                 interval=2.0, what="second run synced after the restart")
        state = st.hubspot_state()
        dlq = len(wutil.dlq(st, timeout=10))
        res["kill"] = {"events": len(ids2),
                       "duplicates": dup_count(st, ids + ids2),
                       "dlq": dlq,
                       "recovered_by_search": wutil.metric(
                           w2.url, "leadsync_worker_recovered_total"),
                       "duplicates_skipped_by_ledger": wutil.metric(
                           w2.url, "leadsync_worker_duplicates_total")}
        res["requests_into_exhausted_window"] = \
            state["counters"]["requests_into_exhausted_window"]
        res["rate_limited_429"] = state["counters"]["rate_limited_429"]
        w2.stop()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
