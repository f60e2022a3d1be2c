"""Helpers shared by the worker tests: produce Smartlead events straight to
Kafka with the ingress's key and CloudEvents headers, read the worker's
outputs, and look at the HubSpot emulator's state."""
import collections
import copy
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from harness import wait_for  # noqa: E402,F401

GROUPS = {
    "replies": ["EMAIL_REPLY", "UNTRACKED_REPLIES"],
    "activity": ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN",
                 "EMAIL_LINK_CLICK", "EMAIL_BOUNCE"],
    "leadstatus": ["LEAD_CATEGORY_UPDATED", "LEAD_UNSUBSCRIBED",
                   "CAMPAIGN_STATUS_CHANGED"],
    "tasks": ["MANUAL_STEP_REACHED"],
}


def fast_config(st, mutate=None, **worker):
    """Dev config with a short linger (tests poll, never sleep)."""
    def m(cfg):
        cfg.setdefault("worker", {})
        cfg["worker"].update({"batch_linger_ms": 100})
        cfg["worker"].update(worker)
        if mutate:
            mutate(cfg)
    return st.config(m)


def event_id(*parts):
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def lead_email(body):
    t = body.get("event_type")
    if t == "EMAIL_REPLY":
        e = body.get("sl_lead_email") or body.get("to_email")
    elif t == "UNTRACKED_REPLIES":
        d = body.get("sender_detail", "")
        e = d[d.find("<") + 1:d.find(">")] if "<" in d else d
    else:
        e = (body.get("to_email") or body.get("sl_lead_email")
             or body.get("lead_email")
             or (body.get("lead_data") or {}).get("email"))
    return (e or "").strip().lower()


class Producer:
    def __init__(self, bootstrap, prefix="smartlead."):
        from confluent_kafka import Producer as P
        self.p = P({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                    "acks": "all", "linger.ms": 5, "log_level": 3})
        self.prefix = prefix
        self.sent = []

    def send(self, body, tenant="demo", eid=None):
        """Produces one event like the ingress does; returns its id."""
        t = body["event_type"]
        email = lead_email(body)
        camp = body.get("campaign_id")
        key = f"{tenant}:{camp if camp is not None else '-'}:{email or '-'}"
        eid = eid or event_id(tenant, json.dumps(body, sort_keys=True))
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        headers = [("ce_specversion", b"1.0"), ("ce_id", eid.encode()),
                   ("ce_source", f"/smartlead/{tenant}/test".encode()),
                   ("ce_type", f"ai.smartlead.{t.lower()}".encode()),
                   ("content-type", b"application/json"),
                   ("ce_tenant", tenant.encode()),
                   ("ce_sourcelevel", b"user"),
                   ("ls_received_at", now.encode())]
        topic = self.prefix + t.lower()
        self.p.produce(topic, key=key.encode(),
                       value=json.dumps(body).encode(), headers=headers)
        self.sent.append((eid, t, email))
        self.p.poll(0)
        return eid

    def flush(self):
        left = self.p.flush(30)
        assert left == 0, f"{left} test events not delivered"


def payloads():
    """{name: dict} of the shared sample payloads."""
    return {k: json.loads(v) for k, v in harness.load_payloads().items()}


def variant(body, n, email=None):
    """A distinct occurrence of a sample: new lead email and timestamps."""
    b = copy.deepcopy(body)
    if email is None:
        email = f"lead{n}@example-{n % 97}.com"
    for k in ("to_email", "sl_lead_email", "lead_email"):
        if k in b:
            b[k] = email
    if isinstance(b.get("lead_data"), dict):
        b["lead_data"]["email"] = email
    if isinstance(b.get("leadCorrespondence"), dict):
        b["leadCorrespondence"]["targetLeadEmail"] = email
        b["leadCorrespondence"]["replyReceivedFrom"] = email
    if "sender_detail" in b:
        b["sender_detail"] = f"Lead {n} <{email}>"
    if "stats_id" in b:
        b["stats_id"] = f"stats-{n}"
    return b


def sync_log(st, expect=None, timeout=10.0):
    out = []
    for m in st.consume_all("leadsync.sync_log", timeout=timeout,
                            expect=expect):
        out.append(json.loads(m.value()))
    return out


def wait_sync_log(st, ids, timeout=60.0, what="sync_log records"):
    """Waits until every event id has a record; returns {id: [records]}."""
    want = set(ids)
    deadline = time.monotonic() + timeout
    last = {}
    while time.monotonic() < deadline:
        recs = sync_log(st, timeout=5.0)
        last = {}
        for r in recs:
            last.setdefault(r["event_id"], []).append(r)
        if want <= set(last):
            return {k: v for k, v in last.items() if k in want}
        time.sleep(0.3)
    missing = want - set(last)
    raise harness.Failure(f"timed out waiting for {what}: {len(missing)} of "
                          f"{len(want)} missing, e.g. {sorted(missing)[:3]}")


def dlq(st, timeout=5.0):
    return st.consume_all("leadsync.dlq", timeout=timeout)


def objects(state, kind):
    """Objects of one type ("contacts", "emails", "notes", "tasks") from the
    emulator's state dump."""
    return list(state.get(kind) or [])


def contact_by_email(state, email):
    for c in objects(state, "contacts"):
        if (props(c).get("email") or "").lower() == email.lower():
            return c
    return None


def engagements_of(state, kind, event_id):
    return [o for o in objects(state, kind)
            if props(o).get("leadsync_event_id") == event_id]


def props(o):
    return o.get("properties", o)


def engagement_counts(state, kinds=("emails", "tasks")):
    """Engagements of kinds in the emulator's state, per leadsync_event_id
    (a Counter)."""
    n = collections.Counter()
    for kind in kinds:
        for o in objects(state, kind):
            n[props(o).get("leadsync_event_id")] += 1
    return n


def check_synced_once(c, st, ids, label):
    """Every event of ids ends synced and has exactly one engagement (an
    email or a task), and no request went into an exhausted window."""
    # An event re-read after a revoke can be logged "duplicate" by its new
    # owner (from the previous owner's ledger record) before the previous
    # owner's "synced" is readable: two producers, two topics. Wait for
    # the "synced" of every event, not for its first record.
    deadline = time.monotonic() + 120
    while True:
        recs = wait_sync_log(st, ids, timeout=max(1.0, deadline -
                                                   time.monotonic()),
                             what=f"{label}: every event logged")
        final = collections.Counter()
        for i in ids:
            outs = {r["outcome"] for r in recs[i]}
            final["synced" if "synced" in outs
                  else "/".join(sorted(outs))] += 1
        if final["synced"] == len(ids) or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    c.eq(dict(final), {"synced": len(ids)}, f"{label}: every event synced")
    state = st.hubspot_state()
    n = engagement_counts(state)
    dups = sum(n[i] - 1 for i in ids if n[i] > 1)
    missing = sum(1 for i in ids if n[i] == 0)
    print(f"{label}: events={len(ids)} engagements={sum(n[i] for i in ids)} "
          f"duplicates={dups} missing={missing} "
          f"requests={state['counters']['requests_total']}", flush=True)
    c.eq(dups, 0, f"{label}: duplicated engagements")
    c.eq(missing, 0, f"{label}: events without their engagement")
    c.eq(state["counters"]["requests_into_exhausted_window"], 0,
         f"{label}: no request into an exhausted window")


def metric(base, name, labels=None):
    """Sum of a Prometheus series family (optionally filtered by labels)."""
    st, _, body = harness.http_request(base, "GET", "/metrics")
    total = 0.0
    for line in body.decode().splitlines():
        if not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest and rest[0] not in "{ ":
            continue
        if labels and not all(f'{k}="{v}"' in rest
                              for k, v in labels.items()):
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


def check_audit(c, cfg):
    """`leadsync audit --since 1h --grace 0s` must find 0 acknowledged
    events without a final outcome (exit 0)."""
    import subprocess
    p = subprocess.run([os.path.join(harness.BUILD, "leadsync"), "--config",
                        cfg, "audit", "--since", "1h", "--grace", "0s"],
                       capture_output=True, text=True, timeout=90)
    print(p.stdout.strip(), p.stderr.strip(), flush=True)
    c.eq(p.returncode, 0, "leadsync audit: exit 0")
    c.true(" 0 missing" in p.stdout, "leadsync audit: 0 acknowledged "
           "events without a final outcome", p.stdout)


def log_lines(proc, msg):
    """A process's JSON log lines whose msg is msg, in order."""
    out = []
    try:
        with open(proc.log, errors="replace") as f:
            for line in f:
                if f'"{msg}"' not in line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def owned(proc):
    """Partitions a worker owns after its last assign or revoke (its
    "rate-limit share" log lines)."""
    shares = log_lines(proc, "rate-limit share")
    return shares[-1].get("partitions", 0) if shares else 0
