package compliance

import (
	"strings"
	"testing"
)

func TestRequirementAndRemedy(t *testing.T) {
	two := 2
	enc := Policy{ID: "CFG-ENC-01", Title: "Disk encryption", Kind: KindDiskEncryption, Params: Params{Scope: "system"}}
	upd := Policy{ID: "CFG-UPD-01", Kind: KindMaxDaysSinceUpdate, Params: Params{Days: 30}}
	pend := Policy{ID: "CFG-UPD-02", Kind: KindMaxPendingSecurityUpdates, Params: Params{Count: &two}}
	osv := Policy{ID: "CFG-OS-01", Kind: KindMinOSVersion, Params: Params{Versions: map[string]string{"ubuntu": "22.04", "debian": "12", "darwin": "*"}}}
	banned := Policy{ID: "SW-BAN-01", Kind: KindBannedSoftware, Params: Params{Name: "telnetd", Version: "< 2.0"}}
	own := Policy{ID: "CFG-X-01", Kind: KindCEL, Expr: "true", Description: "the firewall is on", Remedy: "Run ufw enable."}
	if got := Remedy(enc, StatusUnknown, "scope needs the classification: "+ReasonNoAsset, "linux"); !strings.Contains(got, "rosterctl assets link") {
		t.Errorf("unknown for want of an asset: remedy %q does not say to register the device", got)
	}
	for _, tc := range []struct {
		p                Policy
		status, platform string
		requirement      string
		remedy           string // a substring; "" means none
	}{
		{enc, StatusFail, "linux", "the system volume encrypted", "LUKS"},
		{enc, StatusFail, "darwin", "the system volume encrypted", "FileVault"},
		{enc, StatusFail, "windows", "the system volume encrypted", "BitLocker"},
		{enc, StatusInGrace, "windows", "the system volume encrypted", "Before the grace period ends: Turn on BitLocker"},
		{enc, StatusPass, "linux", "the system volume encrypted", ""},
		{enc, StatusNotApplicable, "linux", "the system volume encrypted", ""},
		{enc, StatusUnknown, "linux", "the system volume encrypted", "could not read"},
		{enc, StatusStale, "linux", "the system volume encrypted", "has not reported"},
		{enc, StatusExempt, "linux", "the system volume encrypted", "exception lasts"},
		{upd, StatusFail, "linux", "OS updates installed within the last 30 days", "apt upgrade"},
		{pend, StatusFail, "darwin", "at most 2 pending security updates", "Software Update"},
		{osv, StatusFail, "linux", "a supported OS: darwin (any version), debian ≥ 12, ubuntu ≥ 22.04", "Upgrade"},
		{banned, StatusFail, "linux", "telnetd < 2.0 not installed", "Remove telnetd"},
		{own, StatusFail, "linux", "the firewall is on", "Run ufw enable."},
		{own, StatusUnknown, "linux", "the firewall is on", "could not read"},
	} {
		if got := Requirement(tc.p); got != tc.requirement {
			t.Errorf("Requirement(%s) = %q, want %q", tc.p.ID, got, tc.requirement)
		}
		got := Remedy(tc.p, tc.status, "reason", tc.platform)
		if tc.remedy == "" && got != "" || !strings.Contains(got, tc.remedy) {
			t.Errorf("Remedy(%s, %s, %s) = %q, want it to contain %q", tc.p.ID, tc.status, tc.platform, got, tc.remedy)
		}
	}
}
