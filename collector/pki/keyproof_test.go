package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/shared/wire"
)

// proofFixture is an enrolled device as the collector's CA saw it: the old
// key and certificate in the agent's state directory, and a new key and
// CSR for the re-enrolment.
type proofFixture struct {
	ca       *CA
	deviceID string
	oldKey   *ecdsa.PrivateKey
	certPEM  []byte
	cert     *x509.Certificate
	newKey   *ecdsa.PrivateKey
	csrPEM   []byte
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newProofFixture makes a CA (created long before now, so a certificate
// that has since expired still chains) and a client certificate issued at
// issued.
func newProofFixture(t *testing.T, now, issued time.Time) proofFixture {
	t.Helper()
	ca, _, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"}, now.AddDate(-1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	f := proofFixture{ca: ca, deviceID: "0b0e5a52-6c1f-4c43-9a57-4c3c8e7f4a10", oldKey: newKey(t), newKey: newKey(t)}
	if f.certPEM, f.cert, err = ca.SignClient(csrFor(t, f.oldKey), f.deviceID, issued, ClientValidity); err != nil {
		t.Fatal(err)
	}
	f.csrPEM = csrFor(t, f.newKey)
	return f
}

// sign makes the proof the agent sends: key signs the message for newPub,
// deviceID and ts, and certPEM goes with it.
func sign(t *testing.T, key *ecdsa.PrivateKey, certPEM []byte, newPub *ecdsa.PublicKey, deviceID string, ts time.Time) wire.EnrollProof {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(newPub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wire.EnrollProofMessage(spki, deviceID, ts))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return wire.EnrollProof{Certificate: string(certPEM), Timestamp: ts, Signature: base64.StdEncoding.EncodeToString(sig)}
}

func TestVerifyKeyProof(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	f := newProofFixture(t, now, now.AddDate(0, 0, -10))
	// The same device's certificate, lapsed while the machine was off.
	lapsed := newProofFixture(t, now, now.Add(-ClientValidity-48*time.Hour))
	// A certificate for the same device id from another collector's CA.
	foreign := newProofFixture(t, now, now.AddDate(0, 0, -10))
	// The server certificate is this CA's, but not for client authentication.
	serverKey, ok := f.ca.Server.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("server key is %T, want ECDSA", f.ca.Server.PrivateKey)
	}
	serverPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Server.Certificate[0]})

	tests := []struct {
		name    string
		proof   wire.EnrollProof
		csrPEM  []byte
		ca      proofFixture
		wantErr string // "" verifies
	}{
		{name: "valid", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now.Add(-time.Minute))},
		{name: "timestamp just within the skew", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now.Add(MaxProofSkew-time.Second))},
		{name: "expired certificate still holds its key", ca: lapsed,
			proof: sign(t, lapsed.oldKey, lapsed.certPEM, &lapsed.newKey.PublicKey, lapsed.deviceID, now), csrPEM: lapsed.csrPEM},
		{name: "signed with another key", proof: sign(t, newKey(t), f.certPEM, &f.newKey.PublicKey, f.deviceID, now),
			wantErr: "signature does not verify"},
		{name: "signed with the new key itself", proof: sign(t, f.newKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now),
			wantErr: "signature does not verify"},
		{name: "stale timestamp", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now.Add(-MaxProofSkew-time.Second)),
			wantErr: "from the collector's clock"},
		{name: "future timestamp", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now.Add(MaxProofSkew+time.Second)),
			wantErr: "from the collector's clock"},
		{name: "timestamp changed after signing", proof: func() wire.EnrollProof {
			p := sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now.Add(-2*time.Minute))
			p.Timestamp = now
			return p
		}(), wantErr: "signature does not verify"},
		{name: "certificate from another CA", proof: sign(t, foreign.oldKey, foreign.certPEM, &f.newKey.PublicKey, foreign.deviceID, now),
			wantErr: "not issued by this collector"},
		{name: "server certificate of this CA", proof: sign(t, serverKey, serverPEM, &f.newKey.PublicKey, f.deviceID, now),
			wantErr: "not issued by this collector"},
		{name: "proof for another CSR's key", proof: sign(t, f.oldKey, f.certPEM, &newKey(t).PublicKey, f.deviceID, now),
			wantErr: "signature does not verify"},
		{name: "proof replayed with another CSR", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now),
			csrPEM: csrFor(t, newKey(t)), wantErr: "signature does not verify"},
		{name: "signed for another device id", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, "another-device", now),
			wantErr: "signature does not verify"},
		{name: "signature not base64", proof: func() wire.EnrollProof {
			p := sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now)
			p.Signature = "%%%"
			return p
		}(), wantErr: "not base64"},
		{name: "no certificate", proof: wire.EnrollProof{Timestamp: now, Signature: "AAAA"}, wantErr: "certificate"},
		{name: "csr not PEM", proof: sign(t, f.oldKey, f.certPEM, &f.newKey.PublicKey, f.deviceID, now), csrPEM: []byte("not a csr"),
			wantErr: "csr is not PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fx := f
			if tt.ca.ca != nil {
				fx = tt.ca
			}
			csr := fx.csrPEM
			if tt.csrPEM != nil {
				csr = tt.csrPEM
			}
			dev, serial, err := fx.ca.VerifyKeyProof(tt.proof, csr, now)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadProof) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrBadProof mentioning %q", err, tt.wantErr)
				}
				if dev != "" || serial != "" {
					t.Errorf("refused proof returned device %q serial %q", dev, serial)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want the proof to verify", err)
			}
			if dev != fx.deviceID || serial != SerialHex(fx.cert) {
				t.Errorf("got device %q serial %q, want %q %q", dev, serial, fx.deviceID, SerialHex(fx.cert))
			}
		})
	}
}
