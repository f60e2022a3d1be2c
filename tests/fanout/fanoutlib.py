"""Fan-out test helpers: loopback receivers, a Standard Webhooks verifier
written from the specification (independent of the C code), and starting
leadsync-fanout under the harness."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import threading
import time

from harness import BUILD


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every POST.

    plan(n, path) -> status (n counts requests from 0); delay_s slows each
    answer. Requests are kept as dicts: path, headers (lower-case), body,
    status answered."""

    def __init__(self, plan=None, delay_s=0.0, port=0, retry_after=None,
                 tls=None):
        self.requests = []
        self.lock = threading.Lock()
        self.plan = plan or (lambda n, path: 200)
        self.delay_s = delay_s
        self.retry_after = retry_after
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with rec.lock:
                    k = len(rec.requests)
                    status = rec.plan(k, self.path)
                    rec.requests.append({
                        "path": self.path, "body": body, "status": status,
                        "headers": {a.lower(): b for a, b in self.headers.items()},
                        "at": time.monotonic()})
                if rec.delay_s:
                    time.sleep(rec.delay_s)
                out = b'{"ok":true}' if status < 300 else b'{"error":"x"}'
                self.send_response(status)
                if status in (429, 503) and rec.retry_after is not None:
                    self.send_header("Retry-After", str(rec.retry_after))
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.srv.socket = ctx.wrap_socket(self.srv.socket,
                                              server_side=True)
            self.url = f"https://127.0.0.1:{self.port}"
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def ok(self):
        """Requests answered 2xx."""
        with self.lock:
            return [r for r in self.requests if r["status"] < 300]

    def ids(self):
        return [r["headers"].get("webhook-id") for r in self.ok()]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def closed_port():
    """A port on 127.0.0.1 bound but not listening: connections are
    refused until the socket is closed and a server takes the port."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def self_signed(directory):
    """A certificate for 127.0.0.1/localhost that no CA signed: (cert, key)
    paths, or None without the openssl command."""
    import shutil
    import subprocess
    if not shutil.which("openssl"):
        return None
    cert = os.path.join(directory, "self.crt")
    key = os.path.join(directory, "self.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       capture_output=True, timeout=60)
    return (cert, key) if r.returncode == 0 else None


def whsec(raw: bytes) -> str:
    return "whsec_" + base64.b64encode(raw).decode()


def verify(secret: str, headers: dict, body: bytes, tolerance_s=300):
    """Standard Webhooks verification as a receiver would write it: the
    signed content is id.timestamp.body, the key is the base64 part of the
    whsec_ secret, any v1 signature in the space-separated list may match,
    and the timestamp must be recent."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature", "")
    if not msg_id or not ts or not sigs:
        return False
    if abs(time.time() - int(ts)) > tolerance_s:
        return False
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith(
        "whsec_") else secret)
    signed = msg_id.encode() + b"." + ts.encode() + b"." + body
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for part in sigs.split(" "):
        ver, _, sig = part.partition(",")
        if ver == "v1" and hmac.compare_digest(sig.encode(), want):
            return True
    return False


def start_fanout(st, config, extra_args=(), env=None, name="fanout"):
    st._n += 1
    rf = st.path(f"{name}.{st._n}.ready")
    proc = st.spawn(name, [os.path.join(BUILD, "leadsync-fanout"),
                           "--config", config, "--listen", "127.0.0.1:0",
                           "--ready-file", rf, *extra_args],
                    env=env, ready_file=rf)
    proc.url = proc.ready_value
    return proc


def one_endpoint(rx, fanout, **endpoint):
    """A config mutation: the demo tenant's only endpoint is "rx", an
    internal one posting to rx's /hook signed with $FANOUT_SECRET (endpoint
    adds or overrides its keys), and the "fanout" section is fanout."""
    def mutate(cfg):
        demo = next(t for t in cfg["tenants"] if t["id"] == "demo")
        demo["endpoints"] = [{"id": "rx", "url": rx.url + "/hook",
                              "internal": True, "secret_env": "FANOUT_SECRET",
                              **endpoint}]
        cfg["fanout"] = fanout
    return mutate


def fanout_base(st, endpoints, secret, partitions=None):
    """The dev broker, a config mutated by endpoints and an ingress, no
    fan-out replica yet: (config, ingress url)."""
    st.broker(**({"partitions": partitions} if partitions else {}))
    st.env["FANOUT_SECRET"] = secret
    cfg = st.config(endpoints)
    return cfg, st.ingress(cfg)


def fanout_stack(st, endpoints, secret, partitions=None):
    """fanout_base and one fan-out replica that owns its partitions:
    (config, ingress url, replica)."""
    cfg, base = fanout_base(st, endpoints, secret, partitions)
    fo = start_fanout(st, cfg)
    wait_caught_up(fo)
    return cfg, base, fo


def wait_caught_up(fo, what="the fan-out owns its partitions"):
    from harness import wait_for
    wait_for(lambda: "caught up" in open(fo.log).read(), 60, 0.1, what)


def pending(fo):
    """Records a replica holds for its endpoints (leadsync_fanout_pending,
    summed over its series)."""
    return sum(v for k, v in metrics(fo.url).items()
               if k.startswith("leadsync_fanout_pending"))


def metrics(url):
    """{series: value} from a /metrics page."""
    import urllib.request
    out = {}
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
    return out


def dlq_records(st, endpoint=None, topic="leadsync.fanout_dlq"):
    from harness import headers_of
    msgs = st.consume_all(topic, timeout=10)
    out = []
    for m in msgs:
        h = headers_of(m)
        if endpoint is None or h.get("ls_dlq_endpoint") == endpoint:
            out.append((h, m.value()))
    return out


def sync_log(st):
    return [json.loads(m.value()) for m in
            st.consume_all("leadsync.sync_log", timeout=10)]
