#!/usr/bin/env bash
# Issue 4's figures: the real roster-agent (`run`, `report --once`,
# `run --once-heartbeat`) against a real roster-collector on 127.0.0.1 with
# SQLite in a temporary data directory, through a counting TCP/UDP proxy so
# bytes are what crossed the wire:
#   1. steady-state RSS and CPU per hour (heartbeats + one full inventory)
#      of `run` on this machine;
#   2. bytes per day for an unchanged machine (heartbeats and unchanged
#      reports, on new and on reused connections);
#   3. bytes of a typical delta (one package upgraded on a captured host);
#   4. time to drain a spool of 1,000 reports.
# against the goals (<= 300 B per heartbeat on the wire, RSS <= 16 MB).
#
# The measuring code is cmd/roster-agent/bench_agent_test.go, skipped by
# `make test` unless ROSTER_BENCH is set. Needs only go; about a minute and
# a half once built. WINDOW (20s) is each CPU/RSS sampling window.
set -euo pipefail
cd "$(dirname "$0")/.."
WINDOW=${WINDOW:-20s}

work=$(mktemp -d)
test_pid=
# killtree PID: the process and its descendants, by id, children first
# (go test → the test binary → the collector and agents it started).
killtree() {
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do killtree "$c"; done
  kill -TERM "$1" 2>/dev/null || true
}
cleanup() {
  if [ -n "$test_pid" ] && kill -0 "$test_pid" 2>/dev/null; then
    killtree "$test_pid"
    wait "$test_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 4: the agent as a service (building) =="
mkdir -p "$work/bin" "$work/tmp"
CGO_ENABLED=1 go build -o "$work/bin/" ./cmd/roster-collector
# The test binary builds roster-agent the same way (its TestMain); this
# checks up front that it still builds pure Go.
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/roster-agent

# Temporary files (data and state directories, the agent's build) go
# under $work, which the trap removes.
TMPDIR=$work/tmp ROSTER_BENCH=1 ROSTER_BENCH_WINDOW=$WINDOW \
  ROSTER_BENCH_COLLECTOR=$work/bin/roster-collector ROSTER_BENCH_OUT=$work/figures.txt \
  go test -count=1 -run '^TestBenchAgent$' -timeout 6m ./cmd/roster-agent/ > "$work/test.log" 2>&1 &
test_pid=$!
if ! wait "$test_pid"; then
  test_pid=
  echo "bench-agent: the measurement failed:" >&2
  tail -60 "$work/test.log" >&2
  exit 1
fi
test_pid=
cat "$work/figures.txt"
