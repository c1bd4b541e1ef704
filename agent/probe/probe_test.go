package probe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

func testHost() *host.Host {
	fsys := fstest.MapFS{
		"commands/uname_-r.out":               {Data: []byte("6.1.0\n")},
		"commands/cryptsetup_status_root.out": {Data: []byte("type: LUKS2\n")},
	}
	return &host.Host{OS: "linux", FS: fsys, Exec: host.CapturedRunner{FS: fsys, Dir: "commands"}}
}

func fixedNow() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }

func TestRunKeepsOtherProbesWhenOneFails(t *testing.T) {
	t.Parallel()
	block := make(chan struct{})
	defer close(block)
	probes := []Probe{
		Func{ProbeName: "hardware", ProbeArea: wire.AreaHardware, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			s.Hardware = &wire.Hardware{Hostname: "box", Unknown: map[string]string{"system_serial": "permission denied"}}
			return nil
		}},
		Func{ProbeName: "hangs", ProbeArea: wire.AreaOS, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			s.OS = &wire.OS{Name: "never merged"}
			<-block
			return nil
		}},
		Func{ProbeName: "panics", ProbeArea: wire.AreaOS, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			panic("boom")
		}},
		Func{ProbeName: "partial", ProbeArea: wire.AreaOS, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			s.OS = &wire.OS{Kernel: "6.1.0"}
			return errors.New("read os-release: permission denied")
		}},
		Func{ProbeName: "software/rpm", ProbeArea: wire.AreaSoftware, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			return NotApplicable("no rpm database")
		}},
		Func{ProbeName: "software/dpkg", ProbeArea: wire.AreaSoftware, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			s.Software = &wire.Software{Packages: []wire.Package{{Name: "zsh", Source: "deb"}, {Name: "bash", Source: "deb"}}}
			return nil
		}},
	}
	snap := Run(context.Background(), testHost(), probes, Options{Timeout: 50 * time.Millisecond, Now: fixedNow, AgentVersion: "t"})

	var got []string
	for _, p := range snap.Probes {
		got = append(got, p.Name+" "+p.Status+" "+p.Message)
	}
	want := []string{
		"hardware ok ",
		"hangs error probe hangs timed out after 50ms",
		"panics error probe panics panicked: boom",
		"partial error read os-release: permission denied",
		"software/rpm not_applicable no rpm database",
		"software/dpkg ok ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("probe statuses (-want +got):\n%s", diff)
	}
	if snap.Hardware == nil || snap.Hardware.Hostname != "box" {
		t.Errorf("hardware = %+v, want the first probe's result", snap.Hardware)
	}
	if snap.OS == nil || snap.OS.Kernel != "6.1.0" || snap.OS.Name != "" {
		t.Errorf("os = %+v, want the partial probe's kernel and nothing from the timed-out probe", snap.OS)
	}
	if n := snap.Software.Packages; len(n) != 2 || n[0].Name != "bash" {
		t.Errorf("packages = %+v, want both, sorted", n)
	}
	if !snap.CollectedAt.Equal(fixedNow()) || snap.Platform != "linux" || !snap.Captured {
		t.Errorf("header = %v %s captured=%v", snap.CollectedAt, snap.Platform, snap.Captured)
	}
}

func TestRunOnly(t *testing.T) {
	t.Parallel()
	ran := map[string]bool{}
	mk := func(name, area string) Probe {
		return Func{ProbeName: name, ProbeArea: area, Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			ran[name] = true
			return nil
		}}
	}
	snap := Run(context.Background(), testHost(), []Probe{mk("hardware", "hardware"), mk("os", "os"), mk("os/updates", "os"), mk("software/dpkg", "software")},
		Options{Only: []string{"os", "software"}, Skip: []string{"os/updates"}})
	if ran["hardware"] || !ran["os"] || ran["os/updates"] || !ran["software/dpkg"] || len(snap.Probes) != 3 {
		t.Errorf("ran %v, statuses %d; want os and software only, without os/updates", ran, len(snap.Probes))
	}
	if st := snap.Probes[1]; st.Name != "os/updates" || st.Status != wire.ProbeSkipped {
		t.Errorf("second status = %+v, want os/updates skipped", st)
	}
}

func TestUndeclaredCommandIsRefused(t *testing.T) {
	t.Parallel()
	var outs []string
	p := Func{ProbeName: "os", ProbeArea: "os", Cmds: []string{"uname -r", "cryptsetup status <mapping>"},
		Fn: func(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
			for _, c := range [][]string{{"uname", "-r"}, {"cryptsetup", "status", "root"}, {"uname", "-a"}, {"cryptsetup", "status", "a", "b"}} {
				out, err := h.Run(ctx, c[0], c[1:]...)
				if err != nil {
					outs = append(outs, err.Error())
					continue
				}
				outs = append(outs, strings.TrimSpace(string(out)))
			}
			return nil
		}}
	Run(context.Background(), testHost(), []Probe{p}, Options{})
	want := []string{
		"6.1.0",
		"type: LUKS2",
		`probe os ran undeclared command "uname -a"`,
		`probe os ran undeclared command "cryptsetup status a b"`,
	}
	if diff := cmp.Diff(want, outs); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMergeAndFinish(t *testing.T) {
	t.Parallel()
	snap := &wire.Snapshot{}
	Merge(snap, &wire.Snapshot{OS: &wire.OS{Name: "Debian", Unknown: map[string]string{"pending_updates": "apt-get failed", "install_date": "no source"}}})
	n := 3
	Merge(snap, &wire.Snapshot{OS: &wire.OS{Name: "ignored", PendingUpdates: &n, RebootRequired: wire.Unknown,
		Unknown: map[string]string{"install_date": "second reason", "reboot_required": "no /run/reboot-required and no kernel to compare"}}})
	Finish(snap)
	if snap.OS.Name != "Debian" || snap.OS.PendingUpdates == nil || *snap.OS.PendingUpdates != 3 {
		t.Errorf("merged os = %+v", snap.OS)
	}
	want := map[string]string{"install_date": "no source", "reboot_required": "no /run/reboot-required and no kernel to compare"}
	if diff := cmp.Diff(want, snap.OS.Unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
}

func TestCommands(t *testing.T) {
	t.Parallel()
	ps := []Probe{Func{Cmds: []string{"b", "a"}}, Func{Cmds: []string{"a", "c"}}}
	if diff := cmp.Diff([]string{"a", "b", "c"}, Commands(ps)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
