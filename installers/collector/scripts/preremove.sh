#!/bin/sh
# roster-collector prerm (deb: remove | upgrade NEW; rpm: 0 remove, 1 upgrade).
# An upgrade keeps the service running; postinst restarts it.
set -e
case $1 in
remove | 0)
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now roster-collector.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
