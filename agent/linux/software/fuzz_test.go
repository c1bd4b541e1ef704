package software

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// addFixtures seeds a fuzz target with every file of a fixture folder.
func addFixtures(f *testing.F, dir string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtures, dir, "*"))
	if err != nil {
		f.Fatal(err)
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

func FuzzParseDpkgStatus(f *testing.F) {
	addFixtures(f, "dpkg")
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := ParseDpkgStatus(bytes.NewReader(b))
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatal("package without a name")
			}
		}
	})
}

func FuzzParseRPMQuery(f *testing.F) {
	addFixtures(f, "rpm")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseRPMQuery(bytes.NewReader(b))
	})
}

func FuzzParseAPKInstalled(f *testing.F) {
	addFixtures(f, "apk")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseAPKInstalled(bytes.NewReader(b))
	})
}

func FuzzParsePacmanQi(f *testing.F) {
	addFixtures(f, "pacman")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParsePacmanQi(bytes.NewReader(b), time.UTC)
	})
}

func FuzzParseSnapList(f *testing.F) {
	addFixtures(f, "snap")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseSnapList(bytes.NewReader(b))
	})
}

// No real or documented flatpak list output was found to seed this
// target with; the snap captures (another column listing) and the empty
// input stand in, and the fuzzer grows from them.
func FuzzParseFlatpakList(f *testing.F) {
	addFixtures(f, "snap")
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _ := ParseFlatpakList(bytes.NewReader(b))
		for _, p := range pkgs {
			if p.Application == "" {
				t.Fatal("flatpak without an application id")
			}
		}
	})
}
