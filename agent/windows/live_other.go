//go:build !windows

package windows

import (
	"context"
	"errors"
)

// LiveAdapters needs Windows; probes only call it on a live Windows host.
func LiveAdapters(ctx context.Context) ([]Adapter, error) {
	return nil, errors.ErrUnsupported
}

// LiveDrives needs Windows; probes only call it on a live Windows host.
func LiveDrives(ctx context.Context) ([]PhysicalDrive, error) {
	return nil, errors.ErrUnsupported
}

// LiveWindowsUpdate needs Windows; probes only call it on a live Windows host.
func LiveWindowsUpdate(ctx context.Context) (*WUAResult, error) {
	return nil, errors.ErrUnsupported
}

// LiveCPUMemory needs Windows; probes only call it on a live Windows host.
func LiveCPUMemory(ctx context.Context) (*CPUMemory, error) {
	return nil, errors.ErrUnsupported
}
