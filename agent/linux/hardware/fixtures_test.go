package hardware

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rosterhq/roster/agent/host/hosttest"
)

// fixtures is the repository's testdata/fixtures/linux folder.
const fixtures = "../../../testdata/fixtures/linux"

func readFixture(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// copyFixture copies a fixture file to dir/dst, creating parents.
func copyFixture(t testing.TB, dir, rel, dst string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(dst))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, readFixture(t, rel), 0o644); err != nil {
		t.Fatal(err)
	}
}

// untarFixture unpacks a captured sysfs archive into dir, keeping its
// symbolic links.
func untarFixture(t testing.TB, dir, rel string) {
	t.Helper()
	hosttest.Unpack(t, filepath.Join(fixtures, rel), dir)
}
