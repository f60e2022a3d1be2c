"""Cooperative rebalancing (docs/worker.md "Rebalances during a flush"):
with partition.assignment.strategy=cooperative-sticky the rebalance
callback assigns and revokes incrementally (rd_kafka_incremental_assign /
_unassign), so a second worker joining takes some partitions while the
first keeps the rest, under load and with flushes waiting for HubSpot.
Every event syncs, each engagement exists once, and `leadsync audit`
finds no acknowledged event without a final outcome."""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack  # noqa: E402

c = Checks("worker_cooperative")
EVENTS = ["EMAIL_SENT", "EMAIL_OPEN"]
N_EVENTS = 160


def cooperative(cfg):
    cfg["kafka"].setdefault("properties", {})
    cfg["kafka"]["properties"]["partition.assignment.strategy"] = \
        "cooperative-sticky"


def produce(st, n, base):
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids = [p.send(wutil.variant(pl[EVENTS[k % 2]], base + k,
                                f"coop{base + k // 2}@example-coop.com"))
           for k in range(n)]
    p.flush()
    return ids


def outcomes(st, ids):
    want = set(ids)
    out = collections.defaultdict(list)
    for r in wutil.sync_log(st, timeout=3):
        if r["event_id"] in want:
            out[r["event_id"]].append(r["outcome"])
    return out


with Stack() as st:
    st.broker(partitions=4)
    st.emulator()
    # Flushes wait for HubSpot while the group rebalances.
    st.hubspot_faults({"latency_ms": 40})
    cfg = wutil.fast_config(st, cooperative, batch_max=10, flush_max=40,
                            portal_share=1)
    total = 2 * 4  # two topics of four partitions
    first = st.worker(cfg, "coop", ",".join(EVENTS))
    wutil.wait_for(lambda: wutil.owned(first) == total, timeout=60,
                   interval=0.2,
                   what="the first worker owning every partition")
    ids = produce(st, N_EVENTS // 2, 910000)
    wutil.wait_for(lambda: len(outcomes(st, ids)) >= N_EVENTS // 8,
                   timeout=60, what="some events synced")
    second = st.worker(cfg, "coop", ",".join(EVENTS))
    wutil.wait_for(lambda: wutil.owned(second) > 0 and
                   wutil.owned(first) + wutil.owned(second) == total,
                   timeout=60, interval=0.2,
                   what="the second worker taking some partitions")
    ids += produce(st, N_EVENTS // 2, 920000)

    revokes = wutil.log_lines(first, "partitions revoked")
    c.true(revokes and all(r.get("protocol") == "cooperative"
                           for r in revokes),
           "the group rebalances cooperatively", revokes)
    c.true(any(0 < r.get("count", 0) < total for r in revokes),
           "the first worker gave up only some of its partitions",
           [r.get("count") for r in revokes])
    c.true(0 < wutil.owned(first) < total,
           "the first worker kept partitions through the rebalance",
           wutil.owned(first))
    assigned = wutil.log_lines(second, "partitions assigned")
    c.true(assigned and assigned[-1].get("count", 0) > 0,
           "the second worker was assigned incrementally", assigned)
    c.eq(wutil.log_lines(first, "incremental (un)assign failed") +
         wutil.log_lines(second, "incremental (un)assign failed"), [],
         "no (un)assign failed")

    got = wutil.wait_for(
        lambda: (lambda d: d if all("synced" in d.get(i, ()) for i in ids)
                 else None)(outcomes(st, ids)),
        timeout=120, interval=0.5, what="every event synced")
    c.eq(set().union(*map(set, got.values())) - {"synced", "duplicate"},
         set(), "no other outcome than synced (and duplicate after the "
         "rebalance)")
    state = st.hubspot_state()
    per_event = collections.Counter(
        wutil.props(o).get("leadsync_event_id")
        for o in wutil.objects(state, "emails"))
    sent = [i for k, i in enumerate(ids) if k % 2 == 0]
    c.eq([i for i in sent if per_event.get(i) != 1], [],
         "exactly one email engagement per EMAIL_SENT event")
    for w in (first, second):
        w.stop()
        c.eq(w.p.returncode, 0, f"{w.name} exits 0")
    wutil.check_audit(c, cfg)
c.done()
