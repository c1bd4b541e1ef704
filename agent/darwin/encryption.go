package darwin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// collectEncryption reports FileVault on the system volume and, from
// `diskutil apfs list -plist`, the encryption of every APFS volume.
//
// For the system summary fdesetup is the authority; the System volume's
// FileVault flag in diskutil's list comes next, and mdmclient's SecurityInfo
// (what an MDM server is told) last. On macOS 10.15+ "/" is the sealed
// system volume and FileVault covers the whole volume group with it, so the
// summary is reported for "/".
func collectEncryption(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	var errs []error
	sum := wire.VolumeSummary{MountPoint: "/", Encrypted: wire.Unknown, Status: wire.StateUnknown}
	vol := wire.Volume{MountPoint: "/", System: true}

	vols, apfsWhy, err := readAPFSVolumes(ctx, h)
	if err != nil {
		errs = append(errs, err)
	}

	var why []string
	out, err := run(ctx, h, cmdFdesetupStatus)
	switch {
	case err == nil:
		st := parseFdesetupStatus(out)
		if st.State != wire.StateUnknown {
			sum.Scheme, sum.Status, sum.Encrypted = wire.SchemeFileVault, st.State, wire.TriOf(st.State == wire.StateOn)
			vol.PercentEncrypted = st.Percent
			if st.State != wire.StateOn && st.State != wire.StateOff {
				sum.Reason = "fdesetup status: " + st.Text
			}
			break
		}
		why = append(why, fmt.Sprintf("fdesetup status gave no plain answer: %q", st.Text))
	case errors.Is(err, host.ErrNotFound):
		why = append(why, reason(cmdFdesetupStatus, err))
	default:
		errs = append(errs, fmt.Errorf("run %s: %w", cmdFdesetupStatus, err))
		why = append(why, reason(cmdFdesetupStatus, err))
	}

	if sum.Status == wire.StateUnknown {
		if sys := systemVolume(vols); sys != nil && sys.Status != wire.StateUnknown {
			sum.Scheme, sum.Status, sum.Encrypted = sys.Scheme, sys.Status, sys.Encrypted
			why = append(why, fmt.Sprintf("per diskutil apfs list, System volume %s: %s", sys.Device, sys.Reason))
		} else if apfsWhy != "" {
			why = append(why, apfsWhy)
		}
	}
	if sum.Status == wire.StateUnknown {
		out, err := run(ctx, h, cmdMDMSecurityInfo)
		var info mdmSecurityInfo
		if err == nil {
			info, err = parseMDMClientSecurityInfo(out)
			if err != nil {
				errs = append(errs, err)
			}
		} else if !errors.Is(err, host.ErrNotFound) {
			errs = append(errs, fmt.Errorf("run %s: %w", cmdMDMSecurityInfo, err))
		}
		switch {
		case err != nil:
			why = append(why, reason(cmdMDMSecurityInfo, err))
		case info.FDEEnabled == nil:
			why = append(why, "mdmclient QuerySecurityInfo has no FDE_Enabled")
		case *info.FDEEnabled:
			sum.Scheme, sum.Status, sum.Encrypted = wire.SchemeFileVault, wire.StateOn, wire.Yes
			why = append(why, "FileVault enabled per mdmclient QuerySecurityInfo (FDE_Enabled = 1); it does not report encryption progress")
		default:
			sum.Scheme, sum.Status, sum.Encrypted = wire.SchemeFileVault, wire.StateOff, wire.No
			why = append(why, "FileVault disabled per mdmclient QuerySecurityInfo (FDE_Enabled = 0)")
		}
	}
	if len(why) > 0 {
		sum.Reason = strings.Join(why, "; ")
	}

	if vols == nil {
		// No per-volume view: the system volume as the summary says.
		vol.Encrypted, vol.Scheme, vol.Status, vol.Reason = sum.Encrypted, sum.Scheme, sum.Status, sum.Reason
		vols = []wire.Volume{vol}
	} else if sys := systemVolume(vols); sys != nil && sum.Status != wire.StateUnknown &&
		(sys.Status == wire.StateUnknown || sum.Status == wire.StateEncrypting || sum.Status == wire.StateDecrypting) {
		// fdesetup knows what diskutil's flags cannot say (a conversion's
		// direction and progress).
		sys.Encrypted, sys.Scheme, sys.Status = sum.Encrypted, sum.Scheme, sum.Status
		sys.PercentEncrypted = vol.PercentEncrypted
		sys.Reason = strings.TrimPrefix(strings.Join([]string{sys.Reason, "state per fdesetup status"}, "; "), "; ")
	}
	s.Encryption = &wire.Encryption{System: sum, Volumes: vols}
	return errors.Join(errs...)
}

// readAPFSVolumes reads every APFS volume's encryption, with mount points
// from `diskutil list -plist`. It returns nil volumes and the reason when
// diskutil gives no list; an error only when a command ran and failed.
func readAPFSVolumes(ctx context.Context, h *host.Host) ([]wire.Volume, string, error) {
	out, err := run(ctx, h, cmdAPFSList)
	if err != nil {
		if errors.Is(err, host.ErrNotFound) {
			return nil, reason(cmdAPFSList, err), nil
		}
		return nil, reason(cmdAPFSList, err), fmt.Errorf("run %s: %w", cmdAPFSList, err)
	}
	l, err := parseAPFSList(out)
	if err != nil {
		return nil, reason(cmdAPFSList, err), fmt.Errorf("parse %s: %w", cmdAPFSList, err)
	}
	var mounts map[string]string
	mountWhy := ""
	if out, err := run(ctx, h, cmdDiskutilList); err != nil {
		mountWhy = "mount point unknown: " + reason(cmdDiskutilList, err)
	} else if dl, err := parseDiskutilList(out); err != nil {
		mountWhy = "mount point unknown: " + reason(cmdDiskutilList, err)
	} else {
		mounts = dl.mountPoints()
	}
	return apfsVolumes(l, mounts, mountWhy), "", nil
}

// apfsVolumes turns diskutil's APFS list into the wire's volumes: one per
// APFS volume, in diskutil's order, with its mount point when mounts knows
// it (unmounted volumes such as Recovery have none).
//
// A volume is FileVault-encrypted when diskutil says FileVault; encrypted
// with its own APFS password when it says Encryption without FileVault; not
// encrypted when it says neither. On Apple silicon and T2 Macs the internal
// storage is always encrypted in hardware, but with a key no password
// protects: diskutil reports such a volume as not encrypted, and so does the
// agent. CryptoMigrationOn means a conversion is running, in a direction
// diskutil does not state: unknown, until fdesetup says.
func apfsVolumes(l apfsList, mounts map[string]string, mountWhy string) []wire.Volume {
	vols := []wire.Volume{}
	for _, c := range l.Containers {
		for _, av := range c.Volumes {
			v := wire.Volume{Device: av.DeviceIdentifier, FSType: "apfs", MountPoint: mounts[av.DeviceIdentifier]}
			var why []string
			if av.Name != "" {
				why = append(why, fmt.Sprintf("volume %q", av.Name))
			}
			if v.MountPoint == "" && mountWhy != "" {
				why = append(why, mountWhy)
			}
			v.System = av.hasRole("System") || (len(av.Roles) == 0 && v.MountPoint == "/")
			fv, enc := av.FileVault, av.Encryption
			switch {
			case av.CryptoMigrationOn != nil && *av.CryptoMigrationOn:
				v.Encrypted, v.Status = wire.Unknown, wire.StateUnknown
				why = append(why, "encryption conversion in progress (CryptoMigrationOn); diskutil does not say in which direction")
			case av.Locked != nil && *av.Locked:
				v.Encrypted, v.Status, v.Scheme = wire.Yes, wire.StateOn, wire.SchemeAPFS
				if fv != nil && *fv {
					v.Scheme = wire.SchemeFileVault
				}
				why = append(why, "locked")
			case fv != nil && *fv:
				v.Encrypted, v.Status, v.Scheme = wire.Yes, wire.StateOn, wire.SchemeFileVault
				why = append(why, "FileVault")
			case enc != nil && *enc:
				v.Encrypted, v.Status, v.Scheme = wire.Yes, wire.StateOn, wire.SchemeAPFS
				if fv == nil {
					why = append(why, "APFS encryption (this diskutil reports no FileVault flag)")
				} else {
					why = append(why, "APFS encryption, not FileVault")
				}
			case enc != nil:
				v.Encrypted, v.Status = wire.No, wire.StateOff
			default:
				v.Encrypted, v.Status = wire.Unknown, wire.StateUnknown
				why = append(why, "diskutil apfs list has no Encryption flag for this volume")
			}
			v.Reason = strings.Join(why, "; ")
			vols = append(vols, v)
		}
	}
	return vols
}

// systemVolume returns the volume that holds the OS: the one with the System
// role (macOS 10.15+), else the one mounted at "/"; nil when there is none.
func systemVolume(vols []wire.Volume) *wire.Volume {
	for i := range vols {
		if vols[i].System {
			return &vols[i]
		}
	}
	return nil
}
