"""`leadsync quarantine list|replay` against the dev broker: bodies an older
ingress quarantined are re-validated with today's rules (schema drift
passes, the second payload shape is recognised); those that pass go to
their event topic with the ingress's key and ce_id, those that still fail
stay pending (carried forward), and nothing is replayed twice."""
import json
import os

from confluent_kafka import Producer

from harness import Checks, Stack, SOURCE, headers_of
import clilib

ck = Checks("cli-quarantine")


def qheaders(tenant, reason, detail):
    return [("ce_specversion", "1.0"), ("ce_tenant", tenant),
            ("ce_source", f"/smartlead/{tenant}/{tenant}-user"),
            ("content-type", "application/json"),
            ("ls_quarantine_reason", reason),
            ("ls_quarantine_detail", detail)]


with Stack() as st:
    bs = st.broker(partitions=1)
    cfg = st.config()
    env = {"KAFKA_BOOTSTRAP_SERVERS": bs}

    def cli(*args):
        return clilib.run(["--config", cfg, *args], env=env, checks=ck)

    with open(os.path.join(SOURCE, "tests", "fixtures", "smartlead",
                           "EMAIL_SENT.json")) as f:
        sent = json.load(f)
    drift = dict(sent, client_id="", sent_message_ids=[None])
    with open(os.path.join(SOURCE, "tests", "fixtures", "smartlead-v2",
                           "EMAIL_REPLIED.json")) as f:
        v2 = json.load(f)
    nolead = {"event_type": "EMAIL_SENT", "to_email": "nobody"}
    p = Producer({"bootstrap.servers": bs, "log_level": 0})
    for body, reason, detail in (
            (drift, "schema", "EMAIL_SENT schema: $.client_id: type"),
            (v2, "no_event_type", "event_type is missing or not a string"),
            (nolead, "schema", "EMAIL_SENT schema: $: anyOf")):
        p.produce("smartlead.quarantine", key="demo:-:-",
                  value=json.dumps(body),
                  headers=qheaders("demo", reason, detail))
    p.flush(10)

    r = cli("quarantine", "list", "--json")
    ck.eq(r.rc, 1, "list: exit 1 while records wait")
    doc = r.json() or {}
    ck.eq((doc.get("pending"), doc.get("would_pass")), (3, 2),
          "list: 3 waiting, 2 pass today's rules")
    r = cli("quarantine", "list", "--reason", "no_event_type", "--json")
    ck.eq([x.get("now_topic") for x in (r.json() or {}).get("records", [])],
          ["smartlead.email_reply"], "list: the second shape routes to replies")

    r = cli("quarantine", "replay", "--dry-run", "--json")
    ck.eq((r.json() or {}).get("matched"), 2, "dry run: 2 would be replayed")
    ck.eq((cli("quarantine", "list", "--json").json() or {}).get("pending"), 3,
          "dry run changes nothing")

    r = cli("quarantine", "replay", "--json")
    ck.eq(r.rc, 0, "replay: exit 0")
    doc = r.json() or {}
    ck.eq((doc.get("replayed"), doc.get("still_failing")), (2, 1),
          "replay: 2 re-published, 1 still failing")
    sent_recs = st.consume_all(["smartlead.email_sent"], timeout=10)
    reply_recs = st.consume_all(["smartlead.email_reply"], timeout=10)
    ck.eq(len(sent_recs), 1, "the drifted EMAIL_SENT is in its topic")
    ck.eq(len(reply_recs), 1, "the second-shape reply is in email_reply")
    if sent_recs:
        h = headers_of(sent_recs[0])
        ck.eq(h.get("ls_replay"), "quarantine", "replay header")
        ck.eq(len(h.get("ce_id", "")), 32, "a ce_id derived now")
        ck.true("ls_quarantine_reason" not in h, "quarantine headers dropped")
        ck.eq(sent_recs[0].key().decode(),
              "demo:1234567:jane.doe@acme-example.com",
              "the key the ingress derives")
    if reply_recs:
        ck.eq(reply_recs[0].key().decode(),
              "demo:123:v2.reply@lead-example.com", "second shape key")

    r = cli("quarantine", "list", "--json")
    doc = r.json() or {}
    ck.eq((doc.get("pending"), doc.get("would_pass")), (1, 0),
          "after replay: the failing one still waits")
    r = cli("quarantine", "replay", "--json")
    ck.eq((r.json() or {}).get("replayed"), 0, "nothing replayed twice")
    ck.eq(len(st.consume_all(["smartlead.email_sent"], timeout=5)), 1,
          "still one EMAIL_SENT record")

    # -- history shows what waits in smartlead.unknown -----------------------
    p.produce("smartlead.unknown", key="demo:1234567:new@type-example.com",
              value=json.dumps({"event_type": "MEETING_BOOKED",
                                "to_email": "new@type-example.com"}),
              headers=[("ce_id", "f" * 32), ("ce_tenant", "demo"),
                       ("ce_type", "ai.smartlead.meeting_booked")])
    p.flush(10)
    r = cli("history", "--status", "unknown", "--json")
    ev = (r.json() or {}).get("events", [])
    ck.eq([(e.get("event_type"), e.get("outcome"), e.get("lead_email"))
           for e in ev],
          [("MEETING_BOOKED", "unknown", "new@type-example.com")],
          "history shows the unknown type, not synced")
ck.done()
