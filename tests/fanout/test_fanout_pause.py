"""A fan-out replica paused at max_pending (its endpoint answers 503)
when the group rebalances: the partitions it is assigned again must be
fetched. librdkafka keeps an application's pause across an unassign, and
the replica restarts each assignment unpaused; before the fix the
partitions it kept stayed paused for good and their events were never
delivered."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "filter"))

from filterlib import event  # noqa: E402
from fanoutlib import (Receiver, fanout_stack, one_endpoint,  # noqa: E402
                       pending, start_fanout, wait_caught_up, whsec)
from harness import DEMO_TOKEN, Checks, Stack, http_request, wait_for  # noqa: E402

c = Checks("fanout_pause")
SECRET = whsec(b"pause-test-secret-0123456789abcdef")
MAX_PENDING = 8
LEADS = 150
hold = {"on": True}  # the endpoint answers 503 while on
rx = Receiver(plan=lambda n, path: 503 if hold["on"] else 200)


endpoints = one_endpoint(rx, {"order_window_ms": 50, "max_pending": MAX_PENDING},
                         max_in_flight=2, max_attempts=1000,
                         backoff_base_ms=100, backoff_max_ms=300)


with Stack() as st:
    cfg, base, fo = fanout_stack(st, endpoints, SECRET, partitions=6)
    ids = set()
    for i in range(LEADS):
        status, _, resp = http_request(
            base, "POST", f"/v1/webhooks/smartlead/{DEMO_TOKEN}",
            json.dumps(event("SENT", f"pause{i}@fanout-example.com", 1)),
            {"Content-Type": "application/json"})
        assert status == 200, (status, resp)
        ids.add(json.loads(resp)["event_id"])

    # The endpoint answers 503: the records wait in their retries, the
    # replica holds max_pending of them and pauses its partitions, and
    # stays paused (nothing drains) through the rebalance.
    wait_for(lambda: pending(fo) >= MAX_PENDING, 60, 0.05,
             "the first replica at max_pending (paused)")
    fo2 = start_fanout(st, cfg, name="fanout-second")
    wait_caught_up(fo2, "the second replica owns partitions")
    c.true(open(fo.log).read().count("partitions assigned") >= 2,
           "the first replica was assigned partitions again")
    c.eq(len(set(rx.ids()) & ids), 0, "nothing delivered before the rebalance")
    hold["on"] = False
    try:
        wait_for(lambda: len(set(rx.ids()) & ids) >= len(ids), 90, 0.2,
                 "every event with both replicas running")
    except AssertionError:
        pass
    c.eq(len(ids - set(rx.ids())), 0,
         "no event left behind in a partition paused before the rebalance")
    c.eq(fo2.stop(), 0, "the second replica exits 0 on SIGTERM")
    c.eq(fo.stop(), 0, "the first replica exits 0 on SIGTERM")
    rx.close()
c.done()
