package register

// Flags: what is wrong between the register and the fleet. Device flags
// are unregistered (reports, links to no asset), not_in_service (its asset
// is not in_service; a disposed asset reporting is an incident) and
// identity_conflict (set by report apply, mirrored here for its first-seen
// time); the asset flags are missing (in_service, and no linked device
// seen within the window, or never) and wipe_expired. Each flag keeps the
// time it was first set and goes when its cause goes away.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rosterhq/roster/collector/assetcsv"
)

// Register flags.
const (
	FlagUnregistered = "unregistered"
	FlagMissing      = "missing"
	FlagNotInService = "not_in_service"
	// FlagWipeExpired marks an asset whose latest wipe request expired: the
	// device was not seen before the deadline, so offboarding is stuck and
	// needs a person (escalation).
	FlagWipeExpired = "wipe_expired"
	// FlagIdentityConflict is set on a device by report apply when another
	// live device reports the same hardware identity.
	FlagIdentityConflict = "identity_conflict"
)

// Flag severities.
const (
	SeverityWarning  = "warning"
	SeverityIncident = "incident"
)

// What a flag is on.
const (
	SubjectDevice = "device"
	SubjectAsset  = "asset"
)

// FlagKey names one flag on one device or asset.
type FlagKey struct{ Subject, ID, Flag string }

// FlagValue is a flag's state; Since is stored time text.
type FlagValue struct{ Since, Severity, Detail string }

// ComputeFlags is the flags a scope should carry with its links as they
// are now. An asset is missing when it is in_service and its device was
// last seen more than window before now (exactly window ago is not yet
// missing), or it has none. Revoked devices are out of the fleet and carry
// no register flags.
func ComputeFlags(s Scope, now time.Time, window time.Duration) map[FlagKey]FlagValue {
	want := map[FlagKey]FlagValue{}
	byDev := map[string]Link{}
	for _, l := range s.Links {
		byDev[l.DeviceID] = l
	}
	for _, d := range s.Devices {
		if slices.Contains(splitList(d.Flags), FlagIdentityConflict) {
			want[FlagKey{SubjectDevice, d.ID, FlagIdentityConflict}] = FlagValue{Severity: SeverityWarning, Detail: "another live device reports the same hardware identity"}
		}
		if d.Revoked {
			continue
		}
		l, ok := byDev[d.ID]
		if !ok {
			want[FlagKey{SubjectDevice, d.ID, FlagUnregistered}] = FlagValue{Severity: SeverityWarning, Detail: "no asset in the register matches this device"}
			continue
		}
		a := s.Assets[l.AssetID]
		if a == nil || a.Status == assetcsv.StatusInService {
			continue
		}
		v := FlagValue{Severity: SeverityWarning, Detail: fmt.Sprintf("asset %s is %s, not in_service", a.Tag, a.Status)}
		if a.Status == assetcsv.StatusDisposed {
			v = FlagValue{Severity: SeverityIncident, Detail: fmt.Sprintf("asset %s is disposed but its device still reports", a.Tag)}
		}
		want[FlagKey{SubjectDevice, d.ID, FlagNotInService}] = v
	}
	for _, a := range s.Assets {
		if w, ok := s.ExpiredWipes[a.ID]; ok && a.Status == assetcsv.StatusOffboarding {
			want[FlagKey{SubjectAsset, a.ID, FlagWipeExpired}] = FlagValue{Severity: SeverityIncident,
				Detail: fmt.Sprintf("wipe request %s (ticket %s) expired before the device took it: escalate, or record a manual wipe", w.ID, w.Ticket)}
		}
	}
	cutoff := now.Add(-window)
	for _, a := range s.Assets {
		if a.Status != assetcsv.StatusInService {
			continue
		}
		l, ok := s.Links[a.ID]
		if !ok {
			want[FlagKey{SubjectAsset, a.ID, FlagMissing}] = FlagValue{Severity: SeverityWarning, Detail: "no device has reported for this asset"}
			continue
		}
		d := s.Devices[l.DeviceID]
		if d == nil {
			continue
		}
		if seen := parseTime(d.LastSeen); seen.Before(cutoff) {
			want[FlagKey{SubjectAsset, a.ID, FlagMissing}] = FlagValue{Severity: SeverityWarning,
				Detail: fmt.Sprintf("device %s (%s) last seen %s, more than %s ago", d.Hostname, d.ID, seen.Format(time.RFC3339), window)}
		}
	}
	return want
}

// FlagOp is what the registry does to one stored flag.
type FlagOp int

const (
	OpSet    FlagOp = iota + 1 // newly raised: stored with since = now
	OpUpdate                   // still raised, severity or detail changed
	OpClear                    // the cause went away: deleted
)

// FlagChange is one flag write: key, the value before (zero when set) and
// after (zero when cleared).
type FlagChange struct {
	Op       FlagOp
	Key      FlagKey
	Old, New FlagValue
}

// DiffFlags decides, from the stored flags and those ComputeFlags wants,
// which to set, update and clear (in key order), and the flags afterwards:
// a flag that stays keeps the time it was first set, a new one is set at
// ts. A flag that stays with the same severity and detail is not written.
func DiffFlags(cur, want map[FlagKey]FlagValue, ts string) ([]FlagChange, map[FlagKey]FlagValue) {
	keys := make([]FlagKey, 0, len(want)+len(cur))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range cur {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b FlagKey) int {
		return strings.Compare(a.Subject+a.ID+a.Flag, b.Subject+b.ID+b.Flag)
	})
	var changes []FlagChange
	after := make(map[FlagKey]FlagValue, len(want))
	for _, k := range keys {
		w, wanted := want[k]
		c, has := cur[k]
		switch {
		case wanted && !has:
			w.Since = ts
			changes = append(changes, FlagChange{Op: OpSet, Key: k, New: w})
		case wanted:
			w.Since = c.Since
			if w.Severity != c.Severity || w.Detail != c.Detail {
				changes = append(changes, FlagChange{Op: OpUpdate, Key: k, Old: c, New: w})
			}
		default:
			changes = append(changes, FlagChange{Op: OpClear, Key: k, Old: c})
		}
		if wanted {
			after[k] = w
		}
	}
	return changes, after
}
