package compliance

import (
	"errors"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

func TestCEL(t *testing.T) {
	t.Parallel()
	confidential := &AssetFacts{Tag: "A-1", Classification: "confidential", Type: "server", Tags: []string{"pci"}}
	tests := []struct {
		name, host, expr string
		asset            *AssetFacts
		status, reason   string
	}{
		{"facts true", "linux/debian12-firecracker-vm", `os.id == "debian" && version_at_least(os.version, "12") && device.virtual == "yes"`, nil, StatusPass, "condition holds"},
		{"facts false", "linux/debian12-firecracker-vm", `os.pending_security_updates < 5`, nil, StatusFail, "condition not met: os.pending_security_updates < 5"},
		{"encryption", "linux/debian12-firecracker-vm", `encryption.system.encrypted == "yes"`, nil, StatusFail, "condition not met: encryption.system.encrypted == \"yes\""},
		{"volumes", "windows/win10-20h2-vmware", `encryption.volumes.all(v, v.encrypted == "yes" && v.status == "on")`, nil, StatusPass, "condition holds"},
		{"days since update", "linux/debian12-firecracker-vm", `days_since_update <= 30`, nil, StatusFail, "condition not met: days_since_update <= 30"},
		{"days since update value", "linux/debian12-firecracker-vm", `days_since_update == 47`, nil, StatusPass, "condition holds"},
		{"days since checkin", "linux/debian12-firecracker-vm", `days_since_checkin == 0`, nil, StatusPass, "condition holds"},
		{"timestamps", "linux/debian12-firecracker-vm", `now - os.last_update_at > duration("720h")`, nil, StatusPass, "condition holds"},
		{"has_software", "linux/debian12-firecracker-vm", `has_software("openssh-*") && !has_software("telnetd")`, nil, StatusPass, "condition holds"},
		{"software_version", "linux/debian12-firecracker-vm", `version_at_least(software_version("openssl"), "3.0.22")`, nil, StatusFail,
			`condition not met: version_at_least(software_version("openssl"), "3.0.22")`},
		{"software_version absent is empty", "linux/debian12-firecracker-vm", `software_version("no-such-package") == ""`, nil, StatusPass, "condition holds"},
		{"version_at_least absent is false", "linux/debian12-firecracker-vm", `!version_at_least(software_version("no-such-package"), "0")`, nil, StatusPass, "condition holds"},
		{"asset", "linux/debian12-firecracker-vm", `asset.classification != "confidential" || "pci" in asset.tags`, confidential, StatusPass, "condition holds"},
		// Unknown facts: absent, so the expression cannot pass on them.
		{"unknown reboot state", "linux/debian12-firecracker-vm", `os.reboot_required != "yes"`, nil, StatusUnknown,
			"os.reboot_required unknown: no /run/reboot-required writer (update-notifier, unattended-upgrades) installed, no needs-restarting, and no installed kernel found in /boot or /lib/modules (kernel supplied by the hypervisor or container host)"},
		{"unknown FileVault", "darwin/macbookpro11-4-text", `encryption.system.encrypted != "no"`, nil, StatusUnknown,
			"encryption.system.encrypted unknown: fdesetup status: command not found on this host; diskutil apfs list -plist: command not found on this host; /usr/libexec/mdmclient QuerySecurityInfo: command not found on this host"},
		{"unknown security count", "darwin/macbookpro10-1-xml", `os.pending_security_updates == 0`, nil, StatusUnknown,
			"os.pending_security_updates unknown: softwareupdate does not flag security content: 0 of 4 pending updates are titled as security updates/responses, and macOS, Safari and other Apple updates usually carry security fixes too"},
		{"unknown days since update", "linux/alpine", `days_since_update < 30`, nil, StatusUnknown,
			"days_since_update unknown: no package log or database with install times (looked for dpkg.log, apt history, zypp history, rpm, pacman)"},
		{"unknown asset", "linux/debian12-firecracker-vm", `asset.classification == "public"`, nil, StatusUnknown,
			"asset.classification unknown: the device is linked to no asset in the register"},
		{"unknown software", "windows/server-2022", `!has_software("teamviewer*")`, nil, StatusUnknown,
			"software inventory unknown: software/registry: no registry to read (captured host without registry exports)"},
		{"unknown volume encryption", "darwin/macbookpro11-4-text", `!encryption.volumes.exists(v, v.encrypted == "no")`, nil, StatusUnknown,
			"a fact the expression reads is unknown (no such key: encrypted)"},
		// Three-valued logic: the unknown side does not matter here.
		{"unknown absorbed by or", "darwin/macbookpro10-1-xml", `os.pending_security_updates == 0 || os.id == "macos"`, nil, StatusPass, "condition holds"},
		{"unknown absorbed by and", "darwin/macbookpro10-1-xml", `os.pending_security_updates == 0 && os.id == "debian"`, nil, StatusFail,
			`condition not met: os.pending_security_updates == 0 && os.id == "debian"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := input(t, tt.host)
			in.Asset = tt.asset
			got := one(t, "kind: cel\nexpr: '"+tt.expr+"'").Evaluate(in)[0]
			if got.Status != tt.status || got.Reason != tt.reason {
				t.Errorf("got %s %q, want %s %q", got.Status, got.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestCELFailReason(t *testing.T) {
	t.Parallel()
	set := one(t, "kind: cel\nexpr: |\n  os.pending_security_updates\n    < 10\nfail_reason: too many security updates pending")
	in := input(t, "linux/debian12-firecracker-vm")
	in.Now = in.Now.Add(time.Hour)
	got := set.Evaluate(in)[0]
	if got.Status != StatusFail || got.Reason != "too many security updates pending" {
		t.Errorf("got %s %q, want fail with the fail_reason", got.Status, got.Reason)
	}
}

func TestSoftwarePatterns(t *testing.T) {
	t.Parallel()
	set := mustSet(t, `policies:
  - {id: SW-REQ-01, title: t, severity: low, kind: required_software, params: {name: "CrowdStrike*"}}
  - {id: SW-BAN-01, title: t, severity: low, kind: banned_software, params: {name: "TeamViewer*", version: "< 15"}}
  - {id: SW-CEL-01, title: t, severity: low, kind: cel, expr: 'has_software("osquery") || version_at_least(software_version("falcon-sensor"), "7")'}
  - {id: OS-CEL-01, title: t, severity: low, kind: cel, expr: 'os.id == "debian"'}
`)
	got := set.SoftwarePatterns()
	want := map[string][]string{"SW-REQ-01": {"CrowdStrike*"}, "SW-BAN-01": {"TeamViewer*"}, "SW-CEL-01": {"osquery", "falcon-sensor"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, w := range want {
		g := got[id]
		if len(g) != len(w) {
			t.Errorf("%s: got %v, want %v", id, g, w)
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("%s: got %v, want %v", id, g, w)
			}
		}
	}
}

// failingView is a SoftwareView whose store is down.
type failingView struct{}

func (failingView) Match(string) ([]wire.Package, error) {
	return nil, errors.New("software index unavailable")
}

// TestSoftwareLookupError: a failed lookup is unknown, for built-ins and CEL.
func TestSoftwareLookupError(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"kind: required_software\nparams:\n  name: osquery",
		"kind: banned_software\nparams:\n  name: teamviewer*",
		"kind: cel\nexpr: '!has_software(\"teamviewer*\")'",
		"kind: cel\nexpr: 'software_version(\"openssl\") == \"\"'",
	} {
		in := input(t, "linux/debian12-firecracker-vm")
		in.Software = failingView{}
		got := one(t, p).Evaluate(in)[0]
		if want := "software lookup: software index unavailable"; got.Status != StatusUnknown || got.Reason != want {
			t.Errorf("%s: got %s %q, want unknown %q", p, got.Status, got.Reason, want)
		}
	}
}
