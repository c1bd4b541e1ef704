package windows

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// DrivesFile is where a captured host keeps what the live agent read from
// each \\.\PhysicalDriveN with DeviceIoControl, as JSON.
const DrivesFile = "api/PhysicalDrives.json"

// PhysicalDrive is what IOCTL_STORAGE_QUERY_PROPERTY (StorageDeviceProperty
// and StorageDeviceSeekPenaltyProperty) and IOCTL_DISK_GET_LENGTH_INFO said
// about one \\.\PhysicalDriveN, in the captured form. Names follow
// STORAGE_DEVICE_DESCRIPTOR.
type PhysicalDrive struct {
	Device          string `json:"device"` // `\\.\PhysicalDrive0`
	VendorID        string `json:"vendor_id,omitempty"`
	ProductID       string `json:"product_id,omitempty"`
	ProductRevision string `json:"product_revision,omitempty"`
	SerialNumber    string `json:"serial_number,omitempty"`
	// BusType is the STORAGE_BUS_TYPE value.
	BusType        uint32 `json:"bus_type"`
	RemovableMedia bool   `json:"removable_media"`
	// SizeBytes is 0 when IOCTL_DISK_GET_LENGTH_INFO failed.
	SizeBytes uint64 `json:"size_bytes,omitempty"`
	// IncursSeekPenalty is true for spinning disks; nil when the driver
	// does not answer StorageDeviceSeekPenaltyProperty.
	IncursSeekPenalty *bool `json:"incurs_seek_penalty"`
	// Error says which query failed, when the descriptor could not be read.
	Error string `json:"error,omitempty"`
}

// storageBusTypes names STORAGE_BUS_TYPE (winioctl.h) values the way the
// Linux probe names buses.
var storageBusTypes = map[uint32]string{
	1: "scsi", 2: "atapi", 3: "ata", 4: "ieee1394", 5: "ssa", 6: "fibre", 7: "usb", 8: "raid",
	9: "iscsi", 10: "sas", 11: "sata", 12: "sd", 13: "mmc", 14: "virtual", 15: "file-backed-virtual",
	16: "storage-spaces", 17: "nvme", 18: "scm", 19: "ufs",
}

// ParseDrives reads the captured form.
func ParseDrives(b []byte) ([]PhysicalDrive, error) {
	var ds []PhysicalDrive
	if err := json.Unmarshal(b, &ds); err != nil {
		return nil, fmt.Errorf("decode physical drives: %w", err)
	}
	return ds, nil
}

// Disks maps the drives whose descriptor was read to wire disks, and
// lists the others with their error. Removable media (USB sticks, card
// readers) are kept but marked, as on Linux.
func Disks(ds []PhysicalDrive) (disks []wire.Disk, failed map[string]string) {
	failed = map[string]string{}
	for _, d := range ds {
		if d.Error != "" {
			failed[d.Device] = d.Error
			continue
		}
		w := wire.Disk{
			Name:      strings.TrimPrefix(d.Device, `\\.\`),
			Model:     driveModel(d.VendorID, d.ProductID),
			Serial:    identity.Serial(d.SerialNumber),
			SizeBytes: d.SizeBytes,
			Media:     wire.MediaUnknown,
			Bus:       storageBusTypes[d.BusType],
			Removable: d.RemovableMedia,
		}
		if d.IncursSeekPenalty != nil {
			w.Media = wire.MediaSSD
			if *d.IncursSeekPenalty {
				w.Media = wire.MediaHDD
			}
		}
		disks = append(disks, w)
	}
	return disks, failed
}

// driveModel joins vendor and product as Windows' own FriendlyName does,
// unless the product already starts with the vendor. ATA and NVMe drives
// have no separate vendor field: their whole model is in the product.
func driveModel(vendor, product string) string {
	v, p := identity.Text(vendor), identity.Text(product)
	switch {
	case v == "":
		return p
	case p == "":
		return v
	case strings.HasPrefix(strings.ToLower(p), strings.ToLower(v)):
		return p
	}
	return v + " " + p
}

// StorageDescriptor is the part of a STORAGE_DEVICE_DESCRIPTOR the agent
// uses.
type StorageDescriptor struct {
	RemovableMedia                                     bool
	BusType                                            uint32
	VendorID, ProductID, ProductRevision, SerialNumber string
}

// ParseStorageDescriptor decodes the STORAGE_DEVICE_DESCRIPTOR that
// IOCTL_STORAGE_QUERY_PROPERTY returns (winioctl.h): fixed fields, then
// NUL-terminated ASCII strings at the offsets the header gives (0 means
// absent).
func ParseStorageDescriptor(b []byte) (StorageDescriptor, error) {
	const fixed = 36 // through RawPropertiesLength
	if len(b) < fixed {
		return StorageDescriptor{}, fmt.Errorf("storage device descriptor: %d bytes, want at least %d", len(b), fixed)
	}
	le := func(off int) uint32 {
		return uint32(b[off]) | uint32(b[off+1])<<8 | uint32(b[off+2])<<16 | uint32(b[off+3])<<24
	}
	size := int(le(4))
	if size > len(b) || size < fixed {
		size = len(b)
	}
	str := func(off uint32) string {
		if off == 0 || int(off) >= size {
			return ""
		}
		s := b[off:size]
		if i := strings.IndexByte(string(s), 0); i >= 0 {
			s = s[:i]
		}
		return strings.TrimSpace(string(s))
	}
	return StorageDescriptor{
		RemovableMedia:  b[10] != 0,
		VendorID:        str(le(12)),
		ProductID:       str(le(16)),
		ProductRevision: str(le(20)),
		SerialNumber:    str(le(24)),
		BusType:         le(28),
	}, nil
}
