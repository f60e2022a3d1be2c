"""HubSpot tokens stay in Secrets and are re-read when the file changes: a
worker whose tenant names a token_file keeps syncing after the token is
rotated in the file and the old one is revoked, with no restart, and never
logs either token."""
import json
import os

from harness import (ALL_EVENTS, DEMO_TOKEN, Checks, Stack, http_request,
                     load_payloads, wait_for)
from conlib import (Api, accounts, console_config, start_console,
                    wait_event, with_lead)

c = Checks("console_token_file")
OLD = "pat-na1-old-0a1b2c3d-token"
NEW = "pat-na1-new-4e5f6a7b-token"


with Stack() as st:
    st.broker()
    st.emulator(extra_args=("--token", OLD + ":professional:1000001",
                            "--token", NEW + ":professional:1000001"))
    tok = st.path("hubspot-token")
    with open(tok, "w") as f:
        f.write(OLD + "\n")

    def use_file(cfg):
        for t in cfg["tenants"]:
            t["hubspot"].pop("token_env", None)
            t["hubspot"]["token_file"] = tok
    ingress = st.ingress(st.config(use_file))
    users = accounts()
    cfg = st.config(lambda cf: (use_file(cf),
                                console_config(users, ingress)(cf)))
    w = st.worker(cfg, "all", ALL_EVENTS)
    con = start_console(st, cfg)
    api = Api(con.url)
    api.login("ops", users["ops"][1])
    p = load_payloads()

    def post(lead):
        s, _, b = http_request(ingress, "POST",
                               "/v1/webhooks/smartlead/" + DEMO_TOKEN,
                               with_lead(p["EMAIL_REPLY"], lead),
                               {"Content-Type": "application/json"})
        c.eq(s, 200, f"posted for {lead}")
        return json.loads(b)["event_id"]

    first = post("first.token@acme-example.com")
    wait_event(api, first, "synced")
    c.true(True, "synced with the token the file had at start")

    # Rotate like the kubelet does: a new file swapped in atomically.
    tmp = tok + ".new"
    with open(tmp, "w") as f:
        f.write(NEW + "\n")
    os.replace(tmp, tok)
    st.hubspot_faults({"revoke_tokens": [OLD]})
    import datetime
    rotated_at = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.999Z")
    second = post("second.token@acme-example.com")
    def outcome():
        st_, _, e = api.get(f"/api/v1/events/{second}")
        return st_ == 200 and e["event"]["outcome"] != "received" and e
    ev = wait_for(outcome, 60, 0.3, "the second event's outcome")
    c.eq(ev["event"]["outcome"], "synced",
         "after the rotation the worker uses the new token (no restart)")
    c.true("second.token@acme-example.com" in json.dumps(st.hubspot_state()),
           "the event reached HubSpot with the new token")

    def probed_with_new():
        _, _, q = api.get("/api/v1/quotas")
        o = {x["tenant"]: x for x in q["quotas"]}["demo"]["observed"] or {}
        return (o.get("observed_at", "") > rotated_at and
                o.get("http_status") == 200 and o)
    wait_for(probed_with_new, 20, 0.3, "the console's quota probe")
    c.true(True, "the console's quota probe follows the file too")
    logs = open(w.log).read() + open(con.log).read()
    c.true(OLD not in logs and NEW not in logs, "no token in the logs")
    c.true("token file changed" in open(w.log).read(),
           "the worker logs that the token changed (path only)")

c.done()
