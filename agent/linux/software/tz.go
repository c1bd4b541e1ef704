package software

import (
	"strings"
	"time"

	"github.com/rosterhq/roster/agent/host"
)

// HostLocation returns the host's time zone. Package logs (dpkg.log, apt
// history, zypp history) and pacman write local times without a zone, and
// the host is not always in the agent process's zone (a captured host
// never is), so the zone is read from the host itself: /etc/localtime,
// resolved through the host root when it is a link into zoneinfo (an
// absolute link in a captured tree would otherwise point at the
// machine running the agent), then /etc/timezone. UTC when neither
// tells.
func HostLocation(h *host.Host) *time.Location {
	if target, err := h.ReadLink("/etc/localtime"); err == nil {
		if _, name, ok := strings.Cut(target, "zoneinfo/"); ok {
			if loc := zoneFromHost(h, name); loc != nil {
				return loc
			}
		}
	}
	if data, err := h.ReadFileLimit("/etc/localtime", 1<<20); err == nil {
		if loc, err := time.LoadLocationFromTZData("Local", data); err == nil {
			return loc
		}
	}
	if name, err := h.ReadString("/etc/timezone"); err == nil && name != "" {
		if loc := zoneFromHost(h, name); loc != nil {
			return loc
		}
	}
	return time.UTC
}

func zoneFromHost(h *host.Host, name string) *time.Location {
	if strings.Contains(name, "..") {
		return nil
	}
	data, err := h.ReadFileLimit("/usr/share/zoneinfo/"+name, 1<<20)
	if err != nil {
		return nil
	}
	loc, err := time.LoadLocationFromTZData(name, data)
	if err != nil {
		return nil
	}
	return loc
}
