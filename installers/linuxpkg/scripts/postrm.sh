#!/bin/sh
# roster-agent package: after removal. deb calls it with "remove",
# "purge", "upgrade", ...; rpm's %postun with $1 = 0 (erase) or 1
# (upgrade). Purge (deb only: rpm has none) deletes the agent's state —
# key, certificates, spool — and a leftover enrolment secret; the
# administrator's /etc/roster/agent.yaml stays, as any file the package
# did not install.
set -e

case "$1" in
purge)
	rm -rf /var/lib/roster-agent
	rm -f /etc/roster/enroll-secret
	rmdir /etc/roster 2>/dev/null || true
	;;
esac

case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl daemon-reload || true
	fi
	;;
esac
exit 0
