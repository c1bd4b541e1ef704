#!/usr/bin/env bash
# Installs the Debian packages a Roster target needs, only when missing.
# Usage: scripts/deps.sh test|bench
set -euo pipefail
need=()
case "${1:-test}" in
  test)  cmds=(cryptsetup:cryptsetup-bin dmsetup:dmsetup losetup:mount mkfs.ext4:e2fsprogs pg_ctlcluster:postgresql) ;;
  bench) cmds=(cryptsetup:cryptsetup-bin dmsetup:dmsetup fusioninventory-agent:fusioninventory-agent /usr/bin/time:time) ;;
  *) echo "deps.sh: unknown target $1" >&2; exit 2 ;;
esac
for pair in "${cmds[@]}"; do
  cmd=${pair%%:*}; pkg=${pair#*:}
  if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "$cmd" ]; then need+=("$pkg"); fi
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: need ${need[*]} (run as root or install them)" >&2; exit 0
fi
echo "deps.sh: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
