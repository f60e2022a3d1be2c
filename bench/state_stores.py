"""make bench part `state` (stores): the worker's de-duplication state in
its own in-memory table against LMDB and RocksDB with a fixed cache
(docs/bench.md section 9c, docs/worker.md "State": why the table).

bench-state-stores (bench/state_store_ab.c) runs one store at one size per
process, so each process's memory is that store's alone. Sizes are 0, a
tenth and all of BENCH_STATE_STORES_KEYS; every round runs each size with
the three stores back to back (the order rotates per round) and the table
shows each figure's median over the rounds, so the stores are compared
under the same load. Nothing needs Kafka: the restore is timed as the bulk
insert it ends in (part state.ledger times the whole restore from Kafka).

The binary is built only where liblmdb-dev and librocksdb-dev are installed
(make bench installs them); without it the part is skipped with a note.

Also runnable alone against any build directory:

    /usr/bin/python3 bench/state_stores.py BUILD_DIR [N1,N2,...]
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

STORES = ["mem", "lmdb", "rocksdb"]
# name: (full, quick); bench.py merges these into its SIZES.
SIZES = {
    "state_stores_keys":      (1000000, 100000),  # runs 0, 1/10, all
    "state_stores_lookups":   (20000,   5000),
    "state_stores_churn":     (20000,   5000),
    "state_stores_rounds":    (3,       1),
    "state_stores_cache_mib": (8,       8),
}
# The figures each row keeps (median over rounds); nested ones flattened.
FIELDS = {
    "load_s": ("load_s",), "load_cpu_s": ("load_cpu_s",),
    "charged_mib": ("charged_mib",), "bytes_per_key": ("bytes_per_key",),
    "rss_mib": ("rss_mib",), "rss_peak_mib": ("rss_peak_mib",),
    "page_cache_mib": ("page_cache_mib",), "disk_mib": ("disk_mib",),
    "store_mib": ("store_mib",),
    "hit_p50_us": ("hit", "p50_us"), "hit_p99_us": ("hit", "p99_us"),
    "miss_p50_us": ("miss", "p50_us"), "miss_p99_us": ("miss", "p99_us"),
    "churn_ops_per_s": ("churn_ops_per_s",),
    "churn_cpu_s": ("churn_cpu_s",),
    "expiry_pass_ms": ("expiry_pass_ms",),
    "reopen_warm_ms": ("reopen_warm", "first_lookups_ms"),
    "reopen_cold_ms": ("reopen_cold", "first_lookups_ms"),
    "reopen_cold_hit_p50_us": ("reopen_cold", "hit", "p50_us"),
}


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr,
          flush=True)


def _dig(d, path):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def run_one(binary, store, keys, sizes, workdir):
    d = os.path.join(workdir, f"{store}-{keys}")
    shutil.rmtree(d, ignore_errors=True)
    args = [binary, "--store", store, "--keys", str(keys),
            "--lookups", str(sizes["state_stores_lookups"]),
            "--churn", str(sizes["state_stores_churn"]),
            "--cache-mib", str(sizes["state_stores_cache_mib"])]
    if store != "mem":
        args += ["--dir", d]
    try:
        r = subprocess.run(args, capture_output=True, text=True,
                           timeout=3600)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if r.returncode != 0:
        raise RuntimeError(f"bench-state-stores --store {store} --keys "
                           f"{keys} exited {r.returncode}: {r.stderr[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def measure(binary, sizes, counts):
    """Rows (median per store and size) and the raw runs."""
    rounds = max(1, int(sizes["state_stores_rounds"]))
    workdir = tempfile.mkdtemp(prefix="leadsync-bench-stores-")
    runs = []
    try:
        for r in range(rounds):
            order = STORES[r % 3:] + STORES[:r % 3]
            for n in counts:
                for store in order:
                    t = time.monotonic()
                    one = run_one(binary, store, n, sizes, workdir)
                    one["round"] = r
                    runs.append(one)
                    log(f"state/stores: round {r + 1}/{rounds} {store} "
                        f"{n:,} keys in {time.monotonic() - t:.1f} s")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for n in counts:
        for store in STORES:
            mine = [x for x in runs if x["store"] == store and x["keys"] == n]
            row = {"store": store, "keys": n, "rounds": len(mine)}
            for name, path in FIELDS.items():
                vals = [v for v in (_dig(x, path) for x in mine)
                        if v is not None]
                row[name] = statistics.median(vals) if vals else None
            rows.append(row)
    return rows, runs


def part_state_stores(b, res):
    s = b.sizes
    binary = os.path.join(b.build, "bench-state-stores")
    if not os.path.exists(binary):
        b.notes.append("state/stores: bench-state-stores is not built (it "
                       "needs liblmdb-dev and librocksdb-dev; make bench "
                       "installs them)")
        return
    top = int(s["state_stores_keys"])
    counts = [0, top // 10, top]
    rows, runs = measure(binary, s, counts)
    st = res.setdefault("state", {})
    st["stores"] = rows
    st["stores_runs"] = runs
    st["stores_cache_mib"] = int(s["state_stores_cache_mib"])


def add_rows(res, add, get, num, table):
    """Rows of the table: each figure for mem / lmdb / rocksdb at the
    largest size."""
    rows = get(res, "state", "stores") or []
    if not rows:
        return
    top = max(r["keys"] for r in rows)
    by = {r["store"]: r for r in rows if r["keys"] == top}
    cache = get(res, "state", "stores_cache_mib")

    def joined(key, fmt, key2=None):
        out = []
        for st in STORES:
            r = by.get(st, {})
            t = num(r.get(key), fmt)
            if key2:
                t += "/" + num(r.get(key2), fmt)
            out.append(t)
        return " | ".join(out)

    head = f"mem | lmdb | rocksdb ({cache} MiB cache), {top:,} keys:"
    add("stores", head, None, "{}")
    table[-1]["text"] = ""
    for metric, key, fmt, key2 in [
            ("restore (bulk insert) wall/CPU s", "load_s", "{:.2f}",
             "load_cpu_s"),
            ("MiB charged (heap + page cache)", "charged_mib", "{:.1f}",
             None),
            ("bytes per key", "bytes_per_key", "{:.0f}", None),
            ("lookup hit p50/p99 us", "hit_p50_us", "{:.2f}", "hit_p99_us"),
            ("lookup miss p50/p99 us", "miss_p50_us", "{:.2f}",
             "miss_p99_us"),
            ("steady churn ops/s (in + out)", "churn_ops_per_s", "{:,.0f}",
             None),
            ("expiry pass ms (sweep / scan)", "expiry_pass_ms", "{:.0f}",
             None),
            ("re-open + 1,000 lookups ms warm", "reopen_warm_ms", "{:.1f}",
             None),
            ("re-open + 1,000 lookups ms cold", "reopen_cold_ms", "{:.1f}",
             None)]:
        add("stores", f"  {metric}", None, "{}")
        table[-1]["text"] = joined(key, fmt, key2)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                            else "build-release")
    counts = ([int(x) for x in sys.argv[2].split(",")] if len(sys.argv) > 2
              else [0, 100000, 1000000])
    sizes = {k: int(os.environ.get("BENCH_" + k.upper(), v[0]))
             for k, v in SIZES.items()}
    rows, _ = measure(os.path.join(build, "bench-state-stores"), sizes,
                      counts)
    print(f"load average {os.getloadavg()[0]:.2f}")
    for r in rows:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
