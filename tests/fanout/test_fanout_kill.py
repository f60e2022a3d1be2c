"""SIGKILL of leadsync-fanout in the middle of deliveries: after a restart
every event reaches the receiver (nothing lost), each lead's first
deliveries keep their order, and the duplicates at-least-once allows are
counted and reported (the receiver de-duplicates by webhook-id). Then a
second replica joins and the first leaves with SIGTERM while deliveries
are in flight: two rebalances, nothing lost, both exit 0 (ASan clean)."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "filter"))

from filterlib import event  # noqa: E402
from fanoutlib import (Receiver, fanout_stack, one_endpoint,  # noqa: E402
                       start_fanout, verify, wait_caught_up, whsec)
from harness import DEMO_TOKEN, Checks, Stack, http_request, wait_for  # noqa: E402

c = Checks("fanout_kill")
SECRET = whsec(b"kill-test-secret-0123456789abcdef")
LEADS = 60
KINDS = ["SENT", "OPEN", "CLICK", "REPLY", "Interested"]
rx = Receiver(delay_s=0.02)


endpoints = one_endpoint(rx, {"order_window_ms": 100}, max_in_flight=4)


with Stack() as st:
    cfg, base, fo = fanout_stack(st, endpoints, SECRET)

    def post_batch(tag):
        """LEADS leads x KINDS, interleaved: {lead: [event ids in order]}."""
        order = {}
        for step, kind in enumerate(KINDS, start=1):
            for i in range(LEADS):
                lead = f"{tag}{i}@fanout-example.com"
                status, _, resp = http_request(
                    base, "POST", f"/v1/webhooks/smartlead/{DEMO_TOKEN}",
                    json.dumps(event(kind, lead, step)),
                    {"Content-Type": "application/json"})
                assert status == 200, (status, resp)
                order.setdefault(lead, []).append(
                    json.loads(resp)["event_id"])
        return order

    order = post_batch("kill")
    ids = {i for v in order.values() for i in v}
    n = len(ids)

    wait_for(lambda: len(rx.ok()) >= n // 3, 60, 0.02,
             "a third of the deliveries")
    fo.kill()
    at_kill = len(set(rx.ids()))
    c.true(0 < at_kill < n, "killed in the middle of deliveries",
           f"{at_kill} of {n}")

    fo2 = start_fanout(st, cfg, name="fanout-restarted")
    try:
        wait_for(lambda: len(set(rx.ids()) & ids) >= n, 120, 0.2,
                 "every event after the restart")
    except AssertionError:
        pass
    got = rx.ids()
    c.eq(len(set(got) & ids), n, "nothing lost across SIGKILL")
    c.eq(set(got) - ids, set(), "nothing unexpected delivered")
    dups = len(got) - len(set(got))
    for lead, want in order.items():
        first = list(dict.fromkeys(i for i in got if i in set(want)))
        if not c.eq(first, want, f"{lead}: first deliveries in order"):
            break
    c.true(all(verify(SECRET, r["headers"], r["body"]) for r in rx.ok()),
           "every delivery is signed")
    print(f"fanout_kill: {n} events, {at_kill} delivered before SIGKILL, "
          f"{dups} duplicate deliveries after the restart", flush=True)
    c.true(dups <= at_kill + 4 * 2,
           "duplicates bounded by what was delivered before the kill",
           f"{dups} duplicates")

    # Rebalances: a second replica joins mid-batch, then the first leaves
    # (SIGTERM drains its requests in flight) mid-batch.
    before = len(rx.ok())
    order2 = post_batch("rebal")
    ids2 = {i for v in order2.values() for i in v}
    wait_for(lambda: len(rx.ok()) >= before + len(ids2) // 4, 60, 0.02,
             "deliveries of the second batch under way")
    fo3 = start_fanout(st, cfg, name="fanout-second")
    wait_caught_up(fo3, "the second replica owns partitions")
    rc = fo2.stop()
    c.eq(rc, 0, "the first replica drains and exits 0 on SIGTERM")
    try:
        wait_for(lambda: len(set(rx.ids()) & ids2) >= len(ids2), 120, 0.2,
                 "every event of the second batch")
    except AssertionError:
        pass
    got2 = [i for i in rx.ids() if i in ids2]
    c.eq(len(set(got2)), len(ids2), "nothing lost across two rebalances")
    print(f"fanout_kill: rebalances: {len(ids2)} events, "
          f"{len(got2) - len(set(got2))} duplicate deliveries", flush=True)
    c.eq(fo3.stop(), 0, "the second replica exits 0 on SIGTERM")
    rx.close()
c.done()
