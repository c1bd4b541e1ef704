#!/usr/bin/env bash
# Issue 16's figures for backups: for a registry of DEVICES devices (10,000),
# each enrolled with a real captured host snapshot (the captures in turn) and
# its first report applied through the registry as an agent's would be, the
# database's size, the backup's time and size (VACUUM INTO copy, tar.gz, age
# encryption to one X25519 recipient), verify-backup's time (decrypt,
# extract, SHA-256 of every member, integrity and foreign-key checks, row
# counts, migrations, the audit chain) and a restore's (the same checks,
# then installing the database and keys into a data directory). A Go
# benchmark on SQLite on this machine (collector/backup); building the
# registry is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-10000}
echo "== backups (issue 16)"
out=$(BACKUP_BENCH_DEVICES=$DEVICES go test -run XXX -bench 'BenchmarkBackup$' -benchtime 1x -timeout 60m ./collector/backup/ 2>&1) || { echo "$out"; exit 1; }
echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
m = re.search(r"BenchmarkBackup\S*\s+\d+\s+\d+ ns/op(.*)", text)
if not m:
    sys.exit("bench-backup: no BenchmarkBackup line in:\n" + text)
v = dict((k, float(x)) for x, k in re.findall(r"([\d.]+) (\S+)", m.group(1)))
print("registry of %d devices (SQLite): database %.1f MB (%.1f KB per device)" % (v["devices"], v["db-MB"], v["db-MB"] * 1000 / v["devices"]))
print("backup:        %6.1f s, %.1f MB encrypted (%.0f %% of the database)" % (v["backup-s"], v["backup-MB"], 100 * v["backup-MB"] / v["db-MB"]))
print("verify-backup: %6.1f s" % v["verify-s"])
print("restore:       %6.1f s" % v["restore-s"])
'
