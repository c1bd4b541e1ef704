#!/bin/sh
# roster-collector postinst (deb: configure [OLD]; rpm: 1 install, 2 upgrade).
# Never fails for want of systemd: containers and chroots have none.
set -e

if ! getent group roster >/dev/null 2>&1; then
	groupadd --system roster
fi
if ! getent passwd roster >/dev/null 2>&1; then
	useradd --system --gid roster --home-dir /var/lib/roster --no-create-home \
		--shell /usr/sbin/nologin --comment "Roster collector" roster
fi
# The configuration may hold a database DSN: readable by the service only.
if [ -f /etc/roster/collector.yaml ]; then
	chgrp roster /etc/roster/collector.yaml
	chmod 0640 /etc/roster/collector.yaml
fi

upgrade=no
case $1 in
configure) [ -n "${2:-}" ] && upgrade=yes ;;
2) upgrade=yes ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	if [ "$upgrade" = yes ]; then
		systemctl try-restart roster-collector.service || true
	else
		# Enabled, not started: set hostnames in /etc/roster/collector.yaml
		# first, since the server certificate is made for them.
		systemctl enable roster-collector.service >/dev/null 2>&1 || true
		echo "roster-collector: edit /etc/roster/collector.yaml, then: systemctl start roster-collector" >&2
	fi
fi
exit 0
