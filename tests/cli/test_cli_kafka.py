"""`leadsync history`, `dlq list|replay` and `replay` against the dev broker,
with sync_log / DLQ / event records produced here as docs/kafka-contract.md
describes them (no ingress or worker needed)."""
import json
import os
import shutil
import time

from confluent_kafka import Producer

from harness import Checks, Stack, headers_of, wait_for
import clilib

ck = Checks("cli-kafka")
NOW = int(time.time() * 1000)


def sync_log(event_id, email, outcome, minutes_ago, tenant="demo",
             campaign="1234567", etype="EMAIL_REPLY", error=None, hs=None):
    t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 60 * minutes_ago))
    return {"event_id": event_id, "tenant": tenant, "event_type": etype,
            "lead_email": email, "campaign_id": campaign, "outcome": outcome,
            "reason": "auth" if outcome == "dlq" else None,
            "hubspot": hs, "error": error,
            "topic": "smartlead." + etype.lower(), "partition": 0,
            "offset": 1, "event_time": t + ".000000Z",
            "logged_at": t + ".500000Z", "latency_ms": 412, "group": "replies",
            "attempts": 1}


def dlq_headers(event_id, tenant, reason, status, etype="EMAIL_REPLY",
                attempt=None):
    h = [("ce_specversion", "1.0"), ("ce_id", event_id),
         ("ce_source", f"/smartlead/{tenant}/{tenant}-user"),
         ("ce_type", "ai.smartlead." + etype.lower()),
         ("content-type", "application/json"), ("ce_tenant", tenant),
         ("ce_sourcelevel", "user"),
         ("ls_dlq_reason", reason), ("ls_dlq_http_status", str(status)),
         ("ls_dlq_hubspot_category",
          "INVALID_AUTHENTICATION" if reason == "auth" else "VALIDATION_ERROR"),
         ("ls_dlq_hubspot_message", "Authentication credentials not found"
          if reason == "auth" else 'Property "x" does not exist'),
         ("ls_dlq_attempts", "1"),
         ("ls_dlq_first_failure", "2025-03-28T09:35:02Z"),
         ("ls_dlq_original_topic", "smartlead." + etype.lower()),
         ("ls_dlq_original_partition", "0"), ("ls_dlq_original_offset", "5"),
         ("ls_dlq_group", "replies")]
    if attempt:
        h.append(("ls_attempt", str(attempt)))
    return h


with Stack() as st:
    bs = st.broker(partitions=3)
    cfg = st.config()
    env = {"KAFKA_BOOTSTRAP_SERVERS": bs}

    def cli(*args, expect_json=True):
        return clilib.run(["--config", cfg, *args], env=env, checks=ck)

    p = Producer({"bootstrap.servers": bs, "log_level": 0})
    # -- sync_log: alice synced earlier then a failure; bob filtered ------
    ids = {n: f"{n:0<32}"[:32] for n in ("a1a1a1", "a2a2a2", "b1b1b1",
                                          "c1c1c1", "d1d1d1", "e1e1e1")}
    recs = [
        sync_log(ids["a1a1a1"], "alice@acme-example.com", "synced", 50,
                 hs={"contact_id": "101",
                     "objects": [{"type": "emails", "id": "202"}]}),
        sync_log(ids["a2a2a2"], "alice@acme-example.com", "dlq", 10,
                 error={"http_status": 401,
                        "category": "INVALID_AUTHENTICATION",
                        "message": "Authentication credentials not found"}),
        sync_log(ids["b1b1b1"], "bob@beta-example.com", "filtered", 30,
                 campaign="777", etype="EMAIL_OPEN"),
    ]
    # The records made here must be the ones the worker writes: check them
    # against the contract's schemas first.
    import jsonschema
    from harness import SOURCE
    with open(os.path.join(SOURCE, "schemas", "sync-log.schema.json")) as f:
        sl_schema = json.load(f)
    with open(os.path.join(SOURCE, "schemas", "dlq-record.schema.json")) as f:
        dlq_schema = json.load(f)
    for r in recs:
        try:
            jsonschema.validate(r, sl_schema)
            ck.true(True, "sync_log fixture matches the schema")
        except jsonschema.ValidationError as e:
            ck.true(False, "sync_log fixture matches the schema", e.message)
    for r in recs:
        p.produce("leadsync.sync_log", key=f"demo:{r['campaign_id']}:{r['lead_email']}",
                  value=json.dumps(r))
    # -- DLQ: alice's failure plus three more -----------------------------
    dlq = [
        (ids["a2a2a2"], "demo", "auth", 401, "demo:1234567:alice@acme-example.com", None),
        (ids["d1d1d1"], "demo-filtered", "validation", 400, "demo-filtered:55:dave@delta-example.com", None),
        (ids["c1c1c1"], "demo", "auth", 401, "demo:1234567:carol@gamma-example.com", 2),
        (ids["e1e1e1"], "demo-filtered", "auth", 401, "demo-filtered:55:erin@eps-example.com", None),
    ]
    bodies = {}
    for eid, tenant, reason, status, key, attempt in dlq:
        try:
            jsonschema.validate(dict(dlq_headers(eid, tenant, reason, status)),
                                dlq_schema)
            ck.true(True, "DLQ fixture headers match the schema")
        except jsonschema.ValidationError as e:
            ck.true(False, "DLQ fixture headers match the schema", e.message)
        body = json.dumps({"event_type": "EMAIL_REPLY", "to_email": key.split(":")[2],
                           "campaign_id": int(key.split(":")[1])})
        bodies[eid] = body
        # Everything on one partition, dave's record between demo's two, so
        # a filtered replay has a non-matching record before its last match.
        p.produce("leadsync.dlq", key=key, value=body, partition=0,
                  headers=dlq_headers(eid, tenant, reason, status,
                                      attempt=attempt))
    p.produce("smartlead.quarantine", key="demo:-:-", value=b"{not json",
              headers=[("ce_tenant", "demo"),
                       ("ls_quarantine_reason", "bad_json"),
                       ("ls_quarantine_detail", "line 1: invalid token")])
    # -- an event topic with records at three points in time --------------
    window = [(180, "demo"), (170, "demo"), (60, "demo"), (50, "demo-filtered"),
              (10, "demo")]
    for i, (mins, tenant) in enumerate(window):
        p.produce("smartlead.email_reply", key=f"{tenant}:9:w{i}@x-example.com",
                  value=json.dumps({"event_type": "EMAIL_REPLY", "n": i}),
                  timestamp=NOW - mins * 60 * 1000,
                  headers=[("ce_id", f"w{i}"), ("ce_tenant", tenant)])
    p.flush(10)

    # -- history -----------------------------------------------------------
    r = cli("history", "--email", "Alice@Acme-Example.com", "--json")
    ck.eq(r.rc, 0, "history finds alice")
    ev = r.json()["events"]
    ck.eq([e["outcome"] for e in ev], ["dlq", "synced"],
          "alice's events, newest first")
    ck.eq(ev[0].get("dlq_state"), "pending",
          "the DLQ copy is folded into the log line: waiting for replay")
    ck.eq(ev[0]["error"]["http_status"], 401, "the failure keeps its status")
    ck.eq(ev[1]["hubspot"]["contact_id"], "101", "synced shows HubSpot ids")
    r = cli("history", "--email", "alice@acme-example.com")
    ck.true("HubSpot 401" in r.out and "contact 101, emails 202" in r.out
            and "waiting for replay" in r.out, "human history lines", r.out)
    r = cli("history", "--event-id", ids["b1b1b1"][:8], "--json")
    ck.eq([e["lead_email"] for e in r.json()["events"]],
          ["bob@beta-example.com"], "--event-id prefix")
    r = cli("history", "--campaign", "777", "--status", "filtered", "--json")
    ck.eq(len(r.json()["events"]), 1, "--campaign and --status")
    r = cli("history", "--status", "dlq", "--json")
    got = sorted(e.get("lead_email") for e in r.json()["events"])
    ck.eq(got, ["alice@acme-example.com", "carol@gamma-example.com",
                "dave@delta-example.com", "erin@eps-example.com"],
          "--status dlq: log lines plus DLQ-only records, no duplicates")
    r = cli("history", "--status", "quarantined", "--json")
    ck.eq([e["reason"] for e in r.json()["events"]], ["bad_json"],
          "quarantined payloads are searchable")
    r = cli("history", "--since", "20m", "--json")
    ck.true(all(e["lead_email"] != "bob@beta-example.com"
                for e in r.json()["events"] if e.get("lead_email")),
            "--since drops older log lines", r.out)
    r = cli("history", "--limit", "2", "--json")
    ck.eq(r.json()["shown"], 2, "--limit")
    r = cli("history", "--email", "nobody@example.com")
    ck.eq(r.rc, 1, "no match exits 1")

    # -- dlq list ----------------------------------------------------------
    r = cli("dlq", "list", "--json")
    ck.eq(r.rc, 1, "dlq list exits 1 while records wait")
    ck.eq(r.json()["pending"], 4, "4 records pending")
    ck.eq(r.json()["pending_by_reason"], {"auth": 3, "validation": 1},
          "counts by reason")
    r = cli("dlq", "list", "--reason", "validation")
    ck.true("dave@delta-example.com" in r.out and "VALIDATION_ERROR" in r.out,
            "human list shows the HubSpot error", r.out)

    # -- dlq replay: dry run changes nothing -------------------------------
    r = cli("dlq", "replay", "--reason", "auth", "--tenant", "demo",
            "--dry-run", "--json")
    ck.eq((r.rc, r.json()["matched"], r.json()["replayed"]), (0, 2, 0),
          "dry run counts 2 and publishes nothing")
    ck.eq(cli("dlq", "list", "--json").json()["pending"], 4,
          "dry run commits nothing")

    # -- filtered replay ----------------------------------------------------
    before = len(st.consume_all("smartlead.email_reply"))
    r = cli("dlq", "replay", "--reason", "auth", "--tenant", "demo", "--json")
    ck.eq(r.rc, 0, "filtered replay exits 0")
    ck.eq(r.json()["replayed"], 2, "replays demo's two auth records")
    ck.eq(r.json()["carried_forward"], 1,
          "the non-matching record before the last match is carried forward")
    msgs = st.consume_all("smartlead.email_reply", expect=before + 2)
    replayed = [m for m in msgs if headers_of(m).get("ls_replay") == "dlq"]
    ck.eq(sorted(headers_of(m)["ce_id"] for m in replayed),
          sorted([ids["a2a2a2"], ids["c1c1c1"]]), "the right events replayed")
    for m in replayed:
        h = headers_of(m)
        want_attempt = "3" if h["ce_id"] == ids["c1c1c1"] else "2"
        ck.eq(h.get("ls_attempt"), want_attempt, "attempt count incremented")
        ck.eq([k for k in h if k.startswith("ls_dlq_")], [],
              "DLQ annotations are not copied to the event topic")
        ck.eq((h.get("ce_tenant"), h.get("ce_type"), h.get("ce_sourcelevel")),
              ("demo", "ai.smartlead.email_reply", "user"),
              "original headers preserved")
        ck.eq(m.value().decode(), bodies[h["ce_id"]], "body byte for byte")
    r = cli("dlq", "list", "--json")
    ck.eq(r.json()["pending"], 2, "the two other records still wait")
    ck.eq(sorted(x["event_id"] for x in r.json()["records"]),
          sorted([ids["d1d1d1"], ids["e1e1e1"]]),
          "nothing skipped by the commit, nothing listed twice")
    r = cli("dlq", "replay", "--reason", "auth", "--tenant", "demo", "--json")
    ck.eq(r.json()["replayed"], 0, "a second replay sends nothing twice")
    r = cli("history", "--email", "alice@acme-example.com", "--status", "dlq",
            "--json")
    ck.eq(r.json()["events"][0].get("dlq_state"), "replayed",
          "history now says alice's failure was replayed")

    # -- replay the rest: DLQ drains to zero -------------------------------
    r = cli("dlq", "replay", "--json")
    ck.eq(r.json()["replayed"], 2, "unfiltered replay sends the rest")
    r = cli("dlq", "list", "--json")
    ck.eq((r.rc, r.json()["pending"]), (0, 0), "DLQ drained: exit 0")
    msgs = st.consume_all("smartlead.email_reply", expect=before + 4)
    ids_replayed = [headers_of(m)["ce_id"] for m in msgs
                    if headers_of(m).get("ls_replay") == "dlq"]
    ck.eq(sorted(ids_replayed), sorted(ids[k] for k in
                                       ("a2a2a2", "c1c1c1", "d1d1d1", "e1e1e1")),
          "each DLQ record replayed exactly once")

    # -- window replay -------------------------------------------------------
    r = cli("replay", "--topic", "EMAIL_REPLY", "--from", "2h", "--to", "30m",
            "--dry-run", "--json")
    ck.eq((r.rc, r.json()["would_replay"]), (0, 2),
          "dry run: the two records inside the window")
    r = cli("replay", "--topic", "smartlead.email_reply", "--from", "2h",
            "--to", "30m", "--tenant", "demo", "--json")
    ck.eq(r.json()["replayed"], 1, "--tenant narrows the window")
    msgs = st.consume_all("smartlead.email_reply", expect=before + 5)
    win = [m for m in msgs if headers_of(m).get("ls_replay") == "window"]
    ck.eq([headers_of(m)["ce_id"] for m in win], ["w2"],
          "the window's demo record was re-published")
    orig = [m for m in msgs if headers_of(m).get("ce_id") == "w2"
            and not headers_of(m).get("ls_replay")][0]
    ck.eq((win[0].key(), win[0].value(), win[0].partition()),
          (orig.key(), orig.value(), orig.partition()),
          "same key, body and partition as the original")
    r = cli("replay", "--topic", "EMAIL_REPLY", "--from", "1d")
    ck.true(r.rc == 0 and "replayed" in r.out, "human replay output", r.out)

    # -- .run/ discovery: make run's files, no flags -------------------------
    import tempfile
    d = tempfile.mkdtemp(prefix="leadsync-run-")
    os.makedirs(os.path.join(d, ".run"))
    shutil.copy(cfg, os.path.join(d, ".run", "config.json"))
    with open(os.path.join(d, ".run", "bootstrap"), "w") as f:
        f.write(bs + "\n")
    # The config names a wrong broker: .run/bootstrap must win.
    with open(os.path.join(d, ".run", "config.json")) as f:
        c = json.load(f)
    c["kafka"]["bootstrap_servers"] = "127.0.0.1:1"
    with open(os.path.join(d, ".run", "config.json"), "w") as f:
        json.dump(c, f)
    r = clilib.run(["history", "--email", "bob@beta-example.com", "--json"],
                   cwd=d, checks=ck)
    ck.eq((r.rc, len(r.json()["events"]) if r.rc == 0 else -1), (0, 1),
          "history with no flags uses .run/config.json and .run/bootstrap")
    shutil.rmtree(d)

    # -- Kafka down: a clear failure, exit 1 ----------------------------------
    import signal
    st.broker_proc.signal(signal.SIGUSR1)
    wait_for(lambda: "brokers down" in st.broker_proc.tail(), 10,
             what="brokers down")
    r = clilib.run(["--config", cfg, "dlq", "list"], env=env, timeout=90)
    ck.eq(r.rc, 1, "dlq list with the brokers down exits 1")
    ck.true("Kafka" in r.err, "and says Kafka is the problem", r.err)
    st.broker_proc.signal(signal.SIGUSR2)

ck.done()
