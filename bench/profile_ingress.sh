#!/usr/bin/env bash
# Where the ingress's time goes under the benchmark's load: perf (cpu-clock
# samples; this machine has no hardware counters) of the ingress and the dev
# broker while wrk posts the shared samples with 64 connections.
#   bench/profile_ingress.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-release}
SECS=${2:-10}
T=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$T"' EXIT
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
perf record -F 499 -e cpu-clock -g -o "$T/ingress.data" -p "$INGRESS" -- sleep "$SECS" >/dev/null 2>&1 &
PERF1=$!
perf record -F 499 -e cpu-clock -g -o "$T/broker.data" -p "$BROKER" -- sleep "$SECS" >/dev/null 2>&1 &
PERF2=$!
wrk -t2 -c64 -d"${SECS}s" --latency -s bench/post.lua "$URL" -- \
  /v1/webhooks/smartlead/dev-demo-7d1f3c9a2b4e4f60a8c1 tests/fixtures/smartlead/*.json | \
  grep -E "Requests/sec|50%|99%|Non-2xx" || true
wait $PERF1 $PERF2 || true
for who in ingress broker; do
  echo "== $who: top symbols (self time)"
  perf report -i "$T/$who.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -15
done
echo "== CPU split (samples): ingress $(perf report -i "$T/ingress.data" --stdio 2>/dev/null | grep -m1 'of event' ), broker $(perf report -i "$T/broker.data" --stdio 2>/dev/null | grep -m1 'of event')"
