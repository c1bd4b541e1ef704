package osinfo

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/agent/probe"
	"github.com/rosterhq/roster/shared/wire"
)

const aptFixture = "testdata/apt/debian12-dev"

// aptTree loads the captured apt tree (testdata/apt/SOURCES.md) into memory.
func aptTree(t testing.TB) fstest.MapFS {
	t.Helper()
	root := filepath.Join(aptFixture, "root")
	m := fstest.MapFS{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b}
		return nil
	})
	if err != nil {
		t.Fatalf("load apt tree: %v", err)
	}
	return m
}

// holdPackage changes a package's dpkg selection to hold, as apt-mark hold does.
func holdPackage(t testing.TB, m fstest.MapFS, pkg string) {
	t.Helper()
	f := m["var/lib/dpkg/status"]
	re := regexp.MustCompile(`(Package: ` + regexp.QuoteMeta(pkg) + `\n(?:[^\n]+\n)*?Status: )install ok installed`)
	loc := re.FindSubmatchIndex(f.Data)
	if loc == nil {
		t.Fatalf("no installed %s in the status fixture", pkg)
	}
	data := append([]byte{}, f.Data[:loc[3]]...)
	data = append(data, "hold ok installed"...)
	data = append(data, f.Data[loc[1]:]...)
	m["var/lib/dpkg/status"] = &fstest.MapFile{Data: data}
}

// removeUnder deletes every file under a directory of the tree.
func removeUnder(m fstest.MapFS, dir string) {
	for k := range m {
		if strings.HasPrefix(k, dir) {
			delete(m, k)
		}
	}
}

// noCommands answers every command with "not found": the native reader
// must not need one.
type noCommands struct{}

func (noCommands) Run(_ context.Context, name string, _ ...string) ([]byte, error) {
	return nil, host.ErrNotFound
}

func treeHost(m fstest.MapFS) *host.Host {
	return &host.Host{OS: "linux", Root: "/nonexistent", FS: m, Exec: noCommands{}}
}

func aptCapture(t testing.TB, name string) ([]wire.PendingUpdate, int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(aptFixture, name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseAptSimulation(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sortPending(p)
	sec := 0
	for _, u := range p {
		if u.Security {
			sec++
		}
	}
	return p, sec
}

// TestNativeAptMatchesAptGet: on the captured tree and its variants the
// native reader answers exactly what the real apt-get answered there.
func TestNativeAptMatchesAptGet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, capture string
		change        func(testing.TB, fstest.MapFS)
	}{
		{"as captured", "apt-get-full-upgrade.txt", func(testing.TB, fstest.MapFS) {}},
		{"base-files held", "apt-get-full-upgrade-hold-base-files.txt", func(t testing.TB, m fstest.MapFS) { holdPackage(t, m, "base-files") }},
		{"security pinned to 50", "apt-get-full-upgrade-pin-security-50.txt", func(_ testing.TB, m fstest.MapFS) {
			m["etc/apt/preferences.d/security-low"] = &fstest.MapFile{Data: []byte("Package: *\nPin: release l=Debian-Security\nPin-Priority: 50\n")}
		}},
		{"lists gzip-compressed", "apt-get-full-upgrade.txt", func(t testing.TB, m fstest.MapFS) {
			// The same indexes as apt keeps them with gzip instead of lz4.
			for name, f := range m {
				if !strings.HasSuffix(name, "_Packages.lz4") {
					continue
				}
				r, closeFn, err := openIndex(treeHost(m), "/"+name)
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				if _, err := buf.ReadFrom(r); err != nil {
					t.Fatal(err)
				}
				plain := append([]byte{}, buf.Bytes()...)
				buf.Reset()
				zw.Write(plain)
				zw.Close()
				closeFn()
				delete(m, name)
				m[strings.TrimSuffix(name, ".lz4")+".gz"] = &fstest.MapFile{Data: buf.Bytes(), Mode: f.Mode}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := aptTree(t)
			tc.change(t, m)
			res, err := nativeAptPending(context.Background(), treeHost(m))
			if err != nil {
				t.Fatal(err)
			}
			if res.Fallback != "" || res.Unknown != "" {
				t.Fatalf("got fallback %q, unknown %q; want an answer", res.Fallback, res.Unknown)
			}
			want, wantSec := aptCapture(t, tc.capture)
			if diff := gocmp.Diff(want, res.Pending); diff != "" {
				t.Errorf("pending (-apt-get +native):\n%s", diff)
			}
			if res.Security != wantSec {
				t.Errorf("security: got %d, want %d", res.Security, wantSec)
			}
		})
	}
}

// TestNativeAptLeavesDecisionsToApt: where apt's resolver decides, or the
// configuration is one the reader does not evaluate, it says why and
// answers nothing; where nobody can answer, it says unknown.
func TestNativeAptLeavesDecisionsToApt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name              string
		change            func(testing.TB, fstest.MapFS)
		fallback, unknown string // substrings of the reason
	}{
		{name: "held perl-base keeps perl back", change: func(t testing.TB, m fstest.MapFS) { holdPackage(t, m, "perl-base") },
			fallback: "needs perl-base (= 5.36.0-7+deb12u3)"},
		{name: "default release", change: func(_ testing.TB, m fstest.MapFS) {
			m["etc/apt/apt.conf.d/10release"] = &fstest.MapFile{Data: []byte("APT::Default-Release \"bookworm\";\n")}
		}, fallback: "default-release"},
		{name: "scoped dir setting", change: func(_ testing.TB, m fstest.MapFS) {
			m["etc/apt/apt.conf"] = &fstest.MapFile{Data: []byte("Dir {\n  State \"/srv/apt\";\n};\n")}
		}, fallback: "directories"},
		{name: "downgrade pin", change: func(_ testing.TB, m fstest.MapFS) {
			m["etc/apt/preferences.d/down"] = &fstest.MapFile{Data: []byte("Package: bash\nPin: version 5.2.15-2+b8\nPin-Priority: 1001\n")}
		}, fallback: "1001"},
		{name: "interrupted dpkg", change: func(_ testing.TB, m fstest.MapFS) {
			m["var/lib/dpkg/updates/0001"] = &fstest.MapFile{Data: []byte("Package: bash\n")}
		}, fallback: "interrupted"},
		{name: "no /etc/apt", change: func(_ testing.TB, m fstest.MapFS) { removeUnder(m, "etc/apt/") }, fallback: "no /etc/apt"},
		{name: "no lists", change: func(_ testing.TB, m fstest.MapFS) { removeUnder(m, "var/lib/apt/lists/") }, unknown: "no downloaded package lists"},
		{name: "no sources", change: func(_ testing.TB, m fstest.MapFS) { removeUnder(m, "etc/apt/sources.list.d/") }, unknown: "no enabled sources"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := aptTree(t)
			tc.change(t, m)
			res, err := nativeAptPending(context.Background(), treeHost(m))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Fallback, tc.fallback) || (tc.fallback == "") != (res.Fallback == "") {
				t.Errorf("fallback: got %q, want it to say %q", res.Fallback, tc.fallback)
			}
			if !strings.Contains(res.Unknown, tc.unknown) || (tc.unknown == "") != (res.Unknown == "") {
				t.Errorf("unknown: got %q, want it to say %q", res.Unknown, tc.unknown)
			}
			if res.Pending != nil {
				t.Errorf("got %d pending updates with no answer", len(res.Pending))
			}
		})
	}
}

// TestAptProbeNativeThenAptGet runs the os/updates probe: the native
// answer where there is one, apt-get's (captured) where there is not.
func TestAptProbeNativeThenAptGet(t *testing.T) {
	t.Parallel()
	want, wantSec := aptCapture(t, "apt-get-full-upgrade.txt")
	s := probe.Run(context.Background(), treeHost(aptTree(t)), Probes(), probe.Options{})
	if s.OS == nil || s.OS.PendingUpdates == nil || *s.OS.PendingUpdates != len(want) || *s.OS.PendingSecurityUpdates != wantSec || s.OS.PendingSource != "apt" {
		t.Fatalf("native: got %+v, want %d pending, %d security from apt", s.OS, len(want), wantSec)
	}

	// perl-base held: the reader leaves it to apt-get, whose captured
	// answer the probe then reports.
	m := aptTree(t)
	holdPackage(t, m, "perl-base")
	out, err := os.ReadFile(filepath.Join(aptFixture, "apt-get-full-upgrade-hold-perl-base.txt"))
	if err != nil {
		t.Fatal(err)
	}
	line := host.CommandLine("apt-get", aptArgs...)
	m["commands/"+host.Slug(line)+".out"] = &fstest.MapFile{Data: out}
	h := &host.Host{OS: "linux", Root: "/nonexistent", FS: m, Exec: host.CapturedRunner{FS: m, Dir: "commands"}}
	s = probe.Run(context.Background(), h, Probes(), probe.Options{})
	want, wantSec = aptCapture(t, "apt-get-full-upgrade-hold-perl-base.txt")
	if s.OS.PendingUpdates == nil || *s.OS.PendingUpdates != len(want) || *s.OS.PendingSecurityUpdates != wantSec {
		t.Fatalf("fallback: got %v pending, want %d from apt-get", intp(s.OS.PendingUpdates), len(want))
	}
	if strings.Contains(string(out), "Inst perl ") {
		t.Fatal("fixture: apt-get was expected to keep perl back")
	}

	// No lists: unknown with the reason, and apt-get is not asked.
	m = aptTree(t)
	removeUnder(m, "var/lib/apt/lists/")
	s = probe.Run(context.Background(), treeHost(m), Probes(), probe.Options{})
	if s.OS.PendingUpdates != nil || !strings.Contains(s.OS.Unknown["pending_updates"], "no downloaded package lists") {
		t.Fatalf("no lists: got %v pending, unknown %q", intp(s.OS.PendingUpdates), s.OS.Unknown["pending_updates"])
	}
}

func TestOpenIndexMissing(t *testing.T) {
	t.Parallel()
	_, _, err := openIndex(treeHost(fstest.MapFS{}), "/var/lib/apt/lists/x_Packages.lz4")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("got %v, want not exist", err)
	}
}
