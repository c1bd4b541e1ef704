package hardware

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	f, err := os.Open(filepath.Join(fixtures, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("read %s: %v", rel, err)
		}
		name := filepath.Clean(hdr.Name)
		if strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			t.Fatalf("unsafe name %q in %s", hdr.Name, rel)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = os.Symlink(hdr.Linkname, p)
			}
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
					err = os.WriteFile(p, b, 0o644)
				}
			}
		}
		if err != nil {
			t.Fatalf("unpack %s from %s: %v", hdr.Name, rel, err)
		}
	}
}
