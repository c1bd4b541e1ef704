//go:build windows

package windows

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

// Control codes and property ids from winioctl.h; x/sys/windows does not
// define them.
const (
	ioctlStorageQueryProperty        = 0x002d1400 // CTL_CODE(IOCTL_STORAGE_BASE, 0x500, METHOD_BUFFERED, FILE_ANY_ACCESS)
	ioctlDiskGetLengthInfo           = 0x0007405c // CTL_CODE(IOCTL_DISK_BASE, 0x17, METHOD_BUFFERED, FILE_READ_ACCESS)
	storageDeviceProperty            = 0
	storageDeviceSeekPenaltyProperty = 7
	propertyStandardQuery            = 0
	maxPhysicalDrives                = 32
)

// LiveDrives queries \\.\PhysicalDrive0 to \\.\PhysicalDrive31. A drive
// number that does not exist is skipped; one that exists but cannot be
// queried is listed with its error.
func LiveDrives(ctx context.Context) ([]PhysicalDrive, error) {
	var out []PhysicalDrive
	var opened int
	var lastErr error
	for n := range maxPhysicalDrives {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		dev := fmt.Sprintf(`\\.\PhysicalDrive%d`, n)
		d, err := queryDrive(dev)
		if errors.Is(err, windows.ERROR_FILE_NOT_FOUND) || errors.Is(err, windows.ERROR_PATH_NOT_FOUND) {
			continue
		}
		if err != nil {
			lastErr = err
			out = append(out, PhysicalDrive{Device: dev, Error: err.Error()})
			continue
		}
		opened++
		out = append(out, d)
	}
	if opened == 0 && lastErr != nil {
		return out, lastErr
	}
	return out, nil
}

func queryDrive(dev string) (PhysicalDrive, error) {
	p, err := windows.UTF16PtrFromString(dev)
	if err != nil {
		return PhysicalDrive{}, err
	}
	// Reading the length needs read access (administrator); the
	// descriptor does not, so fall back to no access at all.
	h, err := windows.CreateFile(p, windows.GENERIC_READ, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		h, err = windows.CreateFile(p, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	}
	if err != nil {
		return PhysicalDrive{}, fmt.Errorf("open %s: %w", dev, err)
	}
	defer windows.CloseHandle(h)
	d := PhysicalDrive{Device: dev}
	buf, err := queryProperty(h, storageDeviceProperty, 1024)
	if err != nil {
		return PhysicalDrive{}, fmt.Errorf("query storage device property of %s: %w", dev, err)
	}
	desc, err := ParseStorageDescriptor(buf)
	if err != nil {
		return PhysicalDrive{}, fmt.Errorf("%s: %w", dev, err)
	}
	d.VendorID, d.ProductID, d.ProductRevision, d.SerialNumber = desc.VendorID, desc.ProductID, desc.ProductRevision, desc.SerialNumber
	d.BusType, d.RemovableMedia = desc.BusType, desc.RemovableMedia
	if sp, err := queryProperty(h, storageDeviceSeekPenaltyProperty, 12); err == nil && len(sp) >= 9 {
		// DEVICE_SEEK_PENALTY_DESCRIPTOR: Version, Size, IncursSeekPenalty.
		pen := sp[8] != 0
		d.IncursSeekPenalty = &pen
	}
	var length [8]byte
	var n uint32
	if err := windows.DeviceIoControl(h, ioctlDiskGetLengthInfo, nil, 0, &length[0], uint32(len(length)), &n, nil); err == nil && n == 8 {
		d.SizeBytes = binary.LittleEndian.Uint64(length[:])
	}
	return d, nil
}

// queryProperty sends IOCTL_STORAGE_QUERY_PROPERTY with a
// STORAGE_PROPERTY_QUERY {PropertyId, QueryType, AdditionalParameters[1]}.
func queryProperty(h windows.Handle, id uint32, size int) ([]byte, error) {
	var q [12]byte
	binary.LittleEndian.PutUint32(q[0:], id)
	binary.LittleEndian.PutUint32(q[4:], propertyStandardQuery)
	out := make([]byte, size)
	var n uint32
	if err := windows.DeviceIoControl(h, ioctlStorageQueryProperty, &q[0], uint32(len(q)), &out[0], uint32(len(out)), &n, nil); err != nil {
		return nil, err
	}
	return out[:n], nil
}
