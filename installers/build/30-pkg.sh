#!/usr/bin/env bash
# installers/build/30-pkg.sh OUT VERSION: the macOS flat packages
# roster-agent-VERSION-{amd64,arm64}.pkg from bin/cross (make cross), built
# in pure Go by installers/cmd/macpkg: no pkgbuild, xar, mkbom or Docker.
# Time stamps inside are the last commit's (or SOURCE_DATE_EPOCH), so the
# same commit gives the same bytes. See docs/installers-macos.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: 30-pkg.sh OUT VERSION}
VERSION=${2:?usage: 30-pkg.sh OUT VERSION}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
mkdir -p "$OUT"
for arch in amd64 arm64; do
  agent=bin/cross/roster-agent-darwin-$arch
  [ -f "$agent" ] || { echo "30-pkg: $agent missing (make cross)" >&2; exit 1; }
  go run ./installers/cmd/macpkg -version "$VERSION" -arch "$arch" \
    -agent "$agent" -out "$OUT/roster-agent-$VERSION-$arch.pkg"
done
