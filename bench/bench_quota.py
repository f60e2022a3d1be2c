"""make bench parts `priority` and `portals` (docs/bench.md sections 7, 8):
the work-conserving portal quota measured where agencies live with it.

priority: the activity group syncs a backlog at one portal's ceiling while
    replies arrive at a steady 5/s to the replies group (separate worker
    processes sharing the portal): reply end-to-end p50/p99 and the
    activity group's events/s as a fraction of its ceiling.
portals:  20 tenants, each with its own portal at the professional tier,
    backlogs in all, one worker: aggregate events/s as a fraction of the
    summed ceilings, the worst and best portal's fraction (fairness), calls
    per 1,000 events, requests into an exhausted window, and where the CPU
    went (utime+stime of each process over the run).

Called by bench.py with its Bench object and module (bm) for the shared
helpers; nothing here asserts anything.
"""
import copy
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time

# name: (full, quick); bench.py merges these into its SIZES.
SIZES = {
    "priority_backlog":      (40000, 1500),
    "priority_reply_rate":   (5,     5),
    "priority_reply_seconds": (30,   4),
    "priority_warmup_s":     (11,    11),    # past the first rate window
    # worker.priority_linger_ms of the replies group; -1: the config's
    # default (A/B: BENCH_PRIORITY_LINGER_MS=200 is the batch linger).
    "priority_linger_ms":    (-1,    -1),
    # worker.flush_max and worker.ratelimit_reserve of both groups for
    # A/B runs (docs/bench.md "The activity group against the room the
    # replies leave"); -1: the config's default.
    "priority_flush_max":    (-1,    -1),
    "priority_reserve":      (-1,    -1),
    "portals_tenants":       (20,    3),
    "portals_events":        (2000,  60),    # per tenant
    "portals_in_flight":     (48,    16),
    # worker.flush_max: the default. A flush of many tenants grows with
    # them up to 4 x flush_max (wrk_batch.c), and the consumer's read-ahead
    # during HubSpot calls holds up to 4 x flush_max records: ~9 KiB per
    # waiting event, so 5,000 here cost the worker ~250 MiB.
    "portals_flush_max":     (1000,  1000),
    # Every tenant's producer runs this long at a steady rate, all at
    # once, so the backlogs interleave in the partitions (unpaced, each
    # producer was done before the next one started: the partitions held
    # the tenants one after the other).
    "portals_produce_s":     (5,     2),
    # Worker replicas in the one consumer group (as KEDA scales them): the
    # part runs once with one worker, then, when this is more, again with
    # this many on a new backlog (docs/bench.md section 8). 6: as fast as 8
    # and ~15 % faster than 4, with fewer calls per event than 8
    # (docs/bench.md "Replicas 4, 6 and 8").
    "portals_workers":       (6,     2),
    # perf record of the measured workers at 99 Hz (top functions); 0 off.
    "portals_perf":          (1,     0),
}

ACTIVITY = ["EMAIL_SENT", "FIRST_EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK",
            "EMAIL_BOUNCE"]
REPLIES = ["EMAIL_REPLY", "UNTRACKED_REPLIES"]

TARGETS = {"reply_p50_ms": 500.0, "reply_p99_ms": 2000.0,
           "activity_ceiling_fraction": 0.9, "portals_ceiling_fraction": 0.8,
           "portals_fairness": 0.8}


def sub_mix(bm, types):
    return [(t, s) for t, s in bm.MIX if t in types]


def ceiling_of(bm, mix, per_10s):
    """Events/s the tier allows for a mix at full batches (bench.py's
    definition, restricted to the mix)."""
    total = sum(s for _, s in mix)
    inputs = 0.0
    for t, s in mix:
        contact, eng = bm.WRITES[t]
        inputs += s / total * ((1 if contact else 0) + (1 if eng else 0))
    calls_per_1000 = 1000.0 * inputs / bm.BATCH_INPUTS
    return per_10s / bm.WINDOW_S * 1000.0 / calls_per_1000


def cpu_seconds(pid):
    """utime + stime of a process so far (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tick
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu():
    """The machine's CPU seconds so far, (busy, total) over every core
    (/proc/stat; busy leaves out idle and iowait), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / tick, sum(v[:8]) / tick


def perf_start(b, st, pids, rnd):
    """perf record (99 Hz, no call graphs) of the worker processes, or
    None (BENCH_PORTALS_PERF=0, no perf, or not allowed to)."""
    if not b.sizes["portals_perf"] or not shutil.which("perf"):
        return None
    out = st.path(f"portals-{rnd}.perf")
    try:
        p = subprocess.Popen(["perf", "record", "-q", "-F", "99", "-o", out,
                              "-p", ",".join(str(x) for x in pids)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    except OSError:
        return None
    return p, out


def perf_stop(perf, top=12):
    """The recorded processes' top functions: [[percent, dso, symbol]]."""
    if not perf:
        return None
    p, out = perf
    try:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        r = subprocess.run(["perf", "report", "-i", out, "--no-children",
                            "--sort", "dso,symbol", "--stdio", "-q"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    rows = []
    for ln in r.stdout.splitlines():
        f = ln.split()
        if len(f) >= 4 and f[0].endswith("%") and f[2].startswith("["):
            sym = " ".join(x for x in f[3:] if x != "-")
            if sym.startswith("0x"):
                sym = "(no symbols)"
            try:
                pct = float(f[0][:-1])
            except ValueError:
                continue
            for r_ in rows:
                if r_[1] == f[1] and r_[2] == sym:
                    r_[0] += pct
                    break
            else:
                rows.append([pct, f[1], sym])
    rows.sort(key=lambda x: -x[0])
    return [[round(p_, 2), d, s_] for p_, d, s_ in rows[:top]] or None


def loop_times(pid):
    """The worker's event loop (its main thread): seconds on a CPU and
    seconds runnable but waiting for one (/proc/PID/task/PID/schedstat),
    or None."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            run, wait = f.read().split()[:2]
        return int(run) / 1e9, int(wait) / 1e9
    except (OSError, ValueError):
        return None


def loop_shares(t0, t1, wall):
    """Shares of wall the loop ran, waited for a CPU, and slept (nothing
    to do: waiting for HubSpot, Kafka or records)."""
    if not t0 or not t1 or wall <= 0:
        return None
    run, wait = t1[0] - t0[0], t1[1] - t0[1]
    return {"running": run / wall, "waiting_for_cpu": wait / wall,
            "asleep": max(0.0, 1.0 - (run + wait) / wall)}


def flush_profile(b, url):
    """The worker's flush phases from its /metrics: seconds and share of
    each phase, flushes and mean events per flush (None when unreadable)."""
    try:
        code, _, body = b.h.http_request(url, "GET", "/metrics")
    except OSError:
        return None
    if code != 200:
        return None
    secs, vals = {}, {}
    for ln in body.decode(errors="replace").splitlines():
        if ln.startswith("leadsync_worker_flush_seconds_total{"):
            name = ln.split('phase="', 1)[1].split('"', 1)[0]
            secs[name] = float(ln.rsplit(" ", 1)[1])
        elif ln.startswith(("leadsync_worker_batches_total ",
                            "leadsync_worker_batch_events_total ")):
            k, v = ln.split()
            vals[k] = float(v)
        elif (ln.startswith(("leadsync_hubspot_request_seconds_sum{",
                             "leadsync_hubspot_request_seconds_count{")) and
              'route="account_info"' not in ln):
            # The CRM calls of the sync (not the start's account look-up).
            k = ln.split("{", 1)[0]
            vals[k] = vals.get(k, 0.0) + float(ln.rsplit(" ", 1)[1])
    total = sum(secs.values())
    n = vals.get("leadsync_worker_batches_total")
    calls = vals.get("leadsync_hubspot_request_seconds_count")
    return {"phase_seconds": secs,
            # Mean time from a call's send to its answer (the emulator's
            # latency, its queue and the worker's own wait to read it).
            "mean_call_ms": 1000.0 * vals.get(
                "leadsync_hubspot_request_seconds_sum", 0.0) / calls
            if calls else None,
            "phase_share": {k: v / total for k, v in secs.items()}
            if total else None,
            "flushes": n,
            "mean_events": vals.get("leadsync_worker_batch_events_total", 0)
            / n if n else None}


# -- priority -------------------------------------------------------------
def part_priority(b, res, bm):
    s = b.sizes
    tier, per_10s = "professional", bm.TIERS["professional"]
    with b.stack(s["partitions"]) as st:
        st.broker(partitions=st.partitions)
        st.emulator()
        st.hubspot_faults({"latency_ms": s["hubspot_latency_ms"]})
        b.set_tier(st, tier)
        cfg = b.config(st, tier=tier, per_10s=per_10s, worker={
            "priority_linger_ms": s["priority_linger_ms"],
            "flush_max": s["priority_flush_max"],
            "ratelimit_reserve": s["priority_reserve"]})
        sl = bm.SyncLog(st.bootstrap)
        try:
            act = st.worker(cfg, "activity", ACTIVITY)
            rep = st.worker(cfg, "replies", REPLIES)
            b.wait_group_stable([act], len(ACTIVITY) * st.partitions)
            b.wait_group_stable([rep], len(REPLIES) * st.partitions)
            b.wait_window_empty(st)
            res["priority"] = run_priority(b, st, cfg, sl, bm, [act, rep],
                                           per_10s)
        finally:
            sl.close()


def metrics_of(b, proc, names):
    """{name: value} summed over each family's series from a process's
    /metrics (None when it cannot be read)."""
    try:
        _, _, body = b.h.http_request(proc.url, "GET", "/metrics")
    except Exception:  # noqa: BLE001 - a figure, not a check
        return None
    out = dict.fromkeys(names, 0.0)
    for line in body.decode(errors="replace").splitlines():
        for n in names:
            if line.startswith(n) and line[len(n):len(n) + 1] in ("{", " "):
                out[n] += float(line.rsplit(" ", 1)[1])
    return out


# Where a reply's time goes: the replies worker's flushes and HubSpot
# calls over the reply period (docs/bench.md, part priority).
REPLY_METRICS = ["leadsync_worker_batches_total",
                 "leadsync_worker_batch_events_total",
                 "leadsync_hubspot_request_seconds_count",
                 "leadsync_hubspot_request_seconds_sum"]


def call_ms(rm):
    """Mean HubSpot call time in ms from REPLY_METRICS deltas."""
    n = rm and rm["leadsync_hubspot_request_seconds_count"]
    if not n:
        return None
    return 1000.0 * rm["leadsync_hubspot_request_seconds_sum"] / n


# Where the window goes, per 10 s of the reply period: each worker's calls
# and the time its limiter spent per state (hs_limiter_times; the workers
# refresh it every 5 s, so a window's states are +-5 s).
RL_TIME = "leadsync_hubspot_ratelimit_seconds_total"
RL_STATES = ["idle", "sending", "share", "paced", "full", "stale", "other"]


def rl_sample(b, proc):
    """(calls, {state: seconds}) of a worker now, or None."""
    try:
        _, _, body = b.h.http_request(proc.url, "GET", "/metrics")
    except Exception:  # noqa: BLE001 - a figure, not a check
        return None
    calls, secs = 0.0, dict.fromkeys(RL_STATES, 0.0)
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("leadsync_hubspot_request_seconds_count"):
            calls += float(line.rsplit(" ", 1)[1])
        elif line.startswith(RL_TIME + "{"):
            st = line.split('state="', 1)[1].split('"', 1)[0]
            if st in secs:
                secs[st] += float(line.rsplit(" ", 1)[1])
    return calls, secs


class WindowSampler:
    """Samples the workers (activity, replies) and the emulator's window
    once a second in a thread; windows() splits the samples into 10 s
    windows from t0."""

    def __init__(self, b, st, procs):
        self.b, self.st, self.procs = b, st, procs
        self.samples = []
        self.stop = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.th.join(timeout=10)

    def run(self):
        while not self.stop.is_set():
            t = time.time() * 1000.0
            row = [rl_sample(self.b, p) for p in self.procs]
            if all(row):
                self.samples.append((t, row))
            self.stop.wait(1.0)

    def windows(self, t0, t1, width_ms=10000.0):
        out = []
        s = self.samples
        if len(s) < 2:
            return out
        a = t0
        while a + width_ms <= t1 + 500:
            lo = min(s, key=lambda x: abs(x[0] - a))
            hi = min(s, key=lambda x: abs(x[0] - (a + width_ms)))
            if hi[0] <= lo[0]:
                break
            w = {"t_s": round((a - t0) / 1000.0, 1),
                 "span_s": round((hi[0] - lo[0]) / 1000.0, 1)}
            for name, k in (("activity", 0), ("replies", 1)):
                w[name + "_calls"] = hi[1][k][0] - lo[1][k][0]
            for name, k in (("activity", 0), ("replies", 1)):
                d = {st: hi[1][k][1][st] - lo[1][k][1][st]
                     for st in RL_STATES}
                tot = sum(d.values())
                # Fractions of the window (the states advance in 5 s
                # steps).
                w[name + "_time_share"] = {
                    st: round(v / tot, 3) if tot > 0 else None
                    for st, v in d.items()}
            out.append(w)
            a += width_ms
        return out


def run_priority(b, st, cfg, sl, bm, procs, per_10s):
    s = b.sizes
    amix = sub_mix(bm, ACTIVITY)
    ceiling = ceiling_of(bm, amix, per_10s)
    before = b.hubspot_counters(st)
    events = bm.generate_events(s["priority_backlog"], s["worker_leads"],
                                seed=30, lead_prefix="pa", mix=amix)
    bm.log(f"priority: {len(events)} activity events backlog, replies at "
           f"{s['priority_reply_rate']}/s for {s['priority_reply_seconds']} s")
    _, produced_a = b.preload(st, cfg, events, "prio-activity")
    ids_a = list(produced_a)
    # Past the first rate window (its fresh budget is a burst): the
    # replies arrive while the activity group runs at the steady ceiling.
    t_first = None
    t_end = time.monotonic() + 120
    while time.monotonic() < t_end:
        times = sl.done_times(ids_a)
        if times:
            t_first = min(times)
            if time.time() * 1000.0 - t_first >= s["priority_warmup_s"] * 1e3:
                break
        time.sleep(0.2)
    n_rep = max(2, int(s["priority_reply_rate"] * s["priority_reply_seconds"]))
    replies = bm.generate_events(n_rep, s["worker_leads"], seed=31,
                                 lead_prefix="pr",
                                 mix=[("EMAIL_REPLY", 1)])
    m0 = metrics_of(b, procs[1], REPLY_METRICS)
    a0 = metrics_of(b, procs[0], REPLY_METRICS)
    t_r0 = time.time() * 1000.0
    with WindowSampler(b, st, procs) as ws:
        _, produced_r = b.preload(st, cfg, replies, "prio-replies",
                                  rate=s["priority_reply_rate"])
        t_r1 = time.time() * 1000.0
        a1 = metrics_of(b, procs[0], REPLY_METRICS)
        time.sleep(1.2)
    wins = ws.windows(t_r0, t_r1)
    for w in wins:
        bm.log("priority window +%2.0f s: calls activity %3.0f replies %3.0f"
               " | time, activity: %s | replies: %s" % (
                   w["t_s"], w["activity_calls"], w["replies_calls"],
                   " ".join("%s %.0f%%" % (k, 100 * v) for k, v in
                            w["activity_time_share"].items() if v),
                   " ".join("%s %.0f%%" % (k, 100 * v) for k, v in
                            w["replies_time_share"].items() if v)))
    ids_r = list(produced_r)
    b.wait_synced(sl, ids_r, procs, "priority replies")
    m1 = metrics_of(b, procs[1], REPLY_METRICS)
    rm = ({k: m1[k] - m0[k] for k in REPLY_METRICS} if m0 and m1 else None)
    lat = [sl.done_time(e) - produced_r[e] for e in ids_r
           if sl.done_time(e) is not None]
    times = sorted(t for t in sl.done_times(ids_a))
    last_a = times[-1] if times else t_r0
    t_hi = min(t_r1, last_a)
    span = (t_hi - t_r0) / 1000.0
    n_in = sum(1 for t in times if t_r0 <= t <= t_hi)
    rate = n_in / span if span > 0 else None
    if last_a < t_r1:
        b.notes.append("priority: the activity backlog ran out "
                       f"{(t_r1 - last_a) / 1000:.1f} s before the replies "
                       "ended; its rate is taken while it lasted")
    after = b.hubspot_counters(st)
    d = {k: after[k] - before[k] for k in after}
    done_a = sl.done_count(ids_a)
    am = ({k: a1[k] - a0[k] for k in REPLY_METRICS} if a0 and a1 else None)
    # The windows while the backlog lasted (the activity group's calls
    # per window and per event; the replies' calls over the same span).
    lasted = [w for w in wins
              if w["t_s"] + w["span_s"] <= span + 0.5] or wins[:1]
    room = room_left(b, s, lasted, rm, am, rate, ceiling, per_10s,
                     (t_r1 - t_r0) / 1000.0)
    room["activity_worker_rss_peak_mib"] = bm.proc_status(procs[0].pid,
                                                          "VmHWM")
    return {
        "tier": "professional", "requests_per_10s": per_10s,
        "hubspot_latency_ms": s["hubspot_latency_ms"],
        "activity_backlog": len(ids_a), "activity_synced": done_a,
        "activity_events_per_s": rate,
        "activity_ceiling_events_per_s": ceiling,
        "activity_ceiling_fraction": rate / ceiling if rate else None,
        "replies": len(ids_r), "replies_synced": len(lat),
        "reply_rate_per_s": s["priority_reply_rate"],
        "reply_p50_ms": bm.pct(lat, 50) if lat else None,
        "reply_p99_ms": bm.pct(lat, 99) if lat else None,
        "reply_max_ms": max(lat) if lat else None,
        "calls": d["calls"], "rate_limited_429": d["rate_limited_429"],
        "requests_into_exhausted_window": d["into_exhausted"],
        "reply_linger_ms": s["priority_linger_ms"],
        "reply_flushes": rm and rm["leadsync_worker_batches_total"],
        "reply_calls": rm and rm["leadsync_hubspot_request_seconds_count"],
        "reply_call_ms_avg": call_ms(rm),
        **room,
        "windows": wins,
    }


def room_left(b, s, wins, rm, am, rate, ceiling, per_10s, secs):
    """The activity group against the room the replies leave it
    (docs/bench.md "The activity group against the room the replies
    leave"): the replies' and the activity group's calls per 10 s window
    of the reply period, the activity group's calls per 1,000 events and
    events per flush, its fraction of the ceiling scaled to the window
    less the replies' calls, and the bound at the bulk cap (the window
    less hs_ratelimit's default reserve and headroom): (cap - R) calls
    at the activity group's own events per call."""
    out = dict.fromkeys([
        "reply_calls_per_window", "activity_calls_per_window",
        "calls_per_reply", "activity_calls_per_1000_events",
        "activity_events_per_flush", "activity_left_ceiling_events_per_s",
        "activity_left_fraction", "bulk_cap_per_window",
        "activity_bound_fraction"])
    span = sum(w["span_s"] for w in wins)
    if span > 0:
        out["reply_calls_per_window"] = (
            10.0 * sum(w["replies_calls"] for w in wins) / span)
        out["activity_calls_per_window"] = (
            10.0 * sum(w["activity_calls"] for w in wins) / span)
    elif rm and am and secs > 0:
        out["reply_calls_per_window"] = (
            10.0 * rm["leadsync_hubspot_request_seconds_count"] / secs)
        out["activity_calls_per_window"] = (
            10.0 * am["leadsync_hubspot_request_seconds_count"] / secs)
    if rm and rm["leadsync_worker_batch_events_total"]:
        out["calls_per_reply"] = (
            rm["leadsync_hubspot_request_seconds_count"]
            / rm["leadsync_worker_batch_events_total"])
    if am and am["leadsync_worker_batches_total"]:
        out["activity_events_per_flush"] = (
            am["leadsync_worker_batch_events_total"]
            / am["leadsync_worker_batches_total"])
    r, a = out["reply_calls_per_window"], out["activity_calls_per_window"]
    if r is None or not rate:
        return out
    if a:
        out["activity_calls_per_1000_events"] = 100.0 * a / rate
    left = ceiling * max(per_10s - r, 0.0) / per_10s
    out["activity_left_ceiling_events_per_s"] = left
    out["activity_left_fraction"] = rate / left if left > 0 else None
    # hs_limiter_new's defaults (worker.ratelimit_reserve 0).
    reserve = s["priority_reserve"]
    if reserve <= 0:
        reserve = max(4, per_10s // 16)
    cap = per_10s - reserve - max(4, per_10s // 32)
    out["bulk_cap_per_window"] = cap
    if a:
        # Events per call of the activity group over the ceiling's.
        eff = (rate * 10.0 / a) / (ceiling * 10.0 / per_10s)
        out["activity_bound_fraction"] = max(cap - r, 0.0) * eff / per_10s
    return out


# -- portals ----------------------------------------------------------------
def portal_tenants(cfg, n):
    """n tenants cloned from the dev config's first one, each with its own
    source and its own HubSpot token (so its own portal)."""
    base = cfg["tenants"][0]
    out = []
    for i in range(n):
        t = copy.deepcopy(base)
        t["id"] = f"p{i:02d}"
        t["name"] = f"Bench portal {i:02d}"
        src = t["sources"][0]
        src["id"] = f"p{i:02d}-user"
        src["token_sha256"] = hashlib.sha256(
            f"bench-portal-source-{i}".encode()).hexdigest()
        t["sources"] = [src]
        t["hubspot"]["token_env"] = f"HUBSPOT_TOKEN_P{i:02d}"
        t["hubspot"]["tier"] = "professional"
        t["hubspot"]["requests_per_10s"] = 190
        for k in ("filter",):
            t.pop(k, None)
        out.append(t)
    return out


def part_portals(b, res, bm):
    s = b.sizes
    h = b.h
    n, per = s["portals_tenants"], s["portals_events"]
    per_10s = bm.TIERS["professional"]
    ceiling = bm.ceiling_events_per_s(per_10s)
    with b.stack(s["partitions"]) as st:
        st.broker(partitions=st.partitions)
        st.emulator()
        tokens = []
        for i in range(n):
            tok = f"pat-na1-bench-portal-{i:02d}"
            code, _, body = h.http_request(
                st.hubspot_url, "POST", "/_emulator/portals",
                {"token": tok, "portal_id": 2000001 + i,
                 "tier": "professional"})
            if code != 200:
                raise RuntimeError(f"emulator /portals answered {code}: "
                                   f"{body!r}")
            st.env[f"HUBSPOT_TOKEN_P{i:02d}"] = tok
            tokens.append(tok)
        # Faults apply to the portals that exist when they are set: after
        # the portals, so every one answers +latency_ms.
        st.hubspot_faults({"latency_ms": s["hubspot_latency_ms"]})

        def mutate(c):
            c["tenants"] = c["tenants"] + portal_tenants(c, n)
            c.setdefault("worker", {})["max_in_flight"] = \
                s["portals_in_flight"]
            c["worker"]["flush_max"] = s["portals_flush_max"]
        cfg = b.config(st, extra=mutate)
        sl = bm.SyncLog(st.bootstrap)
        try:
            one = run_portals(b, st, cfg, sl, bm, n, per, ceiling, per_10s)
            k = s["portals_workers"]
            res["portals"] = (run_portals(b, st, cfg, sl, bm, n, per, ceiling,
                                          per_10s, workers=k, rnd=1)
                              if k > 1 else dict(one))
            res["portals"]["one_worker"] = {x: one.get(x) for x in ONE_KEYS}
        finally:
            sl.close()


# The one-worker run's figures kept next to the replicas' run.
ONE_KEYS = ["events", "completed", "events_per_s", "ceiling_fraction", "fairness",
            "calls_per_1000_events", "requests_into_exhausted_window",
            "cpu_cores_used", "worker_cpu_us_per_event",
            "worker_cpu_bound_events_per_s", "cpu_bound_events_per_s",
            "cpu_saturated"]


def start_replicas(b, st, cfg, k, settle=True):
    """k workers of group "bench" (every event type), settled in the group
    when settle."""
    ws = [st.worker(cfg, "bench", b.h.ALL_EVENTS, extra_args=["--no-setup"])
          for _ in range(k)]
    st.portals_workers = ws
    if settle:
        b.wait_group_stable(ws, len(b.h.ALL_EVENTS) * st.partitions)
    return ws


def start_clock(b, st, ws, rnd):
    """The processes measured, their CPU seconds, the first worker's loop
    times, perf (when allowed) and the monotonic time, all now."""
    pids = {"broker": st.broker_proc.pid, "emulator": st.emulator_proc.pid}
    pids.update({f"worker{j}": p.pid for j, p in enumerate(ws)})
    cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
    cpu0["machine"] = machine_cpu()
    cpu0["bench"] = os.times()
    loop0 = loop_times(ws[0].pid)
    perf = perf_start(b, st, [p.pid for p in ws], rnd)
    return pids, cpu0, loop0, perf, time.monotonic()


def run_portals(b, st, cfg, sl, bm, n, per, ceiling, per_10s, workers=1,
                rnd=0):
    s = b.sizes
    for p in getattr(st, "portals_workers", []):
        p.stop()  # the previous round's, before its backlog is produced
    ws = []
    if rnd:
        # Replicas: in the group before the backlog arrives (started on a
        # backlog, the first one to join took every partition and the
        # rebalances were most of a short run); the producers below are
        # faster than the group, so a backlog builds all the same.
        state0 = st.hubspot_state()
        ws = start_replicas(b, st, cfg, workers)
    # Backlogs first, for every tenant at once (so the tenants' records
    # interleave in the partitions), then the worker.
    ids, runs, files = {}, [], []
    for i in range(n):
        tid = f"p{i:02d}"
        events = bm.generate_events(per, max(20, s["worker_leads"] // n),
                                    seed=100 + i + 1000 * rnd,
                                    lead_prefix=f"{tid}-" if not rnd
                                    else f"{tid}r{rnd}-")
        path = st.path(f"portals-{tid}-{rnd}.jsonl")
        with open(path, "w") as f:
            f.write("\n".join(events) + "\n")
        files.append((tid, path, len(events)))
    # All start together once loaded (the processes take a while to start
    # on a busy machine), then produce at a steady rate.
    start_at = time.time() + 2.0 + 0.1 * n
    for tid, path, k in files:
        idf = st.path(f"portals-{tid}-{rnd}.ids")
        runs.append((tid, idf, subprocess.Popen(
            [b.binary("bench-kafka-produce"), "--config", cfg, "--jsonl",
             path, "--ids-out", idf, "--tenant", tid, "--rate",
             str(max(1.0, k / s["portals_produce_s"])),
             "--start-at", f"{start_at:.3f}"],
            env=st.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    clock = None
    if rnd:
        # The replicas sync while the backlog is produced: their CPU and
        # the span are measured from the moment the producers start (from
        # the first outcome seen after the producers finished, the CPU of
        # the first half of the run was left out while its events were
        # counted: CPU per event about halved, the CPU bound doubled).
        time.sleep(max(0.0, start_at - time.time()))
        clock = start_clock(b, st, ws, rnd)
    for tid, idf, p in runs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            raise RuntimeError(f"bench-kafka-produce --tenant {tid} exited "
                               f"{p.returncode}: {err[-400:]}")
        with open(idf) as f:
            ids[tid] = list({ln.split("\t")[0] for ln in f if ln.strip()})
    total = sum(len(v) for v in ids.values())
    bm.log(f"portals: {n} tenants x {per} events backlog ({total}), "
           f"{workers} worker(s), max_in_flight {s['portals_in_flight']}")
    # Properties first (a setup run per portal), so the measured worker
    # only syncs.
    if not rnd:
        r = subprocess.run([b.binary("leadsync-worker"), "--config", cfg,
                            "--setup"], env=st.env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("leadsync-worker --setup exited "
                               f"{r.returncode}: {r.stderr[-400:]}")
        state0 = st.hubspot_state()
        ws = start_replicas(b, st, cfg, workers, settle=False)
    w = ws[0]
    all_ids = [e for v in ids.values() for e in v]
    if clock is None:
        # One worker, started on the backlog: CPU from the first outcome
        # on (not the worker's start: loading the ledger and joining the
        # group are not the sync).
        b.h.wait_for(lambda: sl.done_count(all_ids) > 0 or
                     not all(p.alive() for p in ws),
                     timeout=300, interval=0.05, what="the first outcome")
        clock = start_clock(b, st, ws, rnd)
    pids, cpu0, loop0, perf, t0 = clock
    done = b.wait_synced(sl, all_ids, ws, f"portals x{workers}")
    wall = time.monotonic() - t0
    cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
    m0, m1 = cpu0.pop("machine"), machine_cpu()
    # This script (its sync_log reader thread) and the children it waited
    # for meanwhile (the backlog's producers) over the same span.
    b0, b1 = cpu0.pop("bench"), os.times()
    loop = loop_shares(loop0, loop_times(w.pid), wall)
    top = perf_stop(perf)
    rss_peak = max((bm.proc_status(p.pid, "VmHWM") or 0 for p in ws),
                   default=None)
    flush = flush_profile(b, w.url)
    state1 = st.hubspot_state()
    cpu = {k: (cpu1[k] - cpu0[k]) if cpu1[k] is not None and
           cpu0[k] is not None else None for k in pids}
    # The replicas' CPU as one "worker" (per replica: worker_cpu_seconds).
    wcpu = [cpu.pop(f"worker{j}") for j in range(workers)]
    cpu["worker"] = (sum(wcpu) if all(v is not None for v in wcpu)
                     else None)
    # Rates from the sync_log times: over the span all tenants had work
    # (from the first outcome to the first tenant's last one).
    per_t = {t: sorted(sl.done_times(v)) for t, v in ids.items()}
    firsts = [v[0] for v in per_t.values() if v]
    lasts = [v[-1] for v in per_t.values() if v]
    fr, agg, fairness, worst, best = {}, None, None, None, None
    if firsts and len(lasts) == n:
        t_lo, t_hi = min(firsts), min(lasts)
        span = (t_hi - t_lo) / 1000.0
        for t, v in per_t.items():
            k = sum(1 for x in v if x <= t_hi)
            fr[t] = (k / span / ceiling) if span > 0 else None
        vals = [x for x in fr.values() if x is not None]
        if vals:
            worst, best = min(vals), max(vals)
            fairness = worst / best if best else None
        whole = (max(lasts) - t_lo) / 1000.0
        agg = done / whole if whole > 0 else None
    c0, c1 = state0.get("counters", {}), state1.get("counters", {})
    calls = c1.get("requests_total", 0) - c0.get("requests_total", 0)
    summed = n * ceiling
    cpu_w = cpu.get("worker")
    out = {
        "workers": workers, "worker_cpu_seconds": wcpu,
        "tenants": n, "events_per_tenant": per, "events": total,
        "completed": done, "tier": "professional",
        "requests_per_10s": per_10s,
        "hubspot_latency_ms": s["hubspot_latency_ms"],
        "max_in_flight": s["portals_in_flight"],
        "flush_max": s["portals_flush_max"], "seconds": wall,
        "ncpu": os.cpu_count(),
        "events_per_s": agg, "summed_ceiling_events_per_s": summed,
        "ceiling_fraction": agg / summed if agg else None,
        "portal_fractions": fr, "worst_portal_fraction": worst,
        "best_portal_fraction": best, "fairness": fairness,
        "calls": calls,
        "calls_per_1000_events": 1000.0 * calls / done if done else None,
        "rate_limited_429": c1.get("rate_limited_429", 0) -
        c0.get("rate_limited_429", 0),
        "requests_into_exhausted_window":
            c1.get("requests_into_exhausted_window", 0) -
            c0.get("requests_into_exhausted_window", 0),
        "cpu_seconds": cpu,
        "worker_rss_peak_mib": rss_peak,
        # Where the flush cycle's wall time went (shares of the sum) and
        # the mean flush.
        "flush": flush,
        # The first worker's event loop over the run: running, runnable
        # but waiting for a CPU (the machine's other load), asleep.
        "worker_loop": loop,
        "cpu_cores_used": {k: (v / wall if v is not None and wall > 0
                               else None) for k, v in cpu.items()},
        # A worker is one event loop: one core is its bound.
        "worker_cpu_bound_events_per_s": (done / cpu_w if cpu_w else None),
        "worker_cpu_us_per_event": (1e6 * cpu_w / done if cpu_w and done
                                    else None),
        "cpu_us_per_event": {k: (1e6 * v / done if v is not None and done
                                 else None) for k, v in cpu.items()},
        # Where the CPU went: each process's share of the three's CPU, and
        # the workers' top functions when perf could record them.
        "cpu_share": ({k: v / sum(x for x in cpu.values() if x)
                       for k, v in cpu.items() if v is not None}
                      if any(cpu.values()) else None),
        "worker_top_functions": top,
    }
    # The machine's bound: worker, emulator and broker share the cores.
    used = [v for v in cpu.values() if v is not None]
    ncpu = os.cpu_count() or 1
    out["cpu_bound_events_per_s"] = None  # a run too short to measure
    out["cpu_bound_fraction"] = None
    out["cpu_saturated"] = False
    # The whole machine over the same span: the measured processes plus
    # what they share the cores with (the backlog's producers, this
    # script's sync_log reader, perf, anything else running).
    out["machine_cores_busy"] = None
    out["other_cores_busy"] = None
    if m0 and m1 and m1[1] > m0[1]:
        out["machine_cores_busy"] = (m1[0] - m0[0]) / (m1[1] - m0[1]) * ncpu
    if wall > 0:
        out["bench_cores_busy"] = {
            "script": (b1.user + b1.system - b0.user - b0.system) / wall,
            "producers": (b1.children_user + b1.children_system -
                          b0.children_user - b0.children_system) / wall}
    if used and sum(used) > 0:
        out["cpu_bound_events_per_s"] = done / sum(used) * ncpu
        out["cpu_bound_fraction"] = out["cpu_bound_events_per_s"] / summed
        busy = sum(used) / wall if wall > 0 else 0.0
        if out["machine_cores_busy"] is not None:
            out["other_cores_busy"] = max(
                0.0, out["machine_cores_busy"] - busy)
        # CPU-bound: the machine's cores busy (the load generators share
        # them: on one machine the run cannot go faster), leadsync's own
        # processes' alone, or one worker's event loop its core.
        mb = out["machine_cores_busy"]
        out["cpu_saturated"] = bool(
            busy >= 0.9 * ncpu or (mb is not None and mb >= 0.9 * ncpu) or
            (wall > 0 and any(v is not None and v / wall >= 0.9
                              for v in wcpu)))
    return out


# -- table --------------------------------------------------------------------
def add_rows(res, add, get, num, rows):
    p = res.get("priority", {})
    t = TARGETS
    add("priority", f"activity events/s with replies at "
        f"{num(p.get('reply_rate_per_s'), '{:.0f}')}/s",
        p.get("activity_events_per_s"), "{:,.0f}")
    add("priority", "activity ceiling events/s (its mix)",
        p.get("activity_ceiling_events_per_s"), "{:,.0f}")
    add("priority", "activity fraction of its ceiling",
        p.get("activity_ceiling_fraction"), "{:.2f}",
        f">= {t['activity_ceiling_fraction']:.1f}",
        lambda v: v >= t["activity_ceiling_fraction"],
        "priority_activity_ceiling_fraction")
    add("priority", "  replies' calls per 10 s window (R)",
        p.get("reply_calls_per_window"), "{:.0f}")
    add("priority", "  activity ceiling less R events/s",
        p.get("activity_left_ceiling_events_per_s"), "{:,.0f}")
    add("priority", "  activity fraction of that (of what replies leave)",
        p.get("activity_left_fraction"), "{:.2f}")
    add("priority", "  activity calls per window / bulk cap",
        p.get("activity_calls_per_window"), "{}")
    rows[-1]["text"] = (
        f"{num(p.get('activity_calls_per_window'), '{:.0f}')} / "
        f"{num(p.get('bulk_cap_per_window'), '{:.0f}')}")
    add("priority", "  activity calls / 1,000 events, events per flush",
        p.get("activity_calls_per_1000_events"), "{}")
    rows[-1]["text"] = (
        f"{num(p.get('activity_calls_per_1000_events'), '{:.1f}')}, "
        f"{num(p.get('activity_events_per_flush'), '{:,.0f}')}")
    add("priority", "  bound (cap - R) x its events per call / 190",
        p.get("activity_bound_fraction"), "{:.2f}")
    add("priority", "  activity worker RSS peak MiB (VmHWM)",
        p.get("activity_worker_rss_peak_mib"), "{:.1f}")
    add("priority", "reply e2e p50 ms", p.get("reply_p50_ms"), "{:,.0f}",
        f"<= {t['reply_p50_ms']:.0f}", lambda v: v <= t["reply_p50_ms"],
        "priority_reply_p50_ms")
    add("priority", "reply e2e p99 ms", p.get("reply_p99_ms"), "{:,.0f}",
        f"<= {t['reply_p99_ms']:.0f}", lambda v: v <= t["reply_p99_ms"],
        "priority_reply_p99_ms")
    add("priority", "requests into exhausted window",
        p.get("requests_into_exhausted_window"), "{:,}", "= 0",
        lambda v: v == 0, "priority_into_exhausted")
    add("priority", "replies worker: flushes in the reply period",
        p.get("reply_flushes"), "{:,.0f}")
    add("priority", "  (calls; per reply)", p.get("reply_calls"), "{}")
    rows[-1]["text"] = (f"{num(p.get('reply_calls'), '{:,.0f}')}; "
                        f"{num(p.get('calls_per_reply'), '{:.2f}')}")
    add("priority", "  (mean HubSpot call ms)", p.get("reply_call_ms_avg"),
        "{:,.0f}")
    q = res.get("portals", {})
    one = q.get("one_worker") or {}
    add("portals", f"{num(q.get('tenants'), '{}')} portals, one worker: "
        "events/s / fraction", one.get("events_per_s"), "{}")
    rows[-1]["text"] = (f"{num(one.get('events_per_s'), '{:,.0f}')} / "
                        f"{num(one.get('ceiling_fraction'), '{:.3f}')}")
    add("portals", "  one worker: CPU-us/event, cores used, CPU-bound",
        one.get("worker_cpu_us_per_event"), "{}")
    rows[-1]["text"] = (
        f"{num(one.get('worker_cpu_us_per_event'), '{:.0f}')}, "
        f"{num((one.get('cpu_cores_used') or {}).get('worker'), '{:.2f}')}, "
        f"{'yes' if one.get('cpu_saturated') else 'no'}")
    add("portals", f"{num(q.get('tenants'), '{}')} portals, "
        f"{num(q.get('workers'), '{}')} worker(s): aggregate events/s",
        q.get("events_per_s"), "{:,.0f}")
    add("portals", "summed ceilings events/s",
        q.get("summed_ceiling_events_per_s"), "{:,.0f}")
    add("portals", "fraction of summed ceilings", q.get("ceiling_fraction"),
        "{:.3f}", f">= {t['portals_ceiling_fraction']:.1f} or CPU-bound",
        lambda v: v >= t["portals_ceiling_fraction"] or
        bool(q.get("cpu_saturated")), "portals_ceiling_fraction")
    add("portals", "CPU bound events/s (all cores) / worker's one core",
        q.get("cpu_bound_events_per_s"), "{}")
    rows[-1]["text"] = (
        f"{num(q.get('cpu_bound_events_per_s'), '{:,.0f}')} / "
        f"{num(q.get('worker_cpu_bound_events_per_s'), '{:,.0f}')}")
    add("portals", "worst / best portal fraction",
        q.get("worst_portal_fraction"), "{}")
    rows[-1]["text"] = (f"{num(q.get('worst_portal_fraction'), '{:.3f}')} / "
                        f"{num(q.get('best_portal_fraction'), '{:.3f}')}")
    add("portals", "fairness (worst / best)", q.get("fairness"), "{:.2f}",
        f">= {t['portals_fairness']:.1f}",
        lambda v: v >= t["portals_fairness"], "portals_fairness")
    add("portals", "HubSpot calls / 1,000 events",
        q.get("calls_per_1000_events"), "{:.1f}")
    add("portals", "requests into exhausted window",
        q.get("requests_into_exhausted_window"), "{:,}", "= 0",
        lambda v: v == 0, "portals_into_exhausted")
    cores = q.get("cpu_cores_used") or {}
    add("portals", "CPU cores used worker(s) / emulator / broker",
        cores.get("worker"), "{}")
    rows[-1]["text"] = " / ".join(num(cores.get(k), "{:.2f}") for k in
                                  ("worker", "emulator", "broker"))
    wall = q.get("seconds")
    each = [v / wall for v in q.get("worker_cpu_seconds") or []
            if v is not None and wall]
    add("portals", "  cores per worker; CPU-bound (>= 90% of the "
        "machine, of leadsync's or of one)", q.get("cpu_saturated"), "{}")
    rows[-1]["text"] = (" + ".join(f"{v:.2f}" for v in each) + "; " +
                        ("yes" if q.get("cpu_saturated") else "no"))
    add("portals", "  machine cores busy: all processes / the rest",
        q.get("machine_cores_busy"), "{}")
    bc = q.get("bench_cores_busy") or {}
    rows[-1]["text"] = (f"{num(q.get('machine_cores_busy'), '{:.2f}')} / "
                        f"{num(q.get('other_cores_busy'), '{:.2f}')} "
                        f"(script {num(bc.get('script'), '{:.2f}')}, "
                        f"producers {num(bc.get('producers'), '{:.2f}')})")
    us = q.get("cpu_us_per_event") or {}
    add("portals", "CPU-us per event worker(s) / emulator / broker",
        us.get("worker"), "{}")
    rows[-1]["text"] = " / ".join(num(us.get(k), "{:.0f}") for k in
                                  ("worker", "emulator", "broker"))
    for pct, dso, sym in (q.get("worker_top_functions") or [])[:8]:
        add("portals", f"  worker profile {pct:5.1f}% {dso}", None, "{}")
        rows[-1]["text"] = sym[:40]
    fl = q.get("flush") or {}
    add("portals", "worker RSS peak MiB / mean events per flush",
        q.get("worker_rss_peak_mib"), "{}")
    rows[-1]["text"] = (f"{num(q.get('worker_rss_peak_mib'), '{:.1f}')} / "
                        f"{num(fl.get('mean_events'), '{:,.0f}')}")
    share = fl.get("phase_share") or {}
    add("portals", "flush time intake/contacts/intents/eng./emit/settle",
        share.get("intake"), "{}")
    rows[-1]["text"] = " / ".join(
        num(share.get(k), "{:.2f}") for k in
        ("intake", "contacts", "intents", "engagements", "emit", "settle"))
    loop = q.get("worker_loop") or {}
    add("portals", "mean HubSpot call ms; worker loop asleep / for CPU",
        fl.get("mean_call_ms"), "{}")
    rows[-1]["text"] = (f"{num(fl.get('mean_call_ms'), '{:.0f}')}; "
                        f"{num(loop.get('asleep'), '{:.2f}')} / "
                        f"{num(loop.get('waiting_for_cpu'), '{:.2f}')}")
