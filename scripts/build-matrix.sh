#!/usr/bin/env bash
# make build-matrix: the build types CI and the image use, each with
# -Werror, in its own directory: Debug (-O0, where gcc's truncation checks
# see no ranges), Release (-O3), RelWithDebInfo without sanitizers (the
# Dockerfile's build) and the ASan/UBSan build of `make build`. Stops at
# the first failure and names it.
#   scripts/build-matrix.sh [JOBS [NAME...]]
# NAMEs pick builds (debug, release, nosan, asan; default all of them);
# LS_MATRIX_DIR puts their directories there instead of the source tree
# (ctest build_release_werror: `release` under its build directory).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-2}
shift || true
want=" ${*:-debug release nosan asan} "
root=${LS_MATRIX_DIR:-.}
run() { # name dir cmake-args...
  local name=$1 dir=$root/$2
  shift 2
  [[ $want == *" $name "* ]] || return 0
  mkdir -p "$dir"
  echo "build-matrix: $dir ($*)"
  cmake -S . -B "$dir" -DLS_WERROR=ON "$@" >/dev/null
  if ! cmake --build "$dir" -j "$jobs" >"$dir/matrix.log" 2>&1; then
    grep -E 'error|warning' "$dir/matrix.log" | head -20
    echo "build-matrix: $dir FAILED (log: $dir/matrix.log)"
    exit 1
  fi
}
run debug build-debug -DCMAKE_BUILD_TYPE=Debug -DLS_SANITIZE=OFF
run release build-release-werror -DCMAKE_BUILD_TYPE=Release -DLS_SANITIZE=OFF
run nosan build-nosan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_SANITIZE=OFF
run asan build -DLS_SANITIZE=ON
echo "build-matrix:${want% } clean with -Werror"
