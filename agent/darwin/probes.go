// Package darwin holds the macOS probes: hardware identity from the
// IORegistry (ioreg) with system_profiler as fallback, NICs from ifconfig,
// disks from diskutil, FileVault state from fdesetup beside the per-volume
// view of `diskutil apfs list` (mdmclient as a last fallback),
// OS version and patch level from SystemVersion.plist, InstallHistory.plist
// and softwareupdate, and installed software from system_profiler's
// application list (or the app bundles' Info.plist), package receipts and
// Homebrew. Each probe is thin glue over host.Host; the parsing lives in pure
// functions named after their source (systemprofiler.go, fdesetup.go, ...),
// so all of it runs and is tested on Linux against captures of real Macs.
package darwin

import (
	"context"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// Every command line the probes run, once, so Commands() and the call that
// runs it cannot drift apart. Plain names rather than absolute paths: the
// live runner searches the system directories, and captured hosts answer by
// the slug of exactly this line. mdmclient is the exception because it lives
// outside every PATH directory.
const (
	cmdHardwareXML        = "system_profiler -xml SPHardwareDataType"
	cmdHardwareText       = "system_profiler SPHardwareDataType"
	cmdHostname           = "hostname"
	cmdFdesetupStatus     = "fdesetup status"
	cmdMDMSecurityInfo    = "/usr/libexec/mdmclient QuerySecurityInfo"
	cmdSoftwareText       = "system_profiler SPSoftwareDataType"
	cmdUnameR             = "uname -r"
	cmdUnameM             = "uname -m"
	cmdSoftwareUpdateList = "softwareupdate --list"
	cmdApplicationsXML    = "system_profiler -xml SPApplicationsDataType"
	cmdIORegPlatform      = "ioreg -rd1 -c IOPlatformExpertDevice"
	cmdIfconfig           = "ifconfig"
	cmdDiskutilList       = "diskutil list -plist"
	cmdDiskutilInfo       = "diskutil info -plist <disk>"
	cmdAPFSList           = "diskutil apfs list -plist"
)

// diskInfoLine is cmdDiskutilInfo for one whole disk ("disk0").
func diskInfoLine(disk string) string {
	return strings.Replace(cmdDiskutilInfo, "<disk>", disk, 1)
}

// Probes returns this package's probes in the order they run.
func Probes() []probe.Probe {
	return []probe.Probe{
		probe.Func{ProbeName: "hardware", ProbeArea: wire.AreaHardware,
			Cmds: []string{cmdIORegPlatform, cmdHardwareXML, cmdHardwareText, cmdHostname, cmdIfconfig,
				cmdDiskutilList, cmdDiskutilInfo}, Fn: collectHardware},
		probe.Func{ProbeName: "encryption", ProbeArea: wire.AreaEncryption,
			Cmds: []string{cmdFdesetupStatus, cmdAPFSList, cmdDiskutilList, cmdMDMSecurityInfo}, Fn: collectEncryption},
		probe.Func{ProbeName: "os", ProbeArea: wire.AreaOS,
			Cmds: []string{cmdSoftwareText, cmdUnameR, cmdUnameM}, Fn: collectOS},
		probe.Func{ProbeName: "os/updates", ProbeArea: wire.AreaOS,
			Cmds: []string{cmdSoftwareUpdateList}, Fn: collectUpdates},
		probe.Func{ProbeName: "software/apps", ProbeArea: wire.AreaSoftware,
			Cmds: []string{cmdApplicationsXML}, Fn: collectApps},
		probe.Func{ProbeName: "software/pkgutil", ProbeArea: wire.AreaSoftware, Fn: collectReceipts},
		probe.Func{ProbeName: "software/brew", ProbeArea: wire.AreaSoftware, Fn: collectBrew},
	}
}

// run runs one of the command lines above.
func run(ctx context.Context, h *host.Host, line string) ([]byte, error) {
	words := strings.Fields(line)
	return h.Run(ctx, words[0], words[1:]...)
}
