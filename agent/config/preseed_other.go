//go:build !windows

package config

// DeleteRegistrySecret has nothing to do where there is no registry.
func DeleteRegistrySecret() error { return nil }
