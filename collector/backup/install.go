package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Install moves a verified backup's database and pki/ into dir. x must
// have been extracted inside dir (Open's parent), so that the moves are
// renames. A dir that already holds a database is refused unless force,
// which renames the old database (and its -wal and -shm) and pki/ to
// NAME.before-restore-TIMESTAMP; aside lists what was moved.
func Install(x *Extracted, dir string, force bool, now time.Time) (aside []string, err error) {
	db := filepath.Join(dir, DBName)
	if _, err := os.Stat(db); err == nil {
		if !force {
			return nil, fmt.Errorf("%s already holds a database (%s): restore into an empty directory, or give --force to move it aside", dir, db)
		}
		suffix := ".before-restore-" + now.UTC().Format("20060102T150405Z")
		for _, name := range []string{DBName, DBName + "-wal", DBName + "-shm", PKIDir} {
			from := filepath.Join(dir, name)
			to := filepath.Join(dir, strings.Replace(name, DBName, DBName+suffix, 1))
			if name == PKIDir {
				to = from + suffix
			}
			err := os.Rename(from, to)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return aside, fmt.Errorf("move %s aside: %w", from, err)
			}
			aside = append(aside, to)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check %s: %w", db, err)
	}
	if _, err := os.Stat(filepath.Join(dir, PKIDir)); err == nil {
		return aside, fmt.Errorf("%s already holds keys (%s) but no database: move them aside first", dir, filepath.Join(dir, PKIDir))
	}
	// The database last: its presence is what makes dir a collector's.
	for _, name := range []string{PKIDir, DBName + "-wal", DBName + "-shm", DBName} {
		err := os.Rename(filepath.Join(x.Dir, name), filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) && name != DBName && name != PKIDir {
			continue
		}
		if err != nil {
			return aside, fmt.Errorf("install %s: %w", name, err)
		}
	}
	return aside, syncDir(dir)
}

// Scheduled backups are named roster-backup-<UTC time>.age, so that names
// sort in time order.
const (
	namePrefix = "roster-backup-"
	nameSuffix = ".age"
	nameTime   = "20060102T150405Z"
)

// Name is the file name of a scheduled backup taken at t.
func Name(t time.Time) string { return namePrefix + t.UTC().Format(nameTime) + nameSuffix }

// List returns the scheduled backups in dir, oldest first, with their
// times.
func List(dir string) ([]string, []time.Time, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for _, e := range entries {
		if _, ok := nameTimeOf(e.Name()); ok && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	times := make([]time.Time, len(names))
	for i, n := range names {
		times[i], _ = nameTimeOf(n)
	}
	return names, times, nil
}

func nameTimeOf(name string) (time.Time, bool) {
	s, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return time.Time{}, false
	}
	if s, ok = strings.CutSuffix(s, nameSuffix); !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(nameTime, s)
	return t, err == nil
}

// Rotate deletes the oldest scheduled backups in dir beyond the newest
// keep, and returns the names it deleted.
func Rotate(dir string, keep int) ([]string, error) {
	names, _, err := List(dir)
	if err != nil {
		return nil, fmt.Errorf("rotate backups in %s: %w", dir, err)
	}
	var removed []string
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return removed, fmt.Errorf("rotate backups in %s: %w", dir, err)
		}
		removed = append(removed, names[0])
		names = names[1:]
	}
	return removed, nil
}
