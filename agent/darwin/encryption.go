package darwin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/wire"
)

// collectEncryption reports FileVault on the system volume. fdesetup is the
// authority; mdmclient's SecurityInfo (what an MDM server is told) is the
// fallback when fdesetup gives no plain answer. On macOS 10.15+ "/" is the
// sealed system volume and FileVault covers the whole volume group with it,
// so the summary is reported for "/".
func collectEncryption(ctx context.Context, h *host.Host, s *wire.Snapshot) error {
	var errs []error
	sum := wire.VolumeSummary{MountPoint: "/", Encrypted: wire.Unknown, Status: wire.StateUnknown}
	vol := wire.Volume{MountPoint: "/", System: true}

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
		sum.Reason = strings.Join(why, "; ")
	}

	vol.Encrypted, vol.Scheme, vol.Status, vol.Reason = sum.Encrypted, sum.Scheme, sum.Status, sum.Reason
	s.Encryption = &wire.Encryption{System: sum, Volumes: []wire.Volume{vol}}
	return errors.Join(errs...)
}
