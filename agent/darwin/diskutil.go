package darwin

import (
	"errors"
	"fmt"

	"howett.net/plist"
)

// diskutilList is the part of `diskutil list -plist` the agent uses.
type diskutilList struct {
	AllDisksAndPartitions []diskutilListDisk `plist:"AllDisksAndPartitions"`
	WholeDisks            []string           `plist:"WholeDisks"`
}

// diskutilListDisk is one whole disk. An APFS container is a synthesized
// whole disk: it has APFSVolumes (and Content is the APFS container GUID).
type diskutilListDisk struct {
	DeviceIdentifier string               `plist:"DeviceIdentifier"`
	Content          string               `plist:"Content"`
	Size             uint64               `plist:"Size"`
	Partitions       []diskutilListVolume `plist:"Partitions"`
	APFSVolumes      []diskutilListVolume `plist:"APFSVolumes"`
}

// diskutilListVolume is a partition or an APFS volume.
type diskutilListVolume struct {
	DeviceIdentifier string `plist:"DeviceIdentifier"`
	Content          string `plist:"Content"`
	MountPoint       string `plist:"MountPoint"`
	VolumeName       string `plist:"VolumeName"`
	Size             uint64 `plist:"Size"`
	// MountedSnapshots lists, on macOS 11+, the sealed system snapshot that
	// is what is really mounted at "/" for the System volume.
	MountedSnapshots []struct {
		SnapshotMountPoint string `plist:"SnapshotMountPoint"`
	} `plist:"MountedSnapshots"`
}

// parseDiskutilList parses `diskutil list -plist`.
func parseDiskutilList(b []byte) (diskutilList, error) {
	var l diskutilList
	if _, err := plist.Unmarshal(b, &l); err != nil {
		return diskutilList{}, fmt.Errorf("decode diskutil list plist: %w", err)
	}
	if len(l.AllDisksAndPartitions) == 0 && len(l.WholeDisks) == 0 {
		return diskutilList{}, errors.New("diskutil list plist has no AllDisksAndPartitions or WholeDisks")
	}
	return l, nil
}

// mountPoints maps each device identifier ("disk3s1") to where it is
// mounted. A sealed System volume is mounted through its snapshot.
func (l diskutilList) mountPoints() map[string]string {
	m := map[string]string{}
	for _, d := range l.AllDisksAndPartitions {
		for _, vs := range [][]diskutilListVolume{d.Partitions, d.APFSVolumes} {
			for _, v := range vs {
				mp := v.MountPoint
				for _, s := range v.MountedSnapshots {
					if mp == "" {
						mp = s.SnapshotMountPoint
					}
				}
				if mp != "" {
					m[v.DeviceIdentifier] = mp
				}
			}
		}
	}
	return m
}

// physicalCandidates returns the whole disks that may be hardware, in
// diskutil's order: every whole disk except the APFS containers diskutil
// synthesizes from a physical store (they hold APFSVolumes).
func (l diskutilList) physicalCandidates() []diskutilListDisk {
	var out []diskutilListDisk
	for _, d := range l.AllDisksAndPartitions {
		if d.DeviceIdentifier == "" || len(d.APFSVolumes) > 0 {
			continue
		}
		out = append(out, d)
	}
	return out
}

// diskutilInfo is the part of `diskutil info -plist <disk>` the agent uses.
// Booleans are pointers: an absent key is unknown, not false.
type diskutilInfo struct {
	DeviceIdentifier               string `plist:"DeviceIdentifier"`
	MediaName                      string `plist:"MediaName"`
	IORegistryEntryName            string `plist:"IORegistryEntryName"`
	BusProtocol                    string `plist:"BusProtocol"`
	VirtualOrPhysical              string `plist:"VirtualOrPhysical"`
	TotalSize                      uint64 `plist:"TotalSize"`
	Size                           uint64 `plist:"Size"`
	SolidState                     *bool  `plist:"SolidState"`
	Internal                       *bool  `plist:"Internal"`
	Removable                      *bool  `plist:"Removable"`
	RemovableMediaOrExternalDevice *bool  `plist:"RemovableMediaOrExternalDevice"`
	WholeDisk                      *bool  `plist:"WholeDisk"`
	MountPoint                     string `plist:"MountPoint"`
	FilesystemType                 string `plist:"FilesystemType"`
	// Error is set when diskutil could not find the disk; it still prints
	// a plist (Error, ErrorMessage, ExitCode).
	Error        bool   `plist:"Error"`
	ErrorMessage string `plist:"ErrorMessage"`
}

// parseDiskutilInfo parses `diskutil info -plist <disk>`.
func parseDiskutilInfo(b []byte) (diskutilInfo, error) {
	var i diskutilInfo
	if _, err := plist.Unmarshal(b, &i); err != nil {
		return diskutilInfo{}, fmt.Errorf("decode diskutil info plist: %w", err)
	}
	if i.Error {
		return diskutilInfo{}, fmt.Errorf("diskutil info: %s", i.ErrorMessage)
	}
	if i.DeviceIdentifier == "" {
		return diskutilInfo{}, errors.New("diskutil info plist has no DeviceIdentifier")
	}
	return i, nil
}

// apfsList is `diskutil apfs list -plist`.
type apfsList struct {
	Containers []apfsContainer `plist:"Containers"`
}

type apfsContainer struct {
	ContainerReference      string       `plist:"ContainerReference"`
	DesignatedPhysicalStore string       `plist:"DesignatedPhysicalStore"`
	Volumes                 []apfsVolume `plist:"Volumes"`
}

// apfsVolume is one APFS volume's encryption state. Pointers: macOS 10.13
// prints no FileVault key, and an absent key is unknown, not false.
type apfsVolume struct {
	DeviceIdentifier  string   `plist:"DeviceIdentifier"`
	Name              string   `plist:"Name"`
	Roles             []string `plist:"Roles"`
	FileVault         *bool    `plist:"FileVault"`
	Encryption        *bool    `plist:"Encryption"`
	Locked            *bool    `plist:"Locked"`
	CryptoMigrationOn *bool    `plist:"CryptoMigrationOn"`
}

// parseAPFSList parses `diskutil apfs list -plist`. A Mac without APFS prints
// an empty dict, which parses to no containers (not an error).
func parseAPFSList(b []byte) (apfsList, error) {
	var l apfsList
	var probe map[string]any
	if _, err := plist.Unmarshal(b, &probe); err != nil {
		return apfsList{}, fmt.Errorf("decode diskutil apfs list plist: %w", err)
	}
	if _, ok := probe["Containers"]; !ok && len(probe) > 0 {
		return apfsList{}, errors.New("diskutil apfs list plist has no Containers")
	}
	if _, err := plist.Unmarshal(b, &l); err != nil {
		return apfsList{}, fmt.Errorf("decode diskutil apfs list plist: %w", err)
	}
	return l, nil
}

// hasRole reports whether the volume has the APFS role (System, Data, ...).
func (v apfsVolume) hasRole(role string) bool {
	for _, r := range v.Roles {
		if r == role {
			return true
		}
	}
	return false
}
