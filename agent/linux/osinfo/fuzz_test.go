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
