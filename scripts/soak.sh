#!/usr/bin/env bash
# Crash soak (issue 17, docs/soak.md): the real roster-collector on
# loopback under SOAK_DEVICES simulated agents that enrol, then report
# (deltas, each adding one package) and send heartbeats on a compressed
# schedule, keeping every report until it is acknowledged as the agent
# does. The collector is SIGKILLed at seeded random moments (every
# SOAK_KILL_MIN to SOAK_KILL_MAX) and restarted on the same data directory;
# with SOAK_STORE=postgres it runs on a throwaway PostgreSQL cluster that
# is also restarted once (immediate shutdown, crash recovery). At the end
# every device sends what it holds and the run checks: each device's last
# applied sequence and hash are its last acknowledged ones, the applied
# sequences are exactly the acknowledged ones, each package the run added
# is software_added exactly once in the device's history, the database's
# integrity check (PRAGMA integrity_check, amcheck on PostgreSQL), `audit
# verify`, and that no device stayed stuck. Exit 1 on any violation.
#
# The driver is TestSoak in cmd/roster-loadgen, which runs only with
# ROSTER_SOAK=1. Needs go and a C compiler; PostgreSQL for the variant
# (make deps installs it). Tunables: SOAK_DEVICES (1000), SOAK_DURATION
# (3m), SOAK_SEED (1), SOAK_STORE (sqlite|postgres), SOAK_KILL_MIN (5s),
# SOAK_KILL_MAX (20s), SOAK_REPORT_EVERY (20s), SOAK_HEARTBEAT_EVERY (10s).
set -euo pipefail
cd "$(dirname "$0")/.."
export ROSTER_SOAK=1
export SOAK_DEVICES=${SOAK_DEVICES:-1000} SOAK_DURATION=${SOAK_DURATION:-3m} SOAK_SEED=${SOAK_SEED:-1} SOAK_STORE=${SOAK_STORE:-sqlite}
echo "== crash soak: $SOAK_DEVICES devices, $SOAK_DURATION, seed $SOAK_SEED, $SOAK_STORE (on $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)) =="
exec go test -count=1 -v -run '^TestSoak$' -timeout 2h ./cmd/roster-loadgen
