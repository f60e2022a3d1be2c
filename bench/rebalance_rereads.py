"""Records re-read after eager rebalances (docs/worker.md "Commits at an
eager revoke"): a steady stream of events into two workers of one group, a
third joins and one leaves; prints the sync_log `duplicate` outcomes (final
events read again by the next owner), events synced twice, and the failed
revoke-time commits. A measurement, not a test. Run from the build
directory:
  LS_BUILD_DIR=$PWD LS_SOURCE_DIR=.. PYTHONPATH=../tests/lib \
    /usr/bin/python3 ../bench/rebalance_rereads.py"""
import collections
import os
import sys
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "tests", "worker"))
import wutil  # noqa: E402
from harness import Stack  # noqa: E402

EVENTS = ["EMAIL_SENT", "EMAIL_OPEN"]
RATE, SECS = 40, 24
with Stack() as st:
    st.broker(partitions=4)
    st.emulator()
    cfg = wutil.fast_config(st, batch_max=20, flush_max=200)
    ws = [st.worker(cfg, "rr", ",".join(EVENTS)) for _ in range(2)]
    wutil.wait_for(lambda: sum(wutil.owned(w) for w in ws) == 8, timeout=60,
                   what="two workers own the partitions")
    pl = wutil.payloads()
    ids = []
    def produce():
        p = wutil.Producer(st.bootstrap)
        t0 = time.monotonic()
        for k in range(RATE * SECS):
            body = wutil.variant(pl[EVENTS[k % 2]], 900000 + k,
                                 f"rr{k}@example-rr.com")
            ids.append(p.send(body))
            p.flush()
            time.sleep(max(0, t0 + (k + 1) / RATE - time.monotonic()))
    th = threading.Thread(target=produce); th.start()
    time.sleep(8)
    ws.append(st.worker(cfg, "rr", ",".join(EVENTS)))
    time.sleep(8)
    w = ws.pop(0); w.stop()
    th.join()
    def outcomes():
        d = collections.defaultdict(list)
        want = set(ids)
        for r in wutil.sync_log(st, timeout=3):
            if r["event_id"] in want:
                d[r["event_id"]].append((r["outcome"], r.get("reason")))
        return d
    d = wutil.wait_for(lambda: (lambda x: x if sum(
        1 for v in x.values() if any(o == "synced" for o, _ in v)) >= len(ids)
        else None)(outcomes()), timeout=240, interval=1, what="all synced")
    dups = sum(1 for v in d.values() for o, _ in v if o == "duplicate")
    again = sum(1 for v in d.values() if len([o for o, _ in v if o == "synced"]) > 1)
    fails = sum(len(wutil.log_lines(x, "commit on revoke failed")) for x in ws + [w])
    print(f"events {len(ids)} duplicates(re-read) {dups} synced-twice {again} "
          f"revoke-commit-failures {fails}", flush=True)
    for x in ws:
        x.stop()
