#!/usr/bin/env bash
# Issue 11's figure: delta-report ingest with every changing report written
# to the audit log (the default) beside the same collector with
# audit.device_reports: false, so the hash-chained audit entry is the only
# difference. Goal: with the audit log at most 10 % slower.
#
# Two real collectors on 127.0.0.1, each on its own SQLite data directory,
# loaded in turn by roster-loadgen (HTTPS, small deltas: one package's
# version toggled, so every report changes the device and is audited);
# ROUNDS runs each, the order swapped every round so neither collector
# always runs first, medians reported.
#
# Needs only go. Tunables: DEVICES (50), DURATION (10s), CONCURRENCY (8),
# ROUNDS (4).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-50}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-8}
ROUNDS=${ROUNDS:-4}

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    kill -INT "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 11: delta ingest with and without the audit log (building) =="
mkdir -p "$work/bin"
CGO_ENABLED=1 go build -o "$work/bin/" ./cmd/roster-collector
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/rosterctl ./cmd/roster-loadgen ./cmd/roster-agent
bin=$work/bin
snapshot=$work/snapshot.json
"$bin/roster-agent" inventory --skip os/updates > "$snapshot"

# start NAME AUDIT_REPORTS: a collector; sets url_NAME, fp_NAME, secret_NAME.
start() {
  local name=$1 audit=$2 data=$work/$1
  mkdir -m 700 -p "$data"
  printf 'audit:\n  device_reports: %s\n' "$audit" > "$work/$name.yaml"
  QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$bin/roster-collector" serve --config "$work/$name.yaml" --data "$data" \
    --listen 127.0.0.1:0 --log-level warn --log-format json > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  local addr=
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/^listening on //p' "$work/$name.out" 2>/dev/null | head -1)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "bench-audit: collector $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1; }
  local token
  token=$("$bin/roster-collector" token create --data "$data" --role admin --name bench-audit)
  printf -v "url_$name" '%s' "https://$addr"
  printf -v "fp_$name" '%s' "$("$bin/roster-collector" ca fingerprint --data "$data")"
  printf -v "secret_$name" '%s' "$(ROSTER_URL=https://$addr ROSTER_TOKEN=$token ROSTER_CA=$data/pki/ca.crt \
    "$bin/rosterctl" --json secrets create --label bench-audit | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')"
}
start on true
start off false

field() { sed -n "s/^ *\"$2\": *\([0-9.e+-]*\),\{0,1\}$/\1/p" "$1" | head -1; }

echo "$DEVICES devices, $CONCURRENCY in flight, $DURATION per run, $ROUNDS rounds, $(nproc) CPUs"
for round in $(seq 1 "$ROUNDS"); do
  order="on off"; [ $((round % 2)) -eq 0 ] && order="off on"
  for name in $order; do
    url_var=url_$name fp_var=fp_$name secret_var=secret_$name
    out=$work/$name-$round.json
    "$bin/roster-loadgen" --collector "${!url_var}" --ca-fingerprint "${!fp_var}" --secret "${!secret_var}" \
      --devices "$DEVICES" --concurrency "$CONCURRENCY" --duration "$DURATION" \
      --kind delta --transport https --snapshot "$snapshot" --json > "$out" 2> "$work/loadgen.err" ||
      { echo "bench-audit: roster-loadgen failed:" >&2; cat "$work/loadgen.err" >&2; exit 1; }
    echo "round $round audit=$name: $(field "$out" reports_per_s) reports/s, p99 $(field "$out" p99) ms, applied $(field "$out" applied)"
  done
done
entries=$("$bin/roster-collector" audit verify --data "$work/on" --json 2>/dev/null | sed -n 's/^ *"entries": *\([0-9]*\).*/\1/p' || true)
python3 - "$work" "$ROUNDS" "${entries:-?}" <<'PY'
import json, statistics, sys
work, rounds, entries = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def med(name, key):
    return statistics.median(json.load(open(f"{work}/{name}-{r}.json"))[key] for r in range(1, rounds + 1))
on, off = med("on", "reports_per_s"), med("off", "reports_per_s")
p99on = statistics.median(json.load(open(f"{work}/on-{r}.json"))["latency_ms"]["p99"] for r in range(1, rounds + 1))
p99off = statistics.median(json.load(open(f"{work}/off-{r}.json"))["latency_ms"]["p99"] for r in range(1, rounds + 1))
print(f"{'audit log':<22} {'reports/s':>10} {'p99_ms':>8}")
print(f"{'off (device_reports)':<22} {off:>10.0f} {p99off:>8.2f}")
print(f"{'on (default)':<22} {on:>10.0f} {p99on:>8.2f}")
slower = (off - on) / off * 100
print(f"audit entries written by the 'on' collector: {entries}")
print(f"goal: with the audit log at most 10 % slower: {'met' if slower <= 10 else 'NOT met'} ({slower:+.1f} % slower)")
PY
