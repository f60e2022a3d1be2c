#!/usr/bin/python3
"""What two worker builds send to HubSpot for the shared samples, compared.

    bench/hubspot_requests_ab.py BUILD_A BUILD_B [RUNS]

For each build and run: one stack (dev broker with one partition, the
HubSpot emulator behind a recording proxy, an ingress); the twelve samples
are posted three times (the second and third with the leads' domains
changed, so 36 events and three leads per sample) before one worker for
every type starts, so it takes them all in one flush. Every request the
worker makes (method, path, body) is recorded. What differs between two
runs of the SAME build is masked: the emulator's ids, receive-time
timestamps (events without a time of their own), and the order in which a
contact's events are merged (the contact inputs' key order and the
upsert's objectWriteTraceId, which follow the order records of several
topics are read in). Everything else, every property value and the
engagement bodies byte for byte, must be equal; exit status 1 when not.
The ingress and emulator come from BUILD_B.
"""
import http.client
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import urllib.parse

TYPES = ("EMAIL_SENT,FIRST_EMAIL_SENT,EMAIL_OPEN,EMAIL_LINK_CLICK,"
         "EMAIL_BOUNCE,EMAIL_REPLY,UNTRACKED_REPLIES,LEAD_CATEGORY_UPDATED,"
         "LEAD_UNSUBSCRIBED,CAMPAIGN_STATUS_CHANGED,MANUAL_STEP_REACHED")


def capture(worker_bin, out):
    """Runs in a child (LS_BUILD_DIR set for the harness)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "tests", "lib"))
    import harness
    reqs, lock = [], threading.Lock()
    up = {}

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def forward(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            u = urllib.parse.urlparse(up["url"])
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() not in ("host", "connection")}
            c.request(self.command, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            with lock:
                reqs.append([self.command, self.path, body.decode()])
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection",
                                     "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

    with harness.Stack() as st:
        st.broker(partitions=1)
        up["url"] = st.emulator()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        st.hubspot_url = f"http://127.0.0.1:{srv.server_address[1]}"
        st.env["HUBSPOT_BASE_URL"] = st.hubspot_url
        cfg = st.config(lambda c: c["kafka"].__setitem__("partitions", 1))
        base = st.ingress(cfg)
        w = harness.SyncLogWatcher(st.bootstrap)
        ids = []
        for rnd in range(3):
            for name, body in sorted(harness.load_payloads().items()):
                if rnd:
                    body = body.replace(b"example.com",
                                        f"example{rnd}.com".encode())
                s, _, resp = harness.http_request(
                    base, "POST",
                    f"/v1/webhooks/smartlead/{harness.DEMO_TOKEN}", body,
                    {"Content-Type": "application/json"})
                assert s == 200, (name, s, resp)
                ids.append(json.loads(resp)["event_id"])
        harness.BUILD = os.path.dirname(worker_bin)
        st.worker(cfg, "all", TYPES)
        harness.wait_for(lambda: all(w.last(i) in ("synced", "filtered")
                                     for i in ids), 90, 0.25,
                         "a final outcome for every event")
        w.close()
    with open(out, "w") as f:
        json.dump(reqs, f)


def normalised(reqs):
    out = []
    for m, p, b in reqs:
        if p.startswith("/_emulator"):
            continue
        contacts = "/contacts/" in p
        if "contacts/batch/upsert" in p:
            b = re.sub(r'("objectWriteTraceId":")[0-9a-f]{32}',
                       r"\g<1>TRACE", b)
        b = re.sub(r"\d{4}-\d\d-\d\dT[0-9:.]+Z",
                   lambda t: t.group(0) if t.group(0) < "2026" else "NOW", b)
        b = re.sub(r'"\d{4,}"', '"ID"', b)
        j = json.loads(b) if b else None
        if isinstance(j, dict) and isinstance(j.get("inputs"), list):
            j["inputs"] = sorted(
                json.dumps(i, separators=(",", ":"), sort_keys=contacts)
                for i in j["inputs"])
        out.append(json.dumps([m, p, j], separators=(",", ":")))
    return sorted(out)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--capture":
        capture(sys.argv[2], sys.argv[3])
        return 0
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (os.path.abspath(d) for d in sys.argv[1:3])
    runs = int(sys.argv[3]) if len(sys.argv) == 4 else 1
    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(runs):
            for side, d in (("A", a), ("B", b)):
                out = os.path.join(tmp, f"{side}{r}.json")
                env = dict(os.environ, LS_BUILD_DIR=b)
                subprocess.run([sys.executable, os.path.abspath(__file__),
                                "--capture",
                                os.path.join(d, "leadsync-worker"), out],
                               env=env, check=True)
                with open(out) as f:
                    got[f"{side}{r}"] = normalised(json.load(f))
    ref = got["A0"]
    ok = True
    for k, v in got.items():
        same = v == ref
        ok &= same
        print(f"{k}: {len(v)} requests, "
              f"{'identical to A0' if same else 'DIFFERENT from A0'}")
        if not same:
            for x, y in zip(ref, v):
                if x != y:
                    print(f"  first difference:\n  A0 {x[:300]}\n  {k} {y[:300]}")
                    break
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
