"""Exactly once under bursts (issue 12, finding 1): one EMAIL_SENT body
posted 2, 5 and 50 times to a real ingress, one after the other and all at
once, becomes exactly one HubSpot email per event id; every other copy is
logged `duplicate`; and the count stays put over an observation window
(LS_ONCE_OBSERVE_S, default 60 s: a window in which the count is sampled,
not a synchronisation sleep).

Prints "objects per event id" for each round, the figure the issue measured
(5 posts -> 9 objects, 22 posts -> 132 objects before the fix)."""
import concurrent.futures
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import wutil  # noqa: E402
from harness import (Checks, Stack, SyncLogWatcher, http_request,  # noqa: E402
                     DEMO_TOKEN)

c = Checks("worker_once")
OBSERVE_S = float(os.environ.get("LS_ONCE_OBSERVE_S", "60"))
ROUNDS = [(2, False), (5, False), (50, False), (2, True), (5, True),
          (50, True)]


def post(base, body):
    status, _, resp = http_request(
        base, "POST", f"/v1/webhooks/smartlead/{DEMO_TOKEN}", body,
        {"Content-Type": "application/json"})
    return status, json.loads(resp) if status == 200 else None


def post_round(base, body, n, concurrent):
    if concurrent:
        with concurrent_pool(n) as ex:
            res = list(ex.map(lambda _: post(base, body), range(n)))
    else:
        res = [post(base, body) for _ in range(n)]
    ids = {r[1]["event_id"] for r in res if r[1]}
    return [r[0] for r in res], ids


def concurrent_pool(n):
    return concurrent.futures.ThreadPoolExecutor(max_workers=min(n, 50))


def emails_by_id(st):
    out = {}
    for o in wutil.objects(st.hubspot_state(), "emails"):
        eid = wutil.props(o).get("leadsync_event_id")
        out[eid] = out.get(eid, 0) + 1
    return out


with Stack() as st:
    st.broker()
    st.emulator()
    cfg = wutil.fast_config(st, search_settle_ms=300)
    base = st.ingress(cfg)
    w = st.worker(cfg, "activity", wutil.GROUPS["activity"])
    watch = SyncLogWatcher(st.bootstrap)
    pl = wutil.payloads()
    rounds = []
    for k, (n, conc) in enumerate(ROUNDS):
        body = wutil.variant(pl["EMAIL_SENT"], 70000 + k)
        statuses, ids = post_round(base, body, n, conc)
        what = f"{n} posts {'at once' if conc else 'in a row'}"
        c.eq(statuses, [200] * n, f"{what}: every post answered 200")
        c.eq(len(ids), 1, f"{what}: one event id for one body")
        rounds.append((what, n, next(iter(ids)) if ids else None))

    def all_logged():
        return all(eid and len(watch.outcomes(eid)) >= n
                   for _, n, eid in rounds)
    wutil.wait_for(all_logged, timeout=90, what="a sync_log record per copy")
    for what, n, eid in rounds:
        outs = watch.outcomes(eid)
        c.eq(sorted(outs).count("synced"), 1, f"{what}: synced once")
        c.eq(len(outs) - outs.count("synced"), n - 1,
             f"{what}: the other copies logged duplicate")
        c.true(all(o in ("synced", "duplicate") for o in outs),
               f"{what}: only synced / duplicate outcomes", outs)

    # Observation window: the count is sampled until it has stayed put for
    # OBSERVE_S (a create loop shows as growth within a few seconds).
    counts = emails_by_id(st)
    t0 = time.monotonic()
    while time.monotonic() - t0 < OBSERVE_S:
        time.sleep(2)
        now = emails_by_id(st)
        if any(now.get(eid) != counts.get(eid) for _, _, eid in rounds):
            c.true(False, "the email count changed during the window",
                   {eid: (counts.get(eid), now.get(eid))
                    for _, _, eid in rounds})
            counts = now
            break
    for what, n, eid in rounds:
        print(f"{what}: {counts.get(eid, 0)} email object(s) for the event",
              flush=True)
        c.eq(counts.get(eid, 0), 1,
             f"{what}: exactly one email engagement after {OBSERVE_S:.0f} s")
    c.eq(len(wutil.dlq(st)), 0, "nothing in the DLQ")
    watch.close()
    w.stop()
    c.eq(w.p.returncode, 0, "worker exits 0 on SIGTERM")
c.done()
