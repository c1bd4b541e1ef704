package darwin

import (
	"bufio"
	"bytes"
	"regexp"
	"strconv"
	"strings"

	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// ifconfigIface is one interface in `ifconfig` output.
type ifconfigIface struct {
	Name   string
	Flags  []string
	MAC    string // the "ether" line, normalised; "" when there is none
	Status string // "active", "inactive" or "" when not printed
}

// ifaceHeader matches "en0: flags=8863<UP,BROADCAST,...> mtu 1500".
var ifaceHeader = regexp.MustCompile(`^([A-Za-z0-9_.-]+): flags=[0-9a-fA-F]+<([^>]*)>`)

// parseIfconfig reads macOS `ifconfig` output (with no arguments it lists
// every interface, as -a does). An interface starts with an unindented
// "name: flags=..." line; its details are the indented lines below it.
func parseIfconfig(b []byte) []ifconfigIface {
	var out []ifconfigIface
	var cur *ifconfigIface
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		raw := sc.Text()
		if m := ifaceHeader.FindStringSubmatch(raw); m != nil {
			var flags []string
			if m[2] != "" {
				flags = strings.Split(m[2], ",")
			}
			out = append(out, ifconfigIface{Name: m[1], Flags: flags})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil || raw == "" || (raw[0] != '\t' && raw[0] != ' ') {
			continue
		}
		fields := strings.Fields(raw)
		switch {
		case len(fields) >= 2 && fields[0] == "ether" && cur.MAC == "":
			cur.MAC = identity.MAC(fields[1])
		case len(fields) >= 2 && fields[0] == "status:":
			cur.Status = fields[1]
		}
	}
	return out
}

// physicalNICs picks the interfaces that are network hardware with a burnt-in
// address, in ifconfig's order:
//   - named enN (Ethernet, Wi-Fi, Thunderbolt ports): lo, gif, stf, bridge,
//     utun, awdl, llw, p2p, ap, anpi, vmenet and the XHC/VHC USB entries are
//     loopback, tunnels, bridges or Apple's peer-to-peer and helper links;
//   - with a globally administered MAC: Thunderbolt bridge members (en1-en4
//     on many Macs) carry locally administered addresses that macOS makes up,
//     and an address that is not the hardware's must not link a device to an
//     asset;
//   - not the T2 chip's internal USB Ethernet ("iBridge", OUI ac:de:48),
//     which is a link between the Mac and its own security chip.
func physicalNICs(ifaces []ifconfigIface) []wire.NIC {
	var nics []wire.NIC
	for _, i := range ifaces {
		if !isEnN(i.Name) || i.MAC == "" || strings.HasPrefix(i.MAC, "ac:de:48:") {
			continue
		}
		first, err := strconv.ParseUint(i.MAC[:2], 16, 8)
		if err != nil || first&0x02 != 0 {
			continue
		}
		nics = append(nics, wire.NIC{Name: i.Name, MAC: i.MAC})
	}
	return nics
}

// isEnN reports whether name is "en" followed by digits only.
func isEnN(name string) bool {
	n, ok := strings.CutPrefix(name, "en")
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
