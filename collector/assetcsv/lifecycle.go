package assetcsv

import (
	"fmt"
	"slices"
	"strings"
)

// nextStatuses is the lifecycle table:
//
//	from            allowed to
//	ordered         in_stock, in_service
//	in_stock        in_service, in_repair, decommissioned
//	in_service      in_repair, offboarding
//	in_repair       in_service, in_stock, offboarding, decommissioned
//	offboarding     in_stock, in_service, decommissioned
//	decommissioned  disposed
//	disposed        (final)
//
// A device in service leaves it only through offboarding (the wipe run),
// so no laptop returns to stock or to the bin with its data: a lost or
// stolen one goes in_service → offboarding → decommissioned. Offboarding may
// end with the device back in stock, kept by the same person (cancelled) or
// decommissioned. Decommissioned assets can only be disposed of, and a
// disposed asset never comes back.
func nextStatuses(from string) []string {
	switch from {
	case StatusOrdered:
		return []string{StatusInStock, StatusInService}
	case StatusInStock:
		return []string{StatusInService, StatusInRepair, StatusDecommissioned}
	case StatusInService:
		return []string{StatusInRepair, StatusOffboarding}
	case StatusInRepair:
		return []string{StatusInService, StatusInStock, StatusOffboarding, StatusDecommissioned}
	case StatusOffboarding:
		return []string{StatusInStock, StatusInService, StatusDecommissioned}
	case StatusDecommissioned:
		return []string{StatusDisposed}
	}
	return nil
}

// ValidTransition reports whether an asset may move from one lifecycle
// status to another (see the table on nextStatuses). from "" is a new
// asset, which may start in any status (a register imported for the first
// time holds assets in every stage); staying in the same status is allowed.
// Both must be canonical statuses (ParseStatus).
func ValidTransition(from, to string) error {
	if !slices.Contains(Statuses(), to) {
		return fmt.Errorf("status %q: want one of %s", to, strings.Join(Statuses(), ", "))
	}
	if from == "" || from == to {
		return nil
	}
	if !slices.Contains(Statuses(), from) {
		return fmt.Errorf("current status %q is not a known status", from)
	}
	next := nextStatuses(from)
	if slices.Contains(next, to) {
		return nil
	}
	if len(next) == 0 {
		return fmt.Errorf("status cannot change from %s to %s: %s is final", from, to, from)
	}
	return fmt.Errorf("status cannot change from %s to %s (from %s: %s)", from, to, from, strings.Join(next, ", "))
}
