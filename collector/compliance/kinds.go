package compliance

import (
	"fmt"
	"strings"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// check runs the policy's test on in-scope, current facts and returns pass,
// fail or unknown with the reason; a CEL policy reads cel's copy of in.
func (c *compiled) check(in *Input, cel *celInput) (status, reason string) {
	f := &in.Facts
	switch c.Kind {
	case KindDiskEncryption:
		return checkEncryption(f, c.Params.Scope)
	case KindMaxDaysSinceUpdate:
		if f.OS.LastUpdateAt == nil {
			return StatusUnknown, "last update time unknown: " + f.reason("os.last_update_at")
		}
		return checkAge("last update", in.Now.Sub(*f.OS.LastUpdateAt), c.Params.Days)
	case KindMaxDaysSinceCheckin:
		if in.LastSeen.IsZero() {
			return StatusUnknown, "the device has never checked in"
		}
		return checkAge("last check-in", in.Now.Sub(in.LastSeen), c.Params.Days)
	case KindMinOSVersion:
		return c.checkOSVersion(f)
	case KindMaxPendingSecurityUpdates:
		n, limit := f.OS.PendingSecurityUpdates, *c.Params.Count
		if n == nil {
			return StatusUnknown, "pending security updates unknown: " + f.reason("os.pending_security_updates")
		}
		if *n > limit {
			return StatusFail, fmt.Sprintf("%d pending security updates, limit %d", *n, limit)
		}
		return StatusPass, fmt.Sprintf("%d pending security updates, limit %d", *n, limit)
	case KindRequiredSoftware:
		return c.checkRequired(in)
	case KindBannedSoftware:
		return c.checkBanned(in)
	case KindCEL:
		return c.checkCEL(cel.get(in))
	}
	return StatusUnknown, "unknown policy kind " + c.Kind
}

// checkAge compares an age with a limit in whole days; an age in the future
// (a skewed clock) counts as zero.
func checkAge(what string, age time.Duration, limit int) (string, string) {
	n := max(int(age/(24*time.Hour)), 0)
	reason := fmt.Sprintf("%s %d days ago, limit %d", what, n, limit)
	if n > limit {
		return StatusFail, reason
	}
	return StatusPass, reason
}

// checkEncryption requires the system volume ("system") or every fixed
// volume ("all_fixed") to be encrypted with protection on. A known
// unencrypted volume fails even when others are unknown.
func checkEncryption(f *Facts, scope string) (string, string) {
	e := f.Encryption
	if e == nil {
		return StatusUnknown, "encryption state unknown: " + f.reason("encryption")
	}
	vols := []VolumeFacts{e.System}
	if scope == "all_fixed" && len(e.Volumes) > 0 {
		vols = e.Volumes
	}
	var failed, unknown, ok []string
	for _, v := range vols {
		switch st, why := volumeState(v); st {
		case StatusFail:
			failed = append(failed, why)
		case StatusUnknown:
			unknown = append(unknown, why)
		default:
			ok = append(ok, why)
		}
	}
	switch {
	case len(failed) > 0:
		return StatusFail, strings.Join(failed, "; ")
	case len(unknown) > 0:
		return StatusUnknown, strings.Join(unknown, "; ")
	case scope == "all_fixed" && len(ok) > 1:
		return StatusPass, fmt.Sprintf("all %d fixed volumes are encrypted", len(ok))
	}
	return StatusPass, strings.Join(ok, "; ")
}

// volumeState judges one volume: encrypted with protection on passes;
// encrypting, decrypting or suspended protection fails (the data is not
// protected yet, or no longer); unknown stays unknown with the agent's reason.
func volumeState(v VolumeFacts) (string, string) {
	name := volumeName(v)
	switch {
	case v.Encrypted == wire.No:
		return StatusFail, name + " is not encrypted"
	case v.Encrypted != wire.Yes:
		why := v.Reason
		if why == "" {
			why = "not reported"
		}
		return StatusUnknown, name + ": encryption unknown: " + why
	case v.Status == wire.StateEncrypting || v.Status == wire.StateDecrypting || v.Status == wire.StateSuspended:
		return StatusFail, name + " encryption is " + v.Status
	}
	scheme := ""
	if v.Scheme != "" {
		scheme = " (" + v.Scheme + ")"
	}
	return StatusPass, name + " is encrypted" + scheme
}

// volumeName names a volume for a reason: "root volume /dev/vda",
// "system volume C:", "volume /data (/dev/sdb1)".
func volumeName(v VolumeFacts) string {
	switch {
	case v.System && v.Mount == "/" && v.Device != "":
		return "root volume " + v.Device
	case v.System && v.Mount == "/":
		return "root volume /"
	case v.System && v.Mount != "":
		return "system volume " + v.Mount
	case v.System:
		return "system volume"
	case v.Device != "":
		return "volume " + v.Mount + " (" + v.Device + ")"
	}
	return "volume " + v.Mount
}

// osKeys are the Versions keys tried for a device, most specific first:
// Windows Server has its own key because its support dates differ from the
// client's while its os id ("windows") and version scheme are the same.
func osKeys(f *Facts) []string {
	var keys []string
	if f.OS.ID == "windows" && strings.Contains(f.OS.Name, "Windows Server") {
		keys = append(keys, "windows-server")
	}
	if f.OS.ID != "" {
		keys = append(keys, f.OS.ID)
	}
	return append(keys, f.Device.Platform)
}

func (c *compiled) checkOSVersion(f *Facts) (string, string) {
	if f.OS.ID == "" && f.OS.Version == "" {
		return StatusUnknown, "operating system unknown: " + f.reason("os.id")
	}
	name := osLabel(f)
	for _, key := range osKeys(f) {
		min, ok := c.Params.Versions[key]
		if !ok {
			continue
		}
		if min == "*" {
			return StatusPass, name + ": any version of " + key + " is accepted"
		}
		if f.OS.Version == "" {
			return StatusUnknown, name + ": version unknown: " + f.reason("os.version")
		}
		if CompareVersions(f.OS.Version, min) < 0 {
			return StatusFail, fmt.Sprintf("%s %s is older than the minimum %s", name, f.OS.Version, min)
		}
		return StatusPass, fmt.Sprintf("%s %s, minimum %s", name, f.OS.Version, min)
	}
	if c.Params.Unlisted == StatusNotApplicable {
		return StatusNotApplicable, name + " is not listed in the policy"
	}
	return StatusFail, fmt.Sprintf("%s %s is not a supported operating system (not listed in the policy)", name, f.OS.Version)
}

func osLabel(f *Facts) string {
	if f.OS.Name != "" {
		return f.OS.Name
	}
	if f.OS.ID != "" {
		return f.OS.ID
	}
	return f.Device.Platform
}

// softwareUnknown says why software policies cannot be judged, or "".
func softwareUnknown(in *Input) string {
	if in.Facts.Packages == nil || in.Software == nil {
		return "software inventory unknown: " + in.Facts.reason("software")
	}
	return ""
}

// lookupSoftware returns the packages matching pattern, or why it cannot
// tell: no inventory, or a failed lookup.
func lookupSoftware(in *Input, pattern string) ([]wire.Package, string) {
	if why := softwareUnknown(in); why != "" {
		return nil, why
	}
	pkgs, err := in.Software.Match(pattern)
	if err != nil {
		return nil, "software lookup: " + err.Error()
	}
	return pkgs, ""
}

func (c *compiled) checkRequired(in *Input) (string, string) {
	pkgs, why := lookupSoftware(in, c.Params.Name)
	if why != "" {
		return StatusUnknown, why
	}
	if len(pkgs) == 0 {
		return StatusFail, fmt.Sprintf("no installed software matches %q", c.Params.Name)
	}
	best := newest(pkgs)
	if c.Params.MinVersion != "" && CompareVersions(best.Version, c.Params.MinVersion) < 0 {
		return StatusFail, fmt.Sprintf("%s %s is older than the required %s", best.Name, best.Version, c.Params.MinVersion)
	}
	return StatusPass, strings.TrimSpace(best.Name + " " + best.Version + " is installed")
}

func (c *compiled) checkBanned(in *Input) (string, string) {
	pkgs, why := lookupSoftware(in, c.Params.Name)
	if why != "" {
		return StatusUnknown, why
	}
	var found []string
	for _, p := range pkgs {
		if c.banned == nil || c.banned.Allows(p.Version) {
			found = append(found, strings.TrimSpace(p.Name+" "+p.Version))
		}
	}
	if len(found) > 0 {
		return StatusFail, "banned software installed: " + strings.Join(found, ", ")
	}
	if c.banned != nil && len(pkgs) > 0 {
		return StatusPass, fmt.Sprintf("no installed version of %q is %s", c.Params.Name, c.banned)
	}
	return StatusPass, fmt.Sprintf("no installed software matches %q", c.Params.Name)
}
