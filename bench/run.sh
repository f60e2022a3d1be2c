#!/usr/bin/env bash
# make bench: runs the side-by-side benchmark against the binaries of a
# build directory (make bench passes build-release, a Release build without
# sanitizers). BENCH_OUT=FILE writes the figures as JSON too; BENCH_QUICK=1
# shrinks every run to a few seconds. See docs/bench.md.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
build="${1:-build-release}"
# Relative paths are the caller's, as with any command-line tool.
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
args=(--build-dir "$build")
if [ -n "${BENCH_OUT:-}" ]; then
  out="$BENCH_OUT"
  case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
  args+=(--out "$out")
fi
if ! command -v wrk >/dev/null; then
  echo "bench: wrk is not installed (make bootstrap installs it)" >&2
  exit 1
fi
cd "$root"
exec /usr/bin/python3 "$here/bench.py" "${args[@]}"
