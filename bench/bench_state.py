"""make bench part `state`, the worker's half: how the worker's start time
and memory depend on the ledger's history (docs/bench.md section 9a).

For each size in STATE_RECORDS (0, 100,000 and 1,000,000 by default) a fresh
dev broker gets that many ledger records of the group `state`, written the
way the worker writes them (docs/kafka-contract.md: key `<group>:<event id>`,
header `ls_state`, the partition of the source record), then one worker of
that group (every event type) starts and the part records:

- ready_s: the worker's own start time: from spawn to its ready file, plus
  the time from the assignment to the last assigned partition restored
  (the consumer group's join, which the dev broker delays by the session
  timeout, is left out: it is the same at any history);
- rss_idle_mib: VmRSS once restored and idle (after 2 s);
- rss_peak_mib: VmHWM then (the restore's peak);
- cpu_s: the worker's CPU (all threads) from spawn to ready, and load_avg,
  the 1-minute load average then: on a shared machine the wall time
  follows the load, the CPU much less.

BENCH_STATE_FORMAT=legacy writes the layout of before issue 14 (one record
per event id on any partition, no header), so the old worker can be
measured with the same part (the closing note's "before" column).
"""
import json
import os
import sys
import time
import uuid

STATE_GROUP = "state"
# Records per ledger batch in the fill: about what the 50 ms time-cut
# batches held when the fill ran on a quiet machine (a worker's flush of
# 1,000 events writes about 30 to each of 32 ledger partitions; a real
# broker returns many batches per fetch, the dev broker one).
FILL_BATCH = int(os.environ.get("BENCH_STATE_FILL_BATCH", "100"))


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def ledger_value(eid, n):
    return json.dumps({
        "event_id": eid, "tenant": "demo", "event_type": "EMAIL_SENT",
        "state": "synced", "contact_id": str(100000 + n % 50000),
        "objects": [{"type": "emails", "id": str(9000000 + n)}],
        "at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())},
        separators=(",", ":")).encode()


def fill_ledger(bootstrap, n, partitions, legacy):
    """Writes n synced ledger records; returns the records the broker kept
    (the dev broker drops the oldest past ~5 MB per partition)."""
    from confluent_kafka import Producer, Consumer, TopicPartition
    # Batches of exactly FILL_BATCH records per partition (cut by count,
    # never by time): the dev broker serves one batch per partition per
    # fetch and finds it by scanning the partition's batches, so a restore
    # costs with the number of batches; with a time-cut batch it followed
    # the speed of the fill, i.e. the machine's load (docs/bench.md 9a).
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5000,
                  "batch.num.messages": FILL_BATCH,
                  "batch.size": 1000000, "compression.type": "zstd",
                  "queue.buffering.max.messages": 1000000,
                  "queue.buffering.max.kbytes": 1048576, "log_level": 3})
    for i in range(n):
        eid = uuid.uuid4().hex
        val = ledger_value(eid, i)
        while True:
            try:
                if legacy:
                    p.produce("leadsync.ledger", val, eid.encode())
                else:
                    p.produce("leadsync.ledger", val,
                              f"{STATE_GROUP}:{eid}".encode(),
                              partition=i % partitions,
                              headers=[("ls_state", b"synced")])
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(120)
    if left:
        raise RuntimeError(f"state: {left} ledger records not delivered")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "state-wm",
                  "log_level": 3})
    try:
        kept = 0
        for k in range(partitions):
            lo, hi = c.get_watermark_offsets(
                TopicPartition("leadsync.ledger", k), timeout=10)
            kept += hi - lo
        return kept
    finally:
        c.close()


def proc_cpu_seconds(pid):
    """utime + stime of a process (all its threads) in seconds, None when it
    is gone: the restore's CPU, which a shared machine's load stretches
    less than its wall time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def log_lines(path):
    try:
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue
    except OSError:
        return


def restore_seconds(proc):
    """Seconds from the assignment to the last assigned partition restored,
    from the worker's log; None while not done. The old worker read its
    ledger before subscribing and again (catch_up) in the assignment:
    `ledger_ms` of its "partitions assigned" line."""
    assigned = False
    restored = None
    legacy_ms = None
    for j in log_lines(proc.log):
        msg = j.get("msg")
        if msg == "partitions assigned":
            assigned = True
            if "ledger_ms" in j:
                legacy_ms = j["ledger_ms"]
        elif msg == "ledger restored" and j.get("pending") == 0:
            restored = j.get("assign_ms")
    if restored is not None:
        return restored / 1000.0
    if assigned and legacy_ms is not None:
        return legacy_ms / 1000.0
    return None


def part_state_ledger(b, res, proc_status):
    s = b.sizes
    h = b.h
    legacy = os.environ.get("BENCH_STATE_FORMAT", "") == "legacy"
    top = int(s["state_records"])
    sizes = [0, top // 10, top]
    rows = []
    for n in sizes:
        with b.stack(s["state_partitions"]) as st:
            st.broker(partitions=st.partitions)
            st.emulator()
            cfg_path = b.config(st)
            t = time.monotonic()
            kept = fill_ledger(st.bootstrap, n, st.partitions, legacy) \
                if n else 0
            log(f"state: {n:,} ledger records written in "
                  f"{time.monotonic() - t:.1f} s, {kept:,} kept")
            if kept < n:
                b.notes.append(f"state: the dev broker kept {kept:,} of "
                               f"{n:,} ledger records (~5 MB per partition;"
                               f" raise BENCH_STATE_PARTITIONS)")
            t0 = time.monotonic()
            w = st.worker(cfg_path, STATE_GROUP, h.ALL_EVENTS,
                          extra_args=["--no-setup"])
            start_s = time.monotonic() - t0
            rs = h.wait_for(lambda: (not w.alive() and -1)
                            or restore_seconds(w), timeout=600,
                            interval=0.2, what="the worker's restore")
            if rs == -1:
                raise RuntimeError(f"the state worker died:\n{w.tail()}")
            cpu_s = proc_cpu_seconds(w.pid)
            time.sleep(2.0)
            row = {"records": n, "records_kept": kept,
                   "ready_s": start_s + rs, "start_s": start_s,
                   "restore_s": rs, "cpu_s": cpu_s,
                   "load_avg": round(os.getloadavg()[0], 2),
                   "rss_idle_mib": proc_status(w.pid, "VmRSS"),
                   "rss_peak_mib": proc_status(w.pid, "VmHWM")}
            log(f"state: {row}")
            rows.append(row)
            w.stop()
    res.setdefault("state", {})["ledger"] = rows
    res["state"]["ledger_format"] = "legacy" if legacy else "partitioned"
    res["state"]["ledger_partitions"] = s["state_partitions"]
    big = [r for r in rows if r["records"] > 0]
    zero = [r for r in rows if r["records"] == 0]
    if big and zero and big[-1]["rss_idle_mib"] is not None:
        r = big[-1]
        res["state"]["ledger_bytes_per_record"] = (
            (r["rss_idle_mib"] - zero[0]["rss_idle_mib"]) * 2**20
            / max(1, r["records_kept"]))


def state_rows(res, add, table, targets):
    """The table rows of state.ledger (add and the rows as in
    bench.build_rows)."""
    st = res.get("state", {})
    rows = st.get("ledger", [])
    top = max((r["records"] for r in rows), default=0)
    for r in rows:
        n = r["records"]
        big = n == top  # the targets are for 1,000,000 (a full run)
        add("state", f"worker ready s, {n:,} ledger records",
            r.get("ready_s"), "{:.2f}",
            f"<= {targets['state_ready_s']:.0f}" if big else None,
            (lambda v: v <= targets["state_ready_s"]) if big else None,
            "state_ready_s" if big else None)
        add("state", f"worker CPU s to ready, {n:,} records",
            r.get("cpu_s"), "{:.2f}")
        add("state", f"worker RSS idle / peak MiB, {n:,} records",
            r.get("rss_peak_mib"), "{:.1f}",
            f"<= {targets['state_rss_mib']:.0f}" if big else None,
            (lambda v: v <= targets["state_rss_mib"]) if big else None,
            "state_rss_mib" if big else None)
        fmt = "{:.1f}"
        table[-1]["text"] = (
            ("n/a" if r.get("rss_idle_mib") is None
             else fmt.format(r["rss_idle_mib"])) + " / "
            + ("n/a" if r.get("rss_peak_mib") is None
               else fmt.format(r["rss_peak_mib"])))
    if "ledger_bytes_per_record" in st:
        add("state", "worker marginal bytes per ledger record",
            st["ledger_bytes_per_record"], "{:.1f}")


def ab_main(argv):
    """bench_state.py RECORDS ROUNDS BUILD_DIR...: one dev broker filled
    once with RECORDS ledger records, then a worker of each build dir
    started in turn, ROUNDS times (A/B on a shared machine: same history,
    interleaved). Prints ready s, worker CPU s, RSS idle / peak MiB and the
    load average per run."""
    if len(argv) < 3:
        print(ab_main.__doc__, file=sys.stderr)
        return 2
    n, rounds = int(argv[0]), int(argv[1])
    dirs = [os.path.abspath(d) for d in argv[2:]]
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ["LS_BUILD_DIR"] = dirs[0]
    sys.path.insert(0, os.path.join(here, "..", "tests", "lib"))
    import harness
    from bench import proc_status
    st = harness.Stack()
    try:
        parts = int(os.environ.get("BENCH_STATE_PARTITIONS", "32"))
        st.broker(partitions=parts)
        st.emulator()

        def mutate(cfg):
            cfg["kafka"]["partitions"] = parts
        cfg = st.config(mutate)
        t = time.monotonic()
        kept = fill_ledger(st.bootstrap, n, parts, False)
        log(f"state ab: {kept:,} records kept, filled in "
            f"{time.monotonic() - t:.1f} s, batches of {FILL_BATCH}")
        for r in range(rounds):
            for d in dirs:
                harness.BUILD = d
                t0 = time.monotonic()
                w = st.worker(cfg, STATE_GROUP, harness.ALL_EVENTS,
                              extra_args=["--no-setup"])
                start_s = time.monotonic() - t0
                rs = harness.wait_for(
                    lambda: (not w.alive() and -1) or restore_seconds(w),
                    timeout=600, interval=0.1, what="the worker's restore")
                if rs == -1:
                    raise RuntimeError(f"the worker died:\n{w.tail()}")
                cpu = proc_cpu_seconds(w.pid)
                time.sleep(1.0)
                print(json.dumps({
                    "round": r, "build_dir": d, "records": n,
                    "ready_s": round(start_s + rs, 2), "cpu_s": cpu,
                    "rss_idle_mib": proc_status(w.pid, "VmRSS"),
                    "rss_peak_mib": proc_status(w.pid, "VmHWM"),
                    "load_avg": round(os.getloadavg()[0], 1)}), flush=True)
                w.stop()
    finally:
        st.close()
    return 0


if __name__ == "__main__":
    sys.exit(ab_main(sys.argv[1:]))
