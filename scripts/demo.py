"""make run's demo: posts the bundled Smartlead samples to the running stack,
waits for every event's outcome on leadsync.sync_log, prints what reached
HubSpot. Usage: demo.py RUN_DIR"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

RUN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures", "smartlead")


def read(name):
    with open(os.path.join(RUN, name)) as f:
        return f.read().strip()


def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def filtered_story():
    """One lead released (uncategorised sends, then Interested) and one held
    (Not Interested) for the demo-filtered tenant."""
    sent = json.load(open(os.path.join(FIX, "EMAIL_SENT.json")))
    cat = json.load(open(os.path.join(FIX, "LEAD_CATEGORY_UPDATED.json")))
    out = []
    for lead, new_id, new_name in (("released.lead@demo-example.com", 1, "Interested"),
                                   ("held.lead@demo-example.com", 3, "Not Interested")):
        s = dict(sent, to_email=lead, to_name="Demo Lead",
                 stats_id="demo-" + lead, event_timestamp="2025-04-01T10:00:00.000+00:00")
        c = dict(cat, to_email=lead, lead_email=lead, to=lead,
                 event_timestamp="2025-04-02T10:00:00.000Z",
                 category=new_name, lead_category_id=new_id,
                 lead_category={"old_id": None, "old_name": None,
                                "new_id": new_id, "new_name": new_name})
        c["lead_data"] = dict(cat["lead_data"], email=lead, first_name="Demo",
                              last_name="Lead", company_name="Demo Co")
        c["to_name"] = c["lead_name"] = "Demo Lead"
        out.append(("EMAIL_SENT " + lead, json.dumps(s).encode()))
        out.append(("LEAD_CATEGORY_UPDATED -> %s %s" % (new_name, lead),
                    json.dumps(c).encode()))
    return out


FINAL = {"synced", "filtered", "dlq", "duplicate", "expired"}


def settled(seen, ids, may_stay_held):
    for i in ids:
        recs = seen.get(i)
        if not recs:
            return False
        last = recs[-1].get("outcome")
        if last not in FINAL and not (last == "held" and i in may_stay_held):
            return False
    return True


def sync_log_outcomes(bootstrap, ids, timeout, may_stay_held=()):
    try:
        from confluent_kafka import Consumer
    except ImportError:
        return {}
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "demo-%d" % time.time_ns(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "log_level": 3})
    c.subscribe(["leadsync.sync_log"])
    seen = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not settled(seen, ids, may_stay_held):
            m = c.poll(0.3)
            if m is None or m.error():
                continue
            try:
                rec = json.loads(m.value())
            except ValueError:
                continue
            if rec.get("event_id") in ids:
                seen.setdefault(rec["event_id"], []).append(rec)
    finally:
        c.close()
    return seen


def main():
    url = read("webhook_url")
    url_f = read("webhook_url_filtered")
    posted = []
    print("\nPosting the bundled Smartlead sample events to", url.rsplit("/", 1)[0] + "/<token>")
    for f in sorted(os.listdir(FIX)):
        if not f.endswith(".json"):
            continue
        status, body = post(url, open(os.path.join(FIX, f), "rb").read())
        print("  %-28s -> %d %s" % (f[:-5], status, body.get("topic", body.get("error", ""))))
        if status == 200:
            posted.append((f[:-5], body["event_id"]))
    print("\nPosting a hold-and-release story to the filtered tenant (Interested, Meeting Request)")
    for label, body in filtered_story():
        status, resp = post(url_f, body)
        print("  %-60s -> %d" % (label, status))
        if status == 200:
            posted.append((label, resp["event_id"]))

    ids = {eid for _, eid in posted}
    held = {eid for label, eid in posted if "held.lead@" in label}
    print("\nWaiting for every event's outcome on leadsync.sync_log ...")
    seen = sync_log_outcomes(read("bootstrap"), ids, 60, held)
    for label, eid in posted:
        recs = seen.get(eid, [])
        outcomes = " -> ".join(r.get("outcome", "?") for r in recs) or "no outcome yet"
        hs = next((r.get("hubspot") for r in reversed(recs) if r.get("hubspot")), None)
        extra = ""
        if hs:
            objs = ", ".join("%s %s" % (o.get("type"), o.get("id")) for o in hs.get("objects", []))
            extra = " (contact %s%s)" % (hs.get("contact_id"), ", " + objs if objs else "")
        print("  %-60s %s%s" % (label[:60], outcomes, extra))

    hs_url = read("hubspot_url")
    try:
        with urllib.request.urlopen(hs_url + "/_emulator/state", timeout=10) as r:
            state = json.loads(r.read())
    except (urllib.error.URLError, ValueError):
        return
    print("\nWhat reached HubSpot (emulator state):")
    for ctc in state.get("contacts", []):
        p = ctc.get("properties", {})
        print("  contact %-4s %-36s %s %s | category=%s last_event=%s" % (
            ctc.get("id"), p.get("email"), p.get("firstname") or "", p.get("lastname") or "",
            p.get("smartlead_lead_category"), p.get("smartlead_last_event")))
    for kind in ("emails", "notes", "tasks"):
        print("  %-7s %d" % (kind, len(state.get(kind, []))))


if __name__ == "__main__":
    main()
