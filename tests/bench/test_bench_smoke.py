"""make bench, once, with tiny sizes: it must run every part and write
well-formed JSON with every field. Nothing about speed is asserted: the
figures of a run this small (and under the sanitizers) mean nothing."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import BUILD, SOURCE, Checks

c = Checks("bench_smoke")

SCHEMA = os.path.join(SOURCE, "bench", "results.schema.json")
TARGET_KEYS = {"ingress_ratio", "ingress_p99_ms", "ingress_rss_mib",
               "worker_ceiling_fraction", "calls_per_1000", "into_exhausted",
               "e2e_p50_ms", "scaling_into_exhausted",
               "ingress_forwarder_ratio", "ingress_cpu_us_per_request",
               "priority_activity_ceiling_fraction", "priority_reply_p50_ms",
               "priority_reply_p99_ms", "priority_into_exhausted",
               "portals_ceiling_fraction", "portals_fairness",
               "portals_into_exhausted", "worker_rss_mib",
               "state_ready_s", "state_rss_mib", "state_filter_rss_mib"}
# The smallest sizes that still exercise every code path: one wrk and one
# produce run per side, a few batches per worker run, 4 partitions so the
# 4-worker scaling run has partitions for each, no waiting for an empty
# rate window, and a short session timeout (the mock broker delays every
# rebalance by it, less 1 s).
TINY = {
    "BENCH_QUICK": "1",
    "BENCH_WRK_SECONDS": "1",
    "BENCH_WRK_CONNECTIONS": "16",
    "BENCH_KAFKA_SECONDS": "0.5",
    "BENCH_PARTITIONS": "4",
    "BENCH_WORKER_EVENTS": "200",
    "BENCH_WORKER_LEADS": "50",
    "BENCH_E2E_SECONDS": "0.3",
    "BENCH_FRESH_WINDOW": "0",
    "BENCH_SCALE_EVENTS": "120",
    "BENCH_STALL_SECONDS": "20",
    "BENCH_SESSION_TIMEOUT_MS": "2500",
    "BENCH_STATE_RECORDS": "2000",
    "BENCH_STATE_PARTITIONS": "4",
    "BENCH_STATE_FILTER_LEADS": "500",
    "BENCH_STATE_FILTER_PARTITIONS": "4",
    "BENCH_STATE_FILTER_HISTORY": "400",
    "BENCH_STATE_STORES_KEYS": "2000",
    "BENCH_STATE_STORES_LOOKUPS": "200",
    "BENCH_STATE_STORES_CHURN": "200",
    "BENCH_STATE_STORES_ROUNDS": "1",
    "BENCH_CONSOLE_EVENTS": "2000",
    "BENCH_CONSOLE_LOOKUPS": "100",
    "BENCH_PRIORITY_BACKLOG": "100",
    "BENCH_PRIORITY_REPLY_SECONDS": "1",
    "BENCH_PRIORITY_WARMUP_S": "0",
    "BENCH_PORTALS_TENANTS": "2",
    "BENCH_PORTALS_EVENTS": "20",
    "BENCH_PORTALS_WORKERS": "2",
}

tmp = tempfile.mkdtemp(prefix="leadsync-bench-smoke-")
out = os.path.join(tmp, "results.json")
try:
    env = dict(os.environ)
    env.update(TINY)
    env["BENCH_OUT"] = out
    t0 = time.monotonic()
    r = subprocess.run([os.path.join(SOURCE, "bench", "run.sh"), BUILD],
                       cwd=tmp, env=env, capture_output=True, text=True,
                       timeout=220)
    secs = time.monotonic() - t0
    print(f"bench ran in {secs:.1f} s, exit {r.returncode}", flush=True)
    if not c.eq(r.returncode, 0, "bench/run.sh exit status"):
        print("stdout:\n" + r.stdout[-4000:] + "\nstderr:\n"
              + r.stderr[-6000:], flush=True)
    c.true("leadsync bench (quick" in r.stdout, "the table was printed",
           r.stdout[-2000:])
    c.true("met" in r.stdout or "missed" in r.stdout,
           "the table has a met/missed column", r.stdout[-2000:])

    data = None
    if c.true(os.path.exists(out), "BENCH_OUT was written", out):
        with open(out) as f:
            text = f.read()
        try:
            data = json.loads(text)
        except ValueError as e:
            c.true(False, "BENCH_OUT is JSON", f"{e}: {text[:300]!r}")
    if data is not None:
        import jsonschema
        with open(SCHEMA) as f:
            schema = json.load(f)
        v = jsonschema.Draft202012Validator(schema)
        errs = sorted(v.iter_errors(data), key=lambda e: list(e.path))
        for e in errs[:20]:
            print(f"  schema: /{'/'.join(str(p) for p in e.path)}: "
                  f"{e.message[:300]}", flush=True)
        c.eq(len(errs), 0, "results match bench/results.schema.json")
        keys = {t.get("key") for t in data.get("targets", [])}
        c.eq(sorted(TARGET_KEYS - keys), [], "every target is reported")
        c.eq(data.get("errors"), [], "no part failed")
        c.eq(data.get("quick"), True, "BENCH_QUICK was honoured")
        c.eq(data.get("sizes", {}).get("worker_events"), 200,
             "size overrides were honoured")
        ing = data.get("ingress", {})
        fw = ing.get("forwarder", {})
        c.true(fw.get("requests", 0) > 0 or sum(
            r.get("requests", 0) for r in fw.get("runs", [])) > 0,
            "the forwarder answered requests", fw)
        c.eq(fw.get("non_2xx"), 0,
             "the forwarder answered every request 200 (after its delivery "
             "report)")
        c.true((ing.get("cpu_us_per_request") or 0) > 0,
               "the ingress's CPU per request was measured", ing)
        pr, po = data.get("priority", {}), data.get("portals", {})
        c.eq((pr.get("replies_synced"), pr.get("activity_synced")),
             (pr.get("replies"), pr.get("activity_backlog")),
             "the priority part synced every reply and activity event")
        c.eq((po.get("completed"), po.get("tenants")),
             (po.get("events"), 2),
             "the portals part synced every tenant's backlog")
        one = po.get("one_worker") or {}
        c.eq((po.get("workers"), one.get("completed")), (2, one.get("events")),
             "the portals part ran 2 replicas after its one-worker round, "
             "which synced its backlog too")
        cs = data.get("console", {})
        c.eq((cs.get("events"), cs.get("email_found"), cs.get("event_found")),
             (2000, 100, 100),
             "the console part filled its read model and found every lookup")
        # Built only where liblmdb-dev and librocksdb-dev are (bench/
        # CMakeLists.txt); each store's run checks its own answers.
        if os.path.exists(os.path.join(BUILD, "bench-state-stores")):
            rows = data.get("state", {}).get("stores", [])
            c.eq(sorted((r.get("store"), r.get("keys")) for r in rows),
                 sorted((s, n) for s in ("mem", "lmdb", "rocksdb")
                        for n in (0, 200, 2000)),
                 "the stores part ran every store at every size")
finally:
    shutil.rmtree(tmp, ignore_errors=True)
c.done()
