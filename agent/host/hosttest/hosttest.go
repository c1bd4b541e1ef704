// Package hosttest unpacks captured host trees for tests. Captures of sysfs
// hold paths with ':' (pci0000:00, 254:0), which Go module zips refuse, so
// they are committed as tar archives and unpacked into a temporary
// directory, symbolic links included.
package hosttest

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Unpack unpacks archive (.tar or .tar.gz) into dir.
func Unpack(t testing.TB, archive, dir string) {
	t.Helper()
	if err := unpack(archive, dir); err != nil {
		t.Fatalf("unpack %s: %v", archive, err)
	}
}

// UnpackTemp unpacks archive into a new temporary directory and returns it.
func UnpackTemp(t testing.TB, archive string) string {
	t.Helper()
	dir := t.TempDir()
	Unpack(t, archive, dir)
	return dir
}

func unpack(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(archive, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(hdr.Name)
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q leaves the tree", hdr.Name)
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
			if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
				err = writeFrom(p, tr)
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
}

func writeFrom(p string, r io.Reader) error {
	out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
