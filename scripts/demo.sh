#!/usr/bin/env bash
# make demo: a collector on embedded SQLite in a temporary data directory on
# localhost, an enrolment secret, this machine's agent enrolled and reporting
# once, and what the registry now holds about this machine, through rosterctl.
# On a terminal it then keeps the collector up for you to explore until
# Ctrl-C; otherwise (CI) it stops. Either way it leaves nothing running and
# removes its temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

BIN=bin
demo=$(mktemp -d "${TMPDIR:-/tmp}/roster-demo.XXXXXX")
collector_pid=
cleanup() {
  if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
    kill -INT "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
  fi
  rm -rf "$demo"
}
trap cleanup EXIT
trap 'echo; echo "demo: stopping"; exit 0' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting roster-collector (SQLite in $demo/collector, 127.0.0.1, HTTPS + HTTP/3)"
"$BIN/roster-collector" serve --data "$demo/collector" --listen 127.0.0.1:0 \
  > "$demo/collector.out" 2> "$demo/collector.log" &
collector_pid=$!
for _ in $(seq 1 600); do
  grep -q '^listening on ' "$demo/collector.out" 2>/dev/null && break
  if ! kill -0 "$collector_pid" 2>/dev/null; then
    echo "demo: the collector exited:"; cat "$demo/collector.log"; exit 1
  fi
  sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$demo/collector.out")
[ -n "$addr" ] || { echo "demo: the collector did not start in 60 s:"; cat "$demo/collector.log"; exit 1; }
port=${addr##*:}
url="https://localhost:$port"
fingerprint=$("$BIN/roster-collector" ca fingerprint --data "$demo/collector")
echo "collector at $url, CA $fingerprint"

export ROSTER_URL=$url
export ROSTER_CA=$demo/collector/pki/ca.crt
ROSTER_TOKEN=$("$BIN/roster-collector" token create --data "$demo/collector" --role admin --name demo)
export ROSTER_TOKEN

step "creating an enrolment secret (rosterctl secrets create)"
secret=$("$BIN/rosterctl" secrets create --label demo --expires 1h --max-uses 1 --json |
  sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')
[ -n "$secret" ] || { echo "demo: no secret returned"; exit 1; }
echo "secret created (shown once, used once)"

step "enrolling this machine (roster-agent enroll, CA pinned by fingerprint)"
device=$("$BIN/roster-agent" enroll --collector "$url" --secret "$secret" \
  --ca-fingerprint "$fingerprint" --state-dir "$demo/agent" --config /dev/null)
echo "device id: $device"

step "reporting this machine once (roster-agent report --once)"
"$BIN/roster-agent" report --once --state-dir "$demo/agent" --config /dev/null

step "what the registry holds about this machine (rosterctl devices show)"
"$BIN/rosterctl" devices show "$device"

step "its software (first 10 of rosterctl devices software)"
"$BIN/rosterctl" devices software "$device" --limit 10

step "its history (rosterctl devices history)"
"$BIN/rosterctl" devices history "$device"

step "a web console account (rosterctl users add it-admin --role admin --generate)"
console_pw=$("$BIN/rosterctl" users add it-admin --role admin --email it-admin@example.org --generate --json |
  sed -n 's/.*"password": *"\([^"]*\)".*/\1/p')
[ -n "$console_pw" ] || { echo "demo: no console password returned"; exit 1; }
echo "web console: $url/ui/  (user it-admin, password $console_pw; the CA is $ROSTER_CA)"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$ROSTER_CA" "$url/ui/login")
[ "$code" = 200 ] || { echo "demo: the console's sign-in page answered $code"; exit 1; }

if [ -t 0 ] && [ -t 1 ] && [ "${CI:-}" != "true" ]; then
  step "the collector keeps running; in another shell:"
  echo "  export ROSTER_URL=$ROSTER_URL ROSTER_CA=$ROSTER_CA ROSTER_TOKEN=$ROSTER_TOKEN"
  echo "  $PWD/$BIN/rosterctl devices list"
  echo "Ctrl-C stops everything and removes $demo."
  wait "$collector_pid"
fi
