"""Worker fault tests against the HubSpot emulator:
- a free-tier portal (100 requests / 10 s) with small batches, a 429 storm,
  5xx answers, 423 locks and connections dropped after processing: every
  event is synced, no engagement is duplicated, and no request is sent into
  an exhausted window;
- one record with an invalid property value goes to the DLQ (reason
  validation, headers per docs/kafka-contract.md), the rest of its batch
  syncs;
- a revoked token sends the tenant's events to the DLQ with reason auth."""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, SOURCE, http_request  # noqa: E402

import jsonschema  # noqa: E402

c = Checks("worker_faults")
FREE_TOKEN = "pat-na1-free-test-token"
DLQ_SCHEMA = json.load(open(os.path.join(SOURCE, "schemas",
                                         "dlq-record.schema.json")))


def free_tenant(cfg):
    # Tenant "demo" talks to a free-tier portal of its own.
    t = cfg["tenants"][0]
    t["hubspot"].update({"token_env": "HUBSPOT_TOKEN_FREE", "tier": "free",
                         "requests_per_10s": 100, "daily_limit": 250000})


def storm(st, w):
    st.hubspot_faults({"portal": FREE_TOKEN, "force_429": 4,
                       "error_rate": 0.15,
                       "error_statuses": [500, 502, 503],
                       "lock_423_rate": 0.1, "drop_after_rate": 0.05})
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids, sent_ids = [], []
    for n in range(80):
        b = wutil.variant(pl["EMAIL_SENT"], 20000 + n)
        sent_ids.append(p.send(b))
        ids.append(sent_ids[-1])
        ids.append(p.send(wutil.variant(pl["EMAIL_OPEN"], 20000 + n)))
    p.flush()
    recs = wutil.wait_sync_log(st, ids, timeout=150,
                               what="sync_log of the storm")
    outcomes = collections.Counter(r[-1]["outcome"] for r in recs.values())
    c.eq(dict(outcomes), {"synced": len(ids)}, "storm: every event synced")
    st.hubspot_faults({"portal": FREE_TOKEN, "clear": True})
    state = st.hubspot_state()
    emails = collections.Counter(
        wutil.props(o).get("leadsync_event_id")
        for o in wutil.objects(state, "emails"))
    dups = sum(n - 1 for n in emails.values() if n > 1)
    c.eq(dups, 0, "storm: no duplicated email engagement")
    c.eq(sum(1 for i in sent_ids if emails.get(i)), len(sent_ids),
         "storm: one email object per EMAIL_SENT")
    counters = state["counters"]
    print(f"storm: emulator requests={counters['requests_total']} "
          f"429s={counters['rate_limited_429']} "
          f"into_exhausted={counters['requests_into_exhausted_window']} "
          f"faults={counters['faults_injected']} dropped={counters['dropped']}",
          flush=True)
    c.eq(counters["requests_into_exhausted_window"], 0,
         "storm: zero requests into an exhausted window")
    c.true(wutil.metric(w.url, "leadsync_hubspot_ratelimit_waits_total") > 0,
           "storm: the limiter made calls wait")
    c.true(wutil.metric(w.url, "leadsync_hubspot_retries_total") > 0,
           "storm: transient failures were retried")
    # Forced 429s may meet a dropped connection (drop_after_rate), which the
    # worker sees as a transport error instead: at least one must be seen.
    c.true(wutil.metric(w.url, "leadsync_hubspot_rate_limited_total") >= 1,
           "storm: forced 429s were seen and waited out")


def invalid_value(st, w):
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    good = [p.send(wutil.variant(pl["EMAIL_OPEN"], 30000 + n))
            for n in range(4)]
    # A bad optional value never sinks an event: synced without it (a
    # phone the portal's validation rule rejects).
    code, _, _ = http_request(st.hubspot_url, "POST", "/_emulator/portals",
                              {"token": FREE_TOKEN, "validate_phone": True})
    c.eq(code, 200, "phone rule set on the portal")
    opt_body = wutil.variant(pl["EMAIL_OPEN"], 30008)
    opt_body.setdefault("lead_data", {})["phone_number"] = "ask reception"
    opt = p.send(opt_body)
    # The lead's email itself invalid: still a DLQ "validation".
    bad_body = wutil.variant(pl["EMAIL_OPEN"], 30009, email="not-an-email")
    bad = p.send(bad_body)
    p.flush()
    recs = wutil.wait_sync_log(st, good + [opt, bad], timeout=60)
    c.eq([recs[i][-1]["outcome"] for i in good], ["synced"] * 4,
         "invalid value: the rest of the batch synced")
    ro = recs[opt][-1]
    c.eq(ro["outcome"], "synced", "bad optional value: synced")
    c.eq([d["property"] for d in ro.get("dropped", [])],
         ["phone"], "bad optional value: dropped listed")
    c.true(ro.get("dropped") and ro["dropped"][0].get("message"),
           "bad optional value: HubSpot's message kept", ro.get("dropped"))
    c.true(wutil.metric(w.url, "leadsync_worker_dropped_properties_total",
                        {"property": "phone"}) >= 1,
           "bad optional value: counted")
    r = recs[bad][-1]
    c.eq((r["outcome"], r["reason"]), ("dlq", "validation"),
         "invalid value: to the DLQ as validation")
    c.eq((r["error"] or {}).get("http_status"), 400, "invalid value: 400")
    msgs = [m for m in wutil.dlq(st)
            if dict(m.headers() or []).get("ce_id", b"").decode() == bad]
    c.eq(len(msgs), 1, "invalid value: one DLQ record")
    if msgs:
        h = {k: v.decode() for k, v in msgs[0].headers()}
        try:
            jsonschema.validate(h, DLQ_SCHEMA)
            c.true(True, "dlq headers schema")
        except jsonschema.ValidationError as e:
            c.true(False, "DLQ headers match the schema", str(e)[:300])
        c.eq(h.get("ls_dlq_reason"), "validation", "DLQ reason header")
        c.eq(h.get("ls_dlq_http_status"), "400", "DLQ status header")
        c.eq(h.get("ls_dlq_hubspot_category"), "VALIDATION_ERROR",
             "DLQ category header")
        c.true("email" in h.get("ls_dlq_hubspot_message", ""),
               "DLQ message names the property",
               h.get("ls_dlq_hubspot_message"))
        c.eq(h.get("ls_dlq_original_topic"), "smartlead.email_open",
             "DLQ original topic")
        c.eq(h.get("ls_dlq_original_offset"), str(r["offset"]),
             "DLQ original offset")
        c.eq(json.loads(msgs[0].value()), bad_body, "DLQ keeps the body")
        c.eq(msgs[0].key().decode(), r["tenant"] + ":1234567:" +
             bad_body["to_email"], "DLQ keeps the key")


def revoked(st, w):
    st.hubspot_faults({"portal": FREE_TOKEN, "revoke_tokens": [FREE_TOKEN]})
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids = [p.send(wutil.variant(pl["EMAIL_SENT"], 40000 + n))
           for n in range(3)]
    p.flush()
    recs = wutil.wait_sync_log(st, ids, timeout=60)
    c.eq([(recs[i][-1]["outcome"], recs[i][-1]["reason"]) for i in ids],
         [("dlq", "auth")] * 3, "revoked token: events to the DLQ as auth")
    heads = [{k: v.decode() for k, v in m.headers()} for m in wutil.dlq(st)]
    c.eq(sorted(h["ls_dlq_reason"] for h in heads if h.get("ce_id") in ids),
         ["auth"] * 3, "revoked token: DLQ headers say auth")
    c.true(wutil.metric(w.url, "leadsync_worker_auth_failures_total") >= 1,
           "revoked token: auth failure metric")
    logs = open(w.log, errors="replace").read()
    c.true("HUBSPOT AUTH FAILED" in logs, "revoked token: loud log line")
    c.true(FREE_TOKEN not in logs, "the token never appears in the log")


with Stack() as st:
    st.broker()
    st.emulator(extra_args=["--token", FREE_TOKEN + ":free:2000002"])
    st.env["HUBSPOT_TOKEN_FREE"] = FREE_TOKEN
    cfg = wutil.fast_config(st, free_tenant, batch_max=5, backoff_base_ms=50,
                            backoff_max_ms=1000, search_settle_ms=1200,
                            max_retries=12)
    w = st.worker(cfg, "activity", wutil.GROUPS["activity"])
    storm(st, w)
    invalid_value(st, w)
    revoked(st, w)
    w.stop()
    c.eq(w.p.returncode, 0, "SIGTERM exits 0")
c.done()
