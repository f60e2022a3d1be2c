"""make bench part `state` (filter half): the filter role's resident memory
with 0, 10,000 and 100,000 held leads (docs/bench.md, docs/filter.md).

One stack: the dev broker with many partitions (the mock keeps only about
5 MB per partition, so 100,000 held records of ~0.5 KB with their headers
need spread), one filter (`leadsync-worker --role filter`). Held records are
produced straight to `leadsync.held` as a worker group forwards them: one
small synthetic EMAIL_SENT per lead (about 200 bytes) of the filtered demo
tenant, no category, so every one is held. After each step the filter must
report every record held (`leadsync_filter_held`) and its VmRSS must stop
growing; the figure is that VmRSS. At the end the filter is SIGKILLed and
started again: filter_restore_s is the restore itself (the sum of its
"partition restored" log lines), filter_back_s the time from the SIGKILL
until it holds every lead again (start, the group's rejoin, which the dev
broker delays by the dead member's session timeout, and the restore).

Restore against history (`restore` mode, and the part's `filter_restore`
rows): a fresh stack where the filter first decides HISTORY records of
leadsync.held that are released already (leads of EVENTS_PER_LEAD - 1
held EMAIL_SENT each, then an Interested LEAD_CATEGORY_UPDATED that
releases them), then holds HELD new leads; once its group committed
everything, it is SIGKILLed and started again. The restore's time and
what it read come from its "partition restored" log lines: with
checkpoints (docs/filter.md) it reads the newest snapshot and the held
records after it; before them it replayed leadsync.held from its
beginning, so its time grew with HISTORY.

Also runnable alone against any build directory, for before/after figures:

    /usr/bin/python3 bench/state_filter.py BUILD_DIR [N1,N2,...]
    /usr/bin/python3 bench/state_filter.py BUILD_DIR restore HELD:HISTORY,...
"""
import hashlib
import json
import os
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TENANT = "demo-filtered"

# name: (full, quick); bench.py merges these into its SIZES. Held leads run
# at 0, a tenth and all of state_filter_leads; ~0.65 KB per held record with
# headers, so 100,000 need 48 partitions of the dev broker's ~5 MB each.
SIZES = {
    "state_filter_leads":      (100000, 5000),
    "state_filter_partitions": (48,     6),
    "state_filter_history":    (100000, 5000),
}
TARGETS = {"state_filter_rss_mib": 64.0}


def _metric(url, name):
    """Sum of a family's samples on /metrics (None while unreachable)."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


def _rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def _settled_rss(pid, log, rounds=4, interval=1.0, limit=60.0):
    """VmRSS once it stopped growing for `rounds` samples in a row."""
    last, same, best = None, 0, 0.0
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = _rss_mib(pid)
        if v is None:
            raise RuntimeError("the filter exited while measured")
        best = max(best, v)
        same = same + 1 if last is not None and v <= last + 0.25 else 0
        if same >= rounds:
            break
        last = v
        time.sleep(interval)
    return best


def _body(i):
    return json.dumps({
        "event_type": "EMAIL_SENT", "to_email": f"s{i:07d}@state.example",
        "campaign_id": 4242, "stats_id": f"st-{i}",
        "event_timestamp": "2026-01-05T10:00:00.000Z",
        "subject": "hello", "sent_message": {"text": "short body"}},
        separators=(",", ":")).encode()


def _produce(bootstrap, start, n, per_lead=1, campaign=4242):
    """n held EMAIL_SENT records from lead `start` on, per_lead per lead."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                  "compression.type": "lz4", "enable.idempotence": True})
    for j in range(n):
        lead = start + j // per_lead
        i = campaign * 10**8 + start * per_lead + j
        # A 32-hex id: the filter keeps its first 64 bits, so they vary.
        eid = hashlib.md5(f"{i}".encode()).hexdigest()
        hdrs = [("ce_id", eid.encode()),
                ("ce_tenant", TENANT.encode()),
                ("ce_type", b"ai.smartlead.email_sent"),
                ("ce_time", b"2026-01-05T10:00:00.000000Z"),
                ("ls_original_topic", b"smartlead.email_sent")]
        key = f"{TENANT}:{campaign}:s{lead:07d}@state.example"
        while True:
            try:
                p.produce("leadsync.held", _body(lead), key, headers=hdrs)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(300):
        raise RuntimeError("held records not acknowledged by the broker")


def _produce_categories(bootstrap, leads, campaign):
    """An Interested LEAD_CATEGORY_UPDATED for leads 0..leads-1: releases
    what they hold."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                  "compression.type": "lz4", "enable.idempotence": True})
    for lead in range(leads):
        email = f"s{lead:07d}@state.example"
        body = json.dumps({
            "event_type": "LEAD_CATEGORY_UPDATED", "to_email": email,
            "lead_email": email, "campaign_id": campaign,
            "lead_category": {"old_id": None, "old_name": None, "new_id": 1,
                              "new_name": "Interested"},
            "event_timestamp": "2026-02-01T10:00:00.000Z"},
            separators=(",", ":")).encode()
        hdrs = [("ce_id", hashlib.md5(f"c{campaign}:{lead}".encode())
                 .hexdigest().encode()),
                ("ce_tenant", TENANT.encode()),
                ("ce_type", b"ai.smartlead.lead_category_updated"),
                ("ce_time", b"2026-02-01T10:00:00.000000Z"),
                ("ls_original_topic", b"smartlead.lead_category_updated")]
        while True:
            try:
                p.produce("leadsync.held", body, f"{TENANT}:{campaign}:{email}",
                          headers=hdrs)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(300):
        raise RuntimeError("category records not acknowledged by the broker")


def _restore_log(path):
    """Sums over the "partition restored" lines: seconds, held records
    replayed, snapshot records read, partitions from a snapshot."""
    out = {"restore_s": 0.0, "held_records": 0, "snapshot_records": 0,
           "from_snapshot": 0, "partitions": 0}
    with open(path, errors="replace") as fh:
        for line in fh:
            if 'partition restored"' not in line:
                continue
            j = json.loads(line)
            out["restore_s"] += j.get("seconds", 0.0)
            out["partitions"] += 1
            # Before checkpoints the line had no held_records: it replayed
            # leadsync.held from its first offset to replayed_to.
            out["held_records"] += j.get("held_records",
                                         j.get("replayed_to", 0))
            out["snapshot_records"] += j.get("snapshot_records", 0)
            out["from_snapshot"] += j.get("from") == "snapshot"
    out["restore_s"] = round(out["restore_s"], 3)
    return out


def measure_restore(harness, held, history, partitions, log,
                    events_per_lead=10):
    """The filter's restore after a SIGKILL with `held` leads held now and
    `history` records of leadsync.held decided and released before:
    {held_leads, history_records, restore_s, back_s, held_records,
    snapshot_records, from_snapshot}."""
    hist_leads = history // events_per_lead
    with harness.Stack() as st:
        st.broker(partitions=partitions)

        def mutate(cfg):
            cfg["kafka"]["partitions"] = partitions
            cfg["worker"]["held_max_age_days"] = 3650
        cfg = st.config(mutate)
        f = st.filter(cfg)
        harness.wait_for(
            lambda: _metric(f.url, "leadsync_worker_consumer_lag") is not None,
            120, 0.2, "filter assigned")
        if hist_leads:
            log(f"state: filter history of {history:,} records "
                f"({hist_leads:,} leads released)")
            _produce(st.bootstrap, 0, hist_leads * (events_per_lead - 1),
                     per_lead=events_per_lead - 1, campaign=4141)
            _produce_categories(st.bootstrap, hist_leads, 4141)
            want = hist_leads * (events_per_lead - 1)
            harness.wait_for(
                lambda: (_metric(f.url, "leadsync_filter_outcomes_total")
                         or 0) >= 2 * want
                and _metric(f.url, "leadsync_filter_held") == 0,
                1800, 1.0, "history held and released")
        if held:
            _produce(st.bootstrap, 0, held)
            harness.wait_for(
                lambda: (_metric(f.url, "leadsync_filter_held") or 0) >= held,
                900, 0.5, f"{held} leads held")
        harness.wait_for(lambda: harness.committed_to_end(st.bootstrap,
                                                          partitions),
                         300, 1.0, "the filter committed everything")
        f.kill()
        t0 = time.monotonic()
        f = st.filter(cfg)
        harness.wait_for(
            lambda: _metric(f.url, "leadsync_filter_held") == held
            and _metric(f.url, "leadsync_worker_consumer_lag") is not None,
            900, 0.1, "held leads restored")
        back_s = round(time.monotonic() - t0, 2)
        harness.wait_for(lambda: _restore_log(f.log)["partitions"]
                         >= partitions, 60, 0.2, "every partition restored")
        r = _restore_log(f.log)
        row = {"held_leads": held, "history_records": history,
               "restore_s": r["restore_s"], "back_s": back_s,
               "held_records": r["held_records"],
               "snapshot_records": r["snapshot_records"],
               "from_snapshot": r["from_snapshot"]}
        log(f"state: filter restore with {held:,} held, {history:,} history: "
            f"{r['restore_s']} s, {r['held_records']:,} held records "
            f"replayed, {r['snapshot_records']:,} snapshot records, "
            f"{r['from_snapshot']}/{partitions} partitions from a snapshot")
        return row


def measure(harness, sizes_held, partitions, log, max_age_days=3650,
            quick=False):
    """[{held_leads, rss_mib}] for each count in sizes_held (increasing),
    and the restore time in seconds of the largest. quick: RSS counts as
    settled after 2 flat samples 0.3 s apart (the smoke test)."""
    rows = []
    restore_s = back_s = None
    with harness.Stack() as st:
        st.broker(partitions=partitions)

        def mutate(cfg):
            cfg["kafka"]["partitions"] = partitions
            # The synthetic events are dated 2026-01-05: keep them held.
            cfg["worker"]["held_max_age_days"] = max_age_days
        cfg = st.config(mutate)
        f = st.filter(cfg)

        def assigned():
            lag = _metric(f.url, "leadsync_worker_consumer_lag")
            return lag is not None
        harness.wait_for(assigned, 120, 0.2, "filter assigned")
        done = 0
        for n in sizes_held:
            if n > done:
                log(f"state: holding {n:,} leads in the filter")
                _produce(st.bootstrap, done, n - done)
                done = n

                def held_all():
                    v = _metric(f.url, "leadsync_filter_held")
                    return v is not None and v >= n
                harness.wait_for(held_all, 900, 0.5, f"{n} leads held")
            rss = (_settled_rss(f.pid, log, rounds=2, interval=0.3)
                   if quick else _settled_rss(f.pid, log))
            log(f"state: filter RSS {rss:.1f} MiB with {n:,} held leads")
            rows.append({"held_leads": n, "rss_mib": round(rss, 1)})
        if done:
            f.kill()
            t0 = time.monotonic()
            f = st.filter(cfg)

            def restored():
                v = _metric(f.url, "leadsync_filter_held")
                return v is not None and v >= done
            harness.wait_for(restored, 900, 0.2, "held leads restored")
            back_s = time.monotonic() - t0
            # The restore itself: the partitions' "partition restored" log
            # lines (restored one after the other in the assignment); the
            # rest of back_s is the start and the group's rejoin, which the
            # dev broker delays by the dead member's session timeout.
            restore_s = 0.0
            with open(f.log, errors="replace") as fh:
                for line in fh:
                    if 'partition restored"' in line:
                        restore_s += json.loads(line).get("seconds", 0.0)
            restore_s = round(restore_s, 2) if restore_s else None
            back_s = round(back_s, 2)
            log(f"state: filter restored {done:,} held leads in "
                f"{restore_s} s ({back_s:.1f} s from SIGKILL to all held "
                f"again)")
    return rows, restore_s, back_s


def part_state_filter(b, res):
    """bench.py's hook: sizes state_filter_leads (runs 0, 1/10, all) and
    state_filter_partitions; writes res["state"]["filter"]."""
    top = int(b.sizes["state_filter_leads"])
    parts = int(b.sizes["state_filter_partitions"])
    sizes = sorted({0, top // 10, top})
    rows, restore, back = measure(b.h, sizes, parts, _log,
                                  quick=bool(res.get("quick")))
    st = res.setdefault("state", {})
    st["filter"] = rows
    st["filter_partitions"] = parts
    if restore is not None:
        st["filter_restore_s"] = restore
    if back is not None:
        st["filter_back_s"] = back
    if len(rows) > 1 and rows[-1]["held_leads"]:
        st["filter_bytes_per_held_lead"] = round(
            (rows[-1]["rss_mib"] - rows[0]["rss_mib"]) * 2**20
            / rows[-1]["held_leads"], 1)
    # The restore against history: 1,000 held leads (a tenth of that in a
    # quick run) with no history and with state_filter_history records
    # released before (a quick run: only the latter).
    hist = int(b.sizes["state_filter_history"])
    held = max(1, top // 100)
    runs = (hist,) if res.get("quick") else (0, hist)
    st["filter_restore"] = [
        measure_restore(b.h, held, h, parts, _log) for h in runs]


def add_rows(res, add, get, num, rows):
    """The table rows of state.filter (add, get, num and rows as in
    bench.build_rows); the target is for the largest run (100,000 in a
    full run)."""
    st = res.get("state", {})
    runs = st.get("filter", [])
    top = max((r["held_leads"] for r in runs), default=0)
    t = TARGETS["state_filter_rss_mib"]
    for r in runs:
        n = r["held_leads"]
        big = n == top
        add("state", f"filter RSS MiB, {n:,} held leads", r.get("rss_mib"),
            "{:.1f}", f"<= {t:.0f}" if big else None,
            (lambda v: v <= t) if big else None,
            "state_filter_rss_mib" if big else None)
    if not runs:
        add("state", "filter RSS MiB, held leads", None, "{}",
            f"<= {t:.0f}", lambda v: v <= t, "state_filter_rss_mib")
    if "filter_bytes_per_held_lead" in st:
        add("state", "filter marginal bytes per held lead (RSS)",
            st["filter_bytes_per_held_lead"], "{:,.0f}")
    if "filter_restore_s" in st:
        add("state", f"filter restore s, {top:,} held leads",
            st["filter_restore_s"], "{:.2f}")
    if "filter_back_s" in st:
        add("state", "filter SIGKILL to all held again s (incl. rejoin)",
            st["filter_back_s"], "{:.1f}")
    for r in st.get("filter_restore", []):
        add("state", f"filter restore s, {r['held_leads']:,} held, "
            f"{r['history_records']:,} released before", r.get("restore_s"),
            "{:.2f}")
        add("state", f"filter restore held records replayed, "
            f"{r['held_leads']:,} held, {r['history_records']:,} released "
            "before", r.get("held_records"), "{:,}")


def _log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                            else os.path.join(ROOT, "build-release"))
    sizes = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2
                              and sys.argv[2] != "restore"
                              else "0,10000,100000").split(",")]
    os.environ["LS_BUILD_DIR"] = build
    sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
    import harness
    parts = int(os.environ.get("BENCH_STATE_FILTER_PARTITIONS", "48"))
    if len(sys.argv) > 2 and sys.argv[2] == "restore":
        runs = (sys.argv[3] if len(sys.argv) > 3
                else "1000:0,1000:100000").split(",")
        rows = []
        for run in runs:
            held, hist = (int(x) for x in run.split(":"))
            rows.append(measure_restore(harness, held, hist, parts, _log))
        print(json.dumps({"filter_restore": rows}))
        return 0
    rows, restore, back = measure(harness, sizes, parts, _log)
    print(json.dumps({"filter": rows, "filter_restore_s": restore,
                      "filter_back_s": back}))


if __name__ == "__main__":
    sys.exit(main())
