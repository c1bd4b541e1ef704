package darwin

import (
	"errors"
	"fmt"
	"strings"

	"howett.net/plist"
)

// systemVersion is /System/Library/CoreServices/SystemVersion.plist, the
// file sw_vers prints.
type systemVersion struct {
	ProductName               string `plist:"ProductName"`
	ProductVersion            string `plist:"ProductVersion"`
	ProductUserVisibleVersion string `plist:"ProductUserVisibleVersion"`
	ProductBuildVersion       string `plist:"ProductBuildVersion"`
	// ProductVersionExtra is the Rapid Security Response suffix, "(a)".
	ProductVersionExtra string `plist:"ProductVersionExtra"`
}

// parseSystemVersion parses SystemVersion.plist (XML or binary).
func parseSystemVersion(b []byte) (systemVersion, error) {
	var sv systemVersion
	if _, err := plist.Unmarshal(b, &sv); err != nil {
		return systemVersion{}, fmt.Errorf("decode SystemVersion.plist: %w", err)
	}
	if strings.TrimSpace(sv.ProductVersion) == "" {
		return systemVersion{}, errors.New("SystemVersion.plist has no ProductVersion")
	}
	return sv, nil
}

// macOSCodename names a macOS release from its version; "" when unknown.
func macOSCodename(version string) string {
	major, rest, _ := strings.Cut(version, ".")
	if major == "10" {
		minor, _, _ := strings.Cut(rest, ".")
		major = "10." + minor
	}
	switch major {
	case "10.12":
		return "Sierra"
	case "10.13":
		return "High Sierra"
	case "10.14":
		return "Mojave"
	case "10.15":
		return "Catalina"
	case "11":
		return "Big Sur"
	case "12":
		return "Monterey"
	case "13":
		return "Ventura"
	case "14":
		return "Sonoma"
	case "15":
		return "Sequoia"
	case "26":
		return "Tahoe"
	}
	return ""
}
