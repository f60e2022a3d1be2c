#!/usr/bin/python3
"""make bench: leadsync's ingress and worker measured against this
machine's limits, side by side, in one run (docs/bench.md).

    bench/run.sh BUILD_DIR        (make bench calls it with build-release)

Environment:
    BENCH_OUT=FILE     also write the figures as JSON to FILE
    BENCH_QUICK=1      shrink every run to a few seconds
    BENCH_<SIZE>=N     override one size (BENCH_WORKER_EVENTS=300, ...; see
                       SIZES below); the smoke test uses these

Nothing here asserts speed: targets are printed next to the figures with a
met/missed column. The exit status is non-zero only when a part could not
run at all (a binary missing, a process died, a result was unreadable).
"""
import argparse
import datetime
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import traceback
import uuid

import bench_quota
import bench_state
import state_filter
import state_stores

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BENCH_DIR = os.path.join(ROOT, "bench")
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "smartlead")
LUA = os.path.join(BENCH_DIR, "post.lua")

# -- sizes ------------------------------------------------------------------
# Full sizes are the ones docs/bench.md describes; BENCH_QUICK=1 takes the
# second column. Every entry can be overridden by BENCH_<NAME>.
SIZES = {
    #  name                  full    quick
    "wrk_seconds":          (10,     2),
    "wrk_runs":             (3,      1),
    "wrk_connections":      (64,     64),
    "wrk_threads":          (2,      2),
    "kafka_seconds":        (5,      1),
    "kafka_runs":           (3,      1),
    # 40,000 events: since the worker batches ~1,000 events per flush,
    # 10,000 (the figure) fit in the first 10 s window's burst and
    # say nothing about the steady rate. BENCH_WORKER_EVENTS=10000 for it.
    "partitions":           (24,     12),
    "worker_events":        (40000,  1000),
    "worker_leads":         (2000,   200),
    # worker.flush_max of the part worker for A/B runs; -1: the default.
    "worker_flush_max":     (-1,     -1),
    "hubspot_latency_ms":   (100,    100),
    "e2e_seconds":          (30,     4),
    "scale_events":         (40000,  1000),
    "stall_seconds":        (60,     30),
    "fresh_window":         (1,      1),
    "session_timeout_ms":   (0,      0),     # 0: the dev config's (6000)
    # The console's read model: events (each one webhook record and one
    # sync_log record) in the database before the lookups are timed.
    "state_records":        (1000000, 20000),  # runs 0, 1/10, all
    "state_partitions":     (32,     6),
    "console_events":       (2000000, 50000),
    "console_lookups":      (5000,   1000),
}
SCALE_WORKERS = [1, 2, 4]
# The portal-quota parts (bench_quota.py) bring their own sizes.
SIZES.update(bench_quota.SIZES)
# Part state's filter half (state_filter.py) too.
SIZES.update(state_filter.SIZES)
# Part state's store comparison (state_stores.py) too.
SIZES.update(state_stores.SIZES)

# -- the worker's event mix and what each event writes to HubSpot -----------
# Shares in percent (docs/bench.md). WRITES mirrors lib/hubspot/hs_map.c with
# the dev config (opens and clicks as contact properties only): every event
# of the mix upserts its contact; some also create one engagement.
MIX = [
    ("EMAIL_SENT", 40), ("EMAIL_OPEN", 25), ("EMAIL_LINK_CLICK", 10),
    ("EMAIL_REPLY", 8), ("LEAD_CATEGORY_UPDATED", 5), ("FIRST_EMAIL_SENT", 5),
    ("EMAIL_BOUNCE", 3), ("LEAD_UNSUBSCRIBED", 2), ("MANUAL_STEP_REACHED", 2),
]
WRITES = {  # event type -> (upserts a contact, engagement object or None)
    "EMAIL_SENT": (True, "emails"), "FIRST_EMAIL_SENT": (True, "emails"),
    "EMAIL_REPLY": (True, "emails"), "EMAIL_BOUNCE": (True, "emails"),
    "EMAIL_OPEN": (True, None), "EMAIL_LINK_CLICK": (True, None),
    "LEAD_CATEGORY_UPDATED": (True, "notes"),
    "LEAD_UNSUBSCRIBED": (True, "notes"),
    "MANUAL_STEP_REACHED": (True, "tasks"),
}
BATCH_INPUTS = 100      # HubSpot's batch limit (docs/hubspot-client.md)
WINDOW_S = 10.0         # HubSpot's rolling rate-limit window
TIERS = {"professional": 190, "increase": 250}
FINAL = {"synced", "filtered", "dlq", "duplicate", "expired", "released"}

TARGETS = {
    "ingress_ratio": 0.5, "ingress_p99_ms": 25.0, "ingress_rss_mib": 64.0,
    # Against the minimal forwarder of the same run (bench/forwarder.c):
    # CPU per request at most its own plus 5 us, requests/s at least 0.9x.
    "ingress_cpu_over_forwarder_us": 5.0, "ingress_forwarder_ratio": 0.9,
    "worker_ceiling_fraction": 0.8, "calls_per_1000": 25.0,
    "into_exhausted": 0, "e2e_p50_ms": 1000.0,
    "state_ready_s": 5.0, "state_rss_mib": 64.0, "worker_rss_mib": 64.0,
}


def inputs_per_event():
    """HubSpot batch inputs one event of the mix needs, on average."""
    total = sum(share for _, share in MIX)
    n = 0.0
    for etype, share in MIX:
        contact, eng = WRITES[etype]
        n += share / total * ((1 if contact else 0) + (1 if eng else 0))
    return n


def min_calls_per_1000():
    """The fewest calls 1,000 events of the mix can need: every object type
    batched in full calls of 100 inputs."""
    return 1000.0 * inputs_per_event() / BATCH_INPUTS


def ceiling_events_per_s(per_10s):
    """Events/s the tier's steady rate allows at min_calls_per_1000()."""
    return per_10s / WINDOW_S * 1000.0 / min_calls_per_1000()


# -- small helpers ------------------------------------------------------------
def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def sizes_from_env():
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    out = {}
    for name, (full, q) in SIZES.items():
        v = os.environ.get("BENCH_" + name.upper())
        if v in (None, ""):
            out[name] = q if quick else full
        else:
            f = float(v)
            out[name] = int(f) if f == int(f) else f
    return quick, out


def proc_status(pid, field):
    """VmRSS/VmHWM of a process in MiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class RssSampler:
    """Largest VmRSS of some processes while a load runs."""

    def __init__(self, pids, interval=0.2):
        self.pids = list(pids)
        self.max = {p: 0.0 for p in self.pids}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self.interval = interval

    def _run(self):
        while not self._stop.is_set():
            for p in self.pids:
                v = proc_status(p, "VmRSS")
                if v is not None and v > self.max[p]:
                    self.max[p] = v
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        return False


def proc_cpu_s(pid):
    """utime + stime of a process (every thread), in seconds; None when it
    is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is the state (field 3): utime and stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(values):
    return statistics.median(values) if values else None


def iso_ms(s):
    """RFC 3339 text -> epoch milliseconds (None when unreadable)."""
    if not isinstance(s, str) or not s:
        return None
    try:
        t = s.replace("Z", "+00:00")
        # Python 3.11 reads at most 6 fraction digits.
        if "." in t:
            head, rest = t.split(".", 1)
            frac = "".join(ch for ch in rest if ch.isdigit())
            zone = rest[len(frac):]
            t = f"{head}.{frac[:6]}{zone}"
        return datetime.datetime.fromisoformat(t).timestamp() * 1000.0
    except ValueError:
        return None


# -- event generator ----------------------------------------------------------
FIXTURE_LEADS = ("jane.doe@acme-example.com", "j.smith@nonexistent-example.com")
CATEGORIES = [(1, "Interested"), (2, "Meeting Request"), (3, "Not Interested"),
              (5, "Out Of Office")]


def generate_events(n, leads, seed, lead_prefix="lead", mix=None):
    """n compact Smartlead payloads in the MIX proportions over `leads`
    distinct leads, derived from the shared fixtures: lead emails, lead ids,
    stats ids, message ids and timestamps changed per event."""
    rng = random.Random(seed)
    mix = mix or MIX
    total = sum(s for _, s in mix)
    counts = {t: n * s // total for t, s in mix}
    for t, _ in sorted(mix, key=lambda m: -m[1])[: n - sum(counts.values())]:
        counts[t] += 1
    types = [t for t, _ in mix for _ in range(counts[t])]
    rng.shuffle(types)
    fixtures = {}
    for t, _ in mix:
        with open(os.path.join(FIXTURES, t + ".json")) as f:
            fixtures[t] = f.read()
    base = datetime.datetime(2025, 4, 1, tzinfo=datetime.timezone.utc)
    per_lead = {}
    out = []
    for i, etype in enumerate(types):
        j = rng.randrange(leads)
        email = f"{lead_prefix}{j:05d}@bench{j % 97:02d}-example.com"
        text = fixtures[etype]
        for old in FIXTURE_LEADS:
            text = text.replace(old, email)
        p = json.loads(text)
        k = per_lead[j] = per_lead.get(j, 0) + 1
        when = base + datetime.timedelta(seconds=i * 7 + rng.random())
        ts = when.strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{when.microsecond // 1000:03d}Z"
        stats = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        lead_id = 3000000000 + j
        for key in ("sl_email_lead_id", "lead_id"):
            if key in p:
                p[key] = str(lead_id) if isinstance(p[key], str) else lead_id
        if "sl_email_lead_map_id" in p:
            p["sl_email_lead_map_id"] = 2500000000 + j
        if "campaign_id" in p:
            p["campaign_id"] = 1234567 + j % 5
        if "stats_id" in p:
            p["stats_id"] = stats
        if "message_id" in p and etype != "EMAIL_REPLY":
            p["message_id"] = f"<{stats}@outreach-example.com>"
        if isinstance(p.get("sent_message"), dict):
            p["sent_message"]["message_id"] = f"<{stats}@outreach-example.com>"
        if isinstance(p.get("reply_message"), dict):
            p["reply_message"]["message_id"] = f"<r-{stats}@mail.example.com>"
            p["reply_message"]["time"] = ts
            p["message_id"] = p["reply_message"]["message_id"]
        for key in ("event_timestamp", "time_sent", "time_opened",
                    "time_clicked", "time_replied", "created_at"):
            if key in p:
                p[key] = ts
        if "sequence_number" in p:
            p["sequence_number"] = k
        if etype == "MANUAL_STEP_REACHED":
            p["current_sequence_number"] = k + 1
        if etype == "LEAD_CATEGORY_UPDATED":
            cid, name = CATEGORIES[rng.randrange(len(CATEGORIES))]
            p["lead_category"]["new_id"] = cid
            p["lead_category"]["new_name"] = name
            p["lead_category_id"] = cid
            p["category"] = name
        out.append(json.dumps(p, separators=(",", ":")))
    return out


# -- the processes --------------------------------------------------------------
class Bench:
    def __init__(self, build_dir, sizes):
        self.build = build_dir
        self.sizes = sizes
        self.errors = []
        self.notes = []
        import harness  # after LS_BUILD_DIR is set (main)
        self.h = harness

    def binary(self, name):
        p = os.path.join(self.build, name)
        if not os.access(p, os.X_OK):
            raise RuntimeError(f"{p} is missing (build it first)")
        return p

    def config(self, st, tier=None, per_10s=None, worker=None, extra=None):
        """The dev config for this stack; the demo source's ingress rate
        limit raised out of the way (the limiter still runs). worker: keys
        of the worker section set for an A/B run (a negative value keeps
        the default); extra(cfg): a part's own changes, applied last."""
        def mutate(cfg):
            cfg["kafka"]["partitions"] = st.partitions
            if self.sizes["session_timeout_ms"]:
                # The mock broker delays a rebalance by the session timeout
                # less 1 s: a shorter one only makes group changes quicker.
                cfg["kafka"].setdefault("properties", {})[
                    "session.timeout.ms"] = str(
                        self.sizes["session_timeout_ms"])
            # The work-conserving quota (docs/bench.md, parts priority,
            # portals, scaling) is what these parts measure.
            cfg["worker"]["ratelimit_borrow"] = True
            for t in cfg["tenants"]:
                for s in t["sources"]:
                    s["rate_limit"] = {"per_second": 1e9, "burst": 1e9}
                if tier:
                    t["hubspot"]["tier"] = tier
                if per_10s:
                    t["hubspot"]["requests_per_10s"] = per_10s
            for k, v in (worker or {}).items():
                if v >= 0:
                    cfg["worker"][k] = v
            if extra:
                extra(cfg)
        return st.config(mutate)

    def stack(self, partitions):
        st = self.h.Stack()
        st.partitions = partitions
        return st

    # -- 1. ingress vs the bare server, 2. the Kafka ceiling -----------------
    def run_wrk(self, base, path):
        s = self.sizes
        files = sorted(os.path.join(FIXTURES, f) for f in os.listdir(FIXTURES)
                       if f.endswith(".json"))
        argv = ["wrk", f"-t{s['wrk_threads']}", f"-c{s['wrk_connections']}",
                f"-d{s['wrk_seconds']}s", "--latency", "--timeout", "10s",
                "-s", LUA, base, "--", path, *files]
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=s["wrk_seconds"] + 120)
        line = next((ln for ln in r.stdout.splitlines()
                     if ln.startswith("BENCH_JSON ")), None)
        if r.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({r.returncode}): "
                               f"{(r.stderr or r.stdout)[-400:]}")
        j = json.loads(line[len("BENCH_JSON "):])
        secs = j["duration_us"] / 1e6
        errors = (j["errors_connect"] + j["errors_read"] + j["errors_write"]
                  + j["errors_timeout"])
        return {"requests": j["requests"],
                "rps": j["requests"] / secs if secs > 0 else 0.0,
                "p50_ms": j["p50_us"] / 1000.0, "p90_ms": j["p90_us"] / 1000.0,
                "p99_ms": j["p99_us"] / 1000.0, "max_ms": j["max_us"] / 1000.0,
                "non_2xx": j["errors_status"], "socket_errors": errors}

    def part_ingress(self, res):
        """Rounds of bare server, minimal forwarder and ingress back to
        back (the same load each), with the CPU each process used per
        request (utime + stime over the run / requests)."""
        s = self.sizes
        h = self.h
        path = f"/v1/webhooks/smartlead/{h.DEMO_TOKEN}"
        with self.stack(6) as st:
            st.broker(partitions=st.partitions)
            cfg = self.config(st)
            ingress_url = st.ingress(cfg)
            ing = st.ingress_proc
            rf = st.path("bare.ready")
            bare = st.spawn("bare-server",
                            [self.binary("bench-bare-server"), "--listen",
                             "127.0.0.1:0", "--ready-file", rf],
                            ready_file=rf)
            ff = st.path("forwarder.ready")
            fwd = st.spawn("forwarder",
                           [self.binary("bench-forwarder"), "--config", cfg,
                            "--listen", "127.0.0.1:0", "--ready-file", ff],
                           ready_file=ff)
            sides = (("bare", bare, bare.ready_value),
                     ("forwarder", fwd, fwd.ready_value),
                     ("ingress", ing, ingress_url))
            with open(os.path.join(FIXTURES, "EMAIL_SENT.json"), "rb") as f:
                sample = f.read()
            for name, _, base in sides:
                st_, _, body = h.http_request(
                    base, "POST", path, sample,
                    {"Content-Type": "application/json"})
                if st_ != 200:
                    raise RuntimeError(f"{name} answered {st_} to a sample "
                                       f"POST: {body[:200]!r}")
            idle = proc_status(ing.pid, "VmRSS")
            runs = {name: [] for name, _, _ in sides}
            load_rss = 0.0
            for k in range(s["wrk_runs"]):
                for name, proc, base in sides:
                    log(f"wrk {name} run {k + 1}/{s['wrk_runs']} "
                        f"({s['wrk_seconds']} s, {s['wrk_connections']} "
                        f"connections)")
                    c0 = proc_cpu_s(proc.pid)
                    with RssSampler([ing.pid]) as rs:
                        r = self.run_wrk(base, path)
                    c1 = proc_cpu_s(proc.pid)
                    r["cpu_s"] = (c1 - c0) if None not in (c0, c1) else None
                    r["cpu_us_per_request"] = (
                        r["cpu_s"] * 1e6 / r["requests"]
                        if r["cpu_s"] is not None and r["requests"] else None)
                    if name == "ingress":
                        load_rss = max(load_rss, rs.max[ing.pid])
                    runs[name].append(r)
                    if not proc.alive():
                        raise RuntimeError(f"the {name} died under load:\n"
                                           + proc.tail())
            peak = proc_status(ing.pid, "VmHWM")

            def summary(rs):
                cpu = [r["cpu_us_per_request"] for r in rs
                       if r["cpu_us_per_request"] is not None]
                return {"runs": rs,
                        "rps": median([r["rps"] for r in rs]),
                        "p50_ms": median([r["p50_ms"] for r in rs]),
                        "p99_ms": median([r["p99_ms"] for r in rs]),
                        "non_2xx": sum(r["non_2xx"] for r in rs),
                        "socket_errors": sum(r["socket_errors"] for r in rs),
                        "cpu_us_per_request": median(cpu)}
            b, i = summary(runs["bare"]), summary(runs["ingress"])
            fw = summary(runs["forwarder"])
            res["ingress"] = {
                "connections": s["wrk_connections"],
                "seconds_per_run": s["wrk_seconds"], "runs": s["wrk_runs"],
                "bare": b, "ingress": i, "forwarder": fw,
                "ratio_to_bare": i["rps"] / b["rps"] if b["rps"] else None,
                "pair_ratios": [ri["rps"] / rb["rps"] for rb, ri in
                                zip(runs["bare"], runs["ingress"])
                                if rb["rps"]],
                "cpu_us_per_request": i["cpu_us_per_request"],
                "ratio_to_forwarder": (i["rps"] / fw["rps"] if fw["rps"]
                                       else None),
                "forwarder_pair_ratios": [
                    ri["rps"] / rf_["rps"] for rf_, ri in
                    zip(runs["forwarder"], runs["ingress"]) if rf_["rps"]],
                "rss_idle_mib": idle, "rss_load_mib": load_rss,
                "rss_peak_mib": peak,
            }
            res["ingress"]["forwarder"]["cpu_us_per_request"] = \
                fw["cpu_us_per_request"]
            # wrk counts every answer as a request, non-2xx ones included.
            total = sum(r["requests"] for r in runs["ingress"])
            if i["non_2xx"] > 0.01 * max(1, total):
                self.notes.append(f"ingress: {i['non_2xx']} non-2xx answers "
                                  "under load (e.g. 503 from Kafka timeouts)")

            # 2. Kafka ceiling: the same payloads, the ingress's producer.
            krs = []
            for k in range(s["kafka_runs"]):
                log(f"kafka produce run {k + 1}/{s['kafka_runs']} "
                    f"({s['kafka_seconds']} s)")
                krs.append(self.produce(st, cfg, ["--fixtures", FIXTURES,
                                                  "--seconds",
                                                  str(s["kafka_seconds"])]))
            rate = median([r["msgs_per_s"] for r in krs])
            res["kafka"] = {
                "runs": krs, "msgs_per_s": rate,
                "ingress_fraction": i["rps"] / rate if rate else None,
                "settings": "enable.idempotence=true acks=all "
                            "compression.type=lz4 linger.ms=1 (kq.c)",
            }

    def produce(self, st, cfg, args, timeout=600):
        argv = [self.binary("bench-kafka-produce"), "--config", cfg, *args]
        r = subprocess.run(argv, capture_output=True, text=True, env=st.env,
                           timeout=timeout)
        line = (r.stdout.strip().splitlines() or [""])[-1]
        try:
            j = json.loads(line)
        except ValueError:
            raise RuntimeError(f"bench-kafka-produce failed ({r.returncode}):"
                               f" {r.stderr[-600:]}")
        if r.returncode != 0 or j.get("failed"):
            raise RuntimeError(f"bench-kafka-produce: {j.get('failed')} "
                               f"failed, first error {j.get('first_error')}")
        return j

    # -- 3./4./5. the worker ---------------------------------------------------
    # One stack serves the worker run, its latency run and the scaling runs:
    # the dev broker and the emulator start once, every run uses new leads
    # and new event ids, and the counters are read as differences. Only the
    # workers change: the scaling runs stop the first worker and grow one
    # group to 1, 2 and 4 processes configured for the higher tier.
    def set_tier(self, st, tier):
        h = self.h
        st_, _, body = h.http_request(
            st.hubspot_url, "POST", "/_emulator/portals",
            {"token": h.HUBSPOT_TOKEN, "tier": tier,
             "requests_per_10s": TIERS[tier]})
        if st_ != 200:
            raise RuntimeError(f"emulator /portals answered {st_}: {body!r}")

    def start_workers(self, st, cfg, procs, n):
        """Grows procs to n workers of group "bench" (every event type) and
        waits until the group settled."""
        while len(procs) < n:
            procs.append(st.worker(cfg, "bench", self.h.ALL_EVENTS))
        counts = self.wait_group_stable(procs,
                                        len(self.h.ALL_EVENTS) * st.partitions)
        log(f"{n} worker(s) settled, partitions {counts}")

    def wait_group_stable(self, procs, partitions):
        """Waits until every worker holds partitions and together they hold
        all of them, from their "partitions assigned"/"revoked" log lines:
        otherwise the first seconds of a run measure rebalances."""
        def held(p):
            n = 0
            try:
                with open(p.log, errors="replace") as f:
                    for line in f:
                        if '"partitions ' not in line:
                            continue
                        try:
                            j = json.loads(line)
                        except ValueError:
                            continue
                        if j.get("msg") == "partitions assigned":
                            n = int(j.get("count", 0))
                        elif j.get("msg") == "partitions revoked":
                            n = 0
            except OSError:
                pass
            return n

        def stable():
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"{p.name} died:\n{p.tail()}")
            counts = [held(p) for p in procs]
            return (all(counts) and sum(counts) >= partitions) and counts
        return self.h.wait_for(stable, timeout=90, interval=0.2,
                               what=f"{len(procs)} worker(s) to share "
                                    f"{partitions} partitions")

    def wait_window_empty(self, st):
        """A fresh HubSpot rate window, so a run starts with no backlog of
        the previous one (at most one window, 10 s)."""
        if not self.sizes["fresh_window"]:
            return

        def empty():
            p = (st.hubspot_state().get("portals") or [{}])[0]
            return p.get("window_used", 0) == 0
        self.h.wait_for(empty, timeout=WINDOW_S + 10, interval=0.5,
                        what="the emulator's rate window to empty")

    def preload(self, st, cfg, events, name, rate=None):
        path = st.path(name + ".jsonl")
        with open(path, "w") as f:
            f.write("\n".join(events) + "\n")
        ids = st.path(name + ".ids")
        args = ["--jsonl", path, "--ids-out", ids]
        if rate:
            args += ["--rate", f"{rate:.3f}"]
        j = self.produce(st, cfg, args)
        if j["distinct_ids"] != len(events):
            self.notes.append(f"{name}: {len(events) - j['distinct_ids']} "
                              "generated events share an event id")
        produced = {}
        with open(ids) as f:
            for line in f:
                eid, topic, part, off, ts = line.rstrip("\n").split("\t")
                produced.setdefault(eid, float(ts))
        return j, produced

    def wait_synced(self, sl, ids, procs, what):
        """Waits until every id has a final sync_log outcome, a worker dies,
        or nothing progressed for stall_seconds."""
        stall = self.sizes["stall_seconds"]
        last_n, last_t = -1, time.monotonic()
        while True:
            n = sl.done_count(ids)
            if n >= len(ids):
                return n
            if n != last_n:
                last_n, last_t = n, time.monotonic()
            elif time.monotonic() - last_t > stall:
                self.notes.append(f"{what}: stalled at {n}/{len(ids)} "
                                  f"events for {stall} s")
                return n
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"{p.name} died:\n{p.tail()}")
            time.sleep(0.25)

    def rate_of(self, sl, ids, what):
        """events/s from the sync_log times: over the steady part (after the
        first 10-s rate window) when the run lasted two windows or more,
        over the whole run otherwise."""
        times = sorted(sl.done_times(ids))
        if len(times) < 2:
            return None, None, False
        t0, t1 = times[0], times[-1]
        span = (t1 - t0) / 1000.0
        overall = (len(times) - 1) / span if span > 0 else None
        if span >= 2 * WINDOW_S:
            cut = t0 + WINDOW_S * 1000.0
            n = sum(1 for t in times if t > cut)
            return n / ((t1 - cut) / 1000.0), overall, True
        self.notes.append(f"{what}: {len(times)} events took {span:.1f} s, "
                          "less than two rate-limit windows: the rate "
                          "includes the first window's burst")
        return overall, overall, False

    def hubspot_counters(self, st):
        c = st.hubspot_state().get("counters", {})
        return {"calls": c.get("requests_total", 0),
                "rate_limited_429": c.get("rate_limited_429", 0),
                "into_exhausted": c.get("requests_into_exhausted_window", 0)}

    def outcomes(self, sl, ids):
        out = {}
        for eid in ids:
            o = sl.outcome(eid)
            if o:
                out[o] = out.get(o, 0) + 1
        return out

    def measured_run(self, st, cfg, sl, procs, events, name, what,
                     per_10s):
        """Pre-loads events with the workers running and measures them."""
        before = self.hubspot_counters(st)
        pids = [p.pid for p in procs]
        with RssSampler(pids) as rs:
            pj, produced = self.preload(st, cfg, events, name)
            ids = list(produced)
            done = self.wait_synced(sl, ids, procs, what)
        after = self.hubspot_counters(st)
        d = {k: after[k] - before[k] for k in after}
        rate, overall, steady = self.rate_of(sl, ids, what)
        ceiling = ceiling_events_per_s(per_10s)
        per_1000 = 1000.0 * d["calls"] / done if done else None
        return {
            "events": len(ids), "completed": done,
            "preload_msgs_per_s": pj["msgs_per_s"],
            "events_per_s": rate, "events_per_s_overall": overall,
            "steady_state": steady,
            "ceiling_fraction": rate / ceiling if rate else None,
            "calls": d["calls"], "calls_per_1000_events": per_1000,
            "call_rate_fraction": (rate * per_1000 / 1000.0
                                   / (per_10s / WINDOW_S)
                                   if rate and per_1000 else None),
            "rate_limited_429": d["rate_limited_429"],
            "requests_into_exhausted_window": d["into_exhausted"],
            "outcomes": self.outcomes(sl, ids),
            "rss_load_mib": max(rs.max.values()),
            "rss_peak_mib": max((proc_status(p, "VmHWM") or 0.0)
                                for p in pids),
        }

    def part_worker(self, res, parts):
        s = self.sizes
        with self.stack(s["partitions"]) as st:
            st.broker(partitions=st.partitions)
            st.emulator()
            st.hubspot_faults({"latency_ms": s["hubspot_latency_ms"]})
            sl = SyncLog(st.bootstrap)
            try:
                if "worker" in parts:
                    try:
                        self.worker_run(res, st, sl)
                    except Exception as e:
                        self.errors.append(f"worker: {e}")
                        log(f"worker failed: {e}\n{traceback.format_exc()}")
                if "scaling" in parts:
                    self.scaling_runs(res, st, sl)
            finally:
                sl.close()

    def worker_run(self, res, st, sl):
        s = self.sizes
        tier = "professional"
        per_10s = TIERS[tier]
        self.set_tier(st, tier)
        cfg = self.config(st, tier=tier, per_10s=per_10s,
                          worker={"flush_max": s["worker_flush_max"]})
        procs = []
        self.start_workers(st, cfg, procs, 1)
        w = procs[0]
        idle = proc_status(w.pid, "VmRSS")
        events = generate_events(s["worker_events"], s["worker_leads"],
                                 seed=1, lead_prefix="w")
        log(f"worker: {len(events)} events, {s['worker_leads']} leads, "
            f"{tier} tier, +{s['hubspot_latency_ms']} ms")
        r = self.measured_run(st, cfg, sl, procs, events, "worker", "worker",
                              per_10s)
        r.update({
            "leads": s["worker_leads"], "mix": {t: sh for t, sh in MIX},
            "tier": tier, "requests_per_10s": per_10s,
            "hubspot_latency_ms": s["hubspot_latency_ms"],
            "ceiling_events_per_s": ceiling_events_per_s(per_10s),
            "min_calls_per_1000_events": min_calls_per_1000(),
            "rss_idle_mib": idle,
        })
        res["worker"] = r
        e2e = r["e2e"] = self.e2e(st, cfg, sl, procs,
                                  ceiling_events_per_s(per_10s))
        rate = r["events_per_s"]
        if rate and e2e["rate_events_per_s"] > rate:
            self.notes.append(
                f"worker e2e: the load ({e2e['rate_events_per_s']:.0f} "
                f"events/s, half the ceiling) is above the worker's measured "
                f"rate ({rate:.0f}/s): the latency includes queueing")
        r["rss_peak_mib"] = proc_status(w.pid, "VmHWM")
        if w.stop() != 0:
            raise RuntimeError(f"the worker exited with {w.p.returncode} "
                               f"on SIGTERM:\n{w.tail()}")

    def e2e(self, st, cfg, sl, procs, ceiling):
        """Latency from the Kafka timestamp of the source record to the
        sync_log's logged_at (HubSpot's 2xx), at half the ceiling."""
        s = self.sizes
        self.wait_window_empty(st)
        rate = ceiling / 2.0
        n = max(10, int(rate * s["e2e_seconds"]))
        events = generate_events(n, s["worker_leads"], seed=2,
                                 lead_prefix="e")
        log(f"worker e2e: {n} events at {rate:.0f}/s")
        _, produced = self.preload(st, cfg, events, "e2e", rate=rate)
        ids = list(produced)
        done = self.wait_synced(sl, ids, procs, "e2e")
        lat = [sl.done_time(eid) - produced[eid] for eid in ids
               if sl.done_time(eid) is not None]
        return {"rate_events_per_s": rate, "events": len(ids),
                "completed": done,
                "p50_ms": pct(lat, 50) if lat else None,
                "p99_ms": pct(lat, 99) if lat else None,
                "max_ms": max(lat) if lat else None}

    def scaling_runs(self, res, st, sl):
        s = self.sizes
        tier = "increase"
        per_10s = TIERS[tier]
        self.set_tier(st, tier)
        cfg = self.config(st, tier=tier, per_10s=per_10s)
        procs, runs = [], []
        res["scaling"] = {"tier": tier, "requests_per_10s": per_10s,
                          "hubspot_latency_ms": s["hubspot_latency_ms"],
                          "ceiling_events_per_s":
                              ceiling_events_per_s(per_10s), "runs": runs}
        for n in SCALE_WORKERS:
            self.start_workers(st, cfg, procs, n)
            self.wait_window_empty(st)
            events = generate_events(s["scale_events"], s["worker_leads"],
                                     seed=10 + n, lead_prefix=f"s{n}-")
            log(f"scaling: {n} worker(s), {len(events)} events, {tier} tier")
            r = self.measured_run(st, cfg, sl, procs, events, f"scale{n}",
                                  f"scaling x{n}", per_10s)
            r["workers"] = n
            runs.append(r)


class SyncLog:
    """Reads leadsync.sync_log from the beginning in the background and
    keeps, per event id, the first final outcome and its time."""

    def __init__(self, bootstrap):
        from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": f"bench-synclog-{uuid.uuid4()}",
                           "enable.auto.commit": False,
                           "auto.offset.reset": "earliest",
                           "log_level": 3})
        md = self.c.list_topics("leadsync.sync_log", timeout=10)
        parts = md.topics["leadsync.sync_log"].partitions
        self.c.assign([TopicPartition("leadsync.sync_log", p,
                                      OFFSET_BEGINNING) for p in parts])
        self.lock = threading.Lock()
        self.done = {}      # event id -> (outcome, epoch ms)
        self.bad = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            msgs = self.c.consume(500, 0.2)
            with self.lock:
                for m in msgs:
                    if m.error():
                        continue
                    try:
                        r = json.loads(m.value())
                    except ValueError:
                        self.bad += 1
                        continue
                    eid, outcome = r.get("event_id"), r.get("outcome")
                    if outcome not in FINAL or eid in self.done:
                        continue
                    t = iso_ms(r.get("logged_at"))
                    if t is None:
                        t = float(m.timestamp()[1])
                    self.done[eid] = (outcome, t)

    def done_count(self, ids):
        with self.lock:
            return sum(1 for i in ids if i in self.done)

    def done_times(self, ids):
        with self.lock:
            return [self.done[i][1] for i in ids if i in self.done]

    def done_time(self, eid):
        with self.lock:
            d = self.done.get(eid)
            return d[1] if d else None

    def outcome(self, eid):
        with self.lock:
            d = self.done.get(eid)
            return d[0] if d else None

    def close(self):
        self._stop.set()
        self._t.join()
        self.c.close()


# -- report -------------------------------------------------------------------
def part_console(build, sizes, res):
    """The console's read model: filled through its own apply path, then
    lookups by lead email and by event id timed on the finished database
    (bench/console_store.c)."""
    import tempfile
    d = tempfile.mkdtemp(prefix="leadsync-bench-console-")
    try:
        log(f"console: filling the read model with {sizes['console_events']:,}"
            " events")
        r = subprocess.run(
            [os.path.join(build, "bench-console-store"), "--db",
             os.path.join(d, "console.db"), "--events",
             str(sizes["console_events"]), "--lookups",
             str(sizes["console_lookups"])],
            capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"bench-console-store exited {r.returncode}: "
                               f"{r.stderr[-500:]}")
        res["console"] = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["rm", "-rf", d])


def get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def build_rows(res):
    """(section, metric, value text, target text, met) for the table, and
    the same as dicts for the JSON."""
    rows = []

    def num(v, fmt):
        return "n/a" if v is None else fmt.format(v)

    def add(section, metric, value, fmt, target=None, ok=None, key=None):
        met = None if target is None or value is None else ok(value)
        rows.append({"section": section, "metric": metric, "key": key,
                     "value": value, "text": num(value, fmt),
                     "target": target or "", "met": met})

    i = res.get("ingress", {})
    add("ingress", "bare libmicrohttpd req/s (ceiling)",
        get(i, "bare", "rps"), "{:,.0f}")
    add("ingress", "bare p50 / p99 ms",
        get(i, "bare", "p50_ms"), "{:.2f}")
    rows[-1]["text"] = (f"{num(get(i, 'bare', 'p50_ms'), '{:.2f}')} / "
                        f"{num(get(i, 'bare', 'p99_ms'), '{:.2f}')}")
    add("ingress", "bare CPU-us / request", get(i, "bare", "cpu_us_per_request"),
        "{:.1f}")
    add("ingress", "forwarder req/s (baseline)", get(i, "forwarder", "rps"),
        "{:,.0f}")
    add("ingress", "forwarder p50 / p99 ms",
        get(i, "forwarder", "p50_ms"), "{:.2f}")
    rows[-1]["text"] = (f"{num(get(i, 'forwarder', 'p50_ms'), '{:.2f}')} / "
                        f"{num(get(i, 'forwarder', 'p99_ms'), '{:.2f}')}")
    fcpu = get(i, "forwarder", "cpu_us_per_request")
    add("ingress", "forwarder CPU-us / request", fcpu, "{:.1f}")
    add("ingress", "ingress req/s", get(i, "ingress", "rps"), "{:,.0f}")
    add("ingress", "ingress / forwarder req/s", get(i, "ratio_to_forwarder"),
        "{:.2f}", f">= {TARGETS['ingress_forwarder_ratio']:.1f}",
        lambda v: v >= TARGETS["ingress_forwarder_ratio"],
        "ingress_forwarder_ratio")
    cpu_limit = (None if fcpu is None
                 else fcpu + TARGETS["ingress_cpu_over_forwarder_us"])
    add("ingress", "ingress CPU-us / request", get(i, "cpu_us_per_request"),
        "{:.1f}", "<= fwd+5" if cpu_limit is None
        else f"<= {cpu_limit:.1f}",
        lambda v: cpu_limit is not None and v <= cpu_limit,
        "ingress_cpu_us_per_request")
    add("ingress", "ingress / bare ratio", get(i, "ratio_to_bare"), "{:.2f}",
        f">= {TARGETS['ingress_ratio']:.2f}",
        lambda v: v >= TARGETS["ingress_ratio"], "ingress_ratio")
    add("ingress", "ingress p50 ms", get(i, "ingress", "p50_ms"), "{:.2f}")
    add("ingress", "ingress p99 ms", get(i, "ingress", "p99_ms"), "{:.2f}",
        f"<= {TARGETS['ingress_p99_ms']:.0f}",
        lambda v: v <= TARGETS["ingress_p99_ms"], "ingress_p99_ms")
    add("ingress", "ingress non-2xx answers", get(i, "ingress", "non_2xx"),
        "{:,}")
    add("memory", "ingress RSS idle MiB", get(i, "rss_idle_mib"), "{:.1f}")
    add("memory", "ingress RSS peak MiB (VmHWM)", get(i, "rss_peak_mib"),
        "{:.1f}", f"<= {TARGETS['ingress_rss_mib']:.0f}",
        lambda v: v <= TARGETS["ingress_rss_mib"], "ingress_rss_mib")
    k = res.get("kafka", {})
    add("kafka", "raw produce msgs/s (ceiling)", get(k, "msgs_per_s"),
        "{:,.0f}")
    add("kafka", "ingress req/s / produce ceiling", get(k, "ingress_fraction"),
        "{:.3f}")
    w = res.get("worker", {})
    add("worker", f"events/s ({w.get('tier', 'professional')}, "
        f"+{w.get('hubspot_latency_ms', 100)} ms)", get(w, "events_per_s"),
        "{:,.0f}")
    add("worker", "rate-limit ceiling events/s",
        get(res, "ceiling_definition", "events_per_s_by_tier", "professional"),
        "{:,.0f}")
    add("worker", "fraction of ceiling", get(w, "ceiling_fraction"), "{:.2f}",
        f">= {TARGETS['worker_ceiling_fraction']:.1f}",
        lambda v: v >= TARGETS["worker_ceiling_fraction"],
        "worker_ceiling_fraction")
    add("worker", "HubSpot calls / 1,000 events",
        get(w, "calls_per_1000_events"), "{:.1f}",
        f"<= {TARGETS['calls_per_1000']:.0f}",
        lambda v: v <= TARGETS["calls_per_1000"], "calls_per_1000")
    add("worker", "requests into exhausted window",
        get(w, "requests_into_exhausted_window"), "{:,}", "= 0",
        lambda v: v == TARGETS["into_exhausted"], "into_exhausted")
    add("worker", "429 answers", get(w, "rate_limited_429"), "{:,}")
    e = w.get("e2e", {}) if isinstance(w.get("e2e"), dict) else {}
    add("worker", f"e2e p50 ms at {num(e.get('rate_events_per_s'), '{:.0f}')}"
        " events/s", e.get("p50_ms"), "{:,.0f}",
        f"<= {TARGETS['e2e_p50_ms']:.0f}",
        lambda v: v <= TARGETS["e2e_p50_ms"], "e2e_p50_ms")
    add("worker", "e2e p99 ms", e.get("p99_ms"), "{:,.0f}")
    add("memory", "worker RSS idle MiB", get(w, "rss_idle_mib"), "{:.1f}")
    add("memory", "worker RSS peak MiB (VmHWM)", get(w, "rss_peak_mib"),
        "{:.1f}", f"<= {TARGETS['worker_rss_mib']:.0f}",
        lambda v: v <= TARGETS["worker_rss_mib"], "worker_rss_mib")
    sc = res.get("scaling", {})
    runs = sc.get("runs", [])
    label = "/".join(str(n) for n in SCALE_WORKERS)

    def joined(key, fmt):
        by_n = {r.get("workers"): r.get(key) for r in runs}
        return " / ".join(num(by_n.get(n), fmt) for n in SCALE_WORKERS)
    add("scaling", f"{label} workers events/s "
        f"({sc.get('requests_per_10s', TIERS['increase'])}/10 s)",
        None, "{}")
    rows[-1]["text"] = joined("events_per_s", "{:,.0f}")
    ceiling = sc.get("ceiling_events_per_s")
    add("scaling", f"{label} workers fraction of ceiling "
        f"{num(ceiling, '{:,.0f}')}", None, "{}")
    rows[-1]["text"] = joined("ceiling_fraction", "{:.2f}")
    add("scaling", f"{label} workers calls / 1,000 events", None, "{}")
    rows[-1]["text"] = joined("calls_per_1000_events", "{:.1f}")
    exhausted = [r.get("requests_into_exhausted_window") for r in runs]
    total = (sum(exhausted) if runs and None not in exhausted else None)
    add("scaling", f"{label} workers requests into exhausted window", total,
        "{}", "= 0", lambda v: v == 0, "scaling_into_exhausted")
    rows[-1]["text"] = joined("requests_into_exhausted_window", "{:,}")
    add("memory", f"{label} workers largest RSS peak MiB", None, "{}")
    rows[-1]["text"] = joined("rss_peak_mib", "{:.1f}")
    bench_quota.add_rows(res, add, get, num, rows)
    bench_state.state_rows(res, add, rows, TARGETS)
    state_filter.add_rows(res, add, get, num, rows)
    state_stores.add_rows(res, add, get, num, rows)
    cs = res.get("console", {})
    add("console", "read model events (Kafka records)", cs.get("events"),
        "{:,}")
    if cs:
        rows[-1]["text"] += f" ({cs.get('kafka_records', 0):,})"
    add("console", "read model fill records/s", cs.get("records_per_s"),
        "{:,.0f}")
    add("console", "read model size MiB",
        None if cs.get("db_bytes") is None else cs["db_bytes"] / 2**20,
        "{:,.0f}")
    add("console", "lookup by email p50 / p99 ms",
        get(cs, "email_lookup_ms", "p50"), "{:.2f}")
    rows[-1]["text"] = (f"{num(get(cs, 'email_lookup_ms', 'p50'), '{:.2f}')}"
                        f" / {num(get(cs, 'email_lookup_ms', 'p99'), '{:.2f}')}")
    add("console", "lookup by event id p50 / p99 ms",
        get(cs, "event_lookup_ms", "p50"), "{:.2f}")
    rows[-1]["text"] = (f"{num(get(cs, 'event_lookup_ms', 'p50'), '{:.2f}')}"
                        f" / {num(get(cs, 'event_lookup_ms', 'p99'), '{:.2f}')}")
    return rows


def print_table(rows, res):
    print()
    print(f"leadsync bench ({'quick' if res['quick'] else 'full'}, "
          f"{res['host']['cpus']} CPUs, load {res['host']['loadavg']}, "
          f"{res['started_at']})")
    w1 = max(len(r["section"]) for r in rows)
    w2 = max(len(r["metric"]) for r in rows)
    w3 = max(len(r["text"]) for r in rows)
    w4 = max(6, max(len(r["target"]) for r in rows))
    head = (f"{'area':<{w1}}  {'metric':<{w2}}  {'value':>{w3}}  "
            f"{'target':<{w4}}  result")
    print(head)
    print("-" * len(head))
    for r in rows:
        met = "" if r["met"] is None else ("met" if r["met"] else "missed")
        print(f"{r['section']:<{w1}}  {r['metric']:<{w2}}  {r['text']:>{w3}}  "
              f"{r['target']:<{w4}}  {met}")
    for n in res["notes"]:
        print(f"note: {n}")
    for e in res["errors"]:
        print(f"error: {e.splitlines()[0]}")
    print()
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-release"))
    ap.add_argument("--out", default=os.environ.get("BENCH_OUT") or None)
    ap.add_argument("--parts",
                    default="ingress,worker,scaling,priority,portals,state,"
                    "console",
                    help="comma-separated subset of ingress,worker,scaling,"
                    "priority,portals,state,console")
    ap.add_argument("--show", metavar="JSON",
                    help="print the table of an earlier run's BENCH_OUT")
    a = ap.parse_args()
    if a.show:
        with open(a.show) as f:
            old = json.load(f)
        print_table(build_rows(old), old)
        return 0
    build = os.path.abspath(a.build_dir)
    os.environ["LS_BUILD_DIR"] = build
    sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
    quick, sizes = sizes_from_env()
    try:
        from confluent_kafka import libversion
        rdk = libversion()[0]
    except ImportError:
        rdk = None
    res = {
        "version": 1, "quick": quick,
        "started_at": datetime.datetime.now(datetime.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"),
        "build_dir": build,
        "host": {"cpus": os.cpu_count(),
                 "loadavg": "{:.2f}".format(os.getloadavg()[0]),
                 "kernel": platform.release(), "librdkafka": rdk},
        "sizes": sizes,
        "ceiling_definition": {
            "batch_inputs": BATCH_INPUTS, "window_s": WINDOW_S,
            "inputs_per_event": inputs_per_event(),
            "min_calls_per_1000_events": min_calls_per_1000(),
            "events_per_s_by_tier": {t: ceiling_events_per_s(v)
                                     for t, v in TIERS.items()}},
    }
    b = Bench(build, sizes)
    t0 = time.monotonic()
    want = set(a.parts.split(","))
    steps = [("ingress", lambda: b.part_ingress(res))]
    if want & {"worker", "scaling"}:
        steps.append(("worker/scaling",
                      lambda: b.part_worker(res, want & {"worker",
                                                         "scaling"})))
    mod = sys.modules[__name__]
    if "priority" in want:
        steps.append(("priority",
                      lambda: bench_quota.part_priority(b, res, mod)))
    if "portals" in want:
        steps.append(("portals",
                      lambda: bench_quota.part_portals(b, res, mod)))
    if "state" in want:
        steps.append(("state", lambda: bench_state.part_state_ledger(
            b, res, proc_status)))
        steps.append(("state/filter",
                      lambda: state_filter.part_state_filter(b, res)))
        steps.append(("state/stores",
                      lambda: state_stores.part_state_stores(b, res)))
    if "console" in want:
        steps.append(("console", lambda: part_console(build, sizes, res)))
    for name, step in steps:
        if name == "ingress" and "ingress" not in want:
            continue
        try:
            step()
        except Exception as e:  # a part that cannot run still reports
            b.errors.append(f"{name}: {e}")
            log(f"{name} failed: {e}\n{traceback.format_exc()}")
    res["seconds"] = time.monotonic() - t0
    res["notes"] = b.notes
    res["errors"] = b.errors
    rows = build_rows(res)
    res["targets"] = [{"key": r["key"], "metric": r["metric"],
                       "value": r["value"], "target": r["target"],
                       "met": r["met"]} for r in rows if r["key"]]
    print_table(rows, res)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(res, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, a.out)
        log(f"wrote {a.out}")
    return 1 if b.errors else 0


if __name__ == "__main__":
    sys.exit(main())
