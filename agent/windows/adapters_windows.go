//go:build windows

package windows

import (
	"context"
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/windows"
)

// LiveAdapters lists the running machine's network adapters with
// GetAdaptersAddresses (every address family, all interfaces) and reads
// each one's MIB_IF_ROW2 flags with GetIfEntry2Ex.
func LiveAdapters(ctx context.Context) ([]Adapter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	const flags = windows.GAA_FLAG_SKIP_UNICAST | windows.GAA_FLAG_SKIP_ANYCAST |
		windows.GAA_FLAG_SKIP_MULTICAST | windows.GAA_FLAG_SKIP_DNS_SERVER | windows.GAA_FLAG_INCLUDE_ALL_INTERFACES
	size := uint32(15 << 10)
	var buf []byte
	for range 4 {
		buf = make([]byte, size)
		err := windows.GetAdaptersAddresses(windows.AF_UNSPEC, flags, 0, (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0])), &size)
		if err == nil {
			break
		}
		if !errors.Is(err, windows.ERROR_BUFFER_OVERFLOW) {
			return nil, fmt.Errorf("GetAdaptersAddresses: %w", err)
		}
		buf = nil
	}
	if buf == nil {
		return nil, errors.New("GetAdaptersAddresses: the adapter list kept growing")
	}
	var out []Adapter
	for aa := (*windows.IpAdapterAddresses)(unsafe.Pointer(&buf[0])); aa != nil; aa = aa.Next {
		a := Adapter{
			IfIndex:      aa.IfIndex,
			AdapterName:  windows.BytePtrToString(aa.AdapterName),
			FriendlyName: windows.UTF16PtrToString(aa.FriendlyName),
			Description:  windows.UTF16PtrToString(aa.Description),
			IfType:       aa.IfType,
			TunnelType:   aa.TunnelType,
			OperStatus:   aa.OperStatus,
		}
		if n := aa.PhysicalAddressLength; n > 0 && int(n) <= len(aa.PhysicalAddress) {
			a.PhysicalAddress = net.HardwareAddr(aa.PhysicalAddress[:n]).String()
		}
		idx := aa.IfIndex
		if idx == 0 {
			idx = aa.Ipv6IfIndex
		}
		row := windows.MibIfRow2{InterfaceIndex: idx}
		if err := windows.GetIfEntry2Ex(windows.MibIfEntryNormalWithoutStatistics, &row); err == nil {
			// InterfaceAndOperStatusFlags: bit 0 HardwareInterface,
			// bit 2 ConnectorPresent (netioapi.h).
			hw := row.InterfaceAndOperStatusFlags&0x01 != 0
			conn := row.InterfaceAndOperStatusFlags&0x04 != 0
			a.HardwareInterface, a.ConnectorPresent = &hw, &conn
		}
		out = append(out, a)
	}
	return out, nil
}
