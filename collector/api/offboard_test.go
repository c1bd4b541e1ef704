package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/collector/registry"
	"github.com/rosterhq/roster/collector/registry/registrytest"
	"github.com/rosterhq/roster/shared/wire"
)

type wipeOut struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	DeviceID      string `json:"device_id"`
	FailureReason string `json:"failure_reason"`
}

func decodeLoose[T any](t *testing.T, r response, status int) T {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

func (f *fixture) commandStatus(t *testing.T, a agent, st any) response {
	t.Helper()
	return f.do(t, a.client, "POST", "/api/v1/agent/commands/status", mustJSON(st), heartbeatHeaders)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// verifyCommand checks a signed command the way an agent must: the key id
// names the published key and the signature verifies over the payload.
func verifyCommand(t *testing.T, pub ed25519.PublicKey, sc wire.SignedCommand) wire.Command {
	t.Helper()
	sum := sha256.Sum256(pub)
	if want := "ed25519:" + hex.EncodeToString(sum[:8]); sc.KeyID != want {
		t.Errorf("key id %s, want %s", sc.KeyID, want)
	}
	sig, err := base64.StdEncoding.DecodeString(sc.Signature)
	if err != nil || !ed25519.Verify(pub, sc.Payload, sig) {
		t.Fatalf("command signature does not verify with the published key (%v)", err)
	}
	var c wire.Command
	if err := json.Unmarshal(sc.Payload, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestWipeOverAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	sec := f.newSecret(t, "1h")

	// The enrolment hands out the command-signing public key.
	req, _ := f.enrollReq(t, sec.Secret, wire.Identity{Platform: "linux", SystemSerial: "OTHER-MACHINE-1"})
	er := decode[wire.EnrollResponse](t, f.do(t, f.client(t, nil), "POST", "/api/v1/enroll", marshal(t, req), map[string]string{"Content-Type": "application/json"}), http.StatusCreated)
	pubBytes, err := base64.StdEncoding.DecodeString(er.CommandKey)
	if err != nil || len(pubBytes) != ed25519.PublicKeySize {
		t.Fatalf("enrolment command_key %q: %v, want a base64 Ed25519 key", er.CommandKey, err)
	}
	pub := ed25519.PublicKey(pubBytes)

	a := f.enroll(t, sec.Secret, wire.IdentityOf(snap))
	f.report(t, a, fullReport(t, snap, 1))
	w := decode[registry.Wipe](t, f.admin(t, "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "HR-123", "reason": "leaver", "deadline": "14d"}), http.StatusCreated)
	if w.State != registry.WipeRequested || w.DeviceID != a.deviceID || !w.Deadline.Equal(w.IssuedAt.Add(14*24*time.Hour)) {
		t.Fatalf("started wipe = %+v", w)
	}

	// Queued for the next ack, report or heartbeat alike, signed.
	hb := f.heartbeat(t, a, wire.Heartbeat{ProtocolVersion: wire.ProtocolVersion})
	ack := f.report(t, a, fullReport(t, snap, 2))
	for name, cmds := range map[string][]wire.SignedCommand{"heartbeat": hb.Commands, "report": ack.Commands} {
		if len(cmds) != 1 {
			t.Fatalf("%s ack carries %d commands, want 1", name, len(cmds))
		}
		c := verifyCommand(t, pub, cmds[0])
		if c.ID != w.ID || c.DeviceID != a.deviceID || c.Kind != wire.CommandWipe || c.Nonce == "" || c.Wipe == nil || c.Wipe.Ticket != "HR-123" {
			t.Errorf("%s command = %+v, want wipe %s bound to %s", name, c, w.ID, a.deviceID)
		}
	}
	// A tampered payload fails the same check an agent makes.
	bad := ack.Commands[0]
	bad.Payload = bytes.Replace(bad.Payload, []byte(a.deviceID), []byte(strings.Repeat("0", len(a.deviceID))), 1)
	if sig, _ := base64.StdEncoding.DecodeString(bad.Signature); ed25519.Verify(pub, bad.Payload, sig) {
		t.Error("a command for another device verifies with the original signature")
	}

	steps := []struct {
		body   any
		status int
		code   string
	}{
		{wire.CommandStatus{CommandID: w.ID, Status: wire.CommandDelivered, At: time.Now()}, 200, ""},
		{wire.CommandStatus{CommandID: w.ID, Status: wire.CommandInProgress, At: time.Now()}, 200, ""},
		{wire.CommandStatus{CommandID: w.ID, Status: wire.CommandDelivered, At: time.Now()}, 409, "conflict"},
		{wire.CommandStatus{CommandID: w.ID, Status: "exploded"}, 400, "bad_parameter"},
		{wire.CommandStatus{CommandID: "7b1c2a9e-0000-4000-8000-000000000000", Status: wire.CommandDelivered}, 404, "not_found"},
		{map[string]any{"command_id": w.ID, "status": "delivered", "extra": 1}, 400, "unknown_field"},
		{wire.CommandStatus{Status: wire.CommandDelivered}, 400, "bad_request"},
	}
	for i, s := range steps {
		r := f.commandStatus(t, a, s.body)
		if r.status != s.status || (s.code != "" && r.errCode(t) != s.code) {
			t.Errorf("step %d: %d %s, want %d %s", i, r.status, r.body, s.status, s.code)
		}
	}
	ev := &wire.WipeEvidence{Method: "NIST SP 800-88 purge: cryptographic erase", Tool: "cryptsetup", ToolVersion: "2.7.0",
		Volumes: []wire.WipedVolume{{Device: "/dev/loop3", LUKSVersion: 2, LUKSUUID: "u-1", KeyslotsBefore: 1, KeyslotsAfter: 0, Result: wire.WipeErased}}}
	if r := f.commandStatus(t, a, wire.CommandStatus{CommandID: w.ID, Status: wire.CommandCompleted, Evidence: ev}); r.status != 200 || string(bytes.TrimSpace(r.body)) != "{}" {
		t.Fatalf("completed: %d %s", r.status, r.body)
	}
	got := decodeLoose[wipeOut](t, f.admin(t, "GET", "/api/v1/wipes/"+a.deviceID, nil), http.StatusOK)
	if got.ID != w.ID || got.State != registry.WipeCompleted {
		t.Errorf("wipe by device = %+v, want %s completed", got, w.ID)
	}
	// Completed revokes the device: its certificate is refused now.
	if r := f.do(t, a.client, "POST", "/api/v1/agent/report", gz(t, marshal(t, fullReport(t, snap, 3)), 6), reportHeaders); r.status != http.StatusForbidden {
		t.Errorf("report after the wipe: %d, want 403", r.status)
	}

	// The certificate verifies with the published key, and not once changed.
	sc := decode[wire.SignedCertificate](t, f.admin(t, "GET", "/api/v1/wipes/"+w.ID+"/certificate", nil), http.StatusOK)
	sig, _ := base64.StdEncoding.DecodeString(sc.Signature)
	var compact bytes.Buffer
	json.Compact(&compact, sc.Certificate)
	if !ed25519.Verify(pub, compact.Bytes(), sig) || sc.KeyID != f.ca.Command.KeyID() {
		t.Fatalf("certificate signature does not verify (key id %s)", sc.KeyID)
	}
	var cert registry.SanitisationCertificate
	if err := json.Unmarshal(sc.Certificate, &cert); err != nil {
		t.Fatal(err)
	}
	if cert.WipeRequestID != w.ID || cert.SanitisationDescription != "Purge" || len(cert.Volumes) != 1 || !strings.Contains(cert.Method, "Cryptographic Erase") || cert.EvidenceSHA256 == "" {
		t.Errorf("certificate = %+v", cert)
	}
	tampered := bytes.Replace(compact.Bytes(), []byte(`"Purge"`), []byte(`"Clear"`), 1)
	if ed25519.Verify(pub, tampered, sig) {
		t.Error("a changed certificate still verifies")
	}
	r := f.admin(t, "GET", "/api/v1/wipes/"+w.ID+"/certificate?format=html", nil)
	if r.status != 200 || !bytes.Contains(r.body, []byte("Certificate of Sanitization")) || !bytes.Contains(r.body, []byte(w.ID)) || !bytes.Contains(r.body, []byte(sc.KeyID)) {
		t.Errorf("html certificate: %d %.200s", r.status, r.body)
	}
}

func TestWipeAPIRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, tls.VerifyClientCertIfGiven)
	snap := registrytest.Rich(t)
	a := f.enroll(t, f.newSecret(t, "1h").Secret, wire.IdentityOf(snap))
	f.report(t, a, fullReport(t, snap, 1))
	_, helpdesk, err := f.reg.CreateToken(context.Background(), registry.TokenInput{Principal: "hd", Role: "helpdesk"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	w := decode[registry.Wipe](t, f.admin(t, "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "HR-1", "reason": "leaver"}), http.StatusCreated)
	tests := []struct {
		name, method, path string
		body               any
		token              string
		status             int
		code               string
	}{
		{"unknown field", "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "T", "reason": "r", "colour": "red"}, "", 400, "unknown_field"},
		{"no device", "POST", "/api/v1/wipes", map[string]any{"ticket": "T", "reason": "r"}, "", 400, "bad_request"},
		{"bad deadline", "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "T", "reason": "r", "deadline": "soon"}, "", 400, "bad_request"},
		{"already under way", "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "T", "reason": "r"}, "", 409, "conflict"},
		{"helpdesk cannot start", "POST", "/api/v1/wipes", map[string]any{"device": a.deviceID, "ticket": "T", "reason": "r"}, helpdesk, 403, "forbidden"},
		{"helpdesk can read", "GET", "/api/v1/wipes/" + w.ID, nil, helpdesk, 200, ""},
		{"unknown wipe", "GET", "/api/v1/wipes/nothing", nil, "", 404, "not_found"},
		{"certificate before completion", "GET", "/api/v1/wipes/" + w.ID + "/certificate", nil, "", 409, "conflict"},
		{"certificate format", "GET", "/api/v1/wipes/" + w.ID + "/certificate?format=pdf", nil, "", 400, "bad_parameter"},
		{"record without performer", "POST", "/api/v1/wipes/" + w.ID + "/record", map[string]any{"method": "m", "tool": "t", "verified_by": "v"}, "", 400, "bad_parameter"},
		{"record with bad evidence", "POST", "/api/v1/wipes/" + w.ID + "/record", map[string]any{"method": "m", "tool": "t", "performed_by": "p", "verified_by": "v", "evidence": "%%"}, "", 400, "bad_request"},
		{"cancel", "POST", "/api/v1/wipes/" + w.ID + "/cancel", nil, "", 200, ""},
		{"cancel twice", "POST", "/api/v1/wipes/" + w.ID + "/cancel", nil, "", 409, "conflict"},
	}
	for _, tt := range tests {
		tok := f.token
		if tt.token != "" {
			tok = tt.token
		}
		var b []byte
		if tt.body != nil {
			b = marshal(t, tt.body)
		}
		r := f.do(t, f.client(t, nil), tt.method, tt.path, b, map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
		if r.status != tt.status || (tt.code != "" && r.errCode(t) != tt.code) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, r.status, r.body, tt.status, tt.code)
		}
	}
	// The agent endpoint needs a client certificate.
	if r := f.do(t, f.client(t, nil), "POST", "/api/v1/agent/commands/status", mustJSON(wire.CommandStatus{CommandID: w.ID, Status: "delivered"}), heartbeatHeaders); r.status != http.StatusUnauthorized {
		t.Errorf("status without a certificate: %d, want 401", r.status)
	}
}
