"""Worker crash and rebalance tests: events are synced exactly once in
HubSpot (no duplicated engagement) when
- the worker is killed with SIGKILL mid-stream and started again, and
- two replicas share the group and partitions move between them midway.
Duplicates are counted and reported; the target is zero."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, wait_for  # noqa: E402

c = Checks("worker_crash")
EVENTS = "EMAIL_SENT,EMAIL_REPLY,MANUAL_STEP_REACHED"


def produce(st, base, n):
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids = []
    for k in range(n):
        name = ("EMAIL_SENT", "EMAIL_REPLY", "MANUAL_STEP_REACHED")[k % 3]
        ids.append(p.send(wutil.variant(pl[name], base + k)))
    p.flush()
    return ids


def synced_count(st, ids):
    want = set(ids)
    return sum(1 for r in wutil.sync_log(st, timeout=3.0)
               if r["event_id"] in want and r["outcome"] == "synced")


def kill_restart(st, cfg):
    ids = produce(st, 50000, 240)
    w = st.worker(cfg, "crash", EVENTS)
    wait_for(lambda: synced_count(st, ids) >= 40, timeout=60,
             what="first events synced")
    w.signal(signal.SIGKILL)
    w.p.wait()
    w.expected_exit = True
    done_before = synced_count(st, ids)
    c.true(done_before < len(ids), "killed mid-stream",
           f"{done_before} of {len(ids)} synced before the kill")
    w2 = st.worker(cfg, "crash", EVENTS)
    wutil.check_synced_once(c, st, ids, "kill -9 and restart")
    c.true(wutil.metric(w2.url, "leadsync_worker_duplicates_total") +
           wutil.metric(w2.url, "leadsync_worker_recovered_total") >= 0,
           "restart metrics readable")
    w2.stop()
    c.eq(w2.p.returncode, 0, "restarted worker exits 0 on SIGTERM")


def rebalance(st, cfg):
    ids = produce(st, 60000, 240)
    a = st.worker(cfg, "pair", EVENTS)
    wait_for(lambda: synced_count(st, ids) >= 40, timeout=60,
             what="replica A synced a first part")
    b = st.worker(cfg, "pair", EVENTS)
    wait_for(lambda: synced_count(st, ids) >= 140, timeout=90,
             what="both replicas progressing")
    a.stop()  # a second rebalance: B takes everything
    c.eq(a.p.returncode, 0, "replica A exits 0 on SIGTERM")
    wutil.check_synced_once(c, st, ids, "two replicas with rebalances")
    b.stop()


with Stack() as st:
    st.broker()
    st.emulator()
    st.hubspot_faults({"latency_ms": 120})
    # Flushes of 20 events (the default would take 200 at once): the kill
    # must land mid-stream.
    cfg = wutil.fast_config(st, batch_max=20, flush_max=20)
    kill_restart(st, cfg)
    rebalance(st, cfg)
c.done()
