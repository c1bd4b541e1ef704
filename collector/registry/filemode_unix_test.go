//go:build unix

package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rosterhq/roster/collector/registry"
)

// dbModes returns the permission bits of the database and its -wal and
// -shm files, failing when one is missing.
func dbModes(t *testing.T, path string) map[string]os.FileMode {
	t.Helper()
	got := map[string]os.FileMode{}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		got[filepath.Base(p)] = st.Mode().Perm()
	}
	return got
}

// Not parallel: the umask belongs to the whole process, and top-level
// tests that are not parallel run alone.
func TestOpenMakesDatabaseFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "roster.db")

	reg, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if _, _, err := reg.CreateSecret(ctx, "modes", 0, 0, t0); err != nil {
		t.Fatal(err)
	}
	for name, m := range dbModes(t, path) {
		if m != 0o600 {
			t.Errorf("new %s: got mode %04o, want 0600", name, m)
		}
	}

	// Files an older collector left readable are tightened on the next
	// open, the -wal and -shm SQLite reuses included.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again, err := registry.OpenAndMigrate(ctx, registry.StoreConfig{Path: path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	for name, m := range dbModes(t, path) {
		if m != 0o600 {
			t.Errorf("reopened %s: got mode %04o, want 0600", name, m)
		}
	}
}
