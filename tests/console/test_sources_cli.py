"""`leadsync sources list|add|rotate|revoke` against the dev broker and a
real ingress: a source added from a shell takes webhooks within seconds, a
rotation keeps the old URL working until its not_after, a revocation stops
it, each change leaves an audit record, and no command prints a token
except the URL it creates."""
import json
import os
import subprocess

from harness import (BUILD, DEMO_TOKEN, Checks, Stack, http_request,
                     load_payloads, wait_for)

c = Checks("console_sources_cli")
CLI = os.path.join(BUILD, "leadsync")


def cli(cfg, *args):
    r = subprocess.run([CLI, "sources", *args, "--config", cfg, "--json"],
                       capture_output=True, text=True, timeout=60)
    try:
        j = json.loads(r.stdout) if r.stdout.strip() else None
    except ValueError:
        j = None
    return r.returncode, j, r.stderr


with Stack() as st:
    st.broker()
    cfg = st.config()
    ingress = st.ingress(cfg)
    body = load_payloads()["EMAIL_SENT"]

    def status(path):
        return http_request(ingress, "POST", path, body,
                            {"Content-Type": "application/json"})[0]

    rc, j, err = cli(cfg, "list")
    c.eq(rc, 0, "list exits 0")
    ids = {s["id"] for s in j["sources"]}
    c.true({"demo-user", "demo-filtered-user"} <= ids,
           "list shows the config's sources", ids)
    c.true("43e56fb0f97d8c4061126f6d32cfa4c2b8302f9281b25d5bc631fc171dd683e6"
           not in json.dumps(j), "list shows no full token hash")

    rc, j, err = cli(cfg, "add", "--tenant", "demo", "--id", "cli-src",
                     "--ingress", ingress)
    c.eq(rc, 0, "add exits 0")
    url1 = j["webhook_url"]
    c.true(url1.startswith(ingress + "/v1/webhooks/smartlead/"),
           "add prints the new URL", url1)
    p1 = url1[len(ingress):]
    wait_for(lambda: status(p1) == 200, 20, 0.2, "the new source accepted")
    c.true(True, "the ingress took the new source without a restart")
    rc, _, err = cli(cfg, "add", "--tenant", "demo", "--id", "cli-src")
    c.eq(rc, 2, "adding the same id again is refused")
    c.true("exists already" in err, "and says why", err)
    rc, _, err = cli(cfg, "add", "--tenant", "nope", "--id", "x")
    c.eq(rc, 2, "an unknown tenant is refused")

    rc, j, err = cli(cfg, "rotate", "--id", "cli-src", "--grace", "3s",
                     "--ingress", ingress)
    c.eq(rc, 0, "rotate exits 0")
    p2 = j["webhook_url"][len(ingress):]
    c.true(p2 != p1, "rotate prints a new URL")
    wait_for(lambda: status(p2) == 200, 20, 0.2, "the new token accepted")
    c.eq(status(p1), 200, "the old token still works before not_after")
    wait_for(lambda: status(p1) == 401, 30, 0.2, "the old token expired")
    c.eq(status(p2), 200, "the new token works after the old one expired")

    rc, j, err = cli(cfg, "revoke", "--id", "cli-src")
    c.eq(rc, 0, "revoke exits 0")
    c.true("webhook_url" not in j, "revoke prints no URL")
    wait_for(lambda: status(p2) == 401, 20, 0.2, "the revoked source refused")
    rc, _, err = cli(cfg, "revoke", "--id", "cli-src")
    c.eq(rc, 1, "revoking twice finds no active source")
    c.eq(status("/v1/webhooks/smartlead/" + DEMO_TOKEN), 200,
         "the config's sources are untouched")
    rc, _, err = cli(cfg, "rotate", "--id", "demo-user", "--grace", "soon")
    c.eq(rc, 2, "a bad --grace is a usage error")

    acts = [json.loads(m.value()) for m in
            st.consume_all("leadsync.audit", timeout=10)]
    c.eq(sorted(a["action"] for a in acts if a.get("via") == "cli"),
         ["source.add", "source.revoke", "source.rotate"],
         "an audit record per change, via the CLI")
    log = open(st.ingress_proc.log).read()
    c.true(p1.rsplit("/", 1)[1] not in log and p2.rsplit("/", 1)[1] not in log,
           "the ingress never logs a token")

c.done()
