"""The overlapped flush (docs/worker.md "The overlap"): while a flush waits
for HubSpot the worker takes the next flush's records through intake.
Copies of events (a retried webhook, same event id) are produced a few
records after their original, so a copy is often taken in while its
original is still being synced. Then
- the worker is killed (SIGKILL) while it overlaps, and started again;
- a second replica joins while the first overlaps (a revoke mid-flush)
  and the first is stopped (SIGTERM) while it flushes.
Every event ends synced, each engagement exists exactly once, and the
overlap was exercised (leadsync_worker_overlap_events_total > 0)."""
import collections
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, wait_for  # noqa: E402

c = Checks("worker_overlap")
EVENTS = "EMAIL_SENT,EMAIL_REPLY,MANUAL_STEP_REACHED"
NAMES = ("EMAIL_SENT", "EMAIL_REPLY", "MANUAL_STEP_REACHED")


def produce(st, base, n, copy_every=4, copy_after=23):
    """n events; every copy_every-th is produced again copy_after events
    later (same body, same event id). Returns the distinct ids."""
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids, later = [], collections.defaultdict(list)
    for k in range(n):
        body = wutil.variant(pl[NAMES[k % 3]], base + k)
        ids.append(p.send(body))
        if k % copy_every == 0:
            later[k + copy_after].append(body)
        for b in later.pop(k, []):
            p.send(b)
    for k in sorted(later):
        for b in later[k]:
            p.send(b)
    p.flush()
    return ids


def synced_count(st, ids):
    want = set(ids)
    return len({r["event_id"] for r in wutil.sync_log(st, timeout=3.0)
                if r["event_id"] in want and r["outcome"] == "synced"})


def overlapped(proc):
    try:
        return wutil.metric(proc.url, "leadsync_worker_overlap_events_total")
    except OSError:
        return 0


def kill_restart(st, cfg):
    ids = produce(st, 70000, 300)
    w = st.worker(cfg, "ovk", EVENTS)
    wait_for(lambda: overlapped(w) > 0 and synced_count(st, ids) >= 40,
             timeout=90, what="the first flushes, taken in while waiting")
    w.signal(signal.SIGKILL)
    w.p.wait()
    w.expected_exit = True
    c.true(synced_count(st, ids) < len(ids), "killed mid-stream")
    w2 = st.worker(cfg, "ovk", EVENTS)
    wutil.check_synced_once(c, st, ids, "kill -9 while overlapping, restart")
    c.true(overlapped(w2) > 0, "the restarted worker overlaps too")
    w2.stop()
    c.eq(w2.p.returncode, 0, "restarted worker exits 0 on SIGTERM")


def rebalance(st, cfg):
    ids = produce(st, 80000, 300)
    a = st.worker(cfg, "ovr", EVENTS)
    wait_for(lambda: overlapped(a) > 0, timeout=90,
             what="replica A takes records in while it waits")
    b = st.worker(cfg, "ovr", EVENTS)
    wait_for(lambda: synced_count(st, ids) >= 150, timeout=120,
             what="both replicas progressing")
    a.stop()  # a second rebalance: B takes everything
    c.eq(a.p.returncode, 0, "replica A exits 0 on SIGTERM")
    wutil.check_synced_once(
        c, st, ids, "a replica joins and leaves while flushes overlap")
    b.stop()
    c.eq(b.p.returncode, 0, "replica B exits 0 on SIGTERM")


with Stack() as st:
    st.broker()
    st.emulator()
    st.hubspot_faults({"latency_ms": 120})
    # Flushes of 20 events with 120 ms per answer: every flush waits, and
    # a backlog keeps the stash full while it does.
    cfg = wutil.fast_config(st, batch_max=20, flush_max=20)
    kill_restart(st, cfg)
    rebalance(st, cfg)
c.done()
