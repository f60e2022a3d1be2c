#!/usr/bin/python3
"""hubspot-emulator's real-world variation (docs/hubspot-emulator.md
"Real-world variation"): the 65,536-character limit, value validation
(whitespace, phone rule) with per-input 207s on traced upserts, no-echo
upserts, secondary emails, the concurrent-create 409, shuffled results,
today's search filter limits, DELETE, account-info and portal time zones.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hs_emu import check_common, run_suite  # noqa: E402

C = "/crm/v3/objects/contacts"
UP = C + "/batch/upsert"
CONFIG = {"portals": [
    {"token": "tok-a", "portal_id": 6001},
    {"token": "tok-la", "portal_id": 6002, "time_zone": "America/Los_Angeles"},
    {"token": "tok-ph", "portal_id": 6003, "validate_phone": True},
]}


def up(emu, inputs, token="tok-a"):
    return emu.request("POST", UP, {"inputs": inputs}, token=token)


def inp(email, trace=None, **props):
    d = {"id": email, "idProperty": "email", "properties": props}
    if trace:
        d["objectWriteTraceId"] = trace
    return d


def rejected(body):
    return sorted(n for e in (body or {}).get("errors", [])
                  for n in e.get("context", {}).get("propertyName", []))


def test_length_limit(ck, emu):
    ok = up(emu, [inp("len@x.com", company="a" * 65536)])
    ck.eq("65,536 characters accepted", 200, ok.status)
    # A 4-byte character counts two (UTF-16), so 32,769 of them are over.
    r = up(emu, [inp("len@x.com", company="\U0001F600" * 32769)])
    ck.eq("over 65,536 UTF-16 units: 400", 400, r.status)
    check_common(ck, "length 400", r)
    ck.eq("length: category", "VALIDATION_ERROR", (r.json or {}).get("category"))
    ck.eq("length: property named", ["company"], rejected(r.json))
    ck.check("length: message in HubSpot's format",
             "Property values were not valid" in (r.json or {}).get("message", ""),
             "Property values were not valid", r.json)


def test_whitespace_and_phone(ck, emu):
    r = up(emu, [inp("ws@x.com", hs_lead_status="NEW ")])
    ck.eq("enumeration with trailing space: 400", 400, r.status)
    ck.check("LEADING_TRAILING_WHITESPACE code",
             "LEADING_TRAILING_WHITESPACE" in r.raw, "code", r.raw[:300])
    r = up(emu, [inp("ph@x.com", phone="call me maybe")])
    ck.eq("no phone rule: any text", 200, r.status)
    r = up(emu, [inp("ph@x.com", phone="call me maybe")], token="tok-ph")
    ck.eq("phone rule: 400", 400, r.status)
    ck.eq("phone rule: property named", ["phone"], rejected(r.json))
    r = up(emu, [inp("ph@x.com", phone="+1 (415) 555-0100")], token="tok-ph")
    ck.eq("phone rule: a real number passes", 200, r.status)


def test_traced_upsert_207(ck, emu):
    r = up(emu, [inp("good@x.com", "t-good", company="Good"),
                 inp("bad@x", "t-bad", company="Bad")])
    ck.eq("traced upsert with one bad input: 207", 207, r.status)
    body = r.json or {}
    ck.eq("207: the good input applied", ["good@x.com"],
          [x["properties"].get("email") for x in body.get("results", [])])
    errs = body.get("errors", [])
    ck.eq("207: one error", 1, len(errs))
    ck.eq("207: traced to its input", ["t-bad"],
          errs[0].get("context", {}).get("objectWriteTraceId") if errs else None)
    ck.check("207: INVALID_EMAIL for the bad id", "INVALID_EMAIL" in r.raw,
             "INVALID_EMAIL", r.raw[:400])
    r = up(emu, [inp("good@x.com", company="Good"),
                 inp("bad@x.com", hs_lead_status="NOT_AN_OPTION")])
    ck.eq("untraced: the whole batch fails", 400, r.status)


def test_no_echo_and_shuffle(ck, emu):
    emu.admin("POST", "/_emulator/config", {"upsert_echo": False})
    r = up(emu, [inp("echo@x.com", company="E")])
    res = (r.json or {}).get("results", [{}])
    ck.eq("no echo: 200", 200, r.status)
    ck.eq("no echo: no properties", {}, res[0].get("properties"))
    ck.check("no echo: id still there", bool(res[0].get("id")), "id", res)
    emu.admin("POST", "/_emulator/config", {"upsert_echo": True,
                                            "shuffle_results": True})
    emails = ["s%02d@x.com" % i for i in range(30)]
    orders = set()
    for _ in range(3):
        r = up(emu, [inp(e) for e in emails])
        orders.add(tuple(x["properties"]["email"] for x in r.json["results"]))
    ck.check("shuffled: results not in input order", any(
        list(o) != emails for o in orders), "some order != input", orders)
    emu.admin("POST", "/_emulator/config", {"shuffle_results": False})


def test_secondary_email(ck, emu):
    r = up(emu, [inp("primary@x.com", company="P")])
    pid = r.json["results"][0]["id"]
    emu.admin("POST", "/_emulator/secondary_email",
              {"email": "primary@x.com", "secondary": "Alias@X.com",
               "portal": 6001})
    r = up(emu, [inp("alias@x.com", company="Q")])
    res = (r.json or {}).get("results", [{}])[0]
    ck.eq("secondary: resolves to the primary contact", pid, res.get("id"))
    ck.eq("secondary: not new", False, res.get("new"))
    ck.eq("secondary: echoes the primary email", "primary@x.com",
          res.get("properties", {}).get("email"))


def test_conflict(ck, emu):
    emu.admin("POST", "/_emulator/faults", {"upsert_conflict": 1})
    r = up(emu, [inp("race@x.com", company="R")])
    ck.eq("concurrent create: 409", 409, r.status)
    ck.check("409: classic body", "Contact already exists. Existing ID:"
             in (r.json or {}).get("message", ""), "classic", r.json)
    r = up(emu, [inp("race@x.com", company="R")])
    ck.eq("retry: 200 as an update", 200, r.status)
    ck.eq("retry: not new", False, r.json["results"][0]["new"])
    emu.admin("POST", "/_emulator/faults", {})


def test_search_limits(ck, emu):
    def search(groups):
        return emu.request("POST", C + "/search", {"filterGroups": groups},
                           token="tok-a")
    f = {"propertyName": "email", "operator": "HAS_PROPERTY"}
    ck.eq("10 filters in one group: 200", 200, search([{"filters": [f] * 10}]).status)
    ck.eq("11 filters in one group: 400", 400, search([{"filters": [f] * 11}]).status)
    ck.eq("5 groups, 25 filters: 200", 200,
          search([{"filters": [f] * 5}] * 5).status)
    ck.eq("26 filters in all: 400", 400,
          search([{"filters": [f] * 10}, {"filters": [f] * 10},
                  {"filters": [f] * 6}]).status)
    ck.eq("6 groups: 400", 400, search([{"filters": [f]}] * 6).status)


def test_delete(ck, emu):
    r = up(emu, [inp("gone@x.com", company="G")])
    cid = r.json["results"][0]["id"]
    note = emu.request("POST", "/crm/v3/objects/notes", {
        "properties": {"hs_timestamp": "2025-01-01T00:00:00Z",
                       "hs_note_body": "n"},
        "associations": [{"to": {"id": cid}, "types": [{
            "associationCategory": "HUBSPOT_DEFINED",
            "associationTypeId": 202}]}]}, token="tok-a")
    ck.eq("note created", 201, note.status)
    r = emu.request("DELETE", C + "/" + cid, token="tok-a")
    ck.eq("DELETE contact: 204", 204, r.status)
    ck.eq("deleted: GET 404", 404,
          emu.request("GET", C + "/" + cid, token="tok-a").status)
    st = emu.state()
    ck.check("deleted: no association left", not any(
        a["to_id"] == cid or a["from_id"] == cid for a in st["associations"]),
        "none", st["associations"])
    r = up(emu, [inp("gone@x.com")])
    ck.eq("deleted email can be created again", True,
          r.json["results"][0]["new"])
    nid = note.json["id"]
    ck.eq("DELETE note: 204", 204, emu.request(
        "DELETE", "/crm/v3/objects/notes/" + nid, token="tok-a").status)


def test_time_zone(ck, emu):
    r = emu.request("GET", "/account-info/v3/details", token="tok-la")
    check_common(ck, "account-info", r)
    body = r.json or {}
    ck.eq("account-info: timeZone", "America/Los_Angeles", body.get("timeZone"))
    off = body.get("utcOffsetMilliseconds")
    ck.check("account-info: LA offset is -7h or -8h", off in (-25200000,
             -28800000), "-7h/-8h", off)
    ck.eq("account-info: portalId", 6002, body.get("portalId"))
    r = emu.request("GET", "/account-info/v3/details", token="tok-a")
    ck.eq("default portal: UTC", ("UTC", 0), ((r.json or {}).get("timeZone"),
                                             (r.json or {}).get("utcOffsetMilliseconds")))
    # The daily budget's day is the portal's local day; a DAILY 429's
    # Retry-After runs to local midnight.
    now = int(time.time() * 1000)
    st = {p["portal_id"]: p for p in emu.state()["portals"]}
    ck.eq("portal day follows its time zone", (now + off) // 86400000,
          st[6002]["day"])
    emu.admin("POST", "/_emulator/portals", {"token": "tok-la",
                                             "daily_limit": 5,
                                             "daily_used": 5})
    emu.admin("POST", "/_emulator/config", {"retry_after": True})
    r = emu.request("GET", C, token="tok-la")
    ck.eq("daily exhausted: 429", 429, r.status)
    want = (86400000 - ((now + off) % 86400000)) // 1000
    got = int(r.h("retry-after") or -1)
    ck.check("Retry-After runs to the portal's midnight", abs(got - want) <= 5,
             want, got)
    emu.admin("POST", "/_emulator/config", {"retry_after": False})
    emu.admin("POST", "/_emulator/portals", {"token": "tok-la",
                                             "daily_limit": 625000,
                                             "daily_used": 0})
    bad = emu.request("POST", "/_emulator/portals",
                      {"token": "tok-x", "time_zone": "Mars/Olympus"},
                      token=None)
    ck.eq("unknown time zone refused", 400, bad.status)


def main():
    run_suite("hubspot_emulator_variation", CONFIG, test_length_limit,
              test_whitespace_and_phone, test_traced_upsert_207,
              test_no_echo_and_shuffle, test_secondary_email, test_conflict,
              test_search_limits, test_delete, test_time_zone)


if __name__ == "__main__":
    main()
