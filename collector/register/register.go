// Package register holds the decisions of the asset register that need no
// database: which device each asset is linked to (MatchLinks) and which
// flags the register and the fleet should carry (ComputeFlags), and which
// stored flags to set, update and clear to get there (DiffFlags). The
// collector's registry loads the devices, assets, links and flags in
// scope, calls these functions and writes only the difference, so the
// rules are tested in tables here without a database.
package register

import (
	"strings"
	"time"
)

// Device is what linking and flagging need of a device. LastSeen is the
// stored fixed-width UTC text, which sorts as time.
type Device struct {
	ID, Hostname, Serial, UUID, MACs, Flags, LastSeen string
	// Revoked devices are out of the fleet and carry no register flags.
	Revoked bool
}

// Asset is what linking and flagging need of an asset.
type Asset struct {
	ID, Tag, Serial, SerialUUID, SerialMAC, Status, Owner, OwnerEmail, Location string
}

// Link ties an asset to a device; How says how it was made.
type Link struct {
	AssetID, DeviceID, How, LinkedAt string
}

// ExpiredWipe is an asset's latest wipe request, which expired.
type ExpiredWipe struct{ ID, Ticket string }

// Scope is a set of devices and assets with their current links: every
// device and asset, or the few one change can touch.
type Scope struct {
	Devices map[string]*Device
	Assets  map[string]*Asset
	Links   map[string]Link // by asset id, only links among the scope
	// ExpiredWipes: assets whose latest wipe request expired, by asset id.
	ExpiredWipes map[string]ExpiredWipe
}

// NewScope returns an empty scope.
func NewScope() Scope {
	return Scope{Devices: map[string]*Device{}, Assets: map[string]*Asset{}, Links: map[string]Link{}, ExpiredWipes: map[string]ExpiredWipe{}}
}

// splitList splits a stored comma-joined list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// parseTime reads a stored time; text that is no time is the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
