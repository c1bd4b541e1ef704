package hardware

import (
	"fmt"

	"github.com/rosterhq/roster/agent/host"
	"github.com/rosterhq/roster/shared/identity"
	"github.com/rosterhq/roster/shared/wire"
)

// readNICs lists the physical network interfaces: those with a "device"
// link in sysfs. Loopback, bridges, bonds, veth, tun/tap, ifb and other
// software interfaces have none.
func readNICs(h *host.Host) ([]wire.NIC, error) {
	ents, err := h.ReadDir("/sys/class/net")
	if err != nil {
		return nil, fmt.Errorf("list /sys/class/net: %w", err)
	}
	var nics []wire.NIC
	for _, e := range ents {
		name := e.Name()
		dir := "/sys/class/net/" + name
		if !h.Exists(dir + "/device") {
			continue
		}
		if mac := nicMAC(h, dir); mac != "" {
			nics = append(nics, wire.NIC{Name: name, MAC: mac})
		}
	}
	return nics, nil
}

// nicMAC returns the interface's burned-in address where sysfs has it. A
// bond member carries the bond's address (addr_assign_type "set" or
// "stolen"); the bonding driver keeps the member's own in
// bonding_slave/perm_hwaddr. Without that, a random, stolen or set address
// is still the best sysfs offers (the permanent one needs an ethtool
// ioctl), so it is kept.
func nicMAC(h *host.Host, dir string) string {
	if perm, err := h.ReadString(dir + "/bonding_slave/perm_hwaddr"); err == nil {
		if m := identity.MAC(perm); m != "" {
			return m
		}
	}
	cur, _ := h.ReadString(dir + "/address")
	return identity.MAC(cur)
}
