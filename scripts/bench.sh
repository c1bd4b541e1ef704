#!/usr/bin/env bash
# make bench: the figures the issues ask for.
#
# Issue 2: a full live inventory of this machine by roster-agent, and by
# fusioninventory-agent --local side by side (installed here from Debian when
# missing): wall time, CPU time, peak RSS, snapshot bytes raw and gzipped,
# medians of RUNS runs, and the ratios. Goal: roster at most 1/20 of the
# wall time and 1/4 of the peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
bash scripts/deps.sh bench
AGENT=bin/roster-agent
[ -x "$AGENT" ] || { echo "bench: build first (make build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# measure NAME CMD...: runs CMD RUNS times under GNU time (CPU and peak RSS
# of the process and its children) with the wall time taken around it at
# microsecond resolution; prints medians: wall s, cpu s, peak RSS KiB.
measure() {
  local name=$1; shift
  python3 - "$RUNS" "$work/$name" "$@" <<'PY'
import statistics, subprocess, sys, time
runs, base, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
walls, cpus, rsss = [], [], []
for _ in range(runs):
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", base + ".t"] + cmd,
                       stdout=subprocess.DEVNULL, stderr=open(base + ".stderr", "w"))
    walls.append(time.perf_counter() - t0)
    if r.returncode != 0:
        sys.exit(f"bench: {cmd} failed: " + open(base + ".stderr").read())
    u, s_, m = open(base + ".t").read().split()[-3:]
    cpus.append(float(u) + float(s_)); rsss.append(float(m))
print(f"{statistics.median(walls):.4f} {statistics.median(cpus):.3f} {statistics.median(rsss):.0f}")
PY
}

sizes() { # FILE -> raw gzip
  printf '%s %s\n' "$(stat -c %s "$1")" "$(gzip -9 -c "$1" | wc -c)"
}

echo "== issue 2: full live inventory of this machine ($RUNS runs each, medians) =="
read -r r_wall r_cpu r_rss < <(measure roster "$AGENT" inventory)
"$AGENT" inventory > "$work/roster.json"
read -r r_raw r_gz < <(sizes "$work/roster.json")
# The same without the pending-updates check, which fusioninventory does not
# do: apt's resolver (a child process) dominates the full run.
read -r q_wall q_cpu q_rss < <(measure roster-no-updates "$AGENT" inventory --skip os/updates)
"$AGENT" inventory --skip os/updates > "$work/roster-q.json"
read -r q_raw q_gz < <(sizes "$work/roster-q.json")

fi_dir="$work/fi"
read -r f_wall f_cpu f_rss < <(measure fusioninventory bash -c "rm -rf '$fi_dir' && mkdir -p '$fi_dir' && fusioninventory-agent --local '$fi_dir' --no-category=printer")
rm -rf "$fi_dir" && mkdir -p "$fi_dir" && fusioninventory-agent --local "$fi_dir" --no-category=printer > /dev/null 2>&1
fi_file=$(ls "$fi_dir"/*.ocs 2>/dev/null | head -1 || true)
[ -n "$fi_file" ] || fi_file=$(ls "$fi_dir"/* | head -1)
read -r f_raw f_gz < <(sizes "$fi_file")

python3 - "$r_wall" "$r_cpu" "$r_rss" "$r_raw" "$r_gz" "$q_wall" "$q_cpu" "$q_rss" "$q_raw" "$q_gz" "$f_wall" "$f_cpu" "$f_rss" "$f_raw" "$f_gz" <<'PY'
import sys
v = list(map(float, sys.argv[1:]))
full, quick, fi = v[0:5], v[5:10], v[10:15]
names = ["wall time (s)", "CPU time user+sys (s)", "peak RSS (MiB)", "snapshot bytes raw", "snapshot bytes gzip -9"]
fmts = [lambda x: f"{x:.4f}", lambda x: f"{x:.3f}", lambda x: f"{x / 1024:.1f}", lambda x: f"{x:.0f}", lambda x: f"{x:.0f}"]
print(f"{'':24}{'roster full':>13}{'roster w/o updates':>20}{'fusioninventory':>17}{'ratio full':>12}{'ratio w/o':>11}")
for i, n in enumerate(names):
    f = fmts[i]
    print(f"{n:24}{f(full[i]):>13}{f(quick[i]):>20}{f(fi[i]):>17}{full[i] / fi[i]:>12.3f}{quick[i] / fi[i]:>11.3f}")
for label, r in (("full inventory", full), ("without os/updates", quick)):
    w, m = r[0] / fi[0], r[2] / fi[2]
    print(f"goals ({label}): wall <= 1/20 of fusioninventory: {'met' if w <= 0.05 else 'NOT met'} ({w:.3f}); "
          f"peak RSS <= 1/4: {'met' if m <= 0.25 else 'NOT met'} ({m:.3f})")
PY
echo "(peak RSS is the largest of the process and its children: apt-get's resolver in the full run,"
echo " dmidecode and friends for fusioninventory. roster's snapshot includes pending updates and per-volume"
echo " encryption, which fusioninventory's XML lacks.)"

# Issue 3: ingest throughput and latency against a real collector.
echo
bash scripts/bench-ingest.sh
# Issue 5: the fixed-asset register import, and compliance re-evaluation.
echo
bash scripts/bench-assets.sh
echo
bash scripts/bench-audit.sh
# Issue 12: ingest on SQLite before and after the store split, on
# PostgreSQL with one and with two collectors.
echo
bash scripts/bench-store.sh
if [ -f scripts/bench-compliance.sh ]; then
  echo
  bash scripts/bench-compliance.sh
fi
# Issue 4: the agent as a service.
if [ -f scripts/bench-agent.sh ]; then
  echo
  bash scripts/bench-agent.sh
fi
# Issue 13: identity, encryption and patch facts known per captured host,
# before and after.
echo
bash scripts/bench-facts.sh
# Issue 13: identity agreement between the SMBIOS table and dmidecode text
# on the same machines, and identity facts per dmidecode capture.
echo
bash scripts/bench-identity.sh
# Issue 14: the web console's device page time and page weight, and search
# over 100,000 devices.
echo
bash scripts/bench-console.sh
# Issue 16: compliance history, evidence export and backups at 10,000
# devices.
for s in bench-history.sh bench-evidence.sh bench-backup.sh; do
  if [ -f "scripts/$s" ]; then
    echo
    bash "scripts/$s"
  fi
done
# Issue 17: an unchanged device's heartbeat bytes on the wire, before and
# after (scripts/wirebytes).
if [ -f scripts/bench-wire.sh ]; then
  echo
  bash scripts/bench-wire.sh
fi
# Issue 17: storage per device, fleet re-evaluation and a small fleet run
# at the compressed real schedule (make bench-fleet runs the 100,000-device
# one; 500 devices here, since the enrolment storm runs at ~5/s on 2
# loaded cores), each beside the previous build where it says so.
for s in bench-storage.sh bench-reeval.sh bench-enrol.sh; do
  if [ -f "scripts/$s" ]; then
    echo
    bash "scripts/$s"
  fi
done
if [ -f scripts/bench-fleet.sh ]; then
  echo
  FLEET_SIZE=${FLEET_SIZE:-500} bash scripts/bench-fleet.sh
fi
