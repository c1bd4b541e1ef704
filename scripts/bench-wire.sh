#!/usr/bin/env bash
# Issue 17: what an unchanged device's heartbeats cost on the wire, before
# (BEFORE_REV, the build before the change, from a git worktree) and after
# (this tree), over HTTPS, HTTP/3 and auto (the default: before, HTTP/3
# first for everything; after, heartbeats over HTTPS). scripts/wirebytes
# runs the collector's real API, registry, CA and TLS configuration and the
# agent's real enrolment and transport in one process, with a counting
# TCP/UDP relay between them on 127.0.0.1; each heartbeat comes after the
# previous connection idled out, as at the default 5-minute interval.
# Bytes are TCP/UDP payload both ways (TLS records, QUIC packets).
# HEARTBEATS (8) per row; about two minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE_REV=${BEFORE_REV:-4b0e8ad}
HEARTBEATS=${HEARTBEATS:-8}
work=$(mktemp -d)
cleanup() {
  git worktree remove --force "$work/before" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

git worktree add --detach "$work/before" "$BEFORE_REV" >/dev/null 2>&1
# The tool only uses APIs both builds have; it is measured against each
# build's own collector and agent code.
mkdir -p "$work/before/scripts/wirebytes"
cp scripts/wirebytes/main.go scripts/wirebytes/measure.go "$work/before/scripts/wirebytes/"
(cd "$work/before" && go build -o "$work/wirebytes-before" ./scripts/wirebytes)
go build -o "$work/wirebytes-after" ./scripts/wirebytes

echo "== issue 17: heartbeats on the wire, $(git -C "$work/before" rev-parse --short HEAD) vs this tree (load: $(cut -d' ' -f1-3 /proc/loadavg)) =="
echo "per day = 288 heartbeats at the default 5 minutes (the 24 hourly reports replace one each) + 24 x 300 B"
echo "for an unchanged report's empty delta over a heartbeat; 'later' is every heartbeat after the first, each"
echo "on a new connection that may resume the TLS session; 1 KB = 1000 B"
for mode in https http3 auto; do
  "$work/wirebytes-before" -transport "$mode" -heartbeats "$HEARTBEATS" -label "before ($BEFORE_REV)"
  "$work/wirebytes-after" -transport "$mode" -heartbeats "$HEARTBEATS" -label "after"
done | tee "$work/rows"
awk '/^after/ && $2 == "auto" { kb = $(NF-1); print "goal (unchanged device, default transport auto, <= 1,000 KB a day): " (kb <= 1000 ? "met" : "NOT met") " (" kb " KB)" }' "$work/rows"
