"""Launcher and assertion helpers for the hubspot-emulator tests.

Starts the emulator on port 0 with --ready-file in a temp dir, waits for the
file (no sleeps as synchronisation), and stops it with SIGTERM, checking the
exit status and that the sanitizers reported nothing.
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

DEFAULT_TOKEN = "pat-na1-dev-token"
CT_JSON = "application/json;charset=utf-8"
RL_HEADERS = [
    "x-hubspot-ratelimit-daily",
    "x-hubspot-ratelimit-daily-remaining",
    "x-hubspot-ratelimit-interval-milliseconds",
    "x-hubspot-ratelimit-max",
    "x-hubspot-ratelimit-remaining",
    "x-hubspot-ratelimit-secondly",
    "x-hubspot-ratelimit-secondly-remaining",
]


def binary():
    build = os.environ.get("LS_BUILD_DIR")
    if not build:
        here = os.path.dirname(os.path.abspath(__file__))
        build = os.path.join(here, "..", "..", "build")
    return os.path.join(build, "hubspot-emulator")


class Response:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def h(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return "<%d %s %s>" % (self.status, self.headers, self.raw[:600])


class Emulator:
    def __init__(self, *args, config=None):
        self.tmp = tempfile.mkdtemp(prefix="hs-emu-")
        ready = os.path.join(self.tmp, "ready")
        cmd = [binary(), "--listen", "127.0.0.1:0", "--ready-file", ready,
               "--quiet"]
        if config is not None:
            path = os.path.join(self.tmp, "config.json")
            with open(path, "w") as f:
                json.dump(config, f)
            cmd += ["--config", path]
        cmd += list(args)
        self.errpath = os.path.join(self.tmp, "stderr")
        self.err = open(self.errpath, "w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError("emulator exited %d: %s" %
                                   (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("emulator never wrote its ready file")
            time.sleep(0.01)  # polling the ready file, not synchronisation
        with open(ready) as f:
            self.base = f.read().strip()
        u = urllib.parse.urlparse(self.base)
        self.host, self.port = u.hostname, u.port

    def stderr(self):
        try:
            with open(self.errpath) as f:
                return f.read()
        except OSError:
            return ""

    def conn(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def request(self, method, path, body=None, token=DEFAULT_TOKEN,
                headers=None, conn=None, raw=None):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            hdrs.setdefault("Content-Type", "application/json")
        own = conn is None
        c = conn or self.conn()
        try:
            c.request(method, path, body=data, headers=hdrs)
            r = c.getresponse()
            return Response(r.status, r.getheaders(),
                            r.read().decode("utf-8", "replace"))
        finally:
            if own:
                c.close()

    def admin(self, method, path, body=None):
        r = self.request(method, path, body, token=None)
        if r.status != 200:
            raise RuntimeError("admin %s %s -> %r" % (method, path, r))
        return r.json

    def state(self):
        return self.admin("GET", "/_emulator/state")

    def stop(self):
        """SIGTERM; returns a list of problems (exit status, sanitizer)."""
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append("emulator did not exit on SIGTERM")
        self.err.close()
        err = self.stderr()
        if self.proc.returncode != 0:
            problems.append("emulator exit status %s" % self.proc.returncode)
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if marker in err:
                problems.append("sanitizer report: %s" % err[-3000:])
                break
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems


class Checker:
    """Collects assertions; each prints both sides when it fails."""

    def __init__(self, suite):
        self.suite = suite
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, expected=None, actual=None):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL %s: %s\n  expected: %r\n  actual:   %r" %
                  (self.suite, name, expected, actual))
        return ok

    def eq(self, name, expected, actual):
        return self.check(name, expected == actual, expected, actual)

    def finish(self):
        print("%s: %d passed, %d failed" % (self.suite, self.passed,
                                            self.failed))
        sys.exit(1 if self.failed else 0)


def run_suite(suite, config, *steps):
    """Runs each step(ck, emu) in order against one emulator started with
    config and no search lag, then checks that it exits clean under the
    sanitizers; exits with the suite's verdict."""
    ck = Checker(suite)
    emu = Emulator("--search-lag-ms", "0", config=config)
    problems = []
    try:
        for step in steps:
            step(ck, emu)
    finally:
        problems = emu.stop()
    ck.eq("clean exit under sanitizers", [], problems)
    ck.finish()


class Re:
    """An expected value matched as a regular expression."""

    def __init__(self, pattern):
        self.rx = re.compile(pattern)

    def __repr__(self):
        return "Re(%r)" % self.rx.pattern


ANY = object()


def dig(doc, path):
    """Value at a dotted path ("errors.0.context.ids"); KeyError if absent."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def matches(expected, actual):
    if expected is ANY:
        return True
    if isinstance(expected, Re):
        return isinstance(actual, str) and expected.rx.fullmatch(actual)
    if isinstance(expected, type):
        return isinstance(actual, expected)
    if callable(expected):
        return bool(expected(actual))
    return expected == actual


def check_shape(ck, name, expect, body):
    """expect: {dotted path: value | type | Re | callable | ANY}."""
    for path, want in expect.items():
        try:
            got = dig(body, path)
        except (KeyError, IndexError, ValueError, TypeError):
            ck.check("%s: %s present" % (name, path), False, want,
                     "absent in %s" % json.dumps(body)[:800])
            continue
        ck.check("%s: %s" % (name, path), matches(want, got), want, got)


def check_common(ck, name, r, search=False, oauth=False):
    """What every API answer carries (docs/hubspot-emulator.md)."""
    ck.eq(name + ": content-type", CT_JSON, r.h("content-type"))
    corr = r.h("x-hubspot-correlation-id")
    ck.check(name + ": correlation header", corr and len(corr) == 36,
             "uuid", corr)
    if isinstance(r.json, dict) and "correlationId" in r.json:
        ck.eq(name + ": correlationId == header", corr,
              r.json["correlationId"])
    present = [h for h in RL_HEADERS if r.h(h) is not None]
    if search or r.status == 401:
        ck.eq(name + ": no rate-limit headers", [], present)
    elif oauth:
        ck.eq(name + ": oauth rate-limit headers", RL_HEADERS[2:], present)
    else:
        ck.eq(name + ": seven rate-limit headers", RL_HEADERS, present)
