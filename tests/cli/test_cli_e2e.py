"""`leadsync test-sync`, `hubspot setup`, `dlq replay` and `replay` end to end:
dev broker, HubSpot emulator, ingress and a worker. The failure path: with
the HubSpot token revoked, test-sync names the failing stage and events
pile up in the DLQ; after the token is restored, `dlq replay` drains the
DLQ to zero and HubSpot gains exactly the missing objects; a window replay
adds nothing (the worker's ledger)."""
import copy
import json
import re
import os
import shutil
import sys
import tempfile

from harness import (BUILD, Checks, DEMO_TOKEN, HUBSPOT_TOKEN, PAYLOADS,
                     Stack, headers_of, http_request, wait_for)
import clilib

for b in ("leadsync-ingress", "leadsync-worker", "hubspot-emulator"):
    if not os.path.exists(os.path.join(BUILD, b)):
        print(f"skipped: {b} is not built")
        sys.exit(77)

ck = Checks("cli-e2e")
TEST_DOMAIN = "@leadsync-test.invalid"


def contacts_by_email(st):
    out = {}
    for c in st.hubspot_state().get("contacts", []):
        e = (c.get("properties") or {}).get("email")
        if e:
            out.setdefault(e.lower(), []).append(c["id"])
    return out


def n_emails(st):
    return len(st.hubspot_state().get("emails", []))


def reply_payload(email, n):
    with open(os.path.join(PAYLOADS, "EMAIL_REPLY.json")) as f:
        p = json.load(f)
    p["to_email"] = p["sl_lead_email"] = email
    p["leadCorrespondence"]["targetLeadEmail"] = email
    p["leadCorrespondence"]["replyReceivedFrom"] = email
    p["stats_id"] = f"6d6ef88a-d0c9-4b7c-9522-{n:012d}"
    p["reply_message"]["message_id"] = p["message_id"] = f"<r{n}@mail.example.com>"
    return p


with Stack() as st:
    bs = st.broker(partitions=3)
    hs = st.emulator()
    cfg = st.config()
    ingress = st.ingress(cfg)
    st.worker(cfg, "replies", "EMAIL_REPLY,EMAIL_SENT")
    env = {"KAFKA_BOOTSTRAP_SERVERS": bs, "HUBSPOT_TOKEN": HUBSPOT_TOKEN,
           "HUBSPOT_BASE_URL": hs}
    hook = f"{ingress}/v1/webhooks/smartlead/{DEMO_TOKEN}"

    def cli(*args, **kw):
        return clilib.run(["--config", cfg, *args], env=kw.pop("env", env),
                          checks=ck, timeout=120, **kw)

    # -- hubspot setup: the worker's own implementation, idempotent ------
    r = cli("hubspot", "setup", "--tenant", "demo", "--json")
    ck.eq(r.rc, 0, "hubspot setup exits 0")
    t = r.json()["tenants"][0]
    ck.true(t["ok"] and t["created"] + t["existed"] + t["conflicts"] > 0,
            "every property exists afterwards", r.out)
    r = cli("hubspot", "setup", "--all", "--json")
    ck.eq((r.rc, sum(x["created"] for x in r.json()["tenants"])), (0, 0),
          "a second run creates nothing")

    # -- test-sync: the happy path --------------------------------------
    r = cli("test-sync", "--url", hook, "--json", "--timeout", "40")
    ck.eq(r.rc, 0, "test-sync reaches HubSpot: exit 0")
    j = r.json()
    ck.eq([(s["stage"], s["ok"]) for s in j["stages"]],
          [("ingress", True), ("kafka", True), ("worker", True),
           ("hubspot", True)], "four stages, all ok")
    ck.true(j["lead_email"].endswith(TEST_DOMAIN), "reserved test domain",
            j["lead_email"])
    ck.eq(len(contacts_by_email(st).get(j["lead_email"], [])), 1,
          "the test contact is in HubSpot once")
    r = cli("test-sync", "--url", hook, "--type", "EMAIL_SENT", "--cleanup")
    ck.eq(r.rc, 0, "test-sync EMAIL_SENT with --cleanup exits 0")
    ck.true("cleanup" in r.out and "reached HubSpot in" in r.out,
            "human output: stages, total, cleanup result", r.out)
    # The emulator implements DELETE: the cleanup really removes them.
    ck.true(re.search(r"cleanup: [1-9][0-9]* object\(s\) deleted($|\n|[^,])",
                      r.out) is not None,
            "cleanup deleted the contact and its engagement", r.out)

    # -- test-sync through make run's .run/ files, no flags ---------------
    d = tempfile.mkdtemp(prefix="leadsync-run-")
    rd = os.path.join(d, ".run")
    os.makedirs(rd)
    shutil.copy(cfg, os.path.join(rd, "config.json"))
    for name, val in (("bootstrap", bs), ("webhook_url", hook),
                      ("hubspot_url", hs), ("hubspot_token", HUBSPOT_TOKEN)):
        with open(os.path.join(rd, name), "w") as f:
            f.write(val + "\n")
    r = clilib.run(["test-sync", "--json"], cwd=d, checks=ck, timeout=120)
    ck.eq((r.rc, r.json()["stages"][-1]["stage"] if r.rc == 0 else None),
          (0, "hubspot"), "test-sync with no flags under make run")
    r = clilib.run(["test-sync", "--source", "demo-user", "--json"], cwd=d,
                   checks=ck, timeout=120)
    ck.eq(r.rc, 0, "--source finds its token in .run/ by its hash")
    shutil.rmtree(d)

    # -- test-sync: a wrong token stops at the ingress ------------------
    bad = f"{ingress}/v1/webhooks/smartlead/not-the-token-123"
    r = cli("test-sync", "--url", bad, "--json",
            extra_secrets=["not-the-token-123"])
    ck.eq(r.rc, 1, "a bad token exits 1")
    ck.eq(r.json().get("stopped_at"), "ingress", "stopped at the ingress")
    ck.true("401" in (r.json().get("reason") or ""), "says 401",
            r.json().get("reason"))

    # -- revoked HubSpot token: test-sync names the stage ---------------
    st.hubspot_faults({"revoke_tokens": [HUBSPOT_TOKEN]})
    r = cli("test-sync", "--url", hook, "--json", "--timeout", "40")
    ck.eq(r.rc, 1, "test-sync with a revoked token exits 1")
    j = r.json()
    ck.eq(j.get("stopped_at"), "hubspot", "stopped at the hubspot stage")
    ck.true("401" in j.get("reason", "") and "dlq replay --reason auth"
            in j.get("reason", ""), "names 401 and the fix", j.get("reason"))
    missing = [j["lead_email"]]
    for i in range(3):
        email = f"replay-{i}@acme-example.com"
        status, _, body = http_request(ingress, "POST",
                                       f"/v1/webhooks/smartlead/{DEMO_TOKEN}",
                                       reply_payload(email, i))
        ck.eq(status, 200, f"ingress accepts reply {i}")
        missing.append(email)

    def pending():
        r = cli("dlq", "list", "--json")
        return r.json()["pending"] if r.rc in (0, 1) else -1
    wait_for(lambda: pending() >= 4, 60, interval=0.5,
             what="4 events in the DLQ")
    r = cli("history", "--email", "replay-1@acme-example.com", "--json")
    ev = r.json()["events"][0] if r.rc == 0 else {}
    ck.eq((ev.get("outcome"), ev.get("dlq_state")), ("dlq", "pending"),
          "history explains the failure and that it waits for a replay")
    before = contacts_by_email(st)
    emails_before = n_emails(st)
    ck.eq([e for e in missing if e in before], [],
          "none of the failed leads reached HubSpot")

    # -- fix the cause, replay: DLQ drains, HubSpot gains exactly those ---
    st.hubspot_faults({"revoke_tokens": []})
    r = cli("dlq", "replay", "--reason", "auth", "--json")
    ck.eq((r.rc, r.json().get("replayed")), (0, 4), "replays the 4 events")
    r = cli("dlq", "list", "--json")
    ck.eq((r.rc, r.json()["pending"]), (0, 0), "DLQ drained to zero")
    wait_for(lambda: all(e in contacts_by_email(st) for e in missing), 60,
             interval=0.5, what="the replayed leads in HubSpot")
    wait_for(lambda: n_emails(st) >= emails_before + 4, 30, interval=0.5,
             what="4 reply engagements")
    after = contacts_by_email(st)
    ck.eq(sorted(set(after) - set(before)), sorted(missing),
          "HubSpot gained exactly the missing contacts")
    ck.eq([e for e in missing if len(after[e]) != 1], [],
          "each exactly once")
    ck.eq(n_emails(st) - emails_before, 4,
          "and exactly the missing reply engagements")
    r = cli("history", "--email", "replay-1@acme-example.com", "--json")
    ck.eq([e["outcome"] for e in r.json()["events"]][:1], ["synced"],
          "history: the newest outcome is synced")
    r = cli("dlq", "replay", "--json")
    ck.eq(r.json().get("replayed"), 0, "nothing is replayed twice")

    # -- window replay: re-published, absorbed by the ledger ---------------
    emails_now, contacts_now = n_emails(st), len(contacts_by_email(st))
    log_before = len(st.consume_all("leadsync.sync_log"))
    r = cli("replay", "--topic", "EMAIL_REPLY", "--from", "1h", "--json")
    n = r.json().get("replayed", 0)
    ck.true(r.rc == 0 and n >= 5, "window replay re-publishes the replies",
            r.out)
    wait_for(lambda: len(st.consume_all("leadsync.sync_log")) >=
             log_before + n, 60, interval=0.5,
             what="an outcome for every replayed record")
    ck.eq((n_emails(st), len(contacts_by_email(st))),
          (emails_now, contacts_now),
          "a window replay creates no duplicate in HubSpot")

ck.done()
