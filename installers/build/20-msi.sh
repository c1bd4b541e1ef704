#!/usr/bin/env bash
# installers/build/20-msi.sh OUT VERSION: the signed roster-agent MSIs
# (x64, and arm64 when `make cross` built it) from bin/cross, with wixl,
# msibuild and osslsigncode (Debian msitools, osslsigncode). SIGN_PFX and
# SIGN_PFX_PASSWORD name the code-signing certificate; without them the
# build signs with a throwaway one. See docs/installers-windows.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: 20-msi.sh OUT VERSION}
VERSION=${2:?usage: 20-msi.sh OUT VERSION}
for tool in wixl msibuild msiinfo osslsigncode; do
  command -v "$tool" >/dev/null || { echo "20-msi: $tool missing (apt-get install msitools wixl osslsigncode)" >&2; exit 1; }
done
go run ./installers/cmd/msi -out "$OUT" -describe "$VERSION" \
  -exe-x64 bin/cross/roster-agent-windows-amd64.exe \
  -exe-arm64 bin/cross/roster-agent-windows-arm64.exe
