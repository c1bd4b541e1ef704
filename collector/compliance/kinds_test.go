package compliance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/shared/wire"
)

func TestFactsFromSnapshot(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		want func(f Facts) string // returns "" or what is wrong
	}{
		{"linux/debian12-firecracker-vm", func(f Facts) string {
			switch {
			case f.Device.Platform != "linux" || f.OS.ID != "debian" || f.OS.Version != "12":
				return "os identity"
			case f.OS.PendingSecurityUpdates == nil || *f.OS.PendingSecurityUpdates != 77:
				return "pending security updates"
			case f.Encryption == nil || f.Encryption.System.Encrypted != wire.No || f.Encryption.System.Device != "/dev/vda":
				return "system volume"
			case f.Packages == nil || *f.Packages != 773:
				return "package count"
			}
			return ""
		}},
		{"darwin/macbookpro10-1-xml", func(f Facts) string {
			if f.Encryption.System.Encrypted != wire.Yes || f.Encryption.System.Scheme != wire.SchemeFileVault {
				return "FileVault on"
			}
			if !strings.Contains(f.Unknown["os.pending_security_updates"], "softwareupdate does not flag security content") {
				return "pending_security_updates reason"
			}
			return ""
		}},
		{"darwin/macbookpro11-4-text", func(f Facts) string {
			if f.Encryption.System.Encrypted != wire.Unknown || !strings.Contains(f.Encryption.System.Reason, "fdesetup") {
				return "FileVault unknown with its reason"
			}
			return ""
		}},
		{"windows/server-2022", func(f Facts) string {
			if f.Packages != nil || !strings.Contains(f.Unknown["software"], "software/registry: no registry") {
				return "software unknown with the probe's message"
			}
			if !strings.Contains(f.Unknown["os.pending_security_updates"], "the Windows Update Agent was not queried") {
				return "pending security reason borrowed from pending_updates"
			}
			return ""
		}},
		{"windows/win10-20h2-vmware", func(f Facts) string {
			if f.Encryption.System.Encrypted != wire.Yes || f.Encryption.System.Scheme != wire.SchemeBitLocker {
				return "BitLocker on"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			t.Parallel()
			f := FactsFromSnapshot(loadSnapshot(t, tt.host))
			if what := tt.want(f); what != "" {
				t.Errorf("%s wrong in %+v", what, f)
			}
			// The registry stores facts as JSON: they must survive it.
			data, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			var back Facts
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(f, back); diff != "" {
				t.Errorf("JSON round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuiltinKinds(t *testing.T) {
	t.Parallel()
	const (
		encSystem = "kind: disk_encryption\nparams:\n  scope: system"
		encAll    = "kind: disk_encryption\nparams:\n  scope: all_fixed"
		patch30   = "kind: max_days_since_update\nparams:\n  days: 30"
		sec10     = "kind: max_pending_security_updates\nparams:\n  count: 10"
		osMin     = "kind: min_os_version\nparams:\n  versions:\n    debian: \"12\"\n    macos: \"14\"\n    windows: \"10.0.19045\"\n    windows-server: \"10.0.17763\"\n    archarm: \"*\""
		checkin7  = "kind: max_days_since_checkin\nparams:\n  days: 7"
	)
	tests := []struct {
		name, host, policy string
		edit               func(*Input)
		status, reason     string
	}{
		{"root not encrypted", "linux/debian12-firecracker-vm", encSystem, nil, StatusFail, "root volume /dev/vda is not encrypted"},
		{"all fixed: root not encrypted", "linux/debian12-firecracker-vm", encAll, nil, StatusFail, "root volume /dev/vda is not encrypted"},
		{"FileVault on", "darwin/macbookpro10-1-xml", encSystem, nil, StatusPass, "root volume / is encrypted (filevault)"},
		{"FileVault unknown", "darwin/macbookpro11-4-text", encSystem, nil, StatusUnknown,
			"root volume /: encryption unknown: fdesetup status: command not found on this host; diskutil apfs list -plist: command not found on this host; /usr/libexec/mdmclient QuerySecurityInfo: command not found on this host"},
		{"BitLocker on", "windows/win10-20h2-vmware", encAll, nil, StatusPass, "system volume C: is encrypted (bitlocker)"},
		{"BitLocker unknown", "windows/server-2022", encSystem, nil, StatusUnknown,
			"system volume: encryption unknown: neither Get-BitLockerVolume (run Get-BitLockerVolume: powershell: command not found) nor manage-bde is available: BitLocker state unknown"},
		{"BitLocker suspended", "windows/win10-20h2-vmware", encSystem, func(in *Input) {
			in.Facts.Encryption.System.Status = wire.StateSuspended
		}, StatusFail, "system volume C: encryption is suspended"},
		{"all fixed: one data volume off", "windows/win10-20h2-vmware", encAll, func(in *Input) {
			in.Facts.Encryption.Volumes = append(in.Facts.Encryption.Volumes,
				VolumeFacts{Mount: "D:", Encrypted: wire.Unknown, Reason: "locked"},
				VolumeFacts{Mount: "E:", Encrypted: wire.No, Status: wire.StateOff})
		}, StatusFail, "volume E: is not encrypted"},
		{"all fixed: one data volume unknown", "windows/win10-20h2-vmware", encAll, func(in *Input) {
			in.Facts.Encryption.Volumes = append(in.Facts.Encryption.Volumes,
				VolumeFacts{Mount: "D:", Encrypted: wire.Unknown, Reason: "locked"})
		}, StatusUnknown, "volume D:: encryption unknown: locked"},
		{"patch 47 days", "linux/debian12-firecracker-vm", patch30, nil, StatusFail, "last update 47 days ago, limit 30"},
		{"patch at the limit", "linux/debian12-firecracker-vm", patch30, func(in *Input) {
			in.Now = time.Date(2026, 12, 23, 18, 23, 37, 0, time.UTC) // exactly 30 days
		}, StatusPass, "last update 30 days ago, limit 30"},
		{"patch one day over", "linux/debian12-firecracker-vm", patch30, func(in *Input) {
			in.Now = time.Date(2026, 12, 24, 18, 23, 37, 0, time.UTC)
		}, StatusFail, "last update 31 days ago, limit 30"},
		{"patch unknown", "linux/alpine", patch30, nil, StatusUnknown,
			"last update time unknown: no package log or database with install times (looked for dpkg.log, apt history, zypp history, rpm, pacman)"},
		{"patch windows hotfix 2019", "windows/win10-20h2-vmware", patch30, nil, StatusFail, "last update 2865 days ago, limit 30"},
		{"77 security updates", "linux/debian12-firecracker-vm", sec10, nil, StatusFail, "77 pending security updates, limit 10"},
		{"no security updates", "darwin/macbookpro11-4-text", sec10, nil, StatusPass, "0 pending security updates, limit 10"},
		{"security count unknown on macOS", "darwin/macbookpro10-1-xml", sec10, nil, StatusUnknown,
			"pending security updates unknown: softwareupdate does not flag security content: 0 of 4 pending updates are titled as security updates/responses, and macOS, Safari and other Apple updates usually carry security fixes too"},
		{"debian 12", "linux/debian12-firecracker-vm", osMin, nil, StatusPass, "Debian GNU/Linux 12, minimum 12"},
		{"macOS 13.3.1", "darwin/macbookpro10-1-xml", osMin, nil, StatusFail, "macOS 13.3.1 is older than the minimum 14"},
		{"windows 10 20H2", "windows/win10-20h2-vmware", osMin, nil, StatusFail, "Microsoft Windows 10 Enterprise 10.0.19042 is older than the minimum 10.0.19045"},
		{"windows server 2022", "windows/server-2022", osMin, nil, StatusPass, "Microsoft Windows Server 2022 Standard 10.0.20348, minimum 10.0.17763"},
		{"arch rolling", "linux/virtualbox-arch", osMin, nil, StatusPass, "Arch Linux ARM: any version of archarm is accepted"},
		{"centos unlisted", "linux/dell-r6515-centos7", osMin, nil, StatusFail, "CentOS Linux 7 is not a supported operating system (not listed in the policy)"},
		{"centos unlisted, not applicable", "linux/dell-r6515-centos7", osMin + "\n  unlisted: not_applicable", nil, StatusNotApplicable, "CentOS Linux is not listed in the policy"},
		{"checkin 1 hour", "linux/debian12-firecracker-vm", checkin7, nil, StatusPass, "last check-in 0 days ago, limit 7"},
		{"checkin 12 days fails, not stale", "linux/debian12-firecracker-vm", checkin7, func(in *Input) {
			in.LastSeen = in.Now.Add(-12 * 24 * time.Hour)
		}, StatusFail, "last check-in 12 days ago, limit 7"},
		{"checkin never", "linux/debian12-firecracker-vm", checkin7, func(in *Input) { in.LastSeen = time.Time{} },
			StatusUnknown, "the device has never checked in"},
		{"required present", "linux/debian12-firecracker-vm", "kind: required_software\nparams:\n  name: openssl*", nil, StatusPass, "openssl 3.0.19-1~deb12u2 is installed"},
		{"required too old", "linux/debian12-firecracker-vm", "kind: required_software\nparams:\n  name: openssl\n  min_version: 3.0.22-1~deb12u2", nil,
			StatusFail, "openssl 3.0.19-1~deb12u2 is older than the required 3.0.22-1~deb12u2"},
		{"required missing", "darwin/macbookpro10-1-xml", "kind: required_software\nparams:\n  name: CrowdStrike*", nil, StatusFail, `no installed software matches "CrowdStrike*"`},
		{"required, inventory unknown", "windows/server-2022", "kind: required_software\nparams:\n  name: CrowdStrike*", nil, StatusUnknown,
			"software inventory unknown: software/registry: no registry to read (captured host without registry exports)"},
		{"banned present (case-insensitive)", "darwin/macbookpro10-1-xml", "kind: banned_software\nparams:\n  name: 1password*", nil, StatusFail, "banned software installed: 1Password 7 7.6"},
		{"banned only old versions, new installed", "darwin/macbookpro10-1-xml", "kind: banned_software\nparams:\n  name: 1Password*\n  version: \"< 7.0\"", nil,
			StatusPass, `no installed version of "1Password*" is < 7.0`},
		{"banned old version installed", "darwin/macbookpro10-1-xml", "kind: banned_software\nparams:\n  name: 1Password*\n  version: \"<= 7.6\"", nil,
			StatusFail, "banned software installed: 1Password 7 7.6"},
		{"banned absent", "linux/debian12-firecracker-vm", "kind: banned_software\nparams:\n  name: teamviewer*", nil, StatusPass, `no installed software matches "teamviewer*"`},
		{"banned, inventory unknown", "windows/win10-20h2-vmware", "kind: banned_software\nparams:\n  name: teamviewer*", nil, StatusUnknown,
			"software inventory unknown: software/registry: no registry to read (captured host without registry exports)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := input(t, tt.host)
			if tt.edit != nil {
				tt.edit(&in)
			}
			got := one(t, tt.policy).Evaluate(in)
			want := []Result{{PolicyID: "TST-X-01", Status: tt.status, Reason: tt.reason}}
			if tt.status == StatusFail {
				want[0].FailingSince = in.Now
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestUnknownNeverPasses evaluates every kind, and CEL expressions over every
// fact, on a snapshot whose probes all failed: nothing may pass.
func TestUnknownNeverPasses(t *testing.T) {
	t.Parallel()
	s := &wire.Snapshot{Platform: wire.PlatformLinux, Probes: []wire.ProbeStatus{
		{Name: "os", Area: wire.AreaOS, Status: wire.ProbeError, Message: "os-release unreadable"},
		{Name: "encryption", Area: wire.AreaEncryption, Status: wire.ProbeError, Message: "lsblk timed out"},
		{Name: "software/dpkg", Area: wire.AreaSoftware, Status: wire.ProbeError, Message: "dpkg status unreadable"},
	}}
	in := Input{DeviceID: "d1", Facts: FactsFromSnapshot(s), Now: testNow(), LastSeen: testNow()}
	policies := []string{
		"kind: disk_encryption\nparams:\n  scope: system",
		"kind: disk_encryption\nparams:\n  scope: all_fixed",
		"kind: max_days_since_update\nparams:\n  days: 30",
		"kind: min_os_version\nparams:\n  versions:\n    debian: \"12\"\n    linux: \"*\"",
		"kind: max_pending_security_updates\nparams:\n  count: 0",
		"kind: required_software\nparams:\n  name: x",
		"kind: banned_software\nparams:\n  name: x",
		"scope:\n  classifications: [confidential]\nkind: max_days_since_checkin\nparams:\n  days: 7",
		"scope:\n  tags: [pci]\nkind: max_days_since_checkin\nparams:\n  days: 7",
		"scope:\n  asset_types: [laptop]\nkind: max_days_since_checkin\nparams:\n  days: 7",
	}
	for _, v := range celVars() {
		switch v.name {
		case "device.platform", "now", "days_since_checkin":
			continue // known: the platform is always reported and the device was seen
		}
		policies = append(policies, "kind: cel\nexpr: "+celProbe(v.name, v.typ.String()))
	}
	policies = append(policies,
		"kind: cel\nexpr: '!has_software(\"x\")'",
		"kind: cel\nexpr: 'software_version(\"x\") == \"\"'",
		"kind: cel\nexpr: 'os.pending_security_updates == 0 || device.platform == \"darwin\"'",
	)
	for _, p := range policies {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			got := one(t, p).Evaluate(in)[0]
			if got.Status != StatusUnknown {
				t.Errorf("got %s (%s), want unknown", got.Status, got.Reason)
			}
			if got.Reason == "" {
				t.Error("unknown without a reason")
			}
		})
	}
	// And with a new, empty snapshot-less device, never seen.
	t.Run("never seen", func(t *testing.T) {
		t.Parallel()
		for _, r := range Default().Evaluate(Input{Now: testNow()}) {
			if r.Status == StatusPass {
				t.Errorf("%s passed for a device with no facts: %s", r.PolicyID, r.Reason)
			}
		}
	})
}

// celProbe writes a CEL expression that would be true for the absent value
// a careless engine might substitute (zero, empty, "unknown").
func celProbe(name, typ string) string {
	switch typ {
	case "int":
		return "'" + name + " <= 0'"
	case "string":
		return "'" + name + ` != "yes"'`
	case "google.protobuf.Timestamp":
		return "'" + name + " <= now'"
	case "list(string)":
		return "'size(" + name + ") == 0'"
	default:
		return "'" + name + `.all(v, v.encrypted == "yes")'`
	}
}
