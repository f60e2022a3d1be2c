#!/usr/bin/env bash
# Installs the Debian packages leadsync builds, runs and tests with.
# Idempotent and quiet when everything is already present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  librdkafka-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
  libssl-dev libcmocka-dev
  kcat wrk curl procps
  clang libclang-rt-14-dev
  clang-format  # make format, make format-check (.clang-format names the version)
  python3 python3-jsonschema python3-yaml python3-confluent-kafka
  yamllint
  libsqlite3-dev chromium chromium-driver python3-selenium
  prometheus  # promtool: make test checks deploy/monitoring rules
  openssl  # the fan-out test makes a self-signed certificate (TLS verified)
)
if [ "${LS_BOOTSTRAP_EXTRA:-}" != "" ]; then
  read -r -a extra <<<"$LS_BOOTSTRAP_EXTRA"
  PKGS+=("${extra[@]}")
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "bootstrap: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
