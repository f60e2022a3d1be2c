#!/usr/bin/python3
"""Two ingress builds side by side: rounds of the bare server, the
forwarder, the ingress of BEFORE_BUILD and the ingress of AFTER_BUILD back
to back in one stack (one dev broker, wrk 64 connections, the shared
samples), with req/s, CPU-us per request (utime+stime / requests) and p99,
medians of the rounds and each against the forwarder (docs/bench.md).

    bench/ingress_ab.py BEFORE_BUILD AFTER_BUILD [SECONDS [ROUNDS]]

The bench servers come from AFTER_BUILD; both builds should be Release.
A second forwarder side ("fwd-per-type") writes the ingress's topic layout
(a topic per event type). AB_KAFKA_PROPS="linger.ms=5,..." sets producer
properties in the shared config (every side reads it: same settings).
AB_THREADS=N gives every side N libmicrohttpd threads (ingress.threads).
Context switches per request are summed over the process's threads.
WRK_DELAY_MS=N makes each connection pause N ms before each request
(bench/post.lua), so all sides run at about the same rate.
AB_SIDES=ingress-before,ingress-after runs only the named sides (of bare,
forwarder, fwd-per-type, ingress-before, ingress-after). Besides the
medians it prints AFTER - BEFORE per round (CPU and user CPU per request)
and AFTER / BEFORE req/s: the pairs ran back to back, so they share the
load of the moment better than medians of separate rounds do.
Like make bench it asserts nothing."""
import json, os, subprocess, sys, statistics
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.chdir(ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
if len(sys.argv) < 3:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
OLD, NEW = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.environ["LS_BUILD_DIR"] = NEW
import harness  # noqa: E402
FIX = sorted(os.path.join("tests/fixtures/smartlead", f)
             for f in os.listdir("tests/fixtures/smartlead"))
SECS = int(sys.argv[3]) if len(sys.argv) > 3 else 10
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 3
def cpu(pid, user_only=False):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + (0 if user_only else int(f[12]))) / os.sysconf("SC_CLK_TCK")
def ctxsw(pid):
    n = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            for l in open(f"/proc/{pid}/task/{t}/status"):
                if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    n += int(l.split()[-1])
        except OSError:
            pass
    return n
THREADS = os.environ.get("AB_THREADS")  # MHD threads of every side
TARGS = ["--threads", THREADS] if THREADS else []
PROPS = dict(kv.split("=", 1) for kv in os.environ.get("AB_KAFKA_PROPS", "").split(",") if kv)
def wrk(url):
    r = subprocess.run(["wrk", "-t2", "-c64", f"-d{SECS}s", "--latency", "--timeout", "10s", "-s", "bench/post.lua", url, "--",
                        f"/v1/webhooks/smartlead/{harness.DEMO_TOKEN}", *FIX], capture_output=True, text=True)
    j = json.loads(next(l for l in r.stdout.splitlines() if l.startswith("BENCH_JSON "))[11:])
    return j["requests"], j["requests"] / (j["duration_us"] / 1e6), j["p99_us"] / 1000, j["errors_status"]
with harness.Stack() as st:
    st.broker(partitions=6)
    def mut(cfg):
        for t in cfg["tenants"]:
            for s in t["sources"]:
                s["rate_limit"] = {"per_second": 1e9, "burst": 1e9}
        cfg["kafka"].setdefault("properties", {}).update(PROPS)
        if THREADS:
            cfg.setdefault("ingress", {})["threads"] = int(THREADS)
    cfg = st.config(mut)
    sides = []
    rf = st.path("bare.ready")
    p = st.spawn("bare", [os.path.join(NEW, "bench-bare-server"), "--listen", "127.0.0.1:0", "--ready-file", rf, *TARGS], ready_file=rf)
    sides.append(("bare", p, p.ready_value))
    rf = st.path("fw.ready")
    p = st.spawn("fw", [os.path.join(NEW, "bench-forwarder"), "--config", cfg, "--listen", "127.0.0.1:0", "--ready-file", rf, *TARGS], ready_file=rf)
    sides.append(("forwarder", p, p.ready_value))
    rf = st.path("fwt.ready")
    p = st.spawn("fwt", [os.path.join(NEW, "bench-forwarder"), "--config", cfg, "--topic-per-type", "--listen", "127.0.0.1:0", "--ready-file", rf, *TARGS], ready_file=rf)
    sides.append(("fwd-per-type", p, p.ready_value))
    for name, b in (("ingress-before", OLD), ("ingress-after", NEW)):
        rf = st.path(name + ".ready")
        p = st.spawn(name, [os.path.join(b, "leadsync-ingress"), "--config", cfg, "--listen", "127.0.0.1:0", "--ready-file", rf], ready_file=rf)
        sides.append((name, p, p.ready_value))
    only = [x for x in os.environ.get("AB_SIDES", "").split(",") if x]
    if only:  # e.g. AB_SIDES=ingress-before,ingress-after: more rounds per minute
        sides = [sd for sd in sides if sd[0] in only]
    res = {n: [] for n, _, _ in sides}
    for k in range(ROUNDS):
        for n, p, u in sides:
            c0 = cpu(p.pid); u0 = cpu(p.pid, True); x0 = ctxsw(p.pid)
            req, rps, p99, bad = wrk(u)
            c1 = cpu(p.pid); u1 = cpu(p.pid, True); x1 = ctxsw(p.pid)
            res[n].append({"rps": rps, "cpu_us": (c1 - c0) * 1e6 / req, "usr_us": (u1 - u0) * 1e6 / req,
                           "p99_ms": p99, "non2xx": bad, "cs": (x1 - x0) / req})
            print(f"round {k+1} {n:15s} {rps:9.0f} req/s {res[n][-1]['cpu_us']:6.1f} CPU-us/req (user {res[n][-1]['usr_us']:5.1f}) p99 {p99:6.2f} ms cs/req {res[n][-1]['cs']:.2f} non-2xx {bad} load {os.getloadavg()[0]:.1f}", flush=True)
    med = {n: {m: statistics.median(r[m] for r in rs) for m in ("rps", "cpu_us", "usr_us", "p99_ms", "cs")} for n, rs in res.items()}
    print("\nmedians of", ROUNDS, "rounds x", SECS, "s (load", os.getloadavg()[0], ") props", PROPS, "threads", THREADS or "default")
    # AFTER against BEFORE round by round (the two ran back to back, so
    # the pairs share the machine's load of the moment).
    pairs = list(zip(res["ingress-before"], res["ingress-after"]))
    for m in ("cpu_us", "usr_us"):
        d = [a[m] - b[m] for b, a in pairs]
        print(f"after - before {m}: median {statistics.median(d):+.1f} us per round {' '.join(f'{x:+.1f}' for x in d)}")
    d = [a["rps"] / b["rps"] for b, a in pairs]
    print(f"after / before req/s: median {statistics.median(d):.2f} per round {' '.join(f'{x:.2f}' for x in d)}")
    for base in (b for b in ("forwarder", "fwd-per-type") if b in med):
        print("against", base)
        for n, m in med.items():
            print(f"{n:15s} {m['rps']:9.0f} req/s {m['cpu_us']:6.1f} CPU-us/req (user {m['usr_us']:5.1f}) p99 {m['p99_ms']:6.2f} ms cs/req {m['cs']:.2f}  req/s vs fwd {m['rps']/med[base]['rps']:.2f}  CPU vs fwd {m['cpu_us']/med[base]['cpu_us']:.2f}x (+{m['cpu_us']-med[base]['cpu_us']:.1f} us)")
