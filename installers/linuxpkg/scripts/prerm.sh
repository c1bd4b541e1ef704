#!/bin/sh
# roster-agent package: before removal. deb calls it with "remove" or
# "upgrade", rpm's %preun with $1 = 0 (erase) or 1 (upgrade). The service
# is stopped and disabled on removal only: an upgrade restarts it in
# postinst instead, so the agent is down for as short a time as possible.
set -e

unit=roster-agent.service

case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl stop "$unit" || true
	systemctl disable "$unit" >/dev/null 2>&1 || true
fi
exit 0
