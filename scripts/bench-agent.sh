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
# (Issue 13's inventory comparison runs first; see below.)
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

# Issue 13: a full `roster-agent inventory` of this machine with pending
# updates answered the old way (apt-get's resolver, a child process) and the
# new way (the dpkg database and apt's lists read natively), beside
# fusioninventory-agent --local (installed from Debian when missing), which
# computes no pending updates at all. The old agent is built from
# OLD_REV (the commit before the native reader) with git archive; NEW_REV,
# when set, builds the new one from a commit instead of the working tree.
# RUNS runs each, medians: wall time (s), CPU user+sys (s), peak RSS (MiB,
# the largest of the process and its children, /usr/bin/time -f %M).
OLD_REV=${OLD_REV:-6356d99^}
RUNS=${RUNS:-5}
# ROSTER_REPO: the git checkout to take revisions from, when this tree is
# an export without .git.
repo=${ROSTER_REPO:-$(pwd)}
echo "== issue 13: full inventory, pending updates old vs new, beside fusioninventory ($RUNS runs each, medians) =="
bash scripts/deps.sh bench
mkdir -p "$work/old" "$work/new" "$work/bin13"
git -C "$repo" archive "$OLD_REV" | tar -x -C "$work/old"
(cd "$work/old" && CGO_ENABLED=0 go build -o "$work/bin13/roster-agent-old" ./cmd/roster-agent)
if [ -n "${NEW_REV:-}" ]; then
  git -C "$repo" archive "$NEW_REV" | tar -x -C "$work/new"
  (cd "$work/new" && CGO_ENABLED=0 go build -o "$work/bin13/roster-agent-new" ./cmd/roster-agent)
else
  CGO_ENABLED=0 go build -o "$work/bin13/roster-agent-new" ./cmd/roster-agent
fi
fi_dir=$work/fi
python3 - "$RUNS" "$work" "$work/bin13/roster-agent-old" "$work/bin13/roster-agent-new" "$fi_dir" "$(git -C "$repo" rev-parse --short "$OLD_REV")" "${NEW_REV:-working tree}" <<'PY'
import json, shutil, statistics, subprocess, sys, time, os
runs, work, old, new, fi_dir, old_rev, new_rev = int(sys.argv[1]), *sys.argv[2:]
def measure(cmd, before=None):
    walls, cpus, rsss = [], [], []
    for _ in range(runs):
        if before: before()
        t0 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", work + "/t"] + cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        walls.append(time.perf_counter() - t0)
        if r.returncode != 0:
            sys.exit(f"bench-agent: {cmd} failed: {r.stderr.decode()[-2000:]}")
        u, s, m = open(work + "/t").read().split()[-3:]
        cpus.append(float(u) + float(s)); rsss.append(float(m) / 1024)
    return statistics.median(walls), statistics.median(cpus), statistics.median(rsss)
def fresh_fi():
    shutil.rmtree(fi_dir, ignore_errors=True); os.makedirs(fi_dir)
def pending(binary):
    snap = json.loads(subprocess.run([binary, "inventory"], capture_output=True, check=True).stdout)
    o = snap.get("os") or {}
    upd = next((p for p in snap.get("probes", []) if p.get("name") == "os/updates"), {})
    return o.get("pending_updates"), o.get("pending_security_updates"), upd.get("duration_ms")
rows = [
    (f"roster old ({old_rev}, apt-get)", measure([old, "inventory"]), pending(old)),
    (f"roster new ({new_rev}, native)", measure([new, "inventory"]), pending(new)),
    ("fusioninventory-agent --local", measure(["fusioninventory-agent", "--local", fi_dir, "--no-category=printer"], fresh_fi), (None, None, None)),
]
print(f"{'':40}{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}{'pending':>9}{'security':>9}{'os/updates ms':>15}")
for name, (w, c, m), (p, s, d) in rows:
    f = lambda x: "-" if x is None else str(x)
    print(f"{name:40}{w:8.3f}{c:8.3f}{m:9.1f}{f(p):>9}{f(s):>9}{f(d):>15}")
new_w, fi_w = rows[1][1][0], rows[2][1][0]
print(f"goal (new full inventory no slower than fusioninventory's full run): {'met' if new_w <= fi_w else 'NOT met'} ({new_w:.3f} s vs {fi_w:.3f} s)")
if rows[0][2][:2] != rows[1][2][:2]:
    print(f"WARNING: old and new pending counts differ: {rows[0][2][:2]} vs {rows[1][2][:2]}")
PY
echo

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
