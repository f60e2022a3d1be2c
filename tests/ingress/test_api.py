"""Ingress HTTP API against the dev broker: every status code of
docs/ingress.md, every shared sample routed (topic, key, headers read back from
Kafka), duplicates, quarantine, secret_key, scope flags, metrics, logs."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BUILD, DEMO_TOKEN, Checks, Stack, headers_of,  # noqa: E402
                     http_request, load_payloads)
from ingress_lib import (CAMPAIGN_TOKEN, CLIENT_TOKEN, HOOK, JANE,  # noqa: E402
                         JSON, LEAD, LIMITED_TOKEN, SECRET_KEY, SECRET_TOKEN,
                         event_with, jbody, lab_tenant, post, raw_request)

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
c = Checks("ingress_api")


def config_errors(st):
    """A bad config exits non-zero naming the file, the JSON path and rule."""
    cases = [
        (lambda cfg: cfg["tenants"][0]["sources"][0].update(level="galaxy"),
         "$.tenants[0].sources[0].level", "must be one of"),
        (lambda cfg: cfg["tenants"][1]["sources"][0].pop("token_sha256"),
         "$.tenants[1].sources[0]", "token_sha256"),
        (lambda cfg: cfg["ingress"].update(max_body_bytes="big"),
         "$.ingress.max_body_bytes", "must be of type integer"),
        (lambda cfg: cfg["tenants"][0].update(filtr={}),
         "$.tenants[0].filtr", "not an allowed property"),
    ]
    for mutate, path, rule in cases:
        p = st.config(mutate)
        r = subprocess.run([os.path.join(BUILD, "leadsync-ingress"),
                            "--config", p, "--listen", "127.0.0.1:0"],
                           capture_output=True, text=True, timeout=30,
                           env=st.env)
        c.eq(r.returncode, 2, f"bad config {path}: exit code")
        c.true(p in r.stderr and path in r.stderr and rule in r.stderr,
               f"bad config {path}: message names file, path and rule",
               r.stderr[-400:])


def main():
    payloads = load_payloads()
    c.true(len(payloads) >= 12, "all shared samples found", len(payloads))
    with Stack() as st:
        config_errors(st)
        st.broker()
        cfg = st.config(lambda cfg: (cfg["tenants"].append(lab_tenant()),
                                     cfg["ingress"].update(
                                         max_body_bytes=65536,
                                         max_json_depth=16)))
        base = st.ingress(cfg)

        # -- liveness, readiness ------------------------------------------
        s, _, b = http_request(base, "GET", "/healthz")
        c.eq(s, 200, "healthz")
        s, _, b = http_request(base, "GET", "/readyz")
        c.eq(s, 200, "readyz when kafka is reachable")

        # -- every shared sample: 200 from the delivery report --------------
        accepted = {}
        for name, body in sorted(payloads.items()):
            s, h, resp = post(base, body, headers=dict(JSON, traceparent=TRACE))
            r = jbody(resp)
            etype = json.loads(body)["event_type"]
            c.eq(s, 200, f"{name}: status")
            c.eq(r.get("status"), "accepted", f"{name}: body status")
            c.eq(r.get("topic"), "smartlead." + etype.lower(), f"{name}: topic")
            c.true(len(r.get("event_id", "")) == 32, f"{name}: event id", r)
            accepted[name] = r
        ids = [r.get("event_id") for r in accepted.values()]
        c.eq(len(set(ids)), len(ids), "every sample has its own event id "
             "(open and click of one email differ)")

        # Duplicate delivery of one occurrence: same id.
        s, _, again = post(base, payloads["EMAIL_SENT"])
        c.eq(jbody(again).get("event_id"), accepted["EMAIL_SENT"]["event_id"],
             "duplicate POST yields the same event id")
        # Charset parameter and a missing Content-Type are both accepted.
        s, _, _ = post(base, payloads["EMAIL_OPEN"],
                       headers={"Content-Type":
                                "application/json; charset=utf-8"})
        c.eq(s, 200, "application/json; charset=utf-8 accepted")
        s, _, _ = post(base, payloads["EMAIL_OPEN"], headers={})
        c.eq(s, 200, "missing Content-Type tolerated")

        # Unknown event types are kept on smartlead.unknown.
        s, _, resp = post(base, event_with(payloads["EMAIL_SENT"],
                                           event_type="EMAIL_TELEPORTED"))
        c.eq(s, 200, "unknown event type accepted")
        c.eq(jbody(resp).get("topic"), "smartlead.unknown",
             "unknown event type -> smartlead.unknown")
        unknown_id = jbody(resp).get("event_id")

        # -- read every record back ---------------------------------------
        topics = sorted({r["topic"] for r in accepted.values()})
        msgs = st.consume_all(topics + ["smartlead.unknown"], timeout=20)
        by_id = {}
        for m in msgs:
            by_id.setdefault(headers_of(m).get("ce_id"), m)
        for name, r in sorted(accepted.items()):
            m = by_id.get(r["event_id"])
            if not c.true(m is not None, f"{name}: record in Kafka",
                          r["event_id"]):
                continue
            body = json.loads(payloads[name])
            etype = body["event_type"]
            h = headers_of(m)
            c.eq(m.topic(), "smartlead." + etype.lower(), f"{name}: kafka topic")
            # Byte for byte but for secret_key, masked in place.
            raw = payloads[name]
            sk = body.get("secret_key")
            if isinstance(sk, str) and sk:
                needle = b'"secret_key": "' + sk.encode() + b'"'
                c.true(needle in raw, f"{name}: sample carries secret_key")
                raw = raw.replace(needle, b'"secret_key": "' +
                                  b"*" * len(sk.encode()) + b'"')
            c.eq(m.value(), raw, f"{name}: value is the body, secret_key "
                 "masked in place")
            c.true(not sk or sk.encode() not in m.value(),
                   f"{name}: no secret_key in Kafka")
            camp = str(body["campaign_id"]) if "campaign_id" in body else "-"
            c.eq(m.key().decode(), f"demo:{camp}:{LEAD.get(name, JANE)}",
                 f"{name}: key")
            c.eq(h.get("ce_specversion"), "1.0", f"{name}: ce_specversion")
            c.eq(h.get("ce_type"), "ai.smartlead." + etype.lower(),
                 f"{name}: ce_type")
            c.eq(h.get("ce_source"), "/smartlead/demo/demo-user",
                 f"{name}: ce_source")
            c.eq(h.get("ce_tenant"), "demo", f"{name}: ce_tenant")
            c.eq(h.get("ce_sourcelevel"), "user", f"{name}: ce_sourcelevel")
            c.eq(h.get("content-type"), "application/json",
                 f"{name}: content-type")
            c.eq(h.get("traceparent"), TRACE, f"{name}: traceparent passed")
            c.true(h.get("ls_received_at", "").endswith("Z"),
                   f"{name}: ls_received_at", h)
            if "event_timestamp" in body:
                c.true(h.get("ce_time", "").endswith("Z") and
                       h["ce_time"][:19] == body["event_timestamp"][:19],
                       f"{name}: ce_time is event_timestamp in UTC", h)
            else:
                c.true("ce_time" not in h, f"{name}: no ce_time", h)
            c.true("ls_scope_mismatch" not in h, f"{name}: no scope flag", h)
        c.true(unknown_id in by_id, "unknown type record in Kafka", unknown_id)

        # -- 400: malformed, not object, event_type, schema, UTF-8, depth --
        bad = {
            "bad_json": b'{"event_type": "EMAIL_SENT", ',
            "not_object": b'["EMAIL_SENT"]',
            "no_event_type": event_with(payloads["EMAIL_SENT"],
                                        event_type=None),
            "no_event_type ": event_with(payloads["EMAIL_SENT"],
                                         event_type=7),
            "schema": event_with(payloads["EMAIL_SENT"], to_email=None,
                                 sl_lead_email=None, lead_email=None),
            # A malformed time is drift (receive time used): the lead
            # address is what an event cannot do without.
            "schema ": event_with(payloads["EMAIL_OPEN"],
                                  to_email="not an address"),
            "bad_utf8": b'{"event_type":"EMAIL_SENT","to_email":"\xc3\x28@x.com"}',
            "too_deep": b'{"event_type":"EMAIL_SENT","x":' + b"[" * 40
                        + b"]" * 40 + b"}",
        }
        for reason, body in bad.items():
            s, h, resp = post(base, body)
            r = jbody(resp)
            c.eq(s, 400, f"400 for {reason.strip()}")
            c.eq(r.get("error"), reason.strip(), f"{reason.strip()}: error name")
            c.true(len(r.get("message", "")) > 5,
                   f"{reason.strip()}: message names the problem", r)
        s, _, resp = post(base, bad["schema"])
        c.true("to_email" in jbody(resp).get("message", ""),
               "schema message names the missing lead field", resp)
        q = st.consume_all(["smartlead.quarantine"], timeout=15)
        reasons = sorted(headers_of(m).get("ls_quarantine_reason") for m in q)
        c.eq(reasons, sorted(["bad_json", "not_object", "no_event_type",
                              "no_event_type", "schema", "schema", "schema",
                              "bad_utf8", "too_deep"]),
             "each 400 body is in smartlead.quarantine with its reason")
        qraw = {m.value() for m in q}
        c.true(bad["bad_utf8"] in qraw and bad["bad_json"] in qraw,
               "quarantine keeps the raw bytes")
        qs = [headers_of(m) for m in q
              if headers_of(m).get("ls_quarantine_reason") == "schema"]
        c.true(all(h.get("ce_tenant") == "demo" and h.get("ls_quarantine_detail")
                   for h in qs), "quarantine headers: tenant and detail", qs)

        # -- 401: unknown token, wrong or missing secret_key ---------------
        s, _, r401 = post(base, payloads["EMAIL_SENT"], token="not-a-token")
        c.eq(s, 401, "401 unknown token")
        s, _, r401b = post(base, payloads["EMAIL_SENT"], token=SECRET_TOKEN)
        c.eq(s, 401, "401 wrong secret_key")
        c.eq(r401b, r401, "401 body does not say which check failed")
        s, _, _ = post(base, event_with(payloads["EMAIL_SENT"],
                                        secret_key=None), token=SECRET_TOKEN)
        c.eq(s, 401, "401 missing secret_key")
        s, _, resp = post(base, event_with(payloads["EMAIL_SENT"],
                                           secret_key=SECRET_KEY),
                          token=SECRET_TOKEN)
        c.eq(s, 200, "200 with the right secret_key")

        # -- 404, 405 ------------------------------------------------------
        c.eq(http_request(base, "GET", "/nope")[0], 404, "404 unknown path")
        c.eq(post(base, payloads["EMAIL_SENT"], token="")[0], 401,
             "401 empty token (the same answer as an unknown one)")
        s, h, _ = http_request(base, "GET", HOOK + DEMO_TOKEN)
        c.eq(s, 405, "405 GET on the webhook URL")
        c.eq(h.get("allow"), "POST", "405 names the allowed method")
        c.eq(http_request(base, "POST", "/healthz", b"{}")[0], 405,
             "405 POST /healthz")

        # -- 413: over the limit, without reading the rest -----------------
        big = event_with(payloads["EMAIL_SENT"], pad="x" * 70000)
        c.eq(post(base, big)[0], 413, "413 body over max_body_bytes")
        t0 = time.monotonic()
        code, reply = raw_request(
            base, (f"POST {HOOK}{DEMO_TOKEN} HTTP/1.1\r\nHost: t\r\n"
                   "Content-Type: application/json\r\n"
                   "Content-Length: 104857600\r\n\r\n{\"a\":").encode())
        c.eq(code, 413, "413 from Content-Length before the body is sent")
        c.true(time.monotonic() - t0 < 5, "413 without waiting for the body")
        code, reply = raw_request(
            base, (f"POST {HOOK}{DEMO_TOKEN} HTTP/1.1\r\nHost: t\r\n"
                   "Content-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode()
            + b"".join(b"%x\r\n%s\r\n" % (8192, b"x" * 8192)
                       for _ in range(10)))
        c.true(code in (413, None), "chunked body over the limit: 413 or "
               "dropped, never accepted", code)

        # -- 415 -----------------------------------------------------------
        s, _, resp = post(base, payloads["EMAIL_SENT"],
                          headers={"Content-Type": "text/plain"})
        c.eq(s, 415, "415 text/plain")
        c.eq(jbody(resp).get("error"), "unsupported_media_type", "415 body")

        # -- 429 with Retry-After ------------------------------------------
        codes = []
        for _ in range(4):
            s, h, _ = post(base, payloads["EMAIL_SENT"], token=LIMITED_TOKEN)
            codes.append((s, h.get("retry-after")))
        c.eq([x[0] for x in codes[:2]], [200, 200], "burst of 2 accepted")
        c.eq(codes[2][0], 429, "third request over the bucket: 429")
        c.true(codes[2][1] and int(codes[2][1]) >= 1, "429 has Retry-After",
               codes)
        s, _, _ = post(base, payloads["EMAIL_SENT"])
        c.eq(s, 200, "the bucket is per source: others unaffected")

        # -- scope: contradicting ids are kept but flagged -----------------
        s, _, r1 = post(base, payloads["EMAIL_REPLY"], token=CAMPAIGN_TOKEN)
        c.eq(s, 200, "campaign-scope mismatch still accepted")
        s, _, r2 = post(base, event_with(payloads["EMAIL_REPLY"],
                                         client_id=42), token=CLIENT_TOKEN)
        c.eq(s, 200, "client scope match accepted")
        s, _, r3 = post(base, event_with(payloads["EMAIL_REPLY"],
                                         client_id="77",
                                         stats_id="other-occurrence"),
                        token=CLIENT_TOKEN)
        c.eq(s, 200, "client scope mismatch accepted")
        msgs = st.consume_all(["smartlead.email_reply"], timeout=15)
        flags = {}
        for m in msgs:
            h = headers_of(m)
            flags[h.get("ce_id"), h.get("ce_source")] = \
                h.get("ls_scope_mismatch")
        c.eq(flags.get((jbody(r1).get("event_id"),
                        "/smartlead/lab/lab-campaign")), "1",
             "campaign mismatch flagged in the record")
        c.eq(flags.get((jbody(r2).get("event_id"),
                        "/smartlead/lab/lab-client"), "absent"), None,
             "client match not flagged")
        c.eq(flags.get((jbody(r3).get("event_id"),
                        "/smartlead/lab/lab-client")), "1",
             "client mismatch flagged in the record")

        # -- metrics -------------------------------------------------------
        s, h, m = http_request(base, "GET", "/metrics")
        text = m.decode()
        c.eq(s, 200, "metrics")
        c.true(h.get("content-type", "").startswith("text/plain"),
               "metrics content type", h)
        for needle in [
                'leadsync_ingress_requests_total{status="200",'
                'event_type="EMAIL_SENT"}',
                'leadsync_ingress_requests_total{status="400",',
                'leadsync_ingress_requests_total{status="429",',
                "leadsync_ingress_kafka_delivery_seconds_bucket",
                "leadsync_ingress_in_flight_requests",
                "leadsync_ingress_producer_queue_depth",
                'leadsync_ingress_quarantined_total{reason="schema"} 3',
                'leadsync_ingress_scope_mismatch_total{tenant="lab",'
                'source="lab-campaign"} 1']:
            c.true(needle in text, f"metrics has {needle}")

        # -- logs: one line per rejection, never a secret -------------------
        st.ingress_proc.stop()
        with open(st.ingress_proc.log, errors="replace") as f:
            log = f.read()
        lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
        rejected = [x for x in lines if x.get("msg") == "request rejected"]
        c.true(len(rejected) >= 20, "one log line per rejected request",
               len(rejected))
        c.true(all("reason" in x and "status" in x for x in rejected),
               "rejection lines carry reason and status")
        c.true(any(x.get("msg") == "scope mismatch" for x in lines),
               "scope mismatch logged")
        for secret in (DEMO_TOKEN, SECRET_TOKEN, SECRET_KEY, LIMITED_TOKEN,
                       "00000000-1111-4222-8333-444444444444"):
            c.true(secret not in log, "secret absent from logs",
                   secret[:6] + "...")
        c.eq(st.ingress_proc.p.returncode, 0, "SIGTERM exit code 0")
    c.done()


main()
