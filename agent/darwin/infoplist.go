package darwin

import (
	"fmt"

	"howett.net/plist"
)

// bundleInfo is the part of an app bundle's Contents/Info.plist the agent uses.
type bundleInfo struct {
	Identifier   string
	Name         string
	DisplayName  string
	ShortVersion string
	Version      string
}

// parseInfoPlist parses an app's Info.plist (XML or binary). Fields other
// apps fill with other types make the whole file fail, so each field is
// read leniently.
func parseInfoPlist(b []byte) (bundleInfo, error) {
	var m map[string]any
	if _, err := plist.Unmarshal(b, &m); err != nil {
		return bundleInfo{}, fmt.Errorf("decode Info.plist: %w", err)
	}
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	return bundleInfo{
		Identifier:   str("CFBundleIdentifier"),
		Name:         str("CFBundleName"),
		DisplayName:  str("CFBundleDisplayName"),
		ShortVersion: str("CFBundleShortVersionString"),
		Version:      str("CFBundleVersion"),
	}, nil
}
