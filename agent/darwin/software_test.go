package darwin

import (
	"testing"
)

func TestParseInfoPlist(t *testing.T) {
	t.Parallel()
	got, err := parseInfoPlist(fixture(t, "app-info-plist/Safari-Info.plist"))
	if err != nil {
		t.Fatal(err)
	}
	want := bundleInfo{Identifier: "com.apple.Safari", Name: "Safari", DisplayName: "Safari", ShortVersion: "15.6", Version: "17613.3.9.1.5"}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseInfoPlist(fixture(t, "updates/softwareupdate-list-no-updates.txt")); err == nil {
		t.Error("softwareupdate text parsed as Info.plist, want an error")
	}
}

// No real package receipt is captured; a receipt parser must at least
// refuse the real plists that are not receipts.
func TestParseReceiptRejectsOtherPlists(t *testing.T) {
	t.Parallel()
	for name, b := range allFixtures(t) {
		if got, err := parseReceipt(b); err == nil {
			t.Errorf("%s: got %+v, nil error; want an error", name, got)
		}
	}
}

func TestAppPublisher(t *testing.T) {
	t.Parallel()
	// Leaf certificates as they appear in the SPApplicationsDataType capture.
	tests := []struct {
		signedBy []string
		want     string
	}{
		{[]string{"Developer ID Application: Chef Software, Inc. (EU3VF8YLX2)", "Developer ID Certification Authority", "Apple Root CA"}, "Chef Software, Inc."},
		{[]string{"Software Signing", "Apple Code Signing Certification Authority", "Apple Root CA"}, "Apple Inc."},
		{[]string{"Apple Mac OS Application Signing", "Apple Worldwide Developer Relations Certification Authority", "Apple Root CA"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := appPublisher(spApp{SignedBy: tt.signedBy}); got != tt.want {
			t.Errorf("appPublisher(%q): got %q, want %q", tt.signedBy, got, tt.want)
		}
	}
}

func FuzzParseInfoPlist(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseInfoPlist(b) })
}

func FuzzParseReceipt(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseReceipt(b) })
}
