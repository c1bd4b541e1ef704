#!/bin/sh
# roster-collector postrm (deb: remove | purge | upgrade ...; rpm: 0, 1).
# Purge keeps /var/lib/roster: it holds the registry and the CA every
# enrolled agent trusts, and losing it means re-enrolling the fleet. Delete
# it by hand when that is what you want.
set -e
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ] && [ -d /var/lib/roster ]; then
	echo "roster-collector: kept /var/lib/roster (registry and CA); remove it by hand if you mean to" >&2
fi
exit 0
