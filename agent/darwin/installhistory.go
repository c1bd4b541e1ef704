package darwin

import (
	"fmt"
	"strings"
	"time"

	"howett.net/plist"
)

// installEntry is one record of /Library/Receipts/InstallHistory.plist, the
// log behind `softwareupdate --history` and System Information's
// "Installations". Records are appended, but not always in date order.
type installEntry struct {
	Date               time.Time `plist:"date"`
	DisplayName        string    `plist:"displayName"`
	DisplayVersion     string    `plist:"displayVersion"`
	PackageIdentifiers []string  `plist:"packageIdentifiers"`
	ProcessName        string    `plist:"processName"`
}

// parseInstallHistory parses InstallHistory.plist (XML or binary).
func parseInstallHistory(b []byte) ([]installEntry, error) {
	var entries []installEntry
	if _, err := plist.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("decode InstallHistory.plist: %w", err)
	}
	return entries, nil
}

// osInstallerProcesses are the processName values of a full macOS install
// or upgrade (the "Install macOS ..." app), as opposed to an update.
var osInstallerProcesses = map[string]bool{
	"macOS Installer":    true,
	"OS X Installer":     true,
	"Mac OS X Installer": true,
}

// appleUpdateProcesses install Apple's updates. softwareupdated also installs
// background configuration data (XProtect, MRT, Gatekeeper) several times a
// week, which is why the name must name the OS too: otherwise "last update"
// would look fresh on a Mac whose OS has not been patched for a year.
var appleUpdateProcesses = map[string]bool{
	"softwareupdated": true,
	"Software Update": true,
}

// isOSUpdate decides whether a record is a macOS update: installed by
// Apple's updater (or carrying Apple's OS-update package ids, as a combo
// update run through Installer does) and named as an OS or security update.
func isOSUpdate(e installEntry) bool {
	apple := appleUpdateProcesses[e.ProcessName] || osInstallerProcesses[e.ProcessName]
	for _, id := range e.PackageIdentifiers {
		if strings.HasPrefix(id, "com.apple.pkg.update.os.") {
			apple = true
		}
	}
	if !apple {
		return false
	}
	n := e.DisplayName
	return strings.HasPrefix(n, "macOS") || strings.HasPrefix(n, "OS X") || strings.HasPrefix(n, "Mac OS X") ||
		strings.Contains(n, "Security Update") || strings.Contains(n, "Rapid Security Response") ||
		strings.Contains(n, "Background Security")
}

// lastOSUpdate returns the newest macOS update record.
func lastOSUpdate(entries []installEntry) (installEntry, bool) {
	var best installEntry
	found := false
	for _, e := range entries {
		if e.Date.IsZero() || !isOSUpdate(e) {
			continue
		}
		if !found || e.Date.After(best.Date) {
			best, found = e, true
		}
	}
	return best, found
}

// firstOSInstall returns the oldest full macOS install record: when the
// system on this disk was installed (an erase-install starts a new history).
func firstOSInstall(entries []installEntry) (installEntry, bool) {
	var best installEntry
	found := false
	for _, e := range entries {
		if e.Date.IsZero() || !osInstallerProcesses[e.ProcessName] {
			continue
		}
		if !found || e.Date.Before(best.Date) {
			best, found = e, true
		}
	}
	return best, found
}
