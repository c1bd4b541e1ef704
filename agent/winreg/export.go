package winreg

import (
	"errors"
	"io/fs"
)

// LoadExports loads every .reg file under dir. (Being written: see the winreg helper.)
func LoadExports(fsys fs.FS, dir string) (Registry, error) {
	return nil, errors.New("registry exports: not implemented yet")
}

// Live returns the running machine's registry, or nil off Windows.
func Live() Registry { return nil }
