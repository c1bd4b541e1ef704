#!/usr/bin/env bash
# roster-agent .deb and .rpm for linux amd64 and arm64, from bin/cross
# (make cross): installers/build/10-linux.sh OUT VERSION, where VERSION is
# git describe output (scripts/installers.sh passes it). The files' times
# are the commit's, so a rebuild of one commit gives the same packages.
set -euo pipefail
OUT=${1:?usage: 10-linux.sh OUT VERSION}
VERSION=${2:?usage: 10-linux.sh OUT VERSION}
cd "$(dirname "$0")/../.."
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
go run ./installers/cmd/agent-packages -out "$OUT" -describe "$VERSION" -bin bin/cross
