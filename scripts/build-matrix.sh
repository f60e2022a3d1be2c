#!/usr/bin/env bash
# make build-matrix: the build types CI and the image use, each with
# -Werror, in its own directory: Debug (-O0, where gcc's truncation checks
# see no ranges), Release (-O3), RelWithDebInfo without sanitizers (the
# Dockerfile's build) and the ASan/UBSan build of `make build`. Stops at
# the first failure and names it.
#   scripts/build-matrix.sh [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-2}
run() { # dir cmake-args...
  local dir=$1
  shift
  echo "build-matrix: $dir ($*)"
  cmake -S . -B "$dir" -DLS_WERROR=ON "$@" >/dev/null
  if ! cmake --build "$dir" -j "$jobs" >"$dir/matrix.log" 2>&1; then
    grep -E 'error|warning' "$dir/matrix.log" | head -20
    echo "build-matrix: $dir FAILED (log: $dir/matrix.log)"
    exit 1
  fi
}
run build-debug -DCMAKE_BUILD_TYPE=Debug -DLS_SANITIZE=OFF
run build-release-werror -DCMAKE_BUILD_TYPE=Release -DLS_SANITIZE=OFF
run build-nosan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_SANITIZE=OFF
run build -DLS_SANITIZE=ON
echo "build-matrix: all builds clean with -Werror"
