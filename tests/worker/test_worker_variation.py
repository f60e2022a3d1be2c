"""Real-world variation through the worker and the HubSpot emulator
(docs/mapping.md, docs/hubspot-emulator.md "Real-world variation"):
- a reply longer than HubSpot's 65,536-character limit syncs, cut, with
  `truncated` in its sync_log record;
- a value the portal's phone rule rejects is dropped, the event syncs with
  a `dropped` list (the emulator answers per input, 207, for traced
  upserts);
- an event for a secondary email lands on the primary contact;
- no echo and shuffled results: every engagement on its own contact;
- a 409 from a concurrent create is retried;
- names are written to a new contact only;
- junk untracked-reply senders are `filtered` with their reason."""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import Checks, Stack, http_request  # noqa: E402

c = Checks("worker_variation")
TOKEN = "pat-na1-dev-token"


def admin(st, path, body):
    code, _, out = http_request(st.hubspot_url, "POST", path, body)
    assert code == 200, (path, code, out)
    return json.loads(out)


def upsert(st, email, **props):
    props["email"] = email
    code, _, out = http_request(
        st.hubspot_url, "POST", "/crm/v3/objects/contacts/batch/upsert",
        {"inputs": [{"id": email, "idProperty": "email",
                     "properties": props}]},
        headers={"Authorization": "Bearer " + TOKEN})
    assert code == 200, (code, out)
    return json.loads(out)["results"][0]["id"]


def contact_id_of(state, email):
    ct = wutil.contact_by_email(state, email)
    return ct["id"] if ct else None


def assoc_contact(state, kind, eid):
    objs = wutil.engagements_of(state, kind, eid)
    if len(objs) != 1:
        return None
    for a in state.get("associations", []):
        if a["from_id"] == objs[0]["id"] and a["to_type"] == "contacts":
            return a["to_id"]
    return None


def run(st, w):
    pl = wutil.payloads()
    p = wutil.Producer(st.bootstrap)
    ids = {}

    # 1. A long reply: the quoted thread goes, the reply stays.
    long_reply = wutil.variant(pl["EMAIL_REPLY"], 51001)
    rm = long_reply.setdefault("reply_message", {})
    rm["html"] = ("<div>Tuesday works for me.</div><div class=\"gmail_quote\">"
                  + "<p>earlier thread \u00e9\u00e8</p>" * 6000 + "</div>")
    rm["text"] = "Tuesday works.\n\nOn Mon, Alex wrote:\n" + "> old\n" * 20000
    ids["long"] = p.send(long_reply)

    # 2. A phone the portal's rule rejects.
    phone = wutil.variant(pl["EMAIL_SENT"], 51002)
    phone.setdefault("lead_data", {})["phone_number"] = "ask reception"
    ids["phone"] = p.send(phone)

    # 3. A secondary email of an existing contact.
    prim = upsert(st, "primary51003@example.com", firstname="Pat")
    admin(st, "/_emulator/secondary_email",
          {"email": "primary51003@example.com",
           "secondary": "alias51003@example.com"})
    ids["secondary"] = p.send(wutil.variant(pl["EMAIL_SENT"], 51003,
                                            email="alias51003@example.com"))

    # 4. Names: an existing contact keeps its name; to_name is an alias.
    upsert(st, "named51004@example.com", firstname="Real", lastname="Name")
    named = wutil.variant(pl["EMAIL_SENT"], 51004,
                          email="named51004@example.com")
    named["to_name"] = "Sales Alias"
    named.pop("lead_data", None)
    ids["named"] = p.send(named)

    # 5. Junk untracked-reply senders.
    for n, sender in ((51005, "MAILER-DAEMON"),
                      (51006, "Mail Delivery <mailer-daemon@mx.example.com>"),
                      (51007, "noreply@notify.example.com")):
        b = wutil.variant(pl["UNTRACKED_REPLIES"], n)
        b["sender_detail"] = sender
        ids[f"junk{n}"] = p.send(b)
    p.flush()
    recs = wutil.wait_sync_log(st, ids.values(), timeout=90)
    last = {k: recs[v][-1] for k, v in ids.items()}
    state = st.hubspot_state()

    r = last["long"]
    c.eq(r["outcome"], "synced", "long reply: synced")
    c.eq(sorted(r.get("truncated", [])), ["hs_email_html", "hs_email_text"],
         "long reply: sync_log says what was cut")
    em = wutil.engagements_of(state, "emails", ids["long"])
    html = wutil.props(em[0]).get("hs_email_html", "") if em else ""
    c.true(html.startswith("<div>Tuesday works for me.</div>") and
           "leadsync: message truncated" in html and len(html) <= 65536,
           "long reply: the reply kept, the marker added", html[:120])

    r = last["phone"]
    c.eq(r["outcome"], "synced", "rejected phone: synced")
    c.eq([d["property"] for d in r.get("dropped", [])], ["phone"],
         "rejected phone: dropped listed")
    c.true(wutil.engagements_of(state, "emails", ids["phone"]),
           "rejected phone: the email engagement exists")

    r = last["secondary"]
    c.eq(r["outcome"], "synced", "secondary email: synced (not DLQ)")
    c.eq((r.get("hubspot") or {}).get("contact_id"), prim,
         "secondary email: the primary contact")
    c.eq(assoc_contact(state, "emails", ids["secondary"]), prim,
         "secondary email: engagement on the primary contact")

    r = last["named"]
    c.eq(r["outcome"], "synced", "alias name: synced")
    nc = wutil.contact_by_email(state, "named51004@example.com") or {}
    c.eq((wutil.props(nc).get("firstname"), wutil.props(nc).get("lastname")),
         ("Real", "Name"), "alias name: an existing name is kept")

    for n, why in ((51005, "sender_no_address"),
                   (51006, "sender_mailer_daemon"),
                   (51007, "sender_no_reply")):
        r = last[f"junk{n}"]
        c.eq((r["outcome"], r["reason"]), ("filtered", why),
             f"junk sender {n}: filtered with its reason")
    c.true(wutil.contact_by_email(state, "noreply@notify.example.com") is None,
           "junk sender: no contact")

    # 6. No echo, shuffled results, a concurrent create: 20 new leads.
    admin(st, "/_emulator/config", {"upsert_echo": False,
                                     "shuffle_results": True})
    st.hubspot_faults({"upsert_conflict": 1})  # also ends refuse_properties
    batch = {}
    for n in range(20):
        email = f"shuffle{n}@example-var.com"
        batch[email] = p.send(wutil.variant(pl["EMAIL_SENT"], 52000 + n,
                                            email=email))
    p.flush()
    recs = wutil.wait_sync_log(st, batch.values(), timeout=90)
    state = st.hubspot_state()
    outs = collections.Counter(recs[i][-1]["outcome"] for i in batch.values())
    c.eq(dict(outs), {"synced": 20}, "no echo + shuffle + 409: all synced")
    wrong = [e for e, i in batch.items()
             if assoc_contact(state, "emails", i) != contact_id_of(state, e)
             or recs[i][-1]["hubspot"]["contact_id"] != contact_id_of(state, e)]
    c.eq(wrong, [], "no echo + shuffle: every engagement on its own contact")
    c.true(state["counters"]["by_route"].get(
        "POST /crm/v3/objects/contacts/batch/upsert", {}).get("409", 0) >= 1,
        "the concurrent-create 409 happened", state["counters"]["by_route"])
    admin(st, "/_emulator/config", {"upsert_echo": True,
                                     "shuffle_results": False})
    st.hubspot_faults({"clear": True})


with Stack() as st:
    st.broker()
    st.emulator(extra_args=["--search-lag-ms", "0"])
    admin(st, "/_emulator/portals", {"token": TOKEN, "validate_phone": True,
                                     "time_zone": "America/Los_Angeles"})
    # Setup: HubSpot refuses one property for good; the worker reports it
    # once and runs without writing it (only auth failures stop it).
    st.hubspot_faults({"refuse_properties": ["smartlead_linkedin_url"]})
    cfg = wutil.fast_config(st)
    w = st.worker(cfg, "variation", wutil.GROUPS["replies"] +
                  wutil.GROUPS["activity"])
    log = open(w.log, errors="replace").read()
    c.eq(log.count("HUBSPOT SETUP: property refused"), 1,
         "setup: the refused property reported once")
    c.true("smartlead_linkedin_url" in log, "setup: the report names it")
    c.true('"time_zone":"America/Los_Angeles"' in log.replace(" ", ""),
           "the portal's time zone read from account-info",
           [x for x in log.splitlines() if "time zone" in x])
    run(st, w)
    state = st.hubspot_state()
    c.eq([ct["id"] for ct in wutil.objects(state, "contacts")
          if wutil.props(ct).get("smartlead_linkedin_url")], [],
         "setup: the refused property is never written")
    posts = state["counters"]["by_route"].get(
        "POST /crm/v3/properties/{type}", {}) or state["counters"][
        "by_route"].get("POST /crm/v3/properties/contacts", {})
    c.eq(posts.get("400"), 1, "setup: the refused create was not retried")
    w.stop()
    c.eq(w.p.returncode, 0, "SIGTERM exits 0")
c.done()
