#!/usr/bin/python3
"""Run-time faults of hubspot-emulator through POST /_emulator/faults:
latency, 5xx (JSON and HTML), forced 429 bursts, revoked tokens, dropped
connections (before and after the write), 423 locks, portal scoping, and
that reset clears them.
"""
import http.client
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hs_emu import check_common, run_suite  # noqa: E402

C = "/crm/v3/objects/contacts"
CONFIG = {"portals": [
    {"token": "tok-a", "portal_id": 5001},
    {"token": "tok-b", "portal_id": 5002},
]}


def faults(emu, body):
    return emu.admin("POST", "/_emulator/faults", body)


def timed(emu, token):
    t = time.monotonic()
    r = emu.request("GET", C, token=token)
    return r, time.monotonic() - t


def test_latency_scoped(ck, emu):
    faults(emu, {"latency_ms": 400, "jitter_ms": 50, "portal": "tok-a"})
    slow = {}

    def bg():
        slow["r"], slow["t"] = timed(emu, "tok-a")

    th = threading.Thread(target=bg)
    th.start()
    r, fast = timed(emu, "tok-b")
    th.join()
    ck.eq("latency: other portal ok", 200, r.status)
    ck.check("latency: other portal not delayed", fast < 0.3, "< 0.3 s", fast)
    ck.check("latency: scoped portal delayed 400..450 ms",
             0.39 <= slow["t"] < 1.0, "0.39..1.0 s", slow["t"])
    faults(emu, {})


def test_errors(ck, emu):
    faults(emu, {"error_rate": 1.0, "error_statuses": [503],
                 "portal": 5001})
    r = emu.request("GET", C, token="tok-a")
    ck.eq("5xx: status", 503, r.status)
    check_common(ck, "5xx", r)
    ck.check("5xx: JSON error body", (r.json or {}).get("status") == "error",
             "error body", r.raw)
    ck.eq("5xx: other portal unaffected", 200,
          emu.request("GET", C, token="tok-b").status)
    faults(emu, {"error_rate": 1.0, "error_statuses": [502], "html_5xx": True,
                 "portal": "tok-a"})
    r = emu.request("GET", C, token="tok-a")
    ck.eq("html 502: status", 502, r.status)
    ck.eq("html 502: content type", "text/html", r.h("content-type"))
    ck.check("html 502: body is HTML", r.raw.startswith("<html>"), "<html>",
             r.raw[:40])
    faults(emu, {"clear": True})


def test_force_429(ck, emu):
    faults(emu, {"force_429": 2, "portal": "tok-a"})
    rs = [emu.request("GET", C, token="tok-a") for _ in range(3)]
    ck.eq("force_429: two 429 then 200", [429, 429, 200],
          [r.status for r in rs])
    ck.eq("force_429: policy", "TEN_SECONDLY_ROLLING",
          (rs[0].json or {}).get("policyName"))
    check_common(ck, "force_429", rs[0])


def test_revoke(ck, emu):
    faults(emu, {"revoke_tokens": ["tok-a"]})
    r = emu.request("GET", C, token="tok-a")
    ck.eq("revoked: 401", 401, r.status)
    ck.eq("revoked: auth failure header", "401 Unauthorized",
          r.h("x-hubspot-auth-failure"))
    ck.eq("revoked: category", "INVALID_AUTHENTICATION",
          (r.json or {}).get("category"))
    ck.eq("revoked: other token fine", 200,
          emu.request("GET", C, token="tok-b").status)
    faults(emu, {"clear": True})
    ck.eq("revoked: cleared", 200,
          emu.request("GET", C, token="tok-a").status)


def expect_drop(emu, method, path, body, token):
    try:
        r = emu.request(method, path, body, token=token)
        return "answered %d" % r.status
    except (http.client.HTTPException, ConnectionError, OSError):
        return "dropped"


def test_drops(ck, emu):
    before = emu.state()["counters"]["dropped"]
    faults(emu, {"drop_rate": 1.0, "portal": "tok-a"})
    ck.eq("drop: connection closed", "dropped",
          expect_drop(emu, "POST", C, {"properties": {
              "email": "lost@example.com"}}, "tok-a"))
    faults(emu, {"drop_after_rate": 1.0, "portal": "tok-a"})
    ck.eq("drop after: connection closed", "dropped",
          expect_drop(emu, "POST", C, {"properties": {
              "email": "written@example.com"}}, "tok-a"))
    faults(emu, {})
    st = emu.state()
    emails = {c["properties"].get("email") for c in st["contacts"]}
    ck.eq("drop: request lost before the write", False,
          "lost@example.com" in emails)
    ck.eq("drop after: the write happened", True,
          "written@example.com" in emails)
    ck.eq("drop: counted", before + 2, st["counters"]["dropped"])


def test_lock(ck, emu):
    faults(emu, {"lock_423_rate": 1.0, "portal": "tok-a"})
    r = emu.request("POST", C, {"properties": {"email": "l@example.com"}},
                    token="tok-a")
    ck.eq("423: write locked", 423, r.status)
    check_common(ck, "423", r)
    ck.eq("423: reads pass", 200, emu.request("GET", C, token="tok-a").status)
    faults(emu, {"clear": True})


def test_bad_fault(ck, emu):
    r = emu.request("POST", "/_emulator/faults", {"latency": 5}, token=None)
    ck.eq("bad fault key: 400", 400, r.status)
    r = emu.request("POST", "/_emulator/faults", {"error_rate": 2},
                    token=None)
    ck.eq("bad error_rate: 400", 400, r.status)
    r = emu.request("POST", "/_emulator/faults", {"portal": 999}, token=None)
    ck.eq("unknown portal: 400", 400, r.status)


def test_reset(ck, emu):
    faults(emu, {"error_rate": 1.0, "revoke_tokens": ["tok-b"]})
    emu.admin("POST", "/_emulator/reset")
    ck.eq("reset: faults cleared", 200,
          emu.request("GET", C, token="tok-a").status)
    ck.eq("reset: revocation cleared", 200,
          emu.request("GET", C, token="tok-b").status)
    st = emu.state()
    ck.eq("reset: counters restart", 2, st["counters"]["requests_total"])
    ck.eq("reset: no faults_injected", 0, st["counters"]["faults_injected"])


def check_faults_counted(ck, emu):
    st = emu.state()
    ck.check("faults_injected counted", st["counters"]["faults_injected"]
             >= 7, ">= 7", st["counters"]["faults_injected"])


def main():
    run_suite("hubspot_emulator_faults", CONFIG, test_latency_scoped,
              test_errors, test_force_429, test_revoke, test_drops, test_lock,
              test_bad_fault, check_faults_counted, test_reset)


if __name__ == "__main__":
    main()
