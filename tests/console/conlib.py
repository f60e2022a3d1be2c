"""Helpers for the console tests: accounts, a console process, an API client.

    users = accounts()                       # {"ops": ("operator", pw), ...}
    cfg = st.config(mutate=console_config(users, ingress_url))
    url = start_console(st, cfg)
    c = Api(url); c.login("ops", users["ops"][1]); c.get("/api/v1/events")
"""
import hashlib
import http.client
import json
import os
import secrets
import urllib.parse

from harness import BUILD, SOURCE, wait_for

ROLES = {"ops": "operator", "viewer": "viewer", "locked": "operator"}


def hash_password(pw, iterations=2000):
    """The console's pbkdf2-sha256$ITER$SALT$HASH format (few iterations:
    tests only; leadsync-console --hash-password uses 200,000)."""
    salt = secrets.token_bytes(16)
    dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${dk.hex()}"


def accounts():
    return {u: (role, "pw-" + secrets.token_hex(8)) for u, role in ROLES.items()}


def console_config(users, ingress_url="", extra=None):
    def mutate(cfg):
        cfg["console"] = {
            "cookie_secure": False,
            "ingress_url": ingress_url,
            "quota_probe_s": 1,
            "hubspot_portals": {"demo": 1000001},
            "auth": {"login_max_failures": 3, "login_window_s": 300,
                     "users": [{"name": u, "role": r,
                                "password_hash": hash_password(pw)}
                               for u, (r, pw) in users.items()]}}
        if extra:
            cfg["console"].update(extra)
    return mutate


def start_console(st, config, extra_args=(), name="console"):
    rf = st.path(f"{name}.ready")
    db = st.path(f"{name}.db")
    proc = st.spawn(name, [os.path.join(BUILD, "leadsync-console"),
                           "--config", config, "--listen", "127.0.0.1:0",
                           "--db", db, "--ready-file", rf, *extra_args],
                    ready_file=rf)
    proc.url = proc.ready_value
    proc.db = db
    return proc


class Api:
    """One client: keeps the session cookie and the CSRF token."""

    def __init__(self, base):
        self.base = base
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, auth=None,
                raw=None, cookie=True, csrf=True):
        u = urllib.parse.urlparse(self.base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        h = {"X-Requested-With": "test"}
        if cookie and self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf and method == "POST":
            h["X-CSRF-Token"] = self.csrf
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if auth:
            import base64
            h["Authorization"] = "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode()
            h.pop("X-Requested-With", None)
        h.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            payload = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        try:
            j = json.loads(payload) if payload else None
        except ValueError:
            j = None
        return r.status, hdrs, j

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        if body is None and kw.get("raw") is None:
            body = {}
        return self.request("POST", path, body=body, **kw)

    def login(self, user, pw):
        st, h, j = self.post("/api/v1/login", {"user": user, "password": pw})
        if st == 200:
            self.cookie = h["set-cookie"].split(";")[0]
            self.csrf = j["csrf"]
        return st, h, j


def with_lead(payload, email, **extra):
    """A sample payload as a distinct occurrence for another lead (the
    event id hashes stats_id and Message-IDs, so those are new too)."""
    import uuid
    d = json.loads(payload)
    for k in ("sl_lead_email", "to_email", "lead_email"):
        if k in d:
            d[k] = email
    u = uuid.uuid4().hex
    if "stats_id" in d:
        d["stats_id"] = u
    for m in ("reply_message", "sent_message"):
        if isinstance(d.get(m), dict) and "message_id" in d[m]:
            d[m]["message_id"] = f"<{u}-{m}@example.com>"
    if "message_id" in d:
        d["message_id"] = f"<{u}@example.com>"
    d.update(extra)
    return json.dumps(d).encode()


def wait_event(api, event_id, outcome=None, timeout=60):
    def ok():
        st, _, j = api.get(f"/api/v1/events/{event_id}")
        if st == 200 and (outcome is None or j["event"]["outcome"] == outcome):
            return j
        return None
    return wait_for(ok, timeout, 0.2, f"event {event_id} {outcome or ''}")


def validator(name):
    """A jsonschema validator for schemas/console/<name>.schema.json."""
    import jsonschema
    p = os.path.join(SOURCE, "schemas", "console", f"{name}.schema.json")
    with open(p) as f:
        schema = json.load(f)
    return jsonschema.Draft202012Validator(schema)
