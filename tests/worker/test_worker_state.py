"""The worker's partitioned de-duplication state (docs/worker.md "State"):
restored per partition from the group's records of leadsync.ledger on
assignment, isolated between groups, bounded by worker.dedup_window, and
exactly once into HubSpot through:
- SIGKILL while the state restores, and SIGKILL mid-flush, then restart;
- a rebalance while a replica is still restoring;
- an event that comes back after its window: found by the
  leadsync_event_id search, not created again.
Real dev broker, emulator and worker processes; HubSpot's objects are
counted per leadsync_event_id."""
import collections
import json
import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, wait_for  # noqa: E402

c = Checks("worker_state")
EVENTS_A = "EMAIL_SENT,MANUAL_STEP_REACHED"
EVENTS_B = "EMAIL_REPLY"
SYNTHETIC = 30000  # history of group "sa" written before it starts


def fill_ledger(st, group, n, partitions=6):
    """n synced ledger records of a group, as the worker writes them."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": st.bootstrap, "linger.ms": 20,
                  "compression.type": "lz4", "log_level": 3})
    for i in range(n):
        eid = uuid.uuid4().hex
        val = json.dumps({"event_id": eid, "tenant": "demo",
                          "event_type": "EMAIL_SENT", "state": "synced",
                          "contact_id": "1", "objects": []}).encode()
        while True:
            try:
                p.produce("leadsync.ledger", val, f"{group}:{eid}".encode(),
                          partition=i % partitions,
                          headers=[("ls_state", b"synced")])
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0


class Events:
    """Produces events like the ingress; sends copies with the original
    ls_received_at (a Smartlead retry, a replay)."""

    def __init__(self, st):
        self.p = wutil.Producer(st.bootstrap)
        self.pl = wutil.payloads()
        self.bodies = {}

    def new(self, names, base, n):
        ids = []
        for k in range(n):
            body = wutil.variant(self.pl[names[k % len(names)]], base + k)
            eid = self.p.send(body)
            self.bodies[eid] = (body, time.time())
            ids.append(eid)
        self.p.flush()
        return ids

    def again(self, ids):
        p = self.p.p
        for eid in ids:
            body, t0 = self.bodies[eid]
            tenant = "demo"
            email = wutil.lead_email(body)
            camp = body.get("campaign_id")
            key = f"{tenant}:{camp if camp is not None else '-'}:{email}"
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0))
            t = body["event_type"]
            p.produce("smartlead." + t.lower(), key=key.encode(),
                      value=json.dumps(body).encode(),
                      headers=[("ce_specversion", b"1.0"),
                               ("ce_id", eid.encode()),
                               ("ce_type", f"ai.smartlead.{t.lower()}"
                                .encode()),
                               ("content-type", b"application/json"),
                               ("ce_tenant", tenant.encode()),
                               ("ls_received_at", when.encode())])
        assert p.flush(30) == 0


def outcomes(st, ids, at_least=1, timeout=90, what="outcomes"):
    """{id: [outcome, ...]} once every id has at_least records."""
    want = set(ids)

    def ready():
        got = collections.defaultdict(list)
        for r in wutil.sync_log(st, timeout=3.0):
            if r["event_id"] in want:
                got[r["event_id"]].append(r["outcome"])
        return (all(len(got[i]) >= at_least for i in ids) and got)
    return wait_for(ready, timeout=timeout, interval=0.5, what=what)


def once(st, ids, label):
    """Every event synced, exactly one engagement each."""
    got = outcomes(st, ids, what=f"{label}: every event logged")
    lost = [i for i in ids if "synced" not in got[i]]
    c.eq(len(lost), 0, f"{label}: events without a synced outcome")
    n = wutil.engagement_counts(st.hubspot_state())
    dups = sum(n[i] - 1 for i in ids if n[i] > 1)
    missing = sum(1 for i in ids if n[i] == 0)
    print(f"{label}: events={len(ids)} duplicates={dups} missing={missing}",
          flush=True)
    c.eq(dups, 0, f"{label}: duplicated engagements")
    c.eq(missing, 0, f"{label}: events without their engagement")


def synced_of(st, ids):
    want = set(ids)
    return len({r["event_id"] for r in wutil.sync_log(st, timeout=3.0)
                if r["event_id"] in want and r["outcome"] == "synced"})


def log_msgs(w):
    out = []
    with open(w.log, errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def restored_all(w):
    return any(j.get("msg") == "ledger restored" and j.get("pending") == 0
               for j in log_msgs(w))


def state_entries(w):
    return wutil.metric(w.url, "leadsync_worker_state_entries")


def killed(w):
    w.signal(signal.SIGKILL)
    w.p.wait()
    w.expected_exit = True


with Stack() as st:
    st.broker()
    st.emulator()
    st.hubspot_faults({"latency_ms": 150})
    cfg = wutil.fast_config(st, batch_max=10, flush_max=10)
    ev = Events(st)
    fill_ledger(st, "sa", SYNTHETIC)

    # 1. Two groups, each restores only its own records.
    a_ids = ev.new(["EMAIL_SENT", "MANUAL_STEP_REACHED"], 71000, 40)
    b_ids = ev.new(["EMAIL_REPLY"], 72000, 20)
    wa = st.worker(cfg, "sa", EVENTS_A)
    wb = st.worker(cfg, "sb", EVENTS_B)
    once(st, a_ids, "group sa")
    once(st, b_ids, "group sb")
    wait_for(lambda: restored_all(wa) and restored_all(wb), timeout=30,
             what="both groups restored")
    wait_for(lambda: state_entries(wa) >= SYNTHETIC + len(a_ids) and
             state_entries(wb) >= len(b_ids), timeout=15,
             what="state metrics updated")
    c.eq(state_entries(wa), float(SYNTHETIC + len(a_ids)),
         "group sa: its history plus its events, nothing of sb")
    c.eq(state_entries(wb), float(len(b_ids)),
         "group sb: its own events only (not sa's 30,000 records)")
    recs = st.consume_all("leadsync.ledger", timeout=5.0)
    src = {}
    for r in wutil.sync_log(st, timeout=3.0):
        if r["outcome"] == "synced":
            src[r["event_id"]] = r["partition"]
    mine = [m for m in recs if m.key().decode().split(":")[-1] in src]
    c.true(len(mine) >= len(a_ids) + len(b_ids),
           "ledger records written for the synced events", len(mine))
    c.eq(sum(1 for m in mine
             if m.partition() != src[m.key().decode().split(":")[-1]]), 0,
         "ledger records on their source record's partition number")
    c.eq(sorted({m.key().decode().split(":")[0] for m in mine}),
         ["sa", "sb"], "ledger keys carry the group")
    wb.stop()

    # 2. SIGKILL mid-flush, restart: copies are duplicates by state.
    killed(wa)
    more = ev.new(["EMAIL_SENT", "MANUAL_STEP_REACHED"], 73000, 150)
    wa = st.worker(cfg, "sa", EVENTS_A)
    wait_for(lambda: synced_of(st, more) >= 10, timeout=60,
             what="a first part of the new events synced")
    killed(wa)
    c.true(synced_of(st, more) < len(more), "killed mid-stream")

    # 3. SIGKILL while the state restores, restart, copies of everything.
    wa = st.worker(cfg, "sa", EVENTS_A,
                   env={"LEADSYNC_TEST_FAULTS": "restore_stall:40"})
    wait_for(lambda: wutil.metric(
        wa.url, "leadsync_worker_state_restoring_partitions") > 0,
        timeout=30, interval=0.05, what="the restore under way")
    killed(wa)
    ev.again(a_ids)
    wa = st.worker(cfg, "sa", EVENTS_A)
    once(st, a_ids + more, "SIGKILL mid-flush and during the restore")
    wait_for(lambda: wutil.metric(wa.url, "leadsync_worker_dedup_skipped_total",
                                  {"cause": "state"}) >= 1, timeout=30,
             what="copies skipped by the state")

    # 4. A rebalance while a replica restores.
    killed(wa)
    w3 = st.worker(cfg, "sa", EVENTS_A,
                   env={"LEADSYNC_TEST_FAULTS": "restore_stall:100"})
    wait_for(lambda: wutil.metric(
        w3.url, "leadsync_worker_state_restoring_partitions") > 0,
        timeout=30, interval=0.05, what="replica 1 restoring")
    w4 = st.worker(cfg, "sa", EVENTS_A)
    late = ev.new(["EMAIL_SENT", "MANUAL_STEP_REACHED"], 74000, 30)
    ev.again(more)
    wait_for(lambda: restored_all(w3) and restored_all(w4), timeout=60,
             what="both replicas restored")
    msgs = [j.get("msg") for j in log_msgs(w3)]
    first_done = next((k for k, j in enumerate(log_msgs(w3))
                       if j.get("msg") == "ledger restored"), len(msgs))
    c.true("partitions revoked" in msgs[:first_done],
           "replica 1 was rebalanced while restoring")
    once(st, a_ids + more + late, "rebalance during the restore")
    w3.stop()
    w4.stop()

    # 5. An event that comes back after its window: searched, not created.
    cfg_w = wutil.fast_config(st, batch_max=10, flush_max=10,
                              dedup_window=3, search_settle_ms=200)
    old = ev.new(["EMAIL_SENT"], 75000, 3)
    wd = st.worker(cfg_w, "sd", "EMAIL_SENT")
    once(st, old, "window: first sync")
    wd.stop()
    wait_for(lambda: time.time() > max(ev.bodies[i][1] for i in old) + 4,
             timeout=10, interval=0.2, what="the window to pass")
    wd = st.worker(cfg_w, "sd", "EMAIL_SENT")
    ev.again(old)
    outcomes(st, old, at_least=2, what="window: the copies logged")
    n = wutil.engagement_counts(st.hubspot_state())
    c.eq([n[i] for i in old], [1, 1, 1],
         "events past their window: one engagement each")
    c.true(wutil.metric(wd.url, "leadsync_worker_suspect_searches_total",
                        {"cause": "window"}) >= len(old),
           "copies past the window were searched")
    c.true(wutil.metric(wd.url, "leadsync_worker_dedup_skipped_total",
                        {"cause": "search"}) >= len(old),
           "and found by the search")
    wd.stop()
c.done()
