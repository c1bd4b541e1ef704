package osinfo

import (
	"bytes"
	"compress/gzip"
	"context"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// cmdOut is a captured command: its output and, when non-zero, exit code.
type cmdOut struct {
	out  []byte
	exit string
}

func capturedHost(files map[string][]byte, commands map[string]cmdOut) *host.Host {
	fsys := fstest.MapFS{}
	for p, b := range files {
		fsys[host.Path(p)] = &fstest.MapFile{Data: b}
	}
	for line, c := range commands {
		fsys["commands/"+host.Slug(line)+".out"] = &fstest.MapFile{Data: c.out}
		if c.exit != "" {
			fsys["commands/"+host.Slug(line)+".exit"] = &fstest.MapFile{Data: []byte(c.exit)}
		}
	}
	return &host.Host{OS: "linux", Root: "/nonexistent", FS: fsys, Exec: host.CapturedRunner{FS: fsys, Dir: "commands"}}
}

func run(t *testing.T, h *host.Host) *wire.Snapshot {
	t.Helper()
	s := probe.Run(context.Background(), h, Probes(), probe.Options{})
	for _, st := range s.Probes {
		if st.Status != wire.ProbeOK {
			t.Errorf("probe %s: got %s (%s), want ok", st.Name, st.Status, st.Message)
		}
	}
	if s.OS == nil {
		t.Fatal("no OS section")
	}
	return s
}

func intp(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestDebianHost(t *testing.T) {
	t.Parallel()
	h := capturedHost(map[string][]byte{
		"/etc/os-release":          fixture(t, "os-release/debian-12-roster-vm"),
		"/var/lib/dpkg/status":     {},
		"/var/log/dpkg.log":        fixture(t, "logs/debian-12-roster-vm-dpkg.log"),
		"/var/log/apt/history.log": fixture(t, "logs/debian-12-roster-vm-apt-history.log"),
	}, map[string]cmdOut{
		host.CommandLine("apt-get", aptArgs...): {out: fixture(t, "updates/debian-12-roster-vm-apt-get-just-print-qq-full-upgrade.txt")},
	})
	o := run(t, h).OS
	if o.Name != "Debian GNU/Linux" || o.ID != "debian" || o.Version != "12" || o.Codename != "bookworm" {
		t.Errorf("got %q %q %q %q, want Debian GNU/Linux debian 12 bookworm", o.Name, o.ID, o.Version, o.Codename)
	}
	// apt's End-Date (18:23:37) is after dpkg's last line (18:23:33).
	if want := time.Date(2026, 11, 23, 18, 23, 37, 0, time.UTC); o.LastUpdateAt == nil || !o.LastUpdateAt.Equal(want) || o.LastUpdateSource != "/var/log/apt/history.log" {
		t.Errorf("got last update %v from %q, want %v from /var/log/apt/history.log", o.LastUpdateAt, o.LastUpdateSource, want)
	}
	if intp(o.PendingUpdates) != 132 || intp(o.PendingSecurityUpdates) != 77 || o.PendingSource != "apt" || len(o.Pending) != 132 {
		t.Errorf("got pending %v security %v from %q (%d listed), want 132, 77 from apt", intp(o.PendingUpdates), intp(o.PendingSecurityUpdates), o.PendingSource, len(o.Pending))
	}
	for _, f := range []string{"install_date", "reboot_required", "kernel", "arch"} {
		if o.Unknown[f] == "" {
			t.Errorf("unknown[%s]: got no reason, want one", f)
		}
	}
	if o.InstallDate != nil || o.RebootRequired != wire.Unknown {
		t.Errorf("got install date %v, reboot %q; want both unknown", o.InstallDate, o.RebootRequired)
	}
}

// TestRotatedDpkgLog checks that an emptied dpkg.log falls back to the
// gzip-compressed rotations logrotate leaves.
func TestRotatedDpkgLog(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(fixture(t, "logs/debian-12-roster-vm-dpkg.log"))
	zw.Close()
	h := capturedHost(map[string][]byte{
		"/etc/os-release":        fixture(t, "os-release/debian-12-roster-vm"),
		"/var/log/dpkg.log":      {},
		"/var/log/dpkg.log.2.gz": gz.Bytes(),
		"/etc/timezone":          []byte("Etc/UTC\n"),
	}, nil)
	s := probe.Run(context.Background(), h, Probes()[:1], probe.Options{})
	o := s.OS
	if want := time.Date(2026, 11, 23, 18, 23, 33, 0, time.UTC); o.LastUpdateAt == nil || !o.LastUpdateAt.Equal(want) || o.LastUpdateSource != "/var/log/dpkg.log" {
		t.Errorf("got last update %v from %q, want %v from /var/log/dpkg.log", o.LastUpdateAt, o.LastUpdateSource, want)
	}
}

func TestRPMHosts(t *testing.T) {
	t.Parallel()
	rpmLine := host.CommandLine("rpm", rpmArgs...)
	tests := []struct {
		name    string
		tool    string
		capture string
		count   int
	}{
		{"dnf", "dnf", "updates/rocky-8.8-dnf-check-update.txt", 184},
		{"yum", "yum", "updates/centos-7-yum-check-update.txt", 41},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := capturedHost(map[string][]byte{
				"/etc/os-release":           fixture(t, "os-release/rhel-9"),
				"/var/lib/rpm/rpmdb.sqlite": {},
			}, map[string]cmdOut{
				rpmLine: {out: fixture(t, "rpm/centos-7-rpm-qa-qf-tabs.txt")},
				// check-update exits 100 when updates are available.
				host.CommandLine(tt.tool, dnfCheckArgs...): {out: fixture(t, tt.capture), exit: "100"},
			})
			o := run(t, h).OS
			if intp(o.PendingUpdates) != tt.count || o.PendingSource != tt.tool {
				t.Errorf("got pending %v from %q, want %d from %s", intp(o.PendingUpdates), o.PendingSource, tt.count, tt.tool)
			}
			// No updateinfo capture: the security count stays unknown.
			if o.PendingSecurityUpdates != nil || o.Unknown["pending_security_updates"] == "" {
				t.Errorf("got security %v (%q), want unknown with a reason", intp(o.PendingSecurityUpdates), o.Unknown["pending_security_updates"])
			}
			// The newest INSTALLTIME in the capture is the kernel's.
			if o.LastUpdateAt == nil || o.LastUpdateAt.Unix() != 1526310781 || o.LastUpdateSource != "rpm" {
				t.Errorf("got last update %v from %q, want 1526310781 from rpm", o.LastUpdateAt, o.LastUpdateSource)
			}
			if o.Version != "9.0" || o.ID != "rhel" {
				t.Errorf("got %s %s, want rhel 9.0", o.ID, o.Version)
			}
		})
	}
}

func TestZypperHost(t *testing.T) {
	t.Parallel()
	h := capturedHost(map[string][]byte{
		"/etc/os-release":       fixture(t, "os-release/opensuse-leap-15.4"),
		"/var/log/zypp/history": fixture(t, "logs/libzypp-docs-zypp-history.txt"),
	}, map[string]cmdOut{
		host.CommandLine("zypper", zypperListArgs...): {out: fixture(t, "updates/sles-15-zypper-list-updates.txt")},
	})
	o := run(t, h).OS
	if intp(o.PendingUpdates) != 117 || o.PendingSource != "zypper" {
		t.Errorf("got pending %v from %q, want 117 from zypper", intp(o.PendingUpdates), o.PendingSource)
	}
	if want := time.Date(2008, 9, 24, 11, 53, 45, 0, time.UTC); o.LastUpdateAt == nil || !o.LastUpdateAt.Equal(want) || o.LastUpdateSource != "/var/log/zypp/history" {
		t.Errorf("got last update %v from %q, want %v from /var/log/zypp/history", o.LastUpdateAt, o.LastUpdateSource, want)
	}
}

func TestNoPackageManager(t *testing.T) {
	t.Parallel()
	h := capturedHost(map[string][]byte{"/etc/os-release": fixture(t, "os-release/alpine-3.17")}, nil)
	o := run(t, h).OS
	if o.PendingUpdates != nil || o.Unknown["pending_updates"] == "" || o.Unknown["last_update_at"] == "" {
		t.Errorf("got pending %v, unknown %v; want pending and last update unknown with reasons", intp(o.PendingUpdates), o.Unknown)
	}
}

// TestRebootRequired drives the decision with host states made of file
// names only (kernel images, marker files); no tool output is involved.
func TestRebootRequired(t *testing.T) {
	t.Parallel()
	const running = "6.1.0-18-amd64"
	tests := []struct {
		name  string
		files []string
		want  wire.Tri
	}{
		{"marker file", []string{"/var/run/reboot-required"}, wire.Yes},
		{"newer kernel installed", []string{"/boot/vmlinuz-6.1.0-18-amd64", "/boot/vmlinuz-6.1.0-21-amd64"}, wire.Yes},
		{"newer module tree", []string{"/boot/vmlinuz-6.1.0-18-amd64", "/lib/modules/6.1.0-21-amd64/modules.dep"}, wire.Yes},
		{"leftover module dir is not a kernel", []string{"/boot/vmlinuz-6.1.0-18-amd64", "/lib/modules/6.1.0-21-amd64/updates/dkms/x.ko"}, wire.Unknown},
		{"current kernel, writer installed", []string{"/boot/vmlinuz-6.1.0-18-amd64", "/etc/kernel/postinst.d/unattended-upgrades"}, wire.No},
		{"current kernel, no writer", []string{"/boot/vmlinuz-6.1.0-18-amd64"}, wire.Unknown},
		{"rescue image ignored", []string{"/boot/vmlinuz-6.1.0-18-amd64", "/boot/vmlinuz-0-rescue-0123abcd", "/etc/kernel/postinst.d/unattended-upgrades"}, wire.No},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			files := map[string][]byte{}
			for _, f := range tt.files {
				files[f] = nil
			}
			o := &wire.OS{Kernel: running}
			rebootRequired(context.Background(), capturedHost(files, nil), o)
			if o.RebootRequired != tt.want {
				t.Errorf("got %q, want %q", o.RebootRequired, tt.want)
			}
			if tt.want == "" && o.Unknown["reboot_required"] == "" {
				t.Error("got no reason for an unknown answer")
			}
		})
	}
}
