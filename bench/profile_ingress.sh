#!/usr/bin/env bash
# Where the ingress's time goes under the benchmark's load: perf (cpu-clock
# samples; this machine has no hardware counters) of the ingress and the dev
# broker while wrk posts the shared samples with 64 connections.
#   bench/profile_ingress.sh [BUILD_DIR] [SECONDS]
# TOP=N lists N functions (12); KEEP=FILE keeps the perf data for perf report.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
SECS=${2:-10}
T=$(mktemp -d)
KEEP=${KEEP:-}
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "$KEEP" ] && cp "$T/ingress.data" "$KEEP"; rm -rf "$T"' EXIT
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
"$BUILD/leadsync-ingress" --config "$T/config.json" --listen 127.0.0.1:0 \
  --ready-file "$T/ready" >"$T/ingress.log" 2>&1 &
INGRESS=$!
for _ in $(seq 300); do [ -s "$T/ready" ] && break; sleep 0.1; done
URL=$(cat "$T/ready")
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime+stime, ticks
I0=$(cpu "$INGRESS"); B0=$(cpu "$BROKER")
perf record -F 499 -e cpu-clock -g -o "$T/ingress.data" -p "$INGRESS" -- sleep "$SECS" >/dev/null 2>&1 &
PERF1=$!
wrk -t2 -c64 -d"${SECS}s" --latency -s bench/post.lua "$URL" -- \
  /v1/webhooks/smartlead/dev-demo-7d1f3c9a2b4e4f60a8c1 tests/fixtures/smartlead/*.json >"$T/wrk.txt"
I1=$(cpu "$INGRESS"); B1=$(cpu "$BROKER")
wait $PERF1 || true
grep -E "Requests/sec|50%|99%|Non-2xx" "$T/wrk.txt" || true
HZ=$(getconf CLK_TCK)
echo "== CPU seconds over ${SECS}s (2 cores = $((2 * SECS)) s): ingress $(( (I1 - I0) / HZ )), dev broker $(( (B1 - B0) / HZ )), the rest (wrk, kernel softirq) is the remainder"
echo "== ingress: self time by library"
perf report -i "$T/ingress.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10
echo "== ingress: self time by thread"
perf report -i "$T/ingress.data" --no-children --sort comm --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8
echo "== ingress: the HTTP threads by library"
perf report -i "$T/ingress.data" --comm MHD-worker --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10
echo "== ingress: top functions"
perf report -i "$T/ingress.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -${TOP:-12}
