"""Worker integration: every shared sample payload produces the HubSpot
objects and properties docs/mapping.md documents; several events of one
contact in one batch are merged into one upsert (newest event time wins);
update_only skips leads that are not contacts; opens_as_notes; sync_log
records match schemas/sync-log.schema.json; /metrics, /healthz, /readyz."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, http_request, SOURCE, ALL_EVENTS  # noqa: E402

import jsonschema  # noqa: E402

c = Checks("worker_sync")
SCHEMA = json.load(open(os.path.join(SOURCE, "schemas",
                                     "sync-log.schema.json")))

# Per sample: outcome, engagement type and the properties it must carry.
EXPECT = {
    "EMAIL_SENT": ("synced", "emails", {"hs_email_direction": "EMAIL",
                                        "hs_email_status": "SENT"}),
    "FIRST_EMAIL_SENT": ("synced", "emails", {"hs_email_direction": "EMAIL",
                                              "hs_email_status": "SENT"}),
    "EMAIL_REPLY": ("synced", "emails",
                    {"hs_email_direction": "INCOMING_EMAIL"}),
    "EMAIL_REPLY_THREADED": ("synced", "emails",
                             {"hs_email_direction": "INCOMING_EMAIL"}),
    "UNTRACKED_REPLIES": ("synced", "emails",
                          {"hs_email_direction": "INCOMING_EMAIL"}),
    "EMAIL_BOUNCE": ("synced", "emails", {"hs_email_direction": "EMAIL",
                                          "hs_email_status": "BOUNCED"}),
    "LEAD_CATEGORY_UPDATED": ("synced", "notes", {}),
    "LEAD_UNSUBSCRIBED": ("synced", "notes", {}),
    "MANUAL_STEP_REACHED": ("synced", "tasks",
                            {"hs_task_status": "NOT_STARTED"}),
    "EMAIL_OPEN": ("synced", None, {}),
    "EMAIL_LINK_CLICK": ("synced", None, {}),
    "CAMPAIGN_STATUS_CHANGED": ("filtered", None, {}),
}


def check_samples(st, w):
    p = wutil.Producer(st.bootstrap)
    pl = wutil.payloads()
    ids = {name: p.send(body) for name, body in pl.items()}
    p.flush()
    recs = wutil.wait_sync_log(st, ids.values(), timeout=60)

    # First-touch properties of new contacts ride the next upsert, or a
    # batch/update once the linger passed without one (docs/worker.md):
    # they may land just after the events are logged.
    def first_touch_written():
        s = st.hubspot_state()
        jane = wutil.contact_by_email(s, "jane.doe@acme-example.com")
        return s if wutil.props(jane or {}).get(
            "smartlead_first_touch_campaign") else None
    state = wutil.wait_for(first_touch_written, timeout=15,
                           what="Jane's first-touch property")
    for name, eid in sorted(ids.items()):
        rec = recs[eid][-1]
        want_outcome, kind, want_props = EXPECT[name]
        c.eq(rec["outcome"], want_outcome, f"{name} outcome")
        try:
            jsonschema.validate(rec, SCHEMA)
            c.true(True, "schema")
        except jsonschema.ValidationError as e:
            c.true(False, f"{name} sync_log record matches the schema",
                   str(e)[:300])
        if kind is None:
            c.eq([o["type"] for o in (rec["hubspot"] or {}).get("objects",
                                                                 [])],
                 [], f"{name} creates no engagement")
            continue
        objs = wutil.engagements_of(state, kind, eid)
        c.eq(len(objs), 1, f"{name}: one {kind} object with its event id")
        if not objs:
            continue
        props = wutil.props(objs[0])
        for k, v in want_props.items():
            c.eq(props.get(k), v, f"{name} {kind}.{k}")
        c.true(props.get("hs_timestamp"), f"{name} has hs_timestamp")
        assoc = [a for a in state.get("associations", [])
                 if a["from_id"] == objs[0]["id"] and a["to_type"] ==
                 "contacts"]
        c.eq(len(assoc), 1, f"{name}: associated to its contact")
        if assoc:
            want_type = {"emails": 198, "notes": 202, "tasks": 204}[kind]
            c.eq(assoc[0]["type_id"], want_type, f"{name} association type")
            c.eq(assoc[0]["to_id"], rec["hubspot"]["contact_id"],
                 f"{name} associated to the upserted contact")

    jane = wutil.contact_by_email(state, "jane.doe@acme-example.com")
    c.true(jane is not None, "Jane is a contact")
    jp = wutil.props(jane or {})
    for k, v in {"firstname": "Jane", "lastname": "Doe", "company": "Acme",
                 "website": "acme-example.com",
                 "smartlead_linkedin_url":
                     "https://www.linkedin.com/in/jane-doe-example",
                 "smartlead_lead_category": "Meeting Request",
                 "smartlead_campaign_id": "1234567",
                 "smartlead_campaign_name": "Q2 SaaS Outreach",
                 "smartlead_unsubscribed": "true",
                 "smartlead_first_touch_campaign": "Q2 SaaS Outreach",
                 "smartlead_last_sent_at": "2025-03-28T08:15:00.123Z",
                 "smartlead_last_opened_at": "2025-03-28T09:02:41.618Z",
                 "smartlead_last_clicked_at": "2025-03-28T09:04:12.220Z",
                 "smartlead_last_replied_at": "2025-03-28T11:47:19.000Z",
                 "smartlead_lead_id": "2758494567"}.items():
        c.eq(jp.get(k), v, f"Jane.{k}")
    c.true(jp.get("smartlead_last_event") in ALL_EVENTS,
           "smartlead_last_event is an event type", jp.get(
               "smartlead_last_event"))
    bounced = wutil.contact_by_email(state, "j.smith@nonexistent-example.com")
    c.eq(wutil.props(bounced or {}).get("smartlead_bounced"), "true",
         "bounced contact flagged")
    sam = wutil.contact_by_email(state, "sam.lee@randomco-example.com")
    c.eq((wutil.props(sam or {}).get("firstname"),
          wutil.props(sam or {}).get("lastname")), ("Sam", "Lee"),
         "untracked reply sender's name")
    notes = [wutil.props(n).get("hs_note_body", "") for n in
             wutil.objects(state, "notes")]
    c.true(any("(none)" in n and "Meeting Request" in n for n in notes),
           "category note says old -> new", notes)
    return recs


def check_merge(st, w):
    """Three events of one new contact in one batch: one upsert input,
    newest event time wins per property."""
    before = st.hubspot_state()["counters"]["by_route"].get(
        "POST /crm/v3/objects/contacts/batch/upsert", {}).get("200", 0)
    pl = wutil.payloads()
    email = "merge.me@example-merge.com"
    p = wutil.Producer(st.bootstrap)
    opened = wutil.variant(pl["EMAIL_OPEN"], 9001, email)
    opened["event_timestamp"] = "2025-04-01T10:00:00Z"
    clicked = wutil.variant(pl["EMAIL_LINK_CLICK"], 9002, email)
    clicked["event_timestamp"] = "2025-04-01T12:00:00Z"
    older = wutil.variant(pl["EMAIL_OPEN"], 9003, email)
    older["event_timestamp"] = "2025-03-01T08:00:00Z"
    older["campaign_name"] = "Older campaign"
    ids = [p.send(b) for b in (opened, clicked, older)]
    p.flush()
    recs = wutil.wait_sync_log(st, ids, timeout=30)
    c.eq(sorted(r[-1]["outcome"] for r in recs.values()), ["synced"] * 3,
         "merged events synced")
    state = st.hubspot_state()
    after = state["counters"]["by_route"].get(
        "POST /crm/v3/objects/contacts/batch/upsert", {}).get("200", 0)
    c.eq(after - before, 1, "three events of one contact -> one upsert call")
    mp = wutil.props(wutil.contact_by_email(state, email) or {})
    c.eq(mp.get("smartlead_last_event"), "EMAIL_LINK_CLICK",
         "newest event wins smartlead_last_event")
    c.eq(mp.get("smartlead_last_event_at"), "2025-04-01T12:00:00.000Z",
         "newest time wins smartlead_last_event_at")
    c.eq(mp.get("smartlead_last_opened_at"), "2025-04-01T10:00:00.000Z",
         "newest open wins over the older open")
    c.eq(mp.get("smartlead_campaign_name"), "Q2 SaaS Outreach",
         "older event's campaign does not overwrite")
    c.eq(len(set(r[-1]["hubspot"]["contact_id"] for r in recs.values())), 1,
         "one contact id for all three")


def check_update_only_and_notes(st):
    def m(cfg):
        t = cfg["tenants"][0]
        t["contact_mode"] = "update_only"
        t["sync"] = {"opens_as_notes": True, "clicks_as_notes": False}
    cfg = wutil.fast_config(st, m)
    w2 = st.worker(cfg, "uo", "EMAIL_OPEN")
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    known = wutil.variant(pl["EMAIL_OPEN"], 9101,
                          "jane.doe@acme-example.com")
    unknown = wutil.variant(pl["EMAIL_OPEN"], 9102,
                            "nobody.yet@example-new.com")
    ids = [p.send(known), p.send(unknown)]
    p.flush()
    recs = wutil.wait_sync_log(st, ids, timeout=30)
    c.eq(recs[ids[0]][-1]["outcome"], "synced", "update_only: contact synced")
    c.eq((recs[ids[1]][-1]["outcome"], recs[ids[1]][-1]["reason"]),
         ("filtered", "update_only_no_contact"),
         "update_only: unknown lead filtered")
    state = st.hubspot_state()
    c.true(wutil.contact_by_email(state, "nobody.yet@example-new.com") is None,
           "update_only created no contact")
    c.eq(len(wutil.engagements_of(state, "notes", ids[0])), 1,
         "opens_as_notes: the open became a note")
    w2.stop()


def check_http(w):
    st_, _, body = http_request(w.url, "GET", "/readyz")
    c.eq(st_, 200, "/readyz")
    st_, _, body = http_request(w.url, "GET", "/healthz")
    c.eq(st_, 200, "/healthz")
    for name in ("leadsync_worker_consumed_total",
                 "leadsync_worker_synced_total",
                 "leadsync_worker_filtered_total",
                 "leadsync_hubspot_requests_total",
                 "leadsync_hubspot_request_seconds_count",
                 "leadsync_worker_event_latency_seconds_count",
                 "leadsync_worker_batch_events_total",
                 "leadsync_worker_consumer_lag"):
        c.true(name in open_metrics(w.url), f"/metrics has {name}")


_cache = {}


def open_metrics(url):
    if url not in _cache:
        _, _, body = http_request(url, "GET", "/metrics")
        _cache[url] = body.decode()
    return _cache[url]


with Stack() as st:
    st.broker()
    st.emulator()
    cfg = wutil.fast_config(st)
    w = st.worker(cfg, "all", ",".join(ALL_EVENTS))
    check_samples(st, w)
    check_merge(st, w)
    check_http(w)
    w.stop()
    c.eq(w.p.returncode, 0, "SIGTERM exits 0")
    check_update_only_and_notes(st)
    c.eq(st.hubspot_state()["counters"]["requests_into_exhausted_window"], 0,
         "no request into an exhausted window")
c.done()
