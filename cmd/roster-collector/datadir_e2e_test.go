//go:build unix

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rosterhq/roster/cmd/roster-collector/collectortest"
)

// Not parallel: the umask belongs to the whole process (the collector
// inherits it), and top-level tests that are not parallel run alone.
func TestServeKeepsDataPrivateUnderUmask022(t *testing.T) {
	old := syscall.Umask(0o022)
	dir := filepath.Join(t.TempDir(), "data")
	c := collectortest.Start(t, collectorBin, collectortest.Options{DataDir: dir})
	syscall.Umask(old)

	// Start made a token, so the database has been written through its
	// WAL; serve holds it open, so the -wal and -shm files exist.
	want := map[string]os.FileMode{
		"":                0o700,
		"pki":             0o700,
		"roster.db":       0o600,
		"roster.db-wal":   0o600,
		"roster.db-shm":   0o600,
		"pki/ca.key":      0o600,
		"pki/command.key": 0o600,
	}
	for name, mode := range want {
		st, err := os.Stat(filepath.Join(c.DataDir, name))
		if err != nil {
			t.Errorf("stat: %v", err)
			continue
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: got mode %04o, want %04o", filepath.Join(c.DataDir, name), got, mode)
		}
	}
}

func TestServeRefusesDataDirOthersCanRead(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"serve", "--data", dir, "--listen", "127.0.0.1:0"},
		{"migrate", "--data", dir},
	} {
		cmd := exec.Command(collectorBin, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s: got %v, want a non-zero exit", args[0], err)
		}
		if code := cmd.ProcessState.ExitCode(); code != exitFailure {
			t.Errorf("%s: got exit %d, want %d", args[0], code, exitFailure)
		}
		wantMsg := "roster-collector: data directory " + dir + " is mode 0755: group and others can read and enter it, and it holds the registry and keys; run: chmod 700 " + dir + "\n"
		if got := stderr.String(); !strings.HasSuffix(got, wantMsg) {
			t.Errorf("%s stderr: got %q, want it to end with %q", args[0], got, wantMsg)
		}
		if stdout.Len() != 0 {
			t.Errorf("%s stdout: got %q, want nothing", args[0], stdout.String())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused data directory holds %d entries, want none", len(entries))
	}
}
