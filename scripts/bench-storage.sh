#!/usr/bin/env bash
# Issue 17's compact storage figures: bytes per device on SQLite, per table
# and index, and the timings of the reads the software storage serves
# (who-has search, the device filter, a device's software pages, history,
# events, reconcile, a policy change matching software patterns), for the base
# commit (BENCH_BASE, 1a0768e: software rows by device id, snapshots as
# text) beside this tree, in the same run.
#
# Each build gets its own registry of BENCH_DEVICES devices (10,000): the
# first BENCH_REPORTED (200) enrol and report through the registry as
# agents do (750 real packages each from the captured hosts, a full
# report, a second one with three packages swapped, a delta), the rest are
# copies of their rows (scripts/benchstorage: clone), then VACUUM and
# SQLite's dbstat. Then the reads of one device that a fleet of copies
# does not exercise (rebuilding a snapshot the cache lost, a policy
# pattern on one device's packages: collector/registry's
# BenchmarkLoadSnapshot and BenchmarkDeviceSoftwareMatch), the two builds
# alternating. The load average is printed: others share the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
N=${BENCH_DEVICES:-10000}
R=${BENCH_REPORTED:-200}
BASE=${BENCH_BASE:-1a0768e}
work=$(mktemp -d /tmp/bench-storage.XXXXXX)
basetree=$work/base-tree
cleanup() {
  git -C "$root" worktree remove --force "$basetree" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== compact storage (issue 17): $N devices of 750 packages on SQLite, $BASE beside this tree"
git worktree add --detach "$basetree" "$BASE" >/dev/null 2>&1
# the same program in both: it uses only registry API both builds have
mkdir -p "$basetree/scripts/benchstorage"
cp scripts/benchstorage/main.go "$basetree/scripts/benchstorage/main.go"
(cd "$basetree" && go build -o "$work/bench-base" ./scripts/benchstorage)
go build -o "$work/bench-new" ./scripts/benchstorage

for b in base new; do
  mkdir -p "$work/$b"
  echo "-- $b: building the registry (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$work/bench-$b" -phase seed -db "$work/$b/reg.db" -devices "$R" -root "$root"
  "$work/bench-$b" -phase clone -db "$work/$b/reg.db" -devices "$N"
  sqlite3 "$work/$b/reg.db" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
done

echo
echo "bytes per device (after VACUUM; tables and their indexes, largest first)"
sqlite3 -separator ' ' "$work/new/reg.db" "
ATTACH '$work/base/reg.db' AS b;
WITH n AS (SELECT name, sum(pgsize) AS s FROM dbstat('main') GROUP BY name),
     o AS (SELECT name, sum(pgsize) AS s FROM dbstat('b') GROUP BY name),
     u AS (SELECT name FROM n UNION SELECT name FROM o),
     r AS (SELECT u.name, coalesce(o.s, 0) AS os, coalesce(n.s, 0) AS ns FROM u LEFT JOIN o USING (name) LEFT JOIN n USING (name))
SELECT line FROM (
  SELECT printf('  %-42s %10.0f %10.0f', name, os * 1.0 / $N, ns * 1.0 / $N) AS line, max(os, ns) AS k FROM r WHERE os + ns >= 50 * $N
  UNION ALL
  SELECT printf('  %-42s %10.0f %10.0f', '(the rest)', coalesce(sum(os), 0) * 1.0 / $N, coalesce(sum(ns), 0) * 1.0 / $N), -1 FROM r WHERE os + ns < 50 * $N
  UNION ALL
  SELECT printf('  %-42s %10.0f %10.0f', 'total', sum(os) * 1.0 / $N, sum(ns) * 1.0 / $N), -2 FROM r
) ORDER BY k DESC;
" | sed "1i\\  $(printf '%-42s %10s %10s' table/index base new)"
for b in base new; do
  size=$(stat -c %s "$work/$b/reg.db")
  printf '  %-42s %10s\n' "$b: file ÷ devices" "$((size / N))"
done

# twice each, alternating, so a change in the machine's load shows as a
# difference between the rounds rather than between the builds
for round in 1 2; do
  for b in base new; do
    echo
    echo "-- $b, round $round: reads (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    "$work/bench-$b" -phase query -db "$work/$b/reg.db" -root "$root"
  done
done

# the one-device benchmarks: this tree's file in both (a base before
# 2516fc7 has no catalogue cache for deviceSoftware to hand over; a later
# one keeps it, or its figures would not be comparable)
cp collector/registry/snapshot_bench_internal_test.go "$basetree/collector/registry/"
if ! grep -q 'cat \*catalogueCache' "$basetree"/collector/registry/*.go; then
  sed -i 's/, cat: r.snaps.cat, db: r.db}/}/' "$basetree/collector/registry/snapshot_bench_internal_test.go"
fi
for round in 1 2; do
  for b in base new; do
    dir=$root
    [ "$b" = base ] && dir=$basetree
    echo
    echo "-- $b, round $round: one device's reads (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    (cd "$dir" && go test -run '^$' -bench 'BenchmarkLoadSnapshot$|BenchmarkDeviceSoftwareMatch$' -benchtime 200x ./collector/registry/ | grep '^Benchmark')
  done
done
