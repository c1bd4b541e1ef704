#!/usr/bin/env bash
# Issue 3's ingest figures: a real roster-collector on 127.0.0.1 (SQLite in a
# temporary data directory) loaded by roster-loadgen on the same machine,
# with full reports (this machine's real snapshot) and with small deltas
# (one package's version toggled), over HTTPS and over HTTP/3: throughput,
# and with heartbeats: throughput, latency percentiles, bytes on the wire
# per report and the collector's CPU time per request, against the goals
# (>= 3,000 delta and >= 300 full reports/s, >= 5,000 heartbeats/s on 2
# cores).
#
# Issue 17: the collector built from BASE (1a0768e, before issue 17's
# ingest work; from `git archive`, so no worktree is left behind) is
# measured in the same run, its rows beside today's, with the load average;
# each kind over each transport runs on the two builds one after the other.
#
# This machine's speed wanders by 10-15 % from one minute to the next, so
# the whole sequence runs ROUNDS times and the goals are judged on each
# row's median over the rounds (ops/s, p99 and CPU each their own median),
# not on one lucky or unlucky run.
#
# Last, the delta apply alone (BenchmarkApplyDeltaParallel: the registry
# with 8 reports in flight, no HTTP, no TLS, no load generator on the
# cores; the largest captured host's deltas, one package toggled) gives
# the rate this build's registry allows on this machine with the whole of
# it: the delta rows above share the same cores with HTTP, TLS and the
# load generator.
#
# Needs only go. Tunables: DEVICES (50), DURATION (12s), CONCURRENCY (8),
# ROUNDS (3), SNAPSHOT (a snapshot JSON file; default: this machine's live
# inventory), BASE (1a0768e; empty to measure today's build alone).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-50}
DURATION=${DURATION:-12s}
CONCURRENCY=${CONCURRENCY:-8}
ROUNDS=${ROUNDS:-3}
BASE=${BASE-1a0768e}

work=$(mktemp -d)
declare -A pids=() urls=() fps=() secrets=()
stop() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
  for pid in "${pids[@]}"; do stop "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 3: report ingest (building) =="
mkdir -p "$work/bin"
CGO_ENABLED=1 go build -o "$work/bin/" ./cmd/roster-collector
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/rosterctl ./cmd/roster-loadgen ./cmd/roster-agent
bin=$work/bin
builds=new
if [ -n "$BASE" ]; then
  mkdir -p "$work/base" "$work/basebin"
  git archive "$BASE" | tar -x -C "$work/base"
  (cd "$work/base" && CGO_ENABLED=1 go build -o "$work/basebin/" ./cmd/roster-collector)
  builds="$BASE new"
fi

snapshot=${SNAPSHOT:-}
if [ -z "$snapshot" ]; then
  snapshot=$work/snapshot.json
  "$bin/roster-agent" inventory > "$snapshot"
fi

# start BUILD: a collector of BUILD (new or $BASE) on a data directory of
# its own, with an admin token and an enrolment secret; fills pids, urls,
# fps and secrets under BUILD.
start() {
  local build=$1 cbin=$bin data=$work/data-$1 addr= url fp token secret
  [ "$build" = new ] || cbin=$work/basebin
  QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$cbin/roster-collector" serve --data "$data" \
    --listen 127.0.0.1:0 --log-level warn --log-format json > "$work/collector-$build.out" 2> "$work/collector-$build.err" &
  pids[$build]=$!
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/^listening on //p' "$work/collector-$build.out" 2>/dev/null | head -1)
    [ -n "$addr" ] && break
    kill -0 "${pids[$build]}" 2>/dev/null || { echo "bench-ingest: collector $build exited:" >&2; cat "$work/collector-$build.err" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "bench-ingest: collector $build did not start listening" >&2; exit 1; }
  url=https://$addr
  fp=$("$cbin/roster-collector" ca fingerprint --data "$data")
  token=$("$cbin/roster-collector" token create --data "$data" --role admin --name bench-ingest)
  secret=$(ROSTER_URL=$url ROSTER_TOKEN=$token ROSTER_CA=$data/pki/ca.crt \
    "$bin/rosterctl" --json secrets create --label bench-ingest |
    sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')
  [ -n "$secret" ] || { echo "bench-ingest: could not create an enrolment secret for $build" >&2; exit 1; }
  urls[$build]=$url fps[$build]=$fp secrets[$build]=$secret
  echo "collector $build at $url"
}

# field FILE KEY: a number from roster-loadgen --json (one key per line).
field() { sed -n "s/^ *\"$2\": *\([0-9.e+-]*\),\{0,1\}$/\1/p" "$1" | head -1; }
# field0: the same, 0 when the key is left out (an omitempty zero).
field0() { local v; v=$(field "$@"); echo "${v:-0}"; }

# measure BUILD KIND TRANSPORT ROUND: one load generator run against
# BUILD's collector; adds to rows.
measure() {
  local build=$1 kind=$2 tr=$3 out=$work/$1-$2-$3-$4.json errors
  if ! "$bin/roster-loadgen" --collector "${urls[$build]}" --ca-fingerprint "${fps[$build]}" --secret "${secrets[$build]}" \
    --devices "$DEVICES" --concurrency "$CONCURRENCY" --duration "$DURATION" \
    --kind "$kind" --transport "$tr" --snapshot "$snapshot" --collector-pid "${pids[$build]}" --json > "$out" 2> "$work/loadgen.err"; then
    echo "bench-ingest: roster-loadgen $kind over $tr against $build failed:" >&2
    cat "$work/loadgen.err" >&2
    exit 1
  fi
  errors=$(tr -d '\n ' < "$out" | sed -n 's/.*"errors":{\([^}]*\)}.*/\1/p')
  rows+=("$build $kind $tr $4 $(field "$out" reports_per_s) $(field "$out" p50) $(field "$out" p90) $(field "$out" p99) $(field "$out" max) $(field "$out" request_bytes_per_report) $(field "$out" raw_request_bytes_per_report) $(field "$out" response_bytes_per_report) $(field0 "$out" collector_cpu_ms_per_op) $(field0 "$out" collector_cores) $(field "$out" applied) ${errors:-none}")
}

# Both builds' collectors run side by side (the one not loaded is idle),
# and each kind over each transport is measured on one build right after
# the other, the base first: a machine that slows down during the run
# then weighs on both builds' rows of a kind, not on every row of the
# build measured last.
for build in $builds; do
  start "$build"
done
echo "$DEVICES devices, $CONCURRENCY in flight, $DURATION per run, $ROUNDS rounds, $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rows=()
for round in $(seq 1 "$ROUNDS"); do
  for kind in full delta heartbeat; do
    for tr in https http3; do
      for build in $builds; do
        measure "$build" "$kind" "$tr" "$round"
      done
    done
  done
  echo "round $round done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
for build in $builds; do
  stop "${pids[$build]}"
done
echo "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-9s %-6s %5s %8s %8s %8s %8s %8s %11s %10s %9s %9s %6s %8s  %s\n' build kind via round ops/s p50_ms p90_ms p99_ms max_ms req_B_gzip req_B_raw resp_B cpu_ms/op cores applied errors
for kind in full delta heartbeat; do
  for tr in https http3; do
    for r in "${rows[@]}"; do
      # shellcheck disable=SC2086
      set -- $r
      [ "$2" = "$kind" ] && [ "$3" = "$tr" ] || continue
      printf '%-8s %-9s %-6s %5s %8.0f %8.2f %8.2f %8.2f %8.2f %11.0f %10.0f %9.0f %9.3f %6.2f %8s  %s\n' "$@"
    done
  done
done

# median BUILD KIND TRANSPORT FIELD: the median over the rounds of a row
# field (5: ops/s, 8: p99, 13: CPU ms per request).
median() {
  printf '%s\n' "${rows[@]}" | awk -v b="$1" -v k="$2" -v t="$3" -v f="$4" '$1 == b && $2 == k && $3 == t { v[n++] = $f }
    END { if (n == 0) { print "?"; exit }
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      print (n % 2) ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2 }'
}
echo
echo "medians over $ROUNDS rounds:"
printf '%-8s %-9s %-6s %8s %8s %9s\n' build kind via ops/s p99_ms cpu_ms/op
for kind in full delta heartbeat; do
  for tr in https http3; do
    for build in $builds; do
      printf '%-8s %-9s %-6s %8.0f %8.2f %9.3f\n' "$build" "$kind" "$tr" \
        "$(median "$build" "$kind" "$tr" 5)" "$(median "$build" "$kind" "$tr" 8)" "$(median "$build" "$kind" "$tr" 13)"
    done
  done
done
for kind in full delta heartbeat; do
  for tr in https http3; do
    ops=$(median new "$kind" "$tr" 5) p99=$(median new "$kind" "$tr" 8) cpu=$(median new "$kind" "$tr" 13)
    goal=300; [ "$kind" = delta ] && goal=3000; [ "$kind" = heartbeat ] && goal=5000
    verdict=$(awk -v v="$ops" -v p="$p99" -v g="$goal" 'BEGIN { print (v >= g && p <= 50) ? "met" : "NOT met" }')
    # The collector's CPU per request says what rate two cores would
    # allow with nothing else on them (the load generator shares them).
    ceiling=$(awk -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", 2000 / c; else print "?" }')
    echo "goal $kind over $tr: >= $goal/s with p99 <= 50 ms: $verdict (median $(printf '%.0f' "$ops")/s, p99 $(printf '%.1f' "$p99") ms; collector CPU $(printf '%.2f' "$cpu") ms each, so 2 cores of collector alone: ~$ceiling/s)"
  done
done

# The registry alone: what the delta rows can reach at most here.
echo
echo "the delta apply alone (registry, 8 in flight, the largest captured host; no HTTP, no TLS, no load generator):"
out=$(go test -run '^$' -bench '^BenchmarkApplyDeltaParallel$' -benchtime 5000x ./collector/registry/ 2>&1) || { echo "$out" >&2; exit 1; }
echo "$out" | grep '^Benchmark'
ns=$(echo "$out" | awk '/^BenchmarkApplyDeltaParallel/ { for (i = 1; i < NF; i++) if ($(i + 1) == "ns/op") print $i }')
echo "so at most ~$(awk -v n="$ns" 'BEGIN { printf "%.0f", 1e9 / n }') deltas/s on these $(nproc) cores with nothing else on them"
