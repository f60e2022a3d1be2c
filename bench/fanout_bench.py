#!/usr/bin/env python3
"""Fan-out delivery throughput to a fast local receiver.

    python3 bench/fanout_bench.py [--build-dir build-release] [--events N]
                                  [--in-flight K] [--endpoints E]

Starts the dev broker, preloads N events (distinct leads, three event types)
with bench-kafka-produce exactly as the ingress would record them, starts
bench-bare-server (libmicrohttpd answering 200) as the receiver, then
leadsync-fanout with E endpoints (each signed, marked internal, its own
consumer group) pointing at it, and times the backlog from the moment every
endpoint reports "caught up" to the moment every endpoint's
leadsync_fanout_delivered_total reaches N. Prints one JSON line. A
benchmark, not a test: it asserts nothing about speed."""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "fanout"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-release"))
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--in-flight", type=int, default=64)
    ap.add_argument("--endpoints", type=int, default=1)
    a = ap.parse_args()
    os.environ["LS_BUILD_DIR"] = os.path.abspath(a.build_dir)
    import harness
    from fanoutlib import metrics
    from harness import Stack, wait_for

    fixtures = os.path.join(ROOT, "tests", "fixtures", "smartlead")
    bodies = {k: json.load(open(os.path.join(fixtures, k + ".json")))
              for k in ("EMAIL_SENT", "EMAIL_OPEN", "EMAIL_LINK_CLICK")}
    with Stack() as st:
        st.broker(partitions=12)
        rf = st.path("bare.ready")
        bare = st.spawn("bare", [os.path.join(harness.BUILD,
                                              "bench-bare-server"),
                                 "--listen", "127.0.0.1:0", "--ready-file", rf],
                        ready_file=rf)
        st.env["BENCH_FANOUT_SECRET"] = \
            "whsec_YmVuY2gtc2VjcmV0LWZvci10aGUtZmFuLW91dC0zMg=="

        def eps(cfg):
            demo = next(t for t in cfg["tenants"] if t["id"] == "demo")
            demo["endpoints"] = [
                {"id": f"bench{i}", "url": bare.ready_value + "/hook",
                 "internal": True, "secret_env": "BENCH_FANOUT_SECRET",
                 "max_in_flight": a.in_flight}
                for i in range(a.endpoints)]
            cfg["fanout"] = {"max_pending": max(20000, a.events)}
        cfg = st.config(eps)
        path = st.path("events.jsonl")
        with open(path, "w") as f:
            kinds = list(bodies)
            for i in range(a.events):
                b = dict(bodies[kinds[i % 3]])
                b["to_email"] = f"bench{i // 3}@fanout-bench.example"
                b["stats_id"] = f"bench-{i}"
                f.write(json.dumps(b) + "\n")
        r = subprocess.run([os.path.join(harness.BUILD, "bench-kafka-produce"),
                            "--config", cfg, "--tenant", "demo", "--jsonl",
                            path], capture_output=True, text=True,
                           env=st.env, timeout=600)
        prod = json.loads(r.stdout.strip().splitlines()[-1])
        n = prod.get("distinct_ids", a.events)

        rff = st.path("fanout.ready")
        fo = st.spawn("fanout", [os.path.join(harness.BUILD, "leadsync-fanout"),
                                 "--config", cfg, "--listen", "127.0.0.1:0",
                                 "--ready-file", rff], ready_file=rff)
        url = fo.ready_value
        wait_for(lambda: open(fo.log).read().count("caught up") >= a.endpoints,
                 120, 0.01, "every endpoint caught up")
        t0 = time.monotonic()
        names = [f'leadsync_fanout_delivered_total{{endpoint="bench{i}"}}'
                 for i in range(a.endpoints)]

        def done():
            m = metrics(url)
            return all(m.get(k, 0) >= n for k in names) and m
        m = wait_for(done, 600, 0.05, "every event delivered")
        secs = time.monotonic() - t0
        total = n * a.endpoints
        print(json.dumps({
            "events": n, "endpoints": a.endpoints, "deliveries": total,
            "seconds": round(secs, 3),
            "deliveries_per_s": round(total / secs),
            "max_in_flight": a.in_flight,
            "failed": sum(v for k, v in m.items()
                          if k.startswith("leadsync_fanout_failed_total")),
            "rss_mib": round(m.get("process_resident_memory_bytes", 0)
                             / 1048576, 1),
            "cpu_s": m.get("process_cpu_seconds_total"),
        }), flush=True)


if __name__ == "__main__":
    main()
