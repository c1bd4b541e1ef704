package software

import (
	"context"
	"errors"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

// capturedHost builds a host from files and command outputs, the way
// --host-root does, so the probes' glue runs on the same real captures.
func capturedHost(files map[string][]byte, commands map[string][]byte) *host.Host {
	fsys := fstest.MapFS{}
	for p, b := range files {
		fsys[host.Path(p)] = &fstest.MapFile{Data: b}
	}
	for line, b := range commands {
		fsys["commands/"+host.Slug(line)+".out"] = &fstest.MapFile{Data: b}
	}
	return &host.Host{OS: "linux", Root: "/nonexistent", FS: fsys, Exec: host.CapturedRunner{FS: fsys, Dir: "commands"}}
}

func TestProbesOnCapturedHost(t *testing.T) {
	t.Parallel()
	h := capturedHost(
		map[string][]byte{
			"/var/lib/dpkg/status":                  fixture(t, "dpkg/debian-12-var-lib-dpkg-status-excerpt"),
			"/var/lib/rpm/rpmdb.sqlite":             {},
			"/lib/apk/db/installed":                 fixture(t, "apk/alpine-3.18-lib-apk-db-installed"),
			"/var/lib/pacman/local/ALPM_DB_VERSION": []byte("9\n"),
			"/etc/timezone":                         []byte("Etc/UTC\n"),
		},
		map[string][]byte{
			host.CommandLine("rpm", rpmArgs...):       fixture(t, "rpm/centos-7-rpm-qa-qf-tabs.txt"),
			host.CommandLine("pacman", pacmanArgs...): fixture(t, "pacman/arch-pacman-Qi.txt"),
			host.CommandLine("snap", snapArgs...):     fixture(t, "snap/snapcraft-docs-revisions-snap-list.txt"),
		},
	)
	snap := probe.Run(context.Background(), h, Probes(), probe.Options{})
	counts := map[string]int{}
	for _, p := range snap.Software.Packages {
		counts[p.Source]++
	}
	wantCounts := map[string]int{wire.SourceDeb: 7, wire.SourceRPM: 7, wire.SourceAPK: 15, wire.SourcePacman: 2, wire.SourceSnap: 4}
	for src, n := range wantCounts {
		if counts[src] != n {
			t.Errorf("%s: got %d packages, want %d", src, counts[src], n)
		}
	}
	status := map[string]string{}
	for _, st := range snap.Probes {
		status[st.Name] = st.Status
	}
	wantStatus := map[string]string{
		"software/dpkg": wire.ProbeOK, "software/rpm": wire.ProbeOK, "software/apk": wire.ProbeOK,
		"software/pacman": wire.ProbeOK, "software/snap": wire.ProbeOK,
		// No flatpak output was captured: the command is "not installed".
		"software/flatpak": wire.ProbeNotApplicable,
	}
	for name, want := range wantStatus {
		if status[name] != want {
			t.Errorf("%s: got status %q, want %q", name, status[name], want)
		}
	}
	for _, p := range snap.Software.Packages {
		if p.Source == wire.SourceRPM && p.Name == "glibc" {
			if p.InstallDate == nil || p.InstallDate.Unix() != 1463486666 {
				t.Errorf("rpm glibc install date: got %v, want 1463486666", p.InstallDate)
			}
		}
		if p.Source == wire.SourceDeb && p.Name == "acl" && (p.Version != "2.3.1-3" || p.Arch != "amd64" || p.Publisher != "Guillem Jover <guillem@debian.org>") {
			t.Errorf("deb acl: got %+v", p)
		}
	}
}

func TestProbesNotApplicableOnEmptyHost(t *testing.T) {
	t.Parallel()
	snap := probe.Run(context.Background(), capturedHost(nil, nil), Probes(), probe.Options{})
	for _, st := range snap.Probes {
		if st.Status != wire.ProbeNotApplicable {
			t.Errorf("%s: got status %q (%s), want not_applicable", st.Name, st.Status, st.Message)
		}
	}
}

// dpkgQuery runs dpkg-query with a format and returns its lines sorted.
func dpkgQuery(t *testing.T, format string) []string {
	t.Helper()
	out, err := host.NewLiveRunner().Run(context.Background(), "dpkg-query", "-W", "-f="+format)
	if err != nil {
		t.Fatalf("run dpkg-query: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	sort.Strings(lines)
	return lines
}

// TestDpkgMatchesDpkgQueryLive checks the dpkg probe against dpkg's own
// tool on the machine running the test. `dpkg-query -W` lists every
// package dpkg knows in any state but not-installed, so on a machine with
// packages removed but for their configuration files ("rc") it prints
// more than is installed; the probe reports installed software only. So
// the installed subset of dpkg-query's output (db:Status-Status
// "installed") is compared precisely, and when every known package is
// installed (as on this project's Debian 12 VM) the plain
// `${Package} ${Version}` output must match exactly too.
func TestDpkgMatchesDpkgQueryLive(t *testing.T) {
	if _, err := os.Stat(dpkgStatusPath); err != nil {
		t.Skip("no dpkg database on this machine")
	}
	if _, err := host.NewLiveRunner().Run(context.Background(), "dpkg-query", "--version"); errors.Is(err, host.ErrNotFound) {
		t.Skip("no dpkg-query on this machine")
	}
	before := dpkgQuery(t, `${db:Status-Status} ${Package} ${Version}\n`)
	plain := dpkgQuery(t, `${Package} ${Version}\n`)
	s := &wire.Snapshot{}
	if err := collectDpkg(context.Background(), host.Live("linux"), s); err != nil {
		t.Fatal(err)
	}
	after := dpkgQuery(t, `${db:Status-Status} ${Package} ${Version}\n`)
	if !slices.Equal(before, after) {
		t.Skip("dpkg database changed while the test ran (a package manager is running)")
	}

	var got []string
	for _, p := range s.Software.Packages {
		got = append(got, p.Name+" "+p.Version)
	}
	sort.Strings(got)
	var installed []string
	allInstalled := true
	for _, l := range before {
		state, rest, _ := strings.Cut(l, " ")
		if state == "installed" {
			installed = append(installed, rest)
		} else {
			allInstalled = false
		}
	}
	if len(got) == 0 {
		t.Fatal("got no packages")
	}
	if !slices.Equal(got, installed) {
		t.Errorf("probe and dpkg-query (installed) differ: got %d packages, want %d; first difference: %s", len(got), len(installed), firstDiff(installed, got))
	}
	if allInstalled && !slices.Equal(got, plain) {
		t.Errorf("probe and plain dpkg-query -W differ: got %d, want %d; first difference: %s", len(got), len(plain), firstDiff(plain, got))
	}
}

func firstDiff(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return "want " + want[i] + ", got " + got[i]
		}
	}
	return "lengths differ"
}
