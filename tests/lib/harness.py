"""Shared harness for leadsync's integration, e2e and fault tests.

Starts the real processes (dev broker, HubSpot emulator, ingress, workers) on
loopback with port 0 and ready files, waits on conditions instead of sleeping,
and stops everything it started, whatever happens.

    with Stack() as st:
        st.broker()                      # -> bootstrap servers
        st.emulator()                    # -> emulator base URL
        cfg = st.config()                # dev config pointing at both
        url = st.ingress(cfg)            # -> ingress base URL
        st.worker(cfg, "all", "EMAIL_SENT,EMAIL_REPLY")
"""
import copy
import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

BUILD = os.environ.get("LS_BUILD_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build")
SOURCE = os.environ.get("LS_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(SOURCE, "tests", "fixtures")
PAYLOADS = os.path.join(FIXTURES, "smartlead")

DEMO_TOKEN = "dev-demo-7d1f3c9a2b4e4f60a8c1"
FILTERED_TOKEN = "dev-filtered-5b2e8d71c0f94a3d9e6f"
HUBSPOT_TOKEN = "pat-na1-dev-token"

ALL_EVENTS = ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK",
              "EMAIL_REPLY", "EMAIL_BOUNCE", "LEAD_UNSUBSCRIBED",
              "LEAD_CATEGORY_UPDATED", "CAMPAIGN_STATUS_CHANGED",
              "UNTRACKED_REPLIES", "MANUAL_STEP_REACHED"]


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


class Failure(AssertionError):
    pass


class Checks:
    """Counts assertions; each failure prints both sides. Call done() last."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def eq(self, got, want, what):
        if got == want:
            self.passed += 1
            return True
        self.failed += 1
        print(f"FAIL {what}: got {got!r}, want {want!r}", flush=True)
        return False

    def true(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            return True
        self.failed += 1
        print(f"FAIL {what} {detail}", flush=True)
        return False

    def done(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed",
              flush=True)
        sys.exit(1 if self.failed else 0)


def wait_for(cond, timeout=30.0, interval=0.05, what="condition"):
    """Polls cond() until it returns a truthy value; raises on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)
    raise Failure(f"timed out after {timeout}s waiting for {what} "
                  f"(last value {last!r})")


def http_request(base, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection; returns (status, headers, bytes)."""
    u = urllib.parse.urlparse(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def load_payloads():
    """{name: bytes} for every sample payload in tests/fixtures/smartlead."""
    out = {}
    for f in sorted(os.listdir(PAYLOADS)):
        if f.endswith(".json"):
            with open(os.path.join(PAYLOADS, f), "rb") as fh:
                out[f[:-5]] = fh.read()
    return out


class Proc:
    def __init__(self, name, popen, logpath):
        self.name = name
        self.p = popen
        self.log = logpath

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def stop(self, timeout=20):
        """SIGTERM, wait, SIGKILL; returns the exit code."""
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def kill(self):
        if self.alive():
            self.p.kill()
        self.p.wait()
        return self.p.returncode

    def tail(self, n=40):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class Stack:
    def __init__(self, keep=False):
        self.dir = tempfile.mkdtemp(prefix="leadsync-test-")
        self.procs = []
        self.bootstrap = None
        self.hubspot_url = None
        self.keep = keep or os.environ.get("LS_KEEP_TMP") == "1"
        self.env = dict(os.environ)
        self.env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.env["HUBSPOT_TOKEN"] = HUBSPOT_TOKEN
        self._n = 0

    # -- lifecycle --------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        failed = []
        for p in reversed(self.procs):
            rc = p.stop()
            if rc not in (0, -signal.SIGKILL, -signal.SIGTERM, None) and \
                    not getattr(p, "expected_exit", False):
                failed.append((p.name, rc))
        for name, rc in failed:
            print(f"note: {name} exited with {rc}; log tail:\n"
                  + next(p.tail() for p in self.procs if p.name == name),
                  flush=True)
        self.procs.clear()
        if not self.keep:
            subprocess.run(["rm", "-rf", self.dir])
        return failed

    def path(self, name):
        return os.path.join(self.dir, name)

    def spawn(self, name, argv, env=None, ready_file=None, timeout=30):
        self._n += 1
        log = self.path(f"{name}.{self._n}.log")
        e = dict(self.env)
        if env:
            e.update(env)
        fh = open(log, "wb")
        p = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT,
                             env=e, cwd=SOURCE, start_new_session=True)
        fh.close()
        proc = Proc(name, p, log)
        self.procs.append(proc)
        if ready_file:
            def ready():
                if not proc.alive():
                    raise Failure(f"{name} exited with {p.returncode}:\n"
                                  + proc.tail())
                if os.path.exists(ready_file):
                    with open(ready_file) as f:
                        return f.read().strip() or None
                return None
            proc.ready_value = wait_for(ready, timeout, what=f"{name} ready")
        return proc

    # -- components -------------------------------------------------------
    def broker(self, partitions=6, extra_args=()):
        bf = self.path("bootstrap")
        proc = self.spawn("devbroker",
                          [os.path.join(BUILD, "leadsync-devbroker"),
                           "--partitions", str(partitions),
                           "--bootstrap-file", bf, *extra_args],
                          ready_file=bf)
        self.bootstrap = proc.ready_value
        self.broker_proc = proc
        self.env["KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        return self.bootstrap

    def emulator(self, extra_args=()):
        rf = self.path("hubspot.ready")
        proc = self.spawn("hubspot-emulator",
                          [os.path.join(BUILD, "hubspot-emulator"),
                           "--listen", "127.0.0.1:0", "--ready-file", rf,
                           "--token", HUBSPOT_TOKEN + ":professional:1000001",
                           *extra_args], ready_file=rf)
        self.hubspot_url = proc.ready_value
        self.emulator_proc = proc
        self.env["HUBSPOT_BASE_URL"] = self.hubspot_url
        return self.hubspot_url

    def config(self, mutate=None, name=None):
        """Writes the dev config with this stack's addresses; mutate(cfg) may
        edit the dict first. Returns the file path."""
        with open(os.path.join(SOURCE, "config", "dev.json")) as f:
            cfg = json.load(f)
        if self.bootstrap:
            cfg["kafka"]["bootstrap_servers"] = self.bootstrap
        cfg["ingress"]["listen"] = "127.0.0.1:0"
        for t in cfg["tenants"]:
            if self.hubspot_url:
                t["hubspot"]["base_url"] = self.hubspot_url
        if mutate:
            mutate(cfg)
        self._n += 1
        p = self.path(name or f"config.{self._n}.json")
        with open(p, "w") as f:
            json.dump(cfg, f, indent=2)
        return p

    def ingress(self, config, extra_args=(), env=None):
        rf = self.path(f"ingress.{self._n + 1}.ready")
        proc = self.spawn("ingress",
                          [os.path.join(BUILD, "leadsync-ingress"),
                           "--config", config, "--listen", "127.0.0.1:0",
                           "--ready-file", rf, *extra_args], env=env,
                          ready_file=rf)
        proc.url = proc.ready_value
        self.ingress_proc = proc
        return proc.url

    def worker(self, config, group, events, extra_args=(), env=None):
        rf = self.path(f"worker-{group}.{self._n + 1}.ready")
        proc = self.spawn(f"worker-{group}",
                          [os.path.join(BUILD, "leadsync-worker"),
                           "--config", config, "--group", group,
                           "--events", events if isinstance(events, str)
                           else ",".join(events),
                           "--listen", "127.0.0.1:0",
                           "--ready-file", rf, *extra_args], env=env,
                          ready_file=rf)
        proc.url = proc.ready_value
        return proc

    def filter(self, config, extra_args=(), env=None, name="filter"):
        """The category filter role (consumer group leadsync-filter)."""
        rf = self.path(f"{name}.{self._n + 1}.ready")
        self._n += 1
        proc = self.spawn(name,
                          [os.path.join(BUILD, "leadsync-worker"),
                           "--config", config, "--group", "filter",
                           "--role", "filter", "--listen", "127.0.0.1:0",
                           "--ready-file", rf, *extra_args], env=env,
                          ready_file=rf)
        proc.url = proc.ready_value
        return proc

    # -- HubSpot emulator -------------------------------------------------
    def hubspot_state(self):
        st, _, body = http_request(self.hubspot_url, "GET", "/_emulator/state")
        assert st == 200, (st, body)
        return json.loads(body)

    def hubspot_faults(self, faults):
        st, _, body = http_request(self.hubspot_url, "POST",
                                   "/_emulator/faults", faults)
        assert st == 200, (st, body)

    # -- Kafka ------------------------------------------------------------
    def consume_all(self, topics, timeout=10.0, expect=None, group=None):
        """Reads topics from the beginning until `expect` records arrived (or
        until the end of every partition when expect is None). Returns a list
        of confluent_kafka messages."""
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        if isinstance(topics, str):
            topics = [topics]
        c = Consumer({"bootstrap.servers": self.bootstrap,
                      "group.id": group or f"harness-{time.monotonic_ns()}",
                      "enable.auto.commit": False,
                      "auto.offset.reset": "earliest",
                      "enable.partition.eof": True,
                      "log_level": 3})
        try:
            md = c.list_topics(timeout=10)
            tps = []
            for t in topics:
                for p in md.topics[t].partitions:
                    tps.append(TopicPartition(t, p, OFFSET_BEGINNING))
            c.assign(tps)
            out, eof = [], set()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                m = c.poll(0.2)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == -191:  # _PARTITION_EOF
                        eof.add((m.topic(), m.partition()))
                        if expect is None and len(eof) == len(tps):
                            break
                    continue
                out.append(m)
                if expect is not None and len(out) >= expect:
                    break
            return out
        finally:
            c.close()


def headers_of(msg):
    return {k: (v.decode() if v is not None else None)
            for k, v in (msg.headers() or [])}


class SyncLogWatcher:
    """Follows leadsync.sync_log from the beginning in a background thread.

        w = SyncLogWatcher(stack.bootstrap); ...; w.outcomes(event_id)
    """

    def __init__(self, bootstrap, topic="leadsync.sync_log"):
        import threading
        from confluent_kafka import Consumer
        self.records = []
        self.by_id = {}
        self.lock = threading.Lock()
        self._stop = False
        self._c = Consumer({"bootstrap.servers": bootstrap,
                            "group.id": f"watcher-{time.monotonic_ns()}",
                            "auto.offset.reset": "earliest",
                            "enable.auto.commit": False, "log_level": 3})
        self._c.subscribe([topic])
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop:
            m = self._c.poll(0.1)
            if m is None or m.error():
                continue
            try:
                rec = json.loads(m.value())
            except ValueError:
                continue
            with self.lock:
                self.records.append(rec)
                self.by_id.setdefault(rec.get("event_id"), []).append(rec)

    def outcomes(self, event_id):
        with self.lock:
            return [r.get("outcome") for r in self.by_id.get(event_id, [])]

    def last(self, event_id):
        o = self.outcomes(event_id)
        return o[-1] if o else None

    def snapshot(self):
        with self.lock:
            return {k: [r.get("outcome") for r in v]
                    for k, v in self.by_id.items()}

    def close(self):
        self._stop = True
        self._t.join(5)
        self._c.close()


def committed_to_end(bootstrap, partitions, group="leadsync-filter",
                     topic="leadsync.held"):
    """True once the consumer group committed every record of topic
    (e.g. the filter: a restart then restores instead of deciding again)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False, "log_level": 3})
    try:
        tps = c.committed([TopicPartition(topic, p)
                           for p in range(partitions)], timeout=10)
        for t in tps:
            _, hi = c.get_watermark_offsets(t, timeout=10)
            if t.offset < hi:
                return False
        return True
    finally:
        c.close()
