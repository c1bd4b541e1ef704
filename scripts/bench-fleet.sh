#!/usr/bin/env bash
# Issue 17's fleet runs (docs/fleet.md): FLEET_SIZE simulated devices
# (roster-loadgen fleet) against real collectors on loopback — an
# enrolment storm (each device enrols and sends its first full report),
# then the real schedule compressed FLEET_COMPRESS times (heartbeats every
# 5 min, hourly inventories as deltas, daily package churn, a share of
# devices offline that return with spooled reports, occasional full
# resyncs, HTTPS and HTTP/3 mixed), the collectors' CPU and RSS and the
# database's size sampled from /proc every second. Package sets are mixed
# from captured hosts: testdata/hosts/linux/debian12-firecracker-vm,
# testdata/hosts/darwin/macbookpro10-1-xml and this machine's inventory.
#
#   1. SQLite, one collector;
#   2. PostgreSQL (a throwaway cluster, as scripts/bench-store.sh makes
#      one), two collectors sharing it and one CA, devices spread over both.
#
# Goals per collector (issue 17): CPU <= 1 core on average, RSS <= 1 GiB,
# p99 <= 250 ms, zero errors; each run ends with its verdict line.
#
# Tunables: FLEET_SIZE (2000), FLEET_COMPRESS (10), FLEET_DURATION (the
# schedule's real length; default one simulated hour, 3600/FLEET_COMPRESS
# seconds and at least 60: every device sends its hourly inventory once and
# about 12 heartbeats, and a 24th of them their day's package churn),
# FLEET_STORES ("sqlite postgres"), FLEET_SEED (1), FLEET_ENROL_CONCURRENCY
# (64), FLEET_CONCURRENCY (256), FLEET_PPROF (a loopback host:port: the
# SQLite collector serves Go's profiler there). The schedule's request rate
# is that of FLEET_SIZE x FLEET_COMPRESS devices in real time (100,000 at
# 10x is a million devices' heartbeats, ~3,300/s). Needs go, a C compiler
# and PostgreSQL's server binaries (scripts/deps.sh) for the second run.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEET_SIZE=${FLEET_SIZE:-2000}
FLEET_COMPRESS=${FLEET_COMPRESS:-10}
if [ -z "${FLEET_DURATION:-}" ]; then
  s=$(awk -v c="$FLEET_COMPRESS" 'BEGIN { s = 3600 / c; s = (s == int(s)) ? s : int(s) + 1; print (s < 60 ? 60 : s) }')
  FLEET_DURATION=${s}s
fi
FLEET_STORES=${FLEET_STORES:-sqlite postgres}
FLEET_SEED=${FLEET_SEED:-1}
# Group commit shares a write transaction among the reports in flight:
# 64 enrolling devices gave 25 enrolments/s where 16 gave 16 (2,000
# devices, load average 3-6).
FLEET_ENROL_CONCURRENCY=${FLEET_ENROL_CONCURRENCY:-64}
FLEET_CONCURRENCY=${FLEET_CONCURRENCY:-256}

work=$(mktemp -d)
pgdir=
pids=()
pg_started=
pguser=
if [ "$(id -u)" -eq 0 ]; then
  pguser=postgres
  getent passwd postgres > /dev/null || pguser=nobody
fi
as_pg() {
  if [ -n "$pguser" ]; then runuser -u "$pguser" -- "$@"; else "$@"; fi
}
stop_collectors() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_collectors
  if [ -n "$pg_started" ]; then
    as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop > /dev/null 2>&1 || true
  fi
  [ -n "$pgdir" ] && rm -rf "$pgdir"
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== issue 17: fleet of $FLEET_SIZE devices, schedule ${FLEET_COMPRESS}x compressed for $FLEET_DURATION (building) =="
mkdir -p "$work/bin"
CGO_ENABLED=1 go build -o "$work/bin/" ./cmd/roster-collector
CGO_ENABLED=0 go build -o "$work/bin/" ./cmd/rosterctl ./cmd/roster-loadgen ./cmd/roster-agent
bin=$work/bin
mkdir -p "$work/this-machine"
"$bin/roster-agent" inventory --skip os/updates > "$work/this-machine/inventory.json"
snaps=(--snapshot testdata/hosts/linux/debian12-firecracker-vm/want.json
  --snapshot testdata/hosts/darwin/macbookpro10-1-xml/want.json
  --snapshot "$work/this-machine/inventory.json")

# start NAME [CONFIG [SERVE-ARGS...]]: a collector on $work/NAME; sets
# url_NAME, pid_NAME.
start() {
  local name=$1 data=$work/$1 cfg=()
  [ -n "${2:-}" ] && cfg=(--config "$2")
  shift $(($# < 2 ? $# : 2))
  cfg+=("$@")
  mkdir -m 700 -p "$data"
  QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true "$bin/roster-collector" serve "${cfg[@]}" --data "$data" \
    --listen 127.0.0.1:0 --log-level warn --log-format json > "$work/$name.out" 2> "$work/$name.err" &
  pids+=($!)
  printf -v "pid_$name" '%s' "$!"
  local addr=
  for _ in $(seq 1 600); do
    addr=$(sed -n 's/^listening on //p' "$work/$name.out" 2>/dev/null | head -1)
    [ -n "$addr" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$addr" ] || { echo "bench-fleet: collector $name did not start:" >&2; cat "$work/$name.err" >&2; exit 1; }
  printf -v "url_$name" '%s' "https://$addr"
}
# secret NAME [CONFIG]: an enrolment secret made through collector NAME.
secret() {
  local name=$1 data=$work/$1 cfg=() url_var=url_$1 token
  [ -n "${2:-}" ] && cfg=(--config "$2")
  token=$("$bin/roster-collector" token create "${cfg[@]}" --data "$data" --role admin --name bench-fleet)
  ROSTER_URL=${!url_var} ROSTER_TOKEN=$token ROSTER_CA=$data/pki/ca.crt \
    "$bin/rosterctl" --json secrets create --label bench-fleet | sed -n 's/.*"secret": *"\([^"]*\)".*/\1/p'
}
# fleet LABEL ARGS...: one roster-loadgen fleet run; prints its summary.
fleet() {
  local label=$1; shift
  echo
  echo "-- $label: load average $(cut -d' ' -f1-3 /proc/loadavg) before the run --"
  "$bin/roster-loadgen" fleet --devices "$FLEET_SIZE" --duration "$FLEET_DURATION" --compress "$FLEET_COMPRESS" \
    --seed "$FLEET_SEED" --enrol-concurrency "$FLEET_ENROL_CONCURRENCY" --concurrency "$FLEET_CONCURRENCY" \
    "${snaps[@]}" "$@" 2> "$work/loadgen.err" || {
    echo "bench-fleet: roster-loadgen fleet ($label) failed:" >&2; tail -20 "$work/loadgen.err" >&2; return 1; }
  echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
}

for store in $FLEET_STORES; do
  case $store in
  sqlite)
    start lite "" ${FLEET_PPROF:+--pprof "$FLEET_PPROF"}
    fleet "SQLite, one collector" --collector "$url_lite" --ca-fingerprint "$("$bin/roster-collector" ca fingerprint --data "$work/lite")" \
      --secret "$(secret lite)" --collector-pid "$pid_lite" --db "$work/lite/roster.db" --db "$work/lite/roster.db-wal" || true
    stop_collectors
    ;;
  postgres)
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -x "$pgbin/initdb" ] || { echo "bench-fleet: no PostgreSQL server binaries: run scripts/deps.sh" >&2; exit 1; }
    pgdir=$(mktemp -d /tmp/roster-fleet-pg.XXXXXX)
    [ -n "$pguser" ] && chown "$pguser:" "$pgdir"
    as_pg "$pgbin/initdb" -D "$pgdir/data" -U roster --auth=trust --encoding=UTF8 --locale=C --no-sync > "$pgdir/initdb.log" 2>&1 ||
      { echo "bench-fleet: initdb failed:" >&2; cat "$pgdir/initdb.log" >&2; exit 1; }
    pgport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    pg_started=1
    as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
      -o "-p $pgport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$pgdir -c synchronous_commit=off -c max_connections=100" \
      start > /dev/null || { echo "bench-fleet: postgres did not start:" >&2; cat "$pgdir/server.log" >&2; exit 1; }
    "$pgbin/createdb" -h 127.0.0.1 -p "$pgport" -U roster fleet
    printf 'store:\n  engine: postgres\n  dsn: postgres://roster@127.0.0.1:%s/fleet?sslmode=disable\n' "$pgport" > "$work/pg.yaml"
    start pga "$work/pg.yaml"
    mkdir -m 700 -p "$work/pgb"
    cp -a "$work/pga/pki" "$work/pgb/" # the join step: one CA for both
    start pgb "$work/pg.yaml"
    fleet "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}'), two collectors" \
      --collector "$url_pga" --collector "$url_pgb" --ca-fingerprint "$("$bin/roster-collector" ca fingerprint --data "$work/pga")" \
      --secret "$(secret pga "$work/pg.yaml")" --collector-pid "$pid_pga" --collector-pid "$pid_pgb" --db "$pgdir/data/base" || true
    stop_collectors
    ;;
  *) echo "bench-fleet: FLEET_STORES: unknown store $store" >&2; exit 2 ;;
  esac
done
