#!/bin/sh
# roster-agent package: after install or upgrade. deb calls it with
# "configure" (and "abort-*" when undoing a failed step), rpm's %post with
# $1 = 1 (install) or 2 (upgrade). It registers and (re)starts the service
# only where systemd runs (not in containers or chroots), never fails
# otherwise, and can run any number of times. The state directory (the
# enrolment and the spool) is never touched: an upgrade keeps it.
set -e

unit=roster-agent.service

case "$1" in
configure | abort-upgrade | abort-remove | abort-deconfigure | 1 | 2) ;;
*) exit 0 ;;
esac

# The service creates it too; made here so its mode is right from the start.
mkdir -p /var/lib/roster-agent
chmod 0700 /var/lib/roster-agent

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	systemctl enable "$unit" >/dev/null 2>&1 ||
		echo "roster-agent: could not enable $unit (systemctl enable $unit)" >&2
	# restart starts a stopped service and picks up the new binary after
	# an upgrade; without enrolment the service enrols from the enroll
	# section of /etc/roster/agent.yaml, retrying until it can.
	systemctl restart "$unit" ||
		echo "roster-agent: $unit did not start; see: journalctl -u $unit" >&2
else
	echo "roster-agent: systemd is not running; start the agent with: roster-agent run" >&2
fi
exit 0
