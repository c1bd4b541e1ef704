#!/usr/bin/env bash
# Installs the Debian packages a Roster target needs, only when missing,
# and for the test target the npm packages the browser tests inject
# (tools/axe, pinned by its package-lock.json).
# Usage: scripts/deps.sh test|bench
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
case "${1:-test}" in
  # chromium: the console's end-to-end tests (chromedp); certutil puts the
  # test collector's CA in the throwaway NSS database Chromium reads; npm
  # installs axe-core for their accessibility check.
  test)  cmds=(cryptsetup:cryptsetup-bin dmsetup:dmsetup losetup:mount mkfs.ext4:e2fsprogs pg_ctlcluster:postgresql
               /usr/bin/chromium:chromium certutil:libnss3-tools npm:npm
               # the installers (issue 15): MSI build and reading, Authenticode,
               # rpm, lintian, xar/cpio reading, shellcheck for install.sh
               wixl:wixl msiinfo:msitools osslsigncode:osslsigncode rpm:rpm lintian:lintian
               bsdtar:libarchive-tools shellcheck:shellcheck cpio:cpio) ;;
  bench) cmds=(cryptsetup:cryptsetup-bin dmsetup:dmsetup fusioninventory-agent:fusioninventory-agent /usr/bin/time:time) ;;
  *) echo "deps.sh: unknown target $1" >&2; exit 2 ;;
esac
for pair in "${cmds[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then need+=("$pkg"); fi
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: need ${need[*]} (run as root or install them)" >&2
  else
    echo "deps.sh: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || true
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
if [ "${1:-test}" = test ] && [ ! -f tools/axe/node_modules/axe-core/axe.min.js ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "deps.sh: npm ci in tools/axe"
    npm ci --prefix tools/axe --ignore-scripts --no-audit --no-fund >/dev/null
  else
    echo "deps.sh: need npm for tools/axe (axe-core)" >&2
  fi
fi
