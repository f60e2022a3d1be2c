"""leadsync-console's JSON API against the real stack: every endpoint, every
error, login and roles, CSRF, the read model's story of an event, DLQ and
quarantine replay (dry run, reason, audit record), sources added, rotated
and revoked with the ingress following leadsync.sources, and each answer
checked against its JSON Schema under schemas/console/."""
import json
import os
import sys
import time

from harness import (ALL_EVENTS, DEMO_TOKEN, HUBSPOT_TOKEN, Checks, Stack,
                     headers_of, http_request, load_payloads, wait_for)
from conlib import (Api, accounts, console_config, start_console, validator,
                    wait_event, with_lead)

c = Checks("console_api")
V = {n: validator(n) for n in ("error", "me", "events", "event", "parked",
                               "replay", "sources", "source-change",
                               "tenants", "quotas", "status", "assurance",
                               "logout")}


def valid(name, body, what):
    errs = list(V[name].iter_errors(body))
    return c.true(not errs, f"{what}: matches {name}.schema.json",
                  [e.message for e in errs[:3]])


def is_error(res, status, code, what):
    st, _, j = res
    c.eq(st, status, f"{what}: status")
    if j is not None and valid("error", j, what):
        c.eq(j["error"]["code"], code, f"{what}: error code")
    else:
        c.true(False, f"{what}: JSON error body", res)


def post_webhook(ingress, token, body):
    st, _, b = http_request(ingress, "POST", "/v1/webhooks/smartlead/" + token,
                            body, {"Content-Type": "application/json"})
    return st, (json.loads(b) if b.startswith(b"{") else {})


with Stack() as st:
    st.broker()
    st.emulator()
    base_cfg = st.config()
    ingress = st.ingress(base_cfg)
    users = accounts()
    cfg = st.config(mutate=console_config(users, ingress))
    st.worker(cfg, "all", ALL_EVENTS)
    con = start_console(st, cfg)
    ops_pw = users["ops"][1]
    anon = Api(con.url)
    ops = Api(con.url)
    viewer = Api(con.url)
    payloads = load_payloads()

    # -- authentication ----------------------------------------------------
    st_, h, j = anon.get("/api/v1/events", headers={"X-Requested-With": ""})
    is_error((st_, h, j), 401, "unauthorized", "no credentials")
    plain = http_request(con.url, "GET", "/api/v1/events")
    c.true(plain[1].get("www-authenticate", "").startswith("Basic"),
           "401 without credentials challenges scripts with Basic", plain[1])
    is_error(anon.get("/api/v1/me", auth=("ops", "wrong")), 401,
             "unauthorized", "Basic with a wrong password")
    is_error(anon.post("/api/v1/login", {"user": "ops", "password": "nope"}),
             401, "unauthorized", "login with a wrong password")
    is_error(anon.post("/api/v1/login", raw=b"user=ops",
                       headers={"Content-Type": "application/x-www-form-urlencoded"}),
             415, "unsupported_media_type", "login as a form")
    is_error(anon.post("/api/v1/login", {"user": 1}), 400, "bad_request",
             "login without a password")
    is_error(anon.get("/api/v1/login"), 405, "method_not_allowed",
             "GET /api/v1/login")
    is_error(anon.post("/api/v1/login", {"user": "ops", "password": ops_pw},
                       headers={"Origin": "https://evil.example"}),
             403, "csrf", "login from another origin")
    for i in range(3):
        anon.post("/api/v1/login", {"user": "locked", "password": f"bad{i}"})
    st_, h, j = anon.post("/api/v1/login",
                          {"user": "locked", "password": users["locked"][1]})
    is_error((st_, h, j), 429, "rate_limited",
             "login after 3 failures (even with the right password)")
    c.true(int(h.get("retry-after", "0")) > 0, "429 carries Retry-After", h)

    st_, h, j = ops.login("ops", ops_pw)
    c.eq(st_, 200, "operator logs in")
    valid("me", j, "login answer")
    ck = h.get("set-cookie", "")
    c.true("HttpOnly" in ck and "SameSite=Strict" in ck,
           "session cookie is HttpOnly and SameSite=Strict", ck)
    c.true(ops_pw not in ck, "the cookie does not carry the password")
    c.eq(viewer.login("viewer", users["viewer"][1])[0], 200, "viewer logs in")
    st_, _, j = ops.get("/api/v1/me")
    c.eq((st_, j and j["role"]), (200, "operator"), "/me answers the role")
    valid("me", j, "/me")
    is_error(anon.get("/api/v1/me", headers={"Cookie": "ls_session=v1.ops."
                                             "operator.9999999999." + "0" * 64}),
             401, "unauthorized", "a forged session cookie")

    # -- events and one event's story --------------------------------------
    jane = "jane.console@acme-example.com"
    ids = []
    for name in ("EMAIL_SENT", "EMAIL_OPEN", "EMAIL_REPLY"):
        s, r = post_webhook(ingress, DEMO_TOKEN, with_lead(payloads[name], jane))
        c.eq(s, 200, f"{name} accepted by the ingress")
        ids.append(r.get("event_id"))
    reply_id = ids[2]
    story = wait_event(ops, reply_id, "synced")
    valid("event", story, "event detail")
    kinds = [s["kind"] for s in story["steps"]]
    c.true("received" in kinds and "synced" in kinds,
           "the story has received then synced", kinds)
    ev = story["event"]
    c.true(ev["topic"] == "smartlead.email_reply" and ev["offset"] is not None,
           "the story names topic, partition and offset", ev)
    c.true(any(l["type"] == "contacts" and "/contacts/1000001/record/0-1/" in
               l["url"] for l in ev["links"]),
           "a link to the contact in the HubSpot portal", ev["links"])
    c.true(any(l["type"] == "emails" for l in ev["links"]),
           "a link to the email engagement", ev["links"])

    # Basic auth, as a script would call it: the shape the issue names.
    st_, _, j = anon.get("/api/v1/events?email=" + jane.upper(),
                         auth=("viewer", users["viewer"][1]))
    c.eq(st_, 200, "HTTP Basic reads events")
    valid("events", j, "events by email")
    c.eq(sorted(e["event_id"] for e in j["events"]), sorted(ids),
         "email lookup (case-insensitive) finds the lead's three events")
    c.true(all({"event_id", "event_type", "outcome"} <= set(e)
               for e in j["events"]), "events carry id, type and outcome")
    st_, _, j = ops.get(f"/api/v1/events?email={jane}&type=EMAIL_REPLY")
    c.eq([e["event_id"] for e in j["events"]], [reply_id], "filter by type")
    st_, _, j = ops.get(f"/api/v1/events?email={jane}&outcome=synced&since=1h"
                        "&tenant=demo")
    c.true(reply_id in [e["event_id"] for e in j["events"]],
           "filter by outcome, tenant and since", j)
    st_, _, j = ops.get(f"/api/v1/events?email={jane}&until=2000-01-01T00:00:00Z")
    c.eq(j["events"], [], "until before everything finds nothing")
    seen, cursor, pages = [], None, 0
    while True:
        q = f"/api/v1/events?email={jane}&limit=1" + (f"&cursor={cursor}" if cursor else "")
        st_, _, j = ops.get(q)
        valid("events", j, "a page")
        seen += [e["event_id"] for e in j["events"]]
        pages += 1
        cursor = j["next"]
        if not cursor or pages > 5:
            break
    c.eq((pages, sorted(seen)), (3, sorted(ids)),
         "cursor pagination: one event per page, none twice, none lost")
    for q, what in (("since=yesterday", "bad since"), ("limit=0", "limit 0"),
                    ("limit=x", "limit not a number"), ("type=NOPE", "unknown type"),
                    ("cursor=abc", "bad cursor"), ("until=soon", "bad until")):
        is_error(ops.get("/api/v1/events?" + q), 400, "bad_request", what)
    is_error(ops.get("/api/v1/events/" + "0" * 32), 404, "not_found",
             "unknown event id")
    is_error(ops.get("/api/v1/events/not-hex"), 400, "bad_request",
             "malformed event id")

    # -- DLQ: a revoked HubSpot token parks an event -------------------------
    st.hubspot_faults({"revoke_tokens": [HUBSPOT_TOKEN]})
    bob = "bob.console@acme-example.com"
    s, r = post_webhook(ingress, DEMO_TOKEN, with_lead(payloads["EMAIL_REPLY"], bob))
    bob_id = r.get("event_id")
    wait_event(ops, bob_id, "dlq")

    def pending():
        _, _, j = ops.get("/api/v1/dlq?state=pending")
        return [p for p in j["records"] if p["event_id"] == bob_id]
    parked = wait_for(pending, 30, 0.2, "the DLQ record in the read model")[0]
    _, _, j = ops.get("/api/v1/dlq")
    valid("parked", j, "DLQ listing")
    c.eq(parked["reason"], "auth", "the DLQ record says why (auth)")
    c.eq(parked["http_status"], 401, "and HubSpot's status")
    is_error(ops.get("/api/v1/dlq?state=nope"), 400, "bad_request", "bad state")
    is_error(ops.get("/api/v1/dlq?limit=5000"), 400, "bad_request",
             "limit over 1000")
    st.hubspot_faults({"revoke_tokens": []})

    body = {"ids": [parked["id"]], "dry_run": False, "reason": "token restored"}
    is_error(viewer.post("/api/v1/dlq/replay", body), 403, "forbidden",
             "a viewer replays")
    is_error(ops.post("/api/v1/dlq/replay", body, csrf=False), 403, "csrf",
             "a cookie session without X-CSRF-Token")
    is_error(ops.post("/api/v1/dlq/replay", body,
                      headers={"X-CSRF-Token": "0" * 64}), 403, "csrf",
             "a wrong CSRF token")
    is_error(ops.post("/api/v1/dlq/replay", raw=b"ids=1",
                      headers={"Content-Type": "application/x-www-form-urlencoded"}),
             415, "unsupported_media_type", "a form post")
    is_error(ops.post("/api/v1/dlq/replay", body,
                      headers={"Origin": "https://evil.example"}),
             403, "csrf", "a cross-origin post")
    is_error(ops.post("/api/v1/dlq/replay", {"ids": ["x"], "dry_run": True}),
             400, "bad_request", "a malformed record id")
    is_error(ops.post("/api/v1/dlq/replay", {"ids": [parked["id"]]}), 400,
             "bad_request", "a replay without a reason")
    is_error(ops.post("/api/v1/dlq/replay", {"ids": "1:2"}), 400,
             "bad_request", "ids not a list")
    is_error(ops.post("/api/v1/dlq/replay", raw=b"[1]",
                      headers={"Content-Type": "application/json"}),
             400, "bad_request", "a body that is not an object")
    st_, _, j = ops.post("/api/v1/dlq/replay",
                         {"ids": [parked["id"], "0:999999"], "dry_run": True})
    c.eq(st_, 200, "dry run answers")
    valid("replay", j, "dry run")
    res = {i["offset"]: i["result"] for i in j["items"]}
    c.eq((res.get(parked["offset"]), res.get(999999), j["replayed"]),
         ("would_replay", "not_found", 0),
         "dry run: what would go, what does not exist, nothing sent")
    c.eq(len(pending()), 1, "after the dry run the record still waits")
    st_, _, j = ops.post("/api/v1/dlq/replay", body)
    c.eq((st_, j and j["replayed"]), (200, 1), "replay with a reason")
    valid("replay", j, "replay")
    c.eq(j["items"][0]["target"], "smartlead.email_reply",
         "replayed to the original topic")
    wait_event(ops, bob_id, "synced")
    c.true(True, "the replayed event reached HubSpot (synced)")

    def replayed():
        _, _, j = ops.get("/api/v1/dlq?state=replayed")
        return [p for p in j["records"] if p["event_id"] == bob_id]
    rp = wait_for(replayed, 30, 0.2, "the DLQ record marked replayed")[0]
    c.eq((rp["replayed_by"], rp["replay_reason"]), ("ops", "token restored"),
         "who replayed it and why")
    audit = st.consume_all("leadsync.audit", timeout=10)
    acts = [json.loads(m.value()) for m in audit]
    c.true(any(a["action"] == "dlq.replay" and a["user"] == "ops" and
               a["reason"] == "token restored" for a in acts),
           "an audit record for the replay", acts)

    # Basic credentials need no CSRF token (scripts) but still JSON.
    st_, _, j = anon.post("/api/v1/dlq/replay", {"ids": [parked["id"]],
                                                "dry_run": True},
                          auth=("ops", ops_pw))
    c.eq(st_, 200, "a script's dry run with HTTP Basic")

    # -- quarantine --------------------------------------------------------
    bad = with_lead(payloads["EMAIL_OPEN"], "not an address")
    s, _ = post_webhook(ingress, DEMO_TOKEN, bad)
    c.eq(s, 400, "a body failing the schema is refused and quarantined")

    def quarantined():
        _, _, j = ops.get("/api/v1/quarantine")
        return j["records"]
    q = wait_for(quarantined, 30, 0.2, "the quarantined body in the read model")
    _, _, j = ops.get("/api/v1/quarantine?state=all")
    valid("parked", j, "quarantine listing")
    c.eq(q[0]["reason"], "schema", "quarantine reason")
    st_, _, j = ops.post("/api/v1/quarantine/replay",
                         {"ids": [q[0]["id"]], "dry_run": True})
    valid("replay", j, "quarantine dry run")
    c.eq((st_, j["items"][0]["result"]), (200, "still_invalid"),
         "quarantine replay re-validates with today's schemas: still invalid")
    c.true("to_email" in j["items"][0].get("detail", ""),
           "and says why", j["items"][0])
    st_, _, j = ops.post("/api/v1/quarantine/replay",
                         {"ids": [q[0]["id"]], "reason": "try again"})
    c.eq((st_, j["replayed"], j["unroutable"]), (200, 0, 1),
         "a replay sends nothing that still fails")
    is_error(viewer.post("/api/v1/quarantine/replay", {"ids": [q[0]["id"]],
                                                      "dry_run": True}),
             403, "forbidden", "a viewer replays quarantine")

    # -- sources -----------------------------------------------------------
    st_, _, j = ops.get("/api/v1/sources")
    valid("sources", j, "sources")
    by = {s["id"]: s for s in j["sources"]}
    c.true(by["demo-user"]["last_received_at"] and
           by["demo-user"]["counts_24h"].get("EMAIL_REPLY", 0) >= 2,
           "demo-user: last received and 24 h counts per type", by["demo-user"])
    c.true(by["demo-filtered-user"]["silent"], "a source with no events is silent")
    raw = json.dumps(j)
    c.true(DEMO_TOKEN not in raw and
           "43e56fb0f97d8c4061126f6d32cfa4c2b8302f9281b25d5bc631fc171dd683e6"
           not in raw, "no token nor token hash rendered")
    newsrc = {"tenant": "demo", "id": "acme-console", "level": "user"}
    is_error(viewer.post("/api/v1/sources", newsrc), 403, "forbidden",
             "a viewer adds a source")
    is_error(ops.post("/api/v1/sources", newsrc, csrf=False), 403, "csrf",
             "adding a source without CSRF token")
    is_error(ops.post("/api/v1/sources", {"tenant": "nope", "id": "x"}), 400,
             "bad_request", "a source of an unknown tenant")
    is_error(ops.post("/api/v1/sources", {"tenant": "demo", "id": "Bad Id"}),
             400, "bad_request", "a malformed source id")
    is_error(ops.post("/api/v1/sources", {"tenant": "demo", "id": "c1",
                                          "level": "client"}),
             400, "bad_request", "a client source without scope_id")
    st_, _, j = ops.post("/api/v1/sources", newsrc)
    c.eq(st_, 201, "operator adds a source")
    valid("source-change", j, "source added")
    url1 = j["webhook_url"]
    c.true(url1.startswith(ingress + "/v1/webhooks/smartlead/"),
           "the answer has the new webhook URL", url1)
    is_error(ops.post("/api/v1/sources", newsrc), 409, "conflict",
             "the same id again")
    path1 = url1[len(ingress):]
    lead = with_lead(payloads["EMAIL_SENT"], "new.source@acme-example.com")

    def accepted(path):
        s, _, _ = http_request(ingress, "POST", path, lead,
                               {"Content-Type": "application/json"})
        return s == 200
    wait_for(lambda: accepted(path1), 20, 0.2, "the ingress accepts the new URL")
    c.true(True, "the ingress applied the new source without a restart")

    st_, _, j = ops.post("/api/v1/sources/acme-console/rotate", {"grace_s": 4})
    c.eq(st_, 200, "rotate")
    valid("source-change", j, "rotated")
    path2 = j["webhook_url"][len(ingress):]
    c.true(path2 != path1, "rotation gives a new URL")
    c.eq(len(j["source"]["tokens"]), 2, "two tokens while the old is valid")
    wait_for(lambda: accepted(path2), 20, 0.2, "the new token works")
    c.true(accepted(path1), "the old token still works until not_after")
    wait_for(lambda: not accepted(path1), 30, 0.2, "the old token expires")
    c.true(accepted(path2), "after not_after only the new token works")
    is_error(ops.post("/api/v1/sources/acme-console/rotate", {"grace_s": -1}),
             400, "bad_request", "a negative grace")
    is_error(ops.post("/api/v1/sources/nope/rotate", {}), 404, "not_found",
             "rotating an unknown source")
    is_error(ops.post("/api/v1/sources/acme-console/explode", {}), 404,
             "not_found", "an unknown source action")
    st_, _, j = ops.post("/api/v1/sources/acme-console/revoke", {})
    c.eq(st_, 200, "revoke")
    valid("source-change", j, "revoked")
    c.true("token" not in j, "a revocation shows no token")
    wait_for(lambda: not accepted(path2), 20, 0.2, "the revoked URL is refused")
    is_error(ops.post("/api/v1/sources/acme-console/revoke", {}), 404,
             "not_found", "revoking twice")
    acts = [json.loads(m.value())["action"]
            for m in st.consume_all("leadsync.audit", timeout=10)]
    c.true({"source.add", "source.rotate", "source.revoke"} <= set(acts),
           "audit records for add, rotate and revoke", acts)

    # -- tenants, quotas, status, assurance, static, misc -----------------
    st_, _, j = ops.get("/api/v1/tenants")
    valid("tenants", j, "tenants")
    t = {x["id"]: x for x in j["tenants"]}
    c.true(t["demo"]["outcomes_24h"].get("synced", 0) >= 2,
           "tenant outcomes of 24 h", t["demo"])
    c.true("pat-na1" not in json.dumps(j), "no HubSpot token rendered")

    def observed():
        _, _, j = ops.get("/api/v1/quotas")
        q = {x["tenant"]: x for x in j["quotas"]}
        return j if (q["demo"]["observed"] or {}).get("window_remaining") \
            is not None else None
    j = wait_for(observed, 20, 0.3, "a quota observation")
    valid("quotas", j, "quotas")
    q = {x["tenant"]: x for x in j["quotas"]}["demo"]
    c.true(q["observed"]["daily_max"] == 625000 and q["portal_id"] == 1000001,
           "quota per portal: window and daily from HubSpot's headers", q)
    st_, _, j = ops.get("/api/v1/status")
    valid("status", j, "status")
    c.true(j["caught_up"] and j["counts"]["events"] >= 5, "status counts", j)
    st_, _, j = ops.get("/api/v1/assurance")
    valid("assurance", j, "assurance")
    c.eq(j["available"], False, "no assurance progress yet")
    from confluent_kafka import Producer
    pr = Producer({"bootstrap.servers": st.bootstrap})
    pr.produce("leadsync.assurance", key=b"demo", partition=0,
               value=json.dumps({"run_id": "r1", "state": "done",
                                 "backfilled": 2, "api_calls": 9,
                                 "leads_done": 4}).encode())
    pr.flush(10)
    del pr

    def assured():
        _, _, j = ops.get("/api/v1/assurance")
        return j["available"] and j
    j = wait_for(assured, 20, 0.2, "the assurance progress")
    valid("assurance", j, "assurance with progress")
    c.eq((j["tenants"][0]["tenant"], j["tenants"][0]["state"],
          j["tenants"][0]["backfilled"]), ("demo", "done", 2),
         "assurance status per tenant where the role runs")
    is_error(ops.get("/api/v1/nope"), 404, "not_found", "unknown endpoint")
    is_error(ops.request("DELETE", "/api/v1/events"), 405,
             "method_not_allowed", "DELETE")
    is_error(ops.post("/api/v1/nope", {}), 404, "not_found", "unknown POST")
    is_error(ops.post("/api/v1/sources", raw=b"{" + b" " * 70000 + b"}",
                      headers={"Content-Type": "application/json"}),
             413, "too_large", "a body over 64 KiB")
    s, h, page = http_request(con.url, "GET", "/")
    c.true(s == 200 and b"<title>leadsync console</title>" in page,
           "the UI is served by the same process")
    c.true("default-src 'self'" in h.get("content-security-policy", ""),
           "a Content-Security-Policy without third-party sources")
    for p in ("/app.js", "/app.css", "/favicon.svg"):
        c.eq(http_request(con.url, "GET", p)[0], 200, f"{p} served")
    c.eq(http_request(con.url, "GET", "/../etc/passwd")[0], 404,
         "no path outside the UI's files")
    c.eq(http_request(con.url, "GET", "/healthz")[0], 200, "/healthz")
    c.eq(http_request(con.url, "GET", "/readyz")[0], 200, "/readyz")
    s, _, m = http_request(con.url, "GET", "/metrics")
    c.true(s == 200 and b"leadsync_console_requests_total" in m, "/metrics")
    st_, h, j = ops.post("/api/v1/logout", {})
    valid("logout", j, "logout")
    c.true("Max-Age=0" in h.get("set-cookie", ""), "logout clears the cookie")

    # -- the read model is a cache: a rebuild reads Kafka again ------------
    before = [s["kind"] for s in ops.get(f"/api/v1/events/{bob_id}",
                                         auth=("ops", ops_pw))[2]["steps"]]
    c.true("dead_lettered" in before and "replayed" in before,
           "bob's story: dead-lettered, replayed, synced", before)
    con.stop()
    con2 = start_console(st, cfg, extra_args=("--rebuild", "--db", con.db),
                         name="console2")
    again = Api(con2.url)
    again.login("ops", ops_pw)

    def same_story():
        st_, _, j = again.get(f"/api/v1/events/{bob_id}")
        return st_ == 200 and sorted(
            s["kind"] for s in j["steps"]) == sorted(before) and j
    wait_for(same_story, 30, 0.2, "the rebuilt story")
    c.true(True, "rebuilt from Kafka: the same story")
    logs = open(con.log).read() + open(con2.log).read()
    c.true(jane not in logs and ops_pw not in logs and DEMO_TOKEN not in logs,
           "no lead email, password or token in the console's logs")

c.done()
