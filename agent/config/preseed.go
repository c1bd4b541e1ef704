package config

import (
	"fmt"
	"strings"
)

// RegistryKey is where the Windows installer (the MSI) pre-seeds the
// enrolment and records the install method, as REG_SZ values named by the
// Reg constants.
const RegistryKey = `HKLM\SOFTWARE\Roster\Agent`

// Values under RegistryKey.
const (
	RegCollectorURL  = "CollectorURL"
	RegCAFingerprint = "CAFingerprint"
	RegSecret        = "Secret"
	RegSecretFile    = "SecretFile"
	RegTags          = "Tags"
	RegInstallMethod = "InstallMethod"
)

// RegistrySeed is what RegistryKey holds.
type RegistrySeed struct {
	// Enroll is the enrolment the values describe (zero when none).
	Enroll Enroll
	// Secret is the Secret value; the agent deletes it after a
	// successful enrolment.
	Secret string
	// InstallMethod is the InstallMethod value (msi).
	InstallMethod string
}

// ParseRegistry reads the values of RegistryKey (name → REG_SZ string).
// CollectorURL may list several collectors separated by commas, like
// Tags; empty values count as absent. The result is checked as an enroll
// section of the config file is.
func ParseRegistry(values map[string]string) (RegistrySeed, error) {
	get := func(name string) string { return strings.TrimSpace(values[name]) }
	var s RegistrySeed
	switch urls := splitComma(get(RegCollectorURL)); len(urls) {
	case 0:
	case 1:
		s.Enroll.Collector = urls[0]
	default:
		s.Enroll.Collectors = urls
	}
	s.Enroll.CAFingerprint = get(RegCAFingerprint)
	s.Enroll.SecretFile = get(RegSecretFile)
	s.Enroll.Tags = splitComma(get(RegTags))
	s.Secret = get(RegSecret)
	s.InstallMethod = strings.ToLower(get(RegInstallMethod))
	if err := joinErrs(s.Enroll.validate()); err != nil {
		return s, fmt.Errorf("registry %s: %w", RegistryKey, err)
	}
	return s, nil
}

// Empty reports whether the registry pre-seeds no enrolment.
func (s RegistrySeed) Empty() bool {
	return len(s.Enroll.URLs()) == 0 && s.Enroll.CAFingerprint == "" && s.Enroll.SecretFile == "" && s.Secret == ""
}

// Merge fills what e leaves empty from the registry's enrolment: the
// config file, which an administrator edits by hand, wins field by field.
func (e Enroll) Merge(reg Enroll) Enroll {
	if len(e.URLs()) == 0 {
		e.Collector, e.Collectors = reg.Collector, reg.Collectors
	}
	if e.CAFingerprint == "" {
		e.CAFingerprint = reg.CAFingerprint
	}
	if e.SecretFile == "" {
		e.SecretFile = reg.SecretFile
	}
	if len(e.Tags) == 0 {
		e.Tags = reg.Tags
	}
	return e
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
