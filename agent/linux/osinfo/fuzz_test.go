package osinfo

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addFixtures seeds a fuzz target with the fixture files matching glob.
func addFixtures(f *testing.F, glob string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtures, glob))
	if err != nil {
		f.Fatal(err)
	}
	if len(paths) == 0 {
		f.Fatalf("no fixtures match %s", glob)
	}
	addFiles(f, paths)
}

// addFiles seeds a fuzz target with the files' contents (SOURCES.md aside).
func addFiles(f *testing.F, paths []string) {
	f.Helper()
	for _, p := range paths {
		if filepath.Base(p) == "SOURCES.md" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParseOSRelease(f *testing.F) {
	addFixtures(f, "os-release/*")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseOSRelease(bytes.NewReader(b))
	})
}

func FuzzParseDpkgLog(f *testing.F) {
	addFixtures(f, "logs/*dpkg.log")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ParseDpkgLog(bytes.NewReader(b), time.UTC)
	})
}

func FuzzParseAptHistory(f *testing.F) {
	addFixtures(f, "logs/*apt-history.log")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ParseAptHistory(bytes.NewReader(b), time.UTC)
	})
}

func FuzzParseZyppHistory(f *testing.F) {
	addFixtures(f, "logs/*zypp-history*")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _ = ParseZyppHistory(bytes.NewReader(b), time.UTC)
	})
}

func FuzzParseAptSimulation(f *testing.F) {
	addFixtures(f, "updates/*apt-get*")
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := ParseAptSimulation(bytes.NewReader(b))
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatal("pending update without a name")
			}
		}
	})
}

func FuzzParseDNFCheckUpdate(f *testing.F) {
	addFixtures(f, "updates/*check-update*")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseDNFCheckUpdate(bytes.NewReader(b))
	})
}

// No real updateinfo output was available; the check-update captures
// (same NEVRA vocabulary) seed it.
func FuzzParseDNFUpdateInfo(f *testing.F) {
	addFixtures(f, "updates/*check-update*")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseDNFUpdateInfo(bytes.NewReader(b))
	})
}

func FuzzParseZypperListUpdates(f *testing.F) {
	addFixtures(f, "updates/*zypper*")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseZypperListUpdates(bytes.NewReader(b))
	})
}

// No real list-patches output was available; list-updates (the same
// table layout) seeds it.
func FuzzParseZypperPatches(f *testing.F) {
	addFixtures(f, "updates/*zypper*")
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, _ := ParseZypperPatches(bytes.NewReader(b)); n < 0 {
			t.Fatalf("got %d patches", n)
		}
	})
}

func FuzzCompareKernelVersions(f *testing.F) {
	f.Add("6.1.0-18-amd64", "6.1.0-21-amd64")
	f.Add("5.14.0-362.8.1.el9_3.x86_64", "6.18.44-fc-v657")
	f.Fuzz(func(t *testing.T, a, b string) {
		if x, y := CompareKernelVersions(a, b), CompareKernelVersions(b, a); x != -y {
			t.Fatalf("not antisymmetric: %q vs %q: %d, %d", a, b, x, y)
		}
	})
}

func aptSeeds(f *testing.F, rels ...string) {
	f.Helper()
	for i, rel := range rels {
		rels[i] = filepath.Join(aptFixture, "root", rel)
	}
	addFiles(f, rels)
}

func FuzzParseSourcesList(f *testing.F) {
	aptSeeds(f, "etc/apt/sources.list.d/google-cloud-sdk.list.disabled-by-farm")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseSourcesList(bytes.NewReader(b))
	})
}

func FuzzParseDeb822Sources(f *testing.F) {
	aptSeeds(f, "etc/apt/sources.list.d/debian.sources", "etc/apt/sources.list.d/nodesource.sources.disabled-by-farm")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, s := range must(ParseDeb822Sources(bytes.NewReader(b))) {
			_ = s.indexBase("main", "amd64")
		}
	})
}

func FuzzParseAptPreferences(f *testing.F) {
	aptSeeds(f, "etc/apt/preferences.d/nodejs", "etc/apt/preferences.d/nsolid")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range must(ParseAptPreferences(bytes.NewReader(b))) {
			_ = p.matchesName("bash")
			_ = p.matchesVersion(&aptVersion{Version: "1.0", indexes: []*aptIndex{{Site: "x", Suite: "stable"}}})
		}
	})
}

func FuzzParseAptRelease(f *testing.F) {
	aptSeeds(f, "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_InRelease",
		"var/lib/apt/lists/packages.cloud.google.com_apt_dists_cloud-sdk-bookworm_InRelease")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseAptRelease(bytes.NewReader(b))
	})
}

// FuzzDpkgStatusApt feeds the status reader and the whole computation.
func FuzzDpkgStatusApt(f *testing.F) {
	// The captured status file a few stanzas at a time: seeded whole
	// (74 KB), Go's engine managed 16 executions in ten minutes, though
	// each input runs in under 10 ms.
	b, err := os.ReadFile(filepath.Join(aptFixture, "root", "var/lib/dpkg/status"))
	if err != nil {
		f.Fatal(err)
	}
	stanzas := bytes.SplitAfter(b, []byte("\n\n"))
	for i := 0; i < len(stanzas); i += 6 {
		f.Add(bytes.Join(stanzas[i:min(i+6, len(stanzas))], nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, native, reason, err := parseInstalled(bytes.NewReader(b))
		if err != nil || reason != "" {
			return
		}
		_ = computeAptPending(pkgs, nil, native)
	})
}

func FuzzParseRelations(f *testing.F) {
	f.Add("libc6 (>= 2.36), perl:any | perl-base (<< 5.37~)")
	f.Add("1.0~rc1")
	f.Fuzz(func(t *testing.T, s string) { _ = parseRelations(s) })
}

// must drops the error: a fuzz target checks for panics, and a parse
// error still returns what was read.
func must[T any](v T, _ error) T { return v }
