//go:build windows

package config

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

const registrySubkey = `SOFTWARE\Roster\Agent`

// DeleteRegistrySecret removes the Secret value under RegistryKey once the
// enrolment it served succeeded; a value already gone is fine.
func DeleteRegistrySecret() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, registrySubkey, registry.SET_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open registry %s: %w", RegistryKey, err)
	}
	defer k.Close()
	if err := k.DeleteValue(RegSecret); err != nil && !errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("delete registry %s\\%s: %w", RegistryKey, RegSecret, err)
	}
	return nil
}
