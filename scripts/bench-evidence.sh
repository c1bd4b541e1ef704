#!/usr/bin/env bash
# Issue 16's figure for the evidence export: the time to build the signed
# bundle of a 90-day period for 10,000 devices (one asset each, ten
# policies' compliance history with a tenth of the fleet changing status
# daily, 5,000 audit entries), its size, and the heap's peak while it
# streams. A Go benchmark on SQLite on this machine
# (collector/registry BenchmarkEvidenceExport); ROSTER_BENCH_DEVICES sets
# the fleet size.
set -euo pipefail
cd "$(dirname "$0")/.."
export ROSTER_BENCH_DEVICES=${ROSTER_BENCH_DEVICES:-10000}
echo "== evidence export (issue 16)"
out=$(go test -run XXX -bench 'BenchmarkEvidenceExport$' -benchtime 1x -timeout 30m ./collector/registry/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
m = re.search(r"BenchmarkEvidenceExport\S*\s+\d+\s+\d+ ns/op(.*)", text)
if not m:
    sys.exit("bench-evidence: no BenchmarkEvidenceExport line in:\n" + text)
v = dict((k, float(x)) for x, k in re.findall(r"([\d.]+) (\S+)", m.group(1)))
print("evidence bundle, %d devices over 90 days (SQLite): %.1f s, %.1f MiB zip, heap peak %.0f MiB while streaming" % (
    v["devices"], v["ms/export"] / 1000, v["bundle-MiB"], v["peak-heap-MiB"]))
'
