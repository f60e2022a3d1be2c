"""`leadsync webhooks check` knows Smartlead's two receivers: a Slack webhook
(webhook_type SLACK, or a Slack incoming-webhook URL) competes only with
other Slack webhooks, a normal webhook only with normal ones (OutboundSync's
Smartlead guide: one Slack webhook and one normal webhook per event)."""
import os

from harness import Checks, SOURCE
import clilib

ck = Checks("cli-webhooks-slack")
WH = os.path.join(SOURCE, "tests", "fixtures", "webhooks")
DEV = os.path.join(SOURCE, "config", "dev.json")
ENV = {"HUBSPOT_TOKEN": "pat-na1-dev-token"}

r = clilib.run(["webhooks", "check", os.path.join(WH, "slack_and_leadsync.json"),
                "--config", DEV, "--json"], env=ENV, checks=ck)
doc = r.json() or {}
codes = sorted({f["code"] for f in doc.get("findings", [])})
lead = [f for f in doc.get("findings", []) if "802" in f.get("message", "")
        or "leadsync" in f.get("code", "")]
ck.eq(lead, [], "a newer Slack webhook at the same level does not shadow "
      "leadsync: no finding about it")
ck.eq(sorted({f["code"] for f in doc.get("findings", [])}),
      ["user_blocks_client"], "the only finding: Slack blocks Slack")
ck.true(all("#803" in f["message"] for f in doc.get("findings", [])),
        "that finding is about the two Slack webhooks", doc.get("findings"))
reply7 = [x for x in doc.get("routes", []) if x["event_type"] == "EMAIL_REPLY"
          and x["scope"].get("client_id") == "7"]
ck.eq(sorted(x["fires"]["id"] for x in reply7), ["801", "802"],
      "client 7's replies reach the Slack webhook and leadsync")
slack = [x for x in reply7 if x["fires"]["id"] == "801"]
ck.eq([[s["id"] for s in x["shadowed"]] for x in slack], [["803"]],
      "Slack webhooks still compete with each other (URL-detected)")
ck.done()
