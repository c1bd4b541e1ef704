package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The database holds every device's identity and history, token and secret
// hashes, and wipe evidence: only the collector's own user may read it.
// SQLite creates the -wal and -shm files with the main file's permissions,
// so creating that file 0600 before SQLite does (whatever the umask) keeps
// all three private; tightenDBFiles then fixes files an older collector
// left readable, the -wal and -shm included, since SQLite reuses them as
// they are.

// createDBFile creates the database file 0600 when it does not exist yet.
func createDBFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	return f.Close()
}

// dbFiles are the database file and the files SQLite keeps beside it.
func dbFiles(path string) []string { return []string{path, path + "-wal", path + "-shm"} }

// tightenDBFiles removes group and other permissions from the database
// file and its -wal and -shm files where they exist.
func tightenDBFiles(path string) error {
	for _, p := range dbFiles(path) {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check database file mode: %w", err)
		}
		if m := st.Mode().Perm(); m&0o077 != 0 {
			if err := os.Chmod(p, m&^0o077); err != nil {
				return fmt.Errorf("make %s private (mode %04o): %w", p, m&^0o077, err)
			}
		}
	}
	return nil
}
