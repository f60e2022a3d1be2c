"""Fan-out through the real stack (ingress, dev broker, a HubSpot worker,
the category filter, leadsync-fanout) to receivers on loopback: delivery
once and in order per lead, 500-then-200, a dead receiver filling its DLQ
while the others and HubSpot carry on, signatures checked by an
independent verifier, the SSRF guard, Slack messages, the filter
semantics, history and `leadsync dlq replay --endpoint`."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "filter"))

from filterlib import event
from fanoutlib import (Receiver, closed_port, dlq_records, metrics,
                       self_signed, start_fanout, sync_log, verify, whsec)
from harness import (ALL_EVENTS, BUILD, DEMO_TOKEN, FILTERED_TOKEN, Checks,
                     Stack, http_request, wait_for)

c = Checks("fanout")
OLD = whsec(b"old-secret-0123456789abcdef-32by")
NEW = whsec(b"new-secret-0123456789abcdef-32by")
LEADS = 12
KINDS = ["SENT", "OPEN", "CLICK", "REPLY", "Interested"]

good = Receiver()
flaky = Receiver(plan=lambda n, path: 500 if n < 15 else 200)
slack = Receiver()
filt_rx = Receiver()
slow = Receiver(delay_s=1.0)
# 429 with Retry-After on the first request, then 200: honoured (1 s), and
# clamped (3600 s asked, retry_after_max_ms 300).
ra = Receiver(plan=lambda n, path: 429 if n == 0 else 200, retry_after=1)
ra_clamp = Receiver(plan=lambda n, path: 429 if n == 0 else 200,
                    retry_after=3600)
import tempfile  # noqa: E402
_certdir = tempfile.mkdtemp(prefix="fanout-tls-")
_cert = self_signed(_certdir)
tls_rx = Receiver(tls=_cert) if _cert else None
dead_sock, dead_port = closed_port()
dead_rx = None


def endpoints(cfg):
    demo = next(t for t in cfg["tenants"] if t["id"] == "demo")
    filtered = next(t for t in cfg["tenants"] if t["id"] == "demo-filtered")
    fast = {"internal": True, "backoff_base_ms": 20, "backoff_max_ms": 200}
    demo["endpoints"] = [
        dict(fast, id="good", url=good.url + "/hook",
             secret_env="FANOUT_SECRET", headers={"X-Team": "growth"}),
        dict(fast, id="flaky", url=flaky.url + "/ce", format="cloudevents",
             max_attempts=30),
        dict(fast, id="dead", url=f"http://127.0.0.1:{dead_port}/down",
             max_attempts=3, timeout_ms=2000),
        {"id": "ssrf-ip", "url": f"https://127.0.0.1:{good.port}/ssrf",
         "max_attempts": 2},
        {"id": "ssrf-name", "url": f"https://localhost:{good.port}/ssrf",
         "max_attempts": 2},
        dict(fast, id="slack", kind="slack", url=slack.url + "/slack",
             hubspot_portal_id=1000001),
        dict(fast, id="slow", url=slow.url + "/slow", max_in_flight=1,
             timeout_ms=5000),
        dict(fast, id="ra", url=ra.url + "/ra",
             event_types=["LEAD_CATEGORY_UPDATED"]),
        dict(fast, id="ra-clamp", url=ra_clamp.url + "/ra",
             event_types=["LEAD_CATEGORY_UPDATED"], retry_after_max_ms=300),
    ] + ([dict(fast, id="tls-self", url=tls_rx.url + "/tls", max_attempts=2,
               event_types=["EMAIL_REPLY"])] if tls_rx else [])
    filtered["endpoints"] = [
        dict(fast, id="filt-tenant", url=filt_rx.url + "/tenant",
             filter="tenant"),
        dict(fast, id="filt-raw", url=filt_rx.url + "/raw", filter="raw"),
    ]
    cfg["fanout"] = {"order_window_ms": 300}


def cli(st, cfg, *args):
    r = subprocess.run([os.path.join(BUILD, "leadsync"), "--config", cfg,
                        *args], capture_output=True, text=True, env=st.env,
                       timeout=120)
    return r.returncode, r.stdout, r.stderr


with Stack() as st:
    st.broker()
    st.emulator(["--token", "pat-fast:increase:1000002"])
    st.env["FANOUT_SECRET"] = f"{OLD} {NEW}"
    cfg = st.config(endpoints)
    # config check covers endpoints (resolving secrets, never printing one).
    rc, out, err = cli(st, cfg, "config", "check", cfg)
    c.eq(rc, 0, "config check: the test config is valid", )
    c.true("has no secret" in out, "config check: unsigned endpoint warned")

    def broken(cfgd):
        endpoints(cfgd)
        demo = next(t for t in cfgd["tenants"] if t["id"] == "demo")
        demo["endpoints"][1]["url"] = "http://flaky.example/"
        demo["endpoints"][1]["internal"] = False
    rc, out, err = cli(st, cfg, "config", "check", st.config(broken))
    c.true(rc == 1 and "$.tenants[0].endpoints[1].url" in out and
           "https" in out, "config check: plain http needs internal", out)
    env_bad = dict(st.env, FANOUT_SECRET="whsec_TOPSECRETVALUE!!")
    r = subprocess.run([os.path.join(BUILD, "leadsync"), "config", "check",
                        cfg], capture_output=True, text=True, env=env_bad,
                       timeout=60)
    c.true(r.returncode == 1 and "secret_env" in r.stdout and
           "TOPSECRET" not in r.stdout + r.stderr,
           "config check: a bad secret is named by path, never printed",
           r.stdout)

    base = st.ingress(cfg)
    st.worker(cfg, "all", ",".join(ALL_EVENTS))
    st.filter(cfg)
    fo = start_fanout(st, cfg)

    def post(body, token=DEMO_TOKEN):
        status, _, resp = http_request(
            base, "POST", f"/v1/webhooks/smartlead/{token}",
            json.dumps(body), {"Content-Type": "application/json"})
        assert status == 200, (status, resp)
        return json.loads(resp)["event_id"]

    # Interleaved across leads, in order within each lead.
    order = {}
    for step, kind in enumerate(KINDS, start=1):
        for i in range(LEADS):
            lead = f"lead{i}@fanout-example.com"
            order.setdefault(lead, []).append(post(event(kind, lead, step)))
    ids = [i for v in order.values() for i in v]
    n = len(ids)

    def wait_n(what, fn, want, timeout=90):
        try:
            wait_for(lambda: fn() >= want, timeout, 0.2, what)
        except AssertionError:
            pass
        return c.eq(fn(), want, what)

    # 1. Once and in order per lead, signed, headers passed.
    wait_n("good: every event delivered", lambda: len(set(good.ids())), n)
    c.true(len(slow.requests) < n // 2,
           "a slow endpoint (1 s per request) does not hold the others back",
           f"slow has {len(slow.requests)} of {n}")
    got = good.ids()
    c.eq(len(got), len(set(got)), "good: no duplicates in a clean run")
    bodies = {r["headers"]["webhook-id"]: r for r in good.ok()}
    for lead, want in order.items():
        seq = [i for i in got if i in set(want)]
        c.eq(seq, want, f"good: {lead} in order")
    r0 = good.ok()[0]
    c.true(verify(OLD, r0["headers"], r0["body"]), "signature: old secret")
    c.true(verify(NEW, r0["headers"], r0["body"]), "signature: new secret")
    c.true(not verify(whsec(b"someone-else-entirely-32-bytes!!"),
                      r0["headers"], r0["body"]),
           "signature: a wrong secret does not verify")
    c.true(all(verify(NEW, r["headers"], r["body"]) for r in good.ok()),
           "signature: every request verifies")
    tampered = dict(r0["headers"])
    c.true(not verify(NEW, tampered, r0["body"] + b" "),
           "signature: a changed body does not verify")
    c.eq(r0["headers"].get("x-team"), "growth", "configured header sent")
    c.eq(r0["headers"].get("content-type"), "application/json", "raw type")
    c.true(json.loads(r0["body"]).get("event_type") in
           ("EMAIL_SENT", "EMAIL_OPEN"), "raw: the Smartlead body")

    # 2. 500 for a while, then 200: everything arrives.
    wait_n("flaky: every event delivered after 500s",
           lambda: len(set(flaky.ids())), n)
    c.true(any(r["status"] == 500 for r in flaky.requests), "flaky saw 500s")
    ce = json.loads(flaky.ok()[0]["body"])
    c.eq((ce.get("specversion"), ce.get("type", "")[:13],
          "event_type" in ce.get("data", {})),
         ("1.0", "ai.smartlead.", True), "CloudEvents envelope")
    c.eq(flaky.ok()[0]["headers"].get("content-type"),
         "application/cloudevents+json", "CloudEvents content type")
    for lead, want in order.items():
        fl = [i for i in dict.fromkeys(flaky.ids()) if i in set(want)]
        c.eq(fl, want, f"flaky: {lead} in order despite retries")

    # 3. Dead receiver: its DLQ fills; the others and HubSpot unaffected.
    wait_n("dead: every event in its DLQ",
           lambda: len(dlq_records(st, "dead")), n, timeout=120)
    d = dlq_records(st, "dead")
    h0 = d[0][0]
    c.eq(h0.get("ls_dlq_reason"), "retries_exhausted", "dead: DLQ reason")
    c.eq(h0.get("ls_dlq_attempts"), "3", "dead: attempts recorded")
    c.true(h0.get("ls_dlq_original_topic", "").startswith("smartlead."),
           "dead: original topic recorded")
    c.true(h0.get("ce_id") in set(ids), "dead: original headers kept")

    log = sync_log(st)
    hs = {r["event_id"] for r in log if r.get("group") == "all" and
          r.get("outcome") in ("synced", "filtered", "duplicate")}
    wait_n("HubSpot path: every event synced", lambda: len(
        {r["event_id"] for r in sync_log(st) if r.get("group") == "all"
         and r.get("outcome") in ("synced", "filtered", "duplicate")}
        & set(ids)), n)
    log = sync_log(st)
    per = {}
    for r in log:
        if r.get("endpoint"):
            per.setdefault((r["endpoint"], r["outcome"]), set()).add(
                r["event_id"])
    c.eq(len(per.get(("good", "delivered"), ())), n, "sync_log: good delivered")
    c.eq(len(per.get(("dead", "dlq"), ())), n, "sync_log: dead dlq")
    c.true(all(r.get("group") == "leadsync-fanout-dead"
               for r in log if r.get("endpoint") == "dead"),
           "sync_log: group names the endpoint's consumer group")

    # 4. SSRF guard: loopback refused when not internal (by IP and by name).
    wait_n("ssrf-ip: refused into the DLQ",
           lambda: len(dlq_records(st, "ssrf-ip")), n)
    wait_n("ssrf-name: refused into the DLQ",
           lambda: len(dlq_records(st, "ssrf-name")), n)
    c.eq({h.get("ls_dlq_reason") for h, _ in dlq_records(st, "ssrf-name")},
         {"ssrf"}, "ssrf: reason")
    c.eq({h.get("ls_dlq_attempts") for h, _ in dlq_records(st, "ssrf-ip")},
         {"1"}, "ssrf: permanent, no retries")
    c.eq([r for r in good.requests if r["path"] == "/ssrf"], [],
         "ssrf: nothing reached the loopback receiver")

    # 5. Slack: replies and category changes only, formatted.
    wait_n("slack: replies and category changes", lambda: len(slack.ok()),
           2 * LEADS)
    texts = [json.loads(r["body"])["text"] for r in slack.ok()]
    c.true(any(t.startswith(":speech_balloon: *Reply* from lead0@") for t in
               texts), "slack: reply message", texts[:2])
    c.true(any("moved to *Interested*" in t for t in texts),
           "slack: category message")
    c.true(all("app.hubspot.com/contacts/1000001/" in t for t in texts),
           "slack: HubSpot contact link")

    # 6. Filter semantics on the filtered tenant.
    fa, fb = "allowed@fanout-example.com", "denied@fanout-example.com"
    fids = {"a": [post(event("SENT", fa, 1), FILTERED_TOKEN),
                  post(event("Interested", fa, 2), FILTERED_TOKEN)],
            "b": [post(event("SENT", fb, 1), FILTERED_TOKEN),
                  post(event("Not Interested", fb, 2), FILTERED_TOKEN)]}

    def paths(p):
        return [r["headers"]["webhook-id"] for r in filt_rx.ok()
                if r["path"] == p]
    wait_n("filter raw: all four originals", lambda: len(paths("/raw")), 4)
    wait_n("filter tenant: the allowed lead's two events",
           lambda: len(paths("/tenant")), 2)
    c.eq(sorted(paths("/raw")), sorted(fids["a"] + fids["b"]),
         "filter raw: each original once (no re-published copies)")
    c.eq(sorted(paths("/tenant")), sorted(fids["a"]),
         "filter tenant: only what the filter released")

    # 6b. Retry-After honoured and clamped; TLS verified.
    def retry_gap(rx):
        first = rx.requests[0]["headers"]["webhook-id"]
        times = [r["at"] for r in rx.requests
                 if r["headers"]["webhook-id"] == first]
        return times[1] - times[0] if len(times) > 1 else None
    wait_n("ra: every category change delivered", lambda: len(ra.ok()), LEADS)
    c.true((retry_gap(ra) or 0) >= 0.9, "Retry-After: 1 honoured",
           repr(retry_gap(ra)))
    wait_n("ra-clamp: every category change delivered",
           lambda: len(ra_clamp.ok()), LEADS)
    c.true(retry_gap(ra_clamp) is not None and retry_gap(ra_clamp) < 60,
           "Retry-After: 3600 clamped to retry_after_max_ms",
           repr(retry_gap(ra_clamp)))
    if tls_rx:
        wait_n("tls-self: refused certificate into the DLQ",
               lambda: len(dlq_records(st, "tls-self")), LEADS)
        h = dlq_records(st, "tls-self")[0][0]
        c.true("SSL" in h.get("ls_dlq_hubspot_message", "") or
               "certificate" in h.get("ls_dlq_hubspot_message", ""),
               "tls-self: the certificate was not trusted",
               h.get("ls_dlq_hubspot_message"))
        c.eq(tls_rx.requests, [], "tls-self: no request got through")
    else:
        print("SKIP TLS verification: no openssl command", flush=True)

    # 7. Metrics and history.
    mt = metrics(fo.url)
    c.eq(mt.get('leadsync_fanout_delivered_total{endpoint="good"}'), float(n),
         "metrics: delivered")
    c.true(mt.get('leadsync_fanout_retries_total{endpoint="flaky"}', 0) >= 15,
           "metrics: retries")
    c.true(mt.get('leadsync_fanout_consecutive_failures{endpoint="dead"}', 0)
           >= 3, "metrics: consecutive failures")
    c.true('leadsync_fanout_latency_seconds_count{endpoint="good"}' in mt,
           "metrics: latency histogram")
    rc, out, err = cli(st, cfg, "history", "--email", "lead0@fanout-example.com",
                       "--limit", "0")
    c.true("delivered" in out and "-> endpoint good" in out,
           "history shows endpoint outcomes", out[-600:] + err)

    # 8. A record Kafka holds twice (a producer retry stored twice) goes
    # out once.
    from confluent_kafka import Producer
    src = next(m for m in st.consume_all("smartlead.email_reply", timeout=10)
               if (dict(m.headers() or []).get("ce_id") or b"").decode()
               in set(ids))
    p = Producer({"bootstrap.servers": st.bootstrap})
    p.produce(src.topic(), src.value(), src.key(), headers=src.headers(),
              partition=src.partition())
    p.flush(10)
    dup_metric = 'leadsync_fanout_duplicates_total{endpoint="good"}'
    try:
        wait_for(lambda: metrics(fo.url).get(dup_metric, 0) >= 1, 30, 0.2,
                 "the duplicate noticed")
    except AssertionError:
        pass
    c.true(metrics(fo.url).get(dup_metric, 0) >= 1,
           "duplicate record counted")
    c.eq(len(good.ids()), n, "duplicate record not delivered again")

    # 8. DLQ replay for one endpoint once its receiver is back.
    rc, out, err = cli(st, cfg, "dlq", "list", "--endpoint", "dead")
    c.true(rc == 1 and f"{n} record(s) waiting" in out,
           "dlq list --endpoint", out[-300:] + err)
    dead_sock.close()
    dead_rx = Receiver(port=dead_port)
    rc, out, err = cli(st, cfg, "dlq", "replay", "--endpoint", "dead")
    c.eq(rc, 0, "dlq replay --endpoint exits 0")
    c.true(f"replayed {n} record(s)" in out, "replayed all", out + err)
    wait_n("dead: replayed events delivered", lambda: len(set(dead_rx.ids())), n)
    c.eq(set(dead_rx.ids()), set(ids), "dead: the replayed ids")
    c.eq(len(good.ids()), n, "replay reaches only its endpoint")
    rc, out, err = cli(st, cfg, "dlq", "list", "--endpoint", "dead")
    c.eq(rc, 0, "dlq list --endpoint: nothing waiting after the replay")

    c.true(0 < len(slow.ok()) < n, "the slow endpoint is still working",
           f"{len(slow.ok())} of {n}")
    c.eq(fo.stop(), 0, "SIGTERM with a request in flight: drained, exit 0")
    for r in (good, flaky, slack, filt_rx, slow, ra, ra_clamp) + \
            ((dead_rx,) if dead_rx else ()) + ((tls_rx,) if tls_rx else ()):
        r.close()
subprocess.run(["rm", "-rf", _certdir])
c.done()
