#!/usr/bin/env bash
# make run: the whole leadsync stack on embedded defaults, until Ctrl-C.
#   dev broker -> .run/bootstrap
#   HubSpot emulator on 127.0.0.1:8091 (or the real API when HUBSPOT_TOKEN is set)
#   ingress on 127.0.0.1:8080, one worker per worker group
#   LEADSYNC_DEMO=0 skips posting the bundled sample events.
#   LEADSYNC_RUN_DIR moves .run/ (ready files, logs, effective config).
# Ctrl-C (SIGINT) or SIGTERM stops every process, newest first, and exits 0
# when each of them stopped on SIGTERM with status 0; 1 otherwise.
set -euo pipefail

# On a terminal, run as a foreground job of a job-control shell: Ctrl-C then
# reaches this script's process group only, not the make that started it
# (make dies of SIGINT whatever its recipe returns), so `make run` exits 0.
if [ -t 0 ] && [ -z "${LS_RUN_FOREGROUND:-}" ]; then
  export LS_RUN_FOREGROUND=1
  exec bash -m -c '"$0" "$@"; exit $?' "$0" "$@"
fi

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
RUN=${LEADSYNC_RUN_DIR:-$ROOT/.run}
LOGS=$RUN/logs
INGRESS_LISTEN=${INGRESS_LISTEN:-127.0.0.1:8080}
EMULATOR_LISTEN=${EMULATOR_LISTEN:-127.0.0.1:8091}
CONSOLE_LISTEN=${CONSOLE_LISTEN:-127.0.0.1:8088}
DEMO_TOKEN=dev-demo-7d1f3c9a2b4e4f60a8c1
FILTERED_TOKEN=dev-filtered-5b2e8d71c0f94a3d9e6f
GROUPS_SPEC=(
  "replies=EMAIL_REPLY,UNTRACKED_REPLIES"
  "activity=EMAIL_SENT,FIRST_EMAIL_SENT,EMAIL_OPEN,EMAIL_LINK_CLICK,EMAIL_BOUNCE"
  "leadstatus=LEAD_CATEGORY_UPDATED,LEAD_UNSUBSCRIBED,CAMPAIGN_STATUS_CHANGED"
  "tasks=MANUAL_STEP_REACHED"
)

PIDS=()
declare -A NAME_OF=() # pid -> name, recorded by wait_ready
# Every process runs in its own session (setsid): Ctrl-C reaches this script
# only, which stops them in order. stop_all sends SIGTERM to the services,
# then to what they need (the dev broker and the emulators), reaps each and
# is false when one needed SIGKILL after 10 s or exited with a non-zero status.
stop_all() {
  local failed=0
  stop_tier service || failed=1
  stop_tier infra || failed=1
  rm -f "$RUN"/*.ready
  return $failed
}
stop_tier() { # service|infra
  local i p n rc failed=0 tier pids=()
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    case "${NAME_OF[${PIDS[i]}]:-}" in devbroker | *-emulator) tier=infra ;; *) tier=service ;; esac
    [ "$tier" = "$1" ] && pids+=("${PIDS[i]}")
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    n=${NAME_OF[$p]:-process $p}
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      echo "make run: $n did not stop within 10 s; killed"
      failed=1
    fi
    rc=0
    wait "$p" 2>/dev/null || rc=$?
    if [ "$rc" != 0 ]; then
      echo "make run: $n exited with status $rc (see $LOGS/$n.log)"
      failed=1
    fi
  done
  return $failed
}
# Ctrl-C, SIGTERM or a closed terminal: the normal way to stop.
on_stop() {
  trap - INT TERM HUP EXIT
  echo
  echo "make run: stopping ${#PIDS[@]} processes"
  local rc=0
  stop_all || rc=1
  echo "make run: stopped (logs in $LOGS)"
  exit $rc
}
# Any other exit (a process failed to start or died): stop the rest and keep
# the failing status.
on_exit() {
  local rc=$?
  trap - INT TERM HUP EXIT
  stop_all || true
  exit $rc
}
trap on_stop INT TERM HUP
trap on_exit EXIT

# Waits until a ready file appears, or fails if the process died.
wait_ready() { # name pid file
  NAME_OF[$2]=$1
  for _ in $(seq 300); do
    [ -s "$3" ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "make run: $1 exited; last log lines:"; tail -20 "$LOGS/$1.log"; exit 1; }
    sleep 0.1
  done
  echo "make run: $1 did not become ready in 30 s"; tail -20 "$LOGS/$1.log"; exit 1
}

mkdir -p "$LOGS"
rm -f "$RUN"/*.ready "$RUN"/bootstrap
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

setsid "$BUILD/leadsync-devbroker" --partitions 6 --bootstrap-file "$RUN/bootstrap" \
  >"$LOGS/devbroker.log" 2>&1 &
PIDS+=($!); wait_ready devbroker $! "$RUN/bootstrap"
export KAFKA_BOOTSTRAP_SERVERS=$(cat "$RUN/bootstrap")

if [ -n "${HUBSPOT_TOKEN:-}" ]; then
  HUBSPOT_BASE_URL=${HUBSPOT_BASE_URL:-https://api.hubapi.com}
  echo "make run: syncing into the real HubSpot API at $HUBSPOT_BASE_URL"
else
  export HUBSPOT_TOKEN=pat-na1-dev-token
  setsid "$BUILD/hubspot-emulator" --listen "$EMULATOR_LISTEN" --ready-file "$RUN/hubspot.ready" \
    --token "$HUBSPOT_TOKEN:professional:1000001" >"$LOGS/hubspot-emulator.log" 2>&1 &
  PIDS+=($!); wait_ready hubspot-emulator $! "$RUN/hubspot.ready"
  HUBSPOT_BASE_URL=$(cat "$RUN/hubspot.ready")
fi
export HUBSPOT_BASE_URL
printf '%s\n' "$HUBSPOT_BASE_URL" >"$RUN/hubspot_url"

# The Smartlead API emulator (docs/smartlead-emulator.md): .run/smartlead_url
# is the API base ($URL/campaigns?api_key=$(cat .run/smartlead_api_key)).
SMARTLEAD_LISTEN=${SMARTLEAD_LISTEN:-127.0.0.1:8094}
SMARTLEAD_API_KEY=${SMARTLEAD_API_KEY:-sl-dev-api-key}
setsid "$BUILD/smartlead-emulator" --listen "$SMARTLEAD_LISTEN" --api-key "$SMARTLEAD_API_KEY" \
  --ready-file "$RUN/smartlead.ready" >"$LOGS/smartlead-emulator.log" 2>&1 &
PIDS+=($!); wait_ready smartlead-emulator $! "$RUN/smartlead.ready"
export SMARTLEAD_BASE_URL=$(cat "$RUN/smartlead.ready") SMARTLEAD_API_KEY
printf '%s\n' "$SMARTLEAD_BASE_URL" >"$RUN/smartlead_url"
printf '%s\n' "$SMARTLEAD_API_KEY" >"$RUN/smartlead_api_key"
chmod 600 "$RUN/smartlead_api_key"
printf '%s\n' "$HUBSPOT_TOKEN" >"$RUN/hubspot_token"
chmod 600 "$RUN/hubspot_token"

# The effective config: the dev config with this run's addresses filled in,
# so `leadsync` run from the repository root finds the stack with no flags.
/usr/bin/python3 - "$ROOT/config/dev.json" "$RUN/config.json" <<'PY'
import json, os, sys
cfg = json.load(open(sys.argv[1]))
cfg["kafka"]["bootstrap_servers"] = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
cfg["ingress"]["listen"] = os.environ.get("INGRESS_LISTEN", "127.0.0.1:8080")
for t in cfg["tenants"]:
    t["hubspot"]["base_url"] = os.environ["HUBSPOT_BASE_URL"]
# The console's dev login: a fresh password each run (.run/console_login).
import hashlib, secrets
pw = secrets.token_urlsafe(12)
salt = secrets.token_bytes(16)
dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 200000)
cfg["console"] = {
    "listen": os.environ.get("CONSOLE_LISTEN", "127.0.0.1:8088"),
    "db_path": os.path.join(os.path.dirname(sys.argv[2]), "console.db"),
    "ingress_url": "http://" + os.environ.get("INGRESS_LISTEN", "127.0.0.1:8080"),
    "cookie_secure": False,
    "hubspot_portals": {"demo": 1000001, "demo-filtered": 1000001},
    "auth": {"users": [{"name": "dev", "role": "operator",
                        "password_hash": f"pbkdf2-sha256$200000${salt.hex()}${dk.hex()}"}]}}
json.dump(cfg, open(sys.argv[2], "w"), indent=2)
login = os.path.join(os.path.dirname(sys.argv[2]), "console_login")
with open(os.open(login, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
    f.write(f"dev:{pw}\n")
PY
export LEADSYNC_CONFIG=$RUN/config.json

setsid "$BUILD/leadsync-ingress" --config "$LEADSYNC_CONFIG" --listen "$INGRESS_LISTEN" \
  --ready-file "$RUN/ingress.ready" >"$LOGS/ingress.log" 2>&1 &
PIDS+=($!); wait_ready ingress $! "$RUN/ingress.ready"
INGRESS_URL=$(cat "$RUN/ingress.ready")
printf '%s/v1/webhooks/smartlead/%s\n' "$INGRESS_URL" "$DEMO_TOKEN" >"$RUN/webhook_url"
printf '%s/v1/webhooks/smartlead/%s\n' "$INGRESS_URL" "$FILTERED_TOKEN" >"$RUN/webhook_url_filtered"

for spec in "${GROUPS_SPEC[@]}"; do
  g=${spec%%=*}; ev=${spec#*=}
  setsid "$BUILD/leadsync-worker" --config "$LEADSYNC_CONFIG" --group "$g" --events "$ev" \
    --listen 127.0.0.1:0 --ready-file "$RUN/worker-$g.ready" >"$LOGS/worker-$g.log" 2>&1 &
  PIDS+=($!); wait_ready "worker-$g" $! "$RUN/worker-$g.ready"
done
# The category filter (hold and release for tenants with filter.categories).
setsid "$BUILD/leadsync-worker" --config "$LEADSYNC_CONFIG" --role filter \
  --listen 127.0.0.1:0 --ready-file "$RUN/worker-filter.ready" >"$LOGS/worker-filter.log" 2>&1 &
PIDS+=($!); wait_ready worker-filter $! "$RUN/worker-filter.ready"

# Webhook assurance (docs/assurance.md): the demo tenant's Smartlead account
# is the emulator; `leadsync assure --tenant demo --since 2d` runs it now.
setsid "$BUILD/leadsync-assurance" --config "$LEADSYNC_CONFIG" --listen "${ASSURANCE_LISTEN:-127.0.0.1:0}" \
  --ready-file "$RUN/assurance.ready" >"$LOGS/assurance.log" 2>&1 &
PIDS+=($!); wait_ready assurance $! "$RUN/assurance.ready"

# The operations console (web UI and JSON API), its read model under .run/.
setsid "$BUILD/leadsync-console" --config "$LEADSYNC_CONFIG" --listen "$CONSOLE_LISTEN" --rebuild \
  --ready-file "$RUN/console.ready" >"$LOGS/console.log" 2>&1 &
PIDS+=($!); wait_ready console $! "$RUN/console.ready"
CONSOLE_URL=$(cat "$RUN/console.ready")
printf '%s\n' "$CONSOLE_URL" >"$RUN/console_url"

cat <<EOF2

leadsync is up (logs: ${LOGS#$ROOT/}/)
  Kafka bootstrap     $KAFKA_BOOTSTRAP_SERVERS
  HubSpot             $HUBSPOT_BASE_URL
  ingress             $INGRESS_URL   (/healthz /readyz /metrics)
  webhook URL         $(cat "$RUN/webhook_url")
  filtered tenant URL $(cat "$RUN/webhook_url_filtered")
  console             $CONSOLE_URL   (log in as $(cut -d: -f1 "$RUN/console_login"), password: $(cut -d: -f2- "$RUN/console_login"))
  Smartlead API       $SMARTLEAD_BASE_URL   (emulator; key in .run/smartlead_api_key)
  assurance           $(cat "$RUN/assurance.ready")   (/metrics; leadsync assure --tenant demo)
EOF2

# Where each process's Prometheus metrics are (every daemon with a ready
# file whose URL answers /metrics; docs/metrics.md lists the families).
echo "  /metrics of each process:"
for f in "$RUN"/*.ready; do
  u=$(head -1 "$f" 2>/dev/null) || continue
  case "$u" in http://*) ;; *) continue ;; esac
  if curl -sf -o /dev/null --max-time 2 "$u/metrics"; then
    printf '    %-18s %s/metrics\n' "$(basename "$f" .ready)" "$u"
  fi
done

if [ "${LEADSYNC_DEMO:-1}" != "0" ]; then
  /usr/bin/python3 "$ROOT/scripts/demo.py" "$RUN"
fi

echo
echo "Press Ctrl-C to stop."
while :; do
  for p in "${PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null || { echo "make run: ${NAME_OF[$p]:-process $p} exited; see $LOGS"; exit 1; }
  done
  sleep 1
done
