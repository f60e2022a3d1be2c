#!/usr/bin/python3
"""Rate limits of hubspot-emulator (docs/hubspot-emulator.md).

Fires exactly limit+1 requests into a window and checks the 429 body and
headers for each policy: TEN_SECONDLY_ROLLING (tiny configured limit, then
the real 100 and 190), DAILY, and the search "secondly" limit, plus OAuth
headers, per-app windows sharing a daily budget, Retry-After, and that the
window rolls rather than resets.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hs_emu import RL_HEADERS, check_common, run_suite  # noqa: E402

C = "/crm/v3/objects/contacts"
SEARCH = C + "/search"
TEN_KEYS = {"status", "message", "errorType", "correlationId", "policyName"}

CONFIG = {"portals": [
    {"token": "tok-small", "portal_id": 3001, "tier": "free",
     "requests_per_10s": 5},
    {"token": "tok-app2", "portal_id": 3001, "requests_per_10s": 5},
    {"token": "tok-oauth", "portal_id": 3002, "tier": "professional",
     "requests_per_10s": 5, "oauth": True},
    {"token": "tok-daily", "portal_id": 3003, "tier": "starter",
     "daily_limit": 3},
    {"token": "tok-free", "portal_id": 3004, "tier": "free"},
    {"token": "tok-pro", "portal_id": 3005, "tier": "professional"},
    {"token": "tok-roll", "portal_id": 3006, "requests_per_10s": 5},
]}


def fire(emu, token, n, path=C, method="GET", body=None):
    conn = emu.conn()
    try:
        return [emu.request(method, path, body, token=token, conn=conn)
                for _ in range(n)]
    finally:
        conn.close()


def check_ten_secondly_429(ck, name, r, limit):
    ck.eq(name + ": status", 429, r.status)
    if r.status != 429:
        return
    check_common(ck, name, r)
    ck.eq(name + ": keys", TEN_KEYS, set(r.json or {}))
    ck.eq(name + ": message", "You have reached your ten_secondly_rolling "
          "limit.", r.json.get("message"))
    ck.eq(name + ": errorType", "RATE_LIMIT", r.json.get("errorType"))
    ck.eq(name + ": policyName", "TEN_SECONDLY_ROLLING",
          r.json.get("policyName"))
    ck.eq(name + ": Remaining header", "0",
          r.h("x-hubspot-ratelimit-remaining"))
    ck.eq(name + ": Max header", str(limit), r.h("x-hubspot-ratelimit-max"))


def test_small_window(ck, emu):
    rs = fire(emu, "tok-small", 6)
    ck.eq("small: first 5 ok", [200] * 5, [r.status for r in rs[:5]])
    ck.eq("small: Remaining counts down", ["4", "3", "2", "1", "0"],
          [r.h("x-hubspot-ratelimit-remaining") for r in rs[:5]])
    ck.eq("small: Max", "5", rs[0].h("x-hubspot-ratelimit-max"))
    ck.eq("small: Interval", "10000",
          rs[0].h("x-hubspot-ratelimit-interval-milliseconds"))
    ck.eq("small: Daily (free tier)", "250000",
          rs[0].h("x-hubspot-ratelimit-daily"))
    ck.eq("small: Daily-Remaining counts down",
          [str(250000 - i) for i in range(1, 6)],
          [r.h("x-hubspot-ratelimit-daily-remaining") for r in rs[:5]])
    ck.check("small: Secondly-Remaining < Secondly",
             int(rs[4].h("x-hubspot-ratelimit-secondly-remaining")) <
             int(rs[4].h("x-hubspot-ratelimit-secondly") or 0) or
             rs[4].h("x-hubspot-ratelimit-secondly") == "0",
             "remaining below secondly", rs[4].headers)
    for i, r in enumerate(rs[:5]):
        check_common(ck, "small #%d" % i, r)
    check_ten_secondly_429(ck, "small 6th", rs[5], 5)
    ck.eq("small: no Retry-After by default", None, rs[5].h("retry-after"))

    # A second app of the same account has its own window but shares the
    # daily budget.
    r = emu.request("GET", C, token="tok-app2")
    ck.eq("app2: own window", 200, r.status)
    ck.eq("app2: own Remaining", "4", r.h("x-hubspot-ratelimit-remaining"))
    ck.eq("app2: shared daily budget", str(250000 - 6),
          r.h("x-hubspot-ratelimit-daily-remaining"))

    st = emu.state()
    p = next(p for p in st["portals"] if p["portal_id"] == 3001)
    ck.eq("state: portal 429s", 1, p["rate_limited_429"])
    ck.eq("state: portal requests into exhausted window", 1,
          p["requests_into_exhausted_window"])
    ck.eq("state: portal daily_used", 6, p["daily_used"])
    ck.eq("state: global requests into exhausted window", 1,
          st["counters"]["requests_into_exhausted_window"])


def test_search(ck, emu):
    # tok-small's 10-second window is exhausted; search is exempt from it.
    body = {"filterGroups": [{"filters": [
        {"propertyName": "email", "operator": "HAS_PROPERTY"}]}]}
    rs = fire(emu, "tok-small", 6, SEARCH, "POST", body)
    ck.eq("search: 5 ok despite exhausted window", [200] * 5,
          [r.status for r in rs[:5]])
    for i, r in enumerate(rs[:5]):
        check_common(ck, "search #%d" % i, r, search=True)
    r = rs[5]
    ck.eq("search 6th: status", 429, r.status)
    if r.status == 429:
        check_common(ck, "search 6th", r, search=True)
        ck.eq("search 6th: keys", {"status", "message", "correlationId",
                                   "category"}, set(r.json))
        ck.eq("search 6th: message", "You have reached your secondly limit.",
              r.json["message"])
        ck.eq("search 6th: category", "RATE_LIMITS", r.json["category"])
        ck.eq("search 6th: compact body is 148 bytes", 148, len(r.raw))
    st = emu.state()
    p = next(p for p in st["portals"] if p["portal_id"] == 3001)
    ck.eq("search: exhausted-window counter unchanged", 1,
          p["requests_into_exhausted_window"])


def test_retry_after(ck, emu):
    emu.admin("POST", "/_emulator/config", {"retry_after": True})
    r = emu.request("GET", C, token="tok-small")
    ck.eq("retry-after: 429", 429, r.status)
    ra = r.h("retry-after")
    ck.check("retry-after: seconds within the window",
             ra is not None and ra.isdigit() and 1 <= int(ra) <= 10,
             "1..10", ra)
    emu.admin("POST", "/_emulator/config", {"retry_after": False})


def test_oauth(ck, emu):
    rs = fire(emu, "tok-oauth", 6)
    ck.eq("oauth: first 5 ok", [200] * 5, [r.status for r in rs[:5]])
    check_common(ck, "oauth #0", rs[0], oauth=True)
    ck.eq("oauth: no daily headers", [None, None],
          [rs[0].h(h) for h in RL_HEADERS[:2]])
    ck.eq("oauth 6th", 429, rs[5].status)
    ck.eq("oauth 6th policy", "TEN_SECONDLY_ROLLING",
          (rs[5].json or {}).get("policyName"))


def test_daily(ck, emu):
    rs = fire(emu, "tok-daily", 4)
    ck.eq("daily: 3 ok", [200] * 3, [r.status for r in rs[:3]])
    ck.eq("daily: Daily header", "3", rs[0].h("x-hubspot-ratelimit-daily"))
    ck.eq("daily: Daily-Remaining", ["2", "1", "0"],
          [r.h("x-hubspot-ratelimit-daily-remaining") for r in rs[:3]])
    r = rs[3]
    ck.eq("daily 4th: status", 429, r.status)
    if r.status == 429:
        check_common(ck, "daily 4th", r)
        ck.eq("daily 4th: keys", TEN_KEYS | {"requestId"}, set(r.json))
        ck.eq("daily 4th: message", "You have reached your daily limit.",
              r.json["message"])
        ck.eq("daily 4th: policyName", "DAILY", r.json["policyName"])
        ck.eq("daily 4th: errorType", "RATE_LIMIT", r.json["errorType"])
    # Search also spends (and is stopped by) the daily budget.
    r = emu.request("POST", SEARCH, {}, token="tok-daily")
    ck.eq("daily: search stopped too", "DAILY",
          (r.json or {}).get("policyName"))
    st = emu.state()
    p = next(p for p in st["portals"] if p["portal_id"] == 3003)
    ck.eq("daily: not counted as exhausted window", 0,
          p["requests_into_exhausted_window"])


def test_real_limits(ck, emu):
    for token, limit, secondly in (("tok-free", 100, "10"),
                                   ("tok-pro", 190, "19")):
        rs = fire(emu, token, limit + 1)
        ok = [r.status for r in rs[:limit]]
        ck.eq("%s: %d ok" % (token, limit), [200] * limit, ok)
        ck.eq("%s: Max" % token, str(limit),
              rs[0].h("x-hubspot-ratelimit-max"))
        ck.eq("%s: Secondly" % token, secondly,
              rs[0].h("x-hubspot-ratelimit-secondly"))
        ck.eq("%s: last ok has Remaining 0" % token, "0",
              rs[limit - 1].h("x-hubspot-ratelimit-remaining"))
        check_ten_secondly_429(ck, "%s #%d" % (token, limit + 1), rs[limit],
                               limit)


def test_rolling(ck, emu):
    """3 requests at t0 and 2 at t0+5 s: at t0+10 s only 3 slots free up."""
    t0 = time.monotonic()
    first = fire(emu, "tok-roll", 3)
    time.sleep(max(0.0, t0 + 5 - time.monotonic()))
    second = fire(emu, "tok-roll", 3)
    ck.eq("rolling: 5 ok then 429", [200] * 5 + [429],
          [r.status for r in first + second])
    time.sleep(max(0.0, t0 + 10.3 - time.monotonic()))
    later = fire(emu, "tok-roll", 4)
    ck.eq("rolling: the first 3 expired, the last 2 still count",
          [200, 200, 200, 429], [r.status for r in later])


def check_global_429s(ck, emu):
    st = emu.state()
    ck.eq("state: global 429s", 10, st["counters"]["rate_limited_429"])


def main():
    run_suite("hubspot_emulator_ratelimit", CONFIG, test_small_window,
              test_search, test_retry_after, test_oauth, test_daily,
              test_real_limits, test_rolling, check_global_429s)


if __name__ == "__main__":
    main()
