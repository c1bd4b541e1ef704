package darwin

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"howett.net/plist"
)

// pkgReceipt is one /var/db/receipts/<package-id>.plist: the record
// `pkgutil --pkgs` and `pkgutil --pkg-info` print. Reading the files gives
// every package's version and install date without one command per package.
type pkgReceipt struct {
	PackageIdentifier  string    `plist:"PackageIdentifier"`
	PackageVersion     string    `plist:"PackageVersion"`
	InstallDate        time.Time `plist:"InstallDate"`
	InstallPrefixPath  string    `plist:"InstallPrefixPath"`
	InstallProcessName string    `plist:"InstallProcessName"`
}

// parseReceipt parses a package receipt plist (binary or XML).
func parseReceipt(b []byte) (pkgReceipt, error) {
	var r pkgReceipt
	if _, err := plist.Unmarshal(b, &r); err != nil {
		return pkgReceipt{}, fmt.Errorf("decode package receipt: %w", err)
	}
	if strings.TrimSpace(r.PackageIdentifier) == "" {
		return pkgReceipt{}, errors.New("package receipt has no PackageIdentifier")
	}
	return r, nil
}
