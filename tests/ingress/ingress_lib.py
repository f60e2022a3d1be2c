"""Helpers shared by the ingress tests (on top of tests/lib/harness.py)."""
import json
import resource
import socket
import urllib.parse

from harness import DEMO_TOKEN, http_request, sha256_hex

HOOK = "/v1/webhooks/smartlead/"
JSON = {"Content-Type": "application/json"}

# Tokens of the extra sources test configs add (plain values, SHA-256 stored).
SECRET_TOKEN = "test-secret-source-0b9e"
SECRET_KEY = "s3cret-body-key-1f2e"
CLIENT_TOKEN = "test-client-source-77aa"
CAMPAIGN_TOKEN = "test-campaign-source-51c3"
LIMITED_TOKEN = "test-limited-source-9d04"

# The lead each shared sample is about (from_email is our mailbox in
# replies; the untracked reply's lead is in sender_detail).
LEAD = {
    "EMAIL_BOUNCE": "j.smith@nonexistent-example.com",
    "UNTRACKED_REPLIES": "sam.lee@randomco-example.com",
    "CAMPAIGN_STATUS_CHANGED": "-",
}
JANE = "jane.doe@acme-example.com"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def lab_tenant(rate=(1, 2), campaign_scope="999", client_scope="42"):
    """A tenant with one source per feature under test."""
    return {
        "id": "lab",
        "sources": [
            {"id": "lab-secret", "level": "user", "scope_id": None,
             "token_sha256": sha256_hex(SECRET_TOKEN),
             "secret_key_sha256": sha256_hex(SECRET_KEY)},
            {"id": "lab-client", "level": "client", "scope_id": client_scope,
             "token_sha256": sha256_hex(CLIENT_TOKEN)},
            {"id": "lab-campaign", "level": "campaign",
             "scope_id": campaign_scope,
             "token_sha256": sha256_hex(CAMPAIGN_TOKEN)},
            {"id": "lab-limited", "level": "user", "scope_id": None,
             "token_sha256": sha256_hex(LIMITED_TOKEN),
             "rate_limit": {"per_second": rate[0], "burst": rate[1]}},
        ],
    }


def post(base, body, token=DEMO_TOKEN, headers=None, timeout=30):
    h = dict(JSON)
    if headers is not None:
        h = headers
    return http_request(base, "POST", HOOK + token, body, h, timeout=timeout)


def jbody(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return {}


def raw_request(base, data, timeout=10):
    """Sends raw bytes on a fresh socket; returns the status line's code and
    the whole reply (or None on a reset)."""
    u = urllib.parse.urlparse(base)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            chunks.append(b)
            if b"\r\n\r\n" in b"".join(chunks):
                head, _, rest = b"".join(chunks).partition(b"\r\n\r\n")
                cl = [ln for ln in head.split(b"\r\n")
                      if ln.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
        reply = b"".join(chunks)
        if not reply:
            return None, b""
        return int(reply.split(b" ")[1]), reply
    finally:
        s.close()


def event_with(name_or_body, **changes):
    """A copy of a sample body with fields replaced (None deletes)."""
    body = json.loads(name_or_body)
    for k, v in changes.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    return json.dumps(body).encode()


class Load:
    """Threads posting distinct EMAIL_SENT occurrences (unique stats_id) on
    fresh connections, recording every outcome by event id."""

    def __init__(self, base, template, threads=4, stop_on_503=False,
                 timeout=30):
        import threading
        self.base = base
        self.template = json.loads(template)
        self.n = threads
        self.stop_on_503 = stop_on_503
        self.timeout = timeout
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.acked = set()        # event ids answered 200
        self.status = {}          # status -> count
        self.refused = 0          # could not connect / send (never sent)
        self.unanswered = 0       # sent, but no HTTP response came back
        self.sent = 0
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True) for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def join(self, timeout=60):
        self.stop.set()
        for t in self.threads:
            t.join(timeout)

    def count(self):
        with self.lock:
            return self.sent

    def _run(self, idx):
        import http.client
        u = urllib.parse.urlparse(self.base)
        k = 0
        while not self.stop.is_set():
            k += 1
            body = dict(self.template)
            body["stats_id"] = f"load-{idx}-{k}-{id(self)}"
            data = json.dumps(body).encode()
            conn = http.client.HTTPConnection(u.hostname, u.port,
                                              timeout=self.timeout)
            try:
                try:
                    conn.connect()
                    conn.request("POST", HOOK + DEMO_TOKEN, body=data,
                                 headers=JSON)
                except OSError:
                    with self.lock:
                        self.refused += 1
                    if self.stop_on_503:
                        return
                    continue
                with self.lock:
                    self.sent += 1
                try:
                    r = conn.getresponse()
                    payload = r.read()
                except (OSError, http.client.HTTPException):
                    with self.lock:
                        self.unanswered += 1
                    if self.stop_on_503:
                        return
                    continue
                with self.lock:
                    self.status[r.status] = self.status.get(r.status, 0) + 1
                    if r.status == 200:
                        self.acked.add(jbody(payload).get("event_id"))
                if r.status == 503 and self.stop_on_503:
                    return
            finally:
                conn.close()


def kafka_ids(st, topics, timeout=20):
    """Event ids (ce_id) present on topics."""
    from harness import headers_of
    return {headers_of(m).get("ce_id")
            for m in st.consume_all(topics, timeout=timeout)}
