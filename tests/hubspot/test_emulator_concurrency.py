#!/usr/bin/python3
"""Many concurrent clients against hubspot-emulator: the store and the
counters stay exact (unique emails, rate-limit admissions, per-route
counts), and added latency delays only the connection it is added to.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hs_emu import run_suite  # noqa: E402

C = "/crm/v3/objects/contacts"
CLIENTS = 64
BATCHES = 5

CONFIG = {"portals": [
    {"token": "tok-bulk", "portal_id": 4001, "requests_per_10s": 100000},
    {"token": "tok-lim", "portal_id": 4002, "requests_per_10s": 50},
    {"token": "tok-slow", "portal_id": 4003, "requests_per_10s": 100000},
]}


def run_clients(n, work):
    results = [None] * n
    errors = []
    start = threading.Barrier(n)

    def body(i):
        try:
            start.wait()
            results[i] = work(i)
        except Exception as exc:  # reported, so the test fails visibly
            errors.append("client %d: %r" % (i, exc))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, errors


def test_upserts(ck, emu):
    def work(i):
        conn = emu.conn()
        statuses = []
        for b in range(BATCHES):
            inputs = [{"id": "c%d-%d-%d@example.com" % (i, b, k),
                       "idProperty": "email",
                       "properties": {"firstname": "c%d" % i}}
                      for k in range(3)]
            shared = "Shared%d@Example.com" % b
            inputs.append({"id": shared if i % 2 else shared.lower(),
                           "idProperty": "email",
                           "properties": {"lastname": "client%d" % i}})
            r = emu.request("POST", C + "/batch/upsert", {"inputs": inputs},
                            token="tok-bulk", conn=conn)
            statuses.append(r.status)
        conn.close()
        return statuses

    results, errors = run_clients(CLIENTS, work)
    ck.eq("upserts: no client errors", [], errors)
    flat = [s for r in results if r for s in r]
    ck.eq("upserts: all 200", [200] * (CLIENTS * BATCHES), flat)
    st = emu.state()
    contacts = [c for c in st["contacts"] if c["portal_id"] == 4001]
    ck.eq("upserts: contact count exact", CLIENTS * BATCHES * 3 + BATCHES,
          len(contacts))
    emails = [c["properties"]["email"].lower() for c in contacts]
    ck.eq("upserts: emails unique", len(emails), len(set(emails)))
    ck.eq("upserts: by_route exact", {"200": CLIENTS * BATCHES},
          st["counters"]["by_route"].get(
              "POST /crm/v3/objects/contacts/batch/upsert"))


def test_create_race(ck, emu):
    def work(i):
        return emu.request("POST", C, {"properties": {
            "email": "race@example.com" if i % 2 else "RACE@example.com"}},
            token="tok-bulk").status

    results, errors = run_clients(CLIENTS, work)
    ck.eq("race: no client errors", [], errors)
    ck.eq("race: exactly one 201", 1, results.count(201))
    ck.eq("race: the rest 409", CLIENTS - 1, results.count(409))
    st = emu.state()
    ck.eq("race: one contact", 1, sum(
        1 for c in st["contacts"]
        if c["properties"].get("email", "").lower() == "race@example.com"))


def test_rate_limit_exact(ck, emu):
    def work(i):
        conn = emu.conn()
        out = [emu.request("GET", C, token="tok-lim", conn=conn).status
               for _ in range(2)]
        conn.close()
        return out

    results, errors = run_clients(CLIENTS, work)
    ck.eq("limit: no client errors", [], errors)
    flat = [s for r in results if r for s in r]
    ck.eq("limit: exactly 50 admitted", 50, flat.count(200))
    ck.eq("limit: the rest 429", 2 * CLIENTS - 50, flat.count(429))
    st = emu.state()
    p = next(p for p in st["portals"] if p["portal_id"] == 4002)
    ck.eq("limit: portal 429 counter", 2 * CLIENTS - 50, p["rate_limited_429"])
    ck.eq("limit: exhausted-window counter", 2 * CLIENTS - 50,
          p["requests_into_exhausted_window"])
    ck.eq("limit: window_used", 50, p["window_used"])
    ck.eq("limit: daily_used counts admitted only", 50, p["daily_used"])


def test_latency_in_parallel(ck, emu):
    emu.admin("POST", "/_emulator/faults", {"latency_ms": 300,
                                             "portal": "tok-slow"})
    t0 = time.monotonic()

    def work(i):
        s = time.monotonic()
        st = emu.request("GET", C, token="tok-slow").status
        return st, time.monotonic() - s

    results, errors = run_clients(CLIENTS, work)
    elapsed = time.monotonic() - t0
    ck.eq("latency: no client errors", [], errors)
    ck.eq("latency: all 200", [200] * CLIENTS,
          [r[0] for r in results if r])
    ck.check("latency: each waited >= 300 ms",
             all(r and r[1] >= 0.29 for r in results), ">= 0.29 s",
             min((r[1] for r in results if r), default=None))
    ck.check("latency: %d clients served in parallel" % CLIENTS,
             elapsed < 3.0, "< 3 s (serial would be %.1f s)" %
             (0.3 * CLIENTS), elapsed)
    emu.admin("POST", "/_emulator/faults", {"clear": True})


def check_counters(ck, emu):
    st = emu.state()
    total = sum(n for r in st["counters"]["by_route"].values()
                for n in r.values())
    ck.eq("requests_total == sum(by_route)",
          st["counters"]["requests_total"], total)
    ck.eq("requests_total exact",
          CLIENTS * BATCHES + CLIENTS + 2 * CLIENTS + CLIENTS,
          st["counters"]["requests_total"])


def main():
    run_suite("hubspot_emulator_concurrency", CONFIG, test_upserts,
              test_create_race, test_rate_limit_exact,
              test_latency_in_parallel, check_counters)


if __name__ == "__main__":
    main()
