package windows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// AdaptersFile is where a captured host keeps the adapters the live agent
// read with GetAdaptersAddresses (and GetIfEntry2Ex), as JSON.
const AdaptersFile = "api/GetAdaptersAddresses.json"

// Adapter is one entry of GetAdaptersAddresses with the interface flags of
// its MIB_IF_ROW2, in the captured form the live code writes and the pure
// code reads. Names follow the Windows structures' fields.
type Adapter struct {
	IfIndex      uint32 `json:"if_index"`
	AdapterName  string `json:"adapter_name"` // the interface GUID
	FriendlyName string `json:"friendly_name"`
	Description  string `json:"description"`
	// IfType is the IANA ifType (IF_TYPE_ETHERNET_CSMACD = 6, ...).
	IfType     uint32 `json:"if_type"`
	TunnelType uint32 `json:"tunnel_type"`
	// PhysicalAddress is the MAC as colon-separated hex ("" when none).
	PhysicalAddress string `json:"physical_address"`
	OperStatus      uint32 `json:"oper_status"`
	// HardwareInterface and ConnectorPresent are MIB_IF_ROW2's
	// InterfaceAndOperStatusFlags (what Get-NetAdapter -Physical tests);
	// nil when GetIfEntry2Ex failed for the interface.
	HardwareInterface *bool `json:"hardware_interface"`
	ConnectorPresent  *bool `json:"connector_present"`
}

// IANA ifType values (ipifcons.h) the agent counts as physical network
// hardware: Ethernet, Wi-Fi and mobile broadband.
const (
	ifTypeEthernet  = 6
	ifTypeIEEE80211 = 71
	ifTypeWWANPP    = 243
	ifTypeWWANPP2   = 244
)

// virtualDescriptions are adapter descriptions of software adapters that
// present themselves as Ethernet; they are only consulted when the
// interface flags could not be read (ConnectorPresent is what Windows
// itself uses to tell them apart).
var virtualDescriptions = []string{
	"hyper-v virtual", "vmware virtual", "virtualbox host-only", "tap-windows", "wintun", "wireguard",
	"wan miniport", "wi-fi direct virtual", "npcap loopback", "kernel debug network adapter",
	"microsoft kernel debug", "teredo", "6to4", "isatap", "ip-https", "vethernet",
}

// ParseAdapters reads the captured form.
func ParseAdapters(b []byte) ([]Adapter, error) {
	var as []Adapter
	if err := json.Unmarshal(b, &as); err != nil {
		return nil, fmt.Errorf("decode adapters: %w", err)
	}
	return as, nil
}

// PhysicalNICs keeps the adapters that are network hardware and returns
// them as NICs, sorted by name, with the reason each other adapter was left
// out (by friendly name). An adapter is physical when its ifType is
// Ethernet, Wi-Fi or WWAN, it has a 6-byte MAC that is not all zero, and
// Windows says it has a connector (MIB_IF_ROW2 ConnectorPresent, false for
// Hyper-V/VPN/loopback adapters even when they look like Ethernet). When
// the flags are unknown, known virtual adapter descriptions are excluded
// instead.
func PhysicalNICs(as []Adapter) (nics []wire.NIC, skipped map[string]string) {
	skipped = map[string]string{}
	seen := map[string]bool{}
	for _, a := range as {
		name := a.FriendlyName
		if name == "" {
			name = a.AdapterName
		}
		why := notPhysical(a)
		if why != "" {
			skipped[name] = why
			continue
		}
		mac := identity.MAC(a.PhysicalAddress)
		if seen[name+" "+mac] {
			continue
		}
		seen[name+" "+mac] = true
		nics = append(nics, wire.NIC{Name: name, MAC: mac})
	}
	slices.SortFunc(nics, func(x, y wire.NIC) int { return strings.Compare(x.Name, y.Name) })
	return nics, skipped
}

func notPhysical(a Adapter) string {
	switch a.IfType {
	case ifTypeEthernet, ifTypeIEEE80211, ifTypeWWANPP, ifTypeWWANPP2:
	default:
		return fmt.Sprintf("ifType %d is not Ethernet, Wi-Fi or WWAN", a.IfType)
	}
	if identity.MAC(a.PhysicalAddress) == "" {
		return fmt.Sprintf("physical address %q is not a usable 6-byte MAC (absent, all zero or broadcast)", a.PhysicalAddress)
	}
	if a.ConnectorPresent != nil {
		if !*a.ConnectorPresent {
			return "no connector present: a software adapter"
		}
		return ""
	}
	d := strings.ToLower(a.Description)
	for _, v := range virtualDescriptions {
		if strings.Contains(d, v) {
			return fmt.Sprintf("description %q names a virtual adapter", a.Description)
		}
	}
	return ""
}
