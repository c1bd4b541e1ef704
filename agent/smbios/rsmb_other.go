//go:build !windows

package smbios

import (
	"context"
	"errors"
)

// ReadRSMB needs Windows; the Windows probe calls it only on a live
// Windows host.
func ReadRSMB(ctx context.Context) ([]byte, error) {
	return nil, errors.ErrUnsupported
}
