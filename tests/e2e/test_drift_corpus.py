"""The drift corpus (tests/fixtures/drift) through a real ingress, the dev
broker, a worker and the HubSpot emulator: every body ends where
docs/mapping.md and docs/ingress.md say (synced, filtered with its reason,
the unknown topic, or the quarantine), nothing is lost, and the ingress
counts the drift it let through."""
import copy
import json
import os

from harness import (Checks, Stack, SOURCE, headers_of, http_request,
                     DEMO_TOKEN, HUBSPOT_TOKEN)
import sys
sys.path.insert(0, os.path.join(SOURCE, "tests", "worker"))
import wutil  # noqa: E402

c = Checks("drift_corpus")
FIX = os.path.join(SOURCE, "tests", "fixtures")
ALL = ("EMAIL_SENT,FIRST_EMAIL_SENT,EMAIL_OPEN,EMAIL_LINK_CLICK,EMAIL_REPLY,"
       "EMAIL_BOUNCE,LEAD_UNSUBSCRIBED,LEAD_CATEGORY_UPDATED,"
       "CAMPAIGN_STATUS_CHANGED,UNTRACKED_REPLIES,MANUAL_STEP_REACHED")


def load_base(name):
    if name.startswith("v2:"):
        path = os.path.join(FIX, "smartlead-v2", name[3:] + ".json")
    else:
        path = os.path.join(FIX, "smartlead", name + ".json")
    with open(path) as f:
        return json.load(f)


def put(doc, path, value):
    parts = path.split(".")
    for p in parts[:-1]:
        if not isinstance(doc.get(p), dict):
            doc[p] = {}
        doc = doc[p]
    doc[parts[-1]] = value


def drop(doc, path):
    parts = path.split(".")
    for p in parts[:-1]:
        doc = doc.get(p) or {}
    doc.pop(parts[-1], None)


def build(spec):
    body = copy.deepcopy(spec["body"]) if "body" in spec else \
        load_base(spec["base"])
    for p in spec.get("delete", []):
        drop(body, p)
    for p, v in spec.get("set", {}).items():
        put(body, p, v)
    # Each variant is its own occurrence (the event id of a send is its
    # stats_id; of a reply, its Message-ID too).
    if "stats_id" in body:
        body["stats_id"] = "corpus-" + spec["_name"]
    if isinstance(body.get("reply_message"), dict):
        body["reply_message"]["message_id"] = "<corpus-%s@x>" % spec["_name"]
    g = spec.get("grow")
    if g:
        s = g["prefix"]
        while len(s.encode()) < g["bytes"]:
            s += g["unit"]
        put(body, g["path"], s)
    return body


def corpus():
    d = os.path.join(FIX, "drift")
    for n in sorted(os.listdir(d)):
        if n.endswith(".json"):
            with open(os.path.join(d, n)) as f:
                spec = json.load(f)
            spec["_name"] = n[:-5]
            yield n[:-5], spec


with Stack() as st:
    st.broker()
    st.emulator(extra_args=["--search-lag-ms", "0"])
    code, _, _ = http_request(st.hubspot_url, "POST", "/_emulator/portals",
                              {"token": HUBSPOT_TOKEN, "validate_phone": True})
    assert code == 200
    cfg = wutil.fast_config(st)
    base = st.ingress(cfg)
    w = st.worker(cfg, "corpus", ALL)

    cases = list(corpus())
    c.true(len(cases) >= 20, "the corpus has its variants", len(cases))
    sent = {}
    for name, spec in cases:
        body = build(spec)
        status, _, resp = http_request(
            base, "POST", f"/v1/webhooks/smartlead/{DEMO_TOKEN}", body,
            {"Content-Type": "application/json"})
        c.eq(status, spec["expect"]["http"], f"{name}: HTTP status")
        try:
            sent[name] = json.loads(resp)
        except ValueError:
            sent[name] = {}

    synced = {n: sent[n]["event_id"] for n, s in cases
              if "outcome" in s["expect"] and sent[n].get("event_id")}
    recs = wutil.wait_sync_log(st, synced.values(), timeout=120,
                               what="sync_log of the corpus")
    state = st.hubspot_state()
    for name, spec in cases:
        e = spec["expect"]
        if "outcome" not in e:
            continue
        r = recs.get(synced.get(name), [{}])[-1]
        c.eq(r.get("outcome"), e["outcome"], f"{name}: outcome")
        if "reason" in e:
            c.eq(r.get("reason"), e["reason"], f"{name}: reason")
        for k in ("event_type", "lead_email", "campaign_id", "event_time"):
            if k in e:
                c.eq(r.get(k), e[k], f"{name}: {k}")
        c.eq([d["property"] for d in r.get("dropped", [])],
             e.get("dropped", []), f"{name}: dropped")
        c.eq(r.get("truncated", []), e.get("truncated", []),
             f"{name}: truncated")
        if "engagement" in e:
            objs = wutil.engagements_of(state, "emails", synced[name])
            got = wutil.props(objs[0]) if objs else {}
            for k, v in e["engagement"].items():
                c.eq(got.get(k), v, f"{name}: engagement {k}")

    # Not synced, not lost: the unknown topic and the quarantine hold them.
    unknown = st.consume_all(["smartlead.unknown"], timeout=10)
    quarantined = st.consume_all(["smartlead.quarantine"], timeout=10)
    for name, spec in cases:
        e = spec["expect"]
        if e.get("topic") == "smartlead.unknown":
            eid = sent[name].get("event_id")
            c.true(any(headers_of(m).get("ce_id") == eid for m in unknown),
                   f"{name}: kept in smartlead.unknown", eid)
        if "quarantine" in e:
            c.true(any(headers_of(m).get("ls_quarantine_reason") ==
                       e["quarantine"] for m in quarantined),
                   f"{name}: in the quarantine with reason {e['quarantine']}")

    # The drift the ingress let through is counted per type and field.
    for name, spec in cases:
        f = spec["expect"].get("drift")
        if f:
            c.true(wutil.metric(base, "leadsync_ingress_schema_drift_total",
                                {"field": f}) >= 1,
                   f"{name}: drift in {f} counted")
    c.true(wutil.metric(base, "leadsync_ingress_unknown_events_total",
                        {"tenant": "demo"}) >= 1,
           "unknown types counted per tenant")
    w.stop()
    c.eq(w.p.returncode, 0, "worker exits 0")
c.done()
