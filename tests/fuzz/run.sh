#!/usr/bin/env bash
# Builds the libFuzzer harness over the ingress's parse-validate-route path
# with clang (-fsanitize=fuzzer,address,undefined) against the lib sources,
# in its own build directory, and runs it for SECONDS (default 60).
#   tests/fuzz/run.sh [SECONDS]        (make fuzz: FUZZ_SECONDS, default 600)
# LS_FUZZ_BUILD picks the build directory (default build-fuzz/). New inputs
# go to <build>/corpus; crashes to <build>/crash-*; the seeds in
# tests/fuzz/corpus are only read.
set -euo pipefail
secs=${1:-60}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=${LS_FUZZ_BUILD:-$src/build-fuzz}
cc=${CLANG:-clang}
mkdir -p "$out/corpus"

# Every .c of the two bottom layers, lib/core and lib/model (the pure
# helpers: JSON, hashing, time, event identity, schemas, config), so a
# helper added there never breaks this build; not the ones that need the
# CMake build's generated version header or process probes.
lib_dirs=(lib/core lib/model)
lib_sources=()
for d in "${lib_dirs[@]}"; do
  for f in "$src/$d"/*.c; do
    case "$(basename "$f")" in
      ls_version.c | ls_metrics.c | ls_process.c) ;;
      *) lib_sources+=("$d/$(basename "$f")") ;;
    esac
  done
done
sources=("${lib_sources[@]}" ingress/ing_route.c ingress/ing_json.c ingress/ing_arena.c ingress/ing_mask.c
         tests/ingress/route_ref.c tests/fuzz/fuzz_ingress.c)
bin="$out/fuzz_ingress"
stale=0
[ -x "$bin" ] || stale=1
for f in "${sources[@]}"; do
  [ "$src/$f" -nt "$bin" ] && stale=1
done
for f in "$src"/lib/core/*.h "$src"/lib/model/*.h "$src"/ingress/*.h; do
  [ "$f" -nt "$bin" ] && stale=1
done
if [ $stale = 1 ]; then
  echo "fuzz: building $bin"
  (cd "$src" && "$cc" -g -O1 -std=c11 -D_GNU_SOURCE \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Ilib/core -Ilib/model -Iingress -Itests/ingress \
    $(pkg-config --cflags jansson libcrypto) \
    -DLS_DEFAULT_SCHEMA_DIR="\"$src/schemas\"" \
    "${sources[@]}" -o "$bin" \
    $(pkg-config --libs jansson libcrypto) -lpthread -lm)
fi

log="$out/fuzz.log"
echo "fuzz: running for ${secs}s (log: $log)"
set +e
LEADSYNC_SCHEMA_DIR="$src/schemas" LEADSYNC_LOG_LEVEL=error \
"$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -dict="$src/tests/fuzz/json.dict" -artifact_prefix="$out/" \
  -print_final_stats=1 "$out/corpus" "$src/tests/fuzz/corpus" >"$log" 2>&1
rc=$?
set -e
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
echo "fuzz: ${execs:-?} executions in ${secs}s, ${cov:-cov ?}, corpus $(ls "$out/corpus" | wc -l) files, exit $rc"
if [ $rc -ne 0 ]; then
  tail -60 "$log"
  echo "fuzz: FAILED (artifacts in $out)"
  exit 1
fi
echo "fuzz: passed"
