#!/usr/bin/env bash
# Issue 14's figures for the web console:
#   - the device page's server time for a device with 2,000 packages and
#     1,000 history entries (goal p95 <= 50 ms), with the page's weight and
#     the heaviest page's, each with its stylesheet and script (goal
#     <= 150 KB uncompressed);
#   - search over 100,000 devices (goal p95 <= 100 ms), per kind of query.
# Both are Go benchmarks on SQLite on this machine (collector/console,
# collector/registry); RUNS is how many device-page requests are timed.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-500}
echo "== web console (issue 14)"
out=$(go test -run XXX -bench 'BenchmarkDevicePage$' -benchtime "${RUNS}x" ./collector/console/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
m = re.search(r"BenchmarkDevicePage\S*\s+\d+\s+\d+ ns/op(.*)", text)
if not m:
    sys.exit("bench-console: no BenchmarkDevicePage line in:\n" + text)
v = dict((k, float(x)) for x, k in re.findall(r"([\d.]+) (\S+)", m.group(1)))
p50, p95, dev, heavy = v["p50-ms"], v["p95-ms"], v["device-page-KiB"], v["heaviest-page-KiB"]
met = lambda ok: "met" if ok else "NOT met"
print("device page, 2,000 packages + 1,000 history entries: p50 %.1f ms, p95 %.1f ms (goal p95 <= 50 ms: %s)" % (p50, p95, met(p95 <= 50)))
print("page weight with CSS and JS: device page %.1f KiB, heaviest page %.1f KiB (goal <= 150 KB: %s)" % (dev, heavy, met(heavy * 1024 <= 150000)))
for line in text.splitlines():
    if "heaviest page with" in line:
        print("  " + line.strip().split(": ", 1)[1])
'
if grep -q 'func BenchmarkSearchDevices100k' collector/registry/*_test.go 2>/dev/null; then
  out=$(go test -run XXX -bench 'BenchmarkSearchDevices100k' -benchtime 1x -timeout 30m ./collector/registry/ 2>&1) || { echo "$out"; exit 1; }
  echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
m = re.search(r"BenchmarkSearchDevices100k\S*\s+\d+\s+\d+ ns/op(.*)", text)
if not m:
    sys.exit("bench-console: no BenchmarkSearchDevices100k line in:\n" + text)
v = dict((k, float(x)) for x, k in re.findall(r"([\d.]+) (\S+)", m.group(1)))
print("search over 100,000 devices (SQLite), per kind of query: p50 / p95 ms")
kinds = sorted(k[:-len("-p95-ms")] for k in v if k.endswith("-p95-ms"))
for k in kinds:
    print("  %-20s %7.1f %7.1f" % (k, v[k + "-p50-ms"], v[k + "-p95-ms"]))
print("  %-20s %7.1f %7.1f   (goal p95 <= 100 ms: %s)" % ("all queries", v["p50-ms"], v["p95-ms"], "met" if v["p95-ms"] <= 100 else "NOT met"))
'
fi
