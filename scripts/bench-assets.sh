#!/usr/bin/env bash
# Issue 5's register figure: the time of a CSV import of ASSETS (100,000)
# assets through `rosterctl assets import` against a real roster-collector on
# 127.0.0.1 (SQLite in a temporary data directory): the dry run, the real
# import (all rows created, links and flags computed in the same
# transaction), and a second real import of the same file (every row
# unchanged), each timed end to end (read, upload, validate, write, answer).
#
# Needs only go and python3. Tunables: ASSETS (100000).
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${ASSETS:-100000}

work=$(mktemp -d)
collector_pid=
cleanup() {
  if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
    kill -INT "$collector_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$collector_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$collector_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 5: asset register import ($ASSETS assets; building) =="
mkdir -p "$work/bin"
CGO_ENABLED=1 go build -o "$work/bin/" ./cmd/roster-collector
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/rosterctl
bin=$work/bin
data=$work/data

# A register as finance keeps it: every column filled, a few statuses.
python3 - "$ASSETS" "$work/register.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
statuses = ["in_service"] * 7 + ["in_stock", "in_repair", "ordered"]
types = ["laptop", "laptop", "laptop", "desktop", "server", "vm"]
with open(path, "w", newline="") as f:
    f.write("asset_tag,serial,type,model,owner,owner_email,classification,location,status,purchase_date,fixed_asset_ref,notes,tags\n")
    for i in range(n):
        f.write(f"LAP-{i:06d},PF{i:08X},{types[i % len(types)]},ThinkPad T14 Gen 4,Person {i},person{i}@example.com,"
                f"{['confidential', 'internal', 'public'][i % 3]},Site {i % 40},{statuses[i % len(statuses)]},"
                f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d},FA-{i:07d},\"bought in batch {i // 500}, see PO\",fleet;eu\n")
PY
echo "register: $(wc -c < "$work/register.csv") bytes"

"$bin/roster-collector" serve --data "$data" --listen 127.0.0.1:0 --http3=false \
  --log-level warn --log-format json > "$work/collector.out" 2> "$work/collector.err" &
collector_pid=$!
addr=
for _ in $(seq 1 600); do
  addr=$(sed -n 's/^listening on //p' "$work/collector.out" 2>/dev/null | head -1)
  [ -n "$addr" ] && break
  kill -0 "$collector_pid" 2>/dev/null || { echo "bench-assets: collector exited:" >&2; cat "$work/collector.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "bench-assets: collector did not start listening" >&2; exit 1; }
export ROSTER_URL=https://$addr ROSTER_CA=$data/pki/ca.crt
ROSTER_TOKEN=$("$bin/roster-collector" token create --data "$data" --role admin --name bench-assets)
export ROSTER_TOKEN

# timed LABEL ARGS...: runs rosterctl ARGS, prints the wall time and the
# summary line rosterctl writes to stderr.
timed() {
  local label=$1; shift
  local t0 t1
  t0=$EPOCHREALTIME
  "$bin/rosterctl" "$@" > /dev/null 2> "$work/stderr" || { echo "bench-assets: $label failed:" >&2; cat "$work/stderr" >&2; exit 1; }
  t1=$EPOCHREALTIME
  printf '%-34s %8s s   %s\n' "$label" "$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")" "$(tail -1 "$work/stderr")"
}
timed "dry run (empty register)" assets import "$work/register.csv" --dry-run
timed "import (all created)" assets import "$work/register.csv"
timed "dry run (all unchanged)" assets import "$work/register.csv" --dry-run
timed "import again (all unchanged)" assets import "$work/register.csv"
timed "export --csv" assets export --csv
timed "reconcile --json" reconcile --json
