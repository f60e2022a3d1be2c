"""Category filter, hold and release, through the real stack: ingress, dev
broker, worker groups, the filter role, and the HubSpot emulator."""
import json
import signal

from filterlib import event
from harness import (Checks, Stack, SyncLogWatcher, headers_of, http_request,
                     wait_for, FILTERED_TOKEN)

GROUPS = {
    "replies": "EMAIL_REPLY,UNTRACKED_REPLIES",
    "activity": "EMAIL_SENT,FIRST_EMAIL_SENT,EMAIL_OPEN,EMAIL_LINK_CLICK,EMAIL_BOUNCE",
    "leadstatus": "LEAD_CATEGORY_UPDATED,LEAD_UNSUBSCRIBED,CAMPAIGN_STATUS_CHANGED",
}

c = Checks("filter")


def emails_for(st, event_ids):
    s = st.hubspot_state()
    return [e for e in s.get("emails", [])
            if e.get("properties", {}).get("leadsync_event_id") in event_ids]


def contact(st, email):
    for ct in st.hubspot_state().get("contacts", []):
        if ct["properties"].get("email") == email:
            return ct
    return None


with Stack() as st:
    st.broker()
    st.emulator(["--token", "pat-fast:increase:1000002"])
    cfg = st.config()
    base = st.ingress(cfg)
    for g, ev in GROUPS.items():
        st.worker(cfg, g, ev)
    filt = st.filter(cfg)
    w = SyncLogWatcher(st.bootstrap)

    def post(body):
        status, _, resp = http_request(
            base, "POST", f"/v1/webhooks/smartlead/{FILTERED_TOKEN}",
            json.dumps(body), {"Content-Type": "application/json"})
        assert status == 200, (status, resp)
        return json.loads(resp)["event_id"]

    def settle(ids, want, what, timeout=60):
        try:
            wait_for(lambda: all(w.last(i) == want for i in ids), timeout,
                     0.1, what)
            return True
        except AssertionError:
            c.true(False, what, {i: w.outcomes(i) for i in ids})
            return False

    # 1. sent, opened, clicked, replied while uncategorised, then Interested.
    lead = "story.lead@filter-example.com"
    early = [post(event(k, lead, n)) for n, k in
             enumerate(["SENT", "OPEN", "CLICK", "REPLY"], start=1)]
    settle(early, "held", "uncategorised events are held")
    c.eq(contact(st, lead), None, "nothing reaches HubSpot before the category")
    c.eq(emails_for(st, set(early)), [], "no email objects before the category")
    cat = post(event("Interested", lead, 10))
    settle(early + [cat], "synced", "Interested releases and syncs everything")
    for i in early:
        c.eq(w.outcomes(i).count("released"), 1, f"{i[:8]} released once")
        c.eq(w.outcomes(i).count("synced"), 1, f"{i[:8]} synced once")
    with w.lock:
        rel_times = [r.get("event_time") for r in w.records
                     if r.get("outcome") == "released" and r.get("event_id") in early]
    c.eq(rel_times, sorted(rel_times), "released in event-time order")
    ct = contact(st, lead)
    c.true(ct is not None, "the released lead is a contact")
    if ct:
        c.eq(ct["properties"].get("smartlead_lead_category"), "Interested",
             "category property")
    c.eq(len(emails_for(st, {early[0], early[3]})), 2,
         "the sent email and the reply are in HubSpot once each")

    # The release left a "done" marker on leadsync.held listing what it
    # released, so a rebuild after a restart does not release it again.
    markers = [json.loads(m.value()) for m in st.consume_all("leadsync.held")
               if headers_of(m).get("ls_marker") == "done"]
    c.true(any(set(early) <= set(mk.get("event_ids", [])) and
               mk.get("reason") == "released" for mk in markers),
           "a done marker lists the released events", markers)

    # 2. A Not Interested lead never reaches HubSpot.
    lead2 = "never.lead@filter-example.com"
    ids2 = [post(event("SENT", lead2, 1)), post(event("Not Interested", lead2, 2)),
            post(event("REPLY", lead2, 3))]
    settle(ids2, "held", "a Not Interested lead stays held")
    c.eq(contact(st, lead2), None, "Not Interested lead never becomes a contact")

    # 3. Interested -> Not Interested -> later events held.
    lead3 = "flip.lead@filter-example.com"
    ok3 = [post(event("Interested", lead3, 1)), post(event("SENT", lead3, 2))]
    settle(ok3, "synced", "events of an Interested lead sync now")
    # The move out reaches the filter before the reply (events in flight in
    # two groups at once are decided in their order on leadsync.held).
    later = [post(event("Not Interested", lead3, 3))]
    settle(later, "held", "the move out is held")
    later.append(post(event("REPLY", lead3, 4)))
    settle(later, "held", "after a move out, later events are held")
    ct3 = contact(st, lead3)
    c.true(ct3 is not None and ct3["properties"].get("smartlead_lead_category")
           == "Interested", "the move out itself is held too")

    # 4. The filter killed between hold and release releases exactly once.
    lead4 = "crash.lead@filter-example.com"
    ids4 = [post(event("SENT", lead4, 1)), post(event("OPEN", lead4, 2))]
    settle(ids4, "held", "held before the crash")
    filt.kill()
    filt = st.filter(cfg)
    cat4 = post(event("Meeting Request", lead4, 3))
    settle(ids4 + [cat4], "synced", "released after a SIGKILL and restart")
    for i in ids4:
        c.eq(w.outcomes(i).count("released"), 1, "released exactly once after restart")
    c.eq(len(emails_for(st, {ids4[0]})), 1, "one email object after the restart")

    # 5. Two filter replicas and a rebalance in the middle.
    filt2 = st.filter(cfg, name="filter-b")
    leads5 = [f"pair{i}.lead@filter-example.com" for i in range(20)]
    sent5 = {l: post(event("SENT", l, 1)) for l in leads5}
    settle(list(sent5.values()), "held", "held with two replicas")
    filt2.stop()
    cats5 = [post(event("Interested", l, 2)) for l in leads5]
    settle(list(sent5.values()) + cats5, "synced",
           "released after the rebalance")
    dup = [i for i in sent5.values() if w.outcomes(i).count("released") != 1]
    c.eq(dup, [], "every event released exactly once across the rebalance")
    c.eq(len(emails_for(st, set(sent5.values()))), 20,
         "20 email objects, no duplicates")

    # 6. Held events past the maximum age expire into the sync_log.
    filt.stop()
    short = st.config(lambda cf: cf["worker"].update(
        held_max_age_s=2, held_expiry_interval_ms=200))
    filt = st.filter(short)
    lead6 = "old.lead@filter-example.com"
    ids6 = [post(event("SENT", lead6, 1))]
    settle(ids6, "expired", "a held event expires after held_max_age_s")
    c.eq(w.outcomes(ids6[0]), ["held", "expired"], "held, then expired, once")
    c.eq(contact(st, lead6), None, "an expired event never reaches HubSpot")

    ex = st.hubspot_state().get("counters", {}).get("requests_into_exhausted_window")
    c.eq(ex, 0, "no request into an exhausted rate-limit window")
    w.close()
c.done()
