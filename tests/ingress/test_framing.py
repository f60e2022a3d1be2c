"""Conflicting framing and token probing (issue 12, findings 6 and 8), with
raw sockets on kept-alive connections:
- two Content-Length headers (different or equal), Content-Length next to
  Transfer-Encoding: chunked, or an unknown Transfer-Encoding: one 400, the
  connection closed, and nothing of either "request" stored in Kafka; a
  clean kept-alive connection still carries two requests;
- token probing learns nothing: unknown, near-miss, empty, slashed and
  overlong tokens, alone or with a malformed request, get byte-identical 401
  answers, all before any body byte is read (the same timing class); the
  medians are printed;
- the ingress log (debug level) carries no token, secret_key or lead
  address."""
import json
import os
import socket
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from harness import (DEMO_TOKEN, Checks, Stack, headers_of,  # noqa: E402
                     load_payloads)
from ingress_lib import HOOK, JANE, SECRET_KEY, SECRET_TOKEN, lab_tenant  # noqa: E402,E501

c = Checks("ingress_framing")


def addr(base):
    u = urllib.parse.urlparse(base)
    return u.hostname, u.port


def exchange(base, data, timeout=5):
    """Sends data on one connection and reads until the server closes it
    (or goes quiet for timeout). Returns (replies, closed): the status codes
    of every response seen, and whether the server closed the connection."""
    s = socket.create_connection(addr(base), timeout=timeout)
    buf = b""
    closed = False
    try:
        try:
            s.sendall(data)
        except OSError:
            pass
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not d:
                closed = True
                break
            buf += d
    finally:
        s.close()
    codes = []
    rest = buf
    while rest.startswith(b"HTTP/1."):
        head, _, rest = rest.partition(b"\r\n\r\n")
        codes.append(int(head.split(b" ")[1]))
        n = 0
        for ln in head.split(b"\r\n"):
            if ln.lower().startswith(b"content-length:"):
                n = int(ln.split(b":")[1])
        rest = rest[n:]
    return codes, closed, buf


def event(stats_id):
    return json.dumps({"event_type": "EMAIL_SENT", "stats_id": stats_id,
                       "to_email": JANE, "campaign_id": 1234567,
                       "event_timestamp": "2025-03-28T08:15:00.123+00:00"}
                      ).encode()


def req(body, extra=b"", token=DEMO_TOKEN, cl=True):
    h = (f"POST {HOOK}{token} HTTP/1.1\r\nHost: x\r\n"
         "Content-Type: application/json\r\n").encode()
    if cl:
        h += b"Content-Length: %d\r\n" % len(body)
    return h + extra + b"\r\n" + body


def framing(st, base):
    smuggled = req(event("smuggled-b"))
    a = event("smuggled-a")
    cases = {
        "two different Content-Length": req(
            a, b"Content-Length: %d\r\n" % (len(a) + len(smuggled)),
            cl=True) + smuggled,
        "two equal Content-Length": req(
            a, b"Content-Length: %d\r\n" % len(a)) + smuggled,
        "Content-Length with chunked": req(
            b"%x\r\n" % len(a) + a + b"\r\n0\r\n\r\n",
            b"Transfer-Encoding: chunked\r\n", cl=False).replace(
            b"\r\nTransfer", b"\r\nContent-Length: %d\r\nTransfer" % len(a),
            1) + smuggled,
        "chunked then Content-Length": req(
            b"%x\r\n" % len(a) + a + b"\r\n0\r\n\r\n",
            b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(a),
            cl=False) + smuggled,
        "unknown Transfer-Encoding": req(
            a, b"Transfer-Encoding: gzip, chunked\r\n", cl=False) + smuggled,
        "Content-Length with a sign": req(a, cl=False).replace(
            b"\r\n\r\n", b"\r\nContent-Length: +%d\r\n\r\n" % len(a), 1)
        + smuggled,
    }
    for name, data in cases.items():
        codes, closed, raw = exchange(base, data)
        c.eq(codes, [400], f"{name}: one answer, 400")
        c.true(closed, f"{name}: connection closed")
        c.true(b"Connection: close" in raw or b"connection: close" in raw,
               f"{name}: says Connection: close", raw[:200])
    # Control: a clean kept-alive connection carries two requests.
    codes, _, _ = exchange(base, req(event("keepalive-1")) +
                           req(event("keepalive-2")), timeout=3)
    c.eq(codes, [200, 200], "clean kept-alive connection: two 200s")
    ids = {json.loads(m.value()).get("stats_id")
           for m in st.consume_all("smartlead.email_sent", timeout=15)}
    c.true({"keepalive-1", "keepalive-2"} <= ids, "control events stored")
    c.eq(sorted(ids & {"smuggled-a", "smuggled-b"}), [],
         "nothing of a conflicting message was stored")


def probing(base):
    body = event("probe")
    near = DEMO_TOKEN[:-1] + ("0" if DEMO_TOKEN[-1] != "0" else "1")
    probes = {
        "unknown": req(body, token="unknown-token-1234567890abcdef"),
        "near miss": req(body, token=near),
        "empty": req(body, token=""),
        "slashed": req(body, token=DEMO_TOKEN + "/x"),
        "overlong": req(body, token="a" * 4000),
        "unknown + text/plain": req(body, token="nope").replace(
            b"application/json", b"text/plain"),
        "unknown + 100 MB declared": req(b"", token="nope").replace(
            b"Content-Length: 0", b"Content-Length: 100000000"),
        "unknown + bad json": req(b"{not json", token="nope"),
        "unknown + chunked": req(b"5\r\n{}{}{\r\n0\r\n\r\n", token="nope",
                                 extra=b"Transfer-Encoding: chunked\r\n",
                                 cl=False),
    }
    answers = {}
    for name, data in probes.items():
        _, _, raw = exchange(base, data)
        head, _, payload = raw.partition(b"\r\n\r\n")
        lines = sorted(ln for ln in head.split(b"\r\n")[1:]
                       if not ln.lower().startswith(b"date:"))
        answers[name] = (head.split(b"\r\n")[0], tuple(lines), payload)
    first = answers["unknown"]
    c.true(first[0].startswith(b"HTTP/1.1 401"), "unknown token: 401", first)
    for name, a in answers.items():
        c.eq(a, first, f"probe '{name}': the same answer as an unknown token")
    # Timing class: the 401 comes before any body byte (headers only sent).
    for name, tok in (("unknown", "nope"), ("near miss", near),
                      ("empty", "")):
        s = socket.create_connection(addr(base), timeout=5)
        s.sendall(req(b"", token=tok).replace(b"Content-Length: 0",
                                              b"Content-Length: 1000"))
        got = s.recv(4096)
        s.close()
        c.true(got.startswith(b"HTTP/1.1 401"),
               f"{name}: 401 before the body was sent", got[:40])
    # Medians, printed (no speed assertion).
    med = {}
    for name, tok in (("unknown", "nope-{}"), ("near miss", near + "{}"),
                      ("empty", "")):
        ts = []
        for i in range(150):
            data = req(body, token=tok.format(i) if tok else tok)
            t0 = time.perf_counter()
            exchange(base, data)
            ts.append(time.perf_counter() - t0)
        med[name] = statistics.median(ts) * 1e6
    print("probing: median answer time (us): " +
          ", ".join(f"{k} {v:.0f}" for k, v in med.items()), flush=True)


def main():
    p = load_payloads()
    with Stack() as st:
        st.broker()
        cfg = st.config(lambda cfg: cfg["tenants"].append(lab_tenant()))
        base = st.ingress(cfg, env={"LEADSYNC_LOG_LEVEL": "debug"})
        framing(st, base)
        probing(base)
        # A body with a secret and a lead address, accepted and rejected.
        b = json.loads(p["EMAIL_SENT"])
        b["secret_key"] = SECRET_KEY
        exchange(base, req(json.dumps(b).encode(), token=SECRET_TOKEN))
        b["secret_key"] = "wrong-" + SECRET_KEY
        exchange(base, req(json.dumps(b).encode(), token=SECRET_TOKEN))
        b.pop("event_type")
        b["secret_key"] = SECRET_KEY
        exchange(base, req(json.dumps(b).encode(), token=SECRET_TOKEN))
        # Bodies whose offending values are lead addresses (schema failure or
        # drift): answers and log lines name the path and rule, never the
        # value.
        bad = json.loads(p["EMAIL_SENT"])
        bad["campaign_id"] = JANE
        bad["event_timestamp"] = JANE
        codes, _, raw = exchange(base, req(json.dumps(bad).encode()))
        c.true(codes in ([200], [400]), "drifting body answered", codes)
        c.true(JANE.encode() not in raw, "the answer does not quote the value")
        bad = json.loads(p["EMAIL_SENT"])
        bad["to_email"] = [JANE]
        bad.pop("sl_lead_email", None)
        bad.pop("lead_email", None)
        codes, _, raw = exchange(base, req(json.dumps(bad).encode()))
        c.true(codes in ([200], [400]), "address in a wrong type answered",
               codes)
        c.true(JANE.encode() not in raw, "the answer does not quote it")
        stored = [m for m in st.consume_all(
            ["smartlead.email_sent", "smartlead.quarantine"], timeout=15)
            if headers_of(m).get("ce_source", "").endswith("/lab-secret")]
        c.eq(len(stored), 2, "accepted + quarantined bodies of the secret "
             "source stored (the wrong secret is not)")
        c.true(all(SECRET_KEY.encode() not in m.value() for m in stored),
               "no stored body carries the secret_key")
        c.true(all(b'"secret_key":"' + b"*" * len(SECRET_KEY) + b'"'
                   in m.value().replace(b" ", b"") for m in stored),
               "secret_key masked in place (same length)")
        st.ingress_proc.stop()
        log = open(st.ingress_proc.log, errors="replace").read()
        c.true(len(log.splitlines()) > 20, "debug log written",
               len(log.splitlines()))
        for needle in (DEMO_TOKEN, SECRET_TOKEN, SECRET_KEY, JANE,
                       "j.smith@", "@acme-example.com"):
            c.true(needle not in log, "absent from the ingress log",
                   needle[:8] + "...")
    c.done()


main()
