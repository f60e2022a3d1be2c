"""smartlead-emulator: auth, the 10-per-2-s limit and 429s, pagination,
webhook registration, generated activity and its webhooks with faults
(exact counts, current payload shapes), admin endpoints, and
`leadsync webhooks check --smartlead-api` against it."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from sl_lib import API_KEY, Smartlead  # noqa: E402

ck = harness.Checks("assurance_smartlead_emulator")
received = []


class Sink(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        received.append(json.loads(self.rfile.read(n)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
threading.Thread(target=srv.serve_forever, daemon=True).start()
SINK = f"http://127.0.0.1:{srv.server_address[1]}/hook"

with harness.Stack() as st:
    sl = Smartlead(st)
    ck.true(sl.api.endswith("/api/v1"), "ready file holds the API base",
            sl.api)

    # -- auth ---------------------------------------------------------------
    s, _, doc = sl.call("GET", "/campaigns", key=None)
    ck.eq(s, 401, "no api_key -> 401")
    s, _, doc = sl.call("GET", "/campaigns", key="wrong")
    ck.eq(s, 401, "wrong api_key -> 401")

    # -- the documented limit: 10 requests per 2 seconds ------------------
    sl.admin("POST", "reset")
    codes = [sl.call("GET", "/campaigns")[0] for _ in range(12)]
    ck.eq(codes[:10], [200] * 10, "first 10 calls in the window pass")
    ck.eq(codes[10:], [429, 429], "11th and 12th within 2 s answer 429")
    s, hd, _ = sl.call("GET", "/campaigns")
    ck.true("retry-after" not in hd, "no Retry-After unless configured")
    sl.admin("POST", "config", {"retry_after": True})
    s, hd, _ = sl.call("GET", "/campaigns")
    ck.eq(s, 429, "still limited")
    ck.true(1 <= int(hd.get("retry-after", "0")) <= 2,
            "Retry-After when configured", hd)
    harness.wait_for(lambda: sl.call("GET", "/campaigns")[0] == 200,
                     timeout=5, what="window to pass")
    sl.admin("POST", "config", {"rate_requests": 0, "retry_after": False})
    cnt = sl.state()["counters"]["api"]
    ck.true(cnt.get("429", 0) >= 3, "429s counted", cnt)

    # -- injected faults: a 429 storm, 500s --------------------------------
    sl.admin("POST", "faults", {"api_429": 3, "api_500": 1})
    codes = [sl.call("GET", "/campaigns")[0] for _ in range(5)]
    ck.eq(codes, [429, 429, 429, 500, 200], "429 storm then a 500 then ok")

    # -- account and API shapes --------------------------------------------
    sl.admin("POST", "reset")
    gen = sl.admin("POST", "generate", {"seed": 7, "campaigns": 2,
                                        "leads": 50, "events": 300})
    ck.eq(gen["events"], 300, "generated the asked number of events")
    s, _, camps = sl.call("GET", "/campaigns")
    ck.eq([c["id"] for c in camps], [3000001, 3000002], "two campaigns")
    ck.true(all(k in camps[0] for k in ("id", "name", "status", "client_id",
                                        "updated_at")), "campaign fields")
    cid = camps[0]["id"]
    s, _, doc = sl.call("GET", f"/campaigns/{cid}/lead-statistics",
                        query={"limit": 101})
    ck.eq(s, 400, "lead-statistics limit > 100 -> 400")
    s, _, p1 = sl.call("GET", f"/campaigns/{cid}/lead-statistics",
                       query={"limit": 10, "offset": 0})
    s, _, p3 = sl.call("GET", f"/campaigns/{cid}/lead-statistics",
                       query={"limit": 10, "offset": 20})
    ck.eq(p1["total_count"], 25, "25 leads of campaign 1 have activity")
    ck.eq(len(p1["data"]), 10, "page of 10")
    ck.eq(len(p3["data"]), 5, "last page holds the rest")
    future = "2100-01-01T00:00:00Z"
    s, _, none = sl.call("GET", f"/campaigns/{cid}/lead-statistics",
                         query={"event_time_gt": future})
    ck.eq(none["total_count"], 0, "event_time_gt filters by activity time")
    lead = p1["data"][0]
    s, _, hist = sl.call("GET", f"/campaigns/{cid}/leads/{lead['lead_id']}"
                         "/message-history")
    ck.eq(s, 200, "message-history answers")
    types = {h["type"] for h in hist["history"]}
    ck.true(types <= {"SENT", "REPLY"} and "SENT" in types,
            "history entries are SENT/REPLY", types)
    ck.true(all(k in hist["history"][0] for k in
                ("stats_id", "message_id", "time", "type", "subject")),
            "history entry fields")
    s, _, stats = sl.call("GET", f"/campaigns/{cid}/statistics",
                          query={"limit": 100})
    ck.true(all(k in stats["data"][0] for k in (
        "stats_id", "lead_email", "sent_time", "open_time", "click_time",
        "reply_time", "is_unsubscribed", "is_bounced")), "statistics fields")
    s, _, byemail = sl.call("GET", "/leads/", query={"email": lead["email"]})
    ck.eq(byemail.get("id"), lead["lead_id"], "lead by email")
    s, _, cats = sl.call("GET", "/leads/fetch-categories")
    ck.eq(len(cats), 7, "seven standard categories")
    s, _, doc = sl.call("GET", "/campaigns/999/lead-statistics")
    ck.eq(s, 404, "unknown campaign -> 404")

    # -- webhooks: registration rules --------------------------------------
    s, _, doc = sl.call("POST", f"/campaigns/{cid}/webhooks", {
        "id": None, "name": "x", "webhook_url": SINK,
        "event_types": ["EMAIL_SENT"], "categories": []})
    ck.eq(s, 400, "empty categories rejected as on the live API")
    hook = sl.register(camps[0]["id"], SINK)
    sl.register(camps[1]["id"], SINK)
    s, _, hooks = sl.call("GET", f"/campaigns/{cid}/webhooks")
    ck.eq([h["id"] for h in hooks], [hook["id"]], "webhook listed")

    # -- delivery with faults: exact counts --------------------------------
    sl.admin("POST", "faults", {"drop": 0.10, "duplicate": 0.02,
                                "shadow": 0.05, "drop_leads": 0.04,
                                "shadow_url": sl.base + "/_emulator/sink"})
    summary = sl.admin("POST", "deliver", {})
    f = summary["fates"]
    ck.eq(f.get("dropped"), 30, "10 % of 300 dropped")
    ck.eq(f.get("shadowed"), 15, "5 % of 300 sent to the shadowing URL")
    ck.eq(f.get("delivered"), 255, "the rest delivered")
    ck.eq(summary["duplicated"], 6, "2 % of 300 sent twice")
    ck.eq(len(received), 255 + 6, "the sink got every delivery and copy")
    state = sl.state()
    ck.eq(state["counters"]["webhooks"].get("sink"), 15,
          "shadowed copies reached the shadowing URL")
    dropped_leads = {e["email"] for e in state["events"]
                     if e.get("lead_dropped")}
    ck.true(len(dropped_leads) >= 1, "some leads lost every webhook")
    got_emails = {b.get("to_email") or b.get("lead_email") for b in received}
    ck.true(not (dropped_leads & got_emails),
            "no webhook of a fully dropped lead arrived")

    # -- payload shapes -------------------------------------------------------
    by_type = {}
    for b in received:
        by_type.setdefault(b["event_type"], b)
    fixtures = harness.load_payloads()
    for t, b in sorted(by_type.items()):
        fx = json.loads(fixtures[t])
        missing = sorted(k for k in fx if k not in b and k not in (
            "custom_subject", "custom_email_message", "lead_data", "history",
            "lastReply", "last_reply", "current_sequence", "from", "to",
            "unsubscribed_client_id_map", "subject", "sequence_number",
            "created_at", "client_id", "is_sender_originated_bounce",
            "bounce_reply_message_id", "bounce_reply_email",
            "bounce_reply_email_preview"))
        ck.eq(missing, [], f"{t} carries the fixture's fields")
        ck.eq(b["webhook_url"], SINK, f"{t} names its webhook_url")
    ck.true("+00:00" in by_type["EMAIL_SENT"]["event_timestamp"],
            "sent time with +00:00")
    ck.true(by_type["LEAD_UNSUBSCRIBED"]["event_timestamp"].endswith("Z"),
            "unsubscribe time with Z")
    ck.true("sl_email_lead_id" not in by_type["LEAD_UNSUBSCRIBED"],
            "unsubscribe carries no lead id (as captured)")

    # -- late webhooks: dropped ones sent again ------------------------------
    n0 = len(received)
    late = sl.admin("POST", "deliver", {"redeliver": "dropped"})
    ck.eq(len(received) - n0, 30, "redeliver sends the dropped ones late")
    ck.eq(late["fates"].get("late"), 30, "they are marked late")

    # -- the CLI's --smartlead-api against the emulator --------------------
    env = dict(os.environ, SMARTLEAD_API_KEY=API_KEY,
               SMARTLEAD_BASE_URL=sl.api)
    r = subprocess.run([os.path.join(harness.BUILD, "leadsync"), "webhooks",
                        "check", "--smartlead-api", "--config",
                        os.path.join(harness.SOURCE, "config", "dev.json"),
                        "--json"], env=env, capture_output=True, text=True,
                       timeout=60)
    ck.true(r.returncode in (0, 1), "webhooks check ran", r.stderr[-500:])
    try:
        routes = json.loads(r.stdout)["routes"]
    except ValueError:
        routes = []
    ck.true(any(x["fires"]["id"] == str(hook["id"]) for x in routes),
            "webhooks check sees the registered webhook", r.stdout[-500:])
    ck.true(API_KEY not in r.stdout + r.stderr, "api key never printed")

    # -- reset ---------------------------------------------------------------
    sl.admin("POST", "reset")
    ck.eq(len(sl.state()["events"]), 0, "reset empties the account")

srv.shutdown()
ck.done()
