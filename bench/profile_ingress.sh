#!/usr/bin/env bash
# Where the ingress's time goes under the benchmark's load, next to the
# minimal forwarder's (bench-forwarder --topic-per-type, the ingress's topic
# layout) in the same run: wrk posts the shared samples with 64 connections
# to one, then the other (one dev broker). For each side: CPU-us per request
# by thread group (/proc/PID/task/*: the HTTP threads, librdkafka's broker
# threads, librdkafka's main thread, the rest = the delivery-report poller,
# the prober and main), then perf (cpu-clock samples; this machine has no
# hardware counters) by library, thread, the HTTP threads' libraries and the
# top functions.
#   bench/profile_ingress.sh [BUILD_DIR] [SECONDS]
# TOP=N lists N functions (12); KEEP=DIR keeps the perf data there;
# SIDES="ingress forwarder" picks the sides (both by default).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
SECS=${2:-10}
T=$(mktemp -d)
KEEP=${KEEP:-}
SIDES=${SIDES:-ingress forwarder}
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "$KEEP" ] && mkdir -p "$KEEP" && cp "$T"/*.data "$KEEP"/ 2>/dev/null; rm -rf "$T"' EXIT
"$BUILD/leadsync-devbroker" --partitions 6 --bootstrap-file "$T/bs" >"$T/broker.log" 2>&1 &
BROKER=$!
for _ in $(seq 300); do [ -s "$T/bs" ] && break; sleep 0.1; done
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
cfg = json.load(open("config/dev.json"))
cfg["kafka"]["bootstrap_servers"] = open(t + "/bs").read().strip()
for tn in cfg["tenants"]:
    for s in tn["sources"]:
        s.pop("rate_limit", None)   # measure the pipeline, not the limiter
json.dump(cfg, open(t + "/config.json", "w"))
PY
# Per-thread CPU ticks, "comm ticks" a line (utime+stime of every thread).
threads() {
  for f in /proc/$1/task/*/stat; do
    awk '{ s = $0; sub(/^[^(]*\(/, "", s); c = s; sub(/\).*$/, "", c);
           sub(/^.*\) /, "", s); split(s, a, " "); gsub(/ /, "_", c);
           print c, a[12] + a[13] }' "$f" 2>/dev/null || true
  done
}
# Groups the difference of two snapshots, in CPU-us per request.
split_threads() { # BEFORE AFTER REQUESTS
  /usr/bin/python3 - "$1" "$2" "$3" "$(getconf CLK_TCK)" <<'PY'
import sys
def load(p):
    d = {}
    for l in open(p):
        c, t = l.split()
        d[c] = d.get(c, 0) + int(t)
    return d
b, a, n, hz = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
g = {"HTTP (MHD-*)": 0, "broker threads (rdk:broker*)": 0, "rdk:main": 0, "the rest": 0}
for c, t in a.items():
    d = t - b.get(c, 0)
    k = ("HTTP (MHD-*)" if c.startswith("MHD") else
         "broker threads (rdk:broker*)" if c.startswith("rdk:broker") else
         "rdk:main" if c == "rdk:main" else "the rest")
    g[k] += d
tot = sum(g.values())
for k, v in g.items():
    print(f"   {k:32s} {v / hz * 1e6 / max(n, 1):6.1f}")
print(f"   {'all threads':32s} {tot / hz * 1e6 / max(n, 1):6.1f}   ({n} requests)")
PY
}
side() { # NAME PID URL (head ends perf report early: no pipefail here)
  set +o pipefail
  local name=$1 pid=$2 url=$3
  threads "$pid" >"$T/$name.t0"
  perf record -F 499 -e cpu-clock -g -o "$T/$name.data" -p "$pid" -- sleep "$SECS" >/dev/null 2>&1 &
  local perf=$!
  wrk -t2 -c64 -d"${SECS}s" --latency -s bench/post.lua "$url" -- \
    /v1/webhooks/smartlead/dev-demo-7d1f3c9a2b4e4f60a8c1 tests/fixtures/smartlead/*.json >"$T/$name.wrk"
  threads "$pid" >"$T/$name.t1"
  wait $perf || true
  local n
  n=$(sed -n 's/^BENCH_JSON .*"requests":\([0-9]*\).*/\1/p' "$T/$name.wrk")
  echo "=== $name: $(grep -E 'Requests/sec' "$T/$name.wrk" | tr -s ' '), p99 $(grep -E '^ +99%' "$T/$name.wrk" | tr -s ' '), $(grep -c Non-2xx "$T/$name.wrk") Non-2xx lines"
  echo "== $name: CPU-us per request by thread group"
  split_threads "$T/$name.t0" "$T/$name.t1" "${n:-0}"
  echo "== $name: self time by library"
  perf report -i "$T/$name.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10
  echo "== $name: self time by thread"
  perf report -i "$T/$name.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8
  echo "== $name: the HTTP threads by library"
  perf report -i "$T/$name.data" --comm MHD-worker --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10
  echo "== $name: top functions"
  perf report -i "$T/$name.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -${TOP:-12}
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $SIDES; do
  case $s in
  ingress)
    "$BUILD/leadsync-ingress" --config "$T/config.json" --listen 127.0.0.1:0 \
      --ready-file "$T/ingress.ready" >"$T/ingress.log" 2>&1 &
    P=$! ;;
  forwarder)
    "$BUILD/bench-forwarder" --config "$T/config.json" --topic-per-type \
      --listen 127.0.0.1:0 --ready-file "$T/forwarder.ready" >"$T/forwarder.log" 2>&1 &
    P=$! ;;
  *) echo "unknown side $s" >&2; exit 2 ;;
  esac
  for _ in $(seq 300); do [ -s "$T/$s.ready" ] && break; sleep 0.1; done
  side "$s" "$P" "$(cat "$T/$s.ready")"
  kill "$P"; wait "$P" 2>/dev/null || true
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
