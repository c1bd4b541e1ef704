package api_test

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

// Names, labels, reasons and tickets that people type are refused with a
// 400 naming the field, the character and where it is (shared/fieldtext).
func TestControlCharactersRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	for _, tc := range []struct {
		name, path string
		body       map[string]any
		want       string
	}{
		{"secret label with ESC", "/api/v1/secrets", map[string]any{"label": "site\x1b[2J"},
			"label: control character U+001B at position 5 is not allowed"},
		{"asset model with a bidi override", "/api/v1/assets", map[string]any{"asset_tag": "LAP-1", "status": "in_stock", "model": "X\u202eY"},
			"model: bidirectional control U+202E at position 2 is not allowed"},
		{"asset tag with a line break", "/api/v1/assets", map[string]any{"asset_tag": "LAP\n2", "status": "in_stock"},
			"asset_tag: line break U+000A at position 4 is not allowed"},
		{"wipe ticket with NUL", "/api/v1/wipes", map[string]any{"device": "LAP-1", "ticket": "T\x00", "reason": "leaver"},
			"ticket: control character U+0000 at position 2 is not allowed"},
		{"exception reason with C1 CSI", "/api/v1/exceptions", map[string]any{"policy_id": "CFG-ENC-01", "device": "d1", "reason": "r\u009b2J",
			"compensating_control": "VLAN", "expires_in": "7d"},
			"reason: control character U+009B at position 2 is not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.admin(t, http.MethodPost, tc.path, tc.body)
			if r.status != http.StatusBadRequest {
				t.Fatalf("got status %d, want 400: %s", r.status, r.body)
			}
			// The asset endpoints list row errors beside the message.
			if !bytes.Contains(r.body, []byte(tc.want)) {
				t.Errorf("got %s, want a message with %q", r.body, tc.want)
			}
		})
	}
}

// What an agent reports is not refused (a device cannot be told to rename
// itself): identity strings are cleaned (shared/identity), other text such
// as package names is kept as reported and served JSON-escaped; rosterctl
// escapes both again for a terminal (collector/ctl).
func TestAgentTextWithEscapesIsAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	const pkg = "evil\x1b]0;pwned\x07\u202epkg"
	snap.Hardware.Hostname = "host\x1b[2J\x00"
	snap.Software.Packages[0].Name = pkg
	a := f.enroll(t, f.newSecret(t, "").Secret, wire.IdentityOf(snap))
	if ack := f.report(t, a, fullReport(t, snap, 1)); ack.Status != wire.AckApplied {
		t.Fatalf("report: %+v, want applied", ack)
	}
	for _, path := range []string{"/api/v1/devices/" + a.deviceID, "/api/v1/devices/" + a.deviceID + "/software?limit=1000"} {
		r := f.admin(t, http.MethodGet, path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, r.status, r.body)
		}
		if bytes.ContainsAny(r.body, "\x1b\x07\x00") {
			t.Errorf("%s: JSON holds raw C0 control characters: %q", path, r.body)
		}
	}
	var sw struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	r := f.admin(t, http.MethodGet, "/api/v1/devices/"+a.deviceID+"/software?limit=1000", nil)
	if err := json.Unmarshal(r.body, &sw); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range sw.Items {
		found = found || it.Name == pkg
	}
	if !found {
		t.Errorf("package %q not served as reported: %s", pkg, r.body)
	}
}
