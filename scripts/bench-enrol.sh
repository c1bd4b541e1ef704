#!/usr/bin/env bash
# Issue 17, fleet runs: the enrolment storm and the collector's memory,
# before (ENROL_BASE, built in a git worktree) and after (this tree), in
# the same run. For each size in ENROL_SIZES, each build's collector
# (SQLite, a fresh data directory) takes a `roster-loadgen fleet` storm:
# every device enrols with a key of its own and sends its first full
# report (400-900 packages), ENROL_CONCURRENCY at a time, then one second
# of the schedule. The same load generator (the after build's) drives both
# builds, so only the collector differs. Printed per run: enrolments/s
# over the storm, enrolment and full-report latency, the collector's
# average CPU in the storm, its RSS (the sampler's maximum, and at the
# end), and its live Go heap after a forced GC (from --pprof); then, per
# build, what a device costs between the smallest and the largest size.
# The load average is printed with each run: other work on the machine
# shows in the figures, and the two builds alternate so drift hits both.
#
# Tunables: ENROL_SIZES ("1000 5000"), ENROL_BASE (cca80db, the tree
# before issue 17's storm work), ENROL_NEW (a commit to build as "after"
# instead of this working tree, which may hold others' unfinished edits in
# a shared checkout), ENROL_CONCURRENCY (16, as bench-fleet.sh),
# ENROL_SEED (1). About 2 minutes per 1,000 devices per build on 2 cores
# at load ~8.
set -euo pipefail
cd "$(dirname "$0")/.."
ENROL_SIZES=${ENROL_SIZES:-1000 5000}
ENROL_BASE=${ENROL_BASE:-cca80db}
ENROL_NEW=${ENROL_NEW:-}
ENROL_CONCURRENCY=${ENROL_CONCURRENCY:-16}
ENROL_SEED=${ENROL_SEED:-1}

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  git worktree remove --force "$work/base" >/dev/null 2>&1 || true
  [ -n "$ENROL_NEW" ] && git worktree remove --force "$work/new" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 17: enrolment storm, $ENROL_BASE vs ${ENROL_NEW:-this tree}, sizes $ENROL_SIZES (building; load $(cut -d' ' -f1-3 /proc/loadavg)) =="
git worktree add --detach "$work/base" "$ENROL_BASE" > /dev/null 2>&1
mkdir -p "$work/bin-base" "$work/bin-new"
(cd "$work/base" && CGO_ENABLED=1 go build -o "$work/bin-base/" ./cmd/roster-collector)
new=.
if [ -n "$ENROL_NEW" ]; then
  git worktree add --detach "$work/new" "$ENROL_NEW" > /dev/null 2>&1
  new=$work/new
fi
(cd "$new" && CGO_ENABLED=1 go build -o "$work/bin-new/" ./cmd/roster-collector &&
  CGO_ENABLED=0 go build -o "$work/bin-new/" ./cmd/rosterctl ./cmd/roster-loadgen ./cmd/roster-agent)
tools=$work/bin-new
"$tools/roster-agent" inventory --skip os/updates > "$work/this-machine.json"
snaps=(--snapshot testdata/hosts/linux/debian12-firecracker-vm/want.json
  --snapshot testdata/hosts/darwin/macbookpro10-1-xml/want.json
  --snapshot "$work/this-machine.json")
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# storm BUILD SIZE: one storm against a fresh collector of BUILD; appends
# "BUILD SIZE enrol/s storm_s enrol_p50 enrol_p99 full_p99 cpu rss_max rss_end heap errors load"
# to $work/rows.
storm() {
  local build=$1 n=$2 data=$work/data-$1-$2 pp addr= token secret fp load
  pp=$(free_port)
  mkdir -m 700 -p "$data"
  QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$work/bin-$build/roster-collector" serve --data "$data" \
    --listen 127.0.0.1:0 --pprof "127.0.0.1:$pp" --log-level warn --log-format json > "$data.out" 2> "$data.err" &
  pid=$!
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/^listening on //p' "$data.out" 2>/dev/null | head -1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "bench-enrol: $build collector did not start:" >&2; cat "$data.err" >&2; exit 1; }
  token=$("$work/bin-$build/roster-collector" token create --data "$data" --role admin --name bench-enrol)
  secret=$(ROSTER_URL=https://$addr ROSTER_TOKEN=$token ROSTER_CA=$data/pki/ca.crt \
    "$tools/rosterctl" --json secrets create --label bench-enrol | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')
  fp=$("$work/bin-$build/roster-collector" ca fingerprint --data "$data")
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$tools/roster-loadgen" fleet --devices "$n" --duration 1s --seed "$ENROL_SEED" --enrol-concurrency "$ENROL_CONCURRENCY" \
    "${snaps[@]}" --collector "https://$addr" --ca-fingerprint "$fp" --secret "$secret" --collector-pid "$pid" \
    --db "$data/roster.db" --json > "$data.json" 2> "$data.loadgen" || {
    echo "bench-enrol: roster-loadgen fleet ($build, $n) failed:" >&2; tail -20 "$data.loadgen" >&2; exit 1; }
  load="$load-$(cut -d' ' -f1 /proc/loadavg)"
  local rss heap
  rss=$(awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$pid/status")
  heap=$(curl -s "http://127.0.0.1:$pp/debug/pprof/heap?debug=1&gc=1" | awk '/^# HeapAlloc = / { print $4 }')
  kill -INT "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  pid=
  jq -r --arg b "$build" --arg n "$n" --arg rss "$rss" --arg heap "$heap" --arg load "$load" \
    '[$b, $n, .storm.kinds.enrol.ok_per_s, .storm.seconds, .storm.kinds.enrol.p50_ms, .storm.kinds.enrol.p99_ms,
      .storm.kinds.full.p99_ms, .collectors_usage[0].storm_cpu_avg_cores, .collectors_usage[0].rss_max_bytes, $rss, $heap,
      ([.storm.kinds[].errors // {} | to_entries[].value] | add // 0), $load] | @tsv' "$data.json" >> "$work/rows"
  rm -rf "$data"
}

: > "$work/rows"
for n in $ENROL_SIZES; do
  storm base "$n"
  storm new "$n"
done
python3 - "$work/rows" "$ENROL_BASE" "${ENROL_NEW:-this tree}" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
name = {"base": "before (" + sys.argv[2] + ")", "new": "after (" + sys.argv[3] + ")"}
mib = lambda b: float(b) / (1 << 20)
print(f"{'collector':22}{'devices':>8}{'enrol/s':>9}{'storm s':>9}{'enrol p50/p99 ms':>18}{'full p99 ms':>12}"
      f"{'CPU':>6}{'RSS max MiB':>12}{'RSS end':>9}{'heap MiB':>9}{'errors':>7}  load")
for b, n, rate, secs, p50, p99, fp99, cpu, rmax, rend, heap, errs, load in rows:
    print(f"{name[b]:22}{n:>8}{float(rate):>9.1f}{float(secs):>9.0f}{float(p50):>9.0f}/{float(p99):<8.0f}{float(fp99):>12.0f}"
          f"{float(cpu):>6.2f}{mib(rmax):>12.0f}{mib(rend):>9.0f}{mib(heap or 0):>9.0f}{int(errs):>7}  {load}")
for b in ("base", "new"):
    rs = sorted((r for r in rows if r[0] == b), key=lambda r: int(r[1]))
    if len(rs) < 2:
        continue
    lo, hi = rs[0], rs[-1]
    dn = int(hi[1]) - int(lo[1])
    print(f"{name[b]}: per device between {lo[1]} and {hi[1]} devices: RSS end {(float(hi[9]) - float(lo[9])) / dn / 1024:.1f} KiB, "
          f"live heap {(float(hi[10] or 0) - float(lo[10] or 0)) / dn / 1024:.2f} KiB; enrolments/s {float(lo[2]):.1f} -> {float(hi[2]):.1f}")
PY
