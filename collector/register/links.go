package register

// Linking devices to assets. A register serial is compared with what
// agents report in a fixed order: the normalised system serial, then the
// system UUID (either byte order; registers record a VM's UUID in the
// serial column), then a MAC address (the odd appliance). A manual link
// (rosterctl assets link) always wins: matching never moves or removes
// it, and neither its asset nor its device takes part in matching.

import (
	"cmp"
	"slices"
	"strings"
)

// How a link was made.
const (
	LinkSerial = "system_serial"
	LinkUUID   = "system_uuid"
	LinkMAC    = "mac"
	LinkManual = "manual"
)

// linkRank orders automatic matches, strongest first.
func linkRank(how string) int {
	switch how {
	case LinkSerial:
		return 0
	case LinkUUID:
		return 1
	}
	return 2
}

// SwapUUID returns a normalised UUID with the byte order of its first three
// fields reversed. SMBIOS 2.6 stores those fields little-endian and some
// firmware and tools print them without swapping, so the same board can
// appear under either form.
func SwapUUID(u string) string {
	if len(u) != 36 {
		return ""
	}
	rev := func(s string) string {
		var b strings.Builder
		for i := len(s) - 2; i >= 0; i -= 2 {
			b.WriteString(s[i : i+2])
		}
		return b.String()
	}
	return rev(u[0:8]) + "-" + rev(u[9:13]) + "-" + rev(u[14:18]) + u[18:]
}

// MatchLinks works out the links of a scope: manual links stay, then each
// automatic candidate pair is taken strongest first (serial, UUID, MAC);
// among equals a link that exists already stays (so two clones of one VM
// do not take the asset from each other on every report), then the device
// seen last wins. Each device and each asset gets at most one link.
func MatchLinks(s Scope) map[string]Link {
	out := map[string]Link{}
	takenDev := map[string]bool{}
	for a, l := range s.Links {
		if l.How == LinkManual {
			out[a] = l
			takenDev[l.DeviceID] = true
		}
	}
	bySerial, byUUID, byMAC := map[string][]*Device{}, map[string][]*Device{}, map[string][]*Device{}
	for _, d := range s.Devices {
		if takenDev[d.ID] {
			continue
		}
		if d.Serial != "" {
			bySerial[d.Serial] = append(bySerial[d.Serial], d)
		}
		if d.UUID != "" {
			byUUID[d.UUID] = append(byUUID[d.UUID], d)
			if sw := SwapUUID(d.UUID); sw != d.UUID && sw != "" {
				byUUID[sw] = append(byUUID[sw], d)
			}
		}
		for _, m := range splitList(d.MACs) {
			byMAC[m] = append(byMAC[m], d)
		}
	}
	type pair struct {
		a    *Asset
		d    *Device
		how  string
		kept bool
	}
	var pairs []pair
	for _, a := range s.Assets {
		if _, manual := out[a.ID]; manual {
			continue
		}
		add := func(how string, ds []*Device) {
			for _, d := range ds {
				cur, ok := s.Links[a.ID]
				pairs = append(pairs, pair{a, d, how, ok && cur.DeviceID == d.ID && cur.How == how})
			}
		}
		if a.Serial != "" {
			add(LinkSerial, bySerial[a.Serial])
		}
		if a.SerialUUID != "" {
			add(LinkUUID, byUUID[a.SerialUUID])
		}
		if a.SerialMAC != "" {
			add(LinkMAC, byMAC[a.SerialMAC])
		}
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := cmp.Compare(linkRank(x.how), linkRank(y.how)); c != 0 {
			return c
		}
		if x.kept != y.kept {
			if x.kept {
				return -1
			}
			return 1
		}
		if c := strings.Compare(y.d.LastSeen, x.d.LastSeen); c != 0 {
			return c
		}
		if c := strings.Compare(x.a.Tag, y.a.Tag); c != 0 {
			return c
		}
		return strings.Compare(x.d.ID, y.d.ID)
	})
	for _, p := range pairs {
		if _, done := out[p.a.ID]; done || takenDev[p.d.ID] {
			continue
		}
		l := Link{AssetID: p.a.ID, DeviceID: p.d.ID, How: p.how}
		if cur, ok := s.Links[p.a.ID]; ok && cur.DeviceID == p.d.ID && cur.How == p.how {
			l.LinkedAt = cur.LinkedAt
		}
		out[p.a.ID] = l
		takenDev[p.d.ID] = true
	}
	return out
}
