"""Sizes agree end to end (issue 12, finding 4): max_body_bytes is derived
from, and checked at start against, the producer's message.max.bytes minus
the room kept for key and headers; a body that can never be stored is
answered 413, never 503; the deploy manifests' topic limits match."""
import json
import os
import socket
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BUILD, DEMO_TOKEN, SOURCE, Checks, Stack,  # noqa: E402
                     headers_of, load_payloads)
from ingress_lib import HOOK, jbody, post  # noqa: E402

c = Checks("ingress_sizes")
MIB = 1 << 20
ROOM = MIB              # ING_KAFKA_ROOM (ingress/ing_produce.h)
DEFAULT_MSG_MAX = 3 * MIB  # KQ_MESSAGE_MAX_BYTES (lib/kafka/kq.h)


def body_of_size(template, n, tag):
    """A copy of template (JSON) exactly n bytes long, unique by tag."""
    b = json.loads(template)
    b["stats_id"] = f"size-{tag}"
    b["pad"] = ""
    base = len(json.dumps(b, separators=(",", ":")).encode())
    assert n >= base, (n, base)
    b["pad"] = "x" * (n - base)
    out = json.dumps(b, separators=(",", ":")).encode()
    assert len(out) == n
    return out


def deploy_checks():
    """deploy/: every topic that carries a body allows at least the
    producer's message.max.bytes, and the body limit leaves the room."""
    import yaml
    cfg = json.load(open(os.path.join(SOURCE, "deploy/k8s/base/config.json")))
    props = cfg["kafka"].get("properties", {})
    msg_max = int(props.get("message.max.bytes", DEFAULT_MSG_MAX))
    max_body = cfg["ingress"].get("max_body_bytes", msg_max - ROOM)
    c.true(max_body + ROOM <= msg_max, "deploy config: max_body_bytes + room "
           "fits message.max.bytes", (max_body, msg_max))
    topics = [d for d in yaml.safe_load_all(
        open(os.path.join(SOURCE, "deploy/k8s/kafka/topics.yaml"))) if d]
    carrying = [t for t in topics
                if t["spec"]["topicName"].startswith("smartlead.")
                or t["spec"]["topicName"] in ("leadsync.held", "leadsync.dlq")]
    c.eq(len(carrying), 15, "topics carrying bodies in deploy (13 smartlead.*, "
         "held, dlq)")
    small = [t["spec"]["topicName"] for t in carrying
             if int(t["spec"]["config"].get("max.message.bytes", 1048588))
             < msg_max]
    c.eq(small, [], "every body-carrying topic allows message.max.bytes")
    ing = open(os.path.join(SOURCE,
                            "deploy/k8s/base/ingress-ingress.yaml")).read()
    c.true("proxy-body-size: 3m" in ing, "the proxy passes bodies up to 3 MiB "
           "so leadsync answers 413 itself")


def chunked_post(base, body):
    """POST with Transfer-Encoding: chunked; returns the status or None when
    the server closed the connection without an answer."""
    u = urllib.parse.urlparse(base)
    s = socket.create_connection((u.hostname, u.port), timeout=20)
    try:
        s.sendall(f"POST {HOOK}{DEMO_TOKEN} HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        try:
            for i in range(0, len(body), 65536):
                part = body[i:i + 65536]
                s.sendall(b"%x\r\n" % len(part) + part + b"\r\n")
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        data = b""
        while True:
            try:
                d = s.recv(65536)
            except OSError:
                break
            if not d:
                break
            data += d
            if b"\r\n\r\n" in data:
                break
        return int(data.split(b" ")[1]) if data else None
    finally:
        s.close()


def declare(base, n):
    """Sends only the headers of a POST declaring an n-byte body; returns
    (status, reply) of the answer that comes before any body byte."""
    u = urllib.parse.urlparse(base)
    s = socket.create_connection((u.hostname, u.port), timeout=20)
    try:
        s.sendall(f"POST {HOOK}{DEMO_TOKEN} HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/json\r\n"
                  f"Content-Length: {n}\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        return (int(data.split(b" ")[1]) if data else None), data
    finally:
        s.close()


def start_fails(st, mutate):
    cfg = st.config(mutate)
    r = subprocess.run([os.path.join(BUILD, "leadsync-ingress"), "--config",
                        cfg, "--listen", "127.0.0.1:0"], capture_output=True,
                       text=True, timeout=30, env=st.env)
    return r.returncode, r.stderr


def main():
    deploy_checks()
    p = load_payloads()
    tpl = p["EMAIL_SENT"]
    with Stack() as st:
        st.broker()
        # -- default: message.max.bytes 3 MiB, max_body_bytes 2 MiB ----------
        base = st.ingress(st.config())
        sizes = {"1.5MB": 1_500_000, "exact": 2 * MIB}
        ids = {}
        for tag, n in sizes.items():
            s, h, raw = post(base, body_of_size(tpl, n, tag), timeout=60)
            c.eq(s, 200, f"{tag} body ({n} bytes) accepted, not 503")
            c.true("retry-after" not in h, f"{tag}: no Retry-After")
            ids[jbody(raw).get("event_id")] = n
        got = {headers_of(m).get("ce_id"): len(m.value())
               for m in st.consume_all("smartlead.email_sent", timeout=20)}
        for eid, n in ids.items():
            c.eq(got.get(eid), n, f"the {n}-byte body is in Kafka, whole")
        s, raw = declare(base, 2 * MIB + 1)
        c.eq(s, 413, "one byte over max_body_bytes: 413")
        c.true(b"retry-after" not in raw.lower(), "413 carries no Retry-After")
        c.true(b'"error":"too_large"' in raw, "413 names too_large", raw)
        code = chunked_post(base, body_of_size(tpl, 2 * MIB + 1, "chunked"))
        c.true(code in (413, None), "chunked body over the limit: 413 or "
               "closed, never 503", code)
        st.ingress_proc.stop()

        # -- derived from message.max.bytes when max_body_bytes is unset ----
        def derived(cfg):
            cfg["kafka"]["properties"]["message.max.bytes"] = "1500000"
            cfg["ingress"].pop("max_body_bytes", None)
        base = st.ingress(st.config(derived))
        limit = 1_500_000 - ROOM
        s, _, _ = post(base, body_of_size(tpl, limit, "derived"))
        c.eq(s, 200, f"derived limit ({limit} bytes) accepted")
        s, _ = declare(base, limit + 1)
        c.eq(s, 413, "one byte over the derived limit: 413, not 503")
        st.ingress_proc.stop()

        # -- checked at start ---------------------------------------------------
        def too_big(cfg):
            cfg["kafka"]["properties"]["message.max.bytes"] = "1000000"
        rc, err = start_fails(st, too_big)
        c.eq(rc, 2, "max_body_bytes over message.max.bytes minus room: exit 2")
        c.true("message.max.bytes 1000000" in err and "max_body_bytes" in err,
               "the error names both numbers", err)

        def tiny_budget(cfg):
            cfg["ingress"]["max_body_bytes_in_flight"] = 1000
        rc, err = start_fails(st, tiny_budget)
        c.eq(rc, 2, "a body budget below max_body_bytes: exit 2")
    c.done()


main()
