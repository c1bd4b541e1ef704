//go:build windows

package smbios

import (
	"context"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// rsmbSignature is the 'RSMB' provider, as the DWORD GetSystemFirmwareTable
// takes (the bytes of "RSMB" read big-endian).
const rsmbSignature = 'R'<<24 | 'S'<<16 | 'M'<<8 | 'B'

// ReadRSMB returns the raw SMBIOS firmware table of the running Windows
// machine: GetSystemFirmwareTable('RSMB', 0), a RawSMBIOSData header
// followed by the structure table (ParseRSMB reads it). No WMI, no cgo:
// kernel32 is loaded from the system directory only.
func ReadRSMB(ctx context.Context) ([]byte, error) {
	proc := windows.NewLazySystemDLL("kernel32.dll").NewProc("GetSystemFirmwareTable")
	if err := proc.Find(); err != nil {
		return nil, fmt.Errorf("find GetSystemFirmwareTable: %w", err)
	}
	// The first call, with no buffer, returns the size needed.
	n, _, callErr := proc.Call(rsmbSignature, 0, 0, 0)
	if n == 0 {
		return nil, fmt.Errorf("GetSystemFirmwareTable RSMB size: %w", callErr)
	}
	for range 3 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		got, _, callErr := proc.Call(rsmbSignature, 0, uintptr(unsafe.Pointer(&buf[0])), n)
		switch {
		case got == 0:
			return nil, fmt.Errorf("GetSystemFirmwareTable RSMB: %w", callErr)
		case got <= n:
			return buf[:got], nil
		}
		// The table grew between the calls: ask again with the new size.
		n = got
	}
	return nil, fmt.Errorf("GetSystemFirmwareTable RSMB: size kept changing")
}
