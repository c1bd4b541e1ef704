#!/usr/bin/env bash
# Issue 12's figures: delta and full report ingest (roster-loadgen, HTTPS)
# against four setups, side by side in one run:
#   sqlite d8e584a  a collector built from the commit before the store work
#   sqlite          today's collector on SQLite
#   postgres        today's collector on a throwaway PostgreSQL
#   postgres x2     two of today's collectors on one PostgreSQL database,
#                   the second joined by copying the first one's pki/, each
#                   loaded at the same time with half the devices and half
#                   the reports in flight (throughput summed)
# Goal: today's SQLite no more than 10 % slower than before the split.
#
# The two SQLite collectors run ROUNDS times each, the order swapped every
# round, medians reported; the PostgreSQL setups run once. PostgreSQL is
# Debian's server (scripts/deps.sh), a cluster made by initdb in a
# temporary directory, run as the postgres user (nobody when there is
# none) since the server refuses root, on a loopback port, with
# synchronous_commit=off to match the collector's SQLite (WAL,
# synchronous=NORMAL: no flush per commit); stopped and removed at exit.
# The old build comes from `git archive` rather than a worktree, so the
# shared repository gets no worktree entry to clean up if this is killed.
#
# Tunables: DEVICES (50), DURATION (8s), CONCURRENCY (8), ROUNDS (2),
# BASE (d8e584a), NEW (a commit to measure as today's instead of the work
# tree, e.g. HEAD while the work tree is mid-edit).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES=${DEVICES:-50}
DURATION=${DURATION:-8s}
CONCURRENCY=${CONCURRENCY:-8}
ROUNDS=${ROUNDS:-2}
BASE=${BASE:-d8e584a}
NEW=${NEW:-}

work=$(mktemp -d)
pgdir=
pids=()
pg_started=

# as_pg CMD...: runs CMD as the user the PostgreSQL server runs as.
pguser=
if [ "$(id -u)" -eq 0 ]; then
  pguser=postgres
  getent passwd postgres > /dev/null || pguser=nobody
fi
as_pg() {
  if [ -n "$pguser" ]; then runuser -u "$pguser" -- "$@"; else "$@"; fi
}

cleanup() {
  for p in "${pids[@]}"; do
    kill -INT "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ -n "$pg_started" ]; then
    as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop > /dev/null 2>&1 || true
  fi
  [ -n "$pgdir" ] && rm -rf "$pgdir"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 12: ingest on SQLite before and after the store split, and on PostgreSQL (building) =="
mkdir -p "$work/bin" "$work/oldbin" "$work/base" "$work/new"
src=.
if [ -n "$NEW" ]; then
  src=$work/new
  git archive "$NEW" | tar -x -C "$src"
fi
(cd "$src" && CGO_ENABLED=1 go build -o "$work/bin/" ./cmd/roster-collector &&
  CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/rosterctl ./cmd/roster-loadgen ./cmd/roster-agent)
git archive "$BASE" | tar -x -C "$work/base"
(cd "$work/base" && CGO_ENABLED=1 go build -o "$work/oldbin/" ./cmd/roster-collector &&
  CGO_ENABLED=0 go build -o "$work/oldbin/" ./cmd/rosterctl)
bin=$work/bin
snapshot=$work/snapshot.json
"$bin/roster-agent" inventory --skip os/updates > "$snapshot"

# The throwaway PostgreSQL.
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "bench-store: no PostgreSQL server binaries: run scripts/deps.sh" >&2; exit 1; }
pgdir=$(mktemp -d /tmp/roster-bench-pg.XXXXXX)
[ -n "$pguser" ] && chown "$pguser:" "$pgdir"
as_pg "$pgbin/initdb" -D "$pgdir/data" -U roster --auth=trust --encoding=UTF8 --locale=C --no-sync > "$pgdir/initdb.log" 2>&1 ||
  { echo "bench-store: initdb failed:" >&2; cat "$pgdir/initdb.log" >&2; exit 1; }
pgport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_started=1
as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
  -o "-p $pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgdir -c synchronous_commit=off -c max_connections=100" \
  start > /dev/null || { echo "bench-store: postgres did not start:" >&2; cat "$pgdir/server.log" >&2; exit 1; }
# newdb NAME: a database of its own per setup; prints its store config.
newdb() {
  "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U roster "$1"
  printf 'store:\n  engine: postgres\n  dsn: postgres://roster@127.0.0.1:%s/%s?sslmode=disable\n' "$pgport" "$1"
}

# start NAME BINDIR [CONFIG]: a collector on data directory $work/NAME;
# sets url_NAME, fp_NAME and, for a collector with a new CA, secret_NAME.
start() {
  local name=$1 b=$2 data=$work/$1 cfg=()
  [ -n "${3:-}" ] && cfg=(--config "$3")
  mkdir -m 700 -p "$data"
  QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$b/roster-collector" serve "${cfg[@]}" --data "$data" \
    --listen 127.0.0.1:0 --log-level warn --log-format json > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  local addr=
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/^listening on //p' "$work/$name.out" 2>/dev/null | head -1)
    [ -n "$addr" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "bench-store: collector $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1; }
  printf -v "url_$name" '%s' "https://$addr"
  printf -v "fp_$name" '%s' "$("$b/roster-collector" ca fingerprint --data "$data")"
  local token
  token=$("$b/roster-collector" token create "${cfg[@]}" --data "$data" --role admin --name bench-store)
  printf -v "secret_$name" '%s' "$(ROSTER_URL=https://$addr ROSTER_TOKEN=$token ROSTER_CA=$data/pki/ca.crt \
    "$b/rosterctl" --json secrets create --label bench-store | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p')"
}

# load NAME KIND OUT DEVICES CONCURRENCY: one roster-loadgen run.
load() {
  local url_var=url_$1 fp_var=fp_$1 secret_var=secret_$1
  "$bin/roster-loadgen" --collector "${!url_var}" --ca-fingerprint "${!fp_var}" --secret "${!secret_var}" \
    --devices "$4" --concurrency "$5" --duration "$DURATION" \
    --kind "$2" --transport https --snapshot "$snapshot" --json > "$3" 2> "$3.err" ||
    { echo "bench-store: roster-loadgen $2 against $1 failed:" >&2; cat "$3.err" >&2
      echo "collector $1's last errors:" >&2; grep -i '"level":"error"' "$work/$1.err" | tail -3 >&2; return 1; }
}

start old "$work/oldbin"
start lite "$bin"
newdb pg1 > "$work/pg1.yaml"
start pg1 "$bin" "$work/pg1.yaml"
newdb pg2 > "$work/pg2.yaml"
start pga "$bin" "$work/pg2.yaml"
mkdir -m 700 -p "$work/pgb"
cp -a "$work/pga/pki" "$work/pgb/" # the join step, before B's first start
start pgb "$bin" "$work/pg2.yaml"
secret_pgb=$secret_pga # one registry: A's secret enrols through B too

echo "$DEVICES devices, $CONCURRENCY in flight, $DURATION per run, $ROUNDS rounds on SQLite, $(nproc) CPUs, PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}')"
for kind in full delta; do
  for round in $(seq 1 "$ROUNDS"); do
    order="old lite"; [ $((round % 2)) -eq 0 ] && order="lite old"
    for name in $order; do
      load "$name" "$kind" "$work/$name-$kind-$round.json" "$DEVICES" "$CONCURRENCY"
    done
  done
  load pg1 "$kind" "$work/pg1-$kind-1.json" "$DEVICES" "$CONCURRENCY"
  half=$((DEVICES / 2)) halfc=$(((CONCURRENCY + 1) / 2))
  load pga "$kind" "$work/pga-$kind-1.json" "$half" "$halfc" & a=$!
  load pgb "$kind" "$work/pgb-$kind-1.json" "$((DEVICES - half))" "$((CONCURRENCY - halfc))" & b=$!
  # A failure here is a figure too (the table says so), not the end of
  # the run: the other setups' figures still print.
  wait "$a" || rm -f "$work/pga-$kind-1.json"
  wait "$b" || rm -f "$work/pgb-$kind-1.json"
done

python3 - "$work" "$ROUNDS" "$BASE" <<'PY'
import json, os, statistics, sys
work, rounds, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def runs(name, kind, n):
    return [json.load(open(f"{work}/{name}-{kind}-{r}.json")) for r in range(1, n + 1)]
def one(name, kind, n=1):
    rs = runs(name, kind, n)
    return (statistics.median(r["reports_per_s"] for r in rs),
            statistics.median(r["latency_ms"]["p50"] for r in rs),
            statistics.median(r["latency_ms"]["p99"] for r in rs),
            sum(sum(r["errors"].values()) for r in rs if r.get("errors")))
def pair(kind):
    if not all(os.path.exists(f"{work}/{n}-{kind}-1.json") for n in ("pga", "pgb")):
        return None  # a loadgen failed; its error is printed above
    a, b = runs("pga", kind, 1)[0], runs("pgb", kind, 1)[0]
    # Throughput adds up; a percentile does not, so the worse of the two.
    return (a["reports_per_s"] + b["reports_per_s"],
            max(a["latency_ms"]["p50"], b["latency_ms"]["p50"]),
            max(a["latency_ms"]["p99"], b["latency_ms"]["p99"]),
            sum(a.get("errors", {}).values()) + sum(b.get("errors", {}).values()))
setups = [(f"sqlite {base}", lambda k: one("old", k, rounds)), ("sqlite", lambda k: one("lite", k, rounds)),
          ("postgres", lambda k: one("pg1", k)), ("postgres x2 (summed)", lambda k: pair(k))]
fig = {name: {k: f(k) for k in ("full", "delta")} for name, f in setups}
print(f"{'setup':<22}{'full/s':>9}{'p50_ms':>8}{'p99_ms':>8}{'delta/s':>10}{'p50_ms':>8}{'p99_ms':>8}{'errors':>8}")
def cols(v, w):
    return f"{'failed':>{w + 16}}" if v is None else f"{v[0]:>{w}.0f}{v[1]:>8.2f}{v[2]:>8.2f}"
for name, _ in setups:
    f, d = fig[name]["full"], fig[name]["delta"]
    errs = sum(v[3] for v in (f, d) if v is not None)
    print(f"{name:<22}{cols(f, 9)}{cols(d, 10)}{errs:>8}")
print("(x2: each collector loaded at once with half the devices and half the reports in flight; latencies the worse of the two)")
for kind in ("full", "delta"):
    old, new = fig[f"sqlite {base}"][kind][0], fig["sqlite"][kind][0]
    slower = (old - new) / old * 100
    print(f"goal {kind} on SQLite: at most 10 % slower than {base}: {'met' if slower <= 10 else 'NOT met'} ({slower:+.1f} % slower)")
PY
