#!/usr/bin/env bash
# make installers: every package IT deploys, written to bin/installers/
# with a SHA256SUMS file (the collector serves this directory with
# `serve --downloads DIR`, and install.sh checks each package against it).
#
# The agent binaries come from `make cross` (pure Go, every platform); each
# format's builder is one script under installers/build/, run in name
# order with the output directory and the version:
#   installers/build/NN-FORMAT.sh OUT VERSION
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bin/installers}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
mkdir -p "$OUT"
for b in installers/build/*.sh; do
  [ -e "$b" ] || continue
  echo "installers: $(basename "$b" .sh)"
  bash "$b" "$OUT" "$VERSION"
done
(cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | LC_ALL=C sort | xargs -r sha256sum > SHA256SUMS)
echo "installers: $(grep -c . "$OUT/SHA256SUMS" 2>/dev/null || echo 0) packages in $OUT"
ls -l "$OUT"
