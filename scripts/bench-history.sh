#!/usr/bin/env bash
# Issue 16's compliance-history figures, on DEVICES (10,000) devices:
# - the fleet re-evaluation after a policy change (BenchmarkReevaluateFleet,
#   every device's results change), which now also writes each device's
#   compliance transitions in the same transactions;
# - DailyComplianceRates over 90 days for the fleet and every policy
#   ("all") and for one policy ("one"), over a synthetic history of 10
#   policies in which a tenth of the devices change one status each day
#   (registry.SeedComplianceHistory, a test helper, writes it straight
#   into the store).
#
# Needs only go. Tunables: DEVICES (10000), RUNS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-10000}
RUNS=${RUNS:-3}

echo "== issue 16: compliance history ($DEVICES devices, $RUNS runs, on $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg)) =="
out=$(ROSTER_BENCH_DEVICES=$DEVICES go test -v ./collector/registry -run '^$' \
  -bench '^(BenchmarkReevaluateFleet|BenchmarkDailyComplianceRates)$' -benchtime "${RUNS}x" -timeout 30m 2>&1) || { echo "$out" >&2; exit 1; }
metric() { # BENCHMARK-NAME-PREFIX UNIT
  awk -v b="$1" -v u="$2" 'index($1, b) == 1 { for (i = 1; i <= NF; i++) if ($i == u) print $(i-1) }' <<<"$out"
}
reeval=$(metric BenchmarkReevaluateFleet- s/reevaluation)
all=$(metric BenchmarkDailyComplianceRates/all- s/query)
one=$(metric BenchmarkDailyComplianceRates/one- s/query)
rows=$(grep -o '[0-9]* transitions' <<<"$out" | head -1 || true)
[ -n "$reeval" ] && [ -n "$all" ] && [ -n "$one" ] || { echo "$out" >&2; echo "bench-history: no result" >&2; exit 1; }
echo "fleet re-evaluation, transitions included: ${reeval} s"
echo "daily rates, 90 days, fleet + every policy: ${all} s; one policy: ${one} s (history of ${rows:-?})"
