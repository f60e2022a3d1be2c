"""End to end: every shared Smartlead sample through a real ingress, the dev
broker and the workers into the HubSpot emulator."""
import json

from harness import (Checks, Stack, SyncLogWatcher, headers_of, http_request,
                     load_payloads, wait_for, DEMO_TOKEN)

GROUPS = {
    "replies": "EMAIL_REPLY,UNTRACKED_REPLIES",
    "activity": "EMAIL_SENT,FIRST_EMAIL_SENT,EMAIL_OPEN,EMAIL_LINK_CLICK,EMAIL_BOUNCE",
    "leadstatus": "LEAD_CATEGORY_UPDATED,LEAD_UNSUBSCRIBED,CAMPAIGN_STATUS_CHANGED",
    "tasks": "MANUAL_STEP_REACHED",
}
# The lead each sample is about (from_email is our own mailbox in replies).
LEAD = {
    "EMAIL_BOUNCE": "j.smith@nonexistent-example.com",
    "UNTRACKED_REPLIES": "sam.lee@randomco-example.com",
    "CAMPAIGN_STATUS_CHANGED": None,
}
JANE = "jane.doe@acme-example.com"

c = Checks("e2e")
with Stack() as st:
    st.broker()
    st.emulator()
    cfg = st.config()
    base = st.ingress(cfg)
    for g, ev in GROUPS.items():
        st.worker(cfg, g, ev)

    payloads = load_payloads()
    c.true(len(payloads) >= 12, "all shared samples found", len(payloads))
    accepted = {}
    for name, body in payloads.items():
        status, hdrs, resp = http_request(
            base, "POST", f"/v1/webhooks/smartlead/{DEMO_TOKEN}", body,
            {"Content-Type": "application/json",
             "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        c.eq(status, 200, f"{name} accepted")
        if status == 200:
            r = json.loads(resp)
            c.eq(r.get("status"), "accepted", f"{name} response status")
            accepted[name] = r

    # (a) each record is on the right topic with the right key and headers.
    topics = sorted({r["topic"] for r in accepted.values()})
    msgs = st.consume_all(topics, expect=len(accepted), timeout=30)
    by_id = {headers_of(m).get("ce_id"): m for m in msgs}
    for name, r in accepted.items():
        m = by_id.get(r["event_id"])
        if not c.true(m is not None, f"{name} is in Kafka", r["event_id"]):
            continue
        body = json.loads(payloads[name])
        etype = body["event_type"]
        c.eq(m.topic(), "smartlead." + etype.lower(), f"{name} topic")
        # Byte for byte but for secret_key, masked in place (same length).
        raw = payloads[name]
        sk = body.get("secret_key")
        if isinstance(sk, str) and sk:
            raw = raw.replace(b'"secret_key": "' + sk.encode() + b'"',
                              b'"secret_key": "' + b"*" * len(sk.encode())
                              + b'"')
        c.eq(m.value(), raw, f"{name} value is the body, secret_key masked")
        lead = LEAD.get(name, JANE)
        camp = str(body["campaign_id"]) if "campaign_id" in body else "-"
        c.eq(m.key().decode(), f"demo:{camp}:{lead or '-'}", f"{name} key")
        h = headers_of(m)
        c.eq(h.get("ce_specversion"), "1.0", f"{name} ce_specversion")
        c.eq(h.get("ce_type"), "ai.smartlead." + etype.lower(), f"{name} ce_type")
        c.eq(h.get("ce_source"), "/smartlead/demo/demo-user", f"{name} ce_source")
        c.eq(h.get("ce_tenant"), "demo", f"{name} ce_tenant")
        c.eq(h.get("ce_sourcelevel"), "user", f"{name} ce_sourcelevel")
        c.true(h.get("content-type", "").startswith("application/json"),
               f"{name} content-type", h.get("content-type"))
        c.eq(h.get("traceparent"),
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
             f"{name} traceparent passed through")
        if "event_timestamp" in body:
            c.true(h.get("ce_time", "").endswith("Z"), f"{name} ce_time", h.get("ce_time"))

    # (b) the contacts in the emulator hold the expected email and properties,
    # once every event has its final outcome in the sync_log.
    w = SyncLogWatcher(st.bootstrap)
    ids = {r["event_id"] for r in accepted.values()}
    try:
        wait_for(lambda: all(w.last(i) in ("synced", "filtered") for i in ids),
                 90, 0.25, "a final outcome for every sample event")
    except AssertionError as e:
        c.true(False, "every event reached a final state",
               {i: w.outcomes(i) for i in ids})
    w.close()
    for name, r in accepted.items():
        want_outcome = "filtered" if name == "CAMPAIGN_STATUS_CHANGED" else "synced"
        c.eq(w.last(r["event_id"]), want_outcome, f"{name} outcome")
    want = {JANE, "j.smith@nonexistent-example.com", "sam.lee@randomco-example.com"}
    got = {ct["properties"].get("email"): ct
           for ct in st.hubspot_state().get("contacts", [])}
    c.true(want.issubset(got), "the sample leads are HubSpot contacts",
           sorted(got))
    if not want.issubset(got):
        got = {}
    if got:
        c.true("alex@outreach-example.com" not in got,
               "our own sending mailbox never becomes a contact")
        jane = got[JANE]["properties"]
        c.eq(jane.get("firstname"), "Jane", "jane firstname")
        c.eq(jane.get("lastname"), "Doe", "jane lastname")
        c.eq(jane.get("smartlead_campaign_name"), "Q2 SaaS Outreach", "jane campaign")
        c.eq(jane.get("smartlead_lead_category"), "Meeting Request", "jane category")
        c.true(jane.get("smartlead_last_event") in {
            "EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK",
            "EMAIL_REPLY", "LEAD_CATEGORY_UPDATED", "LEAD_UNSUBSCRIBED",
            "MANUAL_STEP_REACHED"}, "jane last event", jane.get("smartlead_last_event"))
        c.true(bool(jane.get("smartlead_last_event_at")), "jane last event time")
        smith = got["j.smith@nonexistent-example.com"]["properties"]
        c.eq(smith.get("firstname"), "John", "bounced lead firstname")
        sam = got["sam.lee@randomco-example.com"]["properties"]
        c.eq(sam.get("email"), "sam.lee@randomco-example.com", "untracked reply sender")
        for em, ct in got.items():
            c.eq(em, em.lower(), "emails are stored lower-cased")
c.done()
