#!/usr/bin/env bash
# roster-collector's .deb, .rpm and OCI image: installers/build/40-collector.sh OUT VERSION
#
# The packages ship bin/roster-collector and bin/rosterctl as `make build`
# makes them (the collector links glibc: cgo SQLite). The image has no libc,
# so it gets a statically linked build of the collector (netgo and osusergo
# keep glibc's resolver and NSS, which cannot be linked statically, out;
# sqlite_omit_load_extension keeps out SQLite's dlopen, unused).
# amd64 only: the collector needs a C compiler for its target, and arm64
# packages are built only where aarch64-linux-gnu-gcc exists.
set -euo pipefail
OUT=${1:?usage: 40-collector.sh OUT VERSION}
VERSION=${2:?usage: 40-collector.sh OUT VERSION}
cd "$(dirname "$0")/../.."
GO=${GO:-go}
LDFLAGS="-s -w -X main.version=$VERSION"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$OUT"
CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$tmp/amd64/" ./cmd/rosterctl
CGO_ENABLED=1 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$tmp/amd64/" ./cmd/roster-collector
CGO_ENABLED=1 "$GO" build -trimpath -tags netgo,osusergo,sqlite_omit_load_extension \
  -ldflags "$LDFLAGS -linkmode external -extldflags -static" \
  -o "$tmp/amd64/static/roster-collector" ./cmd/roster-collector
"$GO" run ./installers/cmd/collector-packages --out "$OUT" --version "$VERSION" --arch amd64 \
  --collector "$tmp/amd64/roster-collector" --rosterctl "$tmp/amd64/rosterctl" \
  --static-collector "$tmp/amd64/static/roster-collector"

if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
  export CC=aarch64-linux-gnu-gcc GOARCH=arm64
  CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$tmp/arm64/" ./cmd/rosterctl
  CGO_ENABLED=1 "$GO" build -trimpath -ldflags "$LDFLAGS" -o "$tmp/arm64/" ./cmd/roster-collector
  unset CC GOARCH
  "$GO" run ./installers/cmd/collector-packages --out "$OUT" --version "$VERSION" --arch arm64 \
    --collector "$tmp/arm64/roster-collector" --rosterctl "$tmp/arm64/rosterctl"
else
  echo "40-collector: no aarch64-linux-gnu-gcc: no arm64 collector packages (apt-get install gcc-aarch64-linux-gnu)" >&2
fi
