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

Also runnable alone against any build directory, for before/after figures:

    /usr/bin/python3 bench/state_filter.py BUILD_DIR [N1,N2,...]
"""
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


def _produce(bootstrap, start, n):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                  "compression.type": "lz4", "enable.idempotence": True})
    for i in range(start, start + n):
        hdrs = [("ce_id", f"{i + 1:032x}".encode()),
                ("ce_tenant", TENANT.encode()),
                ("ce_type", b"ai.smartlead.email_sent"),
                ("ce_time", b"2026-01-05T10:00:00.000000Z"),
                ("ls_original_topic", b"smartlead.email_sent")]
        key = f"{TENANT}:4242:s{i:07d}@state.example"
        while True:
            try:
                p.produce("leadsync.held", _body(i), key, headers=hdrs)
                break
            except BufferError:
                p.poll(0.05)
    if p.flush(300):
        raise RuntimeError("held records not acknowledged by the broker")


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


def _log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                            else os.path.join(ROOT, "build-release"))
    sizes = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2
                              else "0,10000,100000").split(",")]
    os.environ["LS_BUILD_DIR"] = build
    sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
    import harness
    parts = int(os.environ.get("BENCH_STATE_FILTER_PARTITIONS", "48"))
    rows, restore, back = measure(harness, sizes, parts, _log)
    print(json.dumps({"filter": rows, "filter_restore_s": restore,
                      "filter_back_s": back}))


if __name__ == "__main__":
    sys.exit(main())
