"""`leadsync` without Kafka: the CLI framework (help, exit codes, config
discovery), `config check` and `webhooks check` (fixture sets for each
Smartlead priority rule and the tie, plus a stub of Smartlead's API)."""
import http.server
import json
import os
import sys
import tempfile
import threading

from harness import Checks, FIXTURES, SOURCE, DEMO_TOKEN, sha256_hex
import clilib

WH = os.path.join(FIXTURES, "webhooks")
DEV = os.path.join(SOURCE, "config", "dev.json")
ck = Checks("cli-checks")
tmp = tempfile.mkdtemp(prefix="leadsync-cli-")
ENV = {"HUBSPOT_TOKEN": "pat-na1-dev-token"}


def codes(res):
    return sorted({f["code"] for f in res.json()["findings"]})


# -- framework -------------------------------------------------------------
r = clilib.run(["--help"], checks=ck)
ck.eq(r.rc, 0, "leadsync --help exits 0")
for cmd in ("test-sync", "history", "dlq", "replay", "hubspot", "webhooks",
            "config"):
    ck.true(cmd in r.out, f"--help lists {cmd}", r.out)
for argv in (["test-sync", "--help"], ["history", "--help"],
             ["dlq", "--help"], ["dlq", "list", "--help"],
             ["dlq", "replay", "--help"], ["replay", "--help"],
             ["hubspot", "--help"], ["hubspot", "setup", "--help"],
             ["webhooks", "--help"], ["webhooks", "check", "--help"],
             ["config", "--help"], ["config", "check", "--help"]):
    r = clilib.run(argv, checks=ck)
    ck.eq(r.rc, 0, f"{' '.join(argv)} exits 0")
    ck.true(r.out.startswith("usage: leadsync"), f"{' '.join(argv)} prints usage",
            r.out[:200])
ck.eq(clilib.run(["frobnicate"]).rc, 2, "unknown command exits 2")
ck.eq(clilib.run([]).rc, 2, "no command exits 2")
ck.eq(clilib.run(["history", "--bogus"]).rc, 2, "unknown option exits 2")
ck.eq(clilib.run(["history", "--limit", "ten"]).rc, 2, "bad number exits 2")
ck.eq(clilib.run(["history", "--since", "yesterday-ish"]).rc, 2,
      "bad time exits 2")
r = clilib.run(["history"], cwd=tmp)
ck.eq(r.rc, 2, "no config anywhere exits 2")
ck.true("--config" in r.err and "LEADSYNC_CONFIG" in r.err,
        "the message says where a config comes from", r.err)
r = clilib.run(["history"], env={"LEADSYNC_CONFIG": "/nonexistent.json"})
ck.eq(r.rc, 2, "unreadable LEADSYNC_CONFIG exits 2")
r = clilib.run(["replay", "--topic", "leadsync.dlq", "--from", "1h",
                "--config", DEV])
ck.eq(r.rc, 2, "replay refuses a non-event topic")
ck.eq(clilib.run(["replay", "--topic", "EMAIL_REPLY", "--config", DEV]).rc,
      2, "replay needs --from")
ck.eq(clilib.run(["hubspot", "setup", "--config", DEV]).rc, 2,
      "hubspot setup needs --tenant or --all")
r = clilib.run(["hubspot", "setup", "--tenant", "nope", "--config", DEV])
ck.eq(r.rc, 2, "hubspot setup with an unknown tenant exits 2")
r = clilib.run(["hubspot", "setup", "--tenant", "demo", "--config", DEV])
ck.eq(r.rc, 2, "hubspot setup without a token exits 2")
ck.true("HUBSPOT_TOKEN" in r.err, "names the missing token variable", r.err)

# -- config check ------------------------------------------------------------
r = clilib.run(["config", "check", DEV], env=ENV, checks=ck)
ck.eq(r.rc, 0, "dev.json passes config check")
r = clilib.run(["config", "check", DEV, "--json"], checks=ck)
ck.eq(r.rc, 1, "dev.json without HUBSPOT_TOKEN fails")
probs = r.json()["problems"]
ck.eq(sorted(p["path"] for p in probs if p.get("severity") == "error"),
      ["$.tenants[0].hubspot.token_env", "$.tenants[1].hubspot.token_env"],
      "both tenants' unresolvable tokens are reported with their paths")
# The demo tenant's Smartlead key (webhook assurance) is only a warning.
ck.eq([(p["path"], p.get("severity")) for p in probs
       if "smartlead" in p["path"]],
      [("$.tenants[0].smartlead.api_key_env", "warning")],
      "an unresolvable Smartlead API key is a warning")

with open(DEV) as f:
    bad = json.load(f)
t0, t1 = bad["tenants"]
t1["sources"][0]["token_sha256"] = t0["sources"][0]["token_sha256"]
t1["id"] = "demo"
t0["hubspot"]["token_env"] = "LEADSYNC_TEST_UNSET_VAR"
del t1["hubspot"]["token_env"]
t1["hubspot"]["token_file"] = os.path.join(tmp, "missing-token")
bad["worker"]["groups"] = {"replies": ["EMAIL_REPLY", "EMAIL_REPLIED"],
                           "activity": "EMAIL_OPEN,EMAIL_CLICKED"}
t0["sync"]["EMAIL_OPENED"] = {"as_note": True}
t0["sources"].append({"id": "demo-client", "level": "client",
                      "token_sha256": "not-a-hash"})
badp = os.path.join(tmp, "bad.json")
with open(badp, "w") as f:
    json.dump(bad, f)
r = clilib.run(["config", "check", badp, "--json"], env=ENV, checks=ck)
ck.eq(r.rc, 1, "a broken config exits 1")
got = {(p["path"], p["severity"]) for p in r.json()["problems"]}
want = {
    ("$.tenants[1].sources[0].token_sha256", "error"),  # duplicate token
    ("$.tenants[1].id", "error"),                        # duplicate tenant
    ("$.tenants[0].hubspot.token_env", "error"),         # env var unset
    ("$.tenants[1].hubspot.token_file", "error"),        # unreadable file
    ("$.worker.groups.replies[1]", "error"),             # unknown type
    ("$.worker.groups.activity", "error"),               # unknown type
    ("$.tenants[0].sync.EMAIL_OPENED", "error"),         # unknown type
    ("$.tenants[0].sources[1].token_sha256", "error"),   # not a hash
    ("$.tenants[0].sources[1].scope_id", "error"),       # client w/o scope
}
ck.eq(sorted(want - got), [], "every problem is reported, not just the first")
msgs = " ".join(p["message"] for p in r.json()["problems"])
for word in ("duplicate token", "LEADSYNC_TEST_UNSET_VAR", "EMAIL_REPLIED",
             "EMAIL_CLICKED", "missing-token"):
    ck.true(word in msgs, f"a message explains {word!r}", msgs[:500])
r = clilib.run(["config", "check", badp], env=ENV)
ck.true(r.out.count("error ") >= len(want), "human output lists them all",
        r.out)
broken = os.path.join(tmp, "broken.json")
with open(broken, "w") as f:
    f.write('{"kafka": {,}')
r = clilib.run(["config", "check", broken, "--json"])
ck.eq(r.rc, 1, "invalid JSON exits 1")
ck.true("line 1" in r.json()["problems"][0]["path"], "names the line", r.out)
ck.eq(clilib.run(["config", "check", os.path.join(tmp, "nope.json")]).rc, 2,
      "missing file exits 2")

# -- webhooks check: one fixture per rule ------------------------------------
def wh(name, *extra, env=None):
    return clilib.run(["webhooks", "check", os.path.join(WH, name),
                       "--config", DEV, "--json", *extra],
                      env=env or ENV, checks=ck)


r = wh("user_blocks_client.json")
ck.eq(r.rc, 1, "user-level webhook blocking a client-level one exits 1")
ck.true("user_blocks_client" in codes(r), "user beats client", codes(r))
routes = r.json()["routes"]
reply = [x for x in routes if x["event_type"] == "EMAIL_REPLY"
         and x["scope"]["client_id"] == "7"]
ck.eq([x["fires"]["id"] for x in reply], ["501"],
      "the user-level webhook fires for client 7's replies")
ck.eq([[s["id"] for s in x["shadowed"]] for x in reply], [["502"]],
      "the client-level leadsync webhook is shadowed")
lcu = [x for x in routes if x["event_type"] == "LEAD_CATEGORY_UPDATED"]
ck.eq({x["fires"]["id"] for x in lcu}, {"502"},
      "event types the user-level webhook lacks still reach the client one")
ck.eq(reply[0]["shadowed"][0]["leadsync_source"], "demo/demo-user",
      "the leadsync URL is matched to its source through the token hash")
ck.true("****" in reply[0]["shadowed"][0]["url"], "the URL token is masked",
        reply[0]["shadowed"][0]["url"])

r = wh("client_beats_campaign.json")
ck.eq(r.rc, 0, "client beating a foreign campaign webhook is only a warning")
ck.true("shadowed" in codes(r), "client beats campaign", codes(r))
c101 = [x for x in r.json()["routes"] if x["scope"]["campaign_id"] == "101"
        and x["event_type"] == "EMAIL_REPLY"]
ck.eq([x["fires"]["id"] for x in c101], ["610"],
      "campaign 101 (client 7) replies go to the client-level webhook")
c202 = [x for x in r.json()["routes"] if x["scope"]["campaign_id"] == "202"]
ck.eq([x["fires"]["id"] for x in c202], ["612"],
      "a campaign of another client keeps its own webhook")

r = wh("campaign_shadows_leadsync.json")
ck.eq(r.rc, 1, "a shadowed leadsync webhook exits 1")
ck.true("leadsync_shadowed" in codes(r), "leadsync_shadowed reported",
        codes(r))
bounce = [x for x in r.json()["routes"] if x["event_type"] == "EMAIL_BOUNCE"]
ck.eq([x["fires"]["id"] for x in bounce], ["621"],
      "types only the campaign webhook has still fire there")

r = wh("latest_wins_ok.json")
ck.eq(r.rc, 0, "newer leadsync webhook within a level: exit 0")
ck.eq(r.json()["routes"][0]["fires"]["id"], "701", "last updated wins")
ck.true("older_never_fires" in codes(r), "the older one is reported",
        codes(r))
r = wh("latest_wins_leadsync_loses.json")
ck.eq(r.rc, 1, "leadsync webhook updated earlier than a rival: exit 1")
ck.eq(r.json()["routes"][0]["fires"]["id"], "799",
      "one second later wins, whatever the ids")

r = wh("tie_leadsync.json")
ck.eq(r.rc, 1, "a tie involving leadsync exits 1")
ck.true("leadsync_tie" in codes(r), "leadsync_tie reported", codes(r))
ck.true(r.json()["routes"][0]["tie"], "the route is marked as a tie")
r = wh("tie_other.json")
ck.eq(r.rc, 0, "a tie between two other receivers is a warning")
ck.true("tie" in codes(r), "tie reported", codes(r))
ck.eq([x["fires"]["id"] for x in r.json()["routes"]
       if x["event_type"] == "EMAIL_OPEN"], ["911"],
      "a tie resolves to the newer id, as documented")

r = wh("clean.json")
ck.eq(r.rc, 0, "a clean set exits 0")
ck.eq([f for f in r.json()["findings"] if f["severity"] != "info"], [],
      "no warnings on a clean set")
r = wh("unknown_token.json")
ck.eq(r.rc, 1, "a leadsync URL with an unknown token exits 1")
ck.eq(codes(r), ["unknown_token"], "unknown_token reported")
r = clilib.run(["webhooks", "check", os.path.join(WH, "unknown_token.json"),
                "--json"], cwd=tmp, checks=ck)
ck.eq(r.rc, 0, "without a config, tokens cannot be judged")
ck.true(r.json()["routes"][0]["fires"]["leadsync"],
        "the URL is still recognised as leadsync's")
r = wh("invalid_level.json")
ck.eq(r.rc, 2, "a malformed definition exits 2")
ck.true("$[0].level" in r.err, "names the JSON path", r.err)
r = clilib.run(["webhooks", "check", os.path.join(WH, "user_blocks_client.json"),
                "--config", DEV], env=ENV, checks=ck)
ck.true("user_blocks_client" in r.out and "fires" in r.out and
        "shadowed" in r.out, "human output: routes and warning", r.out)

# -- webhooks check --smartlead-api against a local stub ---------------------
API_KEY = "sl-test-key-9f8e7d"
LS_URL = f"http://127.0.0.1:8080/v1/webhooks/smartlead/{DEMO_TOKEN}"
CAMPAIGNS = [{"id": 3001, "name": "Q3", "client_id": 12, "status": "ACTIVE"},
             {"id": 3002, "name": "Q4", "client_id": None, "status": "ACTIVE"}]
HOOKS = {
    3001: [{"id": 71, "name": "leadsync", "webhook_url": LS_URL,
            "event_types": ["EMAIL_REPLY"], "categories": ["Interested"],
            "created_at": "2025-01-01T00:00:00.000Z",
            "updated_at": "2025-01-01T00:00:00.000Z",
            "email_campaign_id": 3001}],
    3002: [{"id": 72, "name": "crm", "webhook_url": "https://crm.example.com/x",
            "event_types": ["EMAIL_SENT"], "categories": ["Interested"],
            "updated_at": "2025-01-02T00:00:00.000Z",
            "email_campaign_id": 3002}],
}
seen = []


class Stub(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        seen.append(path)
        if f"api_key={API_KEY}" not in query:
            self.send_response(401)
            self.end_headers()
            return
        body = None
        if path == "/api/v1/campaigns":
            body = CAMPAIGNS
        elif path.startswith("/api/v1/campaigns/") and path.endswith("/webhooks"):
            body = HOOKS.get(int(path.split("/")[4]), [])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = f"http://127.0.0.1:{srv.server_address[1]}/api/v1"
try:
    env = dict(ENV, SMARTLEAD_API_KEY=API_KEY, SMARTLEAD_BASE_URL=base)
    r = clilib.run(["webhooks", "check", "--smartlead-api", "--config", DEV,
                    "--json"], env=env, checks=ck, extra_secrets=[API_KEY])
    ck.eq(r.rc, 0, "API-only check of a clean account exits 0")
    ck.eq(sorted(seen), ["/api/v1/campaigns", "/api/v1/campaigns/3001/webhooks",
                         "/api/v1/campaigns/3002/webhooks"],
          "lists campaigns, then each campaign's webhooks")
    fires = {(x["scope"]["campaign_id"], x["event_type"]): x["fires"]["id"]
             for x in r.json()["routes"]}
    ck.eq(fires.get(("3001", "EMAIL_REPLY")), "71", "API webhooks resolved")
    ck.eq(r.json()["routes"][0]["fires"]["level"], "campaign",
          "API webhooks are campaign-level")
    # The same account plus a user-level webhook from a file.
    userf = os.path.join(tmp, "user.json")
    with open(userf, "w") as f:
        json.dump([{"id": 9, "name": "zap", "level": "user",
                    "webhook_url": "https://hooks.zapier.com/x/y",
                    "event_types": ["EMAIL_REPLY"],
                    "updated_at": "2024-01-01T00:00:00Z"}], f)
    r = clilib.run(["webhooks", "check", userf, "--smartlead-api", "--config",
                    DEV, "--json"], env=env, checks=ck, extra_secrets=[API_KEY])
    ck.eq(r.rc, 1, "file + API: the user-level webhook blocks leadsync")
    ck.true("user_blocks_campaign" in codes(r), "user beats campaign",
            codes(r))
    r = clilib.run(["webhooks", "check", "--smartlead-api", "--config", DEV],
                   env=dict(env, SMARTLEAD_API_KEY="wrong-key"), checks=ck,
                   extra_secrets=["wrong-key"])
    ck.eq(r.rc, 1, "a rejected API key exits 1")
    ck.true("401" in r.err, "says HTTP 401", r.err)
    r = clilib.run(["webhooks", "check", "--smartlead-api", "--config", DEV],
                   env=ENV)
    ck.eq(r.rc, 2, "--smartlead-api without SMARTLEAD_API_KEY exits 2")
finally:
    srv.shutdown()
    srv.server_close()

# -- .run/ discovery (make run) ---------------------------------------------
rd = os.path.join(tmp, ".run")
os.makedirs(rd)
with open(DEV) as f:
    cfgj = json.load(f)
with open(os.path.join(rd, "config.json"), "w") as f:
    json.dump(cfgj, f)
with open(os.path.join(rd, "hubspot_token"), "w") as f:
    f.write("pat-na1-dev-token\n")
r = clilib.run(["webhooks", "check", os.path.join(WH, "clean.json"), "--json"],
               cwd=tmp, checks=ck)
ck.eq(r.json()["routes"][0]["fires"]["leadsync_source"], "demo/demo-user",
      "without flags the CLI finds .run/config.json")

ck.done()
