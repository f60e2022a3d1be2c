"""Poison in the filter role (docs/filter.md "Poison records"): a held
record whose re-publication is always refused goes to the DLQ with reason
`poison` after worker.poison_attempts, and its partition moves on.

Real stack (dev broker, HubSpot emulator, a worker for the activity and
lead-status events, the filter role). The filter refuses every
re-publication of one event through the test-only hook
LEADSYNC_TEST_FAULTS=filter_publish@<event id>:N. The lead is allowed
first; its next three sends share one lead key, hence one partition of
leadsync.held: the first is the poison record, the two behind it must
sync. Then a category change that is itself poison: the event it would
have released goes to the DLQ with it, and the lead's state still
changes (a later event passes). Ends with `leadsync audit`: 0
acknowledged events without an outcome."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "worker"))
import wutil  # noqa: E402
from filterlib import event  # noqa: E402
from harness import Checks, Stack, SyncLogWatcher, headers_of  # noqa: E402

c = Checks("filter_poison")
TENANT = "demo-filtered"
POISON = "filter-poison-0001"
POISON_CAT = "filter-poison-0002"
LEAD = "poison.lead@filter-poison.example.com"
LEAD_B = "poison.cat@filter-poison.example.com"


def poison_config(cfg):
    cfg["worker"]["poison_attempts"] = 2


with Stack() as st:
    st.broker()
    st.emulator()
    cfg = wutil.fast_config(st, poison_config)
    filt = st.filter(cfg, env={"LEADSYNC_TEST_FAULTS":
                               f"filter_publish@{POISON}:1000,"
                               f"filter_publish@{POISON_CAT}:1000"})
    w = st.worker(cfg, "activity",
                  wutil.GROUPS["activity"] + wutil.GROUPS["leadstatus"])
    watch = SyncLogWatcher(st.bootstrap)
    p = wutil.Producer(st.bootstrap)

    # The lead is allowed (Interested) before its sends reach the filter.
    cat = p.send(event("Interested", LEAD, 1), tenant=TENANT)
    p.flush()
    wutil.wait_for(lambda: watch.last(cat) == "synced", timeout=60,
                   what="the category update synced")
    bad = p.send(event("SENT", LEAD, 2), tenant=TENANT, eid=POISON)
    behind = [p.send(event("SENT", LEAD, n), tenant=TENANT)
              for n in (3, 4)]
    p.flush()
    # Behind a refused record, a batch's other outputs may go out on
    # each attempt: the copies are duplicates (docs/filter.md), so wait
    # for "synced" anywhere, then check it came once.
    wutil.wait_for(lambda: all("synced" in watch.outcomes(i) for i in behind),
                   timeout=60, what="the events behind the poison record")
    c.eq([watch.outcomes(i).count("synced") for i in behind], [1, 1],
         "the events behind the poison record synced once each")

    def poison_dlq():
        return [m for m in wutil.dlq(st, timeout=2.0)
                if headers_of(m).get("ce_id") == bad]
    wutil.wait_for(poison_dlq, timeout=30, what="the poison record's DLQ copy")
    recs = poison_dlq()
    c.eq(len(recs), 1, "one DLQ record for the poison record")
    h = headers_of(recs[0])
    c.eq(h.get("ls_dlq_reason"), "poison", "DLQ reason poison")
    c.eq(h.get("ls_dlq_original_topic"), "leadsync.held",
         "the DLQ copy names leadsync.held as its origin")
    c.eq(h.get("ls_dlq_attempts"), "2", "after worker.poison_attempts (2)")
    c.true("gave up after 2 failed attempts" in
           (h.get("ls_dlq_hubspot_message") or ""),
           "the DLQ copy carries the error", h.get("ls_dlq_hubspot_message"))
    c.eq(json.loads(recs[0].value()).get("to_email"), LEAD,
         "a full copy (small record): the original body")
    c.eq(h.get("ls_dlq_stub"), None, "not a stub")
    c.eq(wutil.engagements_of(st.hubspot_state(), "emails", bad), [],
         "the poison record never reached HubSpot")
    wutil.wait_for(lambda: "dlq" in watch.outcomes(bad), timeout=15,
                   what="the sync_log record of the poison record")
    log = [r for r in watch.by_id.get(bad, []) if r.get("outcome") == "dlq"]
    c.eq([(r.get("reason"), r.get("attempts")) for r in log], [("poison", 2)],
         "sync_log: dlq / poison once, after 2 attempts")
    c.true("synced" not in watch.outcomes(bad), "the poison record not synced",
           watch.outcomes(bad))
    flog = open(filt.log, errors="replace").read()
    c.true("poison record to the DLQ" in flog,
           "the filter logs the poison record")

    # A poisoned category change: the held event it releases goes to the
    # DLQ with it (a rebuild would release it again); the category holds.
    held_b = p.send(event("SENT", LEAD_B, 1), tenant=TENANT)
    p.flush()
    wutil.wait_for(lambda: "held" in watch.outcomes(held_b), timeout=30,
                   what="lead B's first send held")
    p.send(event("Interested", LEAD_B, 2), tenant=TENANT, eid=POISON_CAT)
    p.flush()

    def reasons():
        out = {}
        for m in wutil.dlq(st, timeout=2.0):
            h = headers_of(m)
            if h.get("ce_id") in (POISON_CAT, held_b):
                out.setdefault(h.get("ce_id"), []).append(
                    (h.get("ls_dlq_reason"), h.get("ls_dlq_hubspot_message")))
        return out
    wutil.wait_for(lambda: len(reasons()) == 2, timeout=30,
                   what="the poisoned category change and its release in "
                        "the DLQ")
    got = reasons()
    c.eq([r for r, _ in got.get(POISON_CAT, [])], ["poison"],
         "the poisoned category change: DLQ reason poison")
    c.true([m for r, m in got.get(held_b, []) if r == "poison" and
            "released by a poisoned record" in (m or "")],
           "the event it released: DLQ reason poison", got.get(held_b))
    after_b = p.send(event("SENT", LEAD_B, 3), tenant=TENANT)
    p.flush()
    wutil.wait_for(lambda: watch.last(after_b) == "synced", timeout=30,
                   what="lead B's next send passes (category kept)")
    c.eq(watch.outcomes(after_b).count("synced"), 1,
         "lead B's next send synced once")

    wutil.check_audit(c, cfg)
    watch.close()
c.done()
