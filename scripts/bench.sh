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

# measure NAME OUTFILE CMD...: runs CMD RUNS times under GNU time; prints
# median wall s, cpu s, peak RSS KiB.
measure() {
  local name=$1 out=$2; shift 2
  local i
  : > "$work/$name.times"
  for ((i = 0; i < RUNS; i++)); do
    rm -rf "$out"
    /usr/bin/time -f '%e %U %S %M' -o "$work/$name.t" "$@" > "$work/$name.stdout" 2> "$work/$name.stderr" || {
      echo "bench: $name failed:"; cat "$work/$name.stderr"; exit 1; }
    cat "$work/$name.t" >> "$work/$name.times"
  done
  # Median of each column.
  python3 - "$work/$name.times" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
wall = statistics.median(r[0] for r in rows)
cpu = statistics.median(r[1] + r[2] for r in rows)
rss = statistics.median(r[3] for r in rows)
print(f"{wall:.3f} {cpu:.3f} {rss:.0f}")
PY
}

sizes() { # FILE -> raw gzip
  printf '%s %s\n' "$(stat -c %s "$1")" "$(gzip -9 -c "$1" | wc -c)"
}

echo "== issue 2: full live inventory of this machine ($RUNS runs each, medians) =="
read -r r_wall r_cpu r_rss < <(measure roster "$work/none" "$AGENT" inventory)
"$AGENT" inventory > "$work/roster.json"
read -r r_raw r_gz < <(sizes "$work/roster.json")

fi_dir="$work/fi"
read -r f_wall f_cpu f_rss < <(measure fusioninventory "$fi_dir" bash -c "mkdir -p '$fi_dir' && fusioninventory-agent --local '$fi_dir' --no-category=printer")
mkdir -p "$fi_dir" && fusioninventory-agent --local "$fi_dir" --no-category=printer > /dev/null 2>&1
fi_file=$(ls "$fi_dir"/*.ocs 2>/dev/null | head -1 || true)
[ -n "$fi_file" ] || fi_file=$(ls "$fi_dir"/* | head -1)
read -r f_raw f_gz < <(sizes "$fi_file")

python3 - "$r_wall" "$r_cpu" "$r_rss" "$r_raw" "$r_gz" "$f_wall" "$f_cpu" "$f_rss" "$f_raw" "$f_gz" <<'PY'
import sys
rw, rc, rr, rb, rg, fw, fc, fr, fb, fg = map(float, sys.argv[1:])
print(f"{'':28}{'roster-agent':>14}{'fusioninventory':>17}{'ratio':>9}")
def row(name, a, b, fmt):
    print(f"{name:28}{fmt(a):>14}{fmt(b):>17}{a / b if b else float('nan'):>9.3f}")
row("wall time (s)", rw, fw, lambda v: f"{v:.3f}")
row("CPU time user+sys (s)", rc, fc, lambda v: f"{v:.3f}")
row("peak RSS (MiB)", rr / 1024, fr / 1024, lambda v: f"{v:.1f}")
row("snapshot bytes raw", rb, fb, lambda v: f"{v:.0f}")
row("snapshot bytes gzip -9", rg, fg, lambda v: f"{v:.0f}")
ok_w = rw <= fw / 20
ok_m = rr <= fr / 4
print(f"goal wall <= 1/20: {'met' if ok_w else 'NOT met'} ({rw / fw:.3f}); goal RSS <= 1/4: {'met' if ok_m else 'NOT met'} ({rr / fr:.3f})")
PY
echo "(roster counts every installed package, volume and NIC; fusioninventory's XML is its own format, so the byte ratio compares what each sends for the same machine)"
