"""Property-style check of hold and release: LS_MODEL_LEADS (default 10,000)
leads with random category sequences, produced straight to the dev broker
with the ingress's keys and headers, processed by the real worker groups and
the filter role, compared with a reference model written here.

Phases keep each lead's arrival order equal to its event-time order (the
model's semantics): events of every lead, wait, category changes of every
lead, wait, and so on. Prints the counts the closing note reports."""
import hashlib
import json
import os
import random
import time

from harness import Checks, Stack, SyncLogWatcher, headers_of

LEADS = int(os.environ.get("LS_MODEL_LEADS", "10000"))
PHASES = int(os.environ.get("LS_MODEL_PHASES", "2"))
SEED = int(os.environ.get("LS_MODEL_SEED", "20261129"))
TENANT = "demo-filtered"
ALLOWED = [(1, "Interested"), (2, "Meeting Request")]
DENIED = [(3, "Not Interested"), (4, "Do Not Contact"), (6, "Out Of Office"),
          (96272, "Custom Nurture")]
KINDS = [("EMAIL_SENT", "email_sent"), ("EMAIL_OPEN", "email_open"),
         ("EMAIL_LINK_CLICK", "email_link_click"), ("EMAIL_REPLY", "email_reply")]

rng = random.Random(SEED)
c = Checks("filter-model")


def ts(step):
    return f"2025-06-01T{step // 3600:02d}:{step // 60 % 60:02d}:{step % 60:02d}.000Z"


def make(lead, step, etype, extra):
    body = {"event_type": etype, "to_email": lead, "to_name": "Model Lead",
            "campaign_id": 777, "campaign_name": "Model",
            "stats_id": f"m-{lead}-{step}", "event_timestamp": ts(step)}
    if etype == "EMAIL_REPLY":
        body.update(sl_lead_email=lead,
                    reply_message={"message_id": f"<r-{lead}-{step}@m>",
                                   "text": "hi", "html": "<p>hi</p>"})
    body.update(extra)
    raw = json.dumps(body).encode()
    eid = hashlib.sha256(f"model|{lead}|{step}|{etype}".encode()).hexdigest()[:32]
    headers = [("ce_specversion", b"1.0"), ("ce_id", eid.encode()),
               ("ce_source", f"/smartlead/{TENANT}/model".encode()),
               ("ce_type", f"ai.smartlead.{etype.lower()}".encode()),
               ("ce_time", ts(step).encode()), ("ce_tenant", TENANT.encode()),
               ("ce_sourcelevel", b"user"),
               ("content-type", b"application/json")]
    return eid, f"{TENANT}:777:{lead}", raw, headers


class Model:
    def __init__(self):
        self.state = {}     # lead -> "allowed" | "denied"
        self.pending = {}   # lead -> [event ids]
        self.expect = {}    # event id -> "synced" | "held"

    def event(self, lead, eid):
        if self.state.get(lead) == "allowed":
            self.expect[eid] = "synced"
        else:
            self.expect[eid] = "held"
            self.pending.setdefault(lead, []).append(eid)

    def category(self, lead, eid, allowed):
        if allowed:
            self.state[lead] = "allowed"
            self.expect[eid] = "synced"
            for p in self.pending.pop(lead, []):
                self.expect[p] = "synced"
        else:
            self.state[lead] = "denied"
            self.expect[eid] = "held"
            self.pending.setdefault(lead, []).append(eid)


with Stack() as st:
    st.broker(partitions=12)
    st.emulator(["--token", "pat-model:increase:1000003"])
    cfg = st.config(lambda cf: [t["hubspot"].update(token_env="MODEL_TOKEN",
                                                    tier="increase",
                                                    requests_per_10s=250)
                                for t in cf["tenants"]])
    env = {"MODEL_TOKEN": "pat-model"}
    st.worker(cfg, "activity", "EMAIL_SENT,EMAIL_OPEN,EMAIL_LINK_CLICK", env=env)
    st.worker(cfg, "replies", "EMAIL_REPLY", env=env)
    st.worker(cfg, "leadstatus", "LEAD_CATEGORY_UPDATED", env=env)
    st.filter(cfg, env=env)
    w = SyncLogWatcher(st.bootstrap)
    from confluent_kafka import Producer
    prod = Producer({"bootstrap.servers": st.bootstrap, "linger.ms": 5,
                     "enable.idempotence": True, "acks": "all",
                     "compression.type": "lz4"})
    model = Model()
    undelivered = []    # (topic, partition, error) of failed deliveries

    def delivered(err, msg):
        if err is not None:
            undelivered.append((msg.topic(), msg.partition(), str(err)))

    def locate(eids):
        """Where the events that never reached their outcome got to: read
        every topic on their path from the beginning (not the watcher's
        group), so a failure says which hop lost them."""
        want = set(eids)
        topics = ["smartlead." + k[1] for k in KINDS] + [
            "smartlead.lead_category_updated", "leadsync.held",
            "leadsync.sync_log"]
        seen = {}
        for m in st.consume_all(topics, timeout=180):
            if m.topic() == "leadsync.sync_log":
                eid = json.loads(m.value()).get("event_id")
                hop = "sync_log"
            else:
                h = headers_of(m)
                eid = h.get("ce_id")
                hop = m.topic() + ("(filter)" if h.get("ls_filter") else "")
            if eid in want:
                seen.setdefault(eid, set()).add(f"{hop}/p{m.partition()}")
        hops = {}
        for e in want:
            k = " ".join(sorted(seen.get(e, ()))) or "nowhere"
            hops[k] = hops.get(k, 0) + 1
        print("where they are: " + "; ".join(
            f"{n} in [{k}]" for k, n in sorted(hops.items(),
                                               key=lambda x: -x[1])[:8]),
            flush=True)

    leads = [f"lead{i:05d}@model-example.com" for i in range(LEADS)]
    step = 0
    n_events = n_cats = 0

    def send(lead, etype, extra=None):
        global step
        step += 1
        eid, key, raw, hdrs = make(lead, step, etype, extra or {})
        while True:
            try:
                prod.produce("smartlead." + etype.lower(), raw, key,
                             headers=hdrs, on_delivery=delivered)
                break
            except BufferError:
                prod.poll(0.1)
        return eid

    def barrier(what, timeout=240):
        left = prod.flush(120)
        c.eq((left, undelivered[:3]), (0, []),
             f"{what}: every produced event acknowledged by the broker")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = w.snapshot()
            wrong = [e for e, want in model.expect.items()
                     if not snap.get(e) or snap[e][-1] != want]
            if not wrong:
                return 0
            time.sleep(0.5)
        print(f"{what}: {len(wrong)} events not at their model outcome, e.g. "
              + ", ".join(f"{e}:{w.outcomes(e)}->{model.expect[e]}"
                          for e in wrong[:5]), flush=True)
        locate(wrong)
        return len(wrong)

    t0 = time.monotonic()
    mismatches = 0
    for phase in range(PHASES):
        for lead in leads:
            for _ in range(rng.choice([0, 1, 1, 2])):
                etype = rng.choice(KINDS)[0]
                model.event(lead, send(lead, etype))
                n_events += 1
        mismatches = barrier(f"phase {phase} events")
        if mismatches:
            break
        for lead in leads:
            r = rng.random()
            if r < 0.35:
                continue
            cid, cname = rng.choice(ALLOWED if r < 0.65 else DENIED)
            eid = send(lead, "LEAD_CATEGORY_UPDATED",
                       {"lead_email": lead, "category": cname,
                        "lead_category_id": cid,
                        "lead_category": {"old_id": None, "old_name": None,
                                          "new_id": cid, "new_name": cname}})
            model.category(lead, eid, (cid, cname) in ALLOWED)
            n_cats += 1
        mismatches = barrier(f"phase {phase} categories")
        if mismatches:
            break

    snap = w.snapshot()
    dup_released = sum(1 for o in snap.values() if o.count("released") > 1)
    dup_synced = sum(1 for o in snap.values() if o.count("synced") > 1)
    # The filter's "released" and the worker's outcome of that event come
    # from two producers: on the lead's sync_log partition the release
    # must come first, or a reader keeping the latest record (the console)
    # shows a synced event as released.
    late_release = [e for e, o in snap.items() if "released" in o and any(
        x in o[:o.index("released")] for x in ("synced", "filtered", "dlq"))]
    synced = sum(1 for v in model.expect.values() if v == "synced")
    print(f"model check: leads={LEADS} events={n_events + n_cats} "
          f"(category updates {n_cats}) expected synced={synced} "
          f"held={len(model.expect) - synced} mismatches={mismatches} "
          f"released_twice={dup_released} synced_twice={dup_synced} "
          f"released_after_outcome={len(late_release)} "
          f"seconds={time.monotonic() - t0:.1f}", flush=True)
    c.eq(mismatches, 0, "every event ends where the reference model says")
    c.eq(dup_released, 0, "no event released twice")
    c.eq(late_release[:5], [], "every release is logged before the event's outcome")
    c.eq(dup_synced, 0, "no event synced twice")
    ex = st.hubspot_state().get("counters", {}).get("requests_into_exhausted_window")
    c.eq(ex, 0, "no request into an exhausted rate-limit window")
    w.close()
c.done()
