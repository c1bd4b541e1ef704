package darwin

import (
	"os"
	"path/filepath"
	"testing"
)

// fixtureDir holds the real macOS captures (see its SOURCES.md).
const fixtureDir = "../../testdata/fixtures/darwin"

// fixture reads a capture relative to fixtureDir.
func fixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, rel))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// allFixtures returns every capture, to seed fuzz targets and to check that
// a parser does not mistake another tool's output for its own.
func allFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(fixtureDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) == "SOURCES.md" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fixtureDir, p)
		out[rel] = b
		return nil
	})
	if err != nil {
		t.Fatalf("walk fixtures: %v", err)
	}
	if len(out) < 9 {
		t.Fatalf("found %d fixtures under %s, want 9", len(out), fixtureDir)
	}
	return out
}

// seed adds every capture to a fuzz corpus.
func seed(f *testing.F) {
	for _, b := range allFixtures(f) {
		f.Add(b)
	}
}
